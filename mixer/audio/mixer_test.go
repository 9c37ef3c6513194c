package audio

import (
	"errors"
	"fmt"
	"testing"

	"vmrd/internal/codec"
	"vmrd/internal/metrics"
)

const toneAmp = 6000 // three of these sum below full scale: no limiting

// window is 100 ms: every test tone has a whole number of periods in it.
const window = codec.MixRate / 10

type party struct {
	id   string
	freq float64 // 0: sends nothing
	in   *Input
	sink *recSink
	gen  *tone
}

// room adds the parties to m, all with one format, and puts them in the
// meeting.
func room(t *testing.T, m *Mixer, format string, parties []*party) {
	t.Helper()
	for _, p := range parties {
		if p.sink == nil {
			p.sink = &recSink{}
		}
		p.in = mustJoin(t, m, p.id, format, p.sink)
		p.gen = &tone{freq: p.freq, amp: toneAmp}
	}
}

// run writes one frame from every sending party and ticks, n times.
func run(m *Mixer, parties []*party, n int) {
	for range n {
		for _, p := range parties {
			if p.freq != 0 {
				p.in.Write(p.gen.next(codec.FrameSamples))
			}
		}
		m.Tick()
	}
}

// checkHears asserts that p hears exactly the tones of the parties in hears.
func checkHears(t *testing.T, p *party, all []*party, hears map[string]bool, tol float64) {
	checkHearsMin(t, p, all, hears, 0.5, tol)
}

// checkHearsMin is checkHears with the amplitude of a heard tone at least
// heardMin of what was sent.
func checkHearsMin(t *testing.T, p *party, all []*party, hears map[string]bool, heardMin, tol float64) {
	t.Helper()
	pcm := p.sink.last(t, window)
	for _, o := range all {
		if o.freq == 0 {
			continue
		}
		a := amplitude(pcm, o.freq)
		if hears[o.id] && a < heardMin*toneAmp {
			t.Errorf("%s hears %s (%v Hz) at amplitude %.0f, want about %d", p.id, o.id, o.freq, a, toneAmp)
		}
		if !hears[o.id] && a > tol*toneAmp {
			t.Errorf("%s hears %s (%v Hz) at amplitude %.0f, want silence", p.id, o.id, o.freq, a)
		}
	}
}

func threeTalkersAndListener() []*party {
	return []*party{{id: "a", freq: 400}, {id: "b", freq: 700}, {id: "c", freq: 1100}, {id: "d"}}
}

func TestWhoHearsWhom(t *testing.T) {
	f := newFactory()
	m := newTestMixer(t, f)
	ps := threeTalkersAndListener()
	room(t, m, "pcm", ps)
	run(m, ps, 50)

	for _, p := range ps {
		hears := map[string]bool{}
		for _, o := range ps {
			hears[o.id] = o.id != p.id
		}
		// The PCM "codec" is exact, so a participant's own tone must be
		// absent to rounding.
		checkHears(t, p, ps, hears, 0.001)
		if got, want := p.in.Speaking(), p.freq != 0; got != want {
			t.Errorf("%s speaking = %t, want %t", p.id, got, want)
		}
		if p.sink.count() != 50 {
			t.Errorf("%s got %d payloads in 50 ticks", p.id, p.sink.count())
		}
	}
	if lvl := ps[0].in.Level(); lvl < -22 || lvl > -12 {
		t.Errorf("level of a %d-amplitude tone = %.1f dBov, want about -17", toneAmp, lvl)
	}
	if lvl := ps[3].in.Level(); lvl != silenceDB {
		t.Errorf("level of a silent input = %.1f dBov, want %v", lvl, silenceDB)
	}
	if got, want := m.String(), "Mixer(room 1, 4 inputs)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestMute(t *testing.T) {
	f := newFactory()
	m := newTestMixer(t, f)
	ps := threeTalkersAndListener()
	room(t, m, "pcm", ps)
	run(m, ps, 20)
	if err := m.SetMuted("b", true); err != nil {
		t.Fatal(err)
	}
	run(m, ps, 10)

	all := map[string]bool{"a": true, "b": true, "c": true}
	for _, p := range ps {
		hears := map[string]bool{}
		for id, v := range all {
			// Nobody hears b; b still hears the room but not itself.
			hears[id] = v && id != p.id && id != "b"
		}
		checkHears(t, p, ps, hears, 0.001)
	}
	b := ps[1].in
	if !b.Muted() || b.Speaking() {
		t.Errorf("muted b: Muted() = %t, Speaking() = %t, want true, false", b.Muted(), b.Speaking())
	}
	if b.Level() < -25 {
		t.Errorf("muted b level = %.1f dBov, want its tone's level (muted inputs are still measured)", b.Level())
	}

	b.SetMuted(false)
	run(m, ps, 10)
	checkHears(t, ps[3], ps, all, 0.001)
	if err := m.SetMuted("nobody", true); !errors.Is(err, ErrUnknownInput) {
		t.Errorf("SetMuted(unknown) = %v, want ErrUnknownInput", err)
	}
}

