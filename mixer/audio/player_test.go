package audio

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"vmrd/internal/codec"
)

const (
	promptFreq = 1900 // Hz: the test prompt, a whole number of periods a frame
	ownFreq    = 1500 // Hz: what the isolated participant says
)

// hearsFrame asserts that the last frame pcm holds the tones in hears and
// none of the others in freqs. Every frequency is a multiple of 50 Hz, so a
// 20 ms frame holds whole periods and Goertzel needs no longer window.
func hearsFrame(t *testing.T, who string, tick int, pcm []int16, freqs map[string]float64, hears map[string]bool) {
	t.Helper()
	for name, f := range freqs {
		a := amplitude(pcm, f)
		if hears[name] && a < 0.5*toneAmp {
			t.Errorf("tick %d: %s hears %s (%v Hz) at %.0f, want about %d", tick, who, name, f, a, toneAmp)
		}
		if !hears[name] && a > 0.001*toneAmp {
			t.Errorf("tick %d: %s hears %s (%v Hz) at %.0f, want nothing", tick, who, name, f, a)
		}
	}
}

// doneCounter counts calls of its done and the sink calls seen at the first.
type doneCounter struct {
	n         atomic.Int32
	sinkCalls atomic.Int32
	sink      *recSink
}

func (d *doneCounter) done() {
	if d.n.Add(1) == 1 && d.sink != nil {
		d.sink.mu.Lock()
		d.sinkCalls.Store(int32(d.sink.calls))
		d.sink.mu.Unlock()
	}
}

func (d *doneCounter) check(t *testing.T, what string, want int32) {
	t.Helper()
	if got := d.n.Load(); got != want {
		t.Errorf("%s: done called %d times, want %d", what, got, want)
	}
}

func toneClip(freq float64, frames int) []int16 {
	return (&tone{freq: freq, amp: toneAmp}).next(frames * codec.FrameSamples)
}

// TestIsolation follows an isolated participant x, tick by tick, through its
// prompt, joining the meeting and its prompt being stopped.
func TestIsolation(t *testing.T) {
	m := newTestMixer(t, newFactory())
	ps := threeTalkersAndListener()
	room(t, m, "pcm", ps)
	xs := &recSink{}
	x := &party{id: "x", freq: ownFreq, sink: xs, gen: &tone{freq: ownFreq, amp: toneAmp}}
	x.in = mustAdd(t, m, "x", "pcm", xs)
	all := append(ps[:len(ps):len(ps)], x)
	if x.in.InMeeting() {
		t.Fatal("a new input is in the meeting, want isolated")
	}
	clip := toneClip(promptFreq, 1)
	d := &doneCounter{}
	if err := m.Play("x", [][]int16{clip}, true, d.done); err != nil {
		t.Fatal(err)
	}
	freqs := map[string]float64{"a": 400, "b": 700, "c": 1100, "x": ownFreq, "prompt": promptFreq}
	run(m, all, 5) // prebuffer and voice activity

	// Isolated: x hears its prompt only; nobody hears x or the prompt.
	for tick := range 20 {
		run(m, all, 1)
		hearsFrame(t, "x", tick, xs.last(t, codec.FrameSamples), freqs, map[string]bool{"prompt": true})
		for _, p := range ps {
			hears := map[string]bool{"a": p.id != "a", "b": p.id != "b", "c": p.id != "c"}
			hearsFrame(t, p.id, tick, p.sink.last(t, codec.FrameSamples), freqs, hears)
		}
		if x.in.Speaking() {
			t.Fatalf("tick %d: isolated x is speaking", tick)
		}
	}
	if got := xs.count(); got != 25 {
		t.Errorf("isolated x got %d payloads in 25 ticks, want one a tick", got)
	}

	// In the meeting: x hears the room and its prompt over it, and is heard
	// from the tick after it fades in.
	if err := m.SetInMeeting("x", true); err != nil {
		t.Fatal(err)
	}
	run(m, all, 1)
	for tick := range 10 {
		run(m, all, 1)
		hearsFrame(t, "x", tick, xs.last(t, codec.FrameSamples), freqs,
			map[string]bool{"a": true, "b": true, "c": true, "prompt": true})
		for _, p := range ps {
			hears := map[string]bool{"a": p.id != "a", "b": p.id != "b", "c": p.id != "c", "x": true}
			hearsFrame(t, p.id, tick, p.sink.last(t, codec.FrameSamples), freqs, hears)
		}
	}
	if !x.in.Speaking() || !x.in.InMeeting() {
		t.Errorf("x in the meeting: Speaking() = %t, InMeeting() = %t, want true, true", x.in.Speaking(), x.in.InMeeting())
	}
	d.check(t, "looping prompt", 0)

	if err := m.StopPlay("x"); err != nil {
		t.Fatal(err)
	}
	run(m, all, 1)
	d.check(t, "stopped prompt", 1)
	hearsFrame(t, "x", 0, xs.last(t, codec.FrameSamples), freqs, map[string]bool{"a": true, "b": true, "c": true})

	// Isolated again: x fades out of the mix this tick, then is gone.
	if err := m.SetInMeeting("x", false); err != nil {
		t.Fatal(err)
	}
	run(m, all, 1)
	for tick := range 5 {
		run(m, all, 1)
		hearsFrame(t, "x", tick, xs.last(t, codec.FrameSamples), freqs, nil)
		hearsFrame(t, "d", tick, ps[3].sink.last(t, codec.FrameSamples), freqs, map[string]bool{"a": true, "b": true, "c": true})
	}
	for _, err := range []error{m.SetInMeeting("nobody", true), m.Play("nobody", nil, false, nil), m.StopPlay("nobody")} {
		if !errors.Is(err, ErrUnknownInput) {
			t.Errorf("call on an unknown id = %v, want ErrUnknownInput", err)
		}
	}
}

