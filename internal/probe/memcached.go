package probe

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strings"
)

// memcachedProtocol asks a memcached server over TCP for its version with
// the text protocol's read-only "version" command.
func memcachedProtocol() Protocol {
	return Protocol{
		Name:      "memcache",
		Transport: "tcp",
		Ports:     []uint16{11211},
		Wave:      2,
		Probe:     memcachedProbe,
	}
}

// memcachedUDPProtocol is the same question over UDP, where every datagram
// carries an 8-byte frame header (request id, sequence, count, reserved).
func memcachedUDPProtocol() Protocol {
	return Protocol{
		Name:      "memcache",
		Transport: "udp",
		Ports:     []uint16{11211},
		Wave:      2,
		Probe:     memcachedUDPProbe,
	}
}

func memcachedProbe(ctx context.Context, c net.Conn) (Match, bool, error) {
	return askFramed(ctx, c, "memcache", []byte("version\r\n"), frameLine, parseMemcachedVersion,
		func(v string) Match { return memcachedMatch(v, "tcp") })
}

func memcachedUDPProbe(ctx context.Context, c net.Conn) (Match, bool, error) {
	defer withCtx(ctx, c)()
	id := randomUint16()
	req := make([]byte, 8, 8+9)
	binary.BigEndian.PutUint16(req[0:], id)
	binary.BigEndian.PutUint16(req[4:], 1) // one datagram
	req = append(req, "version\r\n"...)
	if _, err := c.Write(req); err != nil {
		return Match{}, false, fmt.Errorf("memcache: send version: %w", err)
	}
	for {
		d, err := readDatagram(c)
		if err != nil {
			return Match{}, false, fmt.Errorf("memcache: read version: %w", err)
		}
		gotID, body, err := parseMemcachedUDP(d)
		if err != nil || gotID != id {
			continue // not our reply; keep reading until the deadline
		}
		v, err := parseMemcachedVersion(body)
		if err != nil {
			return Match{}, false, nil
		}
		return clipMatch(memcachedMatch(v, "udp")), true, nil
	}
}

func memcachedMatch(version, transport string) Match {
	return Match{
		Service:  "memcache",
		Product:  "Memcached",
		Version:  version,
		Info:     transport,
		Method:   "native:memcache",
		Certain:  true,
		Evidence: "VERSION " + version,
	}
}

// frameLine frames one CRLF-terminated line of at most 4 KiB.
func frameLine(b []byte) (int, error) {
	if i := bytes.Index(b, []byte("\r\n")); i >= 0 {
		return i + 2, nil
	}
	if len(b) > 4096 {
		return 0, errors.New("line too long")
	}
	return 0, errNeedMore
}

// parseMemcachedVersion reads "VERSION 1.6.18\r\n".
func parseMemcachedVersion(b []byte) (string, error) {
	line, ok := bytes.CutSuffix(b, []byte("\r\n"))
	if !ok {
		return "", errors.New("version reply not CRLF-terminated")
	}
	v, ok := bytes.CutPrefix(line, []byte("VERSION "))
	if !ok {
		return "", fmt.Errorf("not a memcached version reply: %.40q", line)
	}
	s := strings.TrimSpace(string(v))
	if s == "" || strings.ContainsAny(s, " \r\n") {
		return "", fmt.Errorf("bad memcached version %.40q", v)
	}
	return s, nil
}

// parseMemcachedUDP splits a memcached UDP datagram into its request id and
// payload. Only single-datagram replies are accepted; a version never spans
// more than one.
func parseMemcachedUDP(d []byte) (uint16, []byte, error) {
	if len(d) < 8 {
		return 0, nil, errors.New("short memcached udp frame")
	}
	seq := binary.BigEndian.Uint16(d[2:])
	total := binary.BigEndian.Uint16(d[4:])
	if seq != 0 || total != 1 {
		return 0, nil, fmt.Errorf("memcached udp frame %d of %d", seq, total)
	}
	return binary.BigEndian.Uint16(d[0:]), d[8:], nil
}
