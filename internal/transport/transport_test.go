package transport_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/headsup-dev/headsup/internal/transport"
)

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:7443": true, "127.8.9.10:1": true, "[::1]:7443": true, "localhost:7443": true, "::1": true,
		"10.0.0.1:7443": false, "hub.example:7443": false, "[2001:db8::1]:7443": false, ":7443": false, "0.0.0.0:7443": false,
	} {
		if got := transport.IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestServerCredentials(t *testing.T) {
	dir := t.TempDir()
	if err := transport.DevCertificates(dir, []string{"hub.example", "127.0.0.1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	tlsCfg := transport.ServerConfig{CertFile: filepath.Join(dir, "hub.pem"), KeyFile: filepath.Join(dir, "hub.key")}
	tests := []struct {
		name, listen string
		cfg          transport.ServerConfig
		tls          bool
		err          error
	}{
		{"loopback plaintext", "127.0.0.1:7443", transport.ServerConfig{}, false, nil},
		{"off loopback without TLS", "0.0.0.0:7443", transport.ServerConfig{}, false, transport.ErrPlaintextOutsideLoopback},
		{"off loopback, insecure on purpose", "0.0.0.0:7443", transport.ServerConfig{Insecure: true}, false, nil},
		{"off loopback with TLS", "0.0.0.0:7443", tlsCfg, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			creds, err := transport.ServerCredentials(tt.listen, tt.cfg)
			if !errors.Is(err, tt.err) || (creds != nil) != tt.tls {
				t.Fatalf("ServerCredentials = %v, %v; want TLS %v, error %v", creds, err, tt.tls, tt.err)
			}
		})
	}
}

func TestDevCertificates(t *testing.T) {
	dir := t.TempDir()
	if err := transport.DevCertificates(dir, []string{"hub.example", "127.0.0.1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	read := func(name string) *x509.Certificate {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(b)
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ca, hub := read("ca.pem"), read("hub.pem")
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	for _, name := range []string{"hub.example", "127.0.0.1"} {
		if _, err := hub.Verify(x509.VerifyOptions{DNSName: name, Roots: roots}); err != nil {
			t.Errorf("hub certificate for %s: %v", name, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "hub.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("hub.key mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	if err := transport.DevCertificates(dir, []string{"hub.example"}, time.Hour); err == nil {
		t.Error("DevCertificates overwrote existing keys")
	}
}

func TestDevClientCertificateAndPin(t *testing.T) {
	dir := t.TempDir()
	pin, err := transport.DevClientCertificate(dir, "voxhost", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := transport.PinOfFile(filepath.Join(dir, "voxhost.client.pem"))
	if err != nil || got != pin {
		t.Fatalf("PinOfFile = %x, %v; DevClientCertificate said %x", got, err, pin)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "voxhost.client.pem"), filepath.Join(dir, "voxhost.client.key"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if transport.SPKIPin(leaf) != pin {
		t.Error("the pin is not the SHA-256 of the certificate's SPKI")
	}
	if _, err := transport.DevClientCertificate(dir, "voxhost", time.Hour); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Errorf("second DevClientCertificate: %v, want a refusal to overwrite", err)
	}
	if _, err := transport.PinOfFile(filepath.Join(dir, "voxhost.client.key")); err == nil {
		t.Error("PinOfFile took a key file for a certificate")
	}
	// Half a client pair is a mistake worth naming.
	if _, err := transport.ClientCredentials("127.0.0.1:1", transport.ClientConfig{CertFile: filepath.Join(dir, "voxhost.client.pem")}); err == nil || !strings.Contains(err.Error(), "give both or neither") {
		t.Errorf("cert without key: %v", err)
	}
	// A client certificate means TLS even to a loopback hub.
	creds, err := transport.ClientCredentials("127.0.0.1:1", transport.ClientConfig{CertFile: filepath.Join(dir, "voxhost.client.pem"), KeyFile: filepath.Join(dir, "voxhost.client.key")})
	if err != nil || creds.Info().SecurityProtocol != "tls" {
		t.Errorf("loopback with a client certificate: %v, %v", creds, err)
	}
}

// TestKeepaliveFits: clients never ping faster than the hub tolerates,
// which would earn them a GOAWAY and cost them their subscriptions.
func TestKeepaliveFits(t *testing.T) {
	if transport.ClientPing < transport.DefaultKeepalive.MinPing {
		t.Fatalf("clients ping every %s, the hub tolerates one every %s", transport.ClientPing, transport.DefaultKeepalive.MinPing)
	}
	if n := len(transport.DefaultKeepalive.ServerOptions()); n != 2 {
		t.Fatalf("%d server options, want enforcement and parameters", n)
	}
}
