// Package registry answers what IANA's Service Name and Transport Protocol
// Port Number Registry says about a port or a service name. The data is
// embedded at build time (a compact binary form generated from IANA's XML by
// ./gen) and can be replaced by a newer copy downloaded into the user's cache
// directory. Lookups decode only the records they touch.
package registry

import (
	"encoding/json"
	"strconv"
	"strings"
)

// Person is someone the registry names as assignee or contact, resolved
// from the registry's <people> list.
type Person struct {
	// ID is the registry's key for the person (for example "Patti_Jo_Newsom").
	ID   string `json:"id"`
	Name string `json:"name"`
	Org  string `json:"org"`
	// URI is the first address given, as IANA writes it: mail addresses are
	// "mailto:user&example.com", IANA's way of spelling '@'.
	URI string `json:"uri"`
	// URIs holds every address when the registry gives more than one.
	URIs []string `json:"uris,omitempty"`
}

// Label is the person's most useful one-line name: name, org, or the key.
func (p Person) Label() string {
	switch {
	case p.Name != "" && p.Org != "" && p.Name != p.Org:
		return p.Name + ", " + p.Org
	case p.Name != "":
		return p.Name
	case p.Org != "":
		return p.Org
	}
	return p.ID
}

// Reference is one <xref> of a record that points at a document: an RFC, an
// Internet-Draft, a URI, or free text.
type Reference struct {
	// Type is "rfc", "draft", "uri" or "text".
	Type string `json:"type"`
	// Data is the registry's key: "rfc6335", "draft-ietf-...", a URI.
	Data string `json:"data,omitempty"`
	// Text is the xref's own text, when it has some.
	Text string `json:"text,omitempty"`
	// URL is a link a person can open, derived from Type and Data.
	URL string `json:"url,omitempty"`
}

// referenceURL turns a registry xref into a link: RFCs go to the RFC
// Editor, drafts to the IETF datatracker, URIs are kept as given.
func referenceURL(typ, data string) string {
	switch typ {
	case "rfc":
		d := strings.ToLower(strings.TrimSpace(data))
		if strings.HasPrefix(d, "rfc") && len(d) > 3 {
			return "https://www.rfc-editor.org/rfc/" + d
		}
	case "draft":
		d := strings.TrimSpace(data)
		if d != "" {
			return "https://datatracker.ietf.org/doc/" + d
		}
	case "uri":
		return data
	}
	return ""
}

// Entry is one record of the registry.
type Entry struct {
	// Service is the service name; empty for reserved and unassigned records.
	Service string
	// Protocol is tcp, udp, sctp or dccp; empty when the record covers every
	// transport (reserved and unassigned blocks, some old records).
	Protocol string
	// HasPort is false for name-only records (service names with no port).
	HasPort bool
	// Port and PortEnd bound the record; PortEnd == Port for a single port.
	Port, PortEnd uint16
	Description   string
	// Assignee is the registry's <assignee>, or, for records that name only a
	// contact, that contact (as IANA's own CSV does).
	Assignee *Person
	// Contact lists the people the record names directly.
	Contact    []Person
	Registered string // <record date=...>, "YYYY-MM-DD" or shorter
	Modified   string // <record updated=...>
	References []Reference
	// Notes holds the record's <note> and any footnote it points at.
	Notes []string
	// Unauthorized is the registry's record of known unauthorized use.
	Unauthorized string
	// ServiceCode is the DCCP service code (<sc>), when given.
	ServiceCode string
}

// Covers reports whether the entry's port or range holds port.
func (e *Entry) Covers(port uint16) bool {
	return e.HasPort && e.Port <= port && port <= e.PortEnd
}

// IsRange reports whether the entry spans more than one port.
func (e *Entry) IsRange() bool { return e.HasPort && e.PortEnd > e.Port }

