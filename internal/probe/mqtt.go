package probe

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
)

// MQTT: a CONNECT (v3.1.1, clean session, no credentials, a random client
// id so no existing session is touched) answered by CONNACK, then an
// immediate DISCONNECT so the broker publishes no will and keeps nothing.

func mqttProtocol() Protocol {
	return Protocol{
		Name:      "mqtt",
		Transport: "tcp",
		Ports:     []uint16{1883},
		Wave:      2,
		Probe:     mqttProbe,
	}
}

// mqttConnAck is a decoded CONNACK.
type mqttConnAck struct {
	SessionPresent bool
	ReturnCode     byte
}

func mqttProbe(ctx context.Context, c net.Conn) (Match, bool, error) {
	defer withCtx(ctx, c)()
	id := "portwho-" + hex.EncodeToString(binary.BigEndian.AppendUint32(nil, randomUint32()))
	if _, err := c.Write(mqttConnect(id)); err != nil {
		return Match{}, false, fmt.Errorf("mqtt: send connect: %w", err)
	}
	raw, err := readFramed(c, frameExact(4))
	if err != nil {
		return Match{}, false, fmt.Errorf("mqtt: read connack: %w", err)
	}
	ack, err := parseMQTTConnAck(raw)
	if err != nil {
		return Match{}, false, nil
	}
	if ack.ReturnCode == 0 {
		_, _ = c.Write([]byte{0xe0, 0x00}) // DISCONNECT; best effort
	}
	return mqttMatch(ack), true, nil
}

// mqttConnect builds a v3.1.1 CONNECT with clean session and keep-alive 10s.
func mqttConnect(clientID string) []byte {
	body := []byte{0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 10}
	body = append(body, byte(len(clientID)>>8), byte(len(clientID)))
	body = append(body, clientID...)
	// remaining length < 128 fits one byte
	return append([]byte{0x10, byte(len(body))}, body...)
}

func mqttMatch(ack mqttConnAck) Match {
	m := Match{Service: "mqtt", Method: "native:mqtt", Certain: true}
	switch ack.ReturnCode {
	case 0:
		m.Info = "anonymous connect accepted"
	case 1:
		m.Info = "protocol 3.1.1 refused"
	case 2:
		m.Info = "client id rejected"
	case 3:
		m.Info = "server unavailable"
	case 4, 5:
		m.Info = "authentication required"
	}
	return m
}

// parseMQTTConnAck decodes the 4-byte CONNACK of MQTT 3.1/3.1.1.
func parseMQTTConnAck(b []byte) (mqttConnAck, error) {
	if len(b) != 4 {
		return mqttConnAck{}, fmt.Errorf("connack is 4 bytes, have %d", len(b))
	}
	if b[0] != 0x20 || b[1] != 0x02 {
		return mqttConnAck{}, errors.New("not an mqtt connack")
	}
	if b[2]&^1 != 0 {
		return mqttConnAck{}, errors.New("reserved connack flags set")
	}
	if b[3] > 5 {
		return mqttConnAck{}, fmt.Errorf("unknown connack return code %d", b[3])
	}
	return mqttConnAck{SessionPresent: b[2] == 1, ReturnCode: b[3]}, nil
}
