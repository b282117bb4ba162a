// The compact binary form of a registry: what the generator embeds and what
// `portwho registry update` stores in the cache. It is read in place (no
// decoding at start-up): fixed-size records sorted by port, so a lookup is a
// binary search that decodes only the records it returns.
//
// Layout, little-endian:
//
//	header   magic[8] crc32[4] then u32 fields (see hdr* below)
//	records  nRecords x recordSize bytes:
//	         lo u16, hi u16, flags u8, pad u8,
//	         protocol, service, description, registered, modified (string refs u32),
//	         assignee u32 (person index + 1, 0 = none), extra u32 (offset in extra)
//	people   nPeople x 16 bytes: id, name, org, uris (string refs; uris joined by \n)
//	ranges   per record spanning more than one port: index u32, lo u16, hi u16,
//	         so a port lookup scans this one small table, not the records
//	names    u32 record indexes of named records, sorted by lower-case name
//	extra    per record, uvarints: nContacts, person indexes; nRefs, (type, data,
//	         text) string refs; nNotes, string refs; unauthorized ref; service code ref
//	strings  uvarint length + bytes; ref 0 is the empty string
//
// The crc32 covers everything after it and catches a damaged cache file; the
// accessors are bounds-checked anyway, so a crafted file cannot crash a lookup.

package registry

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"
	"strings"
)

const (
	magic      = "PWIANA\x00\x02"
	recordSize = 34
	personSize = 16
	rangeSize  = 8

	hdrCRC      = 8
	hdrRecords  = 12
	hdrPeople   = 16
	hdrRanges   = 20
	hdrNames    = 24
	hdrUpdated  = 28
	hdrRecOff   = 32
	hdrPeopOff  = 36
	hdrRangeOff = 40
	hdrNameOff  = 44
	hdrExtraOff = 48
	hdrStrOff   = 52
	hdrStrLen   = 56
	headerSize  = 60

	flagHasPort = 1
)

// maxEncoded bounds the size of an encoded registry; the real one is about
// 1 MiB.
const maxEncoded = 64 << 20

type encoder struct {
	strs    []byte
	strIdx  map[string]uint32
	extra   []byte
	extraIx map[string]uint32
	people  []Person
	pIdx    map[string]uint32 // person key -> index
}

func (enc *encoder) str(s string) uint32 {
	if s == "" {
		return 0
	}
	if off, ok := enc.strIdx[s]; ok {
		return off
	}
	off := uint32(len(enc.strs))
	enc.strs = binary.AppendUvarint(enc.strs, uint64(len(s)))
	enc.strs = append(enc.strs, s...)
	enc.strIdx[s] = off
	return off
}

// person interns a person; two records naming the same person share it.
func (enc *encoder) person(p Person) uint32 {
	key := p.ID + "\x00" + p.Name + "\x00" + p.Org + "\x00" + strings.Join(p.uriList(), "\n")
	if i, ok := enc.pIdx[key]; ok {
		return i
	}
	i := uint32(len(enc.people))
	enc.people = append(enc.people, p)
	enc.pIdx[key] = i
	return i
}

func (p Person) uriList() []string {
	if len(p.URIs) > 0 {
		return p.URIs
	}
	if p.URI != "" {
		return []string{p.URI}
	}
	return nil
}

func (enc *encoder) extraFor(e *Entry) uint32 {
	var b []byte
	b = binary.AppendUvarint(b, uint64(len(e.Contact)))
	for _, c := range e.Contact {
		b = binary.AppendUvarint(b, uint64(enc.person(c)))
	}
	b = binary.AppendUvarint(b, uint64(len(e.References)))
	for _, r := range e.References {
		b = binary.AppendUvarint(b, uint64(enc.str(r.Type)))
		b = binary.AppendUvarint(b, uint64(enc.str(r.Data)))
		b = binary.AppendUvarint(b, uint64(enc.str(r.Text)))
	}
	b = binary.AppendUvarint(b, uint64(len(e.Notes)))
	for _, n := range e.Notes {
		b = binary.AppendUvarint(b, uint64(enc.str(n)))
	}
	b = binary.AppendUvarint(b, uint64(enc.str(e.Unauthorized)))
	b = binary.AppendUvarint(b, uint64(enc.str(e.ServiceCode)))
	if off, ok := enc.extraIx[string(b)]; ok {
		return off
	}
	off := uint32(len(enc.extra))
	enc.extra = append(enc.extra, b...)
	enc.extraIx[string(b)] = off
	return off
}

