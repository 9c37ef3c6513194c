package pin

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheck(t *testing.T) {
	host := mustHashed(t, hostPIN, cheap)
	guest := mustHashed(t, guestPIN, cheap)
	withGuestPIN := &Rule{Host: host, Guest: guest, GuestsAllowed: true}
	openGuests := &Rule{Host: host, GuestsAllowed: true}
	hostsOnly := &Rule{Host: host, Guest: guest, GuestsAllowed: false}
	hostsOnlyNoGuestPIN := &Rule{Host: host}
	noHost := &Rule{Guest: guest, GuestsAllowed: true}
	same := &Rule{Host: host, Guest: mustHashed(t, hostPIN, cheap), GuestsAllowed: true}

	tests := []struct {
		name    string
		rule    *Rule
		entered string
		want    Role
	}{
		{"host PIN", withGuestPIN, hostPIN, Host},
		{"host PIN with hash", withGuestPIN, hostPIN + "#", Host},
		{"guest PIN", withGuestPIN, guestPIN + "#", Guest},
		{"hash alone needs the guest PIN", withGuestPIN, "#", None},
		{"empty needs the guest PIN", withGuestPIN, "", None},
		{"wrong PIN", withGuestPIN, "1111#", None},
		{"host PIN prefix", withGuestPIN, "471#", None},
		{"host PIN extended", withGuestPIN, "47110#", None},
		{"malformed", withGuestPIN, "47*1#", None},
		{"too long", withGuestPIN, strings.Repeat("4", 40), None},
		{"open guests: hash alone", openGuests, "#", Guest},
		{"open guests: nothing", openGuests, "", Guest},
		{"open guests: host PIN", openGuests, hostPIN, Host},
		{"open guests: wrong PIN", openGuests, "1111", None},
		{"guests not allowed: guest PIN", hostsOnly, guestPIN, None},
		{"guests not allowed: host PIN", hostsOnly, hostPIN, Host},
		{"guests not allowed: hash alone", hostsOnlyNoGuestPIN, "#", None},
		{"no host PIN: guest PIN", noHost, guestPIN, Guest},
		{"no host PIN: hash alone", noHost, "#", None},
		{"same PIN for both: host wins", same, hostPIN, Host},
		{"unknown room: hash alone", nil, "#", None},
		{"unknown room: a PIN", nil, hostPIN, None},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := NewVerifier(Config{Params: cheap})
			check(t, v, "100", nthSource(i), tt.entered, tt.rule, tt.want)
			st := v.Stats()
			if tt.want == None && (st.Failures != 1 || st.Checks[ResultBad] != 1) {
				t.Fatalf("stats %+v: want one failure and one bad check", st)
			}
			if tt.want != None && st.Failures != 0 {
				t.Fatalf("stats %+v: a success counted a failure", st)
			}
			if st.Hashes != 2 {
				t.Fatalf("%d derivations: want 2 (host and guest, always)", st.Hashes)
			}
		})
	}
}

func TestRoleString(t *testing.T) {
	for r, want := range map[Role]string{None: "none", Guest: "guest", Host: "host", Role(9): "unknown"} {
		if r.String() != want {
			t.Errorf("Role(%d) = %q, want %q", int(r), r.String(), want)
		}
	}
}

