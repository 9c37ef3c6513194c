package sip

import (
	"strings"
	"testing"
)

func TestNormalizeHead(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"untouched", "INVITE sip:a@b SIP/2.0\r\nFrom: <sip:x@y>;tag=1\r\n\r\nbody", "INVITE sip:a@b SIP/2.0\r\nFrom: <sip:x@y>;tag=1\r\n\r\nbody"},
		{"folded and spaced", "INVITE sip:a@b SIP/2.0\r\nfrom   : \"J R \\\\\\\"\"       <sip:j@e.com>\r\n  ;\r\n  tag = 98asjd8\r\nTO :\r\n sip:v@c.com ;   tag    = 1918181833n\r\n\r\nv=0",
			"INVITE sip:a@b SIP/2.0\r\nfrom: \"J R \\\\\\\"\" <sip:j@e.com>;tag=98asjd8\r\nTO: sip:v@c.com;tag=1918181833n\r\n\r\nv=0"},
		{"quoted semicolons stay", "INVITE sip:a@b SIP/2.0\r\nFrom: \"a ; b = c\" <sip:x@y;lr> ; tag = 5\r\n\r\n", "INVITE sip:a@b SIP/2.0\r\nFrom: \"a ; b = c\" <sip:x@y;lr>;tag=5\r\n\r\n"},
		{"folded other header", "INVITE sip:a@b SIP/2.0\r\nSubject: one\r\n two\r\n\r\n", "INVITE sip:a@b SIP/2.0\r\nSubject: one two\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(normalizeHead([]byte(tt.in)))
			if got != tt.want {
				t.Fatalf("got\n%q\nwant\n%q", got, tt.want)
			}
			if !strings.HasSuffix(got, tt.in[strings.Index(tt.in, "\r\n\r\n"):]) {
				t.Fatal("the body changed")
			}
		})
	}
}

func FuzzNormalizeHead(f *testing.F) {
	f.Add([]byte("INVITE sip:a@b SIP/2.0\r\nFrom : x ; tag = 1\r\n\r\nbody"))
	f.Fuzz(func(t *testing.T, b []byte) {
		out := normalizeHead(b)
		if i := strings.Index(string(b), "\r\n\r\n"); i >= 0 && !strings.HasSuffix(string(out), string(b[i:])) {
			t.Fatal("the body changed")
		}
	})
}
