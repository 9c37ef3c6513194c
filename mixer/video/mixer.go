// Package video is the video compositor of one room. Every tick (the room's
// frame rate) it works out what each participant sees (their view: the
// layout filled with the room's visible participants minus themselves, or
// a slate while they enter a PIN or wait in the lobby), puts participants
// with equal views and equal output settings into one encoder group, and
// for each group renders one canvas, encodes it once, packetizes it once
// and hands the payloads to every member.
//
// In a large room in 1:7 most participants are not on screen and see the
// same thing: the eight people shown each get their own view (without
// themselves) and everyone else shares one, so a room of a hundred needs
// nine encoders per output setting, not a hundred.
//
// Pixels are only touched by libyuv (scaling and filling, SIMD), except
// for name labels (a pass over each label's own pixels) and slates
// (rendered once and cached).
package video

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"vmrd/internal/codec"
	"vmrd/internal/media"
	"vmrd/mixer/layout"
)

// Defaults.
const (
	DefaultWidth   = 1280
	DefaultHeight  = 720
	DefaultFPS     = 30
	DefaultBitrate = 1_536_000
	// MinBitrate is the floor for receiver estimates (SetBitrate): below
	// it a 720p picture is mush, and congestion is better handled by
	// dropping frames.
	MinBitrate = 64_000
)

const (
	// keyframeGap limits keyframes that receivers ask for (PLI, FIR,
	// picture_fast_update) to one per group per 500 ms: a receiver that
	// lost a keyframe asks again, but a burst of requests from a large
	// group must not turn the stream into keyframes only.
	keyframeGap = 500 * time.Millisecond
	// sourceKeyGap limits the keyframes the mixer asks of one sender.
	sourceKeyGap = time.Second
	// growFactor: a participant's cell growing by more than this asks its
	// sender for a keyframe, so the larger picture sharpens at once.
	growFactor = 1.5
	// idleRefresh: a canvas that did not change is still encoded this
	// often, so receivers keep getting packets (and NAT bindings and
	// jitter buffers stay alive) without spending CPU on a still picture.
	idleRefresh = time.Second
	// stillTrail: after the last change a canvas is still encoded every
	// tick this long. Receivers' jitter buffers (baresip's holds a few
	// packets until newer ones come) would otherwise sit on the last
	// frames of a change until the next refresh, a second later. Still
	// frames cost almost nothing to encode and send.
	stillTrail = 250 * time.Millisecond
	// encoderRetry is the wait before making an encoder again after one
	// failed or panicked.
	encoderRetry = time.Second
	// bitrateStep: encoder bitrate changes smaller than 5% are not worth
	// a reconfiguration.
	bitrateStep      = 0.05
	panicLogInterval = time.Minute
)

// Ticker is the part of time.Ticker the mixer uses, so tests can drive it.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }

// Config configures a Mixer.
type Config struct {
	// Name identifies the mixer in logs and String, e.g. "room 1001".
	Name string
	// Width and Height of the room canvas; default 1280x720. Each
	// participant's canvas is this, scaled down to what they accept.
	Width, Height int
	// FPS is the tick rate; default 30.
	FPS int
	// Layout is the starting layout's name; default layout.Default (1:7).
	Layout string
	// Layouts to choose from; default layout.DefaultSet().
	Layouts *layout.Set
	// NewEncoder makes one group's encoder (codec.NewH264Encoder or
	// codec.NewVP8Encoder in service; fakes in tests). Required. It is
	// called on the mixer's goroutine.
	NewEncoder func(codec.VideoCodec, codec.VideoEncoderConfig) (codec.VideoEncoder, error)
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
	// NewTicker makes the tick source for Start; default time.NewTicker.
	NewTicker func(time.Duration) Ticker
	// SpeakerActivate and SpeakerHold tune the speaker tracker (see
	// layout.NewSpeakerTracker); zero takes the defaults (1 s, 2 s).
	SpeakerActivate, SpeakerHold time.Duration
	// KeyframeInterval adds periodic keyframes; zero means keyframes only
	// when a receiver asks or a group gains a member.
	KeyframeInterval time.Duration
}

