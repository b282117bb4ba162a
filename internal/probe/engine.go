package probe

// The engine: connect, read the unprompted banner (the null probe), match
// it, then send waves of probes in parallel on separate connections and
// keep the first certain answer. Every connection is capped in bytes and
// bounded by the target's whole-session deadline, so a slow or hostile
// peer costs at most that deadline.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults used when a Prober field is zero.
const (
	DefaultTCPTimeout = 5 * time.Second
	DefaultUDPTimeout = 3 * time.Second
	DefaultMaxRead    = 64 << 10
	// DefaultPerHost is 16, not 8: with 14 services on one loopback
	// host, 8 slots made targets queue behind probes that meet silent
	// peers (measured: 5.0s for the set instead of 1.5s).
	DefaultPerHost  = 16
	DefaultPerPort  = 3
	DefaultParallel = 32

	// nullWait is how long the null probe waits for an unprompted banner;
	// idleGap is how long it waits for more once some bytes came.
	nullWait = 300 * time.Millisecond
	idleGap  = 100 * time.Millisecond
	// bannerExcerpt is how much of a banner a Result keeps.
	bannerExcerpt = 256
	// sliceFloor and sliceRTTs size the budget of a probe that may meet
	// a silent peer: sliceFloor plus sliceRTTs connect times.
	sliceFloor = 250 * time.Millisecond
	sliceRTTs  = 20
)

// States of a target.
const (
	StateOpen         = "open"
	StateClosed       = "closed"
	StateFiltered     = "filtered"
	StateOpenFiltered = "open|filtered"
	StateError        = "error"
)

// errReadCap is returned by a capped connection once MaxRead bytes came.
var errReadCap = errors.New("read cap reached")

// DialFunc opens a connection; net.Dialer.DialContext is one.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Prober probes targets. The zero value is ready to use; it must not be
// copied after first use.
type Prober struct {
	// Timeout is the whole-session deadline for one target (0: 5s TCP,
	// 3s UDP). Connects, banners and every probe of that target share it.
	Timeout time.Duration
	// MaxRead caps the bytes read from any one connection (0: 64 KiB).
	MaxRead int
	// PerHost and PerPort cap the TCP connections open at once to one
	// address and to one address:port (0: 16 and 3): servers answer
	// differently under a burst. UDP probes are not capped: each is a
	// datagram or two, all sent at once.
	PerHost int
	PerPort int
	// Parallel caps the targets ProbeAll probes at once (0: 32).
	Parallel int
	// Dial opens connections (nil: a net.Dialer); tests replace it.
	Dial DialFunc
	// Protocols is what the engine knows (nil: Protocols()).
	Protocols []Protocol
	// Signatures names products from evidence (nil: the embedded table).
	Signatures *Signatures
	// Now is the clock (nil: time.Now).
	Now func() time.Time

	lim limiter
}

// Probe probes one target and says what answers there. It never returns
// an error: failures are in Result.State and Result.Error.
func (p *Prober) Probe(ctx context.Context, t Target) Result {
	now := p.now()
	start := now()
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTCPTimeout
		if t.Transport == "udp" {
			timeout = DefaultUDPTimeout
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	transport := t.Transport
	if transport == "" {
		transport = "tcp"
	}
	res := Result{Target: t.String(), Protocol: transport}
	ip, err := resolve(ctx, t.Host)
	if err != nil {
		res.State, res.Error = StateError, err.Error()
		res.ElapsedMS = since(now, start)
		return res
	}
	res.Address = net.JoinHostPort(ip, strconv.Itoa(int(t.Port)))
	r := &run{p: p, target: t, ip: ip, addr: res.Address, host: t.Host, timeout: timeout}
	if transport == "udp" {
		r.probeUDP(ctx, &res)
	} else {
		r.probeTCP(ctx, &res)
	}
	if res.State == StateOpen && res.Service == "" {
		r.guess(&res)
	}
	res.ElapsedMS = since(now, start)
	return res
}

// ProbeAll probes targets concurrently, at most Parallel at once and within
// the per-host and per-port connection caps. Results are in target order.
func (p *Prober) ProbeAll(ctx context.Context, targets []Target) []Result {
	n := p.Parallel
	if n <= 0 {
		n = DefaultParallel
	}
	out := make([]Result, len(targets))
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i] = p.Probe(ctx, t)
		}()
	}
	wg.Wait()
	return out
}

