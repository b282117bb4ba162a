package probe

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseAMQPStart(t *testing.T) {
	start := readTestdata(t, "rabbitmq-3.10.8-start.bin")
	tests := []struct {
		name    string
		in      []byte
		want    Match
		wantErr bool
	}{
		{name: "rabbitmq 3.10.8 connection.start", in: start,
			want: Match{Service: "amqp", Product: "RabbitMQ", Version: "3.10.8", Info: "AMQP 0-9; Erlang/OTP 25.2.3", Method: "native:amqp", Certain: true}},
		{name: "rabbitmq 3.10.8 answers a header it does not speak with its own", in: readTestdata(t, "rabbitmq-3.10.8-amqp10.bin"),
			want: Match{Service: "amqp", Info: "AMQP 0.9.1 (protocol id 0)", Method: "native:amqp", Certain: true}},
		{name: "amqp 1.0 broker answers with its header", in: readTestdata(t, "amqp-1.0-header.bin"),
			want: Match{Service: "amqp", Info: "AMQP 1.0.0 (protocol id 0)", Method: "native:amqp", Certain: true}},
		{name: "frame end missing", in: append(start[:len(start)-1:len(start)-1], 0), wantErr: true},
		{name: "truncated", in: start[:30], wantErr: true},
		{name: "http", in: []byte("HTTP/1.1 400 Bad Request\r\n"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := parseAMQPStart(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, amqpMatch(s)); diff != "" {
				t.Errorf("match (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAmqpProbe(t *testing.T) {
	addr := binServeTCP(t, binStep{frame: frameExact(8), check: wantBytes(amqpHeader091), reply: fixed(readTestdata(t, "rabbitmq-3.10.8-start.bin"))})
	m, ok, err := binProbe(t, "tcp", addr, 5*time.Second, amqpProbe)
	if err != nil || !ok {
		t.Fatalf("probe: ok %v err %v", ok, err)
	}
	want := Match{Service: "amqp", Product: "RabbitMQ", Version: "3.10.8", Info: "AMQP 0-9; Erlang/OTP 25.2.3", Method: "native:amqp", Certain: true}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("match (-want +got):\n%s", diff)
	}
}

func FuzzParseAMQPStart(f *testing.F) {
	addTestdataSeeds(f, "rabbitmq-3.10.8-start.bin", "rabbitmq-3.10.8-amqp10.bin", "amqp-1.0-header.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseAMQPStart(b)
		if err != nil {
			return
		}
		_ = amqpMatch(s)
	})
}
