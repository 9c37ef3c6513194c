package sip

import (
	"strings"
	"testing"

	"github.com/emiago/sipgo/sip"
)

func TestRFC2543Tags(t *testing.T) {
	msg := "INVITE sip:1001@example.com SIP/2.0\r\nVia: SIP/2.0/UDP gw.example.com\r\nFrom: <sip:+13035551111@gw.example.com;user=phone>\r\n" +
		"To: <sip:1001@example.com>\r\nCall-ID: inv2543.1@gw\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
	parse := func(s string) *sip.Request {
		t.Helper()
		m, err := sip.NewParser().ParseSIP([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return m.(*sip.Request)
	}
	req := parse(msg)
	if !needs2543Tag(req) {
		t.Fatal("a request without a From tag needs one")
	}
	tagged := string(add2543Tag([]byte(msg), req))
	again := string(add2543Tag([]byte(msg), req))
	if tagged == msg || tagged != again {
		t.Fatalf("the tag is not added, or not the same each time:\n%s", tagged)
	}
	treq := parse(tagged)
	if tag := fromTag(treq); !strings.HasPrefix(tag, tag2543Prefix) || needs2543Tag(treq) {
		t.Fatalf("From tag after adding: %q", tag)
	}
	// What we send back carries the peer's From exactly as it was.
	if got := string(strip2543Tags([]byte(tagged))); got != msg {
		t.Fatalf("stripped:\n%q\nwant\n%q", got, msg)
	}
	if rfc3261 := parse(strings.Replace(msg, "From: <sip:+13035551111@gw.example.com;user=phone>", "From: <sip:a@b>;tag=x", 1)); needs2543Tag(rfc3261) {
		t.Fatal("a request with a From tag got another")
	}
}