func (p *Prober) now() func() time.Time {
	if p.Now != nil {
		return p.Now
	}
	return time.Now
}

func since(now func() time.Time, start time.Time) int64 {
	return now().Sub(start).Milliseconds()
}

func (p *Prober) protocols() []Protocol {
	if p.Protocols != nil {
		return p.Protocols
	}
	return Protocols()
}

func (p *Prober) maxRead() int {
	if p.MaxRead > 0 {
		return p.MaxRead
	}
	return DefaultMaxRead
}

func (p *Prober) signatures() *Signatures {
	if p.Signatures != nil {
		return p.Signatures
	}
	s, err := DefaultSignatures()
	if err != nil {
		// The embedded table is tested; a broken one names nothing
		// rather than stopping every probe.
		return &Signatures{}
	}
	return s
}

// resolve turns a host into one IP through the system resolver, preferring
// IPv4 as most loopback services listen there first.
func resolve(ctx context.Context, host string) (string, error) {
	if ip := net.ParseIP(strings.SplitN(host, "%", 2)[0]); ip != nil {
		return host, nil
	}
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(addrs) == 0 {
		return "", fmt.Errorf("resolve %s: no addresses", host)
	}
	for _, a := range addrs {
		if a.IP.To4() != nil {
			return a.IP.String(), nil
		}
	}
	return addrs[0].String(), nil
}

// run is the probing of one target.
type run struct {
	p       *Prober
	timeout time.Duration
	rtt     time.Duration // how long the first connect took
	target  Target
	ip      string
	addr    string
	host    string
	// noALPN is set once the peer refused our ALPN offer: every later
	// handshake of this target goes without.
	noALPN atomic.Bool
	// tlsUp is set once a TLS handshake succeeded: the peer speaks TLS,
	// so the plain second wave is not started early.
	tlsUp atomic.Bool
	// replies keeps what peers said to probes that did not match (the
	// first bytes of each, a few of them): when nothing matched, the
	// signature table reads them, as it reads banners.
	mu      sync.Mutex
	replies [][]byte
	// echoTCP and echoUDP cache the nonce test of echo.go.
	echoTCP echoVerdict
	echoUDP echoVerdict
}

// session is what a Protocol.Probe may learn about its connection through
// its context: the host name for SNI and Host headers, the TLS state when
// the connection is inside TLS, and a way to open one more connection like
// it (HTTP uses it for the h2c preface).
type session struct {
	host string
	port uint16
	tls  *tls.ConnectionState
	dial func(ctx context.Context) (net.Conn, error)
}

type sessionKey struct{}

func withSession(ctx context.Context, s *session) context.Context {
	return context.WithValue(ctx, sessionKey{}, s)
}

// sessionFrom returns the session of ctx, or one built from c when a test
// calls a Probe directly.
func sessionFrom(ctx context.Context, c net.Conn) *session {
	if s, ok := ctx.Value(sessionKey{}).(*session); ok {
		return s
	}
	s := &session{}
	if c != nil {
		if h, p, err := net.SplitHostPort(c.RemoteAddr().String()); err == nil {
			s.host = h
			n, _ := strconv.Atoi(p)
			s.port = uint16(n)
		}
		if tc, ok := c.(*tls.Conn); ok {
			st := tc.ConnectionState()
			s.tls = &st
		}
	}
	return s
}

// dial opens one capped, deadlined connection to the target within the
// per-host and per-port caps. Closing it frees its slot.
func (r *run) dial(ctx context.Context, network string) (net.Conn, error) {
	c, _, err := r.dialTimed(ctx, network)
	return c, err
}