// PortString is "3302", "225-241", or "" for a name-only record.
func (e *Entry) PortString() string {
	if !e.HasPort {
		return ""
	}
	if e.IsRange() {
		return strconv.Itoa(int(e.Port)) + "-" + strconv.Itoa(int(e.PortEnd))
	}
	return strconv.Itoa(int(e.Port))
}

// Range is the port range ("system", "user", "dynamic") of the entry's first
// port, or "" for a name-only record.
func (e *Entry) Range() string {
	if !e.HasPort {
		return ""
	}
	return PortRange(e.Port).Name
}

// entryJSON is the documented JSON form (docs/json.md). Port fields are
// pointers so a name-only record says null rather than a false 0.
type entryJSON struct {
	Service      string      `json:"service"`
	Protocol     string      `json:"protocol"`
	Port         *uint16     `json:"port"`
	PortEnd      *uint16     `json:"port_end"`
	Description  string      `json:"description"`
	Assignee     *Person     `json:"assignee"`
	Contact      []Person    `json:"contact"`
	Registered   string      `json:"registered"`
	Modified     string      `json:"modified"`
	References   []Reference `json:"references"`
	Notes        []string    `json:"notes"`
	Unauthorized string      `json:"unauthorized"`
	ServiceCode  string      `json:"service_code,omitempty"`
	Range        string      `json:"range"`
}

// MarshalJSON writes the documented schema; lists are [] rather than null.
func (e Entry) MarshalJSON() ([]byte, error) {
	j := entryJSON{
		Service:      e.Service,
		Protocol:     e.Protocol,
		Description:  e.Description,
		Assignee:     e.Assignee,
		Contact:      e.Contact,
		Registered:   e.Registered,
		Modified:     e.Modified,
		References:   e.References,
		Notes:        e.Notes,
		Unauthorized: e.Unauthorized,
		ServiceCode:  e.ServiceCode,
		Range:        e.Range(),
	}
	if e.HasPort {
		p, q := e.Port, e.PortEnd
		j.Port, j.PortEnd = &p, &q
	}
	if j.Contact == nil {
		j.Contact = []Person{}
	}
	if j.References == nil {
		j.References = []Reference{}
	}
	if j.Notes == nil {
		j.Notes = []string{}
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON wrote, so JSON consumers written in
// Go (and tests) can round-trip entries.
func (e *Entry) UnmarshalJSON(b []byte) error {
	var j entryJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = Entry{
		Service: j.Service, Protocol: j.Protocol, Description: j.Description,
		Assignee: j.Assignee, Contact: j.Contact, Registered: j.Registered,
		Modified: j.Modified, References: j.References, Notes: j.Notes,
		Unauthorized: j.Unauthorized, ServiceCode: j.ServiceCode,
	}
	if j.Port != nil {
		e.HasPort = true
		e.Port = *j.Port
		e.PortEnd = e.Port
		if j.PortEnd != nil {
			e.PortEnd = *j.PortEnd
		}
	}
	return nil
}

// Range is one of the three port ranges of RFC 6335.
type Range struct {
	Name    string `json:"name"`  // "system", "user", "dynamic"
	Title   string `json:"title"` // "System Port", ...
	Low     uint16 `json:"low"`
	High    uint16 `json:"high"`
	Meaning string `json:"meaning"`
}

// PortRange says which RFC 6335 range port is in and what that means.
func PortRange(port uint16) Range {
	switch {
	case port <= 1023:
		return Range{Name: "system", Title: "System Port", Low: 0, High: 1023,
			Meaning: "assigned by IETF review; binding needs privileges (root or CAP_NET_BIND_SERVICE on Linux)"}
	case port <= 49151:
		return Range{Name: "user", Title: "User Port", Low: 1024, High: 49151,
			Meaning: "registered with IANA, no privileges needed to bind"}
	default:
		return Range{Name: "dynamic", Title: "Dynamic/Private Port", Low: 49152, High: 65535,
			Meaning: "never assigned by IANA; used for ephemeral client ports and private services"}
	}
}
