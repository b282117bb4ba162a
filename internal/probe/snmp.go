package probe

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"time"
)

// SNMP over UDP, two read-only requests sent together:
//   - SNMPv2c GET sysDescr.0 and sysObjectID.0 with the public default
//     community "public";
//   - an SNMPv3 engine-discovery GET with no user, which any v3 agent
//     answers with a Report carrying its engine id (whose enterprise
//     number names the implementation) even when "public" is not allowed.
// No SET is ever sent and no other community or user is tried.

const (
	snmpGetRequest = 0xa0
	snmpResponse   = 0xa2
	snmpReport     = 0xa8
	snmpV2c        = 1
	snmpV3         = 3
	oidSysDescr    = "1.3.6.1.2.1.1.1.0"
	oidSysObjectID = "1.3.6.1.2.1.1.2.0"
	netSNMPOIDBase = "1.3.6.1.4.1.8072."
	netSNMPEnterp  = 8072
	snmpGrace      = 250 * time.Millisecond
)

func snmpProtocol() Protocol {
	return Protocol{Name: "snmp", Transport: "udp", Ports: []uint16{161}, Wave: 2, Probe: snmpProbe}
}

// snmpReply is a parsed SNMP response or report.
type snmpReply struct {
	Version     int64
	RequestID   int64 // v2c: PDU request-id; v3: msgID
	PDU         byte
	ErrorStatus int64
	Vars        map[string]string // OID → value (OCTET STRING text or dotted OID)
	EngineID    []byte            // v3 authoritative engine id
}

func snmpProbe(ctx context.Context, c net.Conn) (Match, bool, error) {
	defer withCtx(ctx, c)()
	v2id, v3id := randomUint32()&0x7fffffff, randomUint32()&0x7fffffff
	for _, q := range [][]byte{snmpV2cGet(v2id), snmpV3Discovery(v3id)} {
		if _, err := c.Write(q); err != nil {
			return Match{}, false, fmt.Errorf("snmp: send request: %w", err)
		}
	}
	var v2, v3 *snmpReply
	for v2 == nil {
		d, err := readDatagram(c)
		if err != nil {
			if v3 != nil {
				break // only the v3 report came back in time
			}
			return Match{}, false, fmt.Errorf("snmp: read reply: %w", err)
		}
		r, err := parseSNMPReply(d)
		if err != nil {
			continue
		}
		switch {
		case r.Version == snmpV2c && r.RequestID == int64(v2id) && r.PDU == snmpResponse:
			v2 = &r
		case r.Version == snmpV3 && r.RequestID == int64(v3id) && v3 == nil:
			v3 = &r
			grace := time.Now().Add(snmpGrace)
			if d, ok := ctx.Deadline(); ok && d.Before(grace) {
				grace = d
			}
			if ctx.Err() == nil {
				_ = c.SetReadDeadline(grace)
			}
		}
	}
	return clipMatch(snmpMatch(v2, v3)), true, nil
}

func snmpV2cGet(id uint32) []byte {
	vb := func(oid string) []byte { return berTLV(berSequence, berOIDBytes(oid), berTLV(berNull)) }
	pdu := berTLV(snmpGetRequest, berInt(berInteger, id), berInt(berInteger, 0), berInt(berInteger, 0),
		berTLV(berSequence, vb(oidSysDescr), vb(oidSysObjectID)))
	return berTLV(berSequence, berInt(berInteger, snmpV2c), berTLV(berOctetString, []byte("public")), pdu)
}

// snmpV3Discovery is RFC 3414 section 4's discovery message: noAuthNoPriv,
// reportable, empty engine id and user name, empty GET.
func snmpV3Discovery(id uint32) []byte {
	global := berTLV(berSequence, berInt(berInteger, id), berInt(berInteger, 65507),
		berTLV(berOctetString, []byte{0x04}), berInt(berInteger, 3))
	usm := berTLV(berSequence, berTLV(berOctetString), berInt(berInteger, 0), berInt(berInteger, 0),
		berTLV(berOctetString), berTLV(berOctetString), berTLV(berOctetString))
	scoped := berTLV(berSequence, berTLV(berOctetString), berTLV(berOctetString),
		berTLV(snmpGetRequest, berInt(berInteger, id), berInt(berInteger, 0), berInt(berInteger, 0), berTLV(berSequence)))
	return berTLV(berSequence, berInt(berInteger, snmpV3), global, berTLV(berOctetString, usm), scoped)
}

func snmpMatch(v2, v3 *snmpReply) Match {
	m := Match{Service: "snmp", Method: "native:snmp", Certain: true}
	var info []string
	if v2 != nil {
		info = append(info, "SNMPv2c public")
		if strings.HasPrefix(v2.Vars[oidSysObjectID], netSNMPOIDBase) {
			m.Product = "net-snmp"
		}
		if d := v2.Vars[oidSysDescr]; d != "" {
			info = append(info, d)
			m.Evidence = d // for the signature table when the OID names no product
		}
	}
	if v3 != nil && len(v3.EngineID) > 0 {
		ent, ok := snmpEngineEnterprise(v3.EngineID)
		if ok && ent == netSNMPEnterp {
			m.Product = "net-snmp"
		}
		info = append(info, fmt.Sprintf("SNMPv3 engine %x", v3.EngineID))
	}
	m.Info = strings.Join(info, "; ")
	return m
}