// dialTimed is dial that also says how long the connect took, not
// counting the wait for a slot.
func (r *run) dialTimed(ctx context.Context, network string) (net.Conn, time.Duration, error) {
	// The caps are for TCP: a burst of connections is what makes a server
	// answer differently. A UDP probe is a datagram or two with no state on
	// the peer, and one that gets no answer holds its socket until the
	// deadline: capped, a silent port's last probes would wait for slots
	// that free only when the deadline has passed, and never be sent.
	release := func() {}
	if !strings.HasPrefix(network, "udp") {
		var err error
		release, err = r.p.lim.acquire(ctx, r.ip, r.addr, r.p.PerHost, r.p.PerPort)
		if err != nil {
			return nil, 0, err
		}
	}
	dial := r.p.Dial
	if dial == nil {
		d := &net.Dialer{}
		dial = d.DialContext
	}
	now := r.p.now()
	start := now()
	c, err := dial(ctx, network, r.addr)
	took := now().Sub(start)
	if err != nil {
		release()
		return nil, took, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	cc := &cappedConn{Conn: c, left: r.p.maxRead(), release: release}
	// Cancelling the context (another probe won, or the deadline passed)
	// unblocks any read in progress.
	cc.stop = context.AfterFunc(ctx, func() { _ = c.Close() })
	return cc, took, nil
}

// legacySuites is every TLS 1.0-1.2 suite crypto/tls implements, the
// insecure ones included: an old server is still worth naming.
var legacySuites = func() []uint16 {
	var ids []uint16
	for _, s := range tls.CipherSuites() {
		ids = append(ids, s.ID)
	}
	for _, s := range tls.InsecureCipherSuites() {
		ids = append(ids, s.ID)
	}
	return ids
}()

func (r *run) tlsConfig() *tls.Config {
	cfg := &tls.Config{
		// We identify, we do not authenticate: self-signed and expired
		// certificates, old versions and weak suites are exactly what a
		// user wants to see.
		InsecureSkipVerify: true, //nolint:gosec
		MinVersion:         tls.VersionTLS10,
		CipherSuites:       legacySuites,
	}
	if !r.noALPN.Load() {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	if net.ParseIP(r.host) == nil {
		cfg.ServerName = r.host
	}
	return cfg
}

// dialTLS opens a connection and completes a TLS handshake on it within
// budget (0: the session's deadline).
func (r *run) dialTLS(ctx context.Context, budget time.Duration) (*tls.Conn, error) {
	c, err := r.dial(ctx, "tcp")
	if err != nil {
		return nil, err
	}
	tc := tls.Client(c, r.tlsConfig())
	hctx := ctx
	if budget > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(ctx, budget)
		defer cancel()
	}
	if dl, ok := hctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	if err := tc.HandshakeContext(hctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	return tc, nil
}

// outcome is what an identification found.
type outcome struct {
	m      Match
	ok     bool
	tls    *TLS
	banner []byte
	// closed is true when the peer closed the connection without a byte.
	closed bool
}

func (r *run) probeTCP(ctx context.Context, res *Result) {
	c, rtt, err := r.dialTimed(ctx, "tcp")
	r.rtt = rtt
	if err != nil {
		res.State = dialState(ctx, err)
		if res.State != StateClosed { // a refusal needs no explaining
			res.Error = err.Error()
		}
		return
	}
	res.State = StateOpen
	dial := func(ctx context.Context) (net.Conn, error) { return r.dial(ctx, "tcp") }
	o := r.identify(ctx, c, dial, nil)
	r.fill(res, o)
}

// dialState classifies a failed connect: refused is closed, silence is
// filtered.
func dialState(ctx context.Context, err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return StateClosed
	case errors.Is(err, context.DeadlineExceeded), ctx.Err() != nil, isTimeout(err),
		errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return StateFiltered
	}
	return StateError
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// identify finds what speaks on c0, a fresh connection (plain, or inside
// TLS when ts is set); dial opens more connections like it.
func (r *run) identify(ctx context.Context, c0 net.Conn, dial func(context.Context) (net.Conn, error), ts *tls.ConnectionState) outcome {
	sess := &session{host: r.host, port: r.target.Port, tls: ts, dial: dial}
	ctx = withSession(ctx, sess)
	protos := r.protocolsFor("tcp")
	banner, closed := r.readBanner(ctx, c0, protos)
	o := outcome{banner: banner, closed: closed}
	var hinted []string
	if ts != nil && (ts.NegotiatedProtocol == "h2" || ts.NegotiatedProtocol == "http/1.1") {
		// ALPN already said HTTP. An HTTP/2 server also speaks first (its
		// SETTINGS frame), which would otherwise leave HTTP to the second
		// wave, queued for slots behind every binary probe.
		hinted = append(hinted, "http")
	}
	if len(banner) > 0 {
		m, proto, ok := bannerMatch(protos, banner)
		if ok && m.Certain {
			// Carry on the same conversation: the protocol's own probe
			// reads the banner again from a replay and goes further
			// (EHLO, CAPABILITY, STARTTLS).
			if proto.Probe != nil {
				pm, pok, _ := proto.Probe(ctx, &replayConn{Conn: c0, buf: banner})
				if pok && pm.Certain {
					m = pm
				}
			}
			closeConn(c0)
			o.m, o.ok = m, true
			return o
		}
		if ok {
			o.m, o.ok = m, true
		}
		if !o.m.Certain {
			// A greeting no parser knows, that the signature table names
			// (a NATS INFO object, "OK MPD 0.23.5"): no probe can say more.
			if sm, ok := r.p.signatures().Identify(firstLine(string(banner))); ok {
				closeConn(c0)
				o.m, o.ok = sm, true
				return o
			}
		}
		for _, pr := range protos {
			if pr.Banner != nil {
				if _, ok := pr.Banner(banner); ok {
					hinted = append(hinted, pr.Name)
				}
			}
		}
	}
	closeConn(c0)

	var first, second []candidate
	if len(banner) == 0 && ts == nil {
		first = append(first, candidate{name: "tls", run: r.tlsCandidate})
	}
	for _, pr := range protos {
		if pr.Probe == nil {
			continue
		}
		onPort := slices.Contains(pr.Ports, r.target.Port)
		switch {
		case onPort, slices.Contains(hinted, pr.Name):
			first = append(first, r.protocolCandidate(pr, dial, r.slice(1), ts == nil))
		case pr.ServerFirst:
			// It would wait for a greeting that the null probe did not
			// hear, or its matcher already refused the banner it did.
		case pr.Wave <= 1 && len(banner) == 0:
			// Tried on any port: most often it meets a peer that does not
			// speak it, so it gets the short budget, with some room for a
			// slow application behind HTTP.
			first = append(first, r.protocolCandidate(pr, dial, 2*r.slice(2), ts == nil))
		default:
			second = append(second, r.protocolCandidate(pr, dial, r.slice(2), ts == nil))
		}
	}
	if o.ok {
		// The banner already told an uncertain answer: the second wave
		// is not worth its connections.
		second = nil
	}
	// Evidence (ALPN, a banner) named the protocol: let its probe take
	// its time before trying the others.
	early := len(hinted) == 0
	if w, ok := r.waves(ctx, first, second, early); ok {
		w.banner, w.closed = banner, closed
		if !w.m.Certain && o.ok {
			return o
		}
		return w
	}
	return o
}

// slice bounds one probe of a wave (from its first byte sent to its
// answer), so that a peer silently waiting for more bytes of a protocol it
// does not speak delays the target by that much only. The first wave (the
// port's own protocols, HTTP) gets a third of the deadline; the TLS
// handshake and the second wave, where most probes meet a peer that does
// not speak them, get a budget scaled from the connect time instead: on
// loopback a server answers in milliseconds.
func (r *run) slice(wave int) time.Duration {
	if wave <= 1 {
		return max(r.timeout/3, 100*time.Millisecond)
	}
	d := sliceFloor + sliceRTTs*r.rtt
	return max(min(d, r.timeout/5), 50*time.Millisecond)
}

// protocolsFor lists the protocols of a transport.
func (r *run) protocolsFor(transport string) []Protocol {
	var out []Protocol
	for _, pr := range r.p.protocols() {
		tr := pr.Transport
		if tr == "" {
			tr = "tcp"
		}
		if tr == transport {
			out = append(out, pr)
		}
	}
	return out
}

// readBanner is the null probe: it reads what the peer says unprompted,
// briefly, stopping early once a banner matcher is certain of a complete
// line.
func (r *run) readBanner(ctx context.Context, c net.Conn, protos []Protocol) (banner []byte, closed bool) {
	now := r.p.now()
	deadline := now().Add(nullWait)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	defer func() {
		if dl, ok := ctx.Deadline(); ok {
			_ = c.SetReadDeadline(dl)
		}
	}()
	_ = c.SetReadDeadline(deadline)
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		banner = append(banner, buf[:n]...)
		if err != nil {
			closed = len(banner) == 0 && !isTimeout(err) && ctx.Err() == nil
			return banner, closed
		}
		if n > 0 && banner[len(banner)-1] == '\n' {
			if m, _, ok := bannerMatch(protos, banner); ok && m.Certain {
				return banner, false
			}
		}
		next := now().Add(idleGap)
		if next.Before(deadline) {
			_ = c.SetReadDeadline(next)
		}
	}
}

// bannerMatch runs every banner matcher and keeps the first certain match,
// else the first uncertain one.
func bannerMatch(protos []Protocol, banner []byte) (Match, Protocol, bool) {
	var best Match
	var bestP Protocol
	found := false
	for _, pr := range protos {
		if pr.Banner == nil {
			continue
		}
		m, ok := pr.Banner(banner)
		if !ok {
			continue
		}
		if m.Certain {
			return m, pr, true
		}
		if !found {
			best, bestP, found = m, pr, true
		}
	}
	return best, bestP, found
}

// candidate is one probe of a wave, on its own connection.
type candidate struct {
	name string
	run  func(ctx context.Context) (outcome, error)
}

// protocolCandidate runs pr's probe on a connection of its own. On plain
// connections it records the exchange, to tell an echo from the protocol.
func (r *run) protocolCandidate(pr Protocol, dial func(context.Context) (net.Conn, error), slice time.Duration, plain bool) candidate {
	return candidate{name: pr.Name, run: func(ctx context.Context) (outcome, error) {
		wctx := ctx
		// Waiting for a connection slot does not count against the slice.
		c, err := dial(ctx)
		if err != nil {
			return outcome{}, err
		}
		defer closeConn(c)
		ctx, cancel := context.WithTimeout(ctx, slice)
		defer cancel()
		stop := context.AfterFunc(ctx, func() { _ = c.Close() })
		defer stop()
		if dl, ok := ctx.Deadline(); ok {
			_ = c.SetDeadline(dl)
		}
		var rec *recConn
		pc := c
		if plain {
			rec = &recConn{Conn: c}
			pc = rec
		}
		m, ok, err := pr.Probe(ctx, pc)
		if rec != nil && rec.reflected() {
			// Free this connection's slot first: the nonce test needs one.
			closeConn(c)
			if r.isEcho(wctx, "tcp") {
				return outcome{m: echoMatch(), ok: true}, nil
			}
		}
		if !ok && rec != nil {
			r.keepReply(rec.received())
		}
		if ok && m.Method == "" {
			m.Method = "native:" + pr.Name
		}
		return outcome{m: m, ok: ok}, err
	}}
}

// maxReplies caps the unmatched replies a target keeps.
const maxReplies = 8

func (r *run) keepReply(b []byte) {
	if len(b) == 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.replies) < maxReplies {
		r.replies = append(r.replies, b)
	}
}