func TestSharedPayloadEncodedOncePerFormat(t *testing.T) {
	tests := []struct {
		name    string
		formats []string // one participant each
		talkers []int    // indexes of participants that send a tone
		// encodes per tick, and encoders made per format (one for each
		// participant, made by Add, and one shared).
		wantEncodes int64
		wantMade    map[string]int
	}{
		{
			name:        "nobody talks",
			formats:     []string{"opus", "opus", "opus", "pcmu", "pcmu"},
			wantEncodes: 2,
			wantMade:    map[string]int{"opus": 4, "pcmu": 3},
		},
		{
			name:        "one talker",
			formats:     []string{"opus", "opus", "opus", "pcmu", "pcmu"},
			talkers:     []int{0},
			wantEncodes: 3,
			wantMade:    map[string]int{"opus": 4, "pcmu": 3},
		},
		{
			name:        "every opus participant talks",
			formats:     []string{"opus", "opus", "pcmu", "pcmu", "pcmu"},
			talkers:     []int{0, 1},
			wantEncodes: 3, // two own encodes, the opus mix is not needed
			wantMade:    map[string]int{"opus": 3, "pcmu": 4},
		},
		{
			name:        "everyone talks",
			formats:     []string{"opus", "pcmu", "pcmu"},
			talkers:     []int{0, 1, 2},
			wantEncodes: 3,
			wantMade:    map[string]int{"opus": 2, "pcmu": 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFactory()
			m := newTestMixer(t, f)
			var ps []*party
			for i, format := range tt.formats {
				p := &party{id: fmt.Sprint("p", i), sink: &recSink{}}
				p.in = mustJoin(t, m, p.id, format, p.sink)
				p.gen = &tone{freq: 400 + 300*float64(i), amp: toneAmp}
				ps = append(ps, p)
			}
			for _, i := range tt.talkers {
				ps[i].freq = ps[i].gen.freq
			}
			run(m, ps, 5) // warm up: prebuffer, lazy encoders
			before := f.encodes.Load()
			const ticks = 10
			run(m, ps, ticks)
			if got := (f.encodes.Load() - before) / ticks; got != tt.wantEncodes {
				t.Errorf("encodes per tick = %d, want %d", got, tt.wantEncodes)
			}
			for format, want := range tt.wantMade {
				if got := f.madeFor(format); got != want {
					t.Errorf("encoders made for %s = %d, want %d", format, got, want)
				}
			}
			// Listeners of one format get the very same bytes each tick.
			byFormat := map[string][]*party{}
			for i, p := range ps {
				if p.freq == 0 {
					byFormat[tt.formats[i]] = append(byFormat[tt.formats[i]], p)
				}
			}
			for format, listeners := range byFormat {
				for _, p := range listeners[1:] {
					a, b := listeners[0].sink.first, p.sink.first
					if a[len(a)-1] != b[len(b)-1] {
						t.Errorf("%s listeners %s and %s got different payload buffers", format, listeners[0].id, p.id)
					}
				}
			}
		})
	}
}

