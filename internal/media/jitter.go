package media

import (
	"fmt"
	"time"
)

// jbSlots is the ring size of the jitter buffer. 32 slots of 20 ms hold 640 ms,
// three times the largest target delay, so reordering within the delay never
// collides in the ring; at 10 ms packets they still cover 320 ms.
const jbSlots = 32

// maxPayload is the largest RTP payload a slot keeps: an Ethernet-MTU packet
// minus the fixed RTP header. Opus packets are at most 1275 bytes.
const maxPayload = maxPacket - 12

// Sequence number limits from RFC 3550 appendix A.1.
const (
	maxDropout  = 3000
	maxMisorder = 100
)

// JitterConfig configures a JitterBuffer.
type JitterConfig struct {
	ClockRate  uint32        // RTP clock rate of the stream
	FrameTS    uint32        // expected timestamp step of one packet; learned from the stream after that
	MinDelay   time.Duration // lower clamp of the target delay (default 20 ms)
	MaxDelay   time.Duration // upper clamp of the target delay (default 200 ms)
	MaxConceal int           // concealed frames in a row before going silent (default 3)
}

// FrameKind says what Pop produced.
type FrameKind int

// Pop results.
const (
	FrameNone    FrameKind = iota // nothing due yet; see Deadline
	FramePacket                   // decode Frame.Payload
	FrameConceal                  // call the decoder's Conceal for one frame
)

func (k FrameKind) String() string {
	switch k {
	case FrameNone:
		return "none"
	case FramePacket:
		return "packet"
	case FrameConceal:
		return "conceal"
	}
	return "unknown"
}

// Frame is one result of Pop. Payload aliases the buffer's memory and is
// valid until the next Push or Pop.
type Frame struct {
	Kind      FrameKind
	Seq       uint16
	Timestamp uint32
	Payload   []byte
}

// PushResult says what Push did with a packet.
type PushResult int

// Push results.
const (
	PushAccepted  PushResult = iota
	PushDuplicate            // same sequence number already buffered or played
	PushLate                 // its playout time has passed
	PushProbation            // a large sequence jump, held back until confirmed (RFC 3550 A.1)
	PushTooLarge             // payload larger than a slot
)

func (r PushResult) String() string {
	switch r {
	case PushAccepted:
		return "accepted"
	case PushDuplicate:
		return "duplicate"
	case PushLate:
		return "late"
	case PushProbation:
		return "probation"
	case PushTooLarge:
		return "too_large"
	}
	return "unknown"
}

// JitterStats are the counters of a JitterBuffer.
type JitterStats struct {
	Accepted, Duplicate, Late, Lost, Concealed, Skipped, Resets uint64
}

type slotState uint8

const (
	slotEmpty slotState = iota
	slotFilled
	slotPlayed
)

type jbSlot struct {
	state   slotState
	filler  bool // a sequence number without audio (RFC 4733 event packet)
	marker  bool
	seq     uint16
	ts      uint32
	arrival time.Time
	n       int
	buf     [maxPayload]byte
}

// JitterBuffer reorders the packets of one RTP audio stream and releases them
// at their playout time: base + (timestamp - baseTS) / clock. The target delay
// is adapted from the RFC 3550 section 6.4.1 interarrival jitter estimate and
// applied when playout is re-anchored (first packet, talkspurt after a
// silence, timestamp or sequence discontinuity); during a continuous stream
// the delay moves by one frame at a time when packets come late or sit too
// long in the buffer (clock drift). Missing frames at playout time are
// concealed, up to MaxConceal in a row, then left silent. It is not safe for
// concurrent use and does not allocate after NewJitterBuffer.
type JitterBuffer struct {
	cfg   JitterConfig
	slots [jbSlots]jbSlot

	started  bool
	idle     bool // starved after concealment: wait for a packet, then re-anchor
	reanchor bool
	next     uint16 // lowest sequence number not yet played or skipped
	vTS      uint32 // timestamp of the next output frame
	frameTS  uint32
	lastSeq  uint16 // last played, for learning frameTS
	lastTS   uint32
	played   bool
	run      int // frames concealed or skipped since the last played packet
	lostGap  int // frames known lost (sequence gap) that still need concealment
	buffered int // filled slots
	badSeq   uint32

	base   time.Time
	baseTS uint32
	target time.Duration

	// RFC 3550 A.8 jitter, in timestamp units scaled by 16.
	epoch       time.Time
	lastTransit int64
	haveTransit bool
	jitter16    int64

	// Drift window: over winLen played packets, the least time a packet
	// spent waiting and whether any came late.
	winCount int
	winMin   time.Duration
	winLate  bool
	stretch  bool // adapt moved playout back: one frame time to fill

	deadline time.Time
	stats    JitterStats
}

