package registry

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

//go:generate go run ./gen -in ../../../shared/data/iana/service-names-port-numbers.xml -out zz_generated_registry.bin

// embedded is the registry snapshot generated from IANA's XML by ./gen. A
// string, so the bytes stay in the binary's read-only data and start-up
// copies nothing.
//
//go:embed zz_generated_registry.bin
var embedded string

// CacheFile is the name of the downloaded registry inside the cache directory.
const CacheFile = "iana-registry.bin"

// Registry is a read-only view of one registry snapshot. It is safe for
// concurrent use.
type Registry struct {
	data    string
	updated string
	source  string

	nRecords, nPeople, nRanges, nNames int
	recOff, peopOff, rangeOff, nameOff int
	extraOff, strOff, strLen           int
}

// Embedded returns the snapshot built into the binary.
func Embedded() *Registry {
	r, err := decode(embedded, false)
	if err != nil {
		// The embedded file is generated and tested; reaching this means
		// the build itself is broken.
		panic("registry: embedded snapshot is damaged: " + err.Error())
	}
	r.source = "embedded"
	return r
}

// Load returns the newer of the embedded snapshot and the copy that
// `portwho registry update` stored under cacheDir. It always returns a
// usable registry; a non-nil error reports a cached copy that exists but
// was ignored because it is damaged or invalid.
func Load(cacheDir string) (*Registry, error) {
	emb := Embedded()
	if cacheDir == "" {
		return emb, nil
	}
	path := filepath.Join(cacheDir, CacheFile)
	date, err := peekUpdated(path)
	if errors.Is(err, os.ErrNotExist) {
		return emb, nil
	}
	if err != nil {
		return emb, fmt.Errorf("ignoring cached registry: %w", err)
	}
	if date <= emb.updated {
		// Not newer: no need to read and check the rest of it.
		return emb, nil
	}
	cached, err := ReadFile(path)
	if err != nil {
		return emb, fmt.Errorf("ignoring cached registry: %w", err)
	}
	return cached, nil
}

