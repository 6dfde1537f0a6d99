package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// IssueCert signs a certificate with the cluster CA (which kube-apiserver trusts
// for client certificates via --client-ca-file) and writes cert.pem/key.pem
// (mode 0600) into a fresh t.TempDir(). With server=false it is a client
// certificate for user cn in groups orgs (O=system:masters makes an admin); with
// server=true a serving certificate for 127.0.0.1, ::1 and localhost (for the
// exporter's own TLS; clients verify it with c.CAFile).
func (c *Cluster) IssueCert(t testing.TB, cn string, orgs []string, server bool) (certFile, keyFile string) {
	t.Helper()
	if server {
		return c.issue(t, cn, orgs, true, []string{"localhost"})
	}
	return c.issue(t, cn, orgs, false, nil)
}

// IssueServingCert is IssueCert for a serving certificate whose names are
// 127.0.0.1, ::1, localhost and dnsNames (e.g. a Service's
// <name>.<namespace>.svc, as cert-manager would issue it).
func (c *Cluster) IssueServingCert(t testing.TB, cn string, dnsNames ...string) (certFile, keyFile string) {
	t.Helper()
	return c.issue(t, cn, nil, true, append([]string{"localhost"}, dnsNames...))
}

func (c *Cluster) issue(t testing.TB, cn string, orgs []string, server bool, dnsNames []string) (certFile, keyFile string) {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(filepath.Join(c.Dir, "pki", "ca.crt"), filepath.Join(c.Dir, "pki", "ca.key"))
	if err != nil {
		t.Fatalf("load cluster CA: %v", err)
	}
	ca, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback}
		tmpl.DNSNames = dnsNames
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, pair.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
