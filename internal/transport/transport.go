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
		return credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}), nil
	case IsLoopback(listen) || c.Insecure:
		return nil, nil
	}
	return nil, fmt.Errorf("%w: refusing to listen on %s without TLS: give --tls-cert and --tls-key (headsup certs makes a development pair), or --insecure behind a TLS proxy", ErrPlaintextOutsideLoopback, listen)
}

// ClientCredentials returns how to reach the hub at addr: TLS verified
// against caFile (or the system roots when empty) for every non-loopback
// hub and for a loopback one when caFile is given; plaintext to a
// loopback hub otherwise.
func ClientCredentials(addr, caFile string) (credentials.TransportCredentials, error) {
	if caFile == "" && IsLoopback(addr) {
		return insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS13}
	if caFile != "" {
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
