package probe

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// udpOtherReplies are real answers of other protocols (and an HTTP error
// page and a redis error, as a TCP service on a UDP probe's port would
// send) that no UDP probe of this package may take for its own.
func udpOtherReplies(t *testing.T) map[string][]byte {
	t.Helper()
	return map[string][]byte{
		"dnsmasq version.bind": readTestdata(t, "dnsmasq-2.90-version-bind.bin"),
		"net-snmp v2c":         readTestdata(t, "net-snmp-5.9.3-v2c.bin"),
		"chrony":               readTestdata(t, "chrony-4.3-local-stratum10.bin"),
		"memcached udp":        readTestdata(t, "memcached-1.6.18-udp.bin"),
		"redis -ERR":           []byte("-ERR unknown command 'x', with args beginning with: \r\n"),
		"http 400": []byte("HTTP/1.1 400 Bad Request\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\n" +
			"Content-Length: 157\r\nConnection: close\r\n\r\n<html>\r\n<head><title>400 Bad Request</title></head>\r\n"),
		"random": {0x9e, 0x37, 0x79, 0xb9, 0x7f, 0x4a, 0x7c, 0x15, 0xf3, 0x9c, 0xc0, 0x60, 0x5c, 0xed, 0xc8, 0x34,
			0x10, 0x82, 0x27, 0x6b, 0xf3, 0xa2, 0x72, 0x73, 0x0b, 0x1b, 0x0c, 0x3e},
		"empty": {},
	}
}

// stunWithTID is a captured response answering transaction tid. The
// captured XOR-MAPPED-ADDRESS is IPv4, masked with the cookie alone, so it
// stays valid.
func stunWithTID(captured []byte, tid []byte) []byte {
	r := bytes.Clone(captured)
	copy(r[8:20], tid)
	return r
}

// stunErrorResponse builds a Binding Error Response as RFC 5389 section
// 15.6 lays it out (coturn sends this shape for a request it cannot
// parse), with SOFTWARE first as coturn orders its attributes.
func stunErrorResponse(tid []byte, code int, reason string) []byte {
	attr := func(typ uint16, v []byte) []byte {
		a := binary.BigEndian.AppendUint16(nil, typ)
		a = binary.BigEndian.AppendUint16(a, uint16(len(v)))
		a = append(a, v...)
		for len(a)%4 != 0 {
			a = append(a, 0)
		}
		return a
	}
	body := attr(stunAttrSoftware, []byte("Coturn-4.6.1 'Gorst'"))
	body = append(body, attr(stunAttrErrorCode, append([]byte{0, 0, byte(code / 100), byte(code % 100)}, reason...))...)
	msg := binary.BigEndian.AppendUint16(nil, stunBindingError)
	msg = binary.BigEndian.AppendUint16(msg, uint16(len(body)))
	msg = binary.BigEndian.AppendUint32(msg, stunMagicCookie)
	msg = append(msg, tid...)
	return append(msg, body...)
}

func TestParseSTUNReply(t *testing.T) {
	udp := readTestdata(t, "coturn-4.6.1-binding-udp.bin")
	tid := udp[8:20]
	req, _ := stunBindingRequestMsg()
	echo := bytes.Clone(req)
	noCookie := bytes.Clone(udp)
	noCookie[4] ^= 0xff
	badLen := bytes.Clone(udp)
	badLen[3] += 4
	tests := []struct {
		name    string
		in      []byte
		want    Match
		wantErr bool
	}{
		{name: "coturn 4.6.1 over udp", in: udp,
			want: Match{Service: "stun", Product: "Coturn", Version: "4.6.1", Info: "Gorst; mapped address 127.0.0.1:46193",
				Method: "native:stun", Certain: true, Evidence: "Coturn-4.6.1 'Gorst'"}},
		{name: "coturn 4.6.1 over tcp", in: readTestdata(t, "coturn-4.6.1-binding-tcp.bin"),
			want: Match{Service: "stun", Product: "Coturn", Version: "4.6.1", Info: "Gorst; mapped address 127.0.0.1:56892",
				Method: "native:stun", Certain: true, Evidence: "Coturn-4.6.1 'Gorst'"}},
		{name: "binding error response", in: stunErrorResponse(tid, 420, "Unknown Attribute"),
			want: Match{Service: "stun", Product: "Coturn", Version: "4.6.1", Info: "Gorst; error 420 Unknown Attribute",
				Method: "native:stun", Certain: true, Evidence: "Coturn-4.6.1 'Gorst'"}},
		{name: "echo of our request", in: echo, wantErr: true},
		{name: "no magic cookie", in: noCookie, wantErr: true},
		{name: "length beyond the datagram", in: badLen, wantErr: true},
		{name: "truncated", in: udp[:len(udp)-4], wantErr: true},
		{name: "error code out of range", in: stunErrorResponse(tid, 999, "x"), wantErr: true},
	}
	for name, b := range udpOtherReplies(t) {
		tests = append(tests, struct {
			name    string
			in      []byte
			want    Match
			wantErr bool
		}{name: name, in: b, wantErr: true})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseSTUNReply(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if !bytes.Equal(r.TID[:], tt.in[8:20]) {
				t.Errorf("transaction id %x, want %x", r.TID, tt.in[8:20])
			}
			if diff := cmp.Diff(tt.want, stunMatch(r)); diff != "" {
				t.Errorf("match (-want +got):\n%s", diff)
			}
		})
	}
}

