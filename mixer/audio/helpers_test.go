package audio

import (
	"encoding/binary"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"

	"vmrd/internal/codec"
)

// pcmEncoder is a passthrough "codec": 16-bit little-endian samples, so tests
// can read back exactly what the mixer produced.
type pcmEncoder struct {
	encodes *atomic.Int64 // shared by every encoder of one factory
	fail    bool
	closed  atomic.Bool
}

var _ codec.AudioEncoder = (*pcmEncoder)(nil)

var errFakeEncode = errors.New("fake encode failure")

func (e *pcmEncoder) Encode(pcm []int16, out []byte) (int, error) {
	if e.closed.Load() {
		return 0, codec.ErrClosed
	}
	if len(pcm) != codec.FrameSamples {
		return 0, codec.ErrFrameSize
	}
	e.encodes.Add(1)
	if e.fail {
		return 0, errFakeEncode
	}
	if len(out) < 2*len(pcm) {
		return 0, codec.ErrShortBuffer
	}
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(out[2*i:], uint16(s))
	}
	return 2 * len(pcm), nil
}

func (e *pcmEncoder) Close() error {
	e.closed.Store(true)
	return nil
}

var errUnknownFormat = errors.New("unknown test format")

// factory makes pcmEncoders and remembers them. Formats starting with "bad"
// cannot be made; formats starting with "failing" make encoders whose
// Encode fails.
type factory struct {
	encodes atomic.Int64
	mu      sync.Mutex
	made    map[string]int
	all     []*pcmEncoder
}

func newFactory() *factory { return &factory{made: make(map[string]int)} }

func (f *factory) New(format string) (codec.AudioEncoder, error) {
	if len(format) >= 3 && format[:3] == "bad" {
		return nil, errUnknownFormat
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.made[format]++
	e := &pcmEncoder{encodes: &f.encodes, fail: len(format) >= 7 && format[:7] == "failing"}
	f.all = append(f.all, e)
	return e, nil
}

func (f *factory) madeFor(format string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.made[format]
}

// open counts encoders not yet closed.
func (f *factory) open() int {
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

// recSink records what one participant received. decode turns a payload
// into PCM; it defaults to 16-bit little-endian.
type recSink struct {
	mu     sync.Mutex
	calls  int
	pcm    []int16
	first  []*byte // address of each payload, to check sharing
	decode func(payload []byte) []int16
}

func (s *recSink) WriteAudio(p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if len(p) > 0 {
		s.first = append(s.first, &p[0])
	}
	if s.decode != nil {
		s.pcm = append(s.pcm, s.decode(p)...)
		return
	}
	for i := 0; i+1 < len(p); i += 2 {
		s.pcm = append(s.pcm, int16(binary.LittleEndian.Uint16(p[i:])))
	}
}

func (s *recSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

// last returns the last n samples received.
func (s *recSink) last(t *testing.T, n int) []int16 {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pcm) < n {
		t.Fatalf("sink holds %d samples, want at least %d", len(s.pcm), n)
	}
	return append([]int16(nil), s.pcm[len(s.pcm)-n:]...)
}

// tone is a sine generator with continuous phase.
type tone struct {
	freq, amp float64
	n         int
}

func (g *tone) next(n int) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(math.Round(g.amp * math.Sin(2*math.Pi*g.freq*float64(g.n)/codec.MixRate)))
		g.n++
	}
	return out
}

// amplitude estimates the amplitude of the freq component of pcm with the
// Goertzel algorithm. With len(pcm) a multiple of MixRate/freq periods there
// is no leakage from other such tones.
func amplitude(pcm []int16, freq float64) float64 {
	w := 2 * math.Pi * freq / codec.MixRate
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, x := range pcm {
		s0 := float64(x) + c*s1 - s2
		s2, s1 = s1, s0
	}
	power := s1*s1 + s2*s2 - c*s1*s2
	return 2 * math.Sqrt(max(power, 0)) / float64(len(pcm))
}

// newTestMixer makes a mixer with the PCM factory.
func newTestMixer(t *testing.T, f *factory) *Mixer {
	t.Helper()
	m := New(Config{Name: "room 1", NewEncoder: f.New})
	t.Cleanup(func() { _ = m.Close() })
	return m
}

// mustAdd adds an input, isolated as every new input is.
func mustAdd(t *testing.T, m *Mixer, id, format string, s Sink) *Input {
	t.Helper()
	in, err := m.Add(id, format, s)
	if err != nil {
		t.Fatalf("add %s: %v", id, err)
	}
	return in
}

// mustJoin adds an input and puts it in the meeting.
func mustJoin(t *testing.T, m *Mixer, id, format string, s Sink) *Input {
	t.Helper()
	in := mustAdd(t, m, id, format, s)
	if err := m.SetInMeeting(id, true); err != nil {
		t.Fatalf("join %s: %v", id, err)
	}
	return in
}