// Encode writes snap in the compact binary form. The output depends only on
// snap, so the generated file is reproducible.
func Encode(snap *Snapshot) ([]byte, error) {
	if len(snap.Entries) > maxXMLRecords {
		return nil, fmt.Errorf("encode registry: %d records is too many", len(snap.Entries))
	}
	enc := &encoder{
		strs:    []byte{0},
		strIdx:  map[string]uint32{},
		extraIx: map[string]uint32{},
		pIdx:    map[string]uint32{},
	}
	order := sortEntries(snap.Entries)
	recs := make([]byte, 0, len(order)*recordSize)
	var ranges, named []uint32
	updated := enc.str(snap.Updated)
	for ri, i := range order {
		e := &snap.Entries[i]
		var r [recordSize]byte
		binary.LittleEndian.PutUint16(r[0:], e.Port)
		binary.LittleEndian.PutUint16(r[2:], e.PortEnd)
		if e.HasPort {
			r[4] = flagHasPort
		}
		binary.LittleEndian.PutUint32(r[6:], enc.str(e.Protocol))
		binary.LittleEndian.PutUint32(r[10:], enc.str(e.Service))
		binary.LittleEndian.PutUint32(r[14:], enc.str(e.Description))
		binary.LittleEndian.PutUint32(r[18:], enc.str(e.Registered))
		binary.LittleEndian.PutUint32(r[22:], enc.str(e.Modified))
		if e.Assignee != nil {
			binary.LittleEndian.PutUint32(r[26:], enc.person(*e.Assignee)+1)
		}
		binary.LittleEndian.PutUint32(r[30:], enc.extraFor(e))
		recs = append(recs, r[:]...)
		if e.HasPort && e.PortEnd > e.Port {
			ranges = append(ranges, uint32(ri))
		}
		if e.Service != "" {
			named = append(named, uint32(ri))
		}
	}
	sort.SliceStable(named, func(a, b int) bool {
		return strings.ToLower(snap.Entries[order[named[a]]].Service) <
			strings.ToLower(snap.Entries[order[named[b]]].Service)
	})
	people := make([]byte, 0, len(enc.people)*personSize)
	for _, p := range enc.people {
		var r [personSize]byte
		binary.LittleEndian.PutUint32(r[0:], enc.str(p.ID))
		binary.LittleEndian.PutUint32(r[4:], enc.str(p.Name))
		binary.LittleEndian.PutUint32(r[8:], enc.str(p.Org))
		binary.LittleEndian.PutUint32(r[12:], enc.str(strings.Join(p.uriList(), "\n")))
		people = append(people, r[:]...)
	}

	out := make([]byte, headerSize)
	copy(out, magic)
	put := func(at int, v int) { binary.LittleEndian.PutUint32(out[at:], uint32(v)) }
	put(hdrRecords, len(order))
	put(hdrPeople, len(enc.people))
	put(hdrRanges, len(ranges))
	put(hdrNames, len(named))
	put(hdrUpdated, int(updated))
	put(hdrRecOff, len(out))
	out = append(out, recs...)
	put(hdrPeopOff, len(out))
	out = append(out, people...)
	put(hdrRangeOff, len(out))
	for _, v := range ranges {
		e := &snap.Entries[order[v]]
		out = binary.LittleEndian.AppendUint32(out, v)
		out = binary.LittleEndian.AppendUint16(out, e.Port)
		out = binary.LittleEndian.AppendUint16(out, e.PortEnd)
	}
	put(hdrNameOff, len(out))
	for _, v := range named {
		out = binary.LittleEndian.AppendUint32(out, v)
	}
	put(hdrExtraOff, len(out))
	out = append(out, enc.extra...)
	put(hdrStrOff, len(out))
	put(hdrStrLen, len(enc.strs))
	out = append(out, enc.strs...)
	if len(out) > maxEncoded {
		return nil, fmt.Errorf("encode registry: %d bytes is too large", len(out))
	}
	binary.LittleEndian.PutUint32(out[hdrCRC:], crc32.ChecksumIEEE(out[hdrCRC+4:]))
	return out, nil
}

