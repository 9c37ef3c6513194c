// Package audio is the audio mixer of one room. Every 20 ms tick it takes one
// frame (48 kHz mono) from each participant's input, sums the inputs that are
// in the meeting, not muted and whose voice-activity gate is open (the
// talkers) in int32, and sends:
//   - to each talker, the sum minus its own frame, encoded with its own
//     encoder, so nobody hears themselves;
//   - to each participant in the meeting whose player is playing (a short
//     prompt, a knock), the sum (minus itself if it talks) plus the player's
//     audio, also with its own encoder;
//   - to each isolated participant (entering a PIN, waiting in the lobby),
//     only its player's audio, or silence, with its own encoder;
//   - to everyone else, the whole sum, encoded once per output format and the
//     same payload handed to every participant with that format.
//
// In a large room with a few talkers that is a handful of encodes per tick
// instead of one per participant. Outputs are sent on every tick, silence
// included, so RTP keeps flowing and far-end jitter buffers stay fed.
package audio

import (
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"vmrd/internal/codec"
	"vmrd/internal/metrics"
)

// Period is the length of one tick: one frame of codec.FrameSamples.
const Period = time.Second * codec.FrameSamples / codec.MixRate

const (
	// maxBurst caps the ticks run back-to-back after the tick goroutine
	// stalled: a few late frames are still useful to a far-end jitter
	// buffer, a long burst is not and would only delay the next tick.
	maxBurst = 2
	// maxPayload is the size of encoder output buffers: enough for one
	// frame of any codec we use (Opus caps a 20 ms frame at 1275 bytes) and
	// for raw 16-bit PCM in tests.
	maxPayload = 4096
	// gateRampSamples is the fade (5 ms) applied when an input's gate opens
	// or closes or it is muted or unmuted, so the cut does not click.
	gateRampSamples = codec.MixRate / 200

	defaultInputBuffer = 200 * time.Millisecond
	defaultPrebuffer   = 40 * time.Millisecond
	skipLogInterval    = 10 * time.Second
)

// Config configures a Mixer.
type Config struct {
	// Name identifies the mixer in logs and String, e.g. "room 1001".
	Name string
	// Metrics, when not nil, receives dropped frames, underruns and the
	// duration of each tick.
	Metrics *metrics.Metrics
	// Logger defaults to discarding.
	Logger *slog.Logger
	// NewEncoder makes an encoder for an output format key, as passed to
	// Add. Default CodecEncoder. Add makes one for the participant (for
	// when it is isolated, talks or hears its player) and one for the
	// format when it is the first input of that format, so an unknown
	// format fails Add and the tick never makes encoders.
	NewEncoder func(format string) (codec.AudioEncoder, error)
	// InputBuffer is the capacity of each input's queue; older samples are
	// dropped beyond it. Default 200 ms; at least Prebuffer + 20 ms.
	InputBuffer time.Duration
	// Prebuffer is how much audio an input queues before it plays, at
	// first and after running dry, and the depth the mixer trims a
	// too-deep queue back to. Default 40 ms; at least 20 ms.
	Prebuffer time.Duration
}

// group is the shared output of every listener with one format.
type group struct {
	key       string
	members   int // guarded by Mixer.mu
	enc       codec.AudioEncoder
	log       *slog.Logger
	tick      uint64 // the tick buf was encoded on
	n         int    // payload length in buf, -1 when encoding failed
	errLogged bool
	buf       [maxPayload]byte
}

// snapshot is the immutable list of inputs a tick works on.
type snapshot struct {
	inputs []*Input
}

// Mixer mixes the audio of one room. Add, Remove, SetMuted, SetInMeeting,
// Play, StopPlay, Start and Close are called by the room's control
// goroutine; Tick by the mixer's own goroutine (or a test); Input methods by
// each participant's receive path.
// Control calls never wait for a tick except Remove and Close, which wait
// for a running tick to finish so that the sink is not called after they
// return.
type Mixer struct {
	cfg       Config
	log       *slog.Logger
	met       *metrics.Metrics
	capacity  int // samples per input queue
	prebuffer int // samples

	snap atomic.Pointer[snapshot]

	mu     sync.Mutex // control state below
	closed bool
	byID   map[string]*Input
	list   []*Input // in the order added
	groups map[string]*group
	stop   chan struct{}
	done   chan struct{}

	skippedTicks atomic.Uint64
	lastSkip     time.Time // when skipped ticks were last logged; owned by run

	tickMu     sync.Mutex // held for a whole tick; everything below is owned by the tick
	tickClosed bool
	tickNo     uint64
	shared     limiter
	total      [codec.FrameSamples]int32
	scratch    [codec.FrameSamples]int32
	mix        [codec.FrameSamples]int16
	out        [codec.FrameSamples]int16
	play       [codec.FrameSamples]int16 // the player frame of the input being sent
	payload    [maxPayload]byte
}