// ReadFile reads and validates a registry stored by Install.
func ReadFile(path string) (*Registry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxEncoded+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	r, err := decode(string(b), true)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := Validate(r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	r.source = path
	return r, nil
}

// MinRecords is the least number of records a plausible registry holds; the
// real one has about 14,500.
const MinRecords = 10_000

// Validate checks that r looks like the real registry: enough records, a
// date, and 80/tcp is http.
func Validate(r *Registry) error {
	if r.nRecords < MinRecords {
		return fmt.Errorf("registry has %d records, want at least %d", r.nRecords, MinRecords)
	}
	if !isDate(r.updated) {
		return fmt.Errorf("registry date %q is not YYYY-MM-DD", r.updated)
	}
	for _, e := range r.Port(80, "tcp") {
		if e.Service == "http" {
			return nil
		}
	}
	return errors.New("registry does not list http on 80/tcp")
}

func isDate(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	for i, c := range s {
		if i != 4 && i != 7 && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Updated is the registry's own date, "2025-12-15".
func (r *Registry) Updated() string { return r.updated }

// Source is "embedded" or the path of the cached copy in use.
func (r *Registry) Source() string { return r.source }

// Len is the number of records.
func (r *Registry) Len() int { return r.nRecords }

// protoMatches: a record without a protocol covers every transport.
func protoMatches(recProto, want string) bool {
	return want == "" || recProto == "" || recProto == want
}

// firstAt returns the index of the first record with a port whose first port
// is >= port. Records with a port come first, sorted by first port.
func (r *Registry) firstAt(port uint16) int {
	n := r.portedCount()
	return sort.Search(n, func(i int) bool { return r.recLo(i) >= port })
}

// portedCount is the number of records with a port (they precede the
// name-only ones).
func (r *Registry) portedCount() int {
	return sort.Search(r.nRecords, func(i int) bool { return !r.recHasPort(i) })
}

// Port returns the records for port: the ones on exactly that port and the
// ranges that cover it. proto "" means every protocol; otherwise records
// for that protocol and records that name no protocol.
func (r *Registry) Port(port uint16, proto string) []Entry {
	var out []Entry
	proto = strings.ToLower(proto)
	for i := 0; i < r.nRanges; i++ {
		ri, lo, hi := r.rangeAt(i)
		if ri >= r.nRecords || lo >= port || hi < port {
			continue
		}
		if protoMatches(r.recProto(ri), proto) {
			out = append(out, r.entry(ri))
		}
	}
	for i := r.firstAt(port); i < r.nRecords && r.recHasPort(i) && r.recLo(i) == port; i++ {
		if protoMatches(r.recProto(i), proto) {
			out = append(out, r.entry(i))
		}
	}
	sortEntriesForDisplay(out)
	return out
}

// Between returns the records whose port or range overlaps lo..hi, ordered
// by port, at most limit of them (limit <= 0: no limit). more reports that
// records were left out.
func (r *Registry) Between(lo, hi uint16, proto string, limit int) (out []Entry, more bool) {
	proto = strings.ToLower(proto)
	var idx []int
	for i := 0; i < r.nRanges; i++ {
		ri, rlo, rhi := r.rangeAt(i)
		if ri < r.nRecords && rlo < lo && rhi >= lo && protoMatches(r.recProto(ri), proto) {
			idx = append(idx, ri)
		}
	}
	for i := r.firstAt(lo); i < r.nRecords && r.recHasPort(i) && r.recLo(i) <= hi; i++ {
		if protoMatches(r.recProto(i), proto) {
			idx = append(idx, i)
		}
	}
	if limit > 0 && len(idx) > limit {
		idx, more = idx[:limit], true
	}
	for _, i := range idx {
		out = append(out, r.entry(i))
	}
	return out, more
}

// Name returns the records with service name name (any case), ordered by
// port and protocol.
func (r *Registry) Name(name string) []Entry {
	want := strings.ToLower(strings.TrimSpace(name))
	if want == "" {
		return nil
	}
	nameAt := func(i int) string {
		return strings.ToLower(r.recService(r.u32(r.nameOff + 4*i)))
	}
	var out []Entry
	for i := sort.Search(r.nNames, func(i int) bool { return nameAt(i) >= want }); i < r.nNames && nameAt(i) == want; i++ {
		if ri := r.u32(r.nameOff + 4*i); ri < r.nRecords {
			out = append(out, r.entry(ri))
		}
	}
	sortEntriesForDisplay(out)
	return out
}

// NamesWithPrefix returns up to limit distinct service names starting with
// prefix (any case), in name order: for shell completion.
func (r *Registry) NamesWithPrefix(prefix string, limit int) []string {
	want := strings.ToLower(prefix)
	nameAt := func(i int) string { return r.recService(r.u32(r.nameOff + 4*i)) }
	var out []string
	for i := sort.Search(r.nNames, func(i int) bool { return strings.ToLower(nameAt(i)) >= want }); i < r.nNames && len(out) < limit; i++ {
		n := nameAt(i)
		if !strings.HasPrefix(strings.ToLower(n), want) {
			break
		}
		if len(out) == 0 || !strings.EqualFold(out[len(out)-1], n) {
			out = append(out, n)
		}
	}
	return out
}

// Neighbours returns the nearest records with a service name below and above
// port (all records at the nearest port on each side), for ports that have
// none of their own.
func (r *Registry) Neighbours(port uint16, proto string) (below, above []Entry) {
	proto = strings.ToLower(proto)
	bestBelow, bestAbove := -1, 1<<17
	var bi, ai []int
	for i := 0; i < r.nRecords && r.recHasPort(i); i++ {
		if r.recService(i) == "" || !protoMatches(r.recProto(i), proto) {
			continue
		}
		lo, hi := int(r.recLo(i)), int(r.recHi(i))
		switch {
		case hi < int(port):
			if hi > bestBelow {
				bestBelow, bi = hi, bi[:0]
			}
			if hi == bestBelow {
				bi = append(bi, i)
			}
		case lo > int(port):
			if lo < bestAbove {
				bestAbove, ai = lo, ai[:0]
			}
			if lo == bestAbove {
				ai = append(ai, i)
			}
		}
	}
	for _, i := range bi {
		below = append(below, r.entry(i))
	}
	for _, i := range ai {
		above = append(above, r.entry(i))
	}
	sortEntriesForDisplay(below)
	sortEntriesForDisplay(above)
	return below, above
}

func protoRank(p string) int {
	switch p {
	case "tcp":
		return 0
	case "udp":
		return 1
	case "sctp":
		return 2
	case "dccp":
		return 3
	case "":
		return 4
	}
	return 5
}

// sortEntriesForDisplay orders by port; within a port, services in the
// order the registry lists them, each as tcp, udp, sctp, dccp, none.
func sortEntriesForDisplay(es []Entry) {
	first := map[string]int{}
	for i, e := range es {
		if _, ok := first[e.Service]; !ok {
			first[e.Service] = i
		}
	}
	sort.SliceStable(es, func(a, b int) bool {
		x, y := &es[a], &es[b]
		if x.HasPort != y.HasPort {
			return x.HasPort
		}
		if x.Port != y.Port {
			return x.Port < y.Port
		}
		if x.PortEnd != y.PortEnd {
			return x.PortEnd < y.PortEnd
		}
		if fx, fy := first[x.Service], first[y.Service]; fx != fy {
			return fx < fy
		}
		return protoRank(x.Protocol) < protoRank(y.Protocol)
	})
}

// Decode reads a registry in the compact form made by Encode, checking its
// checksum and that it looks like the real registry (Validate).
func Decode(data []byte) (*Registry, error) {
	r, err := decode(string(data), true)
	if err != nil {
		return nil, err
	}
	if err := Validate(r); err != nil {
		return nil, err
	}
	return r, nil
}
