package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// nodeBudget caps the nodes one decode visits, so that alias tricks
// ("billion laughs") cannot make a small file expensive.
const nodeBudget = 100_000

var (
	durationType   = reflect.TypeFor[time.Duration]()
	roomNumberType = reflect.TypeFor[RoomNumber]()
)

// decoder walks a yaml.Node tree against a Go struct. It replaces
// yaml's own decoding so that every unknown key, wrong type and duplicate
// is reported (not only the first) with its line and key path.
type decoder struct {
	file   string
	probs  []Problem
	pos    map[string]int  // key path -> line, for validation messages
	bad    map[string]bool // key paths that failed to decode
	active map[*yaml.Node]bool
	budget int
}

func newDecoder(file string) *decoder {
	return &decoder{
		file:   file,
		pos:    make(map[string]int),
		bad:    make(map[string]bool),
		active: make(map[*yaml.Node]bool),
		budget: nodeBudget,
	}
}

func (d *decoder) addf(line int, key, format string, args ...any) {
	d.probs = append(d.probs, Problem{File: d.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// fail reports a value that could not be decoded and marks its path, so that
// validation does not pile "missing" on top of "wrong type".
func (d *decoder) fail(line int, key, format string, args ...any) {
	d.bad[key] = true
	d.addf(line, key, format, args...)
}

// decode fills v from n. A null node leaves v as it is, which keeps defaults.
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if d.budget <= 0 {
		return
	}
	d.budget--
	if d.budget == 0 {
		d.fail(n.Line, path, "the document is too large or uses too many aliases; simplify it")
		return
	}
	line := n.Line
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			d.fail(line, path, "alias to an unknown anchor")
			return
		}
		n = n.Alias
	}
	if isNull(n) {
		return
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
			if df, ok := v.Interface().(defaulter); ok {
				df.setDefaults()
			}
		}
		v = v.Elem()
	}
	switch {
	case v.Type() == durationType:
		d.duration(n, v, path, line)
		return
	case v.Type() == roomNumberType:
		d.roomNumber(n, v, path, line)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.mapping(n, v, path, line)
	case reflect.Slice:
		d.sequence(n, v, path, line)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(line, path, "expected a single value, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		d.integer(n, v, path, line)
	case reflect.Float64:
		tag := n.ShortTag()
		if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") {
			d.fail(line, path, "expected a number such as 5 or 2.5, got %s", describe(n))
			return
		}
		var f float64
		if err := n.Decode(&f); err != nil {
			d.fail(line, path, "expected a number such as 5 or 2.5, got %s", describe(n))
			return
		}
		v.SetFloat(f)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			d.fail(line, path, "expected true or false, got %s", describe(n))
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			d.fail(line, path, "expected true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	default:
		// A schema field of a type this decoder does not handle: a bug here,
		// caught by the tests that decode every key.
		d.fail(line, path, "internal error: cannot decode into %s", v.Type())
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.MappingNode {
		if path == "" {
			d.fail(line, path, "expected sections such as sip:, media: and rooms: at the top level, got %s", describe(n))
			return
		}
		d.fail(line, path, "expected indented key: value lines, got %s", describe(n))
		return
	}
	if d.active[n] {
		d.fail(line, path, "a YAML alias here refers to the mapping that contains it; remove the loop")
		return
	}
	d.active[n] = true
	defer delete(d.active, n)

	fields := fieldsOf(v.Type())

	// Merge keys (<<: *anchor) first, last source first, so that explicit
	// keys and earlier sources win, as YAML merge keys define.
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			merges = append(merges, n.Content[i+1])
		}
	}
	for j := len(merges) - 1; j >= 0; j-- {
		m := merges[j]
		src := m
		if src.Kind == yaml.AliasNode && src.Alias != nil {
			src = src.Alias
		}
		if src.Kind == yaml.SequenceNode {
			for k := len(src.Content) - 1; k >= 0; k-- {
				d.merge(src.Content[k], v, path)
			}
			continue
		}
		d.merge(m, v, path)
	}

	seen := make(map[string]int)
	var suggested []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.addf(k.Line, path, "a key must be a plain name, got %s", describe(k))
			continue
		}
		name := k.Value
		kpath := join(path, name)
		if first, dup := seen[name]; dup {
			d.addf(k.Line, kpath, "set twice (first on line %d); keep one", first)
			continue
		}
		seen[name] = k.Line
		f, ok := fields.byName[name]
		if !ok {
			d.addf(k.Line, kpath, "%s", unknownKey(name, path, fields))
			if near := closest(name, fields.names); len(near) == 1 {
				suggested = append(suggested, near[0])
			}
			continue
		}
		d.pos[kpath] = k.Line
		d.decode(val, v.Field(f), kpath)
	}
	// "listn: did you mean listen?" already says what to do; do not also
	// report listen as missing.
	for _, name := range suggested {
		if _, set := seen[name]; !set {
			d.bad[join(path, name)] = true
		}
	}
}