func TestClamping(t *testing.T) {
	dc := func(v int16) func(int) []int16 {
		return func(n int) []int16 {
			p := make([]int16, n)
			for i := range p {
				p[i] = v
			}
			return p
		}
	}
	tests := []struct {
		name   string
		inputs []func(int) []int16
		// the listener's last frame must lie in [lo, hi].
		lo, hi int16
		// the first talker's last frame must lie in [tlo, thi].
		tlo, thi int16
	}{
		{"two at positive full scale", []func(int) []int16{dc(32767), dc(32767)}, 32000, 32767, 32000, 32767},
		{"two at negative full scale", []func(int) []int16{dc(-32768), dc(-32768)}, -32768, -32000, -32768, -32000},
		{"three near full scale", []func(int) []int16{dc(30000), dc(30000), dc(30000)}, 32000, 32767, 32000, 32767},
		{"below full scale is exact", []func(int) []int16{dc(10000), dc(12000)}, 22000, 22000, 12000, 12000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestMixer(t, newFactory())
			var ins []*Input
			var talker *recSink
			for i := range tt.inputs {
				s := &recSink{}
				if i == 0 {
					talker = s
				}
				ins = append(ins, mustJoin(t, m, fmt.Sprint("t", i), "pcm", s))
			}
			listener := &recSink{}
			mustJoin(t, m, "listener", "pcm", listener)
			for range 20 {
				for i, in := range ins {
					in.Write(tt.inputs[i](codec.FrameSamples))
				}
				m.Tick()
			}
			check := func(who string, pcm []int16, lo, hi int16) {
				t.Helper()
				for i, v := range pcm {
					if v < lo || v > hi {
						t.Fatalf("%s sample %d = %d, want within [%d, %d]", who, i, v, lo, hi)
					}
				}
			}
			check("listener", listener.last(t, codec.FrameSamples), tt.lo, tt.hi)
			check("talker", talker.last(t, codec.FrameSamples), tt.tlo, tt.thi)
		})
	}
}

// TestLimiterKeepsToneClean sums three in-phase tones at 90% of full scale:
// hard clipping would turn the mix into a near square wave, rich in the third
// harmonic; the limiter scales it instead.
func TestLimiterKeepsToneClean(t *testing.T) {
	m := newTestMixer(t, newFactory())
	var gens []*tone
	var ins []*Input
	for i := range 3 {
		ins = append(ins, mustJoin(t, m, fmt.Sprint("t", i), "pcm", &recSink{}))
		gens = append(gens, &tone{freq: 400, amp: 0.9 * 32767})
	}
	listener := &recSink{}
	mustJoin(t, m, "listener", "pcm", listener)
	for range 50 {
		for i, in := range ins {
			in.Write(gens[i].next(codec.FrameSamples))
		}
		m.Tick()
	}
	pcm := listener.last(t, window)
	fund, third := amplitude(pcm, 400), amplitude(pcm, 1200)
	if fund < 30000 {
		t.Errorf("fundamental amplitude %.0f, want near full scale", fund)
	}
	if third > 0.01*fund {
		t.Errorf("third harmonic at %.1f%% of the fundamental, want under 1%% (clipping)", 100*third/fund)
	}
}

func TestUnderrunRebuffers(t *testing.T) {
	met := metrics.New()
	m := New(Config{NewEncoder: newFactory().New, Metrics: met})
	defer m.Close()
	talker := mustJoin(t, m, "talker", "pcm", &recSink{})
	listener := &recSink{}
	idle := mustJoin(t, m, "listener", "pcm", listener)
	gen := &tone{freq: 400, amp: toneAmp}

	steps := []struct {
		writes    int  // frames written before the tick
		heard     bool // the listener hears the tone this tick
		underruns uint64
	}{
		{1, false, 0}, // 20 ms queued: still prebuffering (40 ms)
		{1, true, 0},  // 40 ms: plays, 20 ms left
		{1, true, 0},
		{0, true, 0},  // plays the last 20 ms
		{0, false, 1}, // dry: one underrun, back to buffering
		{0, false, 1}, // still dry: not counted again
		{1, false, 1}, // 20 ms queued: buffering
		{1, true, 1},  // 40 ms: plays again
		{1, true, 1},
	}
	for i, st := range steps {
		for range st.writes {
			talker.Write(gen.next(codec.FrameSamples))
		}
		m.Tick()
		heard := levelDB(listener.last(t, codec.FrameSamples)) > -40
		if heard != st.heard {
			t.Errorf("step %d: heard = %t, want %t", i, heard, st.heard)
		}
		if got := talker.Stats().Underruns; got != st.underruns {
			t.Errorf("step %d: underruns = %d, want %d", i, got, st.underruns)
		}
	}
	if got := met.AudioUnderruns.Load(); got != 1 {
		t.Errorf("metric underruns = %d, want 1", got)
	}
	if got := idle.Stats().Underruns; got != 0 {
		t.Errorf("an input that never sent counted %d underruns", got)
	}
}