// identifyReplies names the service from the unmatched replies, through
// the signature table: a text daemon that answers our HTTP request with
// its own error line still says what it is.
func (r *run) identifyReplies() (Match, []byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.replies {
		if m, ok := r.p.signatures().Identify(firstLine(string(b))); ok {
			return m, b, true
		}
	}
	return Match{}, nil, false
}

// productFrom names the product of m's service from m's evidence, else
// from what the peer said to the other probes: Tor's SOCKS port proves
// SOCKS5 to the SOCKS probe, and says it is Tor only in its refusal of
// our HTTP request.
func (r *run) productFrom(m Match) (Match, bool) {
	sigs := r.p.signatures()
	if m.Evidence != "" {
		if sm, ok := sigs.Match(m.Service, m.Evidence); ok {
			return sm, true
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.replies {
		if sm, ok := sigs.Match(m.Service, firstLine(string(b))); ok {
			return sm, true
		}
	}
	return Match{}, false
}

// firstReply is the first unmatched reply, nil when every probe met silence.
func (r *run) firstReply() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.replies) == 0 {
		return nil
	}
	return r.replies[0]
}

// tlsCandidate tries a modern TLS handshake; when it succeeds it reports
// the certificate and identifies the protocol inside.
func (r *run) tlsCandidate(ctx context.Context) (outcome, error) {
	// A peer that is not TLS may wait for more bytes of its own protocol,
	// so the first handshake is bounded, but by no less than the HTTP
	// probe sent alongside it gets anywhere: a silent peer keeps the wave
	// no longer, and a server slow to sign (a loaded host, a small
	// device) still makes it.
	tc, err := r.dialTLS(ctx, 2*r.slice(2))
	if alert := tlsAlert(err); alert == "no application protocol" {
		// It insists on its own ALPN (or none): ask once more without.
		r.noALPN.Store(true)
		tc, err = r.dialTLS(ctx, 2*r.slice(2))
	}
	if err != nil {
		alert := tlsAlert(err)
		if alert == "" {
			return outcome{}, err
		}
		// The peer answered with a TLS alert: it speaks TLS but not
		// what we offered. Perhaps it offers only anonymous suites.
		if o, ok := r.anonCandidate(ctx); ok {
			return o, nil
		}
		return outcome{ok: true, m: Match{Service: "ssl", Method: "native:tls", Certain: true,
			Info: "handshake refused: " + alert}}, nil
	}
	r.tlsUp.Store(true)
	st := tc.ConnectionState()
	summary := summarizeTLS(st)
	// The peer is known to speak TLS now: the handshakes of the probes
	// that find what runs inside may take the session's deadline, and
	// what bounds a probe that meets a silent peer is its own slice.
	dial := func(ctx context.Context) (net.Conn, error) { return r.dialTLS(ctx, 0) }
	o := r.identify(ctx, tc, dial, &st)
	if !o.ok || o.m.Service == "" {
		o.m = Match{Service: "ssl", Method: "native:tls"}
		if st.NegotiatedProtocol == "h2" {
			o.m = Match{Service: "http", Method: "native:tls", Info: "HTTP/2 (ALPN)"}
		}
	}
	o.ok, o.m.Certain, o.tls = true, true, summary
	return o, nil
}

