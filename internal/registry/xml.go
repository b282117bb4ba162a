// The reader for IANA's service-names-port-numbers.xml. It is used by the
// generator (trusted input) and by `portwho registry update` (a download), so
// it treats its input as hostile: it never panics, bounds every count and
// rejects what it does not understand with an error.

package registry

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Snapshot is a whole registry as read from IANA's XML.
type Snapshot struct {
	// Updated is the registry's own date ("2025-12-15").
	Updated string
	// Entries are in the XML's order.
	Entries []Entry
}

// maxXMLRecords bounds a hostile file that would otherwise make the reader
// allocate without limit; the real registry has about 14,500 records.
const maxXMLRecords = 200_000

type rawRecord struct {
	e          Entry
	assigneeID string
	contactIDs []string
	footnotes  []string
}

// ParseXML reads IANA's service-names-port-numbers.xml.
func ParseXML(r io.Reader) (*Snapshot, error) {
	d := xml.NewDecoder(r)
	d.Strict = true
	var (
		snap      Snapshot
		raws      []rawRecord
		people    = map[string]Person{}
		footnotes = map[string]string{}
		depth     int
		sawRoot   bool
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("parse registry xml: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 1 {
				if t.Name.Local != "registry" {
					return nil, fmt.Errorf("parse registry xml: root element is <%s>, want <registry>", t.Name.Local)
				}
				sawRoot = true
				continue
			}
			if depth != 2 {
				continue
			}
			var err error
			switch t.Name.Local {
			case "updated":
				var s string
				s, err = readText(d)
				if snap.Updated == "" {
					snap.Updated = s
				}
			case "record":
				if len(raws) >= maxXMLRecords {
					return nil, fmt.Errorf("parse registry xml: more than %d records", maxXMLRecords)
				}
				var rr rawRecord
				rr, err = readRecord(d, t)
				if err != nil {
					err = fmt.Errorf("record %d: %w", len(raws)+1, err)
				}
				raws = append(raws, rr)
			case "footnote":
				var s string
				s, err = readText(d)
				footnotes[attr(t, "anchor")] = s
			case "people":
				err = readPeople(d, people)
			default:
				err = d.Skip()
			}
			if err != nil {
				return nil, fmt.Errorf("parse registry xml: %w", err)
			}
			depth-- // the helpers consumed the end element
		case xml.EndElement:
			depth--
		}
	}
	if !sawRoot {
		return nil, errors.New("parse registry xml: no <registry> element")
	}
	if depth != 0 {
		return nil, errors.New("parse registry xml: truncated document")
	}
	snap.Entries = make([]Entry, len(raws))
	for i := range raws {
		rr := &raws[i]
		e := rr.e
		for _, id := range rr.contactIDs {
			e.Contact = append(e.Contact, resolve(people, id))
		}
		switch {
		case rr.assigneeID != "":
			p := resolve(people, rr.assigneeID)
			e.Assignee = &p
		case len(e.Contact) > 0:
			p := e.Contact[0]
			e.Assignee = &p
		}
		for _, fn := range rr.footnotes {
			if s, ok := footnotes[fn]; ok && s != "" {
				e.Notes = append(e.Notes, s)
			}
		}
		snap.Entries[i] = e
	}
	return &snap, nil
}

// resolve finds a person by id; an id missing from <people> still names
// someone, so it is kept as the label.
func resolve(people map[string]Person, id string) Person {
	if p, ok := people[id]; ok {
		return p
	}
	return Person{ID: id}
}

func attr(t xml.StartElement, name string) string {
	for _, a := range t.Attr {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func readRecord(d *xml.Decoder, start xml.StartElement) (rawRecord, error) {
	var rr rawRecord
	rr.e.Registered = attr(start, "date")
	rr.e.Modified = attr(start, "updated")
	for {
		tok, err := d.Token()
		if err != nil {
			return rr, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return rr, nil
		case xml.StartElement:
			var s string
			switch t.Name.Local {
			case "name":
				s, err = readText(d)
				rr.e.Service = s
			case "protocol":
				s, err = readText(d)
				rr.e.Protocol = strings.ToLower(s)
			case "description":
				s, err = readText(d)
				rr.e.Description = s
			case "number":
				s, err = readText(d)
				if err == nil {
					err = setPorts(&rr.e, s)
				}
			case "note":
				s, err = readText(d)
				if s != "" {
					rr.e.Notes = append(rr.e.Notes, s)
				}
			case "unauthorized":
				s, err = readText(d)
				rr.e.Unauthorized = s
			case "sc":
				s, err = readText(d)
				rr.e.ServiceCode = s
			case "assignee":
				err = readAssignee(d, &rr)
			case "xref":
				err = readXref(d, t, &rr)
			default:
				err = d.Skip()
			}
			if err != nil {
				return rr, err
			}
		}
	}
}

func readAssignee(d *xml.Decoder, rr *rawRecord) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			if t.Name.Local == "xref" && attr(t, "type") == "person" && rr.assigneeID == "" {
				rr.assigneeID = attr(t, "data")
			}
			if err := d.Skip(); err != nil {
				return err
			}
		}
	}
}

