package probe

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// MQTT: a CONNECT (v3.1.1, clean session, no credentials, a random client
// id so no existing session is touched) answered by CONNACK. When the broker
// lets anonymous clients in, one SUBSCRIBE to $SYS/broker/version, which
// brokers such as mosquitto publish as a retained message naming product and
// version; then DISCONNECT. With a clean session the subscription dies with
// the connection, no will is set, and nothing is published: the broker keeps
// nothing of the visit.

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
	m := mqttMatch(ack)
	if ack.ReturnCode == 0 {
		m.Evidence = mqttBrokerVersion(ctx, c)
		_, _ = c.Write([]byte{0xe0, 0x00}) // DISCONNECT; best effort
	}
	return m, true, nil
}

const (
	mqttSysVersionTopic = "$SYS/broker/version"
	// mqttSysWait bounds the wait for the retained message: a broker with
	// no $SYS tree (or one that hides it) simply never publishes.
	mqttSysWait = 400 * time.Millisecond
	// mqttMaxPacket caps one packet's body; a version string is short.
	mqttMaxPacket = 4096
)

// mqttBrokerVersion asks for $SYS/broker/version and returns its payload, or
// "" when the broker refuses, stays silent or answers anything else.
func mqttBrokerVersion(ctx context.Context, c net.Conn) string {
	topic := mqttSysVersionTopic
	body := []byte{0, 1, byte(len(topic) >> 8), byte(len(topic))} // packet id 1
	body = append(body, topic...)
	body = append(body, 0) // QoS 0
	if _, err := c.Write(append([]byte{0x82, byte(len(body))}, body...)); err != nil {
		return ""
	}
	deadline := time.Now().Add(mqttSysWait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = c.SetReadDeadline(deadline)
	br := bufio.NewReaderSize(c, 512)
	for range 4 { // SUBACK, then the retained PUBLISH; tolerate a stray packet
		typ, pkt, err := readMQTTPacket(br)
		if err != nil {
			return ""
		}
		switch typ >> 4 {
		case 9: // SUBACK: packet id, then one return code per topic
			if len(pkt) >= 3 && pkt[2] == 0x80 {
				return "" // subscription refused
			}
		case 3: // PUBLISH
			if t, payload, ok := parseMQTTPublish(typ, pkt); ok && t == topic {
				return string(payload)
			}
		}
	}
	return ""
}

// readMQTTPacket reads one control packet: fixed header, variable-length
// "remaining length", body.
func readMQTTPacket(br *bufio.Reader) (byte, []byte, error) {
	typ, err := br.ReadByte()
	if err != nil {
		return 0, nil, err
	}
	n, mult := 0, 1
	for i := 0; ; i++ {
		b, err := br.ReadByte()
		if err != nil {
			return 0, nil, err
		}
		n += int(b&0x7f) * mult
		if b&0x80 == 0 {
			break
		}
		if i == 3 {
			return 0, nil, errors.New("mqtt: remaining length over 4 bytes")
		}
		mult *= 128
	}
	if n > mqttMaxPacket {
		return 0, nil, errTooLarge
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return 0, nil, err
	}
	return typ, body, nil
}

// parseMQTTPublish splits a PUBLISH body into topic and payload.
func parseMQTTPublish(typ byte, body []byte) (string, []byte, bool) {
	if len(body) < 2 {
		return "", nil, false
	}
	tl := int(binary.BigEndian.Uint16(body))
	rest := body[2:]
	if tl > len(rest) {
		return "", nil, false
	}
	topic, rest := string(rest[:tl]), rest[tl:]
	if (typ>>1)&3 > 0 { // QoS 1 or 2 carry a packet id
		if len(rest) < 2 {
			return "", nil, false
		}
		rest = rest[2:]
	}
	return topic, rest, true
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