const adaptWindow = 50 // packets, about one second at 20 ms

// NewJitterBuffer makes a jitter buffer; zero fields of cfg take defaults.
func NewJitterBuffer(cfg JitterConfig) *JitterBuffer {
	if cfg.ClockRate == 0 {
		cfg.ClockRate = 8000
	}
	if cfg.FrameTS == 0 {
		cfg.FrameTS = cfg.ClockRate / 50
	}
	if cfg.MinDelay <= 0 {
		cfg.MinDelay = 20 * time.Millisecond
	}
	if cfg.MaxDelay < cfg.MinDelay {
		cfg.MaxDelay = max(200*time.Millisecond, cfg.MinDelay)
	}
	if cfg.MaxConceal <= 0 {
		cfg.MaxConceal = 3
	}
	j := &JitterBuffer{cfg: cfg}
	j.Reset()
	return j
}

// Reset forgets the stream (new SSRC, codec change) but keeps the counters.
func (j *JitterBuffer) Reset() {
	for i := range j.slots {
		j.slots[i].state = slotEmpty
	}
	j.started, j.idle, j.reanchor, j.played = false, false, false, false
	j.buffered, j.run, j.lostGap = 0, 0, 0
	j.frameTS = j.cfg.FrameTS
	j.badSeq = 1 << 16
	j.haveTransit = false
	j.jitter16 = 0
	j.target = j.cfg.MinDelay
	j.winCount, j.winMin, j.winLate = 0, 0, false
	j.stretch = false
}

// String describes the stage for pipeline strings.
func (j *JitterBuffer) String() string {
	return fmt.Sprintf("Jitter(adaptive %d-%dms)", j.cfg.MinDelay.Milliseconds(), j.cfg.MaxDelay.Milliseconds())
}

// Stats returns the counters.
func (j *JitterBuffer) Stats() JitterStats { return j.stats }

// Jitter is the RFC 3550 interarrival jitter estimate in timestamp units.
func (j *JitterBuffer) Jitter() uint32 { return uint32(j.jitter16 >> 4) }

// JitterDuration is Jitter as a duration.
func (j *JitterBuffer) JitterDuration() time.Duration { return j.tsDur(int64(j.Jitter())) }

// Target is the current target playout delay.
func (j *JitterBuffer) Target() time.Duration { return j.target }

// Deadline is when Pop next has something to do; false when it waits for a
// packet.
func (j *JitterBuffer) Deadline() (time.Time, bool) {
	if !j.started || j.idle || j.deadline.IsZero() {
		return time.Time{}, false
	}
	return j.deadline, true
}

func (j *JitterBuffer) tsDur(d int64) time.Duration {
	return time.Duration(d * int64(time.Second) / int64(j.cfg.ClockRate))
}

func (j *JitterBuffer) playAt(ts uint32) time.Time {
	return j.base.Add(j.tsDur(int64(int32(ts - j.baseTS))))
}

func (j *JitterBuffer) frameDur() time.Duration { return j.tsDur(int64(j.frameTS)) }

// updateJitter is RFC 3550 section 6.4.1 / appendix A.8: J += (|D| - J) / 16
// with D the difference of relative transit times of consecutive packets.
func (j *JitterBuffer) updateJitter(ts uint32, arrival time.Time) {
	if j.epoch.IsZero() {
		j.epoch = arrival
	}
	arr := int64(arrival.Sub(j.epoch)) * int64(j.cfg.ClockRate) / int64(time.Second)
	transit := arr - int64(ts)
	if j.haveTransit {
		d := transit - j.lastTransit
		// Wrap the 32-bit timestamp difference.
		d = int64(int32(uint32(d)))
		if d < 0 {
			d = -d
		}
		// A timestamp or clock jump is a discontinuity, not jitter: one
		// such sample would pin the target at its maximum for seconds.
		if d <= int64(j.cfg.ClockRate) {
			j.jitter16 += d - ((j.jitter16 + 8) >> 4)
		}
	}
	j.lastTransit, j.haveTransit = transit, true
	// Target: one frame plus three times the jitter covers almost all
	// arrivals of a stream whose jitter is roughly normal.
	t := j.frameDur() + 3*j.JitterDuration()
	j.target = min(max(t, j.cfg.MinDelay), j.cfg.MaxDelay)
}

