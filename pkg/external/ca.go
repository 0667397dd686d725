package external

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"time"
)

// The run's certificate authority. Hermetic mode serves the external hosts' HTTPS with a
// certificate this CA signs; nothing outside the run ever trusts it:
//
//   - ECDSA P-256 keys, generated in memory at run time and never written to disk by
//     this package (the Secret the stand-in mounts is the only copy in the cluster);
//   - short validity (DefaultCertValidity), backdated by a few minutes for clock skew
//     between the host and the kind node;
//   - the CA may sign only end-entity certificates (MaxPathLen 0).

// DefaultCertValidity is how long the run's CA and server certificates are valid: a run
// that outlives it has bigger problems than an expired stand-in certificate.
const DefaultCertValidity = 24 * time.Hour

// clockSkew backdates NotBefore so that a node clock slightly behind the host's still
// accepts a certificate issued a moment ago.
const clockSkew = 5 * time.Minute

// CA is the run's certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// CertPEM is Cert, PEM-encoded: what DestinationRules and curl are given to trust.
	CertPEM []byte
}

// Certificate is a certificate the CA issued, with its key.
type Certificate struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// CertPEM is the leaf certificate followed by the CA certificate (the chain nginx
	// serves); KeyPEM is the PKCS#8 private key.
	CertPEM []byte
	KeyPEM  []byte
}

// GenerateCA creates a fresh CA valid for DefaultCertValidity from now.
func GenerateCA() (*CA, error) {
	return generateCA(rand.Reader, time.Now(), DefaultCertValidity)
}

// IssueServerCert issues a server certificate for hosts (DNS names, the first is also
// the subject's common name), signed by ca and valid as long as the CA is.
func IssueServerCert(ca *CA, hosts []string) (*Certificate, error) {
	return issueServerCert(rand.Reader, ca, hosts, time.Now())
}

func generateCA(random io.Reader, now time.Time, validity time.Duration) (*CA, error) {
	if validity <= 0 {
		return nil, errors.New("external: CA validity must be positive")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), random)
	if err != nil {
		return nil, fmt.Errorf("external: CA key: %w", err)
	}
	serial, err := serialNumber(random)
	if err != nil {
		return nil, err
	}
	ski, err := subjectKeyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			Organization: []string{"egress-conformance"},
			CommonName:   "egress-conformance hermetic CA " + now.UTC().Format("20060102T150405Z"),
		},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		SubjectKeyId:          ski,
	}
	der, err := x509.CreateCertificate(random, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("external: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("external: parse CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: pemBlock("CERTIFICATE", der)}, nil
}

func issueServerCert(random io.Reader, ca *CA, hosts []string, now time.Time) (*Certificate, error) {
	if ca == nil || ca.Cert == nil || ca.Key == nil {
		return nil, errors.New("external: IssueServerCert needs a CA with its key")
	}
	if len(hosts) == 0 {
		return nil, errors.New("external: IssueServerCert needs at least one host name")
	}
	for _, h := range hosts {
		if err := checkHost(h); err != nil {
			return nil, err
		}
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), random)
	if err != nil {
		return nil, fmt.Errorf("external: server key: %w", err)
	}
	serial, err := serialNumber(random)
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(DefaultCertValidity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"egress-conformance"}, CommonName: hosts[0]},
		DNSNames:              append([]string(nil), hosts...),
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(random, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("external: create server certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("external: parse server certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("external: encode server key: %w", err)
	}
	chain := append(pemBlock("CERTIFICATE", der), ca.CertPEM...)
	return &Certificate{Cert: cert, Key: key, CertPEM: chain, KeyPEM: pemBlock("PRIVATE KEY", keyDER)}, nil
}

// Pool returns a certificate pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// PublicKeyPin is the leaf's public key in curl's --pinnedpubkey form:
// "sha256//" + base64(sha256(DER SubjectPublicKeyInfo)).
func (c *Certificate) PublicKeyPin() string {
	sum := sha256.Sum256(c.Cert.RawSubjectPublicKeyInfo)
	return "sha256//" + base64.StdEncoding.EncodeToString(sum[:])
}

func serialNumber(random io.Reader) (*big.Int, error) {
	n, err := rand.Int(random, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("external: serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil // never 0
}

func subjectKeyID(pub *ecdsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("external: encode CA public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return sum[:20], nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