// TestPlayOverMeeting: a listener's prompt is added to its mix with its own
// encode while it plays, and it returns to the shared payload after.
func TestPlayOverMeeting(t *testing.T) {
	f := newFactory()
	m := newTestMixer(t, f)
	ps := append(threeTalkersAndListener(), &party{id: "e"})
	room(t, m, "pcm", ps)
	run(m, ps, 10)
	d, e := ps[3], ps[4]
	done := &doneCounter{sink: d.sink}
	if err := m.Play("d", [][]int16{toneClip(promptFreq, 3)}, false, done.done); err != nil {
		t.Fatal(err)
	}
	freqs := map[string]float64{"a": 400, "b": 700, "c": 1100, "prompt": promptFreq}
	room3 := map[string]bool{"a": true, "b": true, "c": true}
	for tick := range 3 {
		before := f.encodes.Load()
		run(m, ps, 1)
		// The shared mix, three mix-minus and d's own.
		if got := f.encodes.Load() - before; got != 5 {
			t.Errorf("tick %d: %d encodes, want 5", tick, got)
		}
		hearsFrame(t, "d", tick, d.sink.last(t, codec.FrameSamples), freqs,
			map[string]bool{"a": true, "b": true, "c": true, "prompt": true})
		hearsFrame(t, "e", tick, e.sink.last(t, codec.FrameSamples), freqs, room3)
		hearsFrame(t, "a", tick, ps[0].sink.last(t, codec.FrameSamples), freqs, map[string]bool{"b": true, "c": true})
	}
	done.check(t, "after the clip", 1)
	if got := done.sinkCalls.Load(); got != int32(d.sink.count()) {
		t.Errorf("done called after %d payloads, want after the clip's last (%d)", got, d.sink.count())
	}
	before := f.encodes.Load()
	run(m, ps, 1)
	if got := f.encodes.Load() - before; got != 4 {
		t.Errorf("after the clip: %d encodes, want 4", got)
	}
	hearsFrame(t, "d", 3, d.sink.last(t, codec.FrameSamples), freqs, room3)
	if a, b := d.sink.first, e.sink.first; a[len(a)-1] != b[len(b)-1] {
		t.Error("after the clip d and e got different payload buffers, want the shared one")
	}
	done.check(t, "later", 1)
}

