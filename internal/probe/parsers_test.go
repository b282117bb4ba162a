package probe

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBannerMatchers(t *testing.T) {
	protos := Protocols()
	for _, tc := range []struct {
		name, banner string
		want         Match
		ok           bool
	}{
		{"openssh", "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n",
			Match{Service: "ssh", Info: "protocol 2.0", Method: "native:ssh", Certain: true, Evidence: "OpenSSH_9.2p1 Debian-2+deb12u3"}, true},
		{"ssh 1.99 after a pre-banner line", "hello there\r\nSSH-1.99-Cisco-1.25\r\n",
			Match{Service: "ssh", Info: "protocol 2.0", Method: "native:ssh", Certain: true, Evidence: "Cisco-1.25"}, true},
		{"ssh without software", "SSH-2.0-\r\n", Match{}, false},
		{"postfix", "220 mx.example ESMTP Postfix (Debian/GNU)\r\n",
			Match{Service: "smtp", Method: "native:smtp", Certain: true, Evidence: "mx.example ESMTP Postfix (Debian/GNU)"}, true},
		{"bare 220 is a hint", "220 hello\r\n",
			Match{Service: "smtp", Method: "native:smtp", Evidence: "hello"}, true},
		{"vsftpd", "220 (vsFTPd 3.0.3)\r\n",
			Match{Service: "ftp", Method: "native:ftp", Certain: true, Evidence: "(vsFTPd 3.0.3)"}, true},
		{"dovecot imap", "* OK [CAPABILITY IMAP4rev1] Dovecot (Debian) ready.\r\n",
			Match{Service: "imap", Method: "native:imap", Certain: true, Evidence: "[CAPABILITY IMAP4rev1] Dovecot (Debian) ready."}, true},
		{"pop3", "+OK Dovecot (Debian) ready.\r\n",
			Match{Service: "pop3", Method: "native:pop3", Certain: true, Evidence: "Dovecot (Debian) ready."}, true},
		{"telnet with a prompt", "\xff\xfb\x01\xff\xfb\x03Debian GNU/Linux 12\r\nlogin: ",
			Match{Service: "telnet", Method: "native:telnet", Certain: true, Info: "negotiates WILL 1, WILL 3", Evidence: "Debian GNU/Linux 12"}, true},
		{"junk", "\x1b[31m\x00\x00garbage", Match{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, ok := bannerMatch(protos, []byte(tc.banner))
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v (%+v)", ok, tc.ok, got)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestReadReply(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     reply
		wantErr  bool
	}{
		{"one line", "220 ready\r\n", reply{220, []string{"ready"}}, false},
		{"multi-line", "250-mx\r\n250-STARTTLS\r\n250 8BITMIME\r\n", reply{250, []string{"mx", "STARTTLS", "8BITMIME"}}, false},
		{"ftp continuation without code", "211-Features:\r\n AUTH TLS\r\n UTF8\r\n211 End\r\n", reply{211, []string{"Features:", "AUTH TLS", "UTF8", "End"}}, false},
		{"code only", "220\r\n", reply{220, []string{""}}, false},
		{"not a reply", "HTTP/1.1 400 Bad Request\r\n", reply{}, true},
		{"truncated", "250-mx\r\n", reply{250, []string{"mx"}}, true},
		{"endless", strings.Repeat("250-x\r\n", 100), reply{}, true},
		{"long line", "220 " + strings.Repeat("x", 10000) + "\r\n", reply{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readReply(bufio.NewReader(strings.NewReader(tc.in)))
			if tc.wantErr {
				if err == nil {
					t.Errorf("got %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestHTTPMatch(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		want      Match
	}{
		{"python http.server", "HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\nContent-type: text/html; charset=utf-8\r\n\r\n<!DOCTYPE HTML>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Directory listing for /</title>\n</head>",
			Match{Service: "http", Method: "native:http", Certain: true, Evidence: "SimpleHTTP/0.6 Python/3.11.2", Info: `HTTP/1.0 200 · title "Directory listing for /"`}},
		{"nginx redirect", "HTTP/1.1 301 Moved Permanently\r\nServer: nginx/1.22.1\r\nLocation: https://example.org/\r\nContent-Length: 0\r\n\r\n",
			Match{Service: "http", Method: "native:http", Certain: true, Evidence: "nginx/1.22.1", Info: "HTTP/1.1 301 · redirect https://example.org/"}},
		{"nginx TLS port", "HTTP/1.1 400 Bad Request\r\nServer: nginx/1.22.1\r\n\r\n<html><head><title>400 The plain HTTP request was sent to HTTPS port</title></head><body>The plain HTTP request was sent to HTTPS port</body></html>",
			Match{Service: "http", Method: "native:http", Evidence: "nginx/1.22.1", Info: `HTTP/1.1 400 · title "400 The plain HTTP request was sent to HTTPS port" · expects TLS`}},
		{"hostile title", "HTTP/1.1 200 OK\r\n\r\n<TITLE lang=x>\x1b[2J &lt;b&gt;\n\n hi</TITLE>",
			Match{Service: "http", Method: "native:http", Certain: true, Info: `HTTP/1.1 200 · title "\x1b[2J <b> hi"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(tc.raw)), nil)
			if err != nil {
				t.Fatal(err)
			}
			body := new(bytes.Buffer)
			body.ReadFrom(resp.Body)
			got := httpMatch(resp.Proto, resp.StatusCode, resp.Header, body.Bytes())
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

func TestHTMLTitleCapped(t *testing.T) {
	got := htmlTitle([]byte("<title>" + strings.Repeat("é", 500) + "</title>"))
	if n := len([]rune(got)); n != maxTitle {
		t.Errorf("title of %d runes, want %d", n, maxTitle)
	}
}

func TestIsSettingsFrame(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    []byte
		want bool
	}{
		{"empty settings", []byte{0, 0, 0, 4, 0, 0, 0, 0, 0}, true},
		{"three settings", []byte{0, 0, 18, 4, 0, 0, 0, 0, 0}, true},
		{"ack", []byte{0, 0, 0, 4, 1, 0, 0, 0, 0}, false},
		{"on a stream", []byte{0, 0, 0, 4, 0, 0, 0, 0, 1}, false},
		{"goaway", []byte{0, 0, 8, 7, 0, 0, 0, 0, 0}, false},
		{"http/1", []byte("HTTP/1.1 "), false},
		{"short", []byte{0, 0, 0, 4}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := isSettingsFrame(tc.h); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func FuzzBannerMatch(f *testing.F) {
	for _, s := range []string{"SSH-2.0-OpenSSH_9.2p1 x\r\n", "220-a\r\n220 b\r\n", "* OK hi\r\n", "+OK\r\n", "\xff\xfd\x18\xff\xfa\x18\x01\xff\xf0x", "\xff\xfb"} {
		f.Add([]byte(s))
	}
	protos := Protocols()
	sigs, _ := DefaultSignatures()
	f.Fuzz(func(t *testing.T, b []byte) {
		m, _, ok := bannerMatch(protos, b)
		if ok && m.Service == "" {
			t.Fatalf("match without a service: %+v", m)
		}
		sigs.Match(m.Service, m.Evidence)
		parseTelnet(b)
		ftpEvidence(b)
	})
}

func FuzzReadReply(f *testing.F) {
	for _, s := range []string{"220 ready\r\n", "250-a\r\n250 b\r\n", "211-x\r\n y\r\n211 z\r\n", "1234"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := readReply(bufio.NewReader(strings.NewReader(s)))
		if err == nil && (r.Code < 100 || r.Code > 599 || len(r.Lines) > maxLines) {
			t.Fatalf("reply %+v", r)
		}
	})
}

func FuzzHTMLTitle(f *testing.F) {
	f.Add([]byte("<title>a &amp; b</title>"))
	f.Add([]byte("<TITLE>\x00\x1b</TITLE>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n := len([]rune(htmlTitle(b))); n > maxTitle {
			t.Fatalf("title of %d runes", n)
		}
	})
}
