package probe

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseSNMPReply(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    snmpReply
		wantErr bool
	}{
		{name: "net-snmp 5.9.3 v2c response", in: readTestdata(t, "net-snmp-5.9.3-v2c.bin"),
			want: snmpReply{Version: 1, RequestID: 0x1234, PDU: snmpResponse, Vars: map[string]string{
				oidSysDescr:    "Linux vm 6.18.44-fc-v669 #1 SMP PREEMPT_DYNAMIC @0 x86_64",
				oidSysObjectID: "1.3.6.1.4.1.8072.3.2.10",
			}}},
		{name: "net-snmp 5.9.3 v3 discovery report", in: readTestdata(t, "net-snmp-5.9.3-v3report.bin"),
			want: snmpReply{Version: 3, RequestID: 0x5678, PDU: snmpReport,
				Vars:     map[string]string{}, // the usmStats counter is neither text nor an OID
				EngineID: []byte{0x80, 0x00, 0x1f, 0x88, 0x80, 0xf4, 0xc5, 0xdc, 0x26, 0xdf, 0x7a, 0x0c, 0x6b, 0, 0, 0, 0}}},
		{name: "our own request is not a response", in: snmpV2cGet(1), wantErr: true},
		{name: "truncated", in: readTestdata(t, "net-snmp-5.9.3-v2c.bin")[:60], wantErr: true},
		{name: "dns", in: readTestdata(t, "dnsmasq-2.90-version-bind.bin"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSNMPReply(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
		})
	}
}

// snmpdFake answers like net-snmp 5.9.3 with "rocommunity public": the
// captured v2c response and v3 report, with the request ids patched in.
// publicAllowed=false models an agent where "public" is not configured:
// it drops the v2c request and answers only the v3 discovery.
func snmpdFake(t *testing.T, publicAllowed bool) func([]byte) [][]byte {
	v2 := readTestdata(t, "net-snmp-5.9.3-v2c.bin")
	v3 := readTestdata(t, "net-snmp-5.9.3-v3report.bin")
	return func(q []byte) [][]byte {
		r, err := snmpParseRequest(q)
		if err != nil {
			t.Errorf("bad snmp request %x: %v", q, err)
			return nil
		}
		switch r.version {
		case snmpV2c:
			if r.community != "public" || !publicAllowed {
				return nil
			}
			return [][]byte{snmpWithID(t, v2, r.id, false)}
		case snmpV3:
			return [][]byte{snmpWithID(t, v3, r.id, true)}
		}
		return nil
	}
}

// snmpWithID re-encodes a captured message with another request id (v2c:
// the PDU's request-id; v3: msgID), keeping every other element as it was.
func snmpWithID(t *testing.T, captured []byte, id uint32, v3 bool) []byte {
	msg, _, err := berExpect(captured, berSequence)
	if err != nil {
		t.Fatal(err)
	}
	var parts []berElement
	for p := msg.Content; len(p) > 0; {
		e, rest, err := berNext(p)
		if err != nil {
			t.Fatal(err)
		}
		parts, p = append(parts, e), rest
	}
	// v2c: version, community, PDU; v3: version, global data, security, scoped PDU.
	target := parts[2]
	if v3 {
		target = parts[1]
	}
	_, rest, err := berExpect(target.Content, berInteger)
	if err != nil {
		t.Fatal(err)
	}
	patched := berTLV(target.Tag, berInt(berInteger, id), rest)
	var out [][]byte
	for _, e := range parts {
		if e.Tag == target.Tag && bytes.Equal(e.Content, target.Content) {
			out = append(out, patched)
			continue
		}
		out = append(out, berTLV(e.Tag, e.Content))
	}
	return berTLV(berSequence, out...)
}

type snmpRequest struct {
	version   int64
	community string
	id        uint32
}

