package probe

import (
	"bufio"
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseMQTTConnAck(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    mqttConnAck
		wantErr bool
	}{
		{name: "mosquitto 2.0 accepts anonymous", in: readTestdata(t, "mosquitto-2.0-connack.bin"), want: mqttConnAck{}},
		{name: "not authorized", in: []byte{0x20, 2, 0, 5}, want: mqttConnAck{ReturnCode: 5}},
		{name: "session present", in: []byte{0x20, 2, 1, 0}, want: mqttConnAck{SessionPresent: true}},
		{name: "unknown code", in: []byte{0x20, 2, 0, 6}, wantErr: true},
		{name: "reserved flags", in: []byte{0x20, 2, 2, 0}, wantErr: true},
		{name: "not connack", in: []byte("HTTP"), wantErr: true},
		{name: "short", in: []byte{0x20, 2}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMQTTConnAck(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got (%+v, %v), want (%+v, err %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// mqttCheckConnect checks a CONNECT is v3.1.1 with clean session, no
// credentials and a client id of ours.
func mqttCheckConnect(req []byte) error {
	if len(req) < 14 || req[0] != 0x10 || int(req[1]) != len(req)-2 {
		return errors.New("not a CONNECT")
	}
	if !bytes.Equal(req[2:10], []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02}) {
		return errors.New("want MQTT 3.1.1, clean session, no username, password or will")
	}
	if !bytes.HasPrefix(req[14:], []byte("portwho-")) {
		return errors.New("client id")
	}
	return nil
}

// mqttSysReply is what mosquitto 2.0.11 answers to our SUBSCRIBE: SUBACK
// (packet id 1, QoS 0 granted) and the retained $SYS/broker/version PUBLISH,
// in one segment, as a broker writes them.
func mqttSysReply(payload string) []byte {
	topic := "$SYS/broker/version"
	pub := append([]byte{0, byte(len(topic))}, topic...)
	pub = append(pub, payload...)
	out := []byte{0x90, 3, 0, 1, 0}
	out = append(out, 0x31, byte(len(pub))) // PUBLISH, retained, QoS 0
	return append(out, pub...)
}

// mqttCheckSubscribe checks the one SUBSCRIBE the probe may send: packet
// id 1, $SYS/broker/version, QoS 0.
func mqttCheckSubscribe(req []byte) error {
	want := append([]byte{0x82, 24, 0, 1, 0, 19}, "$SYS/broker/version"...)
	if !bytes.Equal(req, append(want, 0)) {
		return errors.New("want SUBSCRIBE $SYS/broker/version QoS 0, packet id 1")
	}
	return nil
}

func TestMqttProbe(t *testing.T) {
	tests := []struct {
		name   string
		suback []byte
		want   Match
	}{
		{
			name:   "broker publishes its version",
			suback: mqttSysReply("mosquitto version 2.0.11"),
			want:   Match{Service: "mqtt", Info: "anonymous connect accepted", Method: "native:mqtt", Certain: true, Evidence: "mosquitto version 2.0.11"},
		},
		{
			name:   "subscription refused",
			suback: []byte{0x90, 3, 0, 1, 0x80},
			want:   Match{Service: "mqtt", Info: "anonymous connect accepted", Method: "native:mqtt", Certain: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			disconnect := make(chan []byte, 1)
			addr := binServeTCP(t,
				binStep{frame: frameMQTTConnect, check: mqttCheckConnect, reply: fixed(readTestdata(t, "mosquitto-2.0-connack.bin"))},
				binStep{frame: frameMQTTConnect, check: mqttCheckSubscribe, reply: fixed(tt.suback)},
				binStep{frame: frameExact(2), check: func(req []byte) error { disconnect <- req; return nil }},
			)
			m, ok, err := binProbe(t, "tcp", addr, 5*time.Second, mqttProbe)
			if err != nil || !ok {
				t.Fatalf("probe: ok %v err %v", ok, err)
			}
			if diff := cmp.Diff(tt.want, m); diff != "" {
				t.Errorf("match (-want +got):\n%s", diff)
			}
			if got := <-disconnect; !bytes.Equal(got, []byte{0xe0, 0}) {
				t.Errorf("after the SUBSCRIBE the probe sent %x, want DISCONNECT e000", got)
			}
		})
	}
}

// A broker that never answers the SUBSCRIBE still gets identified, within
// the short $SYS wait rather than the whole deadline.
func TestMqttProbeSilentSys(t *testing.T) {
	addr := binServeTCP(t,
		binStep{frame: frameMQTTConnect, check: mqttCheckConnect, reply: fixed(readTestdata(t, "mosquitto-2.0-connack.bin"))},
	)
	m, ok, err := binProbe(t, "tcp", addr, 30*time.Second, mqttProbe)
	if err != nil || !ok || m.Service != "mqtt" || m.Evidence != "" {
		t.Fatalf("got %+v ok %v err %v", m, ok, err)
	}
}

func TestMqttSignatureNamesMosquitto(t *testing.T) {
	sigs, err := DefaultSignatures()
	if err != nil {
		t.Fatal(err)
	}
	sm, ok := sigs.Match("mqtt", "mosquitto version 2.0.11")
	if !ok || sm.Product != "Mosquitto" || sm.Version != "2.0.11" {
		t.Fatalf("signature match = %+v, %v", sm, ok)
	}
}

func FuzzReadMQTTPacket(f *testing.F) {
	f.Add(mqttSysReply("mosquitto version 2.0.11"))
	f.Add([]byte{0x30, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		br := bufio.NewReader(bytes.NewReader(b))
		for range 4 {
			typ, body, err := readMQTTPacket(br)
			if err != nil {
				return
			}
			if len(body) > mqttMaxPacket {
				t.Fatalf("body of %d bytes over the cap", len(body))
			}
			parseMQTTPublish(typ, body)
		}
	})
}

func frameMQTTConnect(b []byte) (int, error) {
	if len(b) < 2 {
		return 0, errNeedMore
	}
	return 2 + int(b[1]), nil
}

func FuzzParseMQTTConnAck(f *testing.F) {
	addTestdataSeeds(f, "mosquitto-2.0-connack.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := parseMQTTConnAck(b); err == nil && (len(b) != 4 || b[0] != 0x20) {
			t.Fatalf("accepted %x", b)
		}
	})
}