func TestOverflowDropsOldest(t *testing.T) {
	met := metrics.New()
	m := New(Config{NewEncoder: newFactory().New, Metrics: met})
	defer m.Close()
	in := mustJoin(t, m, "talker", "pcm", &recSink{})
	listener := &recSink{}
	mustJoin(t, m, "listener", "pcm", listener)

	// 300 ms of a ramp into a 200 ms queue, in 20 ms writes.
	const total = 15 * codec.FrameSamples
	ramp := make([]int16, total)
	for i := range ramp {
		ramp[i] = int16(i + 1000)
	}
	for i := 0; i < total; i += codec.FrameSamples {
		in.Write(ramp[i : i+codec.FrameSamples])
	}
	st := in.Stats()
	if st.DroppedSamples != 5*codec.FrameSamples {
		t.Errorf("dropped %d samples, want %d", st.DroppedSamples, 5*codec.FrameSamples)
	}
	if got := met.AudioFramesDropped.Load(); got != 5 {
		t.Errorf("metric frames dropped = %d, want 5", got)
	}
	if got := in.queued(); got != 10*codec.FrameSamples {
		t.Errorf("queued %d samples, want %d", got, 10*codec.FrameSamples)
	}

	m.Tick()
	frame := listener.last(t, codec.FrameSamples)
	// The first gateRampSamples fade in; after that the listener hears the
	// ramp from the oldest sample kept, 100 ms in.
	for i := gateRampSamples; i < codec.FrameSamples; i++ {
		if want := ramp[5*codec.FrameSamples+i]; frame[i] != want {
			t.Fatalf("sample %d = %d, want %d (oldest samples dropped first)", i, frame[i], want)
		}
	}
}

func TestDriftCatchUp(t *testing.T) {
	tests := []struct {
		name        string
		amp         float64 // 0 sends digital silence
		wantSkipped bool
	}{
		{"silent sender is trimmed", 0, true},
		{"talking sender is not cut", toneAmp, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newTestMixer(t, newFactory())
			in := mustJoin(t, m, "fast", "pcm", &recSink{})
			gen := &tone{freq: 400, amp: tt.amp}
			// The sender's clock runs 5% fast: 1008 samples every 20 ms.
			maxQueued := 0
			for range 150 {
				in.Write(gen.next(codec.FrameSamples * 105 / 100))
				m.Tick()
				maxQueued = max(maxQueued, in.queued())
			}
			st := in.Stats()
			if st.DroppedSamples != 0 {
				t.Errorf("dropped %d samples on overflow", st.DroppedSamples)
			}
			if got := st.SkippedSamples > 0; got != tt.wantSkipped {
				t.Errorf("skipped %d samples, want skipping %t", st.SkippedSamples, tt.wantSkipped)
			}
			if tt.wantSkipped && maxQueued > m.prebuffer+driftWindow*48+codec.FrameSamples*2 {
				t.Errorf("queue reached %d samples, want it trimmed back towards %d", maxQueued, m.prebuffer)
			}
		})
	}
}

func TestRemoveDuringTicks(t *testing.T) {
	f := newFactory()
	m := newTestMixer(t, f)
	ps := threeTalkersAndListener()
	room(t, m, "pcm", ps)
	solo := mustJoin(t, m, "solo", "g722", &recSink{})
	run(m, ps, 20)

	b := ps[1]
	if err := m.Remove("b"); err != nil {
		t.Fatal(err)
	}
	if err := m.Remove("solo"); err != nil {
		t.Fatal(err)
	}
	calls := b.sink.count()
	run(m, ps, 20) // still writes b's tone into the removed input
	if got := b.sink.count(); got != calls {
		t.Errorf("removed b's sink was called %d more times", got-calls)
	}
	rest := []*party{ps[0], ps[2], ps[3]}
	for _, p := range rest {
		checkHears(t, p, []*party{ps[0], ps[1], ps[2]}, map[string]bool{"a": p.id != "a", "c": p.id != "c"}, 0.001)
	}
	if got := m.Len(); got != 3 {
		t.Errorf("Len() = %d, want 3", got)
	}
	solo.Write(make([]int16, codec.FrameSamples)) // ignored, no panic
	// Open encoders: a, c and d own; the pcm mix. b's and solo's own and
	// g722's are closed.
	if got := f.open(); got != 4 {
		t.Errorf("%d encoders open, want 4", got)
	}
	if err := m.Remove("b"); !errors.Is(err, ErrUnknownInput) {
		t.Errorf("second Remove = %v, want ErrUnknownInput", err)
	}
	b.in = mustJoin(t, m, "b", "pcm", b.sink)
	run(m, ps, 20)
	checkHears(t, ps[3], ps, map[string]bool{"a": true, "b": true, "c": true}, 0.001)
}

