package sip

import (
	"strings"
	"testing"
)

const goodOptions = "OPTIONS sip:1001@127.0.0.1 SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n" +
	"From: <sip:a@127.0.0.1>;tag=1\r\n" +
	"To: <sip:1001@127.0.0.1>\r\n" +
	"Call-ID: abc\r\n" +
	"CSeq: 1 OPTIONS\r\n" +
	"Max-Forwards: 70\r\n" +
	"Content-Length: 0\r\n\r\n"

func TestGuardCheck(t *testing.T) {
	g := newGuard(nil, discard(), "vmrd")
	tests := []struct {
		name   string
		msg    string
		reason string // substring; "" means accepted
	}{
		{"valid", goodOptions, ""},
		{"no Call-ID", strings.Replace(goodOptions, "Call-ID: abc\r\n", "", 1), "Call-ID"},
		{"no CSeq", strings.Replace(goodOptions, "CSeq: 1 OPTIONS\r\n", "", 1), "CSeq"},
		{"CSeq method mismatch", strings.Replace(goodOptions, "CSeq: 1 OPTIONS", "CSeq: 1 INVITE", 1), "CSeq method"},
		{"no Via", strings.Replace(goodOptions, "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n", "", 1), "Via"},
		{"no From", strings.Replace(goodOptions, "From: <sip:a@127.0.0.1>;tag=1\r\n", "", 1), "From"},
		{"garbage", "hello there\r\n\r\n", "unparseable"},
		{"length mismatch", strings.Replace(goodOptions, "Content-Length: 0", "Content-Length: 10", 1), "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, got := g.check([]byte(tt.msg))
			if tt.reason == "" && got != "" {
				t.Fatalf("rejected a valid message: %s", got)
			}
			if !strings.Contains(strings.ToLower(got), strings.ToLower(tt.reason)) {
				t.Fatalf("reason %q, want it to mention %q", got, tt.reason)
			}
		})
	}
}

func TestBadRequestCopiesRoutingHeaders(t *testing.T) {
	msg := strings.Replace(goodOptions, "Call-ID: abc\r\n", "", 1)
	res := string(badRequest([]byte(msg), 400, "missing \"Call-ID\"\x01", "vmrd"))
	for _, want := range []string{
		"SIP/2.0 400 Bad Request\r\n",
		"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\n",
		"CSeq: 1 OPTIONS\r\n",
		"From: <sip:a@127.0.0.1>;tag=1\r\n",
		`Warning: 399 vmrd "missing  Call-ID  "`,
		"Content-Length: 0\r\n\r\n",
	} {
		if !strings.Contains(res, want) {
			t.Errorf("400 lacks %q:\n%s", want, res)
		}
	}
	if badRequest([]byte("SIP/2.0 200 OK\r\nVia: x\r\n\r\n"), 400, "r", "vmrd") != nil {
		t.Error("answered a response")
	}
	if badRequest([]byte("garbage\r\n\r\n"), 400, "r", "vmrd") != nil {
		t.Error("answered a message without Via")
	}
}

func TestContentLength(t *testing.T) {
	for _, tt := range []struct {
		head string
		n    int
		ok   bool
	}{
		{"INVITE x SIP/2.0\r\nContent-Length: 12", 12, true},
		{"INVITE x SIP/2.0\r\nl: 7", 7, true},
		{"INVITE x SIP/2.0\r\nVia: x", 0, true},
		{"INVITE x SIP/2.0\r\nContent-Length: -1", 0, false},
		{"INVITE x SIP/2.0\r\nContent-Length: lots", 0, false},
	} {
		n, _, err := contentLength([]byte(tt.head))
		if (err == nil) != tt.ok || n != tt.n {
			t.Errorf("contentLength(%q) = %d, %v", tt.head, n, err)
		}
	}
}

func FuzzGuard(f *testing.F) {
	f.Add([]byte(goodOptions))
	f.Add([]byte("INVITE sip:1001@x SIP/2.0\r\nl: 99999999999\r\n\r\n"))
	g := newGuard(nil, discard(), "vmrd")
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _, _ = g.check(data)
		_ = badRequest(data, 400, "fuzz", "vmrd")
	})
}
