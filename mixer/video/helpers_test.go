package video

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vmrd/internal/codec"
	"vmrd/mixer/layout"
)

// fakeEncoder records what it is given. Its output is one H.264 NAL unit
// (IDR or not) carrying the encoder's serial number, so a sink can tell
// which encoder (and so which canvas) its payloads came from.
type fakeEncoder struct {
	f      *fakeFactory
	serial uint32
	cfg    codec.VideoEncoderConfig
	closed atomic.Bool
	fail   bool // Encode returns an error
	panics bool // Encode panics
	record bool // keep a copy of every frame

	mu      sync.Mutex
	frames  []*codec.Frame // copies, when recording
	forced  []bool
	bitrate int
	out     []byte
	encodes int
	// activeMap is the map set last (nil: all active); maps holds, for
	// each encode, the map it was made with.
	activeMap []byte
	maps      [][]byte
}

var _ codec.ActiveMapEncoder = (*fakeEncoder)(nil)

var errFakeEncode = errors.New("fake encode failure")

func (e *fakeEncoder) Encode(f *codec.Frame, forceKey bool) ([]byte, bool, error) {
	if e.closed.Load() {
		return nil, false, errors.New("encode after close")
	}
	if f.Width != e.cfg.Width || f.Height != e.cfg.Height {
		return nil, false, fmt.Errorf("frame %dx%d, encoder %dx%d", f.Width, f.Height, e.cfg.Width, e.cfg.Height)
	}
	if e.panics {
		panic("fake encoder panic")
	}
	if e.fail {
		return nil, false, errFakeEncode
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	key := forceKey || e.encodes == 0
	e.encodes++
	e.maps = append(e.maps, e.activeMap)
	e.forced = append(e.forced, forceKey)
	if e.record {
		c := codec.NewFrame(f.Width, f.Height)
		if err := c.CopyFrom(f); err != nil {
			return nil, false, err
		}
		e.frames = append(e.frames, c)
	}
	hdr := byte(0x41)
	if key {
		hdr = 0x65
	}
	e.out = append(e.out[:0], 0, 0, 0, 1, hdr)
	// The serial in decimal: an H.264 NAL unit never holds 00 00 0x
	// (emulation prevention), and neither may ours. A non-zero tail too:
	// trailing zeros would be taken for a start code.
	e.out = strconv.AppendUint(e.out, uint64(e.serial), 10)
	for range e.f.payloadPad + 1 {
		e.out = append(e.out, 0xaa)
	}
	return e.out, key, nil
}

func (e *fakeEncoder) SetActiveMap(active []byte) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	cols, rows := codec.MacroblockGrid(e.cfg.Width, e.cfg.Height)
	if active != nil && len(active) != cols*rows {
		return fmt.Errorf("active map of %d for %dx%d macroblocks", len(active), cols, rows)
	}
	e.activeMap = nil
	if active != nil {
		e.activeMap = append([]byte(nil), active...) // the caller reuses its map
	}
	return nil
}

// mapLog is the active map of every encode so far (nil: all active).
func (e *fakeEncoder) mapLog() [][]byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([][]byte(nil), e.maps...)
}

func (e *fakeEncoder) SetBitrate(bps int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.bitrate = bps
	return nil
}

func (e *fakeEncoder) Close() error {
	e.closed.Store(true)
	return nil
}

func (e *fakeEncoder) last(t *testing.T) *codec.Frame {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.frames) == 0 {
		t.Fatalf("encoder %d has encoded nothing", e.serial)
	}
	return e.frames[len(e.frames)-1]
}

func (e *fakeEncoder) forcedLog() []bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]bool(nil), e.forced...)
}

// fakeFactory makes fakeEncoders. behave, when set, decides per encoder
// config whether Encode fails or panics, or the factory refuses.
type fakeFactory struct {
	record     bool
	payloadPad int
	behave     func(codec.VideoEncoderConfig) (fail, panics bool, refuse error)

	mu  sync.Mutex
	all []*fakeEncoder
}

