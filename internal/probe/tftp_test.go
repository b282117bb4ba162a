package probe

import (
	"bytes"
	"errors"
	"net"
	"regexp"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseTFTPReply(t *testing.T) {
	notFound := readTestdata(t, "tftpd-hpa-5.2-notfound.bin")
	padded := append(bytes.Clone(notFound), 0, 0)
	noNUL := notFound[:len(notFound)-1]
	badCode := bytes.Clone(notFound)
	badCode[3] = 9
	block2 := bytes.Clone(readTestdata(t, "tftpd-hpa-5.2-data1.bin"))
	block2[3] = 2
	ctl := tftpErrorMsg(1, "File\x01not found")
	tests := []struct {
		name    string
		in      []byte
		want    Match
		wantErr bool
	}{
		{name: "tftpd-hpa 5.2 file not found", in: notFound,
			want: Match{Service: "tftp", Method: "native:tftp", Certain: true, Info: "error 1: File not found", Evidence: "File not found"}},
		{name: "tftpd-hpa 5.2 data block 1", in: readTestdata(t, "tftpd-hpa-5.2-data1.bin"),
			want: Match{Service: "tftp", Method: "native:tftp", Certain: true, Info: "served a file name that does not exist"}},
		{name: "error padded with NULs", in: padded,
			want: Match{Service: "tftp", Method: "native:tftp", Certain: true, Info: "error 1: File not found", Evidence: "File not found"}},
		{name: "our own request", in: tftpRRQMsg(tftpFileName()), wantErr: true},
		{name: "message without NUL", in: noNUL, wantErr: true},
		{name: "undefined error code", in: badCode, wantErr: true},
		{name: "control bytes in the message", in: ctl, wantErr: true},
		{name: "data block 2", in: block2, wantErr: true},
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
			r, err := parseTFTPReply(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, tftpMatch(r)); diff != "" {
				t.Errorf("match (-want +got):\n%s", diff)
			}
		})
	}
}

var tftpRRQRe = regexp.MustCompile(`^\x00\x01portwho-probe-[0-9a-f]{8}\.txt\x00octet\x00$`)

// tftpServe is a faithful tftpd-hpa: it takes one read request on its
// port and answers from a fresh one (the server's transfer id), as RFC 1350
// requires. With abort set it then waits on the transfer port for what the
// client sends back and hands it to the returned channel.
func tftpServe(t *testing.T, reply []byte, abort bool) (string, <-chan []byte) {
	t.Helper()
	lo := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}
	ln, err := net.ListenUDP("udp", lo)
	if err != nil {
		t.Fatal(err)
	}
	xfer, err := net.ListenUDP("udp", lo)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1024)
		n, from, err := ln.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if !tftpRRQRe.Match(buf[:n]) {
			t.Errorf("bad read request %q", buf[:n])
			return
		}
		_, _ = xfer.WriteToUDP(reply, from)
		if !abort {
			return
		}
		_ = xfer.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, from2, err := xfer.ReadFromUDP(buf)
		if err == nil && from2.Port == from.Port {
			got <- append([]byte(nil), buf[:n]...)
		}
	}()
	t.Cleanup(func() { ln.Close(); xfer.Close(); <-done })
	return ln.LocalAddr().String(), got
}

func TestTftpProbe(t *testing.T) {
	tests := []struct {
		name  string
		reply string
		want  Match
		abort bool
	}{
		{name: "file not found", reply: "tftpd-hpa-5.2-notfound.bin",
			want: Match{Service: "tftp", Method: "native:tftp", Certain: true, Info: "error 1: File not found", Evidence: "File not found"}},
		{name: "serves the file", reply: "tftpd-hpa-5.2-data1.bin", abort: true,
			want: Match{Service: "tftp", Method: "native:tftp", Certain: true, Info: "served a file name that does not exist"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, got := tftpServe(t, readTestdata(t, tt.reply), tt.abort)
			m, ok, err := binProbe(t, "udp", addr, 5*time.Second, tftpProbe)
			if err != nil || !ok {
				t.Fatalf("probe: ok %v err %v", ok, err)
			}
			if diff := cmp.Diff(tt.want, m); diff != "" {
				t.Errorf("match (-want +got):\n%s", diff)
			}
			if !tt.abort {
				return
			}
			select {
			case b := <-got:
				if r, err := parseTFTPReply(b); err != nil || r.Opcode != tftpERROR {
					t.Errorf("the transfer was not aborted with an ERROR: %q", b)
				}
			case <-time.After(10 * time.Second):
				t.Error("no ERROR sent to abort the transfer")
			}
		})
	}
}

// An echo of the request and other protocols' answers, from the target's
// own port, are not TFTP.
func TestTftpProbeRejects(t *testing.T) {
	others := udpOtherReplies(t)
	addr := binServeUDP(t, func(q []byte) [][]byte {
		out := [][]byte{q}
		for _, b := range others {
			out = append(out, b)
		}
		return out
	})
	if m, ok, err := binProbe(t, "udp", addr, 300*time.Millisecond, tftpProbe); ok || !isTimeoutErr(err) {
		t.Errorf("accepted a reply that is not TFTP: %+v ok %v err %v", m, ok, err)
	}
}

// A closed port answers with ICMP port unreachable: on Linux the probe
// hears it at once instead of waiting for its deadline.
func TestTftpProbeClosedPort(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("only Linux routes the ICMP error to the probe's sockets")
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	_, ok, err := binProbe(t, "udp", addr, 30*time.Second, tftpProbe)
	if ok || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("closed port: ok %v err %v, want ECONNREFUSED", ok, err)
	}
}

func FuzzParseTFTPReply(f *testing.F) {
	addTestdataSeeds(f, "tftpd-hpa-5.2-notfound.bin", "tftpd-hpa-5.2-data1.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseTFTPReply(b)
		if err != nil {
			return
		}
		switch {
		case r.Opcode == tftpERROR && r.Code <= 8 && isTFTPText([]byte(r.Message)):
		case r.Opcode == tftpDATA && r.Block == 1:
		default:
			t.Fatalf("accepted %+v", r)
		}
		_ = clipMatch(tftpMatch(r))
	})
}
