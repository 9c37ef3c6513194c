package media

import (
	"time"

	"github.com/pion/rtcp"
)

// rxStats is the receiver state of RFC 3550 appendix A.1 and A.3 for one
// source: extended highest sequence number, packets expected and received,
// and the per-interval counts behind the fraction lost.
type rxStats struct {
	valid         bool
	baseSeq       uint32
	maxSeq        uint16
	cycles        uint32
	received      uint32
	expectedPrior uint32
	receivedPrior uint32
}

func (r *rxStats) reset() { *r = rxStats{} }

// update takes one packet's sequence number (already accepted by the jitter
// buffer's A.1 checks, so large jumps here are restarts).
func (r *rxStats) update(seq uint16) {
	if !r.valid {
		r.valid, r.baseSeq, r.maxSeq, r.cycles = true, uint32(seq), seq, 0
		r.received, r.expectedPrior, r.receivedPrior = 1, 0, 0
		return
	}
	delta := seq - r.maxSeq
	switch {
	case delta < maxDropout:
		if seq < r.maxSeq {
			r.cycles += 1 << 16 // wrapped
		}
		r.maxSeq = seq
	case delta <= 1<<16-maxMisorder:
		// A restart the jitter buffer confirmed: start over.
		r.valid = false
		r.update(seq)
		return
	}
	r.received++
}

func (r *rxStats) extMax() uint32   { return r.cycles + uint32(r.maxSeq) }
func (r *rxStats) expected() uint32 { return r.extMax() - r.baseSeq + 1 }

// lost is the cumulative number lost (A.3), clamped to the 24-bit signed field.
func (r *rxStats) lost() int32 {
	l := int64(r.expected()) - int64(r.received)
	return int32(min(max(l, -0x800000), 0x7fffff))
}

// fraction computes the fraction lost since the last call (A.3).
func (r *rxStats) fraction() uint8 {
	exp := r.expected()
	expInt := exp - r.expectedPrior
	r.expectedPrior = exp
	recInt := r.received - r.receivedPrior
	r.receivedPrior = r.received
	lostInt := int64(expInt) - int64(recInt)
	if expInt == 0 || lostInt <= 0 {
		return 0
	}
	return uint8((lostInt << 8) / int64(expInt))
}

// ntpTime converts t to the 64-bit NTP format of RFC 3550 section 4.
func ntpTime(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800 // seconds from 1900 to 1970
	secs := uint64(t.Unix() + ntpEpochOffset)
	frac := uint64(t.Nanosecond()) << 32 / uint64(time.Second)
	return secs<<32 | frac
}

// lastSR remembers the newest sender report for the LSR/DLSR fields of our
// reception report (RFC 3550 section 6.4.1).
type lastSR struct {
	ssrc    uint32
	middle  uint32 // middle 32 bits of its NTP timestamp
	arrival time.Time
}

// dlsr is the delay since that report in units of 1/65536 s.
func (l lastSR) dlsr(now time.Time) uint32 {
	if l.arrival.IsZero() {
		return 0
	}
	return uint32(now.Sub(l.arrival) * 65536 / time.Second)
}

// rtcpSummary is what we use of an inbound compound RTCP packet.
type rtcpSummary struct {
	sr    *rtcp.SenderReport
	bye   bool
	cname string
}

func summarizeRTCP(pkts []rtcp.Packet) rtcpSummary {
	var s rtcpSummary
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.SenderReport:
			s.sr = p
		case *rtcp.Goodbye:
			s.bye = true
		case *rtcp.SourceDescription:
			for _, c := range p.Chunks {
				for _, it := range c.Items {
					if it.Type == rtcp.SDESCNAME {
						s.cname = it.Text
					}
				}
			}
		}
	}
	return s
}
