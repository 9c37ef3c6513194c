package media

import (
	"time"

	"github.com/pion/rtp"
)

// reorderSlots is how many sequence numbers the video reorder buffer spans:
// packets further ahead than this force the oldest gaps to be given up.
// 128 packets is about half a second of 2 Mbit/s video.
const reorderSlots = 128

// NACK pacing for the reorder buffer (RFC 4585 section 6.2.1 leaves the
// policy to the receiver).
const (
	nackMaxTries    = 3                     // times one sequence number is asked for
	nackGrace       = 5 * time.Millisecond  // a gap may be plain reordering: wait this long before the first NACK
	nackMinInterval = 10 * time.Millisecond // between two NACK packets we send
)

type roState uint8

const (
	roEmpty roState = iota
	roPresent
	roMissing
)

// reorderSlot holds one sequence number: a packet that arrived ahead of a
// gap, or a gap that is being waited for (and perhaps NACKed).
type reorderSlot struct {
	state    roState
	seq      uint16
	ts       uint32
	marker   bool
	payload  []byte    // owned, reused; grown once to the largest payload
	since    time.Time // missing: when the gap was seen
	nacks    uint8     // missing: NACKs sent for it
	lastNACK time.Time
}

// reorderStats are the buffer's counters, read by the receive goroutine.
type reorderStats struct {
	reordered, recovered, late, dup, lost uint64
}

// deliverFunc receives packets in sequence order. payload is valid only
// during the call.
type deliverFunc func(seq uint16, ts uint32, marker bool, payload []byte)

// reorderBuffer puts one stream's packets back in sequence order. A packet
// in order with nothing held goes straight through without a copy; packets
// after a gap are held until the gap fills or has been waited for too long
// (then the depacketizer sees the jump and drops the broken frame). It is
// owned by the receive goroutine.
type reorderBuffer struct {
	slots   [reorderSlots]reorderSlot
	started bool
	next    uint16 // next sequence number to hand out
	high    uint16 // highest sequence number seen; next-1 when nothing is held
	held    int    // present slots
	// A packet far outside the window is a restart (or junk): one alone is
	// dropped, two in sequence restart the buffer (RFC 3550 appendix A.1).
	probation    bool
	probationSeq uint16
	st           reorderStats
}

func (b *reorderBuffer) reset() {
	for i := range b.slots {
		b.slots[i].state = roEmpty
	}
	b.started, b.held, b.probation = false, 0, false
}

// pending reports whether any sequence number between next and high is
// held or missing.
func (b *reorderBuffer) pending() bool { return b.started && int16(b.high-b.next) >= 0 }

// push takes one packet. It delivers what is in order now; gaps wait for
// release.
func (b *reorderBuffer) push(seq uint16, ts uint32, marker bool, payload []byte, now time.Time, maxWait time.Duration, deliver deliverFunc) {
	if !b.started {
		b.started = true
		b.next, b.high = seq, seq-1
	}
	d := seq - b.next // distance ahead of next, modulo 2^16
	switch {
	case int16(d) < 0 && int16(d) >= -reorderSlots:
		// Already handed out or given up: a duplicate, or a repair
		// (retransmission or reordered packet) that came too late.
		b.st.late++
		b.probation = false
		return
	case int16(d) < 0 || d >= maxDropout:
		if !b.probation || seq != b.probationSeq+1 {
			b.probation, b.probationSeq = true, seq
			return
		}
		// The sender restarted its sequence: flush what we hold (the
		// depacketizer sees the jump) and start over from here.
		b.probation = false
		b.flush(deliver)
		b.reset()
		b.started = true
		b.next, b.high = seq, seq-1
		d = 0
	}
	b.probation = false
	// Too far ahead for the window: give up the oldest gaps.
	for d >= reorderSlots {
		b.advance(deliver)
		d = seq - b.next
	}
	if d == 0 {
		s := &b.slots[seq%reorderSlots]
		if s.state == roMissing && s.seq == seq {
			b.countRepair(s)
		}
		s.state = roEmpty
		if int16(seq-b.high) > 0 {
			b.high = seq
		}
		b.next++
		deliver(seq, ts, marker, payload)
		b.release(now, maxWait, deliver)
		return
	}
	s := &b.slots[seq%reorderSlots]
	switch {
	case s.seq == seq && s.state == roPresent:
		b.st.dup++
		return
	case s.seq == seq && s.state == roMissing:
		b.countRepair(s)
	}
	if int16(seq-b.high) > 0 {
		// Everything between the old high and seq is missing from now.
		for m := b.high + 1; m != seq; m++ {
			ms := &b.slots[m%reorderSlots]
			*ms = reorderSlot{state: roMissing, seq: m, since: now, payload: ms.payload}
		}
		b.high = seq
	}
	s.state, s.seq, s.ts, s.marker = roPresent, seq, ts, marker
	s.payload = append(s.payload[:0], payload...)
	b.held++
}

