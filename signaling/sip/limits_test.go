package sip

import (
	"net/netip"
	"testing"
	"time"
)

func testLimiter(now *time.Time) *limiter {
	l := newLimiter(Limits{
		InviteRate: 2, InviteBurst: 3, OptionsRate: 1, OptionsBurst: 1, RequestRate: 10, RequestBurst: 10,
		CallsPerSource: 2, Allow: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
		DropUserAgents: []string{"friendly-scanner", "SIPVicious"},
	})
	l.now = func() time.Time { return *now }
	return l
}

func TestLimiterRates(t *testing.T) {
	now := time.Unix(1000, 0)
	l := testLimiter(&now)
	a := netip.MustParseAddr("192.0.2.1")
	b := netip.MustParseAddr("192.0.2.2")
	got := ""
	for range 5 {
		got += map[bool]string{true: "y", false: "n"}[l.allow(a, "INVITE")]
	}
	if got != "yyynn" {
		t.Fatalf("burst of 3 then refusals: got %s", got)
	}
	if !l.allow(b, "INVITE") {
		t.Fatal("another source is limited by the first one's flood")
	}
	if !l.allow(a, "BYE") || !l.allow(a, "ACK") || !l.allow(a, "CANCEL") {
		t.Fatal("a flooded source can no longer hang up")
	}
	now = now.Add(500 * time.Millisecond) // 2/s refills one
	if !l.allow(a, "INVITE") || l.allow(a, "INVITE") {
		t.Fatal("refill after 500 ms should allow exactly one")
	}
	if !l.allow(a, "OPTIONS") || l.allow(a, "OPTIONS") {
		t.Fatal("OPTIONS has its own bucket of 1")
	}
	if !l.allow(netip.MustParseAddr("10.1.2.3"), "INVITE") {
		t.Fatal("allow-listed source limited")
	}
	for range 100 {
		if !l.allow(netip.MustParseAddr("10.1.2.3"), "INVITE") {
			t.Fatal("allow-listed source limited")
		}
	}
}

func TestLimiterCallsPerSource(t *testing.T) {
	now := time.Unix(1000, 0)
	l := testLimiter(&now)
	a := netip.MustParseAddr("2001:db8::1")
	if !l.startCall(a) || !l.startCall(a) || l.startCall(a) {
		t.Fatal("cap of 2 calls not applied")
	}
	l.endCall(a)
	if !l.startCall(a) {
		t.Fatal("a slot was not freed")
	}
	l.endCall(a)
	l.endCall(a)
	l.endCall(a) // more ends than starts never go negative
	if !l.startCall(a) || !l.startCall(a) || l.startCall(a) {
		t.Fatal("count went wrong after extra ends")
	}
}

func TestLimiterScanners(t *testing.T) {
	now := time.Unix(1000, 0)
	l := testLimiter(&now)
	for ua, want := range map[string]bool{
		"friendly-scanner": true, "sipvicious-0.3": true, "Friendly-Scanner/1.0": true,
		"baresip v1.0.0": false, "": false, "Cisco-CP8845/14.1": false,
	} {
		if got := l.scanner(ua); got != want {
			t.Errorf("scanner(%q) = %v", ua, got)
		}
	}
}

func TestLimiterTableIsBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	l := testLimiter(&now)
	for i := range maxSources + 100 {
		a := netip.AddrFrom4([4]byte{198, byte(i >> 16), byte(i >> 8), byte(i)})
		l.allow(a, "OPTIONS")
	}
	if n := len(l.sources); n > maxSources {
		t.Fatalf("%d sources tracked, bound is %d", n, maxSources)
	}
}
