package pin

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkHash is the cost of one argon2id derivation with DefaultParams.
// Check derives two (host and guest), so ms/check is twice ms/hash.
func BenchmarkHash(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Hash("12345678"); err != nil {
			b.Fatal(err)
		}
	}
	ms := float64(b.Elapsed().Microseconds()) / 1000 / float64(b.N)
	b.ReportMetric(ms, "ms/hash")
	b.ReportMetric(2*ms, "ms/check")
}

// BenchmarkCheck is one wrong-PIN Check with DefaultParams, no contention.
func BenchmarkCheck(b *testing.B) {
	v := NewVerifier(Config{AllowList: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, RoomFailures: 1 << 30})
	rule := &Rule{Host: mustHashed(b, hostPIN, DefaultParams), GuestsAllowed: true}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Check(context.Background(), "1", nthSource(1), "0000", rule); err != ErrBadPIN {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/check")
}

// BenchmarkCheckUnderAttack sends 1,000 wrong PINs a second, each from a
// new source, while a legitimate caller keys the right PIN for another
// room; one op is one legitimate Check. Run with -benchtime=20x or so.
//
//   - rooms=5: the attack guesses at five real rooms, the usual case; each
//     room is blocked after 20 failures and the rest are refused unhashed.
//   - unknown_rooms: every attempt names a new room number, so none is
//     ever blocked and every attempt wants hashing: the worst case, where
//     the hash slot is the bottleneck. Attack attempts give up after 3 s,
//     as a caller at a PIN prompt would.
//
// Reported: attack attempts finished per second, attack attempts hashed
// and refused unhashed per second, cores spent deriving (the legitimate
// checks, back to back, included), and the legitimate Check's p50/p99
// latency. The legitimate caller starts 0.5 s into the attack, so its p99
// includes waiting behind the attack's first burst.
func BenchmarkCheckUnderAttack(b *testing.B) {
	for _, scenario := range []string{"rooms=5", "unknown_rooms"} {
		b.Run(scenario, func(b *testing.B) {
			v := NewVerifier(Config{})
			rule := &Rule{Host: mustHashed(b, hostPIN, DefaultParams), Guest: mustHashed(b, guestPIN, DefaultParams), GuestsAllowed: true}
			ctx, stop := context.WithCancel(context.Background())
			var finished atomic.Int64
			var attackers sync.WaitGroup
			attackers.Go(func() {
				tick := time.NewTicker(10 * time.Millisecond)
				defer tick.Stop()
				for i := 0; ; {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
					}
					for range 10 { // 10 per 10 ms tick
						i++
						room := fmt.Sprintf("attacked-%d", i%5)
						if scenario == "unknown_rooms" {
							room = fmt.Sprintf("unknown-%d", i)
						}
						attackers.Go(func() {
							actx, cancel := context.WithTimeout(ctx, 3*time.Second)
							defer cancel()
							_, _ = v.Check(actx, room, nthSource(i), "0000", rule)
							finished.Add(1)
						})
					}
				}
			})
			time.Sleep(500 * time.Millisecond) // let the attack build up
			before := v.Stats()
			start := time.Now()
			lat := make([]time.Duration, 0, b.N)
			legit := netip.MustParseAddr("192.0.2.200")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				t0 := time.Now()
				role, err := v.Check(context.Background(), "legit", legit, hostPIN, rule)
				lat = append(lat, time.Since(t0))
				if err != nil || role != Host {
					b.Fatalf("legitimate check = %v, %v", role, err)
				}
			}
			b.StopTimer()
			wall := time.Since(start)
			after := v.Stats()
			stop()
			attackers.Wait()
			slices.Sort(lat)
			b.ReportMetric(float64(finished.Load())/(wall.Seconds()+0.5), "attempts/s")
			b.ReportMetric((after.HashTime-before.HashTime).Seconds()/wall.Seconds(), "hash-cores")
			b.ReportMetric(float64(after.Checks[ResultBad]-before.Checks[ResultBad])/wall.Seconds(), "attack-hashed/s")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
			b.ReportMetric(float64(after.Checks[ResultBlocked]-before.Checks[ResultBlocked])/wall.Seconds(), "refused/s")
		})
	}
}
