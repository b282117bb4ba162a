package probe

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseSMUXClose(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    string
		wantErr bool
	}{
		{name: "net-snmp 5.9.3 answers our close", in: readTestdata(t, "net-snmp-5.9.3-smux-close.bin"), want: "protocolError"},
		{name: "authentication failure", in: []byte{0x41, 1, 5}, want: "authenticationFailure"},
		{name: "echo of our goingDown", in: smuxGoingDown, wantErr: true},
		{name: "unknown reason", in: []byte{0x41, 1, 6}, wantErr: true},
		{name: "long form", in: []byte{0x41, 2, 0, 3}, wantErr: true},
		{name: "truncated", in: []byte{0x41, 1}, wantErr: true},
		{name: "http", in: []byte("HTTP/1.1 400 Bad Request\r\n"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSMUXClose(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("reason = %q, want %q", got, tt.want)
			}
		})
	}
}

// smuxFake is snmpd's SMUX listener: it reads the first PDU and, as it is
// not an OpenPDU, answers with the ClosePDU captured from snmpd 5.9.3 and
// hangs up.
func smuxFake(t *testing.T) binStep {
	return binStep{
		frame: frameExact(3),
		check: func(req []byte) error {
			if !bytes.Equal(req, smuxGoingDown) {
				return errors.New("want a goingDown ClosePDU, nothing else")
			}
			return nil
		},
		reply: fixed(readTestdata(t, "net-snmp-5.9.3-smux-close.bin")),
	}
}

func TestSMUXProbe(t *testing.T) {
	addr := binServeTCP(t, smuxFake(t))
	m, ok, err := binProbe(t, "tcp", addr, 5*time.Second, smuxProbe)
	if err != nil || !ok {
		t.Fatalf("probe: ok %v err %v", ok, err)
	}
	want := Match{Service: "smux", Product: "net-snmp", Method: "native:smux", Certain: true, Info: "SNMP multiplexer (RFC 1227); closed with protocolError"}
	if d := cmp.Diff(want, m); d != "" {
		t.Errorf("match (-want +got):\n%s", d)
	}
}

// TestSMUXProbeEcho: an echo service sends our ClosePDU back; that is not
// an SMUX agent.
func TestSMUXProbeEcho(t *testing.T) {
	addr := binServeTCP(t, binStep{frame: frameExact(3), reply: func(req []byte) []byte { return req }})
	if m, ok, err := binProbe(t, "tcp", addr, 5*time.Second, smuxProbe); ok {
		t.Errorf("echo identified as %+v (err %v)", m, err)
	}
}

// snmpdSMUX answers each connection as snmpd's smux_accept does: one
// read of the first packet; an ASN.1 header that does not fit gets a
// ClosePDU packetFormat, any PDU other than an OpenPDU a ClosePDU
// protocolError (the captured reply); then it hangs up. silent makes it
// read and never answer, like an agent that drops unknown peers.
func snmpdSMUX(t *testing.T, silent bool) Target {
	captured := readTestdata(t, "net-snmp-5.9.3-smux-close.bin")
	return serveTCP(t, func(c net.Conn) {
		buf := make([]byte, 1500)
		n, err := c.Read(buf)
		if err != nil || n == 0 {
			return
		}
		if silent {
			_, _ = io.Copy(io.Discard, c)
			return
		}
		b := buf[:n]
		fits := len(b) >= 2 && b[1] < 0x80 && int(b[1]) <= len(b)-2
		if len(b) >= 2 && b[1] > 0x80 && b[1] <= 0x82 {
			k := int(b[1] & 0x7f)
			if len(b) >= 2+k {
				l := 0
				for _, x := range b[2 : 2+k] {
					l = l<<8 | int(x)
				}
				fits = l <= len(b)-2-k
			}
		}
		switch {
		case !fits:
			_, _ = c.Write([]byte{smuxClosePDU, 1, 2})
		case b[0] != 0x60: // not an OpenPDU
			_, _ = c.Write(captured)
		}
	})
}

// TestProbeSMUXEngine: through the whole engine, on a port that is not
// 199, an agent answering like snmpd is found in the second wave; one
// that answers nothing is at most a guess, and only on SMUX's own port.
func TestProbeSMUXEngine(t *testing.T) {
	t.Parallel()
	t.Run("answers", func(t *testing.T) {
		t.Parallel()
		r := probeOne(t, &Prober{Timeout: 5 * time.Second}, snmpdSMUX(t, false))
		want := summary{State: "open", Service: "smux", Product: "net-snmp", Info: "SNMP multiplexer (RFC 1227); closed with protocolError", Method: "native:smux"}
		if d := cmp.Diff(want, summarize(r)); d != "" {
			t.Errorf("(-want +got)\n%s", d)
		}
		if r.Guess {
			t.Error("a native answer is marked as a guess")
		}
	})
	t.Run("silent on its port", func(t *testing.T) {
		t.Parallel()
		tg := snmpdSMUX(t, true)
		// The engine's own table, with SMUX moved to the test's port.
		var protos []Protocol
		for _, pr := range Protocols() {
			if pr.Name == "smux" {
				pr.Ports = []uint16{tg.Port}
			}
			protos = append(protos, pr)
		}
		r := probeOne(t, &Prober{Timeout: time.Second, Protocols: protos}, tg)
		want := summary{State: "open", Service: "smux", Method: "guess:port"}
		if d := cmp.Diff(want, summarize(r)); d != "" {
			t.Errorf("(-want +got)\n%s", d)
		}
		if !r.Guess {
			t.Error("a port guess is not marked as one")
		}
	})
}

func FuzzParseSMUXClose(f *testing.F) {
	addTestdataSeeds(f, "net-snmp-5.9.3-smux-close.bin")
	f.Add([]byte{0x41, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseSMUXClose(b)
		if err == nil && (len(b) != 3 || r == "" || r == "goingDown") {
			t.Fatalf("accepted %x as %q", b, r)
		}
	})
}