func TestRoomBlockedAfterFailures(t *testing.T) {
	clk := newFakeClock()
	var ev eventLog
	v := NewVerifier(Config{Params: cheap, Now: clk.Now, OnEvent: ev.add})
	rule := &Rule{Host: mustHashed(t, hostPIN, cheap), GuestsAllowed: true}
	for i := range DefaultFailures {
		if v.RoomBlocked("200") {
			t.Fatalf("blocked after %d failures", i)
		}
		check(t, v, "200", nthSource(i), "0000", rule, None) // distinct sources: only the room limit applies
	}
	if !v.RoomBlocked("200") {
		t.Fatal("room not blocked after 20 failures")
	}
	if got := ev.count(EventRoomBlocked); got != 1 {
		t.Fatalf("%d room_blocked events, want 1", got)
	}
	if got := ev.count(EventPINFailure); got != DefaultFailures {
		t.Fatalf("%d pin_failure events, want %d", got, DefaultFailures)
	}
	// Blocked: the right PIN is refused too, without hashing and uncounted.
	hashes := v.Stats().Hashes
	check(t, v, "200", nthSource(1000), hostPIN, rule, None)
	check(t, v, "200", nthSource(1001), "0000", rule, None)
	st := v.Stats()
	if st.Hashes != hashes || st.Checks[ResultBlocked] != 2 || st.Failures != DefaultFailures {
		t.Fatalf("stats %+v: blocked checks must not hash or count", st)
	}
	if ev.count(EventRoomBlocked) != 1 || st.RoomBlocks != 1 || st.BlockedRooms != 1 {
		t.Fatalf("block reported more than once or not counted: %+v", st)
	}
	// '#' in an open-guest room tests no secret: still a guest.
	check(t, v, "200", nthSource(1002), "#", rule, Guest)
	// Other rooms are unaffected.
	check(t, v, "201", nthSource(1003), hostPIN, rule, Host)

	clk.Advance(DefaultBlock - time.Second)
	check(t, v, "200", nthSource(1004), hostPIN, rule, None)
	clk.Advance(time.Second)
	if v.RoomBlocked("200") {
		t.Fatal("still blocked after Block")
	}
	check(t, v, "200", nthSource(1005), hostPIN, rule, Host)
	// After a block the count starts afresh: one failure does not re-block.
	check(t, v, "200", nthSource(1006), "0000", rule, None)
	if v.RoomBlocked("200") {
		t.Fatal("re-blocked by the first failure after the block ended")
	}
}

func TestUnknownRoomsAreLimitedLikeKnownOnes(t *testing.T) {
	v := NewVerifier(Config{Params: cheap, RoomFailures: 3, Now: newFakeClock().Now})
	for i := range 3 {
		check(t, v, "999", nthSource(i), "1234", nil, None)
	}
	if !v.RoomBlocked("999") {
		t.Fatal("an unknown room is not blocked like a known one, which tells them apart")
	}
}

func TestSourceBlockedAfterFailures(t *testing.T) {
	clk := newFakeClock()
	var ev eventLog
	v := NewVerifier(Config{Params: cheap, Now: clk.Now, OnEvent: ev.add})
	rule := &Rule{Host: mustHashed(t, hostPIN, cheap)}
	src := addr(t, "192.0.2.7")
	for i := range DefaultFailures {
		check(t, v, "30"+string(rune('a'+i)), src, "0000", rule, None) // distinct rooms: only the source limit applies
	}
	if !v.SourceBlocked(src) || ev.count(EventSourceBlocked) != 1 {
		t.Fatalf("source blocked %v, %d source_blocked events; want blocked, 1", v.SourceBlocked(src), ev.count(EventSourceBlocked))
	}
	if v.Stats().BlockedRooms != 0 {
		t.Fatal("a room was blocked by one failure each")
	}
	check(t, v, "400", src, hostPIN, rule, None)
	check(t, v, "400", addr(t, "192.0.2.8"), hostPIN, rule, Host)
	// IPv4-mapped IPv6 is the same source.
	check(t, v, "400", addr(t, "::ffff:192.0.2.7"), hostPIN, rule, None)

	clk.Advance(DefaultBlock)
	check(t, v, "400", src, hostPIN, rule, Host)
}

func TestIPv6SourcesCountPer64(t *testing.T) {
	v := NewVerifier(Config{Params: cheap, SourceFailures: 4, Now: newFakeClock().Now})
	rule := &Rule{Host: mustHashed(t, hostPIN, cheap)}
	for i, a := range []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::9", "2001:db8:1:2::1%eth0"} {
		check(t, v, "50"+string(rune('0'+i)), addr(t, a), "0000", rule, None)
	}
	if !v.SourceBlocked(addr(t, "2001:db8:1:2::abcd")) {
		t.Fatal("another address in the /64 is not blocked")
	}
	if v.SourceBlocked(addr(t, "2001:db8:1:3::1")) {
		t.Fatal("the next /64 is blocked")
	}
}

