package agent_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	headsupv1 "github.com/headsup-dev/headsup/api/headsup/v1"
	"github.com/headsup-dev/headsup/internal/agent"
	"github.com/headsup-dev/headsup/internal/alert"
	"github.com/headsup-dev/headsup/internal/story"
)

// selfSigned issues a certificate for name, valid around now.
func selfSigned(t *testing.T, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// serveTLS answers TLS handshakes on l with cert until cleanup.
func serveTLS(t *testing.T, l net.Listener, cert tls.Certificate) {
	t.Helper()
	tl := tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}})
	var wg sync.WaitGroup
	t.Cleanup(func() {
		tl.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				_ = c.(*tls.Conn).Handshake()
			})
		}
	})
}

// listenPair listens on 127.0.0.1 and 127.0.0.2 with one port (Linux
// routes all of 127/8 to lo), as recheck's own tests do.
func listenPair(t *testing.T) (l1, l2 net.Listener, port int) {
	t.Helper()
	for range 20 {
		l1, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l1.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.2:%d", port))
		if err != nil {
			l1.Close()
			continue
		}
		return l1, l2, port
	}
	t.Fatal("no port free on both 127.0.0.1 and 127.0.0.2")
	return nil, nil, 0
}

// noDNS answers no name: the re-check's resolution says "does not
// resolve", and nothing leaves the machine.
type noDNS struct{}

