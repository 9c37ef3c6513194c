package audio

import (
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"

	"vmrd/internal/codec"
	"vmrd/internal/metrics"
)

// Sink receives one participant's mixed audio: one encoded 20 ms frame per
// tick. WriteAudio is called from the tick goroutine; it must not block, must
// copy payload if it keeps it (the buffer is reused, and may be shared with
// other sinks of the same format), and must not call back into the Mixer.
type Sink interface {
	WriteAudio(payload []byte)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(payload []byte)

// WriteAudio implements Sink.
func (f SinkFunc) WriteAudio(payload []byte) { f(payload) }

var _ Sink = SinkFunc(nil)

// InputStats are an input's counters since it was added.
type InputStats struct {
	// Underruns counts the times the input ran dry while playing and went
	// back to buffering.
	Underruns uint64
	// DroppedSamples were discarded because the input buffer was full.
	DroppedSamples uint64
	// SkippedSamples were discarded, during silence, to bring back down a
	// buffer that stayed deeper than needed (the sender's clock is faster
	// than ours).
	SkippedSamples uint64
}

// Input is one participant in the mixer: the audio it sends in and the state
// of what it hears. It starts isolated (see SetInMeeting). Write, SetMuted,
// Muted, SetInMeeting, InMeeting, Play, StopPlay, Speaking, Level and Stats
// are safe for concurrent use with each other and with the mixer's tick.
type Input struct {
	id     string
	format string
	sink   Sink
	group  *group
	met    *metrics.Metrics
	log    *slog.Logger

	muted     atomic.Bool
	inMeeting atomic.Bool
	speaking  atomic.Bool
	level     atomic.Int32 // centi-dBov
	removed   atomic.Bool
	underruns atomic.Uint64
	dropped   atomic.Uint64
	skipped   atomic.Uint64

	// mu guards the queue between the writer and the tick. Both hold it only
	// to copy one write or one frame.
	mu        sync.Mutex
	q         ring
	buffering bool // waiting for prebuffer samples before playing
	minDepth  int  // smallest queue depth seen at a read in this drift window
	window    int  // reads in this drift window
	prebuffer int  // samples

	// playMu guards the hand-over of player requests to the tick.
	playMu      sync.Mutex
	nextPlay    *player // the latest request, not yet picked up
	playClosed  bool    // removed: no more requests
	playPending atomic.Bool

	// Owned by the tick.
	frame     [codec.FrameSamples]int16 // this tick's samples, after the gate
	vad       vad
	open      bool // the gate was open at the end of the last tick
	talking   bool // contributed to this tick's mix
	meeting   bool // in the meeting this tick
	ownOut    bool // got its own encode (not the shared mix) last tick
	play      *player
	ended     *player // finished this tick, done called after the send
	enc       codec.AudioEncoder
	errLogged bool
	lim       limiter
}

// driftWindow is the number of reads over which an input's minimum queue depth
// is measured before deciding whether to skip surplus samples (1 s).
const driftWindow = 50

func newInput(id, format string, sink Sink, g *group, capacity, prebuffer int, met *metrics.Metrics, log *slog.Logger) *Input {
	in := &Input{
		id:        id,
		format:    format,
		sink:      sink,
		group:     g,
		met:       met,
		log:       log,
		q:         newRing(capacity),
		buffering: true,
		minDepth:  math.MaxInt,
		prebuffer: prebuffer,
		vad:       newVAD(),
		lim:       newLimiter(),
	}
	in.level.Store(int32(silenceDB * 100))
	return in
}

// ID is the id the input was added with.
func (in *Input) ID() string { return in.id }

// Format is the output format key the input was added with.
func (in *Input) Format() string { return in.format }

// String describes the stage for pipeline descriptions: "Input(alice, PCMU/8000)".
func (in *Input) String() string { return fmt.Sprintf("Input(%s, %s)", in.id, in.format) }

// Write queues decoded audio: 48 kHz mono, any number of samples. It is
// called from the participant's receive goroutine and never blocks on the
// tick for longer than a copy. When the queue is full the oldest samples are
// dropped and counted. Writes after the input was removed are ignored.
func (in *Input) Write(pcm []int16) {
	if len(pcm) == 0 || in.removed.Load() {
		return
	}
	in.mu.Lock()
	dropped := in.q.write(pcm)
	in.mu.Unlock()
	if dropped > 0 {
		in.dropped.Add(uint64(dropped))
		if in.met != nil {
			in.met.AudioFramesDropped.Add(uint64((dropped + codec.FrameSamples - 1) / codec.FrameSamples))
		}
	}
}

// SetMuted mutes or unmutes the input. A muted input is not mixed, but the
// participant still hears the room. The mixer fades the input in or out over
// a few milliseconds at the next tick.
func (in *Input) SetMuted(muted bool) { in.muted.Store(muted) }

// Muted reports whether the input is muted.
func (in *Input) Muted() bool { return in.muted.Load() }

// SetInMeeting moves the input into the meeting (true): it is mixed unless
// muted and hears the room minus itself, plus its player. Out of the meeting
// (false, the state of a new input: PIN entry, the lobby) it is isolated: not
// mixed, never a talker, and it hears only its player, or silence; its
// output is still encoded and sent every tick so RTP keeps flowing. The
// mixer fades the input in or out at the next tick.
func (in *Input) SetInMeeting(inMeeting bool) { in.inMeeting.Store(inMeeting) }

// InMeeting reports whether the input is in the meeting.
func (in *Input) InMeeting() bool { return in.inMeeting.Load() }

// Speaking reports voice activity for the active speaker: false while muted
// or isolated.
// It turns on after a few voiced frames and off after half a second of quiet.
func (in *Input) Speaking() bool { return in.speaking.Load() }

// Level is the level of the input's last frame in dBov (0 is full scale,
// -127 is silence), muted or not.
func (in *Input) Level() float64 { return float64(in.level.Load()) / 100 }

// Stats returns the input's counters.
func (in *Input) Stats() InputStats {
	return InputStats{
		Underruns:      in.underruns.Load(),
		DroppedSamples: in.dropped.Load(),
		SkippedSamples: in.skipped.Load(),
	}
}

// pull reads this tick's frame into in.frame and reports whether there was
// one. An input that runs dry goes back to buffering until prebuffer samples
// are queued, so a jittery sender plays in runs instead of choppy 20 ms bits.
// quiet says whether the input is silent, when skipping surplus samples is
// inaudible.
func (in *Input) pull(quiet bool) bool {
	in.mu.Lock()
	n := in.q.len()
	if in.buffering {
		if n < in.prebuffer {
			in.mu.Unlock()
			return false
		}
		in.buffering = false
		in.minDepth = math.MaxInt
		in.window = 0
	} else if n < codec.FrameSamples {
		in.buffering = true
		in.mu.Unlock()
		in.underruns.Add(1)
		if in.met != nil {
			in.met.AudioUnderruns.Add(1)
		}
		return false
	}
	in.minDepth = min(in.minDepth, n)
	in.q.read(in.frame[:])
	in.window++
	skip := 0
	if in.window >= driftWindow {
		// The queue never went below minDepth in the last second: that much
		// above the prebuffer target is latency nobody needs.
		if excess := in.minDepth - in.prebuffer; excess >= codec.FrameSamples && quiet {
			skip = min(excess, in.q.len())
			in.q.discard(skip)
		}
		in.window = 0
		in.minDepth = math.MaxInt
	}
	in.mu.Unlock()
	if skip > 0 {
		in.skipped.Add(uint64(skip))
	}
	return true
}

// queued is the number of samples waiting (for tests).
func (in *Input) queued() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.q.len()
}