func TestAllowList(t *testing.T) {
	v := NewVerifier(Config{
		Params:    cheap,
		AllowList: []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("2001:db8::/32")},
		Now:       newFakeClock().Now,
	})
	rule := &Rule{Host: mustHashed(t, hostPIN, cheap)}
	gw := addr(t, "198.51.100.20")
	for i := range 3 * DefaultFailures {
		check(t, v, "60"+string(rune('0'+i%10))+string(rune('a'+i/10)), gw, "0000", rule, None)
	}
	if v.SourceBlocked(gw) || v.Stats().TrackedSources != 0 {
		t.Fatal("an allow-listed source is tracked or blocked")
	}
	check(t, v, "700", gw, hostPIN, rule, Host)
	check(t, v, "700", addr(t, "::ffff:198.51.100.20"), hostPIN, rule, Host)
	// Its failures still count for the room.
	for range DefaultFailures {
		check(t, v, "701", gw, "0000", rule, None)
	}
	if !v.RoomBlocked("701") {
		t.Fatal("allow-listed failures did not count for the room")
	}
	check(t, v, "701", gw, hostPIN, rule, None)
}

func TestSlidingWindow(t *testing.T) {
	rule := &Rule{Host: mustHashed(t, hostPIN, cheap)}
	t.Run("failures spread over the window block", func(t *testing.T) {
		clk := newFakeClock()
		v := NewVerifier(Config{Params: cheap, Now: clk.Now})
		for i := range 10 {
			check(t, v, "800", nthSource(i), "0000", rule, None)
		}
		clk.Advance(DefaultWindow - time.Minute)
		for i := range 9 {
			check(t, v, "800", nthSource(100+i), "0000", rule, None)
		}
		if v.RoomBlocked("800") {
			t.Fatal("blocked after 19")
		}
		check(t, v, "800", nthSource(200), "0000", rule, None)
		if !v.RoomBlocked("800") {
			t.Fatal("20 failures within the window did not block")
		}
	})
	t.Run("old failures expire", func(t *testing.T) {
		clk := newFakeClock()
		v := NewVerifier(Config{Params: cheap, Now: clk.Now})
		for i := range 19 {
			check(t, v, "801", nthSource(i), "0000", rule, None)
		}
		clk.Advance(DefaultWindow)
		for i := range 19 {
			check(t, v, "801", nthSource(100+i), "0000", rule, None)
		}
		if v.RoomBlocked("801") {
			t.Fatal("failures older than the window still counted")
		}
	})
}

// A known guest PIN interleaved with guesses must not reset the count.
func TestSuccessDoesNotResetFailures(t *testing.T) {
	v := NewVerifier(Config{Params: cheap, Now: newFakeClock().Now})
	rule := &Rule{Host: mustHashed(t, hostPIN, cheap), Guest: mustHashed(t, guestPIN, cheap), GuestsAllowed: true}
	src := addr(t, "203.0.113.5")
	for i := range DefaultFailures - 1 {
		check(t, v, "900", src, "0000", rule, None)
		if i%5 == 0 {
			check(t, v, "900", src, guestPIN, rule, Guest)
		}
	}
	check(t, v, "900", src, guestPIN, rule, Guest)
	check(t, v, "900", src, "0000", rule, None)
	if !v.RoomBlocked("900") || !v.SourceBlocked(src) {
		t.Fatal("successes reset the failure count")
	}
}

