package sockets

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The captured files in testdata come from one moment on one host (see
// testdata/README): a TCP listener on 127.0.0.1:43301 with one connection
// still in its accept queue (inode 0 on the server side), a dual-stack
// listener on [::]:43302, a v6-only one on [::]:43307, a UDP socket on
// 0.0.0.0:43305 with a connected client, and a v6-only UDP socket on
// [::1]:43306. The netlink capture and the /proc/net capture describe the
// same sockets.

var (
	lo4  = netip.MustParseAddr("127.0.0.1")
	any4 = netip.IPv4Unspecified()
	any6 = netip.IPv6Unspecified()
	lo6  = netip.IPv6Loopback()
)

func capturedSockets(withV6Only bool) []Socket {
	s := []Socket{
		{Protocol: "tcp", Family: "inet", LocalAddr: lo4, LocalPort: 43301, RemoteAddr: any4, State: "LISTEN", Inode: 138076},
		{Protocol: "tcp", Family: "inet", LocalAddr: lo4, LocalPort: 43301, RemoteAddr: lo4, RemotePort: 56390, State: "ESTAB"},
		{Protocol: "tcp", Family: "inet", LocalAddr: lo4, LocalPort: 56390, RemoteAddr: lo4, RemotePort: 43301, State: "ESTAB", Inode: 138082},
		{Protocol: "tcp", Family: "inet6", LocalAddr: any6, LocalPort: 43302, RemoteAddr: any6, State: "LISTEN", Inode: 138078},
		{Protocol: "tcp", Family: "inet6", LocalAddr: any6, LocalPort: 43307, RemoteAddr: any6, State: "LISTEN", Inode: 138080, V6Only: withV6Only},
		{Protocol: "udp", Family: "inet", LocalAddr: lo4, LocalPort: 51140, RemoteAddr: lo4, RemotePort: 43305, State: "ESTAB", Inode: 138085},
		{Protocol: "udp", Family: "inet", LocalAddr: any4, LocalPort: 43305, RemoteAddr: any4, State: "UNCONN", Inode: 138083},
		{Protocol: "udp", Family: "inet6", LocalAddr: lo6, LocalPort: 43306, RemoteAddr: any6, State: "UNCONN", Inode: 138084, V6Only: withV6Only},
	}
	return s
}

func sortSockets(s []Socket) []Socket {
	s = slices.Clone(s)
	slices.SortFunc(s, func(a, b Socket) int {
		return strings.Compare(sockKey(a), sockKey(b))
	})
	return s
}

func sockKey(s Socket) string {
	return s.Protocol + " " + netip.AddrPortFrom(s.LocalAddr, s.LocalPort).String() + " " +
		netip.AddrPortFrom(s.RemoteAddr, s.RemotePort).String() + " " + s.State
}

var cmpAddr = cmp.Comparer(func(a, b netip.Addr) bool { return a == b })

func TestParseProcNet(t *testing.T) {
	all := capturedSockets(false)
	tests := []struct {
		name string
		q    Query
		want []Socket
	}{
		{"all states", Query{All: true}, all},
		{"listeners", Query{}, []Socket{all[0], all[3], all[4], all[6], all[7]}},
		{"listener port", Query{Port: 43301}, []Socket{all[0]}},
		{"either end", Query{All: true, Port: 43305}, []Socket{all[5], all[6]}},
		{"local end only for listeners", Query{Port: 56390}, nil},
		{"no match", Query{All: true, Port: 1}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFilter(tt.q)
			var got []Socket
			for _, name := range []string{"tcp", "tcp6", "udp", "udp6"} {
				fh, err := os.Open("testdata/proc_net_" + name)
				if err != nil {
					t.Fatal(err)
				}
				s, err := parseProcNet(fh, strings.TrimSuffix(name, "6"), f)
				fh.Close()
				if err != nil {
					t.Fatalf("parse %s: %v", name, err)
				}
				got = append(got, s...)
			}
			if diff := cmp.Diff(sortSockets(tt.want), sortSockets(got), cmpAddr); diff != "" {
				t.Errorf("sockets (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseProcNetErrors(t *testing.T) {
	const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	tests := []struct {
		name, row string
		wantErr   bool
	}{
		{"valid", "0: 0100007F:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 42 1", false},
		{"blank line", "   ", false},
		{"short row", "0: 0100007F:0016 00000000:0000 0A", true},
		{"bad state", "0: 0100007F:0016 00000000:0000 ZZ 0:0 0:0 0 0 0 42", true},
		{"state too big", "0: 0100007F:0016 00000000:0000 1FF 0:0 0:0 0 0 0 42", true},
		{"bad address", "0: 0100007G:0016 00000000:0000 0A 0:0 0:0 0 0 0 42", true},
		{"odd address length", "0: 0100007:0016 00000000:0000 0A 0:0 0:0 0 0 0 42", true},
		{"no port", "0: 0100007F 00000000:0000 0A 0:0 0:0 0 0 0 42", true},
		{"mixed families", "0: 0100007F:0016 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 42", true},
		{"bad uid", "0: 0100007F:0016 00000000:0000 0A 0:0 0:0 0 -1 0 42", true},
		{"uid overflow", "0: 0100007F:0016 00000000:0000 0A 0:0 0:0 0 4294967296 0 42", true},
		{"bad inode", "0: 0100007F:0016 00000000:0000 0A 0:0 0:0 0 0 0 x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseProcNet(strings.NewReader(header+tt.row+"\n"), "tcp", newFilter(Query{All: true}))
			if (err != nil) != tt.wantErr {
				t.Errorf("err = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func FuzzParseProcNet(f *testing.F) {
	for _, name := range []string{"tcp", "tcp6", "udp", "udp6"} {
		b, err := os.ReadFile("testdata/proc_net_" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		socks, err := parseProcNet(bytes.NewReader(b), "tcp", newFilter(Query{All: true}))
		if err != nil {
			return
		}
		for _, s := range socks {
			if !s.LocalAddr.IsValid() || !s.RemoteAddr.IsValid() || s.LocalAddr.Is4() != s.RemoteAddr.Is4() {
				t.Fatalf("invalid addresses in %+v", s)
			}
			if (s.Family == "inet") != s.LocalAddr.Is4() {
				t.Fatalf("family %q for %v", s.Family, s.LocalAddr)
			}
		}
	})
}

// readDiagCapture returns the captured inet_diag payloads: "proto hex" lines.
func readDiagCapture(t testing.TB) (protos []string, msgs [][]byte) {
	fh, err := os.Open("testdata/diag_msgs.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		proto, h, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			t.Fatalf("bad capture line %q", sc.Text())
		}
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		protos, msgs = append(protos, proto), append(msgs, b)
	}
	return protos, msgs
}

func TestParseDiagMsg(t *testing.T) {
	protos, msgs := readDiagCapture(t)
	var got []Socket
	for i, b := range msgs {
		s, err := parseDiagMsg(b, protos[i])
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		got = append(got, s)
	}
	if diff := cmp.Diff(sortSockets(capturedSockets(true)), sortSockets(got), cmpAddr); diff != "" {
		t.Errorf("sockets (-want +got):\n%s", diff)
	}
}

func TestParseDiagMsgErrors(t *testing.T) {
	_, msgs := readDiagCapture(t)
	good := msgs[0]
	badFamily := slices.Clone(good)
	badFamily[0] = 1
	badAttr := slices.Clone(good[:diagMsgLen])
	badAttr = append(badAttr, 0x40, 0x00, 0x0b, 0x00, 0x01) // claims 64 bytes
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short", good[:diagMsgLen-1]},
		{"unknown family", badFamily},
		{"attribute overruns", badAttr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseDiagMsg(tt.b, "tcp"); err == nil {
				t.Error("no error")
			}
		})
	}
}

func FuzzParseDiagMsg(f *testing.F) {
	protos, msgs := readDiagCapture(f)
	for i, b := range msgs {
		f.Add(b, protos[i] == "udp")
	}
	f.Fuzz(func(t *testing.T, b []byte, udp bool) {
		proto := "tcp"
		if udp {
			proto = "udp"
		}
		s, err := parseDiagMsg(b, proto)
		if err != nil {
			return
		}
		if (s.Family == "inet") != s.LocalAddr.Is4() || s.LocalAddr.Is4() != s.RemoteAddr.Is4() {
			t.Fatalf("inconsistent family in %+v", s)
		}
		if s.State == "" {
			t.Fatalf("no state in %+v", s)
		}
	})
}

// The netlink and /proc/net captures were taken together; apart from
// V6Only, which only netlink reports, they must say the same thing.
func TestCapturesAgree(t *testing.T) {
	protos, msgs := readDiagCapture(t)
	var fromDiag, fromProc []Socket
	for i, b := range msgs {
		s, err := parseDiagMsg(b, protos[i])
		if err != nil {
			t.Fatal(err)
		}
		s.V6Only = false
		fromDiag = append(fromDiag, s)
	}
	for _, name := range []string{"tcp", "tcp6", "udp", "udp6"} {
		b, err := os.ReadFile("testdata/proc_net_" + name)
		if err != nil {
			t.Fatal(err)
		}
		s, err := parseProcNet(bytes.NewReader(b), strings.TrimSuffix(name, "6"), newFilter(Query{All: true}))
		if err != nil {
			t.Fatal(err)
		}
		fromProc = append(fromProc, s...)
	}
	if diff := cmp.Diff(sortSockets(fromProc), sortSockets(fromDiag), cmpAddr); diff != "" {
		t.Errorf("procnet (-) vs netlink (+):\n%s", diff)
	}
}

func TestPortBytecode(t *testing.T) {
	// Hand-assembled from include/uapi/linux/inet_diag.h; the kernel's
	// acceptance of it is tested live in TestListPort.
	tests := []struct {
		name   string
		anyEnd bool
		want   []byte
	}{
		{"sport", false, []byte{bcSEq, 8, 12, 0, 0, 0, 0x8c, 0xa9}},
		{"sport or dport", true, []byte{
			bcSEq, 8, 12, 0, 0, 0, 0x8c, 0xa9,
			bcJmp, 4, 12, 0,
			bcDEq, 8, 12, 0, 0, 0, 0x8c, 0xa9,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, portBytecode(43404, tt.anyEnd)); diff != "" {
				t.Errorf("bytecode (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStateName(t *testing.T) {
	tests := []struct {
		proto string
		st    uint8
		want  string
	}{
		{"tcp", stateListen, "LISTEN"},
		{"tcp", stateClose, "CLOSE"},
		{"udp", stateClose, "UNCONN"},
		{"udp", stateEstablished, "ESTAB"},
		{"tcp", stateNewSynRecv, "SYN-RECV"},
		{"tcp", stateTimeWait, "TIME-WAIT"},
		{"tcp", 0, "UNKNOWN"},
		{"tcp", 200, "UNKNOWN"},
	}
	for _, tt := range tests {
		t.Run(tt.proto+"/"+tt.want, func(t *testing.T) {
			if got := stateName(tt.proto, tt.st); got != tt.want {
				t.Errorf("stateName(%s, %d) = %q, want %q", tt.proto, tt.st, got, tt.want)
			}
		})
	}
}

// nlmsg frames one netlink message the way the kernel does.
func nlmsg(typ uint16, seq uint32, payload []byte) []byte {
	b := make([]byte, nlmsgHdrLen, nlmsgHdrLen+len(payload)+3)
	binary.NativeEndian.PutUint32(b[0:], uint32(nlmsgHdrLen+len(payload)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint16(b[6:], 2) // NLM_F_MULTI
	binary.NativeEndian.PutUint32(b[8:], seq)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func errnoPayload(e int32) []byte {
	return binary.NativeEndian.AppendUint32(nil, uint32(e))
}

func TestParseDiagDump(t *testing.T) {
	protos, msgs := readDiagCapture(t)
	var tcp []byte
	var want []Socket
	for i, m := range msgs {
		if protos[i] == "tcp" {
			tcp = append(tcp, nlmsg(sockDiagByFamily, 7, m)...)
			s, err := parseDiagMsg(m, "tcp")
			if err != nil {
				t.Fatal(err)
			}
			s.NetNS = NetNS{Label: "x"}
			want = append(want, s)
		}
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name     string
		b        []byte
		want     []Socket
		wantDone bool
		wantErr  error
	}{
		{"middle of a dump", tcp, want, false, nil},
		{"end of a dump", cat(tcp, nlmsg(nlmsgDone, 7, errnoPayload(0))), want, true, nil},
		{"other sequence skipped", cat(nlmsg(sockDiagByFamily, 6, msgs[0]), nlmsg(nlmsgDone, 6, nil), tcp), want, false, nil},
		{"error", nlmsg(nlmsgError, 7, errnoPayload(-int32(syscall.EINVAL))), nil, true, syscall.EINVAL},
		{"done with errno", cat(tcp, nlmsg(nlmsgDone, 7, errnoPayload(-int32(syscall.EINTR)))), want, true, syscall.EINTR},
		{"ack is not an error", cat(nlmsg(nlmsgError, 7, errnoPayload(0)), tcp), want, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, done, err := parseDiagDump(tt.b, 7, "tcp", NetNS{Label: "x"}, nil)
			if !errors.Is(err, tt.wantErr) || (err != nil) != (tt.wantErr != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if done != tt.wantDone {
				t.Errorf("done = %v, want %v", done, tt.wantDone)
			}
			if diff := cmp.Diff(tt.want, got, cmpAddr); diff != "" {
				t.Errorf("sockets (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("truncated", func(t *testing.T) {
		if _, _, err := parseDiagDump(tcp[:len(tcp)-8], 7, "tcp", NetNS{}, nil); err == nil {
			t.Error("no error for a cut message")
		}
	})
}

func FuzzParseDiagDump(f *testing.F) {
	protos, msgs := readDiagCapture(f)
	var all []byte
	for i, m := range msgs {
		if protos[i] == "tcp" {
			all = append(all, nlmsg(sockDiagByFamily, 1, m)...)
		}
	}
	f.Add(all)
	f.Add(append(all, nlmsg(nlmsgDone, 1, errnoPayload(0))...))
	f.Add(nlmsg(nlmsgError, 1, errnoPayload(-22)))
	f.Fuzz(func(t *testing.T, b []byte) {
		socks, _, _ := parseDiagDump(b, 1, "tcp", NetNS{}, nil)
		if len(socks) > len(b)/(nlmsgHdrLen+diagMsgLen) {
			t.Fatalf("%d sockets from %d bytes", len(socks), len(b))
		}
	})
}
