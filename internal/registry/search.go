package registry

import (
	"sort"
	"strings"
)

// Search scores, highest first. An exact service name always wins; matches
// in the name beat matches in the description, which beat notes and people.
const (
	scoreExactName  = 1000
	scoreNamePrefix = 300
	scoreNameWord   = 200
	scoreInName     = 100
	scoreDescWord   = 60
	scoreInDesc     = 40
	scoreOther      = 10
)

// Search finds records whose service name, description, notes, unauthorized
// use or people (assignee, contacts) match every word of query, ignoring
// ASCII case. Ranked: exact name first, then name matches, description
// matches, the rest; ties keep port order. limit <= 0 means no limit.
func (r *Registry) Search(query string, limit int) []Entry {
	words := strings.Fields(strings.ToLower(query))
	if len(words) == 0 {
		return nil
	}
	whole := strings.Join(words, " ")
	type hit struct{ i, score int }
	var hits []hit
	for i := 0; i < r.nRecords; i++ {
		name := r.recService(i)
		desc := r.str(r.u32(r.rec(i) + 14))
		score := 0
		if len(name) == len(whole) && indexFold(name, whole) == 0 {
			score += scoreExactName
		}
		ok := true
		for _, w := range words {
			s := wordScore(name, w, scoreNamePrefix, scoreNameWord, scoreInName)
			if d := wordScore(desc, w, scoreDescWord, scoreDescWord, scoreInDesc); d > s {
				s = d
			}
			if s == 0 && r.otherContains(i, w) {
				s = scoreOther
			}
			if s == 0 {
				ok = false
				break
			}
			score += s
		}
		if ok {
			hits = append(hits, hit{i, score})
		}
	}
	sort.SliceStable(hits, func(a, b int) bool { return hits[a].score > hits[b].score })
	if limit > 0 && len(hits) > limit {
		hits = hits[:limit]
	}
	out := make([]Entry, len(hits))
	for k, h := range hits {
		out[k] = r.entry(h.i)
	}
	return out
}

// wordScore scores one lower-case query word against one field: at its
// start, as a whole word, or inside a word.
func wordScore(field, w string, prefix, word, sub int) int {
	at := indexFold(field, w)
	if at < 0 {
		return 0
	}
	if at == 0 {
		return prefix
	}
	for at >= 0 {
		end := at + len(w)
		if !isWordByte(field[at-1]) && (end == len(field) || !isWordByte(field[end])) {
			return word
		}
		next := indexFold(field[at+1:], w)
		if next < 0 {
			break
		}
		at += 1 + next
	}
	return sub
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// indexFold is strings.Index ignoring ASCII case; w must be lower case. It
// does not allocate, which matters when scanning every record.
func indexFold(s, w string) int {
	if len(w) == 0 {
		return 0
	}
	for i := 0; i+len(w) <= len(s); i++ {
		j := 0
		for ; j < len(w); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != w[j] {
				break
			}
		}
		if j == len(w) {
			return i
		}
	}
	return -1
}

// otherContains reports whether w occurs in record i's notes, unauthorized
// text or people, reading them in place without decoding the record.
func (r *Registry) otherContains(i int, w string) bool {
	if a := r.u32(r.rec(i) + 26); a > 0 && r.personContains(a-1, w) {
		return true
	}
	x := r.extra(i)
	for n := x.count(); n > 0; n-- {
		if r.personContains(x.next(), w) {
			return true
		}
	}
	for n := x.count(); n > 0; n-- {
		x.next() // references: type, data, text
		x.next()
		x.next()
	}
	for n := x.count(); n > 0; n-- {
		if indexFold(r.str(x.next()), w) >= 0 {
			return true
		}
	}
	return indexFold(r.str(x.next()), w) >= 0 // unauthorized
}

// personContains looks for w in a person's id, name, org and addresses.
func (r *Registry) personContains(idx int, w string) bool {
	if idx < 0 || idx >= r.nPeople {
		return false
	}
	at := r.peopOff + idx*personSize
	for k := 0; k < 4; k++ {
		if indexFold(r.str(r.u32(at+4*k)), w) >= 0 {
			return true
		}
	}
	return false
}
