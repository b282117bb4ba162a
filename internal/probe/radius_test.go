package probe

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRADIUSReply(t *testing.T) {
	reject := readTestdata(t, "freeradius-3.2.1-access-reject.bin")
	// A reject with a Reply-Message, as FreeRADIUS sends when a site sets
	// one in Post-Auth-Type REJECT, and trailing padding.
	withMsg := bytes.Clone(reject)
	withMsg = append(withMsg, radiusAttrReplyMessage, 2+14)
	withMsg = append(withMsg, "Login incorrect"[:14]...)
	binary.BigEndian.PutUint16(withMsg[2:], uint16(len(withMsg)))
	withMsg = append(withMsg, 0, 0, 0)
	badAttr := bytes.Clone(withMsg)
	badAttr[21] = 40
	long := bytes.Clone(reject)
	binary.BigEndian.PutUint16(long[2:], 21)
	tests := []struct {
		name    string
		in      []byte
		want    Match
		wantErr bool
	}{
		{name: "freeradius 3.2.1 access-reject", in: reject,
			want: Match{Service: "radius", Method: "native:radius", Certain: true, Info: "Access-Reject"}},
		{name: "freeradius 3.2.1 access-accept", in: readTestdata(t, "freeradius-3.2.1-status-accept.bin"),
			want: Match{Service: "radius", Method: "native:radius", Certain: true, Info: "Access-Accept"}},
		{name: "reply message and padding", in: withMsg,
			want: Match{Service: "radius", Method: "native:radius", Certain: true, Info: "Access-Reject; Login incorrec"}},
		{name: "our own request", in: radiusAccessRequestMsg(1), wantErr: true},
		{name: "attribute overruns", in: badAttr, wantErr: true},
		{name: "length beyond the packet", in: long, wantErr: true},
		{name: "short", in: reject[:19], wantErr: true},
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
			r, err := parseRADIUSReply(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, radiusMatch(r)); diff != "" {
				t.Errorf("match (-want +got):\n%s", diff)
			}
		})
	}
}

// checkRADIUSRequest checks the probe asks what FreeRADIUS needs to answer
// (an Access-Request with User-Name and one User-Password block) and
// nothing it would have to verify with the secret or write down.
func checkRADIUSRequest(q []byte) error {
	if len(q) < radiusHeaderLen || q[0] != radiusAccessRequest || int(binary.BigEndian.Uint16(q[2:])) != len(q) {
		return fmt.Errorf("not an Access-Request")
	}
	var types []byte
	for a := q[radiusHeaderLen:]; len(a) > 0; a = a[a[1]:] {
		if len(a) < 2 || a[1] < 2 || int(a[1]) > len(a) {
			return fmt.Errorf("malformed attributes")
		}
		types = append(types, a[0])
		if a[0] == radiusAttrUserName && string(a[2:a[1]]) != radiusUserName {
			return fmt.Errorf("user %q", a[2:a[1]])
		}
		if a[0] == radiusAttrUserPassword && a[1] != 18 {
			return fmt.Errorf("password of %d bytes", a[1]-2)
		}
	}
	if !bytes.Equal(types, []byte{radiusAttrUserName, radiusAttrUserPassword}) {
		return fmt.Errorf("attributes %v", types)
	}
	return nil
}

func TestRadiusProbe(t *testing.T) {
	reject := readTestdata(t, "freeradius-3.2.1-access-reject.bin")
	addr := binServeUDP(t, func(q []byte) [][]byte {
		if err := checkRADIUSRequest(q); err != nil {
			t.Errorf("bad request %x: %v", q, err)
			return nil
		}
		// A reply to another identifier first, then ours.
		stale := bytes.Clone(reject)
		stale[1] = q[1] + 1
		r := bytes.Clone(reject)
		r[1] = q[1]
		return [][]byte{stale, r}
	})
	m, ok, err := binProbe(t, "udp", addr, 5*time.Second, radiusProbe)
	if err != nil || !ok {
		t.Fatalf("probe: ok %v err %v", ok, err)
	}
	want := Match{Service: "radius", Method: "native:radius", Certain: true, Info: "Access-Reject"}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("match (-want +got):\n%s", diff)
	}
}

// An echo, an echo with its code turned into a reject (the authenticator
// gives it away) and other protocols' answers are not RADIUS.
func TestRadiusProbeRejects(t *testing.T) {
	others := udpOtherReplies(t)
	addr := binServeUDP(t, func(q []byte) [][]byte {
		forged := bytes.Clone(q)
		forged[0] = radiusAccessReject
		out := [][]byte{q, forged}
		for _, b := range others {
			out = append(out, b)
		}
		return out
	})
	if m, ok, err := binProbe(t, "udp", addr, 300*time.Millisecond, radiusProbe); ok || !isTimeoutErr(err) {
		t.Errorf("accepted a reply that is not RADIUS: %+v ok %v err %v", m, ok, err)
	}
}

func FuzzParseRADIUSReply(f *testing.F) {
	addTestdataSeeds(f, "freeradius-3.2.1-access-reject.bin", "freeradius-3.2.1-status-accept.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRADIUSReply(b)
		if err != nil {
			return
		}
		if r.Code != radiusAccessAccept && r.Code != radiusAccessReject && r.Code != radiusAccessChallenge {
			t.Fatalf("accepted code %d", r.Code)
		}
		if m := clipMatch(radiusMatch(r)); m.Service != "radius" || m.Info == "" {
			t.Fatalf("match %+v", m)
		}
	})
}