// Stats are the mixer's counters since New, for metrics.
type Stats struct {
	Ticks uint64
	// LateTicks started more than half a period after they were due (the
	// previous tick overran or the goroutine was not scheduled).
	LateTicks uint64
	// Groups is the number of encoder groups now; EncodersActive those of
	// them with a working encoder.
	Groups, EncodersActive int
	// FramesEncoded counts encoder outputs (one per group per tick, less
	// when a canvas is still); EncodeTime is their total encode time.
	FramesEncoded uint64
	EncodeTime    time.Duration
	// EncoderDrops counts frames the encoder's rate control skipped.
	EncoderDrops uint64
	// EncodeErrors counts failed or panicking encodes, failed encoder
	// creations and packetization failures.
	EncodeErrors uint64
	// KeyframesForced counts keyframes asked of the group encoders (new
	// members, receiver requests); KeyframesRequested those asked of
	// senders (a participant newly shown or grown).
	KeyframesForced, KeyframesRequested uint64
	// FramesDropped counts input pictures replaced before the compositor
	// used them, over every input.
	FramesDropped uint64
	// SinkPanics counts panics of participants' sinks and keyframe
	// callbacks, recovered.
	SinkPanics uint64
	// TickPanics counts ticks cut short by a bug, recovered.
	TickPanics uint64
	// MacroblocksCoded and MacroblocksSkipped count, over the frames of
	// encoders that take an active map (VP8), the 16x16 macroblocks coded
	// and those skipped because that part of the canvas did not change.
	MacroblocksCoded, MacroblocksSkipped uint64
}

type counters struct {
	ticks, lateTicks                atomic.Uint64
	groups, encoders                atomic.Int64
	framesEncoded, encodeNanos      atomic.Uint64
	encoderDrops, encodeErrors      atomic.Uint64
	keyframesForced, keyframesAsked atomic.Uint64
	framesDropped                   atomic.Uint64
	sinkPanics, tickPanics          atomic.Uint64
	mbCoded, mbSkipped              atomic.Uint64
}

// view is what one or more participants see this tick: a slate, or the
// layout's cells (nil for an empty cell).
type view struct {
	slate string
	lay   *layout.Layout // geometry of cells
	cells []*Input
	used  bool
}

func (v *view) equal(o *view) bool {
	return v.slate == o.slate && v.lay == o.lay && slices.Equal(v.cells, o.cells)
}

// gkey identifies an encoder group this tick.
type gkey struct {
	view int
	out  outKey
}

type vote struct {
	g, k, n int
}

// Mixer composes the video of one room. Its methods are safe for concurrent
// use; Add, Remove, SetVisible, SetSlate, SetLayout, Pin and Unpin are meant
// for the room's control goroutine, Input.WriteFrame for each participant's
// receive goroutine, ForceKeyframe and SetBitrate for RTCP handlers. None of
// them waits for a tick except Remove and Close.
type Mixer struct {
	cfg    Config
	log    *slog.Logger
	period time.Duration
	start  time.Time
	stats  counters

	mu      sync.Mutex // control state
	closed  bool
	byID    map[string]*Input
	list    []*Input // in the order added (= joined)
	lay     *layout.Layout
	version atomic.Uint64 // bumped on every control change
	stop    chan struct{}
	done    chan struct{}

	tickMu     sync.Mutex // held for a whole tick; the fields below are the tick's
	tickClosed bool
	tickVer    uint64
	tickNo     uint64
	lastPanic  time.Time
	inputs     []*Input
	visible    []*Input // shown to others, in join order
	pins       map[*Input]int
	tlay       *layout.Layout
	speakers   *layout.SpeakerTracker[*Input]
	views      []view
	nviews     int
	keys       []gkey
	votes      []int32
	pairs      []vote
	groupFor   []*group
	groups     []*group
	freeGroups []*group
	text       *textCache
	drawnCells []drawnCell // this tick's
}

// New makes a mixer. It does not tick until Start (or calls to Tick).
func New(cfg Config) (*Mixer, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Width == 0 && cfg.Height == 0 {
		cfg.Width, cfg.Height = DefaultWidth, DefaultHeight
	}
	if cfg.Width < 16 || cfg.Height < 16 || cfg.Width > codec.MaxVideoDimension || cfg.Height > codec.MaxVideoDimension ||
		cfg.Width%2 != 0 || cfg.Height%2 != 0 {
		return nil, fmt.Errorf("%w: canvas %dx%d, want even sizes from 16 to %d", ErrBadConfig, cfg.Width, cfg.Height, codec.MaxVideoDimension)
	}
	if cfg.FPS == 0 {
		cfg.FPS = DefaultFPS
	}
	if cfg.FPS < 1 || cfg.FPS > 120 {
		return nil, fmt.Errorf("%w: %d fps", ErrBadConfig, cfg.FPS)
	}
	if cfg.NewEncoder == nil {
		return nil, fmt.Errorf("%w: no encoder factory", ErrBadConfig)
	}
	if cfg.Layouts == nil {
		cfg.Layouts = layout.DefaultSet()
	}
	if cfg.Layout == "" {
		cfg.Layout = layout.Default
	}
	lay, err := cfg.Layouts.Get(cfg.Layout)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NewTicker == nil {
		cfg.NewTicker = func(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }
	}
	log := cfg.Logger
	if cfg.Name != "" {
		log = log.With("compositor", cfg.Name)
	}
	m := &Mixer{
		cfg:      cfg,
		log:      log,
		period:   time.Second / time.Duration(cfg.FPS),
		start:    cfg.Now(),
		byID:     make(map[string]*Input),
		lay:      lay,
		pins:     make(map[*Input]int),
		speakers: layout.NewSpeakerTracker[*Input](cfg.SpeakerActivate, cfg.SpeakerHold),
		text:     newTextCache(),
	}
	m.version.Store(1)
	return m, nil
}

