package probe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseMongoReply(t *testing.T) {
	op := readTestdata(t, "mongodb-7.0-opreply.bin")
	tests := []struct {
		name    string
		in      []byte
		want    mongoHello
		match   Match
		wantErr bool
	}{
		{
			name:  "7.0 OP_REPLY to isMaster",
			in:    op,
			want:  mongoHello{ResponseTo: 1234, OK: 1, MaxWireVersion: 21, HasWire: true},
			match: Match{Service: "mongodb", Product: "MongoDB", Version: "7.0", Info: "wire versions 0-21", Method: "native:mongodb", Certain: true},
		},
		{
			name:  "8.0 replica set OP_MSG to hello",
			in:    readTestdata(t, "mongodb-8.0-opmsg.bin"),
			want:  mongoHello{ResponseTo: 1234, OK: 1, MaxWireVersion: 25, HasWire: true, SetName: "rs0"},
			match: Match{Service: "mongodb", Product: "MongoDB", Version: "8.0", Info: "wire versions 0-25; replica set rs0", Method: "native:mongodb", Certain: true},
		},
		{name: "length disagrees", in: op[:len(op)-1], wantErr: true},
		{name: "http", in: []byte("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"), wantErr: true},
		{name: "unknown opcode", in: func() []byte { b := bytes.Clone(op); binary.LittleEndian.PutUint32(b[12:], 2004); return b }(), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMongoReply(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("hello (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.match, mongoMatch(got)); diff != "" {
				t.Errorf("match (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMongoWireRelease(t *testing.T) {
	tests := []struct {
		wire int64
		want string
	}{{6, "3.6"}, {9, "4.4"}, {13, "5.0"}, {17, "6.0"}, {21, "7.0"}, {25, "8.0"}, {11, ""}, {-1, ""}, {99, ""}}
	for _, tt := range tests {
		if got, _ := mongoWireRelease(tt.wire); got != tt.want {
			t.Errorf("mongoWireRelease(%d) = %q, want %q", tt.wire, got, tt.want)
		}
	}
}

// mongoFake checks the OP_QUERY isMaster and answers with the captured
// reply, its responseTo set to the request's id as a server does.
func mongoFake(t *testing.T) binStep {
	reply := readTestdata(t, "mongodb-7.0-opreply.bin")
	return binStep{
		frame: frameLen32(binary.LittleEndian, 0, 0),
		check: func(req []byte) error {
			if binary.LittleEndian.Uint32(req[12:]) != mongoOpQuery || !bytes.Contains(req, []byte("admin.$cmd\x00")) || !bytes.Contains(req, []byte("isMaster\x00")) {
				return errors.New("not an OP_QUERY isMaster")
			}
			return nil
		},
		reply: func(req []byte) []byte {
			r := bytes.Clone(reply)
			copy(r[8:12], req[4:8])
			return r
		},
	}
}

func TestMongodbProbe(t *testing.T) {
	addr := binServeTCP(t, mongoFake(t))
	m, ok, err := binProbe(t, "tcp", addr, 5*time.Second, mongodbProbe)
	if err != nil || !ok {
		t.Fatalf("probe: ok %v err %v", ok, err)
	}
	want := Match{Service: "mongodb", Product: "MongoDB", Version: "7.0", Info: "wire versions 0-21", Method: "native:mongodb", Certain: true}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("match (-want +got):\n%s", diff)
	}
}

func FuzzParseMongoReply(f *testing.F) {
	addTestdataSeeds(f, "mongodb-7.0-opreply.bin", "mongodb-8.0-opmsg.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseMongoReply(b)
		if err != nil {
			return
		}
		_ = mongoMatch(h)
	})
}