// Push adds an audio packet that arrived at arrival.
func (j *JitterBuffer) Push(seq uint16, ts uint32, marker bool, payload []byte, arrival time.Time) PushResult {
	if len(payload) > maxPayload {
		return PushTooLarge
	}
	return j.push(seq, ts, marker, payload, arrival, false)
}

// PushFiller accounts for a packet that shares the stream's sequence numbers
// but carries no audio (RFC 4733 events), so its number is not taken for a
// loss.
func (j *JitterBuffer) PushFiller(seq uint16, arrival time.Time) PushResult {
	return j.push(seq, 0, false, nil, arrival, true)
}

func (j *JitterBuffer) push(seq uint16, ts uint32, marker bool, payload []byte, arrival time.Time, filler bool) PushResult {
	if !j.started {
		if filler {
			return PushAccepted // nothing to anchor on yet; events are handled elsewhere
		}
		j.start(seq, ts)
	}
	diff := int(int16(seq - j.next))
	switch {
	case diff < -maxMisorder || diff >= maxDropout:
		// RFC 3550 A.1: a very large jump is either a restarted sender or a
		// stray packet; believe it only when the next packet follows it.
		if uint32(seq) != j.badSeq {
			j.badSeq = uint32(seq+1) & 0xffff
			return PushProbation
		}
		j.restart(seq, ts)
	case diff < 0:
		s := &j.slots[seq%jbSlots]
		if s.seq == seq && s.state == slotPlayed {
			j.stats.Duplicate++
			return PushDuplicate
		}
		j.stats.Late++
		j.winLate = true
		return PushLate
	case diff >= jbSlots:
		// A loss burst longer than the ring: give up the old packets and
		// restart at this one.
		j.stats.Lost += uint64(diff - j.buffered)
		j.restart(seq, ts)
	}
	j.badSeq = 1 << 16
	s := &j.slots[seq%jbSlots]
	if s.seq == seq && s.state != slotEmpty {
		j.stats.Duplicate++
		return PushDuplicate
	}
	s.state, s.filler, s.marker, s.seq, s.ts, s.arrival = slotFilled, filler, marker, seq, ts, arrival
	s.n = copy(s.buf[:], payload)
	j.buffered++
	j.stats.Accepted++
	if !filler {
		j.updateJitter(ts, arrival)
	}
	if j.idle {
		j.idle = false
		j.reanchor = true
	}
	return PushAccepted
}

func (j *JitterBuffer) start(seq uint16, ts uint32) {
	j.started, j.idle, j.reanchor = true, false, true
	j.next, j.vTS = seq, ts
	j.run, j.lostGap = 0, 0
}

func (j *JitterBuffer) restart(seq uint16, ts uint32) {
	for i := range j.slots {
		j.slots[i].state = slotEmpty
	}
	j.buffered = 0
	j.played = false
	j.haveTransit = false
	j.stats.Resets++
	j.start(seq, ts)
}