// dc is n samples of v.
func dc(v int16, n int) []int16 {
	p := make([]int16, n)
	for i := range p {
		p[i] = v
	}
	return p
}

// TestPlayer drives an isolated input's player tick by tick and checks every
// sample it hears (the PCM encoder is exact and nothing is mixed in).
func TestPlayer(t *testing.T) {
	const F = codec.FrameSamples
	a := dc(1000, 2*F+F/2)
	b := dc(2000, F)
	c := dc(3000, F/2)
	type step struct {
		// before the tick
		play [][]int16 // nil: no call
		loop bool
		stop bool
		// heard this tick: runs of (value, samples) filling the frame
		heard []int16
		runs  []int
		// done calls so far, for each Play made so far
		dones []int32
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"plays out then silence", []step{
			{play: [][]int16{a}, heard: []int16{1000}, runs: []int{F}, dones: []int32{0}},
			{heard: []int16{1000}, runs: []int{F}, dones: []int32{0}},
			{heard: []int16{1000, 0}, runs: []int{F / 2, F / 2}, dones: []int32{1}},
			{heard: []int16{0}, runs: []int{F}, dones: []int32{1}},
		}},
		{"ends on a frame boundary", []step{
			{play: [][]int16{b}, heard: []int16{2000}, runs: []int{F}, dones: []int32{1}},
			{heard: []int16{0}, runs: []int{F}, dones: []int32{1}},
		}},
		{"clips back to back, empty ones skipped", []step{
			{play: [][]int16{c, {}, b, c, {}}, heard: []int16{3000, 2000}, runs: []int{F / 2, F / 2}, dones: []int32{0}},
			{heard: []int16{2000, 3000}, runs: []int{F / 2, F / 2}, dones: []int32{1}},
		}},
		{"nothing to play", []step{
			{play: [][]int16{}, heard: []int16{0}, runs: []int{F}, dones: []int32{1}},
		}},
		{"empty loop ends", []step{
			{play: [][]int16{{}}, loop: true, heard: []int16{0}, runs: []int{F}, dones: []int32{1}},
		}},
		{"loop", []step{
			{play: [][]int16{c, b}, loop: true, heard: []int16{3000, 2000}, runs: []int{F / 2, F / 2}, dones: []int32{0}},
			{heard: []int16{2000, 3000}, runs: []int{F / 2, F / 2}, dones: []int32{0}},
			{heard: []int16{2000}, runs: []int{F}, dones: []int32{0}},
			{heard: []int16{3000, 2000}, runs: []int{F / 2, F / 2}, dones: []int32{0}},
		}},
		{"replace", []step{
			{play: [][]int16{a}, heard: []int16{1000}, runs: []int{F}, dones: []int32{0}},
			{play: [][]int16{b}, heard: []int16{2000}, runs: []int{F}, dones: []int32{1, 1}},
		}},
		{"replace a loop", []step{
			{play: [][]int16{b}, loop: true, heard: []int16{2000}, runs: []int{F}, dones: []int32{0}},
			{heard: []int16{2000}, runs: []int{F}, dones: []int32{0}},
			{play: [][]int16{c}, heard: []int16{3000, 0}, runs: []int{F / 2, F / 2}, dones: []int32{1, 1}},
		}},
		{"stop", []step{
			{play: [][]int16{b}, loop: true, heard: []int16{2000}, runs: []int{F}, dones: []int32{0}},
			{stop: true, heard: []int16{0}, runs: []int{F}, dones: []int32{1}},
			{heard: []int16{0}, runs: []int{F}, dones: []int32{1}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestMixer(t, newFactory())
			sink := &recSink{}
			in := mustAdd(t, m, "x", "pcm", sink)
			var dones []*doneCounter
			for i, st := range tt.steps {
				if st.play != nil {
					d := &doneCounter{}
					dones = append(dones, d)
					if err := in.Play(st.play, st.loop, d.done); err != nil {
						t.Fatal(err)
					}
				}
				if st.stop {
					if err := in.StopPlay(); err != nil {
						t.Fatal(err)
					}
				}
				m.Tick()
				frame := sink.last(t, F)
				pos := 0
				for r, n := range st.runs {
					for j := pos; j < pos+n; j++ {
						if frame[j] != st.heard[r] {
							t.Fatalf("step %d: sample %d = %d, want %d", i, j, frame[j], st.heard[r])
						}
					}
					pos += n
				}
				for k, want := range st.dones {
					dones[k].check(t, fmt.Sprintf("step %d, play %d", i, k), want)
				}
			}
		})
	}
}