func TestEventsCarryNoPIN(t *testing.T) {
	var ev eventLog
	v := NewVerifier(Config{Params: cheap, RoomFailures: 2, OnEvent: ev.add})
	rule := &Rule{Host: mustHashed(t, hostPIN, cheap)}
	check(t, v, "1000", addr(t, "192.0.2.1"), "86420#", rule, None)
	check(t, v, "1000", addr(t, "192.0.2.2"), "86420#", rule, None)
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if len(ev.events) != 3 {
		t.Fatalf("events %+v: want 2 failures and 1 room block", ev.events)
	}
	for _, e := range ev.events {
		if e.Room != "1000" || !strings.HasPrefix(e.Source, "192.0.2.") || e.Time.IsZero() {
			t.Errorf("event %+v: want room, source and time", e)
		}
		if strings.Contains(e.Room+e.Source+string(e.Kind), "86420") {
			t.Errorf("event %+v carries the PIN", e)
		}
	}
}

func TestTablesAreBounded(t *testing.T) {
	clk := newFakeClock()
	v := NewVerifier(Config{Params: cheap, MaxTracked: 8, SourceFailures: 2, Now: clk.Now})
	rule := &Rule{Host: mustHashed(t, hostPIN, cheap)}
	blockedSrc := addr(t, "192.0.2.99")
	check(t, v, "1", blockedSrc, "0000", rule, None)
	check(t, v, "2", blockedSrc, "0000", rule, None)
	if !v.SourceBlocked(blockedSrc) {
		t.Fatal("source not blocked")
	}
	for i := range 200 {
		check(t, v, strings.Repeat("7", 100)+string(rune('a'+i%26))+string(rune('a'+i/26)), nthSource(i), "0000", rule, None)
	}
	st := v.Stats()
	if st.TrackedSources > 8 || st.TrackedRooms > 8 {
		t.Fatalf("tracked %d sources, %d rooms; want at most 8 each", st.TrackedSources, st.TrackedRooms)
	}
	if !v.SourceBlocked(blockedSrc) {
		t.Fatal("a flood of new sources evicted a blocked one")
	}
	for k := range v.rooms.entries {
		if len(k) > maxKey+1 {
			t.Fatalf("room key of %d bytes stored", len(k))
		}
	}
}

func TestMaxConcurrentHashes(t *testing.T) {
	for _, limit := range []int{1, 2} {
		t.Run(string(rune('0'+limit)), func(t *testing.T) {
			v := NewVerifier(Config{Params: cheap, MaxConcurrentHashes: limit, RoomFailures: 100, SourceFailures: 100})
			gate := make(chan struct{})
			var cur, peak atomic.Int64
			v.derive = func(pin, salt []byte, p Params, n uint32) []byte {
				c := cur.Add(1)
				for {
					m := peak.Load()
					if c <= m || peak.CompareAndSwap(m, c) {
						break
					}
				}
				<-gate
				cur.Add(-1)
				return derive(pin, salt, p, n)
			}
			rule := &Rule{Host: mustHashed(t, hostPIN, cheap)}
			const n = 8
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Go(func() {
					_, err := v.Check(context.Background(), "1100", nthSource(i), "0000", rule)
					errs <- err
				})
			}
			waitFor(t, "all checks hashing or queued", func() bool {
				st := v.Stats()
				return st.Hashing == int64(limit) && st.Waiting == int64(n-limit)
			})
			if got := peak.Load(); got != int64(limit) {
				t.Fatalf("%d derivations at once, want %d", got, limit)
			}
			close(gate)
			wg.Wait()
			close(errs)
			for err := range errs {
				if !errors.Is(err, ErrBadPIN) {
					t.Fatalf("Check = %v, want ErrBadPIN", err)
				}
			}
			if got := peak.Load(); got != int64(limit) {
				t.Fatalf("%d derivations at once, want %d", got, limit)
			}
		})
	}
}

