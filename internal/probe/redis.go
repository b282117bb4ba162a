package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// redisProtocol identifies Redis and its forks with PING then INFO server,
// both read-only. A server that wants a password still names itself: its
// -NOAUTH error is Redis's own wording.
func redisProtocol() Protocol {
	return Protocol{
		Name:      "redis",
		Transport: "tcp",
		Ports:     []uint16{6379, 6380},
		Wave:      2,
		Banner:    redisBanner,
		Probe:     redisProbe,
	}
}

// redisReply is one RESP reply, reduced to what identification needs.
type redisReply struct {
	Kind byte   // '+', '-', '$' (bulk), ':' (integer)
	Text string // simple string, error text, or bulk payload
}

// redisBanner recognises the error a protected-mode Redis writes to a
// non-loopback client as soon as it connects, before any request.
func redisBanner(b []byte) (Match, bool) {
	if !bytes.HasPrefix(b, []byte("-DENIED Redis is running in protected mode")) {
		return Match{}, false
	}
	return Match{Service: "redis", Product: "Redis key-value store", Info: "protected mode", Method: "native:redis", Certain: true}, true
}

func redisProbe(ctx context.Context, c net.Conn) (Match, bool, error) {
	defer withCtx(ctx, c)()
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return Match{}, false, fmt.Errorf("redis: send ping: %w", err)
	}
	raw, err := readFramed(c, frameRESP)
	if err != nil {
		return Match{}, false, fmt.Errorf("redis: read ping reply: %w", err)
	}
	r, err := parseRedisReply(raw)
	if err != nil {
		return Match{}, false, fmt.Errorf("redis: %w", err)
	}
	m, ok := redisJudgePing(r)
	if !ok || r.Kind != '+' {
		return m, ok, nil
	}
	if _, err := c.Write([]byte("INFO server\r\n")); err != nil {
		return m, true, nil // PONG alone is enough to name it
	}
	raw, err = readFramed(c, frameRESP)
	if err != nil {
		return m, true, nil
	}
	if r, err := parseRedisReply(raw); err == nil && r.Kind == '$' {
		info := parseRedisInfo(r.Text)
		redisApplyInfo(&m, info)
	}
	return clipMatch(m), true, nil
}

// redisJudgePing decides from the reply to PING. +PONG is Redis's answer;
// errors count only in Redis's own words, since many line protocols answer
// an unknown command with some "-ERR".
func redisJudgePing(r redisReply) (Match, bool) {
	m := Match{Service: "redis", Product: "Redis key-value store", Method: "native:redis", Certain: true}
	switch {
	case r.Kind == '+' && r.Text == "PONG":
		return m, true
	case r.Kind == '-' && strings.HasPrefix(r.Text, "NOAUTH "):
		m.Info = "authentication required"
		return m, true
	case r.Kind == '-' && strings.HasPrefix(r.Text, "DENIED Redis is running in protected mode"):
		m.Info = "protected mode"
		return m, true
	case r.Kind == '-' && strings.HasPrefix(r.Text, "NOPERM "):
		// ACL user without +ping: still Redis 6+.
		m.Info = "no permission"
		return m, true
	}
	return Match{}, false
}

// redisApplyInfo fills product and version from INFO server fields. Valkey
// keeps redis_version for compatibility and adds its own fields. The
// product name is nmap's, so that results compare directly.
func redisApplyInfo(m *Match, info map[string]string) {
	if v := info["redis_version"]; v != "" {
		m.Version = v
		m.Evidence = "redis_version:" + v
	}
	if v := info["valkey_version"]; v != "" || info["server_name"] == "valkey" {
		m.Product = "Valkey"
		if v != "" {
			m.Version = v
			m.Evidence = "valkey_version:" + v
		}
	}
	var extra []string
	if v := info["redis_mode"]; v != "" {
		extra = append(extra, v)
	}
	if v := info["os"]; v != "" {
		extra = append(extra, v)
	}
	m.Info = strings.Join(extra, "; ")
}

// frameRESP frames one RESP reply of the kinds a PING or INFO can return.
func frameRESP(b []byte) (int, error) {
	i := bytes.Index(b, []byte("\r\n"))
	if i < 0 {
		if len(b) > 4096 {
			return 0, errors.New("no RESP line end")
		}
		return 0, errNeedMore
	}
	if len(b) == 0 {
		return 0, errNeedMore
	}
	switch b[0] {
	case '+', '-', ':':
		return i + 2, nil
	case '$':
		n, err := strconv.Atoi(string(b[1:i]))
		if err != nil || n < -1 {
			return 0, fmt.Errorf("bad RESP bulk length %q", b[1:i])
		}
		if n == -1 {
			return i + 2, nil
		}
		return i + 2 + n + 2, nil
	}
	return 0, fmt.Errorf("not a RESP reply: first byte %q", b[0])
}

// parseRedisReply decodes one complete RESP simple string, error, integer
// or bulk string.
func parseRedisReply(b []byte) (redisReply, error) {
	n, err := frameRESP(b)
	if err != nil {
		return redisReply{}, err
	}
	if len(b) < n {
		return redisReply{}, errors.New("truncated RESP reply")
	}
	i := bytes.Index(b, []byte("\r\n"))
	r := redisReply{Kind: b[0]}
	if b[0] == '$' {
		if n == i+2 { // null bulk
			return r, nil
		}
		if !bytes.HasSuffix(b[:n], []byte("\r\n")) {
			return redisReply{}, errors.New("bulk string not terminated by CRLF")
		}
		r.Text = string(b[i+2 : n-2])
		return r, nil
	}
	r.Text = string(b[1:i])
	return r, nil
}

// parseRedisInfo parses INFO's "key:value" lines, skipping "# Section"
// headers and blank lines.
func parseRedisInfo(s string) map[string]string {
	out := make(map[string]string)
	for line := range strings.SplitSeq(s, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		out[k] = v
	}
	return out
}
