package sip

import (
	"bytes"
	"strings"
)

// normalizeHead rewrites what RFC 3261 says is equivalent into the form
// sipgo's parser and transaction layer read: folded header lines (7.3.1:
// a line starting with whitespace continues the previous one) are joined
// with one space, and in From and To the whitespace around ';' and '='
// of parameters (25.1 SEMI, EQUAL) is dropped. RFC 4475's "wsinv" is
// valid SIP that sipgo cannot otherwise match to a transaction (it keys
// RFC 2543-style transactions by the From tag). Quoted strings (display
// names) are left as they are. The body is untouched; data is returned as
// it is when nothing needs rewriting.
func normalizeHead(data []byte) []byte {
	end := bytes.Index(data, []byte("\r\n\r\n"))
	if end < 0 {
		return data
	}
	head, rest := data[:end], data[end:]
	if !bytes.Contains(head, []byte("\r\n ")) && !bytes.Contains(head, []byte("\r\n\t")) && !paramSpaces(head) {
		return data
	}
	var lines []string
	for _, l := range strings.Split(string(head), "\r\n") {
		if len(lines) > 0 && l != "" && (l[0] == ' ' || l[0] == '\t') {
			lines[len(lines)-1] += " " + strings.TrimLeft(l, " \t")
			continue
		}
		lines = append(lines, l)
	}
	for i, l := range lines[1:] {
		name, val, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "from", "f", "to", "t":
			lines[i+1] = strings.TrimSpace(name) + ": " + tightenParams(strings.TrimSpace(val))
		}
	}
	out := make([]byte, 0, len(data))
	out = append(out, strings.Join(lines, "\r\n")...)
	return append(out, rest...)
}

// paramSpaces reports whether a From or To line may have spaced
// parameters; a cheap test before the rewrite.
func paramSpaces(head []byte) bool {
	for _, l := range bytes.Split(head, []byte("\r\n")) {
		name, val, ok := bytes.Cut(l, []byte(":"))
		if !ok {
			continue
		}
		switch strings.ToLower(string(bytes.TrimSpace(name))) {
		case "from", "f", "to", "t":
			if bytes.Contains(val, []byte(" =")) || bytes.Contains(val, []byte("= ")) ||
				bytes.Contains(val, []byte(" ;")) || bytes.Contains(val, []byte("; ")) {
				return true
			}
		}
	}
	return false
}

// tightenParams drops whitespace around ';' and '=' outside quoted
// strings and angle brackets.
func tightenParams(v string) string {
	var b strings.Builder
	quoted, angle, escaped := false, false, false
	pendingSpace := false
	for _, r := range v {
		switch {
		case escaped:
			escaped = false
		case quoted && r == '\\':
			escaped = true
		case r == '"':
			quoted = !quoted
		case !quoted && r == '<':
			angle = true
		case !quoted && r == '>':
			angle = false
		}
		if !quoted && !angle && (r == ' ' || r == '\t') {
			pendingSpace = true
			continue
		}
		if !quoted && !angle && (r == ';' || r == '=') {
			pendingSpace = false
			b.WriteRune(r)
			// Whitespace after the separator goes too.
			continue
		}
		if pendingSpace {
			if s := b.String(); s != "" && !strings.HasSuffix(s, ";") && !strings.HasSuffix(s, "=") {
				b.WriteByte(' ')
			}
			pendingSpace = false
		}
		b.WriteRune(r)
	}
	return b.String()
}
