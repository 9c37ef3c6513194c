package config

import (
	"reflect"
	"slices"
	"strings"
	"sync"
)

// unknownKey builds the message for a key the schema does not have: the
// sibling it most likely meant, else the same key elsewhere in the schema,
// else the list of keys that belong here.
func unknownKey(name, path string, fields *fieldSet) string {
	if hint, ok := plainPINKeys[normalizeKey(name)]; ok && slices.Contains(fields.names, "host_pin") {
		return "unknown key; " + hint
	}
	if near := closest(name, fields.names); len(near) > 0 {
		return "unknown key; did you mean " + orList(near) + "?"
	}
	norm := normalizeKey(name)
	var elsewhere []string
	for _, p := range schemaPaths() {
		last := p[strings.LastIndexByte(p, '.')+1:]
		if last == norm && !samePlace(p, join(path, norm)) {
			elsewhere = append(elsewhere, p)
		}
	}
	switch len(elsewhere) {
	case 0:
	case 1:
		return "unknown key here; did you mean " + elsewhere[0] + "? move it " + placeOf(elsewhere[0])
	default:
		return "unknown key here; did you mean " + orList(elsewhere) + "?"
	}
	where := path
	if where == "" {
		where = "the top level"
	}
	return "unknown key; " + where + " takes " + strings.Join(fields.names, ", ")
}

// plainPINKeys are keys people write for a room's PIN; the answer points at
// the hashed keys instead of at security.pin.
var plainPINKeys = map[string]string{
	"pin":      "did you mean host_pin? it holds a hash from `vmrd hash-pin`, not the PIN itself",
	"hostpin":  "did you mean host_pin? it holds a hash from `vmrd hash-pin`, not the PIN itself",
	"guestpin": "did you mean guest_pin? it holds a hash from `vmrd hash-pin`, not the PIN itself",
}

// samePlace compares a schema path ("rooms[].name") with a key path
// ("rooms[3].name").
func samePlace(schema, key string) bool {
	return schema == stripIndexes(key)
}

func stripIndexes(key string) string {
	var b strings.Builder
	skip := false
	for i := 0; i < len(key); i++ {
		switch c := key[i]; {
		case c == '[':
			b.WriteString("[]")
			skip = true
		case c == ']':
			skip = false
		case !skip:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// placeOf says where a schema path lives, for "move it ..." hints.
func placeOf(schema string) string {
	i := strings.LastIndexByte(schema, '.')
	if i < 0 {
		return "to the top level"
	}
	parent := schema[:i]
	if list, ok := strings.CutSuffix(parent, "[]"); ok {
		return "into an entry under " + list + ":"
	}
	return "under " + parent + ":"
}

var schemaOnce = sync.OnceValue(func() []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t == durationType {
			return
		}
		fs := fieldsOf(t)
		for _, name := range fs.names {
			p := join(prefix, name)
			out = append(out, p)
			ft := t.Field(fs.byName[name]).Type
			if ft.Kind() == reflect.Slice {
				walk(ft.Elem(), p+"[]")
				continue
			}
			walk(ft, p)
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return out
})

// schemaPaths lists every key of the schema, lists written as "rooms[]".
func schemaPaths() []string { return schemaOnce() }

// closest returns the known names that name is most likely a misspelling
// of: equal after normalizing case and separators, within a small edit
// distance, or (for a long enough name) a prefix of them.
func closest(name string, known []string) []string {
	norm := normalizeKey(name)
	for _, k := range known {
		if k == norm {
			return []string{k}
		}
	}
	limit := 1
	if len(norm) >= 5 {
		limit = 2
	}
	best := limit + 1
	var out []string
	for _, k := range known {
		switch dist := editDistance(norm, k); {
		case dist > limit:
		case dist < best:
			best, out = dist, []string{k}
		case dist == best:
			out = append(out, k)
		}
	}
	if len(norm) >= 4 {
		for _, k := range known {
			if strings.HasPrefix(k, norm) && !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	return out
}

// normalizeKey folds case and turns - and spaces into _, the separators
// people type instead of vmrd's.
func normalizeKey(s string) string {
	s = strings.ToLower(s)
	return strings.NewReplacer("-", "_", " ", "_").Replace(s)
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of neighbours each cost 1.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		// Far too long to be a typo of a key; skip the quadratic work.
		return 1 << 20
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// orList joins names as "a", "a or b", "a, b or c".
func orList(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