func (f *fakeFactory) New(c codec.VideoCodec, cfg codec.VideoEncoderConfig) (codec.VideoEncoder, error) {
	var fail, panics bool
	if f.behave != nil {
		var err error
		if fail, panics, err = f.behave(cfg); err != nil {
			return nil, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	e := &fakeEncoder{f: f, serial: uint32(len(f.all)), cfg: cfg, fail: fail, panics: panics, record: f.record}
	f.all = append(f.all, e)
	return e, nil
}

func (f *fakeFactory) open() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, e := range f.all {
		if !e.closed.Load() {
			n++
		}
	}
	return n
}

func (f *fakeFactory) encoder(t *testing.T, serial uint32) *fakeEncoder {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if int(serial) >= len(f.all) {
		t.Fatalf("no encoder %d", serial)
	}
	return f.all[serial]
}

// recSink records what one participant was sent.
type recSink struct {
	mu      sync.Mutex
	writes  int
	keys    []bool
	serials []uint32
	ts      []uint32
}

func (s *recSink) WriteVideo(p [][]byte, ts uint32, key bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	s.keys = append(s.keys, key)
	s.ts = append(s.ts, ts)
	serial := uint32(1<<32 - 1)
	if len(p) > 0 {
		// The serial is the run of digits before the 0xaa tail.
		b := bytes.TrimRight(p[len(p)-1], "\xaa")
		i := len(b)
		for i > 0 && b[i-1] >= '0' && b[i-1] <= '9' {
			i--
		}
		if n, err := strconv.ParseUint(string(b[i:]), 10, 32); err == nil {
			serial = uint32(n)
		}
	}
	s.serials = append(s.serials, serial)
}

func (s *recSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writes
}

// lastSerial is the encoder that made the last picture sent.
func (s *recSink) lastSerial(t *testing.T) uint32 {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writes == 0 {
		t.Fatal("sink got nothing")
	}
	return s.serials[len(s.serials)-1]
}

func (s *recSink) lastKey() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys) > 0 && s.keys[len(s.keys)-1]
}

// clock is a manual clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// rig is a mixer with a fake encoder factory and a manual clock, ticked by
// hand.
type rig struct {
	t     *testing.T
	m     *Mixer
	f     *fakeFactory
	clk   *clock
	sinks map[string]*recSink
	ins   map[string]*Input
}

func newRig(t *testing.T, lay string, f *fakeFactory, mod ...func(*Config)) *rig {
	t.Helper()
	if f == nil {
		f = &fakeFactory{record: true}
	}
	clk := newClock()
	cfg := Config{Name: "test", Width: 320, Height: 180, FPS: 30, Layout: lay, NewEncoder: f.New, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))}
	for _, fn := range mod {
		fn(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return &rig{t: t, m: m, f: f, clk: clk, sinks: map[string]*recSink{}, ins: map[string]*Input{}}
}

// add adds a participant with an H.264 output at the room canvas.
func (r *rig) add(id string, visible bool) *Input {
	r.t.Helper()
	return r.addOut(id, visible, Output{Codec: codec.H264, PacketizationMode: 1})
}

func (r *rig) addOut(id string, visible bool, out Output) *Input {
	r.t.Helper()
	s := &recSink{}
	if out.Sink == nil {
		out.Sink = s
	}
	in, err := r.m.Add(id, "Name "+id, out)
	if err != nil {
		r.t.Fatalf("add %s: %v", id, err)
	}
	if err := r.m.SetVisible(id, visible); err != nil {
		r.t.Fatal(err)
	}
	r.sinks[id] = s
	r.ins[id] = in
	return in
}

// tick advances the clock one frame and ticks.
func (r *rig) tick() {
	r.clk.Advance(r.m.period)
	r.m.Tick()
}

// seen is the last canvas participant id was sent.
func (r *rig) seen(id string) *codec.Frame {
	r.t.Helper()
	return r.f.encoder(r.t, r.sinks[id].lastSerial(r.t)).last(r.t)
}

func (r *rig) encoderOf(id string) *fakeEncoder {
	r.t.Helper()
	return r.f.encoder(r.t, r.sinks[id].lastSerial(r.t))
}

// solid is a w x h frame of one colour.
func solid(w, h int, c yuv) *codec.Frame {
	f := codec.NewFrame(w, h)
	f.Fill(c.y, c.u, c.v)
	return f
}

// Distinct, saturated colours (BT.601 limited range), none near the
// compositor's greys, amber or slate blue.
var palette = []yuv{
	{82, 90, 240},   // red
	{145, 54, 34},   // green
	{41, 240, 110},  // blue
	{210, 16, 146},  // yellow
	{170, 166, 16},  // cyan
	{107, 202, 222}, // magenta
}

func pixel(f *codec.Frame, x, y int) yuv {
	return yuv{f.Y[y*f.StrideY+x], f.U[(y/2)*f.StrideUV+x/2], f.V[(y/2)*f.StrideUV+x/2]}
}

func near(a, b yuv, tol int) bool {
	d := func(x, y byte) bool { return abs(int(x)-int(y)) <= tol }
	return d(a.y, b.y) && d(a.u, b.u) && d(a.v, b.v)
}

// centre is the middle pixel of a cell's rectangle on f.
func centre(f *codec.Frame, lay string, cell int) (int, int) {
	l, _ := layout.DefaultSet().Get(lay)
	rc := l.Cells[cell].Rect(f.Width, f.Height)
	return rc.X + rc.W/2, rc.Y + rc.H/2
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

// cellPixel is the colour at the centre of a cell.
func cellPixel(f *codec.Frame, lay string, cell int) yuv {
	x, y := centre(f, lay, cell)
	return pixel(f, x, y)
}

// testWriter sends log lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
