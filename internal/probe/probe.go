// Package probe talks to a host:port and says what answers there: the
// service, product and version, TLS details, and how it decided. It never
// reads nmap's data files; its protocol knowledge is native Go code and the
// signature table in signatures.
package probe

import (
	"context"
	"net"
	"time"
)

// Result is what a probe of one target found.
type Result struct {
	Target    string `json:"target"`   // as given: host:port[/udp]
	Address   string `json:"address"`  // the ip:port actually dialled
	Protocol  string `json:"protocol"` // transport: "tcp" or "udp"
	State     string `json:"state"`    // open, closed, filtered, open|filtered
	Service   string `json:"service"`  // nmap's vocabulary: http, ssh, ...; "" when unknown
	Product   string `json:"product"`
	Version   string `json:"version"`
	Info      string `json:"info"` // extra: protocol version, title, hostname
	TLS       *TLS   `json:"tls"`
	StartTLS  *TLS   `json:"starttls,omitempty"` // the certificate behind STARTTLS, when offered
	Method    string `json:"method"`             // native:<parser>, signature:<id>, guess:port
	Guess     bool   `json:"guess"`              // true when only the port number suggested Service
	Banner    string `json:"banner"`             // an excerpt, raw (sanitize before printing)
	ElapsedMS int64  `json:"elapsed_ms"`
	Error     string `json:"error,omitempty"`
}

// TLS describes a TLS session and the peer's leaf certificate.
type TLS struct {
	Version    string    `json:"version"` // "TLS 1.3"
	Cipher     string    `json:"cipher"`
	ALPN       string    `json:"alpn"`
	Subject    string    `json:"subject"`
	SANs       []string  `json:"sans"`
	Issuer     string    `json:"issuer"`
	NotBefore  time.Time `json:"not_before"`
	NotAfter   time.Time `json:"not_after"`
	SelfSigned bool      `json:"self_signed"`
	KeyType    string    `json:"key_type"` // "RSA 2048", "ECDSA P-256", "Ed25519"
}

// Match is one protocol's verdict on what it saw.
type Match struct {
	Service string
	Product string
	Version string
	Info    string
	// Method says how it was decided: native:<parser> or signature:<id>.
	Method string
	// Certain is true when the bytes could only have come from this
	// protocol; the engine stops at the first certain match.
	Certain bool
	// Evidence is the text the signature table reads when Product is
	// empty: the SSH software version, the HTTP Server header, a greeting
	// line, a version string. The engine also shows an excerpt of it when
	// the peer sent no banner.
	Evidence string
	// StartTLS describes the session after an in-protocol upgrade
	// (SMTP/IMAP/POP3/FTP/PostgreSQL), when the peer offered one.
	StartTLS *TLS
}

// Protocol teaches the engine one service. Either function may be nil.
type Protocol struct {
	Name      string   // service name, nmap's vocabulary
	Transport string   // "tcp" or "udp"
	Ports     []uint16 // usual ports: probed in the first wave there
	// Wave is 1 for cheap, high-yield probes tried on any port, 2 for the
	// second wave sent only when nothing matched.
	Wave int
	// ServerFirst is true when the server speaks first (a greeting, as in
	// SMTP or MySQL): when the null probe heard nothing, the engine sends
	// its Probe only on the protocol's own Ports.
	ServerFirst bool
	// Banner identifies the protocol from what the peer sent unprompted
	// (the null probe). It must be pure and fast.
	Banner func(banner []byte) (Match, bool)
	// Probe runs an active probe over its own fresh connection c (already
	// capped and deadlined by the engine) and reads the answer. It must
	// send nothing that changes the peer's state.
	Probe func(ctx context.Context, c net.Conn) (Match, bool, error)
}