// A burst of concurrent guesses is limited like a sequence: checks still
// running count against the limit, so no more than RoomFailures are hashed.
func TestConcurrentBurstIsLimited(t *testing.T) {
	v := NewVerifier(Config{Params: cheap, Now: newFakeClock().Now, MaxWaiting: 64})
	gate := make(chan struct{})
	v.derive = func(pin, salt []byte, p Params, n uint32) []byte {
		<-gate
		return derive(pin, salt, p, n)
	}
	rule := &Rule{Host: mustHashed(t, hostPIN, cheap)}
	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			role, err := v.Check(context.Background(), "1200", nthSource(i), "0000", rule)
			if role != None || !errors.Is(err, ErrBadPIN) {
				t.Errorf("Check = %v, %v", role, err)
			}
		})
	}
	waitFor(t, "the burst to be admitted or refused", func() bool {
		st := v.Stats()
		return st.Hashing+st.Waiting == DefaultFailures
	})
	close(gate)
	wg.Wait()
	st := v.Stats()
	if st.Failures != DefaultFailures || st.Hashes != 2*DefaultFailures || st.Checks[ResultBlocked] != n-DefaultFailures {
		t.Fatalf("stats %+v: want %d hashed failures and %d refused", st, DefaultFailures, n-DefaultFailures)
	}
	if !v.RoomBlocked("1200") {
		t.Fatal("room not blocked")
	}
}

// A flood spread over many rooms and sources (so no per-room or per-source
// limit applies) still cannot queue more than MaxWaiting checks: the rest
// are refused at once, without hashing.
func TestQueueIsBounded(t *testing.T) {
	v := NewVerifier(Config{Params: cheap, Now: newFakeClock().Now, MaxWaiting: 5})
	gate := make(chan struct{})
	v.derive = func(pin, salt []byte, p Params, n uint32) []byte {
		<-gate
		return derive(pin, salt, p, n)
	}
	rule := &Rule{Host: mustHashed(t, hostPIN, cheap)}
	const n = 30
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := v.Check(context.Background(), "room"+strconv.Itoa(i), nthSource(i), "0000", rule)
			if !errors.Is(err, ErrBadPIN) {
				t.Errorf("Check: %v", err)
			}
		})
	}
	waitFor(t, "the queue to fill and the rest to be refused", func() bool {
		st := v.Stats()
		return st.Hashing+st.Waiting == 6 && st.Checks[ResultBlocked] == n-6
	})
	close(gate)
	wg.Wait()
	if st := v.Stats(); st.Failures != 6 {
		t.Fatalf("%d hashed failures, want 6 (1 hashing + 5 queued)", st.Failures)
	}
}

func TestCheckHonoursContext(t *testing.T) {
	v := NewVerifier(Config{Params: cheap})
	gate := make(chan struct{})
	v.derive = func(pin, salt []byte, p Params, n uint32) []byte {
		<-gate
		return derive(pin, salt, p, n)
	}
	rule := &Rule{Host: mustHashed(t, hostPIN, cheap)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = v.Check(context.Background(), "1300", nthSource(1), "0000", rule)
	}()
	waitFor(t, "the first check to hash", func() bool { return v.Stats().Hashing == 1 })

	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := v.Check(ctx, "1300", nthSource(2), hostPIN, rule)
		errc <- err
	}()
	waitFor(t, "the second check to queue", func() bool { return v.Stats().Waiting == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Check = %v, want context.Canceled", err)
	}
	close(gate)
	<-done
	if st := v.Stats(); st.Failures != 1 || st.Waiting != 0 {
		t.Fatalf("stats %+v: the cancelled check must not count", st)
	}
	// Its reservation was released: the room takes 19 more before blocking.
	v.derive = derive
	for i := range DefaultFailures - 2 {
		check(t, v, "1300", nthSource(10+i), "0000", rule, None)
	}
	if v.RoomBlocked("1300") {
		t.Fatal("blocked early: a cancelled check kept its reservation")
	}
}

func TestBlockedRefusalHonoursContext(t *testing.T) {
	v := NewVerifier(Config{Params: cheap, RoomFailures: 1})
	rule := &Rule{Host: mustHashed(t, hostPIN, cheap)}
	check(t, v, "1400", nthSource(1), "0000", rule, None)
	v.recentTotal.add(time.Hour) // a refusal would sleep an hour
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := v.Check(ctx, "1400", nthSource(2), hostPIN, rule); !errors.Is(err, context.Canceled) {
		t.Fatalf("Check = %v, want context.Canceled", err)
	}
}
