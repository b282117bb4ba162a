package probe

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The files in testdata/text are what Debian 12's servers sent on
// loopback (openssh-server, postfix, dovecot, vsftpd, nginx; tinyproxy
// 1.11.1; tor 0.4.9.11's SocksPort and ControlPort answering GET /),
// captured byte for byte.

func captured(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "text", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCapturedGreetings(t *testing.T) {
	sigs, err := DefaultSignatures()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file string
		want summary
	}{
		{"ssh-openssh-greeting.txt", summary{Service: "ssh", Product: "OpenSSH", Version: "9.2p1", Info: "Debian-2+deb12u10; protocol 2.0", Method: "native:ssh+signature:openssh"}},
		{"smtp-postfix-greeting.txt", summary{Service: "smtp", Product: "Postfix smtpd", Method: "native:smtp+signature:postfix"}},
		{"imap-dovecot-greeting.txt", summary{Service: "imap", Product: "Dovecot imapd", Info: "Debian", Method: "native:imap+signature:dovecot-imap"}},
		{"pop3-dovecot-greeting.txt", summary{Service: "pop3", Product: "Dovecot pop3d", Info: "Debian", Method: "native:pop3+signature:dovecot-pop3"}},
		{"ftp-vsftpd-greeting.txt", summary{Service: "ftp", Product: "vsftpd", Version: "3.0.3", Method: "native:ftp+signature:vsftpd"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			m, _, ok := bannerMatch(Protocols(), captured(t, tc.file))
			if !ok || !m.Certain {
				t.Fatalf("not certain: %+v", m)
			}
			r := &run{p: &Prober{Signatures: sigs}}
			var res Result
			r.fill(&res, outcome{m: m, ok: true})
			if d := cmp.Diff(tc.want, summarize(res)); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestCapturedReplies(t *testing.T) {
	for _, tc := range []struct {
		file     string
		code     int
		upgrade  string
		numbered bool
	}{
		{"smtp-postfix-ehlo.txt", 250, "STARTTLS", true},
		{"ftp-vsftpd-feat.txt", 211, "AUTH TLS", true},
		{"imap-dovecot-capability.txt", 0, "STARTTLS", false},
		{"pop3-dovecot-capa.txt", 0, "STLS", false},
	} {
		t.Run(tc.file, func(t *testing.T) {
			b := captured(t, tc.file)
			if tc.numbered {
				r, err := readReply(bufio.NewReader(bytes.NewReader(b)))
				if err != nil {
					t.Fatal(err)
				}
				if r.Code != tc.code {
					t.Errorf("code %d, want %d", r.Code, tc.code)
				}
				found := false
				for _, l := range r.Lines {
					found = found || strings.TrimSpace(l) == tc.upgrade
				}
				if !found {
					t.Errorf("%q not among %q", tc.upgrade, r.Lines)
				}
				return
			}
			if !hasWord(strings.ReplaceAll(string(b), "\r\n", " "), tc.upgrade) {
				t.Errorf("%q not offered in %q", tc.upgrade, b)
			}
		})
	}
}

func TestCapturedHTTP(t *testing.T) {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(captured(t, "http-nginx-get.txt"))), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	got := httpMatch(resp.Proto, resp.StatusCode, resp.Header, body)
	want := Match{Service: "http", Method: "native:http", Certain: true, Evidence: "nginx/1.22.1", Info: `HTTP/1.1 200 · title "portwho probe bench"`}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
}

// TestProbeCapturedConversations replays the captured replies from a fake
// server, upgrading to real TLS where the real server would.
func TestProbeCapturedConversations(t *testing.T) {
	t.Parallel()
	ehlo := string(captured(t, "smtp-postfix-ehlo.txt"))
	imapCaps := string(captured(t, "imap-dovecot-capability.txt"))
	capa := string(captured(t, "pop3-dovecot-capa.txt"))
	feat := string(captured(t, "ftp-vsftpd-feat.txt"))
	for _, tc := range []struct {
		name   string
		server textServer
		want   summary
	}{
		{"postfix", textServer{string(captured(t, "smtp-postfix-greeting.txt")), func(cmd string) (string, bool, bool) {
			switch {
			case strings.HasPrefix(cmd, "EHLO"):
				return ehlo, false, false
			case cmd == "STARTTLS":
				return "220 2.0.0 Ready to start TLS\r\n", true, false
			}
			return "221 2.0.0 Bye\r\n", false, true
		}}, summary{State: "open", Service: "smtp", Product: "Postfix smtpd", Info: "STARTTLS", Method: "native:smtp+signature:postfix", StartTLS: true}},
		{"dovecot imap", textServer{string(captured(t, "imap-dovecot-greeting.txt")), func(cmd string) (string, bool, bool) {
			tag, rest, _ := strings.Cut(cmd, " ")
			switch rest {
			case "CAPABILITY":
				return strings.ReplaceAll(imapCaps, "a1 ", tag+" "), false, false
			case "STARTTLS":
				return tag + " OK Begin TLS negotiation now.\r\n", true, false
			}
			return "* BYE Logging out\r\n" + tag + " OK Logout completed.\r\n", false, true
		}}, summary{State: "open", Service: "imap", Product: "Dovecot imapd", Info: "Debian; STARTTLS", Method: "native:imap+signature:dovecot-imap", StartTLS: true}},
		{"dovecot pop3", textServer{string(captured(t, "pop3-dovecot-greeting.txt")), func(cmd string) (string, bool, bool) {
			switch cmd {
			case "CAPA":
				return capa, false, false
			case "STLS":
				return "+OK Begin TLS negotiation now.\r\n", true, false
			}
			return "+OK Logging out\r\n", false, true
		}}, summary{State: "open", Service: "pop3", Product: "Dovecot pop3d", Info: "Debian; STLS", Method: "native:pop3+signature:dovecot-pop3", StartTLS: true}},
		{"vsftpd", textServer{string(captured(t, "ftp-vsftpd-greeting.txt")), func(cmd string) (string, bool, bool) {
			switch cmd {
			case "FEAT":
				return feat, false, false
			case "AUTH TLS":
				return "234 Proceed with negotiation.\r\n", true, false
			}
			return "221 Goodbye.\r\n", false, true
		}}, summary{State: "open", Service: "ftp", Product: "vsftpd", Version: "3.0.3", Info: "AUTH TLS", Method: "native:ftp+signature:vsftpd", StartTLS: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if d := cmp.Diff(tc.want, summarize(probeOne(t, nil, tc.server.serve(t)))); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}
