package probe

// The TLS summary: what a user wants to know about a session and its
// certificate, from the handshake's connection state or from raw DER.

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
)

// maxSANs caps the names kept from one certificate: a hostile certificate
// may carry thousands.
const maxSANs = 64

// summarizeTLS describes a completed handshake and the peer's leaf
// certificate.
func summarizeTLS(st tls.ConnectionState) *TLS {
	t := &TLS{
		Version: tls.VersionName(st.Version),
		Cipher:  tls.CipherSuiteName(st.CipherSuite),
		ALPN:    st.NegotiatedProtocol,
	}
	if len(st.PeerCertificates) > 0 {
		summarizeCert(t, st.PeerCertificates[0])
	}
	return t
}

// CertSummary describes a DER-encoded certificate (the session fields stay
// empty).
func CertSummary(der []byte) (*TLS, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse certificate: %w", err)
	}
	t := &TLS{}
	summarizeCert(t, cert)
	return t, nil
}

func summarizeCert(t *TLS, c *x509.Certificate) {
	t.Subject = c.Subject.String()
	t.Issuer = c.Issuer.String()
	t.NotBefore, t.NotAfter = c.NotBefore.UTC(), c.NotAfter.UTC()
	var sans []string
	sans = append(sans, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		sans = append(sans, ip.String())
	}
	sans = append(sans, c.EmailAddresses...)
	for _, u := range c.URIs {
		sans = append(sans, u.String())
	}
	if len(sans) > maxSANs {
		sans = sans[:maxSANs]
	}
	t.SANs = sans
	// CheckSignatureFrom would insist on a CA; a self-signed leaf is not one.
	t.SelfSigned = bytes.Equal(c.RawSubject, c.RawIssuer) &&
		c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
	t.KeyType = keyType(c.PublicKey)
}

func keyType(k any) string {
	switch k := k.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		if k.Curve != nil {
			return "ECDSA " + k.Curve.Params().Name
		}
		return "ECDSA"
	case ed25519.PublicKey:
		return "Ed25519"
	case nil:
		return ""
	}
	return fmt.Sprintf("%T", k)
}

// Short is a one-line summary for human output.
func (t *TLS) Short() string {
	if t == nil {
		return ""
	}
	s := t.Version
	if t.ALPN != "" {
		s += " " + t.ALPN
	}
	if t.Subject != "" {
		s += " · " + t.Subject
	}
	if t.SelfSigned {
		s += " (self-signed)"
	}
	if !t.NotAfter.IsZero() {
		s += " · until " + t.NotAfter.Format("2006-01-02")
	}
	return s
}