// tlsAlert is the alert a peer sent to end our handshake ("handshake
// failure"), "" when err is not one.
func tlsAlert(err error) string {
	var oe *net.OpError
	if err == nil || !errors.As(err, &oe) || oe.Op != "remote error" {
		return ""
	}
	return strings.TrimPrefix(oe.Err.Error(), "tls: ")
}

// anonCandidate offers only anonymous suites on a new connection, for a
// peer that refused every authenticated one.
func (r *run) anonCandidate(ctx context.Context) (outcome, bool) {
	ctx, cancel := context.WithTimeout(ctx, 2*r.slice(2))
	defer cancel()
	c, err := r.dial(ctx, "tcp")
	if err != nil {
		return outcome{}, false
	}
	defer closeConn(c)
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	t, ok, _ := anonTLS(ctx, c)
	if !ok {
		return outcome{}, false
	}
	return outcome{ok: true, tls: t, m: Match{Service: "ssl", Method: "native:tls-anon", Certain: true,
		Info: "anonymous Diffie-Hellman only: no certificate, no authentication of the server"}}, true
}

// waves runs the first wave, and the second once the first has no certain
// answer: when every first-wave candidate is done, or (early, when no
// evidence hinted the protocol) a second-wave slice after it began,
// whichever is sooner. A peer silent on a TLS
// ClientHello or an HTTP request (a binary protocol waiting for more)
// would otherwise hold the second wave back by the first's whole budget.
// It returns the first certain outcome, cancelling the rest, or else the
// first uncertain one, first wave before second, each in list order.
func (r *run) waves(ctx context.Context, first, second []candidate, early bool) (outcome, bool) {
	if len(second) == 0 {
		return r.wave(ctx, first)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type res struct {
		i int
		o outcome
	}
	all := append(slices.Clip(first), second...)
	ch := make(chan res, len(all))
	launch := func(from, to int) {
		for i := from; i < to; i++ {
			c := all[i]
			go func() {
				o, err := c.run(wctx)
				if err != nil && !o.ok {
					o = outcome{}
				}
				ch <- res{i, o}
			}()
		}
	}
	launch(0, len(first))
	started, pending := len(first), len(first)
	var soon <-chan time.Time
	if early {
		t := time.NewTimer(r.slice(2))
		defer t.Stop()
		soon = t.C
	}
	startSecond := func() {
		if started == len(first) {
			launch(len(first), len(all))
			pending += len(second)
			started = len(all)
		}
	}
	if len(first) == 0 {
		startSecond()
	}
	results := make([]outcome, len(all))
	for pending > 0 {
		select {
		case x := <-ch:
			pending--
			results[x.i] = x.o
			if x.o.ok && x.o.m.Certain {
				cancel()
				// Wait for the others so that no connection outlives Probe.
				for ; pending > 0; pending-- {
					<-ch
				}
				return x.o, true
			}
			if pending == 0 {
				startSecond()
			}
		case <-soon:
			if !r.tlsUp.Load() {
				startSecond()
			}
		}
	}
	for _, o := range results {
		if o.ok {
			return o, true
		}
	}
	return outcome{}, false
}

// wave runs candidates in parallel and returns the first certain outcome,
// cancelling the rest, or else the first uncertain one in list order.
func (r *run) wave(ctx context.Context, cands []candidate) (outcome, bool) {
	if len(cands) == 0 {
		return outcome{}, false
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type res struct {
		i int
		o outcome
	}
	ch := make(chan res, len(cands))
	for i, c := range cands {
		go func() {
			o, err := c.run(wctx)
			if err != nil && !o.ok {
				o = outcome{}
			}
			ch <- res{i, o}
		}()
	}
	results := make([]outcome, len(cands))
	for received := 1; received <= len(cands); received++ {
		x := <-ch
		results[x.i] = x.o
		if x.o.ok && x.o.m.Certain {
			cancel()
			// Wait for the others so that no connection outlives Probe.
			for ; received < len(cands); received++ {
				<-ch
			}
			return x.o, true
		}
	}
	for _, o := range results {
		if o.ok {
			return o, true
		}
	}
	return outcome{}, false
}

// fill copies an outcome into a Result, naming the product from the
// signature table when the protocol itself did not.
func (r *run) fill(res *Result, o outcome) {
	m := o.m
	if !o.ok && len(o.banner) > 0 {
		if sm, ok := r.p.signatures().Identify(firstLine(string(o.banner))); ok {
			m, o.ok = sm, true
		}
	}
	var reply []byte
	if !o.ok && o.tls == nil {
		if sm, b, ok := r.identifyReplies(); ok {
			m, o.ok, reply = sm, true, b
		} else {
			reply = r.firstReply()
		}
	}
	if o.ok {
		if m.Product == "" {
			if sm, ok := r.productFrom(m); ok {
				m.Service = sm.Service
				m.Product = sm.Product
				if m.Version == "" {
					m.Version = sm.Version
				}
				m.Info = joinInfo(sm.Info, m.Info)
				m.Method += "+" + sm.Method
			}
		}
		res.Service, res.Product, res.Version, res.Info = m.Service, m.Product, m.Version, m.Info
		res.Method = m.Method
		res.StartTLS = m.StartTLS
	}
	res.TLS = o.tls
	switch {
	case len(o.banner) > 0:
		res.Banner = excerpt(string(o.banner))
	case m.Evidence != "":
		res.Banner = excerpt(m.Evidence)
	case len(reply) > 0:
		// What it said to one of our requests: the best clue left.
		res.Banner = excerpt(string(reply))
	}
	if !o.ok && o.closed && o.tls == nil {
		// Accepted, then closed before a byte, and every probe met the
		// same: something (tcpwrappers, a proxy, a connection limit)
		// guards the port. nmap calls it tcpwrapped.
		res.Service, res.Method = "tcpwrapped", "native:closed"
	}
}

// guess names the service from the port alone, marked as a guess.
func (r *run) guess(res *Result) {
	if res.Service != "" {
		return
	}
	for _, pr := range r.protocolsFor(r.target.Transport) {
		if slices.Contains(pr.Ports, r.target.Port) {
			res.Service, res.Guess, res.Method = pr.Name, true, "guess:port"
			return
		}
	}
}

func joinInfo(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

func excerpt(s string) string {
	if len(s) > bannerExcerpt {
		s = s[:bannerExcerpt]
	}
	return s
}

// probeUDP sends the UDP protocols' probes (those for this port, else all)
// in parallel on connected sockets. No answer is open|filtered; an ICMP
// port unreachable (ECONNREFUSED) is closed.
func (r *run) probeUDP(ctx context.Context, res *Result) {
	protos := r.protocolsFor("udp")
	var chosen []Protocol
	for _, pr := range protos {
		if pr.Probe != nil && slices.Contains(pr.Ports, r.target.Port) {
			chosen = append(chosen, pr)
		}
	}
	if len(chosen) == 0 {
		for _, pr := range protos {
			if pr.Probe != nil {
				chosen = append(chosen, pr)
			}
		}
	}
	res.State = StateOpenFiltered
	if len(chosen) == 0 {
		res.Error = "no UDP probe known"
		return
	}
	ctx = withSession(ctx, &session{host: r.host, port: r.target.Port})
	var refused bool
	var reply []byte // the first datagram any probe received
	var mu sync.Mutex
	var cands []candidate
	for _, pr := range chosen {
		cands = append(cands, candidate{name: pr.Name, run: func(ctx context.Context) (outcome, error) {
			c, err := r.dial(ctx, "udp")
			if err != nil {
				return outcome{}, err
			}
			defer c.Close()
			rec := &recConn{Conn: c}
			m, ok, err := pr.Probe(ctx, rec)
			got := rec.received()
			mu.Lock()
			if errors.Is(err, syscall.ECONNREFUSED) {
				refused = true
			}
			if got != nil && reply == nil {
				reply = got
			}
			mu.Unlock()
			if rec.reflected() && r.isEcho(ctx, "udp") {
				return outcome{m: echoMatch(), ok: true}, nil
			}
			if ok && m.Method == "" {
				m.Method = "native:" + pr.Name
			}
			return outcome{m: m, ok: ok}, err
		}})
	}
	o, ok := r.wave(ctx, cands)
	mu.Lock()
	defer mu.Unlock()
	switch {
	case ok:
		res.State = StateOpen
		r.fill(res, o)
	case reply != nil:
		// Something answered, in no protocol we know: the port is open,
		// whatever it is; the reply is shown and read by the signatures.
		res.State = StateOpen
		r.fill(res, outcome{banner: reply})
		if res.Service == "" {
			res.Error = "answered, but in no protocol portwho knows"
		}
	case refused:
		res.State = StateClosed
	}
}

// cappedConn caps the bytes read and frees the connection's slot on Close.
type cappedConn struct {
	net.Conn
	left    int
	once    sync.Once
	release func()
	stop    func() bool
}

func (c *cappedConn) Read(b []byte) (int, error) {
	if c.left <= 0 {
		return 0, errReadCap
	}
	if len(b) > c.left {
		b = b[:c.left]
	}
	n, err := c.Conn.Read(b)
	c.left -= n
	return n, err
}

func (c *cappedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		if c.stop != nil {
			c.stop()
		}
		c.release()
	})
	return err
}

// closeConn closes c and, under TLS, the connection beneath at once: a
// tls.Conn that another goroutine (net/http's HTTP/2 client) is already
// closing returns at once without waiting for it, and the slot must be
// free when Probe returns.
func closeConn(c net.Conn) {
	_ = c.Close()
	if tc, ok := c.(*tls.Conn); ok {
		_ = tc.NetConn().Close()
	}
}

// replayConn serves buf before reading from the connection: a protocol's
// probe re-reads the banner the null probe already consumed.
type replayConn struct {
	net.Conn
	buf []byte
}

func (c *replayConn) Read(b []byte) (int, error) {
	if len(c.buf) > 0 {
		n := copy(b, c.buf)
		c.buf = c.buf[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// limiter holds counting semaphores per host and per host:port.
type limiter struct {
	mu    sync.Mutex
	slots map[string]*slot
}

type slot struct {
	ch   chan struct{}
	refs int
}

func (l *limiter) get(key string, n int) *slot {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.slots == nil {
		l.slots = map[string]*slot{}
	}
	s := l.slots[key]
	if s == nil {
		s = &slot{ch: make(chan struct{}, n)}
		l.slots[key] = s
	}
	s.refs++
	return s
}

func (l *limiter) put(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.slots[key]; s != nil {
		s.refs--
		if s.refs == 0 {
			delete(l.slots, key)
		}
	}
}

// acquire takes one host slot and one port slot, or fails when ctx ends.
func (l *limiter) acquire(ctx context.Context, host, addr string, perHost, perPort int) (func(), error) {
	if perHost <= 0 {
		perHost = DefaultPerHost
	}
	if perPort <= 0 {
		perPort = DefaultPerPort
	}
	hk, pk := "h "+host, "p "+addr
	hs, ps := l.get(hk, perHost), l.get(pk, perPort)
	undo := func() { l.put(hk); l.put(pk) }
	select {
	case ps.ch <- struct{}{}:
	case <-ctx.Done():
		undo()
		return nil, ctx.Err()
	}
	select {
	case hs.ch <- struct{}{}:
	case <-ctx.Done():
		<-ps.ch
		undo()
		return nil, ctx.Err()
	}
	return func() { <-hs.ch; <-ps.ch; undo() }, nil
}