// snmpEngineEnterprise extracts the IANA enterprise number from an RFC 3411
// engine id (first bit set: the rest of the first 4 bytes is the number).
func snmpEngineEnterprise(id []byte) (uint32, bool) {
	if len(id) < 5 || id[0]&0x80 == 0 {
		return 0, false
	}
	return binary.BigEndian.Uint32(id) &^ 0x80000000, true
}

// parseSNMPReply decodes a v1/v2c message or a v3 noAuthNoPriv message.
func parseSNMPReply(b []byte) (snmpReply, error) {
	var r snmpReply
	msg, _, err := berExpect(b, berSequence)
	if err != nil {
		return r, fmt.Errorf("snmp: %w", err)
	}
	ver, rest, err := berExpect(msg.Content, berInteger)
	if err != nil {
		return r, fmt.Errorf("snmp version: %w", err)
	}
	if r.Version, err = berIntValue(ver.Content); err != nil {
		return r, err
	}
	switch r.Version {
	case 0, snmpV2c:
		if _, rest, err = berExpect(rest, berOctetString); err != nil {
			return r, fmt.Errorf("snmp community: %w", err)
		}
		pdu, _, err := berNext(rest)
		if err != nil {
			return r, fmt.Errorf("snmp pdu: %w", err)
		}
		return r, snmpPDU(pdu, &r, true)
	case snmpV3:
		global, rest, err := berExpect(rest, berSequence)
		if err != nil {
			return r, fmt.Errorf("snmp v3 header: %w", err)
		}
		id, _, err := berExpect(global.Content, berInteger)
		if err != nil {
			return r, fmt.Errorf("snmp v3 msgID: %w", err)
		}
		if r.RequestID, err = berIntValue(id.Content); err != nil {
			return r, err
		}
		sec, rest, err := berExpect(rest, berOctetString)
		if err != nil {
			return r, fmt.Errorf("snmp v3 security parameters: %w", err)
		}
		usm, _, err := berExpect(sec.Content, berSequence)
		if err != nil {
			return r, fmt.Errorf("snmp usm: %w", err)
		}
		eng, _, err := berExpect(usm.Content, berOctetString)
		if err != nil {
			return r, fmt.Errorf("snmp engine id: %w", err)
		}
		r.EngineID = eng.Content
		scoped, _, err := berExpect(rest, berSequence)
		if err != nil {
			return r, fmt.Errorf("snmp v3 scoped pdu (encrypted?): %w", err)
		}
		_, p, err := berExpect(scoped.Content, berOctetString) // contextEngineID
		if err == nil {
			_, p, err = berExpect(p, berOctetString) // contextName
		}
		if err != nil {
			return r, fmt.Errorf("snmp v3 context: %w", err)
		}
		pdu, _, err := berNext(p)
		if err != nil {
			return r, fmt.Errorf("snmp v3 pdu: %w", err)
		}
		return r, snmpPDU(pdu, &r, false)
	}
	return r, fmt.Errorf("snmp version %d", r.Version)
}

// snmpPDU decodes a Response or Report PDU; keepID says whether the PDU's
// request-id is the one to match (v1/v2c) or the v3 msgID already is.
func snmpPDU(pdu berElement, r *snmpReply, keepID bool) error {
	if pdu.Tag != snmpResponse && pdu.Tag != snmpReport {
		return fmt.Errorf("snmp pdu type 0x%02x is not a response", pdu.Tag)
	}
	r.PDU = pdu.Tag
	id, rest, err := berExpect(pdu.Content, berInteger)
	if err != nil {
		return fmt.Errorf("snmp request-id: %w", err)
	}
	if keepID {
		if r.RequestID, err = berIntValue(id.Content); err != nil {
			return err
		}
	}
	es, rest, err := berExpect(rest, berInteger)
	if err != nil {
		return fmt.Errorf("snmp error-status: %w", err)
	}
	if r.ErrorStatus, err = berIntValue(es.Content); err != nil {
		return err
	}
	if _, rest, err = berExpect(rest, berInteger); err != nil {
		return fmt.Errorf("snmp error-index: %w", err)
	}
	list, _, err := berExpect(rest, berSequence)
	if err != nil {
		return fmt.Errorf("snmp varbinds: %w", err)
	}
	r.Vars = map[string]string{}
	for p := list.Content; len(p) > 0; {
		vb, next, err := berExpect(p, berSequence)
		if err != nil {
			return fmt.Errorf("snmp varbind: %w", err)
		}
		p = next
		oidEl, val, err := berExpect(vb.Content, berOID)
		if err != nil {
			return fmt.Errorf("snmp varbind name: %w", err)
		}
		oid, err := berOIDString(oidEl.Content)
		if err != nil {
			return err
		}
		v, _, err := berNext(val)
		if err != nil {
			return fmt.Errorf("snmp varbind value: %w", err)
		}
		switch v.Tag {
		case berOctetString:
			r.Vars[oid] = string(v.Content)
		case berOID:
			if s, err := berOIDString(v.Content); err == nil {
				r.Vars[oid] = s
			}
		}
	}
	return nil
}