// String describes the mixer: "Compositor(room 1001, 1:7, 1280x720@30, 3 inputs)".
func (m *Mixer) String() string {
	m.mu.Lock()
	n, lay := len(m.list), m.lay.Name
	m.mu.Unlock()
	name := ""
	if m.cfg.Name != "" {
		name = m.cfg.Name + ", "
	}
	return fmt.Sprintf("Compositor(%s%s, %dx%d@%d, %d inputs)", name, lay, m.cfg.Width, m.cfg.Height, m.cfg.FPS, n)
}

// Stats returns the counters.
func (m *Mixer) Stats() Stats {
	s := &m.stats
	return Stats{
		Ticks:              s.ticks.Load(),
		LateTicks:          s.lateTicks.Load(),
		Groups:             int(s.groups.Load()),
		EncodersActive:     int(s.encoders.Load()),
		FramesEncoded:      s.framesEncoded.Load(),
		EncodeTime:         time.Duration(s.encodeNanos.Load()),
		EncoderDrops:       s.encoderDrops.Load(),
		EncodeErrors:       s.encodeErrors.Load(),
		KeyframesForced:    s.keyframesForced.Load(),
		KeyframesRequested: s.keyframesAsked.Load(),
		FramesDropped:      s.framesDropped.Load(),
		SinkPanics:         s.sinkPanics.Load(),
		TickPanics:         s.tickPanics.Load(),
		MacroblocksCoded:   s.mbCoded.Load(),
		MacroblocksSkipped: s.mbSkipped.Load(),
	}
}

// canvasFor is the room canvas scaled down, keeping its shape, to fit in
// what an endpoint accepts.
func (m *Mixer) canvasFor(w, h int) (int, int) {
	cw, ch := m.cfg.Width, m.cfg.Height
	if w <= 0 || h <= 0 || (w >= cw && h >= ch) {
		return cw, ch
	}
	s := min(float64(w)/float64(cw), float64(h)/float64(ch))
	return max(int(float64(cw)*s)&^1, 16), max(int(float64(ch)*s)&^1, 16)
}

// Add adds a participant, not visible to others and seeing the meeting
// until told otherwise (SetVisible, SetSlate). name is shown under its
// picture.
//
// An Output without a Sink adds a participant without video (an
// audio-only caller): others see a tile with its name, it sees nothing and
// costs no encoder. When that participant's video arrives, Add with a Sink
// replaces the tile in place, keeping its place in the join order and its
// state (visible, slate, pin, speaking).
func (m *Mixer) Add(id, name string, out Output) (*Input, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: empty id", ErrBadOutput)
	}
	if out.Sink == nil {
		return m.insert(newInput(id, name, out, outKey{}, m.log.With("participant", id)))
	}
	var ownLayout *layout.Layout
	if out.Layout != "" {
		l, err := m.cfg.Layouts.Get(out.Layout)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrBadOutput, id, err)
		}
		ownLayout = l
	}
	switch {
	case out.Raw:
		out.PacketizationMode, out.MTU = 0, 1 // no RTP: must not split groups
	case out.Codec == codec.H264:
		if out.PacketizationMode > media.H264ModeNonInterleaved {
			return nil, fmt.Errorf("%w: %s: H.264 %v", ErrBadOutput, id, out.PacketizationMode)
		}
	case out.Codec == codec.VP8:
		out.PacketizationMode = 0 // means nothing for VP8; must not split groups
	default:
		return nil, fmt.Errorf("%w: %s: codec %q", ErrBadOutput, id, out.Codec)
	}
	if out.MTU <= 0 {
		out.MTU = DefaultMTU
	}
	if out.MTU < 64 && !out.Raw {
		return nil, fmt.Errorf("%w: %s: MTU %d", ErrBadOutput, id, out.MTU)
	}
	if out.Bitrate <= 0 {
		out.Bitrate = DefaultBitrate
	}
	out.Bitrate = max(out.Bitrate, MinBitrate)
	w, h := m.canvasFor(out.Width, out.Height)
	key := outKey{codec: out.Codec, w: w, h: h, bitrate: out.Bitrate, mode: out.PacketizationMode, mtu: out.MTU,
		raw: out.Raw, keyIvl: out.KeyframeInterval}
	if ownLayout != nil {
		key.layout = ownLayout.Name
	}

	in := newInput(id, name, out, key, m.log.With("participant", id))
	in.lay = ownLayout
	in.mixDropped = &m.stats.framesDropped
	return m.insert(in)
}

