package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Parse decodes and validates one config file. filename is used only in
// messages. It starts from Default(), decodes data strictly (unknown keys,
// wrong types and keys set twice are errors), then validates. On failure it
// returns nil and an *Error listing every problem found, in file order.
func Parse(data []byte, filename string) (*Config, error) {
	root, probs := readDocument(data, filename)
	if len(probs) > 0 {
		return nil, &Error{Problems: probs}
	}
	cfg := Default()
	d := newDecoder(filename)
	d.pos[""] = root.Line
	d.decode(root, reflect.ValueOf(cfg).Elem(), "")
	cfg.pos = d.pos

	probs = d.probs
	for _, p := range cfg.check(filename) {
		if !d.badPath(p.Key) {
			probs = append(probs, p)
		}
	}
	if len(probs) > 0 {
		sortProblems(probs)
		return nil, &Error{Problems: probs}
	}
	return cfg, nil
}

// badPath reports whether key or one of its parents failed to decode.
func (d *decoder) badPath(key string) bool {
	for {
		if d.bad[key] {
			return true
		}
		if key == "" {
			return false
		}
		key = parentPath(key)
	}
}

// readDocument parses data into the root node of its single YAML document.
func readDocument(data []byte, filename string) (root *yaml.Node, probs []Problem) {
	const empty = "the file is empty; configs/vmrd.yaml is a documented sample to start from"
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := safeDecode(dec, &doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, []Problem{{File: filename, Msg: empty}}
		}
		return nil, []Problem{syntaxProblem(err, data, filename)}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || isNull(doc.Content[0]) {
		return nil, []Problem{{File: filename, Msg: empty}}
	}
	root = doc.Content[0]

	var next yaml.Node
	switch err := safeDecode(dec, &next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, []Problem{syntaxProblem(err, data, filename)}
	case len(next.Content) > 0 && !isNull(next.Content[0]):
		return nil, []Problem{{File: filename, Line: next.Content[0].Line,
			Msg: "a second YAML document starts here; vmrd reads one document per file, so remove the --- line and merge the two"}}
	}
	return root, nil
}

// safeDecode guards against a panic inside the YAML parser on hostile
// input: a config error is better than a crashed check-config.
func safeDecode(dec *yaml.Decoder, n *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: cannot parse: %v", r)
		}
	}()
	return dec.Decode(n)
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parserProblems are the YAML parser's (not scanner's) messages. yaml/v3
// prints a 0-based line for these, naming where the enclosing block or flow
// collection starts; scanner errors get a 1-based line. Either leaves the
// line out when it is the first one. The tests pin this behaviour.
var parserProblems = []string{
	"did not find expected <stream-start>",
	"did not find expected <document start>",
	"did not find expected node content",
	"did not find expected '-' indicator",
	"did not find expected key",
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"found undefined tag handle",
	"found duplicate %YAML directive",
	"found duplicate %TAG directive",
	"found incompatible YAML document",
}

// syntaxProblem turns a YAML parser error into a Problem with its line.
func syntaxProblem(err error, data []byte, filename string) Problem {
	msg := err.Error()
	p := Problem{File: filename}
	m := yamlLine.FindStringSubmatch(msg)
	if m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	parser := slices.Contains(parserProblems, msg)
	switch {
	case m != nil && parser:
		p.Line++
	case m == nil && anchorProblem.MatchString(msg):
		p.Line = aliasLine(data, anchorProblem.FindStringSubmatch(msg)[1])
	case m == nil && !isReaderProblem(msg):
		p.Line = 1
	}
	p.Msg = "YAML syntax error: " + msg
	switch {
	case parser:
		// The line is where the enclosing block starts, the mistake can
		// be further down.
		p.Msg = "YAML syntax error at or below this line: " + msg + "; check the indentation and brackets"
	case p.Line > 0 && strings.Contains(msg, "cannot start any token") && indentedWithTab(data, p.Line):
		p.Msg += "; this line is indented with a tab, and YAML takes spaces only"
	}
	return p
}

var anchorProblem = regexp.MustCompile(`^unknown anchor '(.*)' referenced$`)

// aliasLine finds the line of the first use of alias *name, or 0.
func aliasLine(data []byte, name string) int {
	i := bytes.Index(data, []byte("*"+name))
	if i < 0 {
		return 0
	}
	return bytes.Count(data[:i], []byte("\n")) + 1
}

// isReaderProblem reports whether msg is about bytes rather than YAML
// structure (bad UTF-8, control characters): those carry no line.
func isReaderProblem(msg string) bool {
	for _, s := range []string{"UTF-8", "UTF-16", "Unicode", "control characters", "input error", "cannot parse"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// indentedWithTab reports whether line (1-based) of data has a tab in its
// leading white space.
func indentedWithTab(data []byte, line int) bool {
	lines := bytes.Split(data, []byte("\n"))
	if line > len(lines) {
		return false
	}
	l := lines[line-1]
	indent := l[:len(l)-len(bytes.TrimLeft(l, " \t"))]
	return bytes.IndexByte(indent, '\t') >= 0
}

// parentPath strips the last ".key" or "[i]" from a key path.
func parentPath(key string) string {
	i := strings.LastIndexAny(key, ".[")
	if i < 0 {
		return ""
	}
	return key[:i]
}

// sortProblems puts problems in file order; problems without a line first.
func sortProblems(probs []Problem) {
	slices.SortStableFunc(probs, func(a, b Problem) int { return a.Line - b.Line })
}
