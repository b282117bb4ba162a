package probe

import (
	"bufio"
	"net"
	"strings"
	"testing"
)

// lineServer answers every line it reads with reply, as a text daemon
// answers a command it does not know.
func lineServer(t *testing.T, reply string) Target {
	return serveTCP(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := br.ReadString('\n'); err != nil {
				return
			}
			if _, err := c.Write([]byte(reply)); err != nil {
				return
			}
		}
	})
}

// TestProbeNamesFromReplies: a client-first text daemon no native probe
// knows answers our HTTP request with its own error line; a signature for
// that line alone names it. A line no signature knows is shown, unnamed.
func TestProbeNamesFromReplies(t *testing.T) {
	t.Parallel()
	sigs, err := ParseSignatures([]byte(`[{"id": "beanstalkd-unknown", "service": "beanstalkd",
		"pattern": "^UNKNOWN_COMMAND$", "product": "beanstalkd",
		"examples": [{"text": "UNKNOWN_COMMAND", "product": "beanstalkd"}]}]`))
	if err != nil {
		t.Fatal(err)
	}
	p := &Prober{Signatures: sigs}
	// beanstalkd's answer to a command it does not know (protocol.txt).
	r := probeOne(t, p, lineServer(t, "UNKNOWN_COMMAND\r\n"))
	if r.Service != "beanstalkd" || r.Product != "beanstalkd" || r.Method != "signature:beanstalkd-unknown" || r.Guess {
		t.Errorf("got %q %q %s guess=%v, want beanstalkd from its error line", r.Service, r.Product, r.Method, r.Guess)
	}
	r = probeOne(t, &Prober{Signatures: sigs}, lineServer(t, "?? what\r\n"))
	if r.Service != "" || !strings.Contains(r.Banner, "?? what") {
		t.Errorf("got %q banner %q, want unnamed with the reply shown", r.Service, r.Banner)
	}
}