// insert adds in, or puts it in the place of its tile (see Add).
func (m *Mixer) insert(in *Input) (*Input, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	old, ok := m.byID[in.id]
	if ok && (!old.tile || in.tile) {
		m.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrDuplicateInput, in.id)
	}
	if !ok {
		m.byID[in.id] = in
		m.list = append(m.list, in)
		m.version.Add(1)
		m.mu.Unlock()
		return in, nil
	}
	m.replace(old, in)
	return in, nil
}

// replace puts in where old is, with old's state, and unlocks m.mu.
func (m *Mixer) replace(old, in *Input) {
	in.cVisible, in.cSlate, in.cPin, in.cSpeakFn = old.cVisible, old.cSlate, old.cPin, old.cSpeakFn
	m.byID[in.id] = in
	m.list[slices.Index(m.list, old)] = in
	m.version.Add(1)
	m.mu.Unlock()
	m.forget(old, in)
}

// ToTile turns a participant whose video ended (its call goes on) back
// into a name tile, in the same place and with the same state.
func (m *Mixer) ToTile(id string) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	old, ok := m.byID[id]
	if !ok {
		m.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrUnknownInput, id)
	}
	if old.tile {
		m.mu.Unlock()
		return nil
	}
	m.replace(old, newInput(id, old.cName, Output{}, outKey{}, old.log))
	return nil
}

// Input returns the participant with that id.
func (m *Mixer) Input(id string) (*Input, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	in, ok := m.byID[id]
	return in, ok
}

// Len is the number of participants.
func (m *Mixer) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.list)
}

// update changes one participant's control state under the lock.
func (m *Mixer) update(id string, f func(in *Input)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	in, ok := m.byID[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownInput, id)
	}
	f(in)
	m.version.Add(1)
	return nil
}

// SetVisible puts the participant into the others' views (in the meeting
// and sending video) or takes them out (entering a PIN, in the lobby,
// audio only).
func (m *Mixer) SetVisible(id string, visible bool) error {
	return m.update(id, func(in *Input) { in.cVisible = visible })
}

// SetSlate shows the participant a slate with text ("\n" separates lines)
// instead of the meeting; "" shows the meeting. A participant with a slate
// is never shown to others, whatever SetVisible says.
func (m *Mixer) SetSlate(id, text string) error {
	return m.update(id, func(in *Input) { in.cSlate = text })
}

// SetName changes the name shown under the participant's picture.
func (m *Mixer) SetName(id, name string) error {
	return m.update(id, func(in *Input) { in.cName = name })
}

// Pin puts the participant into cell (an index into the layout's cells)
// in every view but their own. A pin beyond the current layout is kept but
// has no effect until a layout with that cell.
func (m *Mixer) Pin(id string, cell int) error {
	if cell < 0 || cell >= layout.MaxCells {
		return fmt.Errorf("%w: cell %d", ErrBadCell, cell)
	}
	return m.update(id, func(in *Input) { in.cPin = cell })
}

// Unpin undoes Pin.
func (m *Mixer) Unpin(id string) error {
	return m.update(id, func(in *Input) { in.cPin = -1 })
}

// SetSpeaking gives the function the mixer polls each tick for whether the
// participant speaks (the audio mixer's Input.Speaking); nil goes back to
// the input's own flag (Input.SetSpeaking). fn is called on the mixer's
// goroutine and must be cheap and non-blocking.
func (m *Mixer) SetSpeaking(id string, fn func() bool) error {
	return m.update(id, func(in *Input) { in.cSpeakFn = fn })
}