// New makes a mixer. It does not tick until Start (or calls to Tick).
func New(cfg Config) *Mixer {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.NewEncoder == nil {
		cfg.NewEncoder = CodecEncoder
	}
	if cfg.Prebuffer <= 0 {
		cfg.Prebuffer = defaultPrebuffer
	}
	cfg.Prebuffer = max(cfg.Prebuffer, Period)
	if cfg.InputBuffer <= 0 {
		cfg.InputBuffer = defaultInputBuffer
	}
	cfg.InputBuffer = max(cfg.InputBuffer, cfg.Prebuffer+Period)
	log := cfg.Logger
	if cfg.Name != "" {
		log = log.With("mixer", cfg.Name)
	}
	m := &Mixer{
		cfg:       cfg,
		log:       log,
		met:       cfg.Metrics,
		capacity:  samples(cfg.InputBuffer),
		prebuffer: samples(cfg.Prebuffer),
		byID:      make(map[string]*Input),
		groups:    make(map[string]*group),
		shared:    newLimiter(),
	}
	m.snap.Store(&snapshot{})
	return m
}

func samples(d time.Duration) int {
	return int(d * codec.MixRate / time.Second)
}

// String describes the mixer: "Mixer(room 1001, 3 inputs)".
func (m *Mixer) String() string {
	n := len(m.snap.Load().inputs)
	unit := "inputs"
	if n == 1 {
		unit = "input"
	}
	if m.cfg.Name == "" {
		return fmt.Sprintf("Mixer(%d %s)", n, unit)
	}
	return fmt.Sprintf("Mixer(%s, %d %s)", m.cfg.Name, n, unit)
}

// Len is the number of inputs.
func (m *Mixer) Len() int { return len(m.snap.Load().inputs) }

// SkippedTicks counts ticks dropped because the tick goroutine fell more
// than maxBurst ticks behind.
func (m *Mixer) SkippedTicks() uint64 { return m.skippedTicks.Load() }

// Add adds a participant. format is the key of its output codec ("PCMU/8000",
// "opus/48000/2"): participants with equal keys share one encoded payload
// while they are not talking. sink receives one encoded frame per tick. The
// new input is isolated until SetInMeeting(id, true).
func (m *Mixer) Add(id, format string, sink Sink) (*Input, error) {
	if id == "" || format == "" || sink == nil {
		return nil, fmt.Errorf("%w: id %q, format %q, sink set %t", ErrBadInput, id, format, sink != nil)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if _, ok := m.byID[id]; ok {
		return nil, fmt.Errorf("%w: %s", ErrDuplicateInput, id)
	}
	own, err := m.cfg.NewEncoder(format)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNoEncoder, format, err)
	}
	g := m.groups[format]
	if g == nil {
		enc, err := m.cfg.NewEncoder(format)
		if err != nil {
			m.closeEncoder(own, "participant", id)
			return nil, fmt.Errorf("%w: %s: %w", ErrNoEncoder, format, err)
		}
		g = &group{key: format, enc: enc, log: m.log.With("format", format)}
		m.groups[format] = g
	}
	g.members++
	in := newInput(id, format, sink, g, m.capacity, m.prebuffer, m.met, m.log.With("participant", id))
	in.enc = own
	m.byID[id] = in
	m.list = append(m.list, in)
	m.publishLocked()
	return in, nil
}

// publishLocked makes the tick see m.list. Published slices are never
// modified.
func (m *Mixer) publishLocked() {
	m.snap.Store(&snapshot{inputs: slices.Clip(slices.Clone(m.list))})
}

// Input returns the input with that id.
func (m *Mixer) Input(id string) (*Input, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	in, ok := m.byID[id]
	return in, ok
}

// SetMuted mutes or unmutes the input with that id.
func (m *Mixer) SetMuted(id string, muted bool) error {
	in, err := m.input(id)
	if err != nil {
		return err
	}
	in.SetMuted(muted)
	return nil
}

// SetInMeeting moves the input with that id into the meeting or isolates it
// (Input.SetInMeeting).
func (m *Mixer) SetInMeeting(id string, inMeeting bool) error {
	in, err := m.input(id)
	if err != nil {
		return err
	}
	in.SetInMeeting(inMeeting)
	return nil
}

