package probe

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The captured resets acknowledge session 92da158c2846086f, the one the
// capture script sent.
var openvpnCapturedSID = [8]byte{0x92, 0xda, 0x15, 0x8c, 0x28, 0x46, 0x08, 0x6f}

// openvpnForSession patches a captured server reset (without the TCP
// length) to acknowledge session sid.
func openvpnForSession(captured []byte, sid []byte) []byte {
	r := bytes.Clone(captured)
	n := int(r[9])
	copy(r[10+4*n:], sid)
	return r
}

func TestParseOpenVPNReset(t *testing.T) {
	udp := readTestdata(t, "openvpn-2.6.14-reset-udp.bin")
	tcp := readTestdata(t, "openvpn-2.6.14-reset-tcp.bin")
	req, _ := openvpnClientReset()
	noAcks := bytes.Clone(udp[:10])
	noAcks[9] = 0
	noAcks = append(noAcks, 0, 0, 0, 0)
	laterPacket := bytes.Clone(udp)
	laterPacket[len(laterPacket)-1] = 1
	tests := []struct {
		name    string
		in      []byte
		want    openvpnReset
		wantErr bool
	}{
		{name: "openvpn 2.6.14 udp", in: udp, want: openvpnReset{
			SessionID: [8]byte{0x36, 0x3d, 0xaa, 0xa6, 0xfc, 0x3e, 0x63, 0x1b}, Acks: []uint32{0}, RemoteSession: openvpnCapturedSID}},
		{name: "openvpn 2.6.14 tcp", in: tcp[2:], want: openvpnReset{
			SessionID: [8]byte{0x41, 0xed, 0x25, 0x36, 0x7b, 0x04, 0xbb, 0x8b}, Acks: []uint32{0}, RemoteSession: openvpnCapturedSID}},
		{name: "our own client reset", in: req, wantErr: true},
		{name: "no acks", in: noAcks, wantErr: true},
		{name: "not the server's first packet", in: laterPacket, wantErr: true},
		{name: "truncated", in: udp[:len(udp)-1], wantErr: true},
		{name: "tcp frame unstripped", in: tcp, wantErr: true},
	}
	for name, b := range udpOtherReplies(t) {
		tests = append(tests, struct {
			name    string
			in      []byte
			want    openvpnReset
			wantErr bool
		}{name: name, in: b, wantErr: true})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseOpenVPNReset(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, r); diff != "" {
				t.Errorf("reset (-want +got):\n%s", diff)
			}
			if !r.answers(openvpnCapturedSID) || r.answers([8]byte{1}) {
				t.Errorf("answers() does not tell our session from another")
			}
		})
	}
}

// checkOpenVPNReset is what openvpn 2.6 accepts from a client without
// tls-auth: a 14-byte hard reset v2, key id 0, no acks, packet id 0.
func checkOpenVPNReset(p []byte) error {
	if len(p) != 14 || p[0] != openvpnHardResetClientV2<<3 || p[9] != 0 || binary.BigEndian.Uint32(p[10:]) != 0 {
		return fmt.Errorf("not a bare client hard reset: %x", p)
	}
	return nil
}

func TestOpenvpnProbeUDP(t *testing.T) {
	captured := readTestdata(t, "openvpn-2.6.14-reset-udp.bin")
	addr := binServeUDP(t, func(q []byte) [][]byte {
		if err := checkOpenVPNReset(q); err != nil {
			t.Error(err)
			return nil
		}
		// The reset of another session first (as the captured bytes are),
		// then ours.
		return [][]byte{captured, openvpnForSession(captured, q[1:9])}
	})
	m, ok, err := binProbe(t, "udp", addr, 5*time.Second, openvpnProbeUDP)
	if err != nil || !ok {
		t.Fatalf("probe: ok %v err %v", ok, err)
	}
	if diff := cmp.Diff(openvpnMatch(), m); diff != "" {
		t.Errorf("match (-want +got):\n%s", diff)
	}
}

func TestOpenvpnProbeTCP(t *testing.T) {
	captured := readTestdata(t, "openvpn-2.6.14-reset-tcp.bin")
	addr := binServeTCP(t, binStep{frame: frameOpenVPNTCP,
		check: func(q []byte) error { return checkOpenVPNReset(q[2:]) },
		reply: func(q []byte) []byte {
			return append(bytes.Clone(captured[:2]), openvpnForSession(captured[2:], q[3:11])...)
		}})
	m, ok, err := binProbe(t, "tcp", addr, 5*time.Second, openvpnProbeTCP)
	if err != nil || !ok {
		t.Fatalf("probe: ok %v err %v", ok, err)
	}
	if diff := cmp.Diff(openvpnMatch(), m); diff != "" {
		t.Errorf("match (-want +got):\n%s", diff)
	}
	// A reset for another session proves nothing about ours.
	addr = binServeTCP(t, binStep{frame: frameOpenVPNTCP, reply: fixed(captured)})
	if m, ok, err := binProbe(t, "tcp", addr, 5*time.Second, openvpnProbeTCP); ok || err != nil {
		t.Errorf("stale session accepted: %+v ok %v err %v", m, ok, err)
	}
}

func TestOpenvpnProbeUDPRejects(t *testing.T) {
	captured := readTestdata(t, "openvpn-2.6.14-reset-udp.bin")
	others := udpOtherReplies(t)
	addr := binServeUDP(t, func(q []byte) [][]byte {
		out := [][]byte{q, captured}
		for _, b := range others {
			out = append(out, b)
		}
		return out
	})
	if m, ok, err := binProbe(t, "udp", addr, 300*time.Millisecond, openvpnProbeUDP); ok || !isTimeoutErr(err) {
		t.Errorf("accepted a reply that is not ours: %+v ok %v err %v", m, ok, err)
	}
}

func FuzzParseOpenVPNReset(f *testing.F) {
	f.Add(readTestdata(f, "openvpn-2.6.14-reset-udp.bin"))
	f.Add(readTestdata(f, "openvpn-2.6.14-reset-tcp.bin")[2:])
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, err := frameOpenVPNTCP(b); err == nil && (n < 16 || n > 2+openvpnMaxPacket) {
			t.Fatalf("frame length %d", n)
		}
		r, err := parseOpenVPNReset(b)
		if err != nil {
			return
		}
		if b[0]>>3 != openvpnHardResetServerV2 || len(r.Acks) == 0 || len(r.Acks) > openvpnMaxAcks || r.PacketID != 0 {
			t.Fatalf("accepted %+v", r)
		}
	})
}