// snmpParseRequest reads the fields the fake needs and checks the request
// is a GET, never a SET.
func snmpParseRequest(q []byte) (snmpRequest, error) {
	var r snmpRequest
	msg, _, err := berExpect(q, berSequence)
	if err != nil {
		return r, err
	}
	v, rest, err := berExpect(msg.Content, berInteger)
	if err != nil {
		return r, err
	}
	r.version, _ = berIntValue(v.Content)
	var pdu berElement
	if r.version == snmpV2c {
		c, rest2, err := berExpect(rest, berOctetString)
		if err != nil {
			return r, err
		}
		r.community = string(c.Content)
		if pdu, _, err = berExpect(rest2, snmpGetRequest); err != nil {
			return r, err
		}
		id, _, err := berExpect(pdu.Content, berInteger)
		if err != nil {
			return r, err
		}
		n, _ := berIntValue(id.Content)
		r.id = uint32(n)
		return r, nil
	}
	global, rest, err := berExpect(rest, berSequence)
	if err != nil {
		return r, err
	}
	id, _, err := berExpect(global.Content, berInteger)
	if err != nil {
		return r, err
	}
	n, _ := berIntValue(id.Content)
	r.id = uint32(n)
	if _, rest, err = berExpect(rest, berOctetString); err != nil {
		return r, err
	}
	scoped, _, err := berExpect(rest, berSequence)
	if err != nil {
		return r, err
	}
	if !bytes.Contains(scoped.Content, []byte{snmpGetRequest}) {
		return r, err
	}
	return r, nil
}

func TestSnmpProbe(t *testing.T) {
	tests := []struct {
		name   string
		public bool
		want   Match
	}{
		{name: "public community allowed", public: true,
			want: Match{Service: "snmp", Product: "net-snmp", Method: "native:snmp", Certain: true,
				// The v2c answer comes first and is enough: the probe does not
				// wait for the v3 report then.
				Info:     "SNMPv2c public; Linux vm 6.18.44-fc-v669 #1 SMP PREEMPT_DYNAMIC @0 x86_64",
				Evidence: "Linux vm 6.18.44-fc-v669 #1 SMP PREEMPT_DYNAMIC @0 x86_64"}},
		{name: "public refused, v3 engine id still names net-snmp", public: false,
			want: Match{Service: "snmp", Product: "net-snmp", Method: "native:snmp", Certain: true,
				Info: "SNMPv3 engine 80001f8880f4c5dc26df7a0c6b00000000"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := binServeUDP(t, snmpdFake(t, tt.public))
			m, ok, err := binProbe(t, "udp", addr, 5*time.Second, snmpProbe)
			if err != nil || !ok {
				t.Fatalf("probe: ok %v err %v", ok, err)
			}
			if diff := cmp.Diff(tt.want, m); diff != "" {
				t.Errorf("match (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSnmpProbeNoAnswer(t *testing.T) {
	addr := binServeUDP(t, func([]byte) [][]byte { return nil })
	if _, ok, err := binProbe(t, "udp", addr, 200*time.Millisecond, snmpProbe); ok || !isTimeoutErr(err) {
		t.Errorf("silent agent: ok %v err %v, want a timeout", ok, err)
	}
}

func TestBEROID(t *testing.T) {
	for _, oid := range []string{oidSysDescr, "1.3.6.1.4.1.8072.3.2.10", "2.999.1", "1.3.6.1.4.1.4294967295"} {
		e, _, err := berExpect(berOIDBytes(oid), berOID)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := berOIDString(e.Content); err != nil || got != oid {
			t.Errorf("round trip of %s: got %q, %v", oid, got, err)
		}
	}
}

func FuzzParseSNMPReply(f *testing.F) {
	addTestdataSeeds(f, "net-snmp-5.9.3-v2c.bin", "net-snmp-5.9.3-v3report.bin")
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseSNMPReply(b)
		if err != nil {
			return
		}
		_ = snmpMatch(&r, &r)
	})
}
