package probe

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCertSummary(t *testing.T) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
		NotBefore: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	leaf := func(cn string) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
			DNSNames: []string{cn, "www." + cn}, NotBefore: ca.NotBefore, NotAfter: ca.NotAfter}
	}
	mk := func(tmpl, parent *x509.Certificate, pub, priv any) []byte {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	for _, tc := range []struct {
		name string
		der  []byte
		want TLS
	}{
		{"RSA leaf signed by a CA", mk(leaf("a.test"), ca, &rsaKey.PublicKey, caKey),
			TLS{Subject: "CN=a.test", Issuer: "CN=Test CA", SANs: []string{"a.test", "www.a.test"}, KeyType: "RSA 2048",
				NotBefore: ca.NotBefore, NotAfter: ca.NotAfter}},
		{"self-signed Ed25519", mk(leaf("b.test"), leaf("b.test"), edKey.Public(), edKey),
			TLS{Subject: "CN=b.test", Issuer: "CN=b.test", SANs: []string{"b.test", "www.b.test"}, KeyType: "Ed25519",
				SelfSigned: true, NotBefore: ca.NotBefore, NotAfter: ca.NotAfter}},
		{"self-signed CA", mk(ca, ca, &caKey.PublicKey, caKey),
			TLS{Subject: "CN=Test CA", Issuer: "CN=Test CA", KeyType: "ECDSA P-384", SelfSigned: true,
				NotBefore: ca.NotBefore, NotAfter: ca.NotAfter}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CertSummary(tc.der)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(&tc.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
	if _, err := CertSummary([]byte("not a certificate")); err == nil {
		t.Error("garbage accepted")
	}
}

func FuzzCertSummary(f *testing.F) {
	f.Add(testCert(f).Certificate[0])
	if b, err := os.ReadFile(filepath.Join("testdata", "cert.der")); err == nil {
		f.Add(b)
	}
	f.Add([]byte{0x30, 0x03, 0x02, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, der []byte) {
		s, err := CertSummary(der)
		if err != nil {
			return
		}
		if len(s.SANs) > maxSANs {
			t.Fatalf("%d SANs kept", len(s.SANs))
		}
	})
}
