package probe

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParsePgMessage(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    pgError
		wantErr bool
	}{
		{
			name: "postgresql 15 refuses a user-less startup",
			in:   readTestdata(t, "postgresql-15-nouser.bin"),
			want: pgError{'S': "FATAL", 'V': "FATAL", 'C': "28000", 'M': "no PostgreSQL user name specified in startup packet",
				'F': "postmaster.c", 'L': "2351", 'R': "ProcessStartupPacket"},
		},
		{name: "authentication request is not an error", in: []byte{'R', 0, 0, 0, 8, 0, 0, 0, 0}, wantErr: true},
		{name: "unterminated field", in: []byte{'E', 0, 0, 0, 9, 'S', 'F', 'A', 'T'}, wantErr: true},
		{name: "length beyond data", in: []byte{'E', 0, 0, 1, 0, 'S', 0, 0}, wantErr: true},
		{name: "no severity", in: []byte{'E', 0, 0, 0, 8, 'M', 'x', 0, 0}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePgMessage(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); !tt.wantErr && diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPostgresJudge(t *testing.T) {
	pg17 := pgError{'S': "FATAL", 'V': "FATAL", 'M': "no PostgreSQL user name specified in startup packet", 'F': "backend_startup.c"}
	tests := []struct {
		name   string
		in     postgresSession
		want   Match
		wantOK bool
	}{
		{name: "ssl refused, then error from 17", in: postgresSession{SSL: 'N', Error: pg17}, wantOK: true,
			want: Match{Service: "postgresql", Product: "PostgreSQL", Version: "17 or later", Method: "native:postgresql", Certain: true,
				Info: "ssl not offered; no PostgreSQL user name specified in startup packet"}},
		{name: "lone N proves nothing", in: postgresSession{SSL: 'N'}},
		{name: "S without a readable error is a guess", in: postgresSession{SSL: 'S'}, wantOK: true,
			want: Match{Service: "postgresql", Product: "PostgreSQL", Method: "native:postgresql", Info: "ssl offered"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := postgresJudge(tt.in)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("match (-want +got):\n%s", diff)
			}
		})
	}
}

// pgFake is a faithful PostgreSQL front door: it answers SSLRequest with
// the captured 'S' (upgrading to TLS) or with 'N', then answers the
// startup packet with the captured ErrorResponse of PostgreSQL 15.
func pgFake(t *testing.T, offerSSL bool) func(net.Conn) {
	cert := testCert(t)
	return func(c net.Conn) {
		req, err := readFramed(c, frameExact(8))
		if err != nil || binary.BigEndian.Uint32(req[4:]) != pgSSLRequestCode {
			t.Errorf("fake postgresql: bad ssl request %q (%v)", req, err)
			return
		}
		var rw net.Conn = c
		if offerSSL {
			_, _ = c.Write(readTestdata(t, "postgresql-15-sslrequest.bin"))
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
			if err := tc.Handshake(); err != nil {
				t.Errorf("fake postgresql: tls: %v", err)
				return
			}
			rw = tc
		} else {
			_, _ = c.Write([]byte("N"))
		}
		startup, err := readFramed(rw, frameLen32(binary.BigEndian, 0, 0))
		if err != nil || binary.BigEndian.Uint32(startup[4:]) != pgProtocol30 || !bytes.HasSuffix(startup, []byte{0}) {
			t.Errorf("fake postgresql: bad startup %q (%v)", startup, err)
			return
		}
		_, _ = rw.Write(readTestdata(t, "postgresql-15-nouser.bin"))
		_, _ = rw.Read(make([]byte, 1)) // wait for the client to hang up
	}
}

func TestPostgresqlProbe(t *testing.T) {
	const msg = "no PostgreSQL user name specified in startup packet"
	tests := []struct {
		name     string
		offerSSL bool
		wantInfo string
	}{
		{name: "ssl offered", offerSSL: true, wantInfo: "ssl offered; " + msg},
		{name: "ssl not offered", offerSSL: false, wantInfo: "ssl not offered; " + msg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := binServeConn(t, pgFake(t, tt.offerSSL))
			m, ok, err := binProbe(t, "tcp", addr, 5*time.Second, postgresqlProbe)
			if err != nil || !ok {
				t.Fatalf("probe: ok %v err %v", ok, err)
			}
			st := m.StartTLS
			m.StartTLS = nil
			want := Match{Service: "postgresql", Product: "PostgreSQL", Version: "9.6 or later", Info: tt.wantInfo, Method: "native:postgresql", Certain: true}
			if diff := cmp.Diff(want, m); diff != "" {
				t.Errorf("match (-want +got):\n%s", diff)
			}
			if tt.offerSSL != (st != nil) {
				t.Fatalf("StartTLS = %+v, want it set: %v", st, tt.offerSSL)
			}
			if st != nil && (st.Subject == "" || !st.SelfSigned) {
				t.Errorf("StartTLS certificate not summarised: %+v", st)
			}
		})
	}
}

func TestPostgresqlProbeNotPostgres(t *testing.T) {
	addr := binServeTCP(t, binStep{frame: frameExact(8), reply: fixed([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))})
	_, ok, err := binProbe(t, "tcp", addr, 5*time.Second, postgresqlProbe)
	if ok || err == nil {
		t.Errorf("HTTP reply: ok %v err %v, want not postgresql", ok, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("waited for the deadline instead of judging the first byte: %v", err)
	}
}

func FuzzParsePgMessage(f *testing.F) {
	addTestdataSeeds(f, "postgresql-15-nouser.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := parsePgMessage(b)
		if err == nil && (e['S'] == "" || e['M'] == "") {
			t.Fatalf("accepted an error without severity or message: %v", e)
		}
	})
}

// A server too old for SSLRequest answers it with an ErrorResponse at once;
// that still names PostgreSQL.
func TestPostgresqlProbeErrorOnSSLRequest(t *testing.T) {
	errResp := readTestdata(t, "postgresql-15-nouser.bin")
	addr := binServeTCP(t, binStep{frame: frameExact(8), reply: fixed(errResp)})
	m, ok, err := binProbe(t, "tcp", addr, 5*time.Second, postgresqlProbe)
	if err != nil || !ok {
		t.Fatalf("probe: ok %v err %v", ok, err)
	}
	want := Match{Service: "postgresql", Product: "PostgreSQL", Version: "9.6 or later", Method: "native:postgresql", Certain: true,
		Info: "no PostgreSQL user name specified in startup packet"}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("match (-want +got):\n%s", diff)
	}
}
