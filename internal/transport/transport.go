// Package transport is how headsup parties reach each other: TLS on the
// hub's listener, and the client side's choice of TLS or plaintext.
//
// The rule (DESIGN.md, Access): TLS by default outside loopback. A hub
// refuses to listen on a non-loopback address without a certificate unless
// it is told, explicitly, to be insecure; a client speaks TLS to every
// non-loopback hub, verifying its certificate against the system roots or
// a given CA, and plaintext only to a loopback hub it has no CA for.
package transport

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// ErrPlaintextOutsideLoopback: a listener or a hub address off loopback
// without TLS.
var ErrPlaintextOutsideLoopback = errors.New("plaintext outside loopback")

// IsLoopback reports whether a host:port (or host) names only this
// machine: an IP in 127.0.0.0/8 or ::1, or "localhost".
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// ServerConfig is the hub's listener security.
type ServerConfig struct {
	// CertFile and KeyFile are the hub's certificate chain and key (PEM).
	CertFile, KeyFile string
	// Insecure allows plaintext on a non-loopback address (behind a
	// trusted TLS-terminating proxy, say). The hub logs a warning at every
	// start.
	Insecure bool
	// VerifyClient, when set, is asked about every client certificate,
	// on full handshakes and on resumed sessions alike (it runs as
	// tls.Config.VerifyConnection, which Go calls for both). A client
	// without a certificate is let through to authenticate per call
	// instead (call tokens). Client chains are not verified against any
	// CA: the pinned key is the trust anchor, so a CA cannot vouch for a
	// member.
	VerifyClient func(leaf *x509.Certificate) error
}

// SPKIPin is the SHA-256 of a certificate's DER SubjectPublicKeyInfo: the
// value a directory pins for a member's mTLS client key. It stays the same
// when the certificate is renewed over the same key.
func SPKIPin(cert *x509.Certificate) [sha256.Size]byte {
	return sha256.Sum256(cert.RawSubjectPublicKeyInfo)
}

// ServerCredentials returns the listener's credentials for listen: TLS
// when a certificate is configured, nil (plaintext) on loopback or when
// Insecure is set, and an error otherwise.
func ServerCredentials(listen string, c ServerConfig) (credentials.TransportCredentials, error) {
	switch {
	case c.CertFile != "" || c.KeyFile != "":
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
		if c.VerifyClient != nil {
			cfg.ClientAuth = tls.RequestClientCert
			verify := c.VerifyClient
			cfg.VerifyConnection = func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return nil
				}
				return verify(cs.PeerCertificates[0])
			}
		}
		return credentials.NewTLS(cfg), nil
	case IsLoopback(listen) || c.Insecure:
		return nil, nil
	}
	return nil, fmt.Errorf("%w: refusing to listen on %s without TLS: give --tls-cert and --tls-key (headsup certs makes a development pair), or --insecure behind a TLS proxy", ErrPlaintextOutsideLoopback, listen)
}

// ClientConfig is how a client reaches the hub.
type ClientConfig struct {
	// CAFile verifies the hub's certificate; empty means the system roots.
	CAFile string
	// CertFile and KeyFile, when set, are the client's mTLS certificate
	// and key (PEM); the hub authenticates the member whose directory entry
	// pins the key.
	CertFile, KeyFile string
}

// ClientCredentials returns how to reach the hub at addr: TLS verified
// against c.CAFile (or the system roots when empty) for every non-loopback
// hub and for a loopback one when a CA or a client certificate is given;
// plaintext to a loopback hub otherwise.
func ClientCredentials(addr string, c ClientConfig) (credentials.TransportCredentials, error) {
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, errors.New("--tls-client-cert and --tls-client-key: give both or neither")
	}
	if c.CAFile == "" && c.CertFile == "" && IsLoopback(addr) {
		return insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-client-cert/--tls-client-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if caFile := c.CAFile; caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca %s: no PEM certificate in it", caFile)
		}
		cfg.RootCAs = pool
	}
	return credentials.NewTLS(cfg), nil
}
