package video

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"vmrd/internal/codec"
	"vmrd/internal/media"
	"vmrd/mixer/layout"
)

// Sink receives one participant's composed video. WriteVideo is called on
// the mixer's goroutine with the RTP payloads of one picture, in order (the
// last one carries the marker bit), the picture's 90 kHz timestamp on the
// mixer's clock (the leg adds its own random offset, SSRC, sequence numbers
// and payload type) and whether it is a keyframe. The payloads are shared
// with every member of the participant's encoder group and reused after the
// call: copy what you keep. WriteVideo must not block and must not call
// back into the Mixer.
type Sink interface {
	WriteVideo(payloads [][]byte, timestamp uint32, keyframe bool)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(payloads [][]byte, timestamp uint32, keyframe bool)

// WriteVideo implements Sink.
func (f SinkFunc) WriteVideo(payloads [][]byte, timestamp uint32, keyframe bool) {
	f(payloads, timestamp, keyframe)
}

var _ Sink = SinkFunc(nil)

// Output is the negotiated send side of one participant.
type Output struct {
	Codec codec.VideoCodec
	// Width and Height are the largest picture the endpoint accepts; the
	// participant's canvas is the room canvas scaled down, keeping its
	// shape, to fit inside them. Zero means the room canvas.
	Width, Height int
	// Bitrate is the tier's target in bits per second; receiver estimates
	// (SetBitrate) only lower it.
	Bitrate int
	// PacketizationMode and MTU shape the RTP payloads (H.264 mode 0 or 1,
	// RFC 6184 section 6.2; MTU is the largest payload, default 1200).
	PacketizationMode media.H264PacketizationMode
	MTU               int
	// Sink receives the composed video; nil makes the participant a name
	// tile without video (see Mixer.Add).
	Sink Sink
	// Layout, when set, is this output's own layout instead of the room's
	// (a stream's audience view, typically 1:0 or 1:7).
	Layout string
	// Raw sends each encoded frame whole as the only payload (an H.264
	// access unit in Annex B form) instead of RTP payloads, for outputs
	// that are not RTP (an RTMP stream). Raw outputs are encoded every
	// tick, still or not: streams want a steady frame rate.
	Raw bool
	// KeyframeInterval, when set, is this output's periodic keyframe
	// interval instead of the mixer's (a stream needs one every 2 s).
	KeyframeInterval time.Duration
	// RequestKeyframe asks this participant's sender for a keyframe (PLI or
	// FIR upstream). The mixer calls it on its goroutine, at most once a
	// second, when the participant newly appears in some view or its
	// largest cell grows. It must not block. Optional.
	RequestKeyframe func()
}

// DefaultMTU is the RTP payload size used when Output.MTU is zero: it
// leaves room for RTP, SRTP and tunnel headers within a 1500-byte path.
const DefaultMTU = 1200

// outKey is what encoder group members must share besides their view.
type outKey struct {
	codec   codec.VideoCodec
	w, h    int
	bitrate int
	mode    media.H264PacketizationMode
	mtu     int
	layout  string // the output's own layout, "" for the room's
	raw     bool
	keyIvl  time.Duration
}

// InputStats are one participant's counters since Add.
type InputStats struct {
	// Frames were written by the participant's decoder.
	Frames uint64
	// Dropped frames were replaced by a newer one before the compositor
	// used them (the sender is faster than the room's frame rate).
	Dropped uint64
	// Rejected frames had an unusable size or planes.
	Rejected uint64
}

// frameSlot is a triple buffer between the one writer (the participant's
// receive goroutine) and the one reader (the tick). The writer fills its
// back buffer and swaps it with the middle one; the reader swaps the
// middle one with its front buffer when the middle one is fresh. Neither
// side ever waits for the other.
type frameSlot struct {
	mid atomic.Uint32 // index of the middle buffer | freshBit

	wmu  sync.Mutex // serializes writers; the reader never takes it
	back uint32

	front uint32 // owned by the reader
	bufs  [3]*codec.Frame
}

const freshBit = 4

func newFrameSlot() *frameSlot {
	s := &frameSlot{back: 0, front: 2}
	s.mid.Store(1)
	return s
}

// write copies f into the back buffer and publishes it. It reports whether
// a fresh frame was replaced unseen, and an error for an unusable frame.
func (s *frameSlot) write(f *codec.Frame) (dropped bool, err error) {
	if f == nil || f.Width <= 0 || f.Height <= 0 || f.Width > codec.MaxVideoDimension || f.Height > codec.MaxVideoDimension {
		return false, codec.ErrBadFrame
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	b := s.bufs[s.back]
	if b == nil || b.Width != f.Width || b.Height != f.Height {
		// A new size: this buffer is the writer's alone until published.
		b = codec.NewFrame(f.Width, f.Height)
		b.Width, b.Height = f.Width, f.Height // NewFrame rounds up to even
		s.bufs[s.back] = b
	}
	if err := b.CopyFrom(f); err != nil {
		return false, err
	}
	old := s.mid.Swap(s.back | freshBit)
	s.back = old &^ freshBit
	return old&freshBit != 0, nil
}

// take makes the newest frame the reader's front buffer. It reports
// whether there was a new one.
func (s *frameSlot) take() bool {
	if s.mid.Load()&freshBit == 0 {
		return false
	}
	old := s.mid.Swap(s.front)
	s.front = old &^ freshBit
	return true
}

// current is the reader's front frame, nil before the first frame.
func (s *frameSlot) current() *codec.Frame { return s.bufs[s.front] }

// Input is one participant in the compositor: the picture it sends and
// what it is sent. WriteFrame, SetSpeaking and Stats are safe for
// concurrent use with everything else.
type Input struct {
	id  string
	out Output
	key outKey
	log *slog.Logger
	// tile: a participant without video (no Sink), shown as a name tile.
	tile bool

	lay      *layout.Layout // the output's own layout; nil for the room's
	slot     *frameSlot
	frames   atomic.Uint64
	dropped  atomic.Uint64
	rejected atomic.Uint64
	speaking atomic.Bool
	wantKey  atomic.Bool  // a receiver asked for a keyframe (ForceKeyframe)
	remb     atomic.Int64 // receiver's bitrate estimate, 0 = none
	removed  atomic.Bool
	// mixDropped is the mixer's total of dropped frames.
	mixDropped *atomic.Uint64

	// Control state, guarded by Mixer.mu; the tick copies it when the
	// mixer's version changes.
	cName    string
	cVisible bool
	cSlate   string
	cPin     int // -1 = not pinned
	cSpeakFn func() bool

	// Owned by the tick.
	name      string
	visible   bool
	slate     string
	pin       int
	speakFn   func() bool
	gen       uint64 // bumped for every new front frame
	view      int    // index into Mixer.views this tick
	keyIdx    int    // index into Mixer.keys this tick
	group     *group
	area      float64 // largest cell, in canvas fractions, this tick
	lastArea  float64 // ... and last tick
	wantSrc   bool    // a keyframe should be asked of the sender
	lastSrc   time.Time
	panicked  bool // the sink or RequestKeyframe panicked; logged once
	srcLogged bool
}

func newInput(id, name string, out Output, key outKey, log *slog.Logger) *Input {
	return &Input{id: id, out: out, key: key, log: log, slot: newFrameSlot(), tile: out.Sink == nil,
		cName: name, cPin: -1, name: name, pin: -1}
}

// ID is the id the participant was added with.
func (in *Input) ID() string { return in.id }

// HasVideo reports whether the participant has a video leg; false for a
// name tile (see Mixer.Add).
func (in *Input) HasVideo() bool { return !in.tile }

// String describes the input: "Input(alice, H264 1280x720 1500 kbps)".
func (in *Input) String() string {
	return fmt.Sprintf("Input(%s, %s %dx%d %d kbps)", in.id, in.key.codec, in.key.w, in.key.h, in.key.bitrate/1000)
}

// WriteFrame hands the compositor the participant's latest decoded picture.
// It copies f (the caller may reuse it at once) into a buffer the
// compositor reads at its next tick; a frame that is still unread is
// replaced and counted as dropped. It never waits for the compositor and,
// once the picture size is stable, does not allocate.
func (in *Input) WriteFrame(f *codec.Frame) {
	if in.removed.Load() {
		return
	}
	dropped, err := in.slot.write(f)
	if err != nil {
		if in.rejected.Add(1) == 1 {
			in.log.Warn("video frame rejected", "error", err)
		}
		return
	}
	in.frames.Add(1)
	if dropped {
		in.dropped.Add(1)
		if in.mixDropped != nil {
			in.mixDropped.Add(1)
		}
	}
}

// SetSpeaking sets the speaking flag the mixer reads each tick when no
// speaking function was given (Mixer.SetSpeaking).
func (in *Input) SetSpeaking(speaking bool) { in.speaking.Store(speaking) }

// Stats returns the input's counters.
func (in *Input) Stats() InputStats {
	return InputStats{Frames: in.frames.Load(), Dropped: in.dropped.Load(), Rejected: in.rejected.Load()}
}