// checkSTUNRequest is what coturn requires of a Binding Request, plus our
// own rule: no attributes, so nothing that could ask for an allocation.
func checkSTUNRequest(q []byte) error {
	if len(q) != stunHeaderLen || binary.BigEndian.Uint16(q) != stunBindingRequest ||
		binary.BigEndian.Uint16(q[2:]) != 0 || binary.BigEndian.Uint32(q[4:]) != stunMagicCookie {
		return fmt.Errorf("not an attribute-free Binding Request: %x", q)
	}
	return nil
}

func TestStunProbeUDP(t *testing.T) {
	captured := readTestdata(t, "coturn-4.6.1-binding-udp.bin")
	addr := binServeUDP(t, func(q []byte) [][]byte {
		if err := checkSTUNRequest(q); err != nil {
			t.Error(err)
			return nil
		}
		// An answer to another transaction first, then ours.
		return [][]byte{captured, stunWithTID(captured, q[8:20])}
	})
	m, ok, err := binProbe(t, "udp", addr, 5*time.Second, stunProbeUDP)
	if err != nil || !ok {
		t.Fatalf("probe: ok %v err %v", ok, err)
	}
	want := Match{Service: "stun", Product: "Coturn", Version: "4.6.1", Info: "Gorst; mapped address 127.0.0.1:46193",
		Method: "native:stun", Certain: true, Evidence: "Coturn-4.6.1 'Gorst'"}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("match (-want +got):\n%s", diff)
	}
}

func TestStunProbeTCP(t *testing.T) {
	captured := readTestdata(t, "coturn-4.6.1-binding-tcp.bin")
	addr := binServeTCP(t, binStep{frame: frameSTUN, check: checkSTUNRequest,
		reply: func(q []byte) []byte { return stunWithTID(captured, q[8:20]) }})
	m, ok, err := binProbe(t, "tcp", addr, 5*time.Second, stunProbeTCP)
	if err != nil || !ok {
		t.Fatalf("probe: ok %v err %v", ok, err)
	}
	if m.Product != "Coturn" || m.Version != "4.6.1" || !m.Certain {
		t.Errorf("got %+v", m)
	}
	// A response for another transaction is not proof.
	addr = binServeTCP(t, binStep{frame: frameSTUN, check: checkSTUNRequest, reply: fixed(captured)})
	if m, ok, err := binProbe(t, "tcp", addr, 5*time.Second, stunProbeTCP); ok || err != nil {
		t.Errorf("stale transaction accepted: %+v ok %v err %v", m, ok, err)
	}
}

// An echo service reflects the request; other protocols' answers and a
// response to someone else's transaction are no answer either.
func TestStunProbeUDPRejects(t *testing.T) {
	captured := readTestdata(t, "coturn-4.6.1-binding-udp.bin")
	others := udpOtherReplies(t)
	addr := binServeUDP(t, func(q []byte) [][]byte {
		out := [][]byte{q, captured}
		for _, b := range others {
			out = append(out, b)
		}
		return out
	})
	if m, ok, err := binProbe(t, "udp", addr, 300*time.Millisecond, stunProbeUDP); ok || !isTimeoutErr(err) {
		t.Errorf("accepted a reply that is not ours: %+v ok %v err %v", m, ok, err)
	}
}

func FuzzParseSTUNReply(f *testing.F) {
	addTestdataSeeds(f, "coturn-4.6.1-binding-udp.bin", "coturn-4.6.1-binding-tcp.bin")
	f.Add(stunErrorResponse(make([]byte, 12), 401, "Unauthorized"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, err := frameSTUN(b); err == nil && n < stunHeaderLen {
			t.Fatalf("frame length %d", n)
		}
		r, err := parseSTUNReply(b)
		if err != nil {
			return
		}
		if r.Type != stunBindingSuccess && r.Type != stunBindingError {
			t.Fatalf("accepted type %#x", r.Type)
		}
		if r.Type == stunBindingError && (r.ErrCode < 300 || r.ErrCode > 699) {
			t.Fatalf("error code %d", r.ErrCode)
		}
		m := clipMatch(stunMatch(r))
		if m.Service != "stun" || !m.Certain {
			t.Fatalf("match %+v", m)
		}
	})
}
