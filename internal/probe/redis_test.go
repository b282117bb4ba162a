package probe

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseRedisReply(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    redisReply
		wantErr bool
	}{
		{name: "pong from redis 7.0.15", in: readTestdata(t, "redis-7.0.15-pong.resp"), want: redisReply{Kind: '+', Text: "PONG"}},
		{name: "noauth from redis 7.0.15", in: readTestdata(t, "redis-7.0.15-noauth.resp"), want: redisReply{Kind: '-', Text: "NOAUTH Authentication required."}},
		{name: "null bulk", in: []byte("$-1\r\n"), want: redisReply{Kind: '$'}},
		{name: "integer", in: []byte(":42\r\n"), want: redisReply{Kind: ':', Text: "42"}},
		{name: "http is not resp", in: []byte("HTTP/1.1 400 Bad Request\r\n"), wantErr: true},
		{name: "bulk shorter than announced", in: []byte("$10\r\nabc\r\n"), wantErr: true},
		{name: "bulk without crlf", in: []byte("$3\r\nabcde"), wantErr: true},
		{name: "negative bulk length", in: []byte("$-7\r\n"), wantErr: true},
		{name: "empty", in: nil, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseRedisReply(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); !tt.wantErr && diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRedisInfoMatch(t *testing.T) {
	info := readTestdata(t, "redis-7.0.15-info.resp")
	r, err := parseRedisReply(info)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		info string
		want Match
	}{
		{name: "redis 7.0.15 on Debian", info: r.Text, want: Match{Service: "redis", Product: "Redis key-value store", Version: "7.0.15",
			Info: "standalone; Linux 6.18.44-fc-v669 x86_64", Method: "native:redis", Certain: true, Evidence: "redis_version:7.0.15"}},
		{name: "valkey keeps redis_version", info: "# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.0.1\r\nredis_mode:standalone\r\n",
			want: Match{Service: "redis", Product: "Valkey", Version: "8.0.1", Info: "standalone", Method: "native:redis", Certain: true, Evidence: "valkey_version:8.0.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := redisJudgePing(redisReply{Kind: '+', Text: "PONG"})
			if !ok {
				t.Fatal("PONG not judged as redis")
			}
			redisApplyInfo(&m, parseRedisInfo(tt.info))
			if diff := cmp.Diff(tt.want, m); diff != "" {
				t.Errorf("match (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRedisJudgePing(t *testing.T) {
	tests := []struct {
		name   string
		reply  redisReply
		wantOK bool
		info   string
	}{
		{name: "pong", reply: redisReply{Kind: '+', Text: "PONG"}, wantOK: true},
		{name: "noauth", reply: redisReply{Kind: '-', Text: "NOAUTH Authentication required."}, wantOK: true, info: "authentication required"},
		{name: "protected mode", reply: redisReply{Kind: '-', Text: "DENIED Redis is running in protected mode because protected mode is enabled"}, wantOK: true, info: "protected mode"},
		{name: "generic error is not enough", reply: redisReply{Kind: '-', Text: "ERR unknown command"}},
		{name: "other simple string", reply: redisReply{Kind: '+', Text: "OK"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := redisJudgePing(tt.reply)
			if ok != tt.wantOK || m.Info != tt.info {
				t.Errorf("got (%+v, %v), want ok %v info %q", m, ok, tt.wantOK, tt.info)
			}
		})
	}
}

func TestRedisBanner(t *testing.T) {
	m, ok := redisBanner([]byte("-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user.\r\n"))
	if !ok || m.Service != "redis" || !m.Certain {
		t.Errorf("protected-mode banner: got (%+v, %v)", m, ok)
	}
	if _, ok := redisBanner([]byte("SSH-2.0-OpenSSH_9.2p1\r\n")); ok {
		t.Error("ssh banner judged as redis")
	}
}

func TestRedisProbe(t *testing.T) {
	line := func(b []byte) (int, error) { return frameLine(b) }
	tests := []struct {
		name  string
		steps []binStep
		want  Match
	}{
		{
			name: "open server answers PING then INFO",
			steps: []binStep{
				{frame: line, check: wantBytes("PING\r\n"), reply: fixed(readTestdata(t, "redis-7.0.15-pong.resp"))},
				{frame: line, check: wantBytes("INFO server\r\n"), reply: fixed(readTestdata(t, "redis-7.0.15-info.resp"))},
			},
			want: Match{Service: "redis", Product: "Redis key-value store", Version: "7.0.15", Info: "standalone; Linux 6.18.44-fc-v669 x86_64", Method: "native:redis", Certain: true, Evidence: "redis_version:7.0.15"},
		},
		{
			name:  "password-protected server still names itself",
			steps: []binStep{{frame: line, check: wantBytes("PING\r\n"), reply: fixed(readTestdata(t, "redis-7.0.15-noauth.resp"))}},
			want:  Match{Service: "redis", Product: "Redis key-value store", Info: "authentication required", Method: "native:redis", Certain: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := binServeTCP(t, tt.steps...)
			m, ok, err := binProbe(t, "tcp", addr, 5*time.Second, redisProbe)
			if err != nil || !ok {
				t.Fatalf("probe: ok %v err %v", ok, err)
			}
			if diff := cmp.Diff(tt.want, m); diff != "" {
				t.Errorf("match (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRedisProbeNotRedis(t *testing.T) {
	addr := binServeTCP(t, binStep{frame: frameLine, reply: fixed([]byte("500 Syntax error, command unrecognized\r\n"))})
	if m, ok, _ := binProbe(t, "tcp", addr, 5*time.Second, redisProbe); ok {
		t.Errorf("an SMTP-like reply was judged as redis: %+v", m)
	}
}

// wantBytes checks that a request is exactly want.
func wantBytes(want string) func([]byte) error {
	return func(req []byte) error {
		if !bytes.Equal(req, []byte(want)) {
			return errors.New("want " + want)
		}
		return nil
	}
}

func FuzzParseRedisReply(f *testing.F) {
	addTestdataSeeds(f, "redis-7.0.15-pong.resp", "redis-7.0.15-noauth.resp", "redis-7.0.15-info.resp")
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRedisReply(b)
		if err != nil {
			return
		}
		if len(r.Text) > len(b) {
			t.Fatalf("text longer than input: %d > %d", len(r.Text), len(b))
		}
		if r.Kind == '$' {
			_ = parseRedisInfo(r.Text)
		}
	})
}