// Play replaces what the input with that id plays (Input.Play). Unless Play
// fails, done is called exactly once, from the tick goroutine (or from
// Remove or Close when they cut the sequence short); it must not block.
func (m *Mixer) Play(id string, clips [][]int16, loop bool, done func()) error {
	in, err := m.input(id)
	if err != nil {
		return err
	}
	return in.Play(clips, loop, done)
}

// StopPlay stops the player of the input with that id (Input.StopPlay).
func (m *Mixer) StopPlay(id string) error {
	in, err := m.input(id)
	if err != nil {
		return err
	}
	return in.StopPlay()
}

func (m *Mixer) input(id string) (*Input, error) {
	in, ok := m.Input(id)
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownInput, id)
	}
	return in, nil
}

// Remove removes a participant. It waits for a running tick to end: once it
// returns, the input's sink is not called again and its encoders are closed.
// The done of what its player was playing, or about to play, is called
// before Remove returns.
func (m *Mixer) Remove(id string) error {
	m.mu.Lock()
	in, ok := m.byID[id]
	if !ok {
		m.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrUnknownInput, id)
	}
	delete(m.byID, id)
	m.list = slices.DeleteFunc(slices.Clone(m.list), func(x *Input) bool { return x == in })
	m.publishLocked()
	g := in.group
	g.members--
	if g.members == 0 {
		delete(m.groups, g.key)
	} else {
		g = nil
	}
	m.mu.Unlock()
	in.removed.Store(true)

	// Every tick that starts from here on loads the new snapshot; wait for
	// one that may still hold the old one.
	m.tickMu.Lock()
	m.closeEncoder(in.enc, "participant", id)
	in.enc = nil
	if g != nil {
		m.closeEncoder(g.enc, "format", g.key)
		g.enc = nil
	}
	playing, pending := in.closePlayer()
	m.tickMu.Unlock()
	// No tick uses the input any more; done runs without the mixer's locks.
	playing.finish()
	pending.finish()
	return nil
}

func (m *Mixer) closeEncoder(enc codec.AudioEncoder, key, val string) {
	if enc == nil {
		return
	}
	if err := enc.Close(); err != nil {
		m.log.Warn("close audio encoder", key, val, "error", err)
	}
}

// Start starts the tick goroutine. It is a no-op when already started.
func (m *Mixer) Start() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if m.stop == nil {
		m.stop = make(chan struct{})
		m.done = make(chan struct{})
		go m.run(m.stop, m.done)
	}
	return nil
}

// Close stops the tick goroutine, waits for it, removes every input (calling
// the done of every player) and closes every encoder. It is safe to call
// more than once.
func (m *Mixer) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	stop, done := m.stop, m.done
	inputs, groups := m.list, m.groups
	m.list, m.byID, m.groups = nil, nil, nil
	m.snap.Store(&snapshot{})
	m.mu.Unlock()

	if stop != nil {
		close(stop)
		<-done
	}
	m.tickMu.Lock()
	m.tickClosed = true
	players := make([]*player, 0, 2*len(inputs))
	for _, in := range inputs {
		in.removed.Store(true)
		m.closeEncoder(in.enc, "participant", in.id)
		in.enc = nil
		playing, pending := in.closePlayer()
		players = append(players, playing, pending)
	}
	for _, g := range groups {
		m.closeEncoder(g.enc, "format", g.key)
		g.enc = nil
	}
	m.tickMu.Unlock()
	for _, p := range players {
		p.finish()
	}
	return nil
}

// run ticks every Period until stop is closed.
func (m *Mixer) run(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(Period)
	defer t.Stop()
	next := time.Now().Add(Period)
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		var n, skipped int
		n, next, skipped = catchUp(time.Now(), next, Period, maxBurst)
		for range n {
			m.Tick()
		}
		if skipped > 0 {
			m.skippedTicks.Add(uint64(skipped))
			if now := time.Now(); now.Sub(m.lastSkip) >= skipLogInterval {
				m.lastSkip = now
				m.log.Warn("audio mixer fell behind, ticks skipped",
					"skipped", skipped, "skipped_total", m.skippedTicks.Load())
			}
		}
	}
}

// catchUp decides how many ticks to run at now when the next one is due at
// next: every tick that is due (within half a period, so timer jitter does not
// make a tick wait a whole period), but at most burst. Ticks due beyond the
// burst are skipped. It returns the ticks to run, the new due time and the
// number skipped.
func catchUp(now, next time.Time, period time.Duration, burst int) (run int, newNext time.Time, skipped int) {
	due := func() bool { return !now.Before(next.Add(-period / 2)) }
	for run < burst && due() {
		run++
		next = next.Add(period)
	}
	if due() {
		skipped = int(now.Sub(next)/period) + 1
		next = next.Add(time.Duration(skipped) * period)
	}
	return run, next, skipped
}