func readXref(d *xml.Decoder, t xml.StartElement, rr *rawRecord) error {
	typ, data := attr(t, "type"), attr(t, "data")
	text, err := readText(d)
	if err != nil {
		return err
	}
	switch typ {
	case "person":
		rr.contactIDs = append(rr.contactIDs, data)
	case "note":
		rr.footnotes = append(rr.footnotes, data)
	default:
		if typ == "draft" && strings.HasPrefix(data, "RFC-") {
			// IANA names a draft in the RFC Editor's queue "RFC-ietf-...";
			// the datatracker knows it by its draft name.
			data = "draft-" + strings.TrimPrefix(data, "RFC-")
		}
		rr.e.References = append(rr.e.References, Reference{
			Type: typ, Data: data, Text: text, URL: referenceURL(typ, data),
		})
	}
	return nil
}

func readPeople(d *xml.Decoder, people map[string]Person) error {
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			if t.Name.Local != "person" {
				if err := d.Skip(); err != nil {
					return err
				}
				continue
			}
			p, err := readPerson(d, attr(t, "id"))
			if err != nil {
				return err
			}
			if len(people) >= maxXMLRecords {
				return fmt.Errorf("more than %d people", maxXMLRecords)
			}
			people[p.ID] = p
		}
	}
}

func readPerson(d *xml.Decoder, id string) (Person, error) {
	p := Person{ID: id}
	for {
		tok, err := d.Token()
		if err != nil {
			return p, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if len(p.URIs) > 0 {
				p.URI = p.URIs[0]
			}
			if len(p.URIs) < 2 {
				p.URIs = nil
			}
			return p, nil
		case xml.StartElement:
			s, err := readText(d)
			if err != nil {
				return p, err
			}
			switch t.Name.Local {
			case "name":
				p.Name = s
			case "org":
				p.Org = s
			case "uri":
				if s != "" {
					p.URIs = append(p.URIs, s)
				}
			}
		}
	}
}

// setPorts parses "3302" or "225-241".
func setPorts(e *Entry, s string) error {
	lo, hi, isRange := strings.Cut(s, "-")
	a, err := parsePort(lo)
	if err != nil {
		return err
	}
	b := a
	if isRange {
		if b, err = parsePort(hi); err != nil {
			return err
		}
		if b < a {
			return fmt.Errorf("port range %q runs backwards", s)
		}
	}
	e.HasPort, e.Port, e.PortEnd = true, a, b
	return nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 16)
	if err != nil {
		return 0, fmt.Errorf("bad port number %q", s)
	}
	return uint16(n), nil
}

// readText returns the text of the element whose start was just read, up to
// its end. <br/> and paragraph ends become line breaks; other markup keeps
// only its text. Whitespace inside a line is collapsed, because the XML's
// indentation is layout, not content.
func readText(d *xml.Decoder) (string, error) {
	var b strings.Builder
	depth := 1
	for depth > 0 {
		tok, err := d.Token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			if b.Len()+len(t) > 1<<20 {
				return "", errors.New("text longer than 1 MiB")
			}
			b.Write(t)
		case xml.StartElement:
			depth++
			if t.Name.Local == "br" {
				b.WriteString("\n\n")
			}
		case xml.EndElement:
			depth--
			if t.Name.Local == "paragraph" {
				b.WriteString("\n\n")
			}
		}
	}
	return normalizeSpace(b.String()), nil
}

// normalizeSpace collapses whitespace. The XML wraps long text, so a single
// newline is layout and becomes a space; a blank line (which readText makes
// of <br/> and paragraph ends) is a real break and becomes one newline.
func normalizeSpace(s string) string {
	lines := strings.Split(s, "\n")
	out := make([]string, 0, len(lines))
	cur := ""
	for _, ln := range lines {
		ln = strings.Join(strings.Fields(ln), " ")
		if ln == "" {
			if cur != "" {
				out = append(out, cur)
				cur = ""
			}
			continue
		}
		switch {
		case cur == "":
			cur = ln
		case hyphenated(cur):
			// "explicitly-" at the end of a wrapped line continues the word.
			cur += ln
		default:
			cur += " " + ln
		}
	}
	if cur != "" {
		out = append(out, cur)
	}
	return strings.Join(out, "\n")
}

// hyphenated reports a line that ends inside a hyphenated word ("a-").
func hyphenated(s string) bool {
	n := len(s)
	return n >= 2 && s[n-1] == '-' && (s[n-2] >= 'a' && s[n-2] <= 'z' || s[n-2] >= 'A' && s[n-2] <= 'Z')
}

// sortEntries orders entries for the encoded form: records with a port by
// first port (XML order kept within a port), then name-only records.
func sortEntries(es []Entry) []int {
	idx := make([]int, len(es))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		x, y := &es[idx[a]], &es[idx[b]]
		if x.HasPort != y.HasPort {
			return x.HasPort
		}
		return x.Port < y.Port
	})
	return idx
}