func (b *reorderBuffer) countRepair(s *reorderSlot) {
	if s.nacks > 0 {
		b.st.recovered++
	} else {
		b.st.reordered++
	}
}

// release hands out every packet that is in order now, giving up a
// missing head that has been waited for maxWait.
func (b *reorderBuffer) release(now time.Time, maxWait time.Duration, deliver deliverFunc) {
	for b.pending() {
		s := &b.slots[b.next%reorderSlots]
		switch {
		case s.state == roPresent && s.seq == b.next:
			b.advance(deliver)
		case s.state == roMissing && s.seq == b.next && now.Sub(s.since) < maxWait:
			return
		default:
			b.advance(deliver)
		}
	}
}

// advance hands out or gives up the head sequence number.
func (b *reorderBuffer) advance(deliver deliverFunc) {
	s := &b.slots[b.next%reorderSlots]
	if s.state == roPresent && s.seq == b.next {
		s.state = roEmpty
		b.held--
		b.next++
		deliver(s.seq, s.ts, s.marker, s.payload)
		return
	}
	b.st.lost++ // a gap, or a sequence number a jump skipped
	s.state = roEmpty
	b.next++
	if int16(b.high-b.next) < -1 {
		b.high = b.next - 1
	}
}

// flush hands out everything held, in order, skipping the gaps.
func (b *reorderBuffer) flush(deliver deliverFunc) {
	for b.pending() {
		b.advance(deliver)
	}
}

// deadline is when the missing head will be given up; ok is false when
// nothing waits.
func (b *reorderBuffer) deadline(maxWait time.Duration) (time.Time, bool) {
	if !b.pending() {
		return time.Time{}, false
	}
	s := &b.slots[b.next%reorderSlots]
	if s.state != roMissing || s.seq != b.next {
		return time.Time{}, false
	}
	return s.since.Add(maxWait), true
}

// nackDue collects the missing sequence numbers to ask for now (each at
// most nackMaxTries times, retry apart) into dst and, with mark, counts
// them as asked. It also returns when the next one is due (zero if none;
// without mark, a time not after now if some are due already).
func (b *reorderBuffer) nackDue(now time.Time, retry time.Duration, mark bool, dst []uint16) ([]uint16, time.Time) {
	var next time.Time
	if !b.pending() {
		return dst, next
	}
	for seq := b.next; int16(b.high-seq) >= 0; seq++ {
		s := &b.slots[seq%reorderSlots]
		if s.state != roMissing || s.seq != seq || s.nacks >= nackMaxTries {
			continue
		}
		due := s.since.Add(nackGrace)
		if s.nacks > 0 {
			due = s.lastNACK.Add(retry)
		}
		if mark && !now.Before(due) {
			dst = append(dst, seq)
			s.nacks++
			s.lastNACK = now
			if s.nacks >= nackMaxTries {
				continue
			}
			due = now.Add(retry)
		}
		if next.IsZero() || due.Before(next) {
			next = due
		}
	}
	return dst, next
}

// Reorderer puts one stream's RTP packets back in sequence order for a
// depacketizer, with the video session's buffer: for legs whose packets
// arrive through another stack (pion's tracks for browsers). A gap is
// waited for MaxWait (a NACK's retransmission may fill it) and then given
// up, so the depacketizer sees the loss. Not safe for concurrent use.
type Reorderer struct {
	b       reorderBuffer
	maxWait time.Duration
	deliver func(*rtp.Packet)
	out     rtp.Packet
	fn      deliverFunc // r.emit, made once: no allocation per packet
}

// NewReorderer makes a Reorderer that hands packets to deliver in order.
// The packet deliver gets is valid only during the call.
func NewReorderer(maxWait time.Duration, deliver func(*rtp.Packet)) *Reorderer {
	r := &Reorderer{maxWait: maxWait, deliver: deliver}
	r.fn = r.emit
	return r
}

// Push adds a packet received at now and delivers what is in order.
func (r *Reorderer) Push(p *rtp.Packet, now time.Time) {
	r.out.Header.SSRC, r.out.Header.PayloadType = p.SSRC, p.PayloadType
	r.b.push(p.SequenceNumber, p.Timestamp, p.Marker, p.Payload, now, r.maxWait, r.fn)
	r.b.release(now, r.maxWait, r.fn)
}

func (r *Reorderer) emit(seq uint16, ts uint32, marker bool, payload []byte) {
	r.out.Header.Version = 2
	r.out.SequenceNumber, r.out.Timestamp, r.out.Marker, r.out.Payload = seq, ts, marker, payload
	r.deliver(&r.out)
}
