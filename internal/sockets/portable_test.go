package sockets

import (
	"net/netip"
	"testing"
)

func TestPortableAddr(t *testing.T) {
	tests := []struct {
		in     string
		v4     bool
		want   netip.Addr
		wantOK bool
	}{
		{"*", true, netip.IPv4Unspecified(), true},
		{"*", false, netip.IPv6Unspecified(), true},
		{"", true, netip.IPv4Unspecified(), true},
		{"127.0.0.1", true, lo4, true},
		{"[::1]", false, lo6, true},
		{"fe80::1%en0", false, netip.MustParseAddr("fe80::1"), true},
		{"not-an-address", true, netip.Addr{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := portableAddr(tt.in, tt.v4)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("portableAddr(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestPortableState(t *testing.T) {
	tests := []struct {
		proto, status string
		connected     bool
		want          string
	}{
		{"tcp", "LISTEN", false, "LISTEN"},
		{"tcp", "ESTABLISHED", true, "ESTAB"},
		{"tcp", "SYN_RECEIVED", true, "SYN-RECV"},
		{"tcp", "FIN_WAIT_1", true, "FIN-WAIT-1"},
		{"tcp", "FIN_WAIT2", true, "FIN-WAIT-2"},
		{"tcp", "TIME_WAIT", true, "TIME-WAIT"},
		{"tcp", "CLOSE_WAIT", true, "CLOSE-WAIT"},
		{"tcp", "CLOSED", false, "CLOSE"},
		{"tcp", "DELETE", false, "CLOSE"},
		{"udp", "", false, "UNCONN"},
		{"udp", "NONE", true, "ESTAB"},
	}
	for _, tt := range tests {
		t.Run(tt.proto+"/"+tt.status, func(t *testing.T) {
			if got := stateName(tt.proto, portableState(tt.proto, tt.status, tt.connected)); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPortableID(t *testing.T) {
	l := netip.MustParseAddrPort("127.0.0.1:3302")
	r := netip.MustParseAddrPort("0.0.0.0:0")
	a := portableID("tcp", "LISTEN", l, r)
	if a != portableID("tcp", "LISTEN", l, r) {
		t.Error("not stable")
	}
	if a < 1<<63 {
		t.Errorf("%#x could collide with a kernel inode", a)
	}
	others := []uint64{
		portableID("udp", "LISTEN", l, r),
		portableID("tcp", "ESTAB", l, r),
		portableID("tcp", "LISTEN", netip.MustParseAddrPort("127.0.0.1:3303"), r),
		portableID("tcp", "LISTEN", netip.MustParseAddrPort("[::1]:3302"), r),
		portableID("tcp", "LISTEN", l, netip.MustParseAddrPort("127.0.0.1:1")),
	}
	for i, o := range others {
		if o == a {
			t.Errorf("variant %d has the same id", i)
		}
	}
}
