package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
)

// SMUX (RFC 1227) is how SNMP subagents plug into a master agent: snmpd
// listens on tcp/199 by default and waits for a subagent's OpenPDU, which
// carries an identity and a password. We send no OpenPDU. We send the one
// PDU a peer may always send, a ClosePDU saying goingDown; an agent that
// was expecting an OpenPDU answers with its own ClosePDU (net-snmp says
// protocolError) and hangs up. Nothing is registered, no credential is
// tried, and the agent is left as it was.

const (
	smuxClosePDU = 0x41 // [APPLICATION 1] IMPLICIT INTEGER
)

// smuxCloseReasons are the ClosePDU reason codes of RFC 1227.
var smuxCloseReasons = []string{"goingDown", "unsupportedVersion", "packetFormat", "protocolError", "internalError", "authenticationFailure"}

// smuxGoingDown is our whole message: ClosePDU, length 1, goingDown (0).
var smuxGoingDown = []byte{smuxClosePDU, 1, 0}

func smuxProtocol() Protocol {
	return Protocol{Name: "smux", Transport: "tcp", Ports: []uint16{199}, Wave: 2, Probe: smuxProbe}
}

func smuxProbe(ctx context.Context, c net.Conn) (Match, bool, error) {
	return askFramed(ctx, c, "smux", smuxGoingDown, frameSMUXClose, parseSMUXClose, func(reason string) Match {
		m := Match{Service: "smux", Method: "native:smux", Certain: true,
			Info: "SNMP multiplexer (RFC 1227); closed with " + reason}
		if reason == "protocolError" {
			// net-snmp's master agent refuses any first PDU but an
			// OpenPDU with protocolError (captured from snmpd 5.9.3);
			// RFC 1227 leaves the reason to the agent.
			m.Product = "net-snmp"
		}
		return m
	})
}

// frameSMUXClose frames the short-form ClosePDU an agent answers with; any
// other first bytes end the read at once.
func frameSMUXClose(b []byte) (int, error) {
	if len(b) < 2 {
		return 0, errNeedMore
	}
	if b[0] != smuxClosePDU || b[1] != 1 {
		return 0, errors.New("smux: not a ClosePDU")
	}
	return 3, nil
}

// parseSMUXClose decodes an agent's ClosePDU into its reason. A goingDown
// reason is refused: it is what we sent, and an echo service would send it
// back.
func parseSMUXClose(b []byte) (string, error) {
	if len(b) != 3 || b[0] != smuxClosePDU || b[1] != 1 {
		return "", fmt.Errorf("smux: %d bytes are not a ClosePDU", len(b))
	}
	r := int(b[2])
	if r == 0 {
		return "", errors.New("smux: goingDown, our own message echoed")
	}
	if r >= len(smuxCloseReasons) {
		return "", fmt.Errorf("smux: unknown close reason %d", r)
	}
	return smuxCloseReasons[r], nil
}
