package pin

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// cheap are test-only parameters: a derivation takes well under a
// millisecond, so tests exercise the logic, not the CPU.
var cheap = Params{Memory: 64, Time: 1, Threads: 1}

const (
	hostPIN  = "4711"
	guestPIN = "90210"
)

func mustHashed(t testing.TB, pin string, p Params) *Hashed {
	t.Helper()
	n, err := Normalize(pin)
	if err != nil {
		t.Fatal(err)
	}
	return newHashed(n, p)
}

// fakeClock is a settable clock for windows and blocks.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// eventLog collects audit events.
type eventLog struct {
	mu     sync.Mutex
	events []Event
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) count(k EventKind) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, e := range l.events {
		if e.Kind == k {
			n++
		}
	}
	return n
}

func addr(t testing.TB, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// nthSource is a distinct IPv4 source for attempt i.
func nthSource(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// check runs one Check and requires the outcome.
func check(t testing.TB, v *Verifier, room string, src netip.Addr, entered string, rule *Rule, want Role) {
	t.Helper()
	role, err := v.Check(context.Background(), room, src, entered, rule)
	if want == None {
		if role != None || err != ErrBadPIN { // the exact sentinel, unwrapped, is the contract
			t.Fatalf("Check(%s from %v) = %v, %v; want none, exactly ErrBadPIN", room, src, role, err)
		}
		return
	}
	if err != nil || role != want {
		t.Fatalf("Check(%s from %v) = %v, %v; want %v", room, src, role, err, want)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
