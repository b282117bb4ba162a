package probe

import (
	"bytes"
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// tagUDP is a test protocol that sends its name and waits for an answer
// that never comes: a probe meeting a peer that does not speak it.
func tagUDP(name string) Protocol {
	return Protocol{Name: name, Transport: "udp", Probe: func(ctx context.Context, c net.Conn) (Match, bool, error) {
		if _, err := c.Write([]byte(name)); err != nil {
			return Match{}, false, err
		}
		_, err := readDatagram(c)
		return Match{}, false, err
	}}
}

// TestProbeUDPSendsEveryProbe: on a silent port no protocol claims, every
// UDP probe is sent, more of them than the per-port cap, although each one
// waits for its answer until the deadline.
func TestProbeUDPSendsEveryProbe(t *testing.T) {
	t.Parallel()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	names := []string{"one", "two", "three", "four", "five"}
	var protos []Protocol
	for _, n := range names {
		protos = append(protos, tagUDP(n))
	}
	p := &Prober{Timeout: time.Second, PerPort: 2, PerHost: 3, Protocols: protos}
	r := probeOne(t, p, targetOf(t, pc.LocalAddr().String(), "udp"))
	if r.State != StateOpenFiltered {
		t.Errorf("state = %q, want %s", r.State, StateOpenFiltered)
	}
	// The datagrams were sent before Probe returned; the deadline here
	// only bounds a broken test.
	_ = pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got []string
	buf := make([]byte, 64)
	for len(got) < len(names) {
		n, _, err := pc.ReadFrom(buf)
		if err != nil {
			break
		}
		got = append(got, string(buf[:n]))
	}
	slices.Sort(got)
	want := slices.Clone(names)
	slices.Sort(want)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("probes received (-want +got)\n%s", d)
	}
}

// TestProbeUDPFindsNTPOnUnusualPort: chrony on a port no protocol claims
// is found among the four UDP probes, every time.
func TestProbeUDPFindsNTPOnUnusualPort(t *testing.T) {
	t.Parallel()
	reply := readTestdata(t, "chrony-4.3-local-stratum10.bin")
	addr := binServeUDP(t, func(q []byte) [][]byte {
		if len(q) != 48 || q[0]&7 != 3 {
			return nil // like chronyd: anything but an NTP client packet goes unanswered
		}
		r := bytes.Clone(reply)
		copy(r[24:32], q[40:48])
		return [][]byte{r}
	})
	tg := targetOf(t, addr, "udp")
	if tg.Port == 123 {
		t.Skip("the random port is NTP's own")
	}
	p := &Prober{Timeout: 2 * time.Second}
	if n := len(p.protocols()); n < 4 {
		t.Fatalf("%d protocols", n)
	}
	for i := range 4 {
		r := probeOne(t, p, tg)
		want := summary{State: "open", Service: "ntp", Product: "NTP", Version: "v4",
			Info: "stratum 10; refid 127.127.1.1; chrony-style local reference", Method: "native:ntp"}
		if d := cmp.Diff(want, summarize(r)); d != "" {
			t.Errorf("try %d (-want +got)\n%s", i, d)
		}
	}
}