// Tick mixes and sends one 20 ms frame. Start calls it every Period; tests
// and benchmarks call it directly. It does nothing after Close.
func (m *Mixer) Tick() {
	var start time.Time
	if m.met != nil {
		start = time.Now()
	}
	m.tickMu.Lock()
	if !m.tickClosed {
		m.tick()
	}
	m.tickMu.Unlock()
	if m.met != nil {
		m.met.MixerTick.Observe(time.Since(start).Seconds())
	}
}

func (m *Mixer) tick() {
	s := m.snap.Load()
	m.tickNo++
	clear(m.total[:])
	for _, in := range s.inputs {
		m.gather(in)
	}
	sharedGain := m.shared.gain // what listeners heard last tick
	mixed := false
	for _, in := range s.inputs {
		playing := in.playerFrame(m.play[:])
		own := !in.meeting || in.talking || playing
		switch {
		case own:
			if in.meeting && !in.ownOut {
				// Continue from the gain listeners hear, so the switch
				// from the shared mix does not jump in level.
				in.lim.gain = sharedGain
			}
			m.sendOwn(in, playing)
		default:
			if !mixed {
				m.shared.process(m.total[:], m.mix[:])
				mixed = true
			}
			m.sendShared(in)
		}
		in.ownOut = own
		if p := in.ended; p != nil {
			in.ended = nil
			p.finish()
		}
	}
}

// gather takes the input's frame, runs voice activity detection and the
// gate, and adds the frame to the total if the input talks.
func (m *Mixer) gather(in *Input) {
	has := in.pull(!in.open)
	level := silenceDB
	if has {
		level = levelDB(in.frame[:])
	} else {
		clear(in.frame[:])
	}
	in.vad.update(level, has)
	muted := in.muted.Load()
	in.meeting = in.inMeeting.Load()
	in.level.Store(int32(math.Round(level * 100)))
	in.speaking.Store(in.vad.speaking && !muted && in.meeting)

	open := in.vad.gateOpen() && !muted && in.meeting
	switch {
	case open && !in.open:
		fade(in.frame[:], 0, 1)
	case !open && in.open:
		fade(in.frame[:], 1, 0)
	}
	// An input fading out still talks this tick: its last bit of sound is
	// in the total, so it must hear the total minus itself.
	in.talking = open || in.open
	in.open = open
	if !in.talking {
		return
	}
	for i, v := range in.frame {
		m.total[i] += int32(v)
	}
}

// fade ramps the gain of the start of pcm from one of 0 and 1 to the other;
// fading out silences the rest.
func fade(pcm []int16, from, to float32) {
	n := min(gateRampSamples, len(pcm))
	step := (to - from) / float32(n)
	g := from
	for i := range n {
		g += step
		pcm[i] = int16(float32(pcm[i]) * g)
	}
	if to == 0 {
		clear(pcm[n:])
	}
}

// sendOwn sends the input its own mix, with its own encoder: in the meeting
// the total minus its own frame (when it talks), isolated nothing; plus the
// player's frame in m.play when playing.
func (m *Mixer) sendOwn(in *Input, playing bool) {
	if in.enc == nil {
		return // closed by Close; no tick runs after it
	}
	switch {
	case !in.meeting:
		clear(m.scratch[:])
	case in.talking:
		for i := range m.scratch {
			m.scratch[i] = m.total[i] - int32(in.frame[i])
		}
	default:
		m.scratch = m.total
	}
	if playing {
		for i, v := range m.play {
			m.scratch[i] += int32(v)
		}
	}
	in.lim.process(m.scratch[:], m.out[:])
	n, err := in.enc.Encode(m.out[:], m.payload[:])
	if err != nil {
		if !in.errLogged {
			in.errLogged = true
			in.log.Warn("audio encode failed", "error", err)
		}
		return
	}
	if n > 0 {
		in.sink.WriteAudio(m.payload[:n])
	}
}

// sendShared sends a listener its format's shared payload, encoding it on the
// first listener of the format this tick.
func (m *Mixer) sendShared(in *Input) {
	g := in.group
	if g.tick != m.tickNo {
		g.tick = m.tickNo
		n, err := g.enc.Encode(m.mix[:], g.buf[:])
		if err != nil {
			g.n = -1
			if !g.errLogged {
				g.errLogged = true
				g.log.Warn("audio encode failed", "error", err)
			}
		} else {
			g.n = n
		}
	}
	if g.n > 0 {
		in.sink.WriteAudio(g.buf[:g.n])
	}
}
