package external

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

func mustCA(t *testing.T) *CA {
	t.Helper()
	ca, err := GenerateCA()
	if err != nil {
		t.Fatalf("GenerateCA: %v", err)
	}
	return ca
}

func mustServer(t *testing.T, ca *CA, hosts ...string) *Certificate {
	t.Helper()
	srv, err := IssueServerCert(ca, hosts)
	if err != nil {
		t.Fatalf("IssueServerCert(%v): %v", hosts, err)
	}
	return srv
}

func TestCAShape(t *testing.T) {
	ca := mustCA(t)
	c := ca.Cert
	if !c.IsCA || !c.BasicConstraintsValid || c.MaxPathLen != 0 || !c.MaxPathLenZero {
		t.Errorf("CA constraints: IsCA=%v valid=%v MaxPathLen=%d zero=%v", c.IsCA, c.BasicConstraintsValid, c.MaxPathLen, c.MaxPathLenZero)
	}
	if c.KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Errorf("CA KeyUsage %v lacks CertSign", c.KeyUsage)
	}
	if pub, ok := c.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CA key is %T, want ECDSA P-256", c.PublicKey)
	}
	if got := c.NotAfter.Sub(c.NotBefore); got != DefaultCertValidity+clockSkew {
		t.Errorf("CA validity %s, want %s (+%s skew)", got, DefaultCertValidity, clockSkew)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("CA is not self-signed: %v", err)
	}
	block, rest := pem.Decode(ca.CertPEM)
	if block == nil || block.Type != "CERTIFICATE" || len(rest) != 0 {
		t.Fatalf("CertPEM is not one CERTIFICATE block: %q", ca.CertPEM)
	}
	if !c.Equal(mustParse(t, block.Bytes)) {
		t.Error("CertPEM does not hold Cert")
	}
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestServerCertChainVerifies(t *testing.T) {
	ca := mustCA(t)
	hosts := []string{"httpbin.org", "edition.cnn.com"}
	srv := mustServer(t, ca, hosts...)

	if srv.Cert.Subject.CommonName != "httpbin.org" {
		t.Errorf("CN = %q", srv.Cert.Subject.CommonName)
	}
	if srv.Cert.IsCA {
		t.Error("server certificate is a CA")
	}
	for _, h := range hosts {
		_, err := srv.Cert.Verify(x509.VerifyOptions{
			DNSName:   h,
			Roots:     ca.Pool(),
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		})
		if err != nil {
			t.Errorf("Verify(%s): %v", h, err)
		}
	}

	// Names it was not issued for, another CA, and after expiry: refused.
	if _, err := srv.Cert.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: ca.Pool()}); err == nil {
		t.Error("Verify(example.com) succeeded")
	}
	other := mustCA(t)
	if _, err := srv.Cert.Verify(x509.VerifyOptions{DNSName: "httpbin.org", Roots: other.Pool()}); err == nil {
		t.Error("Verify with another CA succeeded")
	}
	if _, err := srv.Cert.Verify(x509.VerifyOptions{DNSName: "httpbin.org", Roots: ca.Pool(),
		CurrentTime: time.Now().Add(DefaultCertValidity + time.Minute)}); err == nil {
		t.Error("Verify after expiry succeeded")
	}
	// A host only slightly behind the issuer's clock still accepts it.
	if _, err := srv.Cert.Verify(x509.VerifyOptions{DNSName: "httpbin.org", Roots: ca.Pool(),
		CurrentTime: time.Now().Add(-time.Minute)}); err != nil {
		t.Errorf("Verify one minute earlier: %v", err)
	}
	// The server certificate cannot sign (MaxPathLen 0 on the CA, no CertSign here).
	if srv.Cert.KeyUsage&x509.KeyUsageCertSign != 0 {
		t.Error("server certificate may sign certificates")
	}
}

func TestServerCertPEMAndTLSHandshake(t *testing.T) {
	ca := mustCA(t)
	srv := mustServer(t, ca, "httpbin.org")

	// CertPEM is leaf then CA; KeyPEM is PKCS#8.
	var blocks []*pem.Block
	for rest := srv.CertPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	if len(blocks) != 2 || !mustParse(t, blocks[0].Bytes).Equal(srv.Cert) || !mustParse(t, blocks[1].Bytes).Equal(ca.Cert) {
		t.Fatalf("CertPEM holds %d blocks, want leaf then CA", len(blocks))
	}
	kb, _ := pem.Decode(srv.KeyPEM)
	if kb == nil || kb.Type != "PRIVATE KEY" {
		t.Fatalf("KeyPEM = %q", srv.KeyPEM)
	}
	pair, err := tls.X509KeyPair(srv.CertPEM, srv.KeyPEM)
	if err != nil {
		t.Fatalf("X509KeyPair: %v", err)
	}

	// A real TLS handshake over loopback, verified against the CA for httpbin.org.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write([]byte("ok"))
	}()
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", ln.Addr().String(), &tls.Config{ServerName: "httpbin.org", RootCAs: ca.Pool()})
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	got, _ := io.ReadAll(conn)
	if string(got) != "ok" {
		t.Errorf("read %q", got)
	}
	// The peer's key is the pinned one.
	peer := conn.ConnectionState().PeerCertificates[0]
	sum := sha256.Sum256(peer.RawSubjectPublicKeyInfo)
	if want := "sha256//" + base64.StdEncoding.EncodeToString(sum[:]); srv.PublicKeyPin() != want {
		t.Errorf("PublicKeyPin = %q, want %q", srv.PublicKeyPin(), want)
	}
}

func TestServerCertCappedByCA(t *testing.T) {
	now := time.Now()
	ca, err := generateCA(rand.Reader, now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := issueServerCert(rand.Reader, ca, []string{"httpbin.org"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !srv.Cert.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("server NotAfter %s, want the CA's %s", srv.Cert.NotAfter, ca.Cert.NotAfter)
	}
}

func TestIssueServerCertErrors(t *testing.T) {
	ca := mustCA(t)
	for name, tc := range map[string]struct {
		ca    *CA
		hosts []string
		want  string
	}{
		"no CA":        {nil, []string{"httpbin.org"}, "needs a CA"},
		"CA w/o key":   {&CA{Cert: ca.Cert}, []string{"httpbin.org"}, "needs a CA"},
		"no hosts":     {ca, nil, "at least one host"},
		"wildcard":     {ca, []string{"*.httpbin.org"}, "wildcard"},
		"upper case":   {ca, []string{"HTTPBIN.org"}, "lower case"},
		"single label": {ca, []string{"httpbin"}, "fully qualified"},
	} {
		_, err := IssueServerCert(tc.ca, tc.hosts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
	if _, err := generateCA(rand.Reader, time.Now(), 0); err == nil {
		t.Error("generateCA with zero validity succeeded")
	}
	if _, err := generateCA(failingReader{}, time.Now(), time.Hour); err == nil {
		t.Error("generateCA with a failing random source succeeded")
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func TestSerialsDiffer(t *testing.T) {
	ca := mustCA(t)
	a, b := mustServer(t, ca, "httpbin.org"), mustServer(t, ca, "httpbin.org")
	if a.Cert.SerialNumber.Cmp(b.Cert.SerialNumber) == 0 || a.Cert.SerialNumber.Sign() <= 0 {
		t.Errorf("serials %v and %v", a.Cert.SerialNumber, b.Cert.SerialNumber)
	}
	if a.PublicKeyPin() == b.PublicKeyPin() {
		t.Error("two server certificates share a key")
	}
}
