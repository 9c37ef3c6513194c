package pin

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestTimingUniform is a property test: a wrong PIN for a known room, any
// PIN for an unknown room, and any PIN while the room is blocked take about
// the same time and give the same answer. It compares medians loosely
// (within 30 %); it asserts no absolute speed.
func TestTimingUniform(t *testing.T) {
	if testing.Short() {
		t.Skip("timing property test")
	}
	// Costly enough that scheduler noise is small against it.
	p := Params{Memory: 4096, Time: 2, Threads: 1}
	v := NewVerifier(Config{
		Params:       p,
		RoomFailures: 3,
		AllowList:    []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")},
	})
	rule := &Rule{Host: mustHashed(t, hostPIN, p), Guest: mustHashed(t, guestPIN, p), GuestsAllowed: true}
	for range 3 {
		check(t, v, "blocked", nthSource(0), "0000", rule, None)
	}
	if !v.RoomBlocked("blocked") {
		t.Fatal("setup: room not blocked")
	}
	kinds := []struct {
		name string
		room func(i int) string
		rule *Rule
	}{
		// Each attempt in a fresh room, so the wrong-PIN rooms never block.
		{"wrong PIN", func(i int) string { return fmt.Sprintf("known-%d", i) }, rule},
		{"unknown room", func(i int) string { return fmt.Sprintf("unknown-%d", i) }, nil},
		{"blocked room", func(int) string { return "blocked" }, rule},
	}
	const runs = 31
	durations := make([][]time.Duration, len(kinds))
	for i := range runs {
		for j := range kinds { // interleaved in rotating order, so drift and warm-up hit all alike
			k := (i + j) % len(kinds)
			kind := kinds[k]
			start := time.Now()
			role, err := v.Check(context.Background(), kind.room(i), nthSource(i), "0000", kind.rule)
			durations[k] = append(durations[k], time.Since(start))
			if role != None || err != ErrBadPIN { // the same answer, unwrapped
				t.Fatalf("%s: Check = %v, %v; want exactly ErrBadPIN", kind.name, role, err)
			}
		}
	}
	medians := make([]time.Duration, len(kinds))
	for k := range kinds {
		slices.Sort(durations[k])
		medians[k] = durations[k][runs/2]
	}
	t.Logf("medians: wrong %v, unknown %v, blocked %v", medians[0], medians[1], medians[2])
	lo, hi := slices.Min(medians), slices.Max(medians)
	if float64(hi) > 1.3*float64(lo) {
		t.Fatalf("medians differ by more than 30 %%: wrong %v, unknown %v, blocked %v", medians[0], medians[1], medians[2])
	}
	if st := v.Stats(); st.Checks[ResultBlocked] != runs {
		t.Fatalf("%d refused without hashing, want %d", st.Checks[ResultBlocked], runs)
	}
}
