package probe

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseNBNSStatus(t *testing.T) {
	samba := readTestdata(t, "samba-4.17.12-nbstat.bin")
	// The same table as Windows sends it: the adapter's MAC in the
	// statistics, and a master browser entry.
	windows := bytes.Clone(samba)
	off := 12 + len(nbnsWildcard) + 10
	copy(windows[off+1+5*nbnsNameEntry:], []byte{0x52, 0x54, 0x00, 0x12, 0x34, 0x56})
	browse := bytes.Clone(samba)
	copy(browse[off+1+4*nbnsNameEntry:], "\x01\x02__MSBROWSE__\x02\x01\x84\x00")
	query := nbnsStatusRequest(0x4242)
	negative := bytes.Clone(samba)
	negative[3] |= 3 // NXDOMAIN-style rcode
	dnsLike := bytes.Clone(samba)
	binary.BigEndian.PutUint16(dnsLike[4:], 1) // a question echoed back, as a DNS server does
	badName := bytes.Clone(samba)
	badName[off+1] = 0x07
	tooMany := bytes.Clone(samba)
	tooMany[off] = 200
	tests := []struct {
		name    string
		in      []byte
		want    Match
		wantErr bool
	}{
		{name: "samba 4.17.12 nmbd", in: samba,
			want: Match{Service: "netbios-ns", Product: "Samba nmbd", Method: "native:netbios-ns", Certain: true,
				Info: "NetBIOS name PORTWHOTEST; workgroup PORTWHOGRP"}},
		{name: "a real MAC", in: windows,
			want: Match{Service: "netbios-ns", Method: "native:netbios-ns", Certain: true,
				Info: "NetBIOS name PORTWHOTEST; workgroup PORTWHOGRP; MAC 52:54:00:12:34:56"}},
		{name: "master browser entry", in: browse,
			want: Match{Service: "netbios-ns", Product: "Samba nmbd", Method: "native:netbios-ns", Certain: true,
				Info: "NetBIOS name PORTWHOTEST; workgroup PORTWHOGRP"}},
		{name: "our own query", in: query, wantErr: true},
		{name: "negative response", in: negative, wantErr: true},
		{name: "question section", in: dnsLike, wantErr: true},
		{name: "control byte in a name", in: badName, wantErr: true},
		{name: "more names than bytes", in: tooMany, wantErr: true},
		{name: "truncated record", in: samba[:12+len(nbnsWildcard)+6], wantErr: true},
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
			st, err := parseNBNSStatus(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, nbnsMatch(st)); diff != "" {
				t.Errorf("match (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseNBNSStatusNames(t *testing.T) {
	st, err := parseNBNSStatus(readTestdata(t, "samba-4.17.12-nbstat.bin"))
	if err != nil {
		t.Fatal(err)
	}
	want := nbnsStatus{ID: 0x4242, Names: []nbnsName{
		{Name: "PORTWHOTEST", Suffix: 0x00}, {Name: "PORTWHOTEST", Suffix: 0x03}, {Name: "PORTWHOTEST", Suffix: 0x20},
		{Name: "PORTWHOGRP", Suffix: 0x00, Group: true}, {Name: "PORTWHOGRP", Suffix: 0x1e, Group: true},
	}, MAC: net.HardwareAddr{0, 0, 0, 0, 0, 0}}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("status (-want +got):\n%s", diff)
	}
}

func TestNbnsProbe(t *testing.T) {
	captured := readTestdata(t, "samba-4.17.12-nbstat.bin")
	addr := binServeUDP(t, func(q []byte) [][]byte {
		// nmbd answers a unicast NBSTAT query for "*".
		if len(q) != 50 || !bytes.Equal(q[2:12], []byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0}) ||
			!bytes.Equal(q[12:46], nbnsWildcard) || !bytes.Equal(q[46:], []byte{0, 0x21, 0, 1}) {
			t.Errorf("bad node status request %x", q)
			return nil
		}
		// A response to another transaction first, then ours.
		r := bytes.Clone(captured)
		copy(r, q[:2])
		return [][]byte{captured, r}
	})
	m, ok, err := binProbe(t, "udp", addr, 5*time.Second, nbnsProbe)
	if err != nil || !ok {
		t.Fatalf("probe: ok %v err %v", ok, err)
	}
	want := Match{Service: "netbios-ns", Product: "Samba nmbd", Method: "native:netbios-ns", Certain: true,
		Info: "NetBIOS name PORTWHOTEST; workgroup PORTWHOGRP"}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("match (-want +got):\n%s", diff)
	}
}

func TestNbnsProbeRejects(t *testing.T) {
	others := udpOtherReplies(t)
	addr := binServeUDP(t, func(q []byte) [][]byte {
		out := [][]byte{q}
		for _, b := range others {
			out = append(out, b)
		}
		return out
	})
	if m, ok, err := binProbe(t, "udp", addr, 300*time.Millisecond, nbnsProbe); ok || !isTimeoutErr(err) {
		t.Errorf("accepted a reply that is not NetBIOS: %+v ok %v err %v", m, ok, err)
	}
}

func FuzzParseNBNSStatus(f *testing.F) {
	addTestdataSeeds(f, "samba-4.17.12-nbstat.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseNBNSStatus(b)
		if err != nil {
			return
		}
		if len(st.Names) > 255 || (st.MAC != nil && len(st.MAC) != 6) {
			t.Fatalf("accepted %+v", st)
		}
		for _, e := range st.Names {
			if !nbnsValidName(e.Name) || len(e.Name) > 15 {
				t.Fatalf("name %q", e.Name)
			}
		}
		_ = clipMatch(nbnsMatch(st))
	})
}
