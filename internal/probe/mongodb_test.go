package probe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
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

// mongoFake reads the pipelined OP_MSG hello and OP_QUERY isMaster and
// answers like a server of the given kind: modern servers answer both, in
// order (the captured OP_MSG reply, then the OP_REPLY); servers before 3.6
// ignore the OP_MSG and answer only the isMaster, here with the OP_REPLY
// patched to maxWireVersion 5 (3.4). responseTo is set to the request's id.
func mongoFake(t *testing.T, legacy bool) func(net.Conn) {
	msgReply := readTestdata(t, "mongodb-8.0-opmsg.bin")
	opReply := readTestdata(t, "mongodb-7.0-opreply.bin")
	if legacy {
		opReply = bytes.Clone(opReply)
		i := bytes.Index(opReply, []byte("maxWireVersion\x00")) + len("maxWireVersion\x00")
		binary.LittleEndian.PutUint32(opReply[i:], 5)
	}
	answer := func(reply, req []byte) []byte {
		r := bytes.Clone(reply)
		copy(r[8:12], req[4:8])
		return r
	}
	return func(c net.Conn) {
		hello, err := mongoReadMsg(c)
		if err != nil || binary.LittleEndian.Uint32(hello[12:]) != mongoOpMsg || !bytes.Contains(hello, []byte("hello\x00")) {
			t.Errorf("fake mongod: first request %q is not an OP_MSG hello (%v)", hello, err)
			return
		}
		query, err := mongoReadMsg(c)
		if err != nil || binary.LittleEndian.Uint32(query[12:]) != mongoOpQuery || !bytes.Contains(query, []byte("admin.$cmd\x00")) || !bytes.Contains(query, []byte("isMaster\x00")) {
			t.Errorf("fake mongod: second request %q is not an OP_QUERY isMaster (%v)", query, err)
			return
		}
		if !legacy {
			_, _ = c.Write(answer(msgReply, hello))
		}
		_, _ = c.Write(answer(opReply, query))
	}
}

// mongoReadMsg reads exactly one message, leaving the next one unread.
func mongoReadMsg(r io.Reader) ([]byte, error) {
	head := make([]byte, 4)
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, err
	}
	n := int(binary.LittleEndian.Uint32(head))
	if n < 16 || n > maxReply {
		return nil, errors.New("bad message length")
	}
	msg := append(head, make([]byte, n-4)...)
	_, err := io.ReadFull(r, msg[4:])
	return msg, err
}

func TestMongodbProbe(t *testing.T) {
	tests := []struct {
		name   string
		legacy bool
		want   Match
	}{
		{name: "modern server answers the hello first", want: Match{Service: "mongodb", Product: "MongoDB", Version: "8.0",
			Info: "wire versions 0-25; replica set rs0", Method: "native:mongodb", Certain: true}},
		{name: "pre-3.6 server answers only the isMaster", legacy: true, want: Match{Service: "mongodb", Product: "MongoDB", Version: "3.4",
			Info: "wire versions 0-5", Method: "native:mongodb", Certain: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := binServeConn(t, mongoFake(t, tt.legacy))
			m, ok, err := binProbe(t, "tcp", addr, 5*time.Second, mongodbProbe)
			if err != nil || !ok {
				t.Fatalf("probe: ok %v err %v", ok, err)
			}
			if diff := cmp.Diff(tt.want, m); diff != "" {
				t.Errorf("match (-want +got):\n%s", diff)
			}
		})
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