// errFormat is wrapped by every decoding failure.
var errFormat = errors.New("not a portwho registry file")

// decode checks the header of an encoded registry and returns a Registry
// reading it in place. verify checks the checksum too (cached files; the
// embedded copy was checked by its tests).
func decode(data string, verify bool) (*Registry, error) {
	if len(data) < headerSize || data[:len(magic)] != magic {
		return nil, fmt.Errorf("%w: bad header", errFormat)
	}
	if len(data) > maxEncoded {
		return nil, fmt.Errorf("%w: too large", errFormat)
	}
	h := &Registry{data: data}
	if verify {
		if crc32.ChecksumIEEE([]byte(data[hdrCRC+4:])) != uint32(h.u32(hdrCRC)) {
			return nil, fmt.Errorf("%w: checksum mismatch", errFormat)
		}
	}
	r := &Registry{
		data:     data,
		nRecords: h.u32(hdrRecords),
		nPeople:  h.u32(hdrPeople),
		nRanges:  h.u32(hdrRanges),
		nNames:   h.u32(hdrNames),
		recOff:   h.u32(hdrRecOff),
		peopOff:  h.u32(hdrPeopOff),
		rangeOff: h.u32(hdrRangeOff),
		nameOff:  h.u32(hdrNameOff),
		extraOff: h.u32(hdrExtraOff),
		strOff:   h.u32(hdrStrOff),
		strLen:   h.u32(hdrStrLen),
	}
	n := len(data)
	sections := []struct{ off, size int }{
		{r.recOff, r.nRecords * recordSize},
		{r.peopOff, r.nPeople * personSize},
		{r.rangeOff, r.nRanges * rangeSize},
		{r.nameOff, r.nNames * 4},
		{r.extraOff, 0},
		{r.strOff, r.strLen},
	}
	for _, s := range sections {
		if s.off < headerSize || s.size < 0 || s.off > n || s.size > n-s.off {
			return nil, fmt.Errorf("%w: section out of bounds", errFormat)
		}
	}
	if r.nRanges > r.nRecords || r.nNames > r.nRecords || r.extraOff > r.strOff {
		return nil, fmt.Errorf("%w: inconsistent counts", errFormat)
	}
	r.updated = r.str(h.u32(hdrUpdated))
	return r, nil
}

// The accessors below never panic on a damaged file: out-of-range offsets
// read as empty.

func (r *Registry) u16(at int) uint16 {
	if at < 0 || at+2 > len(r.data) {
		return 0
	}
	return uint16(r.data[at]) | uint16(r.data[at+1])<<8
}

func (r *Registry) u32(at int) int {
	if at < 0 || at+4 > len(r.data) {
		return 0
	}
	d := r.data[at : at+4]
	return int(uint32(d[0]) | uint32(d[1])<<8 | uint32(d[2])<<16 | uint32(d[3])<<24)
}

// str returns the string at offset off of the string section, sharing the
// registry's memory.
func (r *Registry) str(off int) string {
	if off <= 0 || off >= r.strLen {
		return ""
	}
	base := r.strOff + off
	end := r.strOff + r.strLen
	n, w := uvarint(r.data, base, end)
	if w <= 0 || n > uint64(end-base-w) {
		return ""
	}
	return r.data[base+w : base+w+int(n)]
}

