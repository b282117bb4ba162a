package probe

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

// greeter serves a captured greeting to every connection, as a
// server-first daemon does, then reads until the client goes.
func greeter(t *testing.T, greeting []byte) Target {
	return serveTCP(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write(greeting)
		buf := make([]byte, 512)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
}

// answerer replies to one request line with a captured answer and stays
// silent on any other, as these line daemons do for bytes they do not
// parse (some answer an error; silence is the harder case).
func answerer(t *testing.T, request string, answer []byte) Target {
	return serveTCP(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if line == request {
				_, _ = c.Write(answer)
			}
		}
	})
}

// TestProbeTextGreetings: server-first daemons whose greeting only the
// signature table knows, from captures of the Debian 12 servers
// (nats-server 2.9.10, rsync 3.5.0, svnserve 1.14.2, mpd 0.23.5,
// munin-node 2.0.73), captured on loopback by reading what they sent.
func TestProbeTextGreetings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file, service, product, version string
	}{
		{"nats-2.9.10-info.txt", "nats", "NATS server", "2.9.10"},
		{"rsync-3.5.0-greeting.txt", "rsync", "rsync daemon", ""},
		{"svnserve-1.14.2-greeting.txt", "svnserve", "Subversion", ""},
		{"mpd-0.23.5-greeting.txt", "mpd", "Music Player Daemon", "0.23.5"},
		{"munin-node-2.0.73-greeting.txt", "munin", "Munin", ""},
	} {
		t.Run(tc.service, func(t *testing.T) {
			t.Parallel()
			r := probeOne(t, &Prober{Timeout: 3 * time.Second}, greeter(t, captured(t, tc.file)))
			if r.Service != tc.service || r.Product != tc.product || r.Version != tc.version || r.Guess {
				t.Errorf("got %q %q %q guess=%v (%s), want %q %q %q", r.Service, r.Product, r.Version, r.Guess, r.Method, tc.service, tc.product, tc.version)
			}
		})
	}
}

// TestProbeSendSignatures: client-first line daemons named by the reply to
// their Send request, on ports that are not theirs (second wave), from
// captures of beanstalkd 1.12, gearmand 1.1.20 and uhub 0.4.1.
func TestProbeSendSignatures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		request, file, service, product, version string
	}{
		{"stats\r\n", "beanstalkd-1.12-stats.txt", "beanstalkd", "beanstalkd", "1.12"},
		{"version\n", "gearmand-1.1.20-version.txt", "gearman", "Gearman Job Queue System", "1.1.20+ds"},
		{"HSUP ADBASE ADTIGR\n", "uhub-0.4.1-hsup.txt", "adc", "uhub", "0.4.1-release"},
	} {
		t.Run(tc.service, func(t *testing.T) {
			t.Parallel()
			r := probeOne(t, &Prober{Timeout: 3 * time.Second}, answerer(t, tc.request, captured(t, tc.file)))
			if r.Service != tc.service || r.Product != tc.product || r.Version != tc.version || r.Guess {
				t.Errorf("got %q %q %q guess=%v (%s), want %q %q %q", r.Service, r.Product, r.Version, r.Guess, r.Method, tc.service, tc.product, tc.version)
			}
		})
	}
}

// TestSendSignaturesRefuse: the replies of other line protocols to the
// same requests, an echo, and errors are not taken for these daemons.
func TestSendSignaturesRefuse(t *testing.T) {
	sigs, err := DefaultSignatures()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range sendProtocols(sigs) {
		t.Run(p.Name, func(t *testing.T) {
			for _, reply := range []string{
				"", "OK\r\n", "OK\n", "ERR unknown command\r\n", "UNKNOWN_COMMAND\r\n",
				"-ERR unknown command 'stats'\r\n", "VERSION 1.6.18\r\n",
				"HTTP/1.1 400 Bad Request\r\nServer: nginx/1.22.1\r\n\r\n",
				"STAT pid 1\r\nSTAT version 1.6.18\r\nEND\r\n",
				"OK 12\r\nnot yaml at all\r\n",
				"ISUP ADBASE\n", // a hub that never says its name
			} {
				if m, ok := sigs.MatchReply(p.Transport, sigSend(sigs, p), reply); ok {
					t.Errorf("%q named %s (%s)", reply, m.Service, m.Method)
				}
			}
		})
	}
}

// sigSend is the request a send protocol was made from.
func sigSend(sigs *Signatures, p Protocol) string {
	for _, s := range sigs.List() {
		if s.Send != "" && (s.Service == p.Name || s.As == p.Name) {
			return s.Send
		}
	}
	return ""
}

func TestParseSignaturesSendFields(t *testing.T) {
	for name, data := range map[string]string{
		"ports without send": `[{"id":"x","service":"x","pattern":"x","product":"X","ports":[1]}]`,
		"bad transport":      `[{"id":"x","service":"x","pattern":"x","product":"X","send":"a","transport":"sctp"}]`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseSignatures([]byte(data)); err == nil {
				t.Error("accepted")
			}
		})
	}
	sigs, err := ParseSignatures([]byte(`[{"id":"a","service":"a","pattern":"^A","product":"A","send":"q\n","ports":[7]},` +
		`{"id":"b","service":"b","pattern":"^B","product":"B","send":"q\n","ports":[8,7]}]`))
	if err != nil {
		t.Fatal(err)
	}
	ps := sendProtocols(sigs)
	if len(ps) != 1 || len(ps[0].Ports) != 2 || !strings.EqualFold(ps[0].Name, "a") {
		t.Errorf("one request must make one probe on the union of ports: %+v", ps)
	}
}

func FuzzMatchReply(f *testing.F) {
	sigs, err := DefaultSignatures()
	if err != nil {
		f.Fatal(err)
	}
	f.Add("stats\r\n", "OK 956\r\n---\nversion: \"1.12\"\n")
	f.Add("HSUP ADBASE ADTIGR\n", "ISUP ADBASE\nIINF VEuhub/0.4\n")
	f.Fuzz(func(t *testing.T, send, reply string) {
		m, ok := sigs.MatchReply("tcp", send, reply)
		if ok && (m.Service == "" || m.Product == "") {
			t.Errorf("named nothing: %+v", m)
		}
	})
}
