package probe

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// textServer is a faithful fake of a line-based server: a greeting, a
// reply per command, and a command that upgrades to real crypto/tls.
type textServer struct {
	greeting string
	replies  func(cmd string) (reply string, upgrade, quit bool)
}

func (s textServer) serve(t *testing.T) Target {
	cfg := serverTLSConfig(t)
	return serveTCP(t, func(c net.Conn) {
		fmt.Fprint(c, s.greeting)
		var conn net.Conn = c
		br := bufio.NewReader(conn)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			reply, upgrade, quit := s.replies(strings.TrimRight(line, "\r\n"))
			fmt.Fprint(conn, reply)
			if quit {
				return
			}
			if upgrade {
				tc := tls.Server(c, cfg)
				if tc.Handshake() != nil {
					return
				}
				conn, br = tc, bufio.NewReader(tc)
			}
		}
	})
}

func smtpFake(cmd string) (string, bool, bool) {
	switch verb, _, _ := strings.Cut(strings.ToUpper(cmd), " "); verb {
	case "EHLO":
		return "250-mail.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250 8BITMIME\r\n", false, false
	case "STARTTLS":
		return "220 2.0.0 Ready to start TLS\r\n", true, false
	case "QUIT":
		return "221 2.0.0 Bye\r\n", false, true
	}
	return "502 5.5.2 Error: command not recognized\r\n", false, false
}

func imapFake(cmd string) (string, bool, bool) {
	tag, rest, _ := strings.Cut(cmd, " ")
	switch strings.ToUpper(rest) {
	case "CAPABILITY":
		return "* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED\r\n" + tag + " OK Pre-login capabilities listed, post-login capabilities have more.\r\n", false, false
	case "STARTTLS":
		return tag + " OK Begin TLS negotiation now.\r\n", true, false
	case "LOGOUT":
		return "* BYE Logging out\r\n" + tag + " OK Logout completed.\r\n", false, true
	}
	return tag + " BAD Error in IMAP command received by server.\r\n", false, false
}

func pop3Fake(cmd string) (string, bool, bool) {
	switch strings.ToUpper(cmd) {
	case "CAPA":
		return "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nSTLS\r\nUSER\r\nSASL PLAIN\r\n.\r\n", false, false
	case "STLS":
		return "+OK Begin TLS negotiation now.\r\n", true, false
	case "QUIT":
		return "+OK Logging out\r\n", false, true
	}
	return "-ERR Unknown command.\r\n", false, false
}

func ftpFake(cmd string) (string, bool, bool) {
	switch strings.ToUpper(cmd) {
	case "FEAT":
		return "211-Features:\r\n AUTH TLS\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n PBSZ\r\n PROT\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n UTF8\r\n211 End\r\n", false, false
	case "AUTH TLS":
		return "234 Proceed with negotiation.\r\n", true, false
	case "QUIT":
		return "221 Goodbye.\r\n", false, true
	}
	return "530 Please login with USER and PASS.\r\n", false, false
}

func TestProbeTextProtocols(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		server textServer
		want   summary
	}{
		{"postfix with STARTTLS", textServer{"220 mail.test ESMTP Postfix (Debian/GNU)\r\n", smtpFake},
			summary{State: "open", Service: "smtp", Product: "Postfix smtpd", Info: "Debian/GNU; STARTTLS", Method: "native:smtp+signature:postfix", StartTLS: true}},
		{"exim multi-line greeting", textServer{"220-mail.test ESMTP Exim 4.96 Sun, 29 Nov 2026 19:00:00 +0000\r\n220 No UCE\r\n", smtpFake},
			summary{State: "open", Service: "smtp", Product: "Exim smtpd", Version: "4.96", Info: "STARTTLS", Method: "native:smtp+signature:exim", StartTLS: true}},
		{"dovecot imap with STARTTLS", textServer{"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED] Dovecot (Debian) ready.\r\n", imapFake},
			summary{State: "open", Service: "imap", Product: "Dovecot imapd", Info: "Debian; STARTTLS", Method: "native:imap+signature:dovecot-imap", StartTLS: true}},
		{"dovecot pop3 with STLS", textServer{"+OK Dovecot (Debian) ready.\r\n", pop3Fake},
			summary{State: "open", Service: "pop3", Product: "Dovecot pop3d", Info: "Debian; STLS", Method: "native:pop3+signature:dovecot-pop3", StartTLS: true}},
		{"vsftpd with AUTH TLS", textServer{"220 (vsFTPd 3.0.3)\r\n", ftpFake},
			summary{State: "open", Service: "ftp", Product: "vsftpd", Version: "3.0.3", Info: "AUTH TLS", Method: "native:ftp+signature:vsftpd", StartTLS: true}},
		{"pure-ftpd multi-line greeting", textServer{"220---------- Welcome to Pure-FTPd [privsep] [TLS] ----------\r\n220-You are user number 1 of 50 allowed.\r\n220 This is a private system - No anonymous login\r\n", ftpFake},
			summary{State: "open", Service: "ftp", Product: "Pure-FTPd", Info: "AUTH TLS", Method: "native:ftp+signature:pure-ftpd", StartTLS: true}},
		// A bare 220 could be SMTP or FTP: the active probes decide.
		{"bare 220 that is ftp", textServer{"220 Welcome\r\n", ftpFake},
			summary{State: "open", Service: "ftp", Info: "AUTH TLS", Method: "native:ftp", StartTLS: true}},
		{"bare 220 that is smtp", textServer{"220 Welcome\r\n", smtpFake},
			summary{State: "open", Service: "smtp", Info: "STARTTLS", Method: "native:smtp", StartTLS: true}},
		{"telnet", textServer{"\xff\xfd\x18\xff\xfd\x20\xff\xfd\x23\xff\xfd\x27", func(string) (string, bool, bool) { return "", false, false }},
			summary{State: "open", Service: "telnet", Info: "negotiates DO 24, DO 32, DO 35, DO 39", Method: "native:telnet"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := probeOne(t, nil, tc.server.serve(t))
			if d := cmp.Diff(tc.want, summarize(r)); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
			if r.StartTLS != nil && (r.StartTLS.Subject != "CN=portwho test,O=portwho" || r.StartTLS.Version == "") {
				t.Errorf("starttls = %+v", r.StartTLS)
			}
		})
	}
}
