package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
)

// LDAP: one anonymous search of the root DSE (base "", scope base,
// filter (objectClass=*)), the read that every LDAPv3 server offers
// without a bind. Vendors that fill vendorName/vendorVersion name
// themselves; OpenLDAP and Active Directory are known by their root DSE's
// object class and attributes.

const (
	ldapSearchRequest = 0x63 // [APPLICATION 3], constructed
	ldapSearchEntry   = 0x64 // [APPLICATION 4]
	ldapSearchDone    = 0x65 // [APPLICATION 5]
	ldapSearchRef     = 0x73 // [APPLICATION 19]
	ldapExtendedResp  = 0x78 // [APPLICATION 24], e.g. notice of disconnection
	ldapMessageID     = 1
)

func ldapProtocol() Protocol {
	return Protocol{
		Name:      "ldap",
		Transport: "tcp",
		Ports:     []uint16{389, 3268},
		Wave:      2,
		Probe:     ldapProbe,
	}
}

// ldapRootDSE is what the root DSE search returned.
type ldapRootDSE struct {
	Attributes map[string][]string
	ResultCode int64
	Diagnostic string
	Done       bool // a SearchResultDone (or disconnect notice) was seen
}

func ldapProbe(ctx context.Context, c net.Conn) (Match, bool, error) {
	return askFramed(ctx, c, "ldap", ldapRootDSERequest(), frameLDAPReply, parseLDAPReply, ldapMatch)
}

func ldapRootDSERequest() []byte {
	attrs := [][]byte{}
	for _, a := range []string{"vendorName", "vendorVersion", "objectClass", "namingContexts",
		"supportedLDAPVersion", "domainControllerFunctionality"} {
		attrs = append(attrs, berTLV(berOctetString, []byte(a)))
	}
	search := berTLV(ldapSearchRequest,
		berTLV(berOctetString),              // baseObject ""
		berInt(berEnumerated, 0),            // scope baseObject
		berInt(berEnumerated, 0),            // derefAliases never
		berInt(berInteger, 0),               // sizeLimit
		berInt(berInteger, 5),               // timeLimit, seconds
		[]byte{0x01, 0x01, 0x00},            // typesOnly FALSE
		berTLV(0x87, []byte("objectClass")), // filter: present
		berTLV(berSequence, attrs...),
	)
	return berTLV(berSequence, berInt(berInteger, ldapMessageID), search)
}