// uvarint reads a uvarint from s[at:end] without converting s to bytes.
func uvarint(s string, at, end int) (uint64, int) {
	var x uint64
	var shift uint
	for i := 0; i < binary.MaxVarintLen64; i++ {
		if at+i >= end || at+i >= len(s) {
			return 0, 0
		}
		c := s[at+i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				return 0, -1
			}
			return x | uint64(c)<<shift, i + 1
		}
		x |= uint64(c&0x7f) << shift
		shift += 7
	}
	return 0, -1
}

// rangeAt returns the record index and bounds of the i-th range record.
func (r *Registry) rangeAt(i int) (idx int, lo, hi uint16) {
	at := r.rangeOff + i*rangeSize
	return r.u32(at), r.u16(at + 4), r.u16(at + 6)
}

func (r *Registry) rec(i int) int { return r.recOff + i*recordSize }

func (r *Registry) recLo(i int) uint16 { return r.u16(r.rec(i)) }
func (r *Registry) recHi(i int) uint16 { return r.u16(r.rec(i) + 2) }
func (r *Registry) recHasPort(i int) bool {
	at := r.rec(i) + 4
	return at < len(r.data) && r.data[at]&flagHasPort != 0
}
func (r *Registry) recProto(i int) string   { return r.str(r.u32(r.rec(i) + 6)) }
func (r *Registry) recService(i int) string { return r.str(r.u32(r.rec(i) + 10)) }

func (r *Registry) person(idx int) Person {
	if idx < 0 || idx >= r.nPeople {
		return Person{}
	}
	at := r.peopOff + idx*personSize
	p := Person{
		ID:   r.str(r.u32(at)),
		Name: r.str(r.u32(at + 4)),
		Org:  r.str(r.u32(at + 8)),
	}
	if uris := r.str(r.u32(at + 12)); uris != "" {
		p.URIs = strings.Split(uris, "\n")
		p.URI = p.URIs[0]
		if len(p.URIs) == 1 {
			p.URIs = nil
		}
	}
	return p
}

// entry decodes record i in full.
func (r *Registry) entry(i int) Entry {
	at := r.rec(i)
	lo, hi := r.recLo(i), r.recHi(i)
	e := Entry{
		Service:     r.str(r.u32(at + 10)),
		Protocol:    r.str(r.u32(at + 6)),
		HasPort:     r.recHasPort(i),
		Description: r.str(r.u32(at + 14)),
		Registered:  r.str(r.u32(at + 18)),
		Modified:    r.str(r.u32(at + 22)),
	}
	if e.HasPort {
		e.Port, e.PortEnd = lo, max(lo, hi)
	}
	if a := r.u32(at + 26); a > 0 && a <= r.nPeople {
		p := r.person(a - 1)
		e.Assignee = &p
	}
	x := r.extra(i)
	// Counts are bounded by what is left of the section, so a crafted count
	// cannot make us loop or allocate without limit.
	for n := x.count(); n > 0; n-- {
		e.Contact = append(e.Contact, r.person(x.next()))
	}
	for n := x.count(); n > 0; n-- {
		typ, data, text := r.str(x.next()), r.str(x.next()), r.str(x.next())
		e.References = append(e.References, Reference{Type: typ, Data: data, Text: text, URL: referenceURL(typ, data)})
	}
	for n := x.count(); n > 0; n-- {
		e.Notes = append(e.Notes, r.str(x.next()))
	}
	e.Unauthorized = r.str(x.next())
	e.ServiceCode = r.str(x.next())
	return e
}

// extraReader walks a record's uvarint-coded extra data.
type extraReader struct {
	data     string
	pos, end int
}

func (r *Registry) extra(i int) extraReader {
	return extraReader{data: r.data, pos: r.extraOff + r.u32(r.rec(i)+30), end: r.strOff}
}

func (x *extraReader) next() int {
	v, w := uvarint(x.data, x.pos, x.end)
	if w <= 0 {
		x.pos = x.end
		return 0
	}
	x.pos += w
	if v > 1<<31 {
		return 0
	}
	return int(v)
}

// count reads a list length, bounded by the bytes left.
func (x *extraReader) count() int { return min(x.next(), x.end-x.pos) }