func (noDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// TestVerifySightings: with verify_sightings, a DNS-only sighting that a
// live TLS handshake confirms makes its alert strong, and a TLS sighting
// that the live check does not confirm becomes weak; each result is
// written on the sighting's link, in a new revision.
//
// A notice may not name loopback addresses, so the sightings name two
// documentation addresses and the test's dialer takes them to 127.0.0.1
// (chanboard.example's certificate) and 127.0.0.2 (another name's), on
// one port.
func TestVerifySightings(t *testing.T) {
	t.Parallel()
	good := selfSigned(t, "chanboard.example")
	l1, l2, port := listenPair(t)
	serveTLS(t, l1, good)
	serveTLS(t, l2, selfSigned(t, "elsewhere.example"))
	sum := sha256.Sum256(good.Certificate[0])
	goodHash := hex.EncodeToString(sum[:])
	loopback := map[string]string{"198.51.100.140": "127.0.0.1", "198.51.100.141": "127.0.0.2"}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, p, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		to, ok := loopback[host]
		if !ok {
			return nil, fmt.Errorf("the test dials no %s", addr)
		}
		return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort(to, p))
	}
	customers := "customer_id,display_name,type,value\ncus-5005,Shop Hosting,prefix,198.51.100.136/29\n"
	f := newFed(t, fedOptions{customers: customers, configure: func(c *agent.Config) {
		c.VerifySightings = true
		c.Recheck.Port, c.Recheck.AllowPrivate, c.Recheck.DialContext, c.Recheck.Resolver = port, true, dial, noDNS{}
		c.Recheck.Timeout = 10 * time.Second
	}})

	root := f.prepare("edgeshield", story.Suspended())
	f.publish("edgeshield", root)
	sighting := func(addr string, method headsupv1.ObservationMethod) *headsupv1.Notice {
		return f.prepare("researcher", &headsupv1.Notice{
			Kind:    headsupv1.NoticeKind_NOTICE_KIND_CUSTOMER_SIGHTED,
			Subject: &headsupv1.Entity{Label: "chanboard.example", Identifiers: []*headsupv1.Identifier{story.Host("chanboard.example")}},
			Sighting: &headsupv1.Sighting{
				Host:  &headsupv1.Entity{Label: "shop hosting", Identifiers: []*headsupv1.Identifier{story.Address(addr, method, time.Now().Add(-time.Hour))}},
				About: []*headsupv1.NoticeRef{{Issuer: root.GetIssuer(), Id: root.GetId()}},
			},
			Reason: root.GetReason(),
			Tlp:    headsupv1.Tlp_TLP_GREEN,
		})
	}
	id := alert.ID("voxhost", "cus-5005", "edgeshield", root.GetId())

	// The DNS-only sighting: weak when raised, strong once confirmed.
	dnsSight := sighting("198.51.100.140", headsupv1.ObservationMethod_OBSERVATION_METHOD_DNS)
	f.publish("researcher", dnsSight)
	raised := waitFor(t, f.sink, "the raise of the DNS-only sighting", func(e alert.Event) bool {
		return e.AlertID == id && e.Event == alert.EventRaised
	})
	if raised.Strength != alert.StrengthWeak {
		t.Fatalf("raised %s, want weak (DNS only, not re-checked yet)", raised.Strength)
	}
	confirmed := waitFor(t, f.sink, "the confirmation", func(e alert.Event) bool {
		l := sightingLink(e, dnsSight.GetId())
		return e.AlertID == id && l != nil && len(l.Rechecks) > 0
	})
	l := sightingLink(confirmed, dnsSight.GetId())
	rc := l.Rechecks[0]
	if confirmed.Event != alert.EventUpdated || confirmed.Revision <= raised.Revision || confirmed.Strength != alert.StrengthStrong ||
		l.Matched.Strength != alert.StrengthStrong || !strings.Contains(l.Matched.Note, "confirmed") {
		t.Fatalf("after the re-check: %s revision %d, strength %s, link %+v", confirmed.Event, confirmed.Revision, confirmed.Strength, l.Matched)
	}
	if !rc.Confirmed || rc.Address != "198.51.100.140" || rc.Host != "chanboard.example" || rc.CertSHA256 != goodHash ||
		!strings.HasPrefix(rc.Summary, "confirmed at ") || !strings.Contains(rc.Summary, "certificate SHA-256 "+goodHash) {
		t.Fatalf("re-check %+v", rc)
	}

	// The TLS sighting at the address that answers for another name: it
	// stays on the alert, weak, "not confirmed".
	tlsSight := sighting("198.51.100.141", headsupv1.ObservationMethod_OBSERVATION_METHOD_TLS)
	f.publish("researcher", tlsSight)
	denied := waitFor(t, f.sink, "the failed re-check", func(e alert.Event) bool {
		l := sightingLink(e, tlsSight.GetId())
		return e.AlertID == id && l != nil && len(l.Rechecks) > 0
	})
	l = sightingLink(denied, tlsSight.GetId())
	rc = l.Rechecks[0]
	if rc.Confirmed || rc.Address != "198.51.100.141" || !strings.HasPrefix(rc.Summary, "not confirmed at ") ||
		!strings.Contains(rc.Summary, "certificate not valid for host") || l.Matched.Strength != alert.StrengthWeak ||
		!strings.Contains(l.Matched.Note, "did not confirm") {
		t.Fatalf("the TLS sighting after a failed re-check: link %+v, re-check %+v", l.Matched, rc)
	}
	// The confirmed path still carries the alert.
	if denied.Strength != alert.StrengthStrong || sightingLink(denied, dnsSight.GetId()).Matched.Strength != alert.StrengthStrong {
		t.Fatalf("alert %s with the confirmed path %+v", denied.Strength, sightingLink(denied, dnsSight.GetId()).Matched)
	}
}

// sightingLink returns the link of sighting id on e's paths, if any.
func sightingLink(e alert.Event, id string) *alert.Link {
	for _, p := range e.Paths {
		for i, l := range p.Links {
			if l.Role == alert.RoleSighting && l.Notice.ID == id {
				return &p.Links[i]
			}
		}
	}
	return nil
}

// waitFor polls the sink until an event satisfies ok, validates it, and
// returns it.
func waitFor(t *testing.T, c *collect, what string, ok func(alert.Event) bool) alert.Event {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, e := range c.all() {
			if ok(e) {
				if err := alert.Validate(mustJSON(t, e)); err != nil {
					t.Fatalf("%s does not validate: %v", what, err)
				}
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sink never received %s; it has %s", what, describeEvents(c.all()))
		}
		time.Sleep(5 * time.Millisecond) // polling, with a deadline
	}
}