func ldapMatch(r ldapRootDSE) Match {
	m := Match{Service: "ldap", Method: "native:ldap", Certain: true}
	first := func(k string) string {
		if v := r.Attributes[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	m.Product, m.Version = first("vendorname"), first("vendorversion")
	switch {
	case m.Product != "":
	case slices.ContainsFunc(r.Attributes["objectclass"], func(s string) bool { return strings.EqualFold(s, "OpenLDAProotDSE") }):
		m.Product = "OpenLDAP"
	case first("domaincontrollerfunctionality") != "":
		m.Product = "Microsoft Windows Active Directory LDAP"
	}
	var info []string
	if nc := r.Attributes["namingcontexts"]; len(nc) > 0 {
		info = append(info, "naming contexts: "+strings.Join(nc, ", "))
	}
	if r.ResultCode != 0 {
		info = append(info, fmt.Sprintf("result %d %s", r.ResultCode, r.Diagnostic))
	}
	m.Info = strings.TrimSpace(strings.Join(info, "; "))
	return m
}

// frameLDAPReply reports the length of the run of complete LDAP messages
// ending with the one that closes the search, so that an entry and its
// SearchResultDone that arrive together are read as one reply.
func frameLDAPReply(b []byte) (int, error) {
	off := 0
	for {
		rest := b[off:]
		n, err := berHeaderLen(rest)
		if err != nil {
			return 0, err
		}
		if len(rest) < n {
			return 0, errNeedMore
		}
		msg, _, err := berExpect(rest, berSequence)
		if err != nil {
			return 0, err
		}
		_, op, err := berExpect(msg.Content, berInteger)
		if err != nil {
			return 0, err
		}
		if len(op) == 0 {
			return 0, errors.New("ldap message without an operation")
		}
		off += n
		if op[0] == ldapSearchDone || op[0] == ldapExtendedResp {
			return off, nil
		}
	}
}

// berHeaderLen returns the total length (header and content) of the
// element starting at b, or errNeedMore when the header is incomplete.
func berHeaderLen(b []byte) (int, error) {
	if len(b) < 2 {
		return 0, errNeedMore
	}
	l := int(b[1])
	if l < 0x80 {
		return 2 + l, nil
	}
	k := l & 0x7f
	if k == 0 || k > 3 {
		return 0, errors.New("ber: unsupported length form")
	}
	if len(b) < 2+k {
		return 0, errNeedMore
	}
	l = 0
	for _, c := range b[2 : 2+k] {
		l = l<<8 | int(c)
	}
	return 2 + k + l, nil
}

// parseLDAPReply decodes the LDAP messages answering the root DSE search.
func parseLDAPReply(b []byte) (ldapRootDSE, error) {
	r := ldapRootDSE{Attributes: map[string][]string{}}
	for len(b) > 0 {
		msg, rest, err := berExpect(b, berSequence)
		if err != nil {
			return r, fmt.Errorf("ldap: %w", err)
		}
		b = rest
		idEl, opb, err := berExpect(msg.Content, berInteger)
		if err != nil {
			return r, fmt.Errorf("ldap message id: %w", err)
		}
		id, err := berIntValue(idEl.Content)
		if err != nil {
			return r, err
		}
		op, _, err := berNext(opb)
		if err != nil {
			return r, fmt.Errorf("ldap operation: %w", err)
		}
		switch {
		case op.Tag == ldapExtendedResp && id == 0:
			if err := ldapResult(op.Content, &r); err != nil {
				return r, err
			}
		case id != ldapMessageID:
			return r, fmt.Errorf("ldap reply to message %d", id)
		case op.Tag == ldapSearchEntry:
			if err := ldapEntry(op.Content, r.Attributes); err != nil {
				return r, err
			}
		case op.Tag == ldapSearchDone:
			if err := ldapResult(op.Content, &r); err != nil {
				return r, err
			}
		case op.Tag == ldapSearchRef:
		default:
			return r, fmt.Errorf("unexpected ldap operation 0x%02x", op.Tag)
		}
	}
	if !r.Done {
		return r, errors.New("ldap search not finished")
	}
	return r, nil
}

// ldapResult decodes an LDAPResult: resultCode, matchedDN, diagnosticMessage.
func ldapResult(c []byte, r *ldapRootDSE) error {
	code, rest, err := berExpect(c, berEnumerated)
	if err != nil {
		return fmt.Errorf("ldap result code: %w", err)
	}
	if r.ResultCode, err = berIntValue(code.Content); err != nil {
		return err
	}
	if _, rest, err = berExpect(rest, berOctetString); err != nil {
		return fmt.Errorf("ldap matched dn: %w", err)
	}
	diag, _, err := berExpect(rest, berOctetString)
	if err != nil {
		return fmt.Errorf("ldap diagnostic: %w", err)
	}
	r.Diagnostic = string(diag.Content)
	r.Done = true
	return nil
}

// ldapEntry decodes a SearchResultEntry's attributes into attrs.
func ldapEntry(c []byte, attrs map[string][]string) error {
	_, rest, err := berExpect(c, berOctetString) // objectName
	if err != nil {
		return fmt.Errorf("ldap entry name: %w", err)
	}
	list, _, err := berExpect(rest, berSequence)
	if err != nil {
		return fmt.Errorf("ldap attribute list: %w", err)
	}
	for p := list.Content; len(p) > 0; {
		attr, next, err := berExpect(p, berSequence)
		if err != nil {
			return fmt.Errorf("ldap attribute: %w", err)
		}
		p = next
		typ, vals, err := berExpect(attr.Content, berOctetString)
		if err != nil {
			return fmt.Errorf("ldap attribute type: %w", err)
		}
		set, _, err := berExpect(vals, berSet)
		if err != nil {
			return fmt.Errorf("ldap attribute values: %w", err)
		}
		// Attribute names are case-insensitive; servers echo them as they like.
		name := strings.ToLower(string(typ.Content))
		for v := set.Content; len(v) > 0; {
			val, next, err := berExpect(v, berOctetString)
			if err != nil {
				return fmt.Errorf("ldap attribute value: %w", err)
			}
			v = next
			attrs[name] = append(attrs[name], string(val.Content))
		}
	}
	return nil
}