// Pop returns the next frame due at now. Call it until it returns FrameNone,
// then wait until Deadline or the next Push.
func (j *JitterBuffer) Pop(now time.Time) Frame {
	j.deadline = time.Time{}
	for j.started && !j.idle {
		s := &j.slots[j.next%jbSlots]
		if s.state == slotFilled && s.seq == j.next {
			if s.filler {
				s.state = slotPlayed
				j.buffered--
				j.next++
				continue
			}
			d := int32(s.ts - j.vTS)
			maxJump := int32(j.cfg.ClockRate) // one second
			if j.reanchor || d > maxJump || d < -maxJump || (s.marker && d != 0) {
				// Talkspurt start or discontinuity: play this packet the
				// target delay after it arrived (never in the past).
				j.base, j.baseTS, j.vTS = s.arrival.Add(j.target), s.ts, s.ts
				j.reanchor = false
				d = 0
			}
			if d < 0 && j.run > 0 && -d <= int32(j.run)*int32(j.frameTS) {
				// It came after we concealed its frame time: the delay is
				// too short (a delay spike, or a sender clock slower than
				// ours). Grow the delay by the frames already concealed and
				// play it, rather than lose it.
				j.base = j.base.Add(j.tsDur(int64(-d)))
				j.vTS = s.ts
				d = 0
			}
			if d < 0 {
				// Its frame time has passed.
				s.state = slotPlayed
				j.buffered--
				j.next++
				j.stats.Late++
				j.winLate = true
				continue
			}
			if d > 0 {
				// A hole in time before this packet: lost frames (conceal)
				// or a sender pause (silence).
				due := j.playAt(j.vTS)
				if now.Before(due) {
					j.deadline = due
					return Frame{}
				}
				j.vTS += j.frameTS
				if j.lostGap > 0 {
					j.lostGap--
					if f, ok := j.conceal(); ok {
						return f
					}
				}
				continue
			}
			due := j.playAt(s.ts)
			if now.Before(due) {
				if f, ok := j.fillStretch(now, due); ok {
					return f
				}
				j.deadline = due
				return Frame{}
			}
			return j.play(s, now)
		}
		// The next sequence number is missing.
		due := j.playAt(j.vTS)
		if now.Before(due) {
			if f, ok := j.fillStretch(now, due); ok {
				return f
			}
			j.deadline = due
			return Frame{}
		}
		if j.buffered > 0 {
			// Later packets are here, so the missing ones are lost: move to
			// the first buffered one and conceal the hole in time.
			for k := 1; k < jbSlots; k++ {
				q := j.next + uint16(k)
				if t := &j.slots[q%jbSlots]; t.state == slotFilled && t.seq == q {
					j.stats.Lost += uint64(k)
					j.lostGap += k
					for m := range k {
						j.slots[(j.next+uint16(m))%jbSlots].state = slotEmpty
					}
					j.next = q
					break
				}
			}
			continue
		}
		// Nothing buffered: the packet is late, lost or the sender paused.
		// Conceal without giving up its sequence number, so it still plays
		// if it turns out to be the start of a talkspurt.
		if j.run >= j.cfg.MaxConceal {
			j.idle = true
			return Frame{}
		}
		j.vTS += j.frameTS
		if f, ok := j.conceal(); ok {
			return f
		}
	}
	return Frame{}
}

// fillStretch fills the frame time that a later playout point opens: when
// adapt moved playout back by a frame, nothing is due for one frame time,
// and without a frame there the listener would hear a hole (and the mixer
// would re-buffer, doubling it). One concealment frame bridges it.
func (j *JitterBuffer) fillStretch(now, due time.Time) (Frame, bool) {
	if !j.stretch || now.Before(due.Add(-j.frameDur())) {
		return Frame{}, false
	}
	j.stretch = false
	j.stats.Concealed++
	return Frame{Kind: FrameConceal, Seq: j.next, Timestamp: j.vTS - j.frameTS}, true
}

func (j *JitterBuffer) conceal() (Frame, bool) {
	j.run++
	if j.run > j.cfg.MaxConceal {
		j.stats.Skipped++
		return Frame{}, false
	}
	j.stats.Concealed++
	return Frame{Kind: FrameConceal, Seq: j.next, Timestamp: j.vTS - j.frameTS}, true
}

func (j *JitterBuffer) play(s *jbSlot, now time.Time) Frame {
	if j.played && s.seq == j.lastSeq+1 {
		if step := s.ts - j.lastTS; step > 0 && step <= j.cfg.ClockRate*120/1000 {
			j.frameTS = step
		}
	}
	j.played, j.lastSeq, j.lastTS = true, s.seq, s.ts
	s.state = slotPlayed
	j.buffered--
	j.next++
	j.vTS = s.ts + j.frameTS
	j.run, j.lostGap = 0, 0
	j.adapt(j.playAt(s.ts).Sub(s.arrival))
	return Frame{Kind: FramePacket, Seq: s.seq, Timestamp: s.ts, Payload: s.buf[:s.n]}
}

// adapt moves the playout point by one frame per window: later when packets
// came late (the jitter grew), earlier when every packet waited longer than
// the target (sender clock faster than ours, or the jitter shrank).
func (j *JitterBuffer) adapt(wait time.Duration) {
	if j.winCount == 0 || wait < j.winMin {
		j.winMin = wait
	}
	j.winCount++
	if j.winCount < adaptWindow {
		return
	}
	fd := j.frameDur()
	switch {
	case j.winLate && j.winMin+fd <= j.cfg.MaxDelay:
		j.base = j.base.Add(fd)
		j.stretch = true // the frame time this opens is filled by fillStretch
	case !j.winLate && j.winMin > j.target+fd/2:
		j.base = j.base.Add(-fd)
	}
	j.winCount, j.winLate = 0, false
}