func TestPlayReplacedBeforeStart(t *testing.T) {
	m := newTestMixer(t, newFactory())
	sink := &recSink{}
	mustAdd(t, m, "x", "pcm", sink)
	first, second := &doneCounter{}, &doneCounter{}
	if err := m.Play("x", [][]int16{dc(1000, codec.FrameSamples)}, true, first.done); err != nil {
		t.Fatal(err)
	}
	if err := m.Play("x", [][]int16{dc(2000, codec.FrameSamples)}, true, second.done); err != nil {
		t.Fatal(err)
	}
	first.check(t, "before the tick", 0) // done is called from the tick
	m.Tick()
	first.check(t, "replaced before it started", 1)
	second.check(t, "playing", 0)
	if got := sink.last(t, 1)[0]; got != 2000 {
		t.Errorf("heard %d, want the second clip's 2000", got)
	}
}

// TestDoneMayPlay: done may start the next prompt, as the room does to
// chain a prompt after another.
func TestDoneMayPlay(t *testing.T) {
	m := newTestMixer(t, newFactory())
	sink := &recSink{}
	mustAdd(t, m, "x", "pcm", sink)
	second := &doneCounter{}
	err := m.Play("x", [][]int16{dc(1000, codec.FrameSamples)}, false, func() {
		if err := m.Play("x", [][]int16{dc(2000, codec.FrameSamples)}, false, second.done); err != nil {
			t.Errorf("Play from done: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	m.Tick()
	m.Tick()
	if got := sink.last(t, 2*codec.FrameSamples); got[0] != 1000 || got[codec.FrameSamples] != 2000 {
		t.Errorf("heard %d then %d, want 1000 then 2000", got[0], got[codec.FrameSamples])
	}
	second.check(t, "second prompt", 1)
}

func TestRemoveAndCloseFinishPlayers(t *testing.T) {
	m := New(Config{NewEncoder: newFactory().New})
	mustAdd(t, m, "x", "pcm", &recSink{})
	mustJoin(t, m, "y", "pcm", &recSink{})
	mustAdd(t, m, "z", "pcm", &recSink{})
	loop := [][]int16{dc(1000, codec.FrameSamples)}
	xPlaying, xPending, y, z := &doneCounter{}, &doneCounter{}, &doneCounter{}, &doneCounter{}
	for _, c := range []struct {
		id string
		d  *doneCounter
	}{{"x", xPlaying}, {"y", y}} {
		if err := m.Play(c.id, loop, true, c.d.done); err != nil {
			t.Fatal(err)
		}
	}
	m.Tick()
	if err := m.Play("x", loop, true, xPending.done); err != nil {
		t.Fatal(err)
	}
	in, _ := m.Input("x")
	if err := m.Remove("x"); err != nil {
		t.Fatal(err)
	}
	xPlaying.check(t, "playing at Remove", 1)
	xPending.check(t, "pending at Remove", 1)
	late := &doneCounter{}
	if err := in.Play(loop, true, late.done); !errors.Is(err, ErrUnknownInput) {
		t.Errorf("Play on a removed input = %v, want ErrUnknownInput", err)
	}
	if err := m.Play("z", loop, false, z.done); err != nil {
		t.Fatal(err)
	}
	m.Tick()
	y.check(t, "before Close", 0)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	y.check(t, "playing at Close", 1)
	z.check(t, "ended before Close", 1)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []*doneCounter{xPlaying, xPending, y, z} {
		d.check(t, "after a second Close", 1)
	}
	late.check(t, "refused Play", 0)
}

// TestPlayConcurrent races Play, StopPlay, SetInMeeting, joins and leaves
// against the running tick goroutine; afterwards every accepted Play has
// had its done called exactly once.
func TestPlayConcurrent(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := New(Config{NewEncoder: newFactory().New})
	ps := threeTalkersAndListener()
	room(t, m, "pcm", ps)
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	clip := [][]int16{toneClip(promptFreq, 1), dc(100, 7)}
	var accepted, called atomic.Int64
	var mu sync.Mutex
	perPlay := map[int64]int{} // play number -> done calls
	play := func(id string, loop bool) {
		n := accepted.Add(1)
		err := m.Play(id, clip, loop, func() {
			called.Add(1)
			mu.Lock()
			perPlay[n]++
			mu.Unlock()
		})
		if err != nil {
			accepted.Add(-1)
			mu.Lock()
			perPlay[n] = 1 // refused: never called
			mu.Unlock()
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w, p := range ps {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				switch i % 4 {
				case 0, 1:
					play(p.id, i%8 == 0)
				case 2:
					_ = m.StopPlay(p.id)
				case 3:
					_ = m.SetInMeeting(p.id, (i+w)%3 != 0)
				}
				if p.freq != 0 {
					p.in.Write(p.gen.next(codec.FrameSamples / 4))
				}
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
			id := fmt.Sprint("churn", i%3)
			if _, err := m.Add(id, "pcm", &recSink{}); err == nil {
				_ = m.SetInMeeting(id, i%2 == 0)
				play(id, true)
			}
			_ = m.Remove(id)
		}
	})
	waitFor(t, "dones while ticking", func() bool { return called.Load() > 200 })
	close(stop)
	wg.Wait()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if a, c := accepted.Load(), called.Load(); a != c {
		t.Errorf("%d plays accepted, %d dones called", a, c)
	}
	mu.Lock()
	defer mu.Unlock()
	for n, calls := range perPlay {
		if calls != 1 {
			t.Errorf("play %d: done called %d times", n, calls)
		}
	}
}

// TestTickDoesNotAllocate: a room with talkers, listeners, an isolated
// looping prompt and a listener's prompt ticks without allocating once warm.
func TestTickDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	m := newTestMixer(t, newFactory())
	ps := threeTalkersAndListener()
	room(t, m, "pcm", ps)
	mustAdd(t, m, "lobby", "pcm", &recSink{})
	hold := [][]int16{toneClip(promptFreq, 3), make([]int16, 2*codec.FrameSamples+7)}
	if err := m.Play("lobby", hold, true, func() {}); err != nil {
		t.Fatal(err)
	}
	if err := m.Play("d", hold, true, func() {}); err != nil {
		t.Fatal(err)
	}
	frames := make([][]int16, len(ps))
	for i, p := range ps {
		frames[i] = toneClip(p.freq, 1)
	}
	step := func() {
		for i, p := range ps {
			p.in.Write(frames[i])
		}
		m.Tick()
	}
	for range 20 {
		step()
	}
	if allocs := testing.AllocsPerRun(100, step); allocs != 0 {
		t.Errorf("%.1f allocations a tick, want 0", allocs)
	}
}
