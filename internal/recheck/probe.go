package recheck

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"
)

// probe makes one attempt: it resolves host and, at the same time,
// handshakes with addr, both within Timeout.
func (c *Checker) probe(parent context.Context, host string, addr netip.Addr) Result {
	now := c.cfg.Now().UTC()
	ctx, cancel := context.WithTimeout(parent, c.cfg.Timeout)
	defer cancel()

	// Resolution runs beside the handshake so that a slow resolver cannot
	// eat the handshake's time and turn a live sighting into "timeout".
	var resolves bool
	var wg sync.WaitGroup
	wg.Go(func() { resolves = c.resolves(ctx, host, addr) })
	res := c.handshake(ctx, host, addr, now)
	wg.Wait()

	res.Host, res.Address, res.CheckedAt, res.Resolves = host, addr, now, resolves
	return res
}

// resolves reports whether host resolves to addr now. A failed lookup is
// "no": the name does not lead there.
func (c *Checker) resolves(ctx context.Context, host string, addr netip.Addr) bool {
	got, err := c.cfg.Resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return false
	}
	for _, a := range got {
		if a.Unmap().WithZone("") == addr.WithZone("") {
			return true
		}
	}
	return false
}

// handshake connects to addr, shakes hands with SNI host, and judges the
// leaf certificate. It fills Confirmed, Trusted, CertSHA256 and Detail.
func (c *Checker) handshake(ctx context.Context, host string, addr netip.Addr, now time.Time) Result {
	var res Result
	fail := func(what string, err error) Result {
		// The connection's deadline (set from ctx) may fire a moment
		// before ctx reports it; both are the attempt running out of time.
		var ne net.Error
		if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
			res.Detail = "timeout"
		} else {
			res.Detail = what + ": " + shortErr(err)
		}
		return res
	}
	target := netip.AddrPortFrom(addr, uint16(c.cfg.Port)).String()
	conn, err := c.cfg.DialContext(ctx, "tcp", target)
	if err != nil {
		return fail("connection failed", err)
	}
	// Close the TCP connection, not the TLS one: a close_notify is a write
	// to a peer that may not read, and nothing more is owed to it.
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}

	// InsecureSkipVerify, with the checks done below instead: the question
	// is whether this address serves this name, not whether the site is
	// publicly trusted. Abusive sites often present self-signed or
	// private-CA certificates; the standard verification would abort the
	// handshake and lose the leaf and its SHA-256, which is the evidence
	// the alert needs. So a leaf valid for the host and in time confirms
	// the sighting, and the chain only decides Trusted. Nothing is sent on
	// the connection after the handshake, so skipping the standard
	// verification exposes nothing.
	tc := tls.Client(conn, &tls.Config{ServerName: host, InsecureSkipVerify: true})
	if err := tc.HandshakeContext(ctx); err != nil {
		return fail("handshake failed", err)
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		res.Detail = "no certificate presented"
		return res
	}
	leaf := certs[0]
	sum := sha256.Sum256(leaf.Raw)
	res.CertSHA256 = hex.EncodeToString(sum[:])
	switch {
	case leaf.VerifyHostname(host) != nil:
		res.Detail = "certificate not valid for host"
		return res
	case now.Before(leaf.NotBefore):
		res.Detail = "certificate not yet valid"
		return res
	case now.After(leaf.NotAfter):
		res.Detail = "certificate expired"
		return res
	}
	res.Confirmed = true

	inter := x509.NewCertPool()
	for _, ic := range certs[1:] {
		inter.AddCert(ic)
	}
	_, err = leaf.Verify(x509.VerifyOptions{
		DNSName:       host,
		Roots:         c.cfg.RootCAs,
		Intermediates: inter,
		CurrentTime:   now,
	})
	if err != nil {
		res.Detail = "certificate not trusted: " + err.Error()
		return res
	}
	res.Trusted = true
	return res
}

// shortErr drops the "dial tcp 192.0.2.1:443:" prefix of a network error:
// the Result already names the address.
func shortErr(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	return err.Error()
}
