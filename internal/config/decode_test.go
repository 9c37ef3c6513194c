package config

import (
	"reflect"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// future mimics keys later issues add (per-room booleans, an optional
// sip.tls section), so the decoder's support for them is tested now.
type future struct {
	GuestsAllowed bool        `yaml:"guests_allowed"`
	TLS           *futureTLS  `yaml:"tls"`
	Ignored       string      `yaml:"-"`
	Untagged      string      // no yaml tag: not a key
	Items         []futureTLS `yaml:"items"`
}

type futureTLS struct {
	Cert string `yaml:"cert"`
	Port int    `yaml:"port"`
}

func (f *futureTLS) setDefaults() { f.Port = 5061 }

func decodeInto(t *testing.T, src string, v any) []string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	d := newDecoder("f.yaml")
	d.decode(doc.Content[0], reflect.ValueOf(v).Elem(), "")
	var out []string
	for _, p := range d.probs {
		out = append(out, p.String())
	}
	return out
}

func TestDecodeFutureKinds(t *testing.T) {
	var f future
	probs := decodeInto(t, "guests_allowed: true\ntls: {cert: a.pem}\nitems: [{cert: b}]\n", &f)
	if len(probs) > 0 {
		t.Fatalf("problems: %v", probs)
	}
	if !f.GuestsAllowed || f.TLS == nil || f.TLS.Cert != "a.pem" || f.TLS.Port != 5061 {
		t.Errorf("decoded %+v tls %+v, want guests true, tls a.pem with default port 5061", f, f.TLS)
	}
	if len(f.Items) != 1 || f.Items[0].Port != 5061 {
		t.Errorf("items = %+v, want list entries with defaults", f.Items)
	}

	var g future
	probs = decodeInto(t, "guests_allowed: yes\ntls: 5\nIgnored: x\nuntagged: y\n", &g)
	want := []string{
		`f.yaml:1: guests_allowed: expected true or false, got "yes"`,
		"f.yaml:2: tls: expected indented key: value lines, got 5",
		"f.yaml:3: Ignored: unknown key; the top level takes guests_allowed, tls, items",
		"f.yaml:4: untagged: unknown key; the top level takes guests_allowed, tls, items",
	}
	if strings.Join(probs, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n got: %q\nwant: %q", probs, want)
	}
}

func TestDecodeBudget(t *testing.T) {
	var b strings.Builder
	b.WriteString("sip:\n  listen:\n")
	for range nodeBudget {
		b.WriteString("    - x\n")
	}
	_, err := Parse([]byte(b.String()), "big.yaml")
	if err == nil || !strings.Contains(err.Error(), "the document is too large or uses too many aliases") {
		t.Fatalf("error = %.300v, want the size limit", err)
	}
}

func TestClosest(t *testing.T) {
	known := []string{"listen", "user_agent", "no_rtp_timeout", "session_expires", "min_se"}
	tests := []struct {
		in   string
		want string
	}{
		{"listen", "listen"},
		{"LISTEN", "listen"},
		{"user-agent", "user_agent"},
		{"lsiten", "listen"},
		{"listeners", ""},
		{"min-se", "min_se"},
		{"minse", "min_se"},
		{"session", "session_expires"},
		{"foo", ""},
		{"", ""},
		{strings.Repeat("x", 100), ""},
	}
	for _, tt := range tests {
		if got := strings.Join(closest(tt.in, known), ","); got != tt.want {
			t.Errorf("closest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
