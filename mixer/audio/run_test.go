package audio

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"vmrd/internal/codec"
	"vmrd/internal/metrics"
)

func TestCatchUp(t *testing.T) {
	const p = 20 * time.Millisecond
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name        string
		late        time.Duration // now - next
		wantRun     int
		wantNext    time.Duration // new next - t0
		wantSkipped int
	}{
		{"on time", 0, 1, p, 0},
		{"timer slightly early", -2 * time.Millisecond, 1, p, 0},
		{"too early", -15 * time.Millisecond, 0, 0, 0},
		{"a little late", 5 * time.Millisecond, 1, p, 0},
		{"one tick behind", p, 2, 2 * p, 0},
		{"stalled 45 ms", 45 * time.Millisecond, 2, 3 * p, 1},
		{"stalled a second", time.Second, 2, time.Second + p, 49},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, next, skipped := catchUp(t0.Add(tt.late), t0, p, maxBurst)
			if run != tt.wantRun || next.Sub(t0) != tt.wantNext || skipped != tt.wantSkipped {
				t.Errorf("catchUp = %d ticks, next +%v, %d skipped; want %d, +%v, %d",
					run, next.Sub(t0), skipped, tt.wantRun, tt.wantNext, tt.wantSkipped)
			}
		})
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStartClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	f := newFactory()
	met := metrics.New()
	m := New(Config{NewEncoder: f.New, Metrics: met})
	sink := &recSink{}
	in := mustAdd(t, m, "a", "pcm", sink)
	mustAdd(t, m, "b", "pcm", &recSink{})
	in.Write(make([]int16, 10*codec.FrameSamples))
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatalf("second Start: %v", err)
	}
	waitFor(t, "five ticks", func() bool { return sink.count() >= 5 })
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	n := sink.count()
	m.Tick()
	if got := sink.count(); got != n {
		t.Errorf("sink called %d times after Close", got-n)
	}
	if got := f.open(); got != 0 {
		t.Errorf("%d encoders open after Close", got)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := m.Add("c", "pcm", &recSink{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close = %v, want ErrClosed", err)
	}
	if err := m.Start(); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close = %v, want ErrClosed", err)
	}
	if got := tickCount(t, met); got < 5 {
		t.Errorf("tick histogram has %d observations, want at least 5", got)
	}
}

func tickCount(t *testing.T, met *metrics.Metrics) uint64 {
	t.Helper()
	mfs, err := met.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "vmrd_mixer_tick_seconds" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatal("no vmrd_mixer_tick_seconds")
	return 0
}

// TestConcurrent runs writers, mute toggles, readers of voice activity and
// joins and leaves against the tick; go test -race checks the sharing.
func TestConcurrent(t *testing.T) {
	defer goleak.VerifyNone(t)
	f := newFactory()
	m := New(Config{NewEncoder: f.New, Metrics: metrics.New()})
	defer m.Close()
	ps := threeTalkersAndListener()
	room(t, m, "pcm", ps)

	const ticks = 300
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range ps[:3] {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				p.in.Write(p.gen.next(codec.FrameSamples / 2))
			}
		})
	}
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ps[1].in.SetMuted(i%2 == 0)
			_ = ps[0].in.Speaking()
			_ = ps[0].in.Level()
			_ = ps[0].in.Stats()
			_ = m.String()
		}
	})
	churnErr := make(chan error, 1)
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				churnErr <- nil
				return
			default:
			}
			id := fmt.Sprint("churn", i%4)
			format := []string{"pcm", "opus", "pcmu"}[i%3]
			if in, err := m.Add(id, format, &recSink{}); err == nil {
				in.Write(make([]int16, codec.FrameSamples))
			}
			if err := m.Remove(id); err != nil {
				churnErr <- err
				return
			}
		}
	})
	for range ticks {
		m.Tick()
	}
	close(stop)
	wg.Wait()
	if err := <-churnErr; err != nil {
		t.Errorf("churn: %v", err)
	}
	for _, p := range ps {
		// Every participant gets a frame every tick, talking or not.
		if got := p.sink.count(); got != ticks {
			t.Errorf("%s got %d payloads in %d ticks", p.id, got, ticks)
		}
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if got := f.open(); got != 0 {
		t.Errorf("%d encoders open after Close", got)
	}
}