// merge decodes one merge-key source onto v.
func (d *decoder) merge(m *yaml.Node, v reflect.Value, path string) {
	src := m
	if src.Kind == yaml.AliasNode && src.Alias != nil {
		src = src.Alias
	}
	if src.Kind != yaml.MappingNode {
		d.addf(m.Line, join(path, "<<"), "a merge key needs a mapping or an alias to one, got %s", describe(src))
		return
	}
	d.decode(m, v, path)
}

func (d *decoder) sequence(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.SequenceNode {
		if n.Kind == yaml.ScalarNode && v.Type().Elem().Kind() == reflect.String {
			d.fail(line, path, "expected a list, got %s; write it as [%s]", describe(n), strconv.Quote(n.Value))
			return
		}
		d.fail(line, path, "expected a list (lines starting with -), got %s", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, item := range n.Content {
		ipath := path + "[" + strconv.Itoa(i) + "]"
		d.pos[ipath] = item.Line
		e := reflect.New(v.Type().Elem())
		if df, ok := e.Interface().(defaulter); ok {
			df.setDefaults()
		}
		d.decode(item, e.Elem(), ipath)
		s = reflect.Append(s, e.Elem())
	}
	v.Set(s)
}

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string, line int) {
	const form = "write it like 30s, 500ms or 1m30s"
	if n.Kind != yaml.ScalarNode {
		d.fail(line, path, "expected a duration, got %s; %s", describe(n), form)
		return
	}
	switch n.ShortTag() {
	case "!!str":
		dur, err := time.ParseDuration(n.Value)
		if err != nil {
			d.fail(line, path, "%q is not a duration; %s", n.Value, form)
			return
		}
		v.SetInt(int64(dur))
	case "!!int":
		var i int64
		if err := n.Decode(&i); err == nil && i == 0 {
			v.SetInt(0)
			return
		}
		d.fail(line, path, "%s has no unit; write %ss for seconds or %sms for milliseconds", n.Value, n.Value, n.Value)
	default:
		d.fail(line, path, "expected a duration, got %s; %s", describe(n), form)
	}
}

func (d *decoder) integer(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.ScalarNode {
		d.fail(line, path, "expected a whole number, got %s", describe(n))
		return
	}
	switch n.ShortTag() {
	case "!!int":
		var i int64
		err := n.Decode(&i)
		switch {
		case err != nil && !isDigits(strings.TrimLeft(n.Value, "+-")):
			// An explicit tag on something else: "!!int x".
			d.fail(line, path, "expected a whole number, got %s", n.Value)
		case err != nil || v.OverflowInt(i):
			d.fail(line, path, "%s is too large", n.Value)
		default:
			v.SetInt(i)
		}
	case "!!str":
		if _, err := strconv.Atoi(strings.TrimSpace(n.Value)); err == nil {
			d.fail(line, path, "expected a whole number, got %s; remove the quotes", describe(n))
			return
		}
		d.fail(line, path, "expected a whole number, got %s", describe(n))
	case "!!float":
		if isDigits(strings.TrimPrefix(n.Value, "-")) {
			d.fail(line, path, "%s is too large", n.Value)
			return
		}
		d.fail(line, path, "expected a whole number, got %s", describe(n))
	default:
		d.fail(line, path, "expected a whole number, got %s", describe(n))
	}
}

// roomNumber accepts a quoted string, or an unquoted number whose text is
// kept as written (1001 becomes "1001"). An unquoted number with a leading
// zero is refused: YAML reads 0123 as an octal number, and although the text
// survives here, any other YAML tool would change it.
func (d *decoder) roomNumber(n *yaml.Node, v reflect.Value, path string, line int) {
	if n.Kind != yaml.ScalarNode {
		d.fail(line, path, "expected a room number such as \"1001\", got %s", describe(n))
		return
	}
	switch tag := n.ShortTag(); {
	case tag == "!!str":
		v.SetString(n.Value)
	case (tag == "!!int" || tag == "!!float") && isDigits(n.Value):
		if len(n.Value) > 1 && n.Value[0] == '0' {
			d.fail(line, path, "%s starts with 0, and YAML reads such numbers as octal; quote it: number: \"%s\"", n.Value, n.Value)
			return
		}
		v.SetString(n.Value)
	default:
		d.fail(line, path, "%s is not a room number; write digits only, e.g. \"1001\"", n.Value)
	}
}

// isNull reports whether n is an explicit or empty null ("key:" or "key: ~").
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node is, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping (key: value lines)"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!str" {
			return strconv.Quote(n.Value)
		}
		return n.Value
	}
	return "nothing"
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// fieldSet is the yaml keys of one struct type, in declaration order.
type fieldSet struct {
	names  []string
	byName map[string]int // key -> field index
}

var fieldCache sync.Map // reflect.Type -> *fieldSet

func fieldsOf(t reflect.Type) *fieldSet {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(*fieldSet)
	}
	fs := &fieldSet{byName: make(map[string]int)}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fs.names = append(fs.names, name)
		fs.byName[name] = i
	}
	fieldCache.Store(t, fs)
	return fs
}
