package transport_test

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
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