// SetLayout switches the room's layout by name or alias.
func (m *Mixer) SetLayout(name string) error {
	l, err := m.cfg.Layouts.Get(name)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	m.lay = l
	m.version.Add(1)
	return nil
}

// Layout is the current layout's name.
func (m *Mixer) Layout() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.lay.Name
}

// ForceKeyframe is a receiver's keyframe request (RTCP PLI or FIR, SIP INFO
// picture_fast_update): the participant's group encodes a keyframe soon,
// at most one per group every 500 ms.
func (m *Mixer) ForceKeyframe(id string) error {
	in, ok := m.Input(id)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownInput, id)
	}
	in.wantKey.Store(true)
	return nil
}

// SetBitrate is a receiver's bandwidth estimate (REMB, TMMBR) in bits per
// second. A group encodes at the lowest estimate of its members, within
// [MinBitrate, the output's tier]; bps <= 0 clears the estimate.
func (m *Mixer) SetBitrate(id string, bps int) error {
	in, ok := m.Input(id)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownInput, id)
	}
	in.remb.Store(int64(max(bps, 0)))
	return nil
}

// Remove removes a participant. It waits for a running tick to end: once
// it returns, the participant's sink and RequestKeyframe are not called
// again, and the encoder of a group it leaves empty is closed.
func (m *Mixer) Remove(id string) error {
	m.mu.Lock()
	in, ok := m.byID[id]
	if !ok {
		m.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrUnknownInput, id)
	}
	delete(m.byID, id)
	m.list = slices.DeleteFunc(m.list, func(x *Input) bool { return x == in })
	m.version.Add(1)
	m.mu.Unlock()
	m.forget(in, nil)
	return nil
}

// forget drops a removed input, or one replaced by successor, from the
// tick's state. A successor keeps its speaker history.
func (m *Mixer) forget(in, successor *Input) {
	in.removed.Store(true)
	m.tickMu.Lock()
	defer m.tickMu.Unlock()
	if g := in.group; g != nil {
		g.removeMember(in)
		in.group = nil
		if len(g.members) == 0 {
			m.dropGroup(g)
		}
	}
	if successor != nil {
		m.speakers.Replace(in, successor)
	} else {
		m.speakers.Forget(in)
	}
	// The tick's lists are refreshed at the next tick; until then nothing
	// may reach the input through them.
	m.inputs = slices.DeleteFunc(m.inputs, func(x *Input) bool { return x == in })
	m.visible = slices.DeleteFunc(m.visible, func(x *Input) bool { return x == in })
	delete(m.pins, in)
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

// Close stops the tick goroutine, waits for it and closes every encoder.
// It is safe to call more than once.
func (m *Mixer) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	stop, done := m.stop, m.done
	for _, in := range m.list {
		in.removed.Store(true)
	}
	m.list, m.byID = nil, nil
	m.version.Add(1)
	m.mu.Unlock()

	if stop != nil {
		close(stop)
		<-done
	}
	m.tickMu.Lock()
	defer m.tickMu.Unlock()
	m.tickClosed = true
	for _, g := range m.groups {
		m.closeEncoder(g)
	}
	m.groups, m.freeGroups, m.inputs, m.visible = nil, nil, nil, nil
	m.stats.groups.Store(0)
	return nil
}

// run ticks every period until stop is closed. A tick that is late (the
// previous one overran) runs at once and is counted; ticks are never run
// back to back to catch up, since a video frame late is a frame lost.
func (m *Mixer) run(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := m.cfg.NewTicker(m.period)
	defer t.Stop()
	next := m.cfg.Now().Add(m.period)
	for {
		select {
		case <-stop:
			return
		case <-t.C():
		}
		now := m.cfg.Now()
		if now.Sub(next) > m.period/2 {
			m.stats.lateTicks.Add(1)
			next = now
		}
		next = next.Add(m.period)
		m.Tick()
	}
}

// Tick composes, encodes and sends one frame for every group. Start calls
// it every period; tests and benchmarks call it directly. It does nothing
// after Close. A panic inside a tick is recovered, logged and counted: a
// bug must not take the room (or the process) down.
func (m *Mixer) Tick() {
	m.tickMu.Lock()
	defer m.tickMu.Unlock()
	if m.tickClosed {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			m.stats.tickPanics.Add(1)
			if now := time.Now(); now.Sub(m.lastPanic) >= panicLogInterval {
				m.lastPanic = now
				m.log.Error("video tick panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			}
		}
	}()
	m.tick()
}
