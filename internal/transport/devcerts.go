package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// DevCertificates writes a development CA (ca.pem, ca.key) and a hub
// certificate it signs (hub.pem, hub.key) for hosts into dir, so that a
// quickstart on several machines stays short. Private keys are 0600 and
// never overwritten. Not for production: the CA key sits beside the
// certificates.
func DevCertificates(dir string, hosts []string, validity time.Duration) error {
	if len(hosts) == 0 {
		return errors.New("--host: at least one name or address of the hub")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, name := range []string{"ca.pem", "ca.key", "hub.pem", "hub.key"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return fmt.Errorf("%s already exists; refusing to overwrite", filepath.Join(dir, name))
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "headsup development CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validity),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	hubKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	hubTmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: hosts[0]},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validity),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			hubTmpl.IPAddresses = append(hubTmpl.IPAddresses, ip)
		} else {
			hubTmpl.DNSNames = append(hubTmpl.DNSNames, h)
		}
	}
	hubDER, err := x509.CreateCertificate(rand.Reader, hubTmpl, ca, &hubKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name, typ string
		der       []byte
		key       any
		mode      os.FileMode
	}{
		{"ca.pem", "CERTIFICATE", caDER, nil, 0o644},
		{"ca.key", "PRIVATE KEY", nil, caKey, 0o600},
		{"hub.pem", "CERTIFICATE", hubDER, nil, 0o644},
		{"hub.key", "PRIVATE KEY", nil, hubKey, 0o600},
	} {
		der := f.der
		if f.key != nil {
			if der, err = x509.MarshalPKCS8PrivateKey(f.key); err != nil {
				return err
			}
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: der}), f.mode); err != nil {
			return err
		}
	}
	return nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return n
}

// DevClientCertificate writes a self-signed mTLS client certificate and its
// key for member into dir (<member>.client.pem, <member>.client.key, the
// key 0600, never overwritten) and returns its SPKI pin, the value of the
// member's tls_spki_sha256 in the directory. Self-signed is enough: the hub
// trusts the pinned key, not a CA.
func DevClientCertificate(dir, member string, validity time.Duration) (pin [32]byte, err error) {
	if member == "" {
		return pin, errors.New("--client: empty member id")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return pin, err
	}
	certPath, keyPath := filepath.Join(dir, member+".client.pem"), filepath.Join(dir, member+".client.key")
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Stat(p); err == nil {
			return pin, fmt.Errorf("%s already exists; refusing to overwrite", p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return pin, err
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return pin, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: member},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validity),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return pin, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return pin, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return pin, err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return pin, err
	}
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return pin, err
	}
	return SPKIPin(cert), nil
}

// PinOfFile returns the SPKI pin of the first certificate in a PEM file.
func PinOfFile(path string) ([32]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return [32]byte{}, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return [32]byte{}, fmt.Errorf("%s: no PEM CERTIFICATE block", path)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return [32]byte{}, fmt.Errorf("%s: %w", path, err)
	}
	return SPKIPin(cert), nil
}
