package probe

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// mysqlHandshake builds a HandshakeV10 packet the way MySQL 8 lays it out,
// for versions no server here runs.
func mysqlHandshake(version string, caps uint32, plugin string) []byte {
	p := []byte{mysqlProtoV10}
	p = append(p, version...)
	p = append(p, 0)
	p = binary.LittleEndian.AppendUint32(p, 9) // thread id
	p = append(p, "abcdefgh"...)               // auth data part 1
	p = append(p, 0)                           // filler
	p = binary.LittleEndian.AppendUint16(p, uint16(caps))
	p = append(p, 0xff)                        // charset
	p = binary.LittleEndian.AppendUint16(p, 2) // status
	p = binary.LittleEndian.AppendUint16(p, uint16(caps>>16))
	p = append(p, 21)                    // auth data length
	p = append(p, make([]byte, 10)...)   // reserved
	p = append(p, "ijklmnopqrst\x00"...) // auth data part 2 (13)
	p = append(p, plugin...)
	p = append(p, 0)
	return append([]byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16), 0}, p...)
}

func TestParseMySQLGreeting(t *testing.T) {
	mariadb := readTestdata(t, "mariadb-10.11.19-greeting.bin")
	tests := []struct {
		name    string
		in      []byte
		want    Match
		wantErr bool
	}{
		{
			name: "mariadb 10.11.19 on debian 12",
			in:   mariadb,
			want: Match{Service: "mysql", Product: "MariaDB", Version: "10.11.19", Info: "protocol 10; 0+deb12u1; mysql_native_password",
				Method: "native:mysql", Certain: true, Evidence: "5.5.5-10.11.19-MariaDB-0+deb12u1"},
		},
		{
			name: "mysql 8.0 with ssl",
			in:   mysqlHandshake("8.0.36", 0xdfffffff, "caching_sha2_password"),
			want: Match{Service: "mysql", Product: "MySQL", Version: "8.0.36", Info: "protocol 10; ssl; caching_sha2_password",
				Method: "native:mysql", Certain: true, Evidence: "8.0.36"},
		},
		{
			name: "host not allowed",
			in:   append([]byte{0x44, 0, 0, 0, 0xff, 0x6a, 0x04}, "Host '10.0.0.9' is not allowed to connect to this MariaDB server"...),
			want: Match{Service: "mysql", Info: "error 1130: Host '10.0.0.9' is not allowed to connect to this MariaDB server", Method: "native:mysql", Certain: true},
		},
		{name: "truncated greeting", in: mariadb[:40], wantErr: true},
		{name: "ssh banner", in: []byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"), wantErr: true},
		{name: "protocol 9", in: []byte{6, 0, 0, 0, 9, '3', '.', '2', '3', 0}, wantErr: true},
		{name: "nonzero sequence", in: append([]byte{mariadb[0], mariadb[1], mariadb[2], 1}, mariadb[4:]...), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "host not allowed" {
				tt.in[0] = byte(len(tt.in) - 4)
			}
			g, err := parseMySQLGreeting(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, mysqlMatch(g)); diff != "" {
				t.Errorf("match (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMySQLBannerAndProbe(t *testing.T) {
	greeting := readTestdata(t, "mariadb-10.11.19-greeting.bin")
	want := Match{Service: "mysql", Product: "MariaDB", Version: "10.11.19", Info: "protocol 10; 0+deb12u1; mysql_native_password",
		Method: "native:mysql", Certain: true, Evidence: "5.5.5-10.11.19-MariaDB-0+deb12u1"}
	t.Run("banner", func(t *testing.T) {
		m, ok := mysqlBanner(greeting)
		if !ok {
			t.Fatal("greeting not recognised")
		}
		if diff := cmp.Diff(want, m); diff != "" {
			t.Errorf("match (-want +got):\n%s", diff)
		}
	})
	t.Run("probe", func(t *testing.T) {
		addr := binServeTCP(t, binStep{reply: fixed(greeting)})
		m, ok, err := binProbe(t, "tcp", addr, 5*time.Second, mysqlProbe)
		if err != nil || !ok {
			t.Fatalf("probe: ok %v err %v", ok, err)
		}
		if diff := cmp.Diff(want, m); diff != "" {
			t.Errorf("match (-want +got):\n%s", diff)
		}
	})
}

func FuzzParseMySQLGreeting(f *testing.F) {
	addTestdataSeeds(f, "mariadb-10.11.19-greeting.bin")
	f.Add(mysqlHandshake("8.0.36", 0xdfffffff, "caching_sha2_password"))
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := parseMySQLGreeting(b)
		if err != nil {
			return
		}
		if g.ErrCode == 0 && (g.Version == "" || !isPrintableASCII([]byte(g.Version))) {
			t.Fatalf("accepted a bad version %q", g.Version)
		}
		_ = mysqlMatch(g)
	})
}