func TestAddErrors(t *testing.T) {
	f := newFactory()
	m := newTestMixer(t, f)
	mustAdd(t, m, "a", "pcm", &recSink{})
	tests := []struct {
		name   string
		m      *Mixer
		id     string
		format string
		sink   Sink
		want   []error
	}{
		{"empty id", m, "", "pcm", &recSink{}, []error{ErrBadInput}},
		{"empty format", m, "x", "", &recSink{}, []error{ErrBadInput}},
		{"nil sink", m, "x", "pcm", nil, []error{ErrBadInput}},
		{"duplicate", m, "a", "pcm", &recSink{}, []error{ErrDuplicateInput}},
		{"unknown format", m, "x", "bad/1", &recSink{}, []error{ErrNoEncoder, errUnknownFormat}},
		{"not a codec by default", New(Config{}), "x", "pcm", &recSink{}, []error{ErrNoEncoder, codec.ErrUnknownCodec}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.m.Add(tt.id, tt.format, tt.sink)
			for _, want := range tt.want {
				if !errors.Is(err, want) {
					t.Errorf("Add = %v, want %v", err, want)
				}
			}
		})
	}
	if got := m.Len(); got != 1 {
		t.Errorf("Len() = %d after failed adds, want 1", got)
	}
}

func TestEncodeFailureIsolated(t *testing.T) {
	m := newTestMixer(t, newFactory())
	bad := &recSink{}
	mustJoin(t, m, "bad", "failing", bad)
	ps := []*party{{id: "a", freq: 400}, {id: "d"}}
	room(t, m, "pcm", ps)
	run(m, ps, 10)
	if bad.count() != 0 {
		t.Errorf("sink of a failing encoder got %d payloads", bad.count())
	}
	if ps[1].sink.count() != 10 {
		t.Errorf("listener got %d payloads in 10 ticks, want 10", ps[1].sink.count())
	}
	checkHears(t, ps[1], ps, map[string]bool{"a": true}, 0.001)
}

func TestGateFades(t *testing.T) {
	m := newTestMixer(t, newFactory())
	in := mustJoin(t, m, "a", "pcm", &recSink{})
	listener := &recSink{}
	mustJoin(t, m, "l", "pcm", listener)
	loud := make([]int16, codec.FrameSamples)
	for i := range loud {
		loud[i] = 20000
	}
	in.Write(loud)
	in.Write(loud)
	m.Tick()
	frame := listener.last(t, codec.FrameSamples)
	if frame[0] > 200 || frame[gateRampSamples/2] < 8000 || frame[gateRampSamples/2] > 12000 || frame[gateRampSamples] != 20000 {
		t.Errorf("fade-in: samples 0, %d, %d = %d, %d, %d; want ~0, ~10000, 20000",
			gateRampSamples/2, gateRampSamples, frame[0], frame[gateRampSamples/2], frame[gateRampSamples])
	}
	in.SetMuted(true)
	in.Write(loud)
	m.Tick()
	frame = listener.last(t, codec.FrameSamples)
	if frame[0] < 19000 || frame[gateRampSamples-1] > 200 || frame[codec.FrameSamples-1] != 0 {
		t.Errorf("fade-out on mute: samples 0, %d, last = %d, %d, %d; want ~20000, ~0, 0",
			gateRampSamples-1, frame[0], frame[gateRampSamples-1], frame[codec.FrameSamples-1])
	}
}
