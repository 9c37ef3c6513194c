package media

import (
	"encoding/binary"
	"time"
)

// DTMFEvent is one key press.
type DTMFEvent struct {
	Digit rune // '0'-'9', '*', '#', 'A'-'D'
	// Duration is what the sender reported in the final RFC 4733 packet, or
	// the measured length of in-band tones (to within about 7 ms).
	Duration time.Duration
	Source   DTMFSource
}

// DTMFSource says how a key press reached us.
type DTMFSource uint8

// DTMF sources. The zero value is unknown.
const (
	DTMFRFC4733 DTMFSource = iota + 1 // RTP telephone-event packets (RFC 4733)
	DTMFInband                        // tones in the decoded audio
	DTMFInfo                          // a SIP INFO body (filled in by signaling)
)

func (s DTMFSource) String() string {
	switch s {
	case DTMFRFC4733:
		return "rfc4733"
	case DTMFInband:
		return "inband"
	case DTMFInfo:
		return "info"
	}
	return "unknown"
}

// TelephoneEvent is the payload of one RFC 4733 section 2.3 event packet.
type TelephoneEvent struct {
	Event    uint8  // event code; 0-15 are the DTMF digits (section 3.2)
	End      bool   // E bit: the last packet(s) of the event
	Volume   uint8  // power level in -dBm0, 0-63
	Duration uint16 // in RTP timestamp units since the event's timestamp
}

// dtmfDigits maps RFC 4733 section 3.2 event codes 0-15 to their keys.
const dtmfDigits = "0123456789*#ABCD"

// ParseTelephoneEvent parses the first 4 bytes of an RFC 4733 payload.
// Extra bytes (RFC 2198 redundancy is negotiated separately) are ignored.
func ParseTelephoneEvent(b []byte) (TelephoneEvent, error) {
	if len(b) < 4 {
		return TelephoneEvent{}, ErrShortEvent
	}
	return TelephoneEvent{
		Event:    b[0],
		End:      b[1]&0x80 != 0,
		Volume:   b[1] & 0x3f,
		Duration: binary.BigEndian.Uint16(b[2:4]),
	}, nil
}

// Digit returns the DTMF key of the event, false for non-DTMF events
// (flash, tones; RFC 4733 section 3.2 and RFC 4734).
func (e TelephoneEvent) Digit() (rune, bool) {
	if int(e.Event) >= len(dtmfDigits) {
		return 0, false
	}
	return rune(dtmfDigits[e.Event]), true
}

// dtmfTracker turns the packet stream of RFC 4733 events into one report per
// key press. All packets of one event share its RTP timestamp (section 2.5.1.2)
// and the end packet is sent three times (section 2.5.1.4), so the timestamp
// identifies the event for de-duplication. If every end packet is lost the
// event is still reported, when the next event starts.
type dtmfTracker struct {
	clockRate uint32
	active    bool   // an event is in progress or has been reported
	ts        uint32 // its RTP timestamp
	reported  bool
	digit     rune
	duration  uint16
}

// push takes one event packet and returns the events to report (at most two:
// a previous one whose end was lost, and this one).
func (d *dtmfTracker) push(ts uint32, ev TelephoneEvent, out *[2]DTMFEvent) int {
	n := 0
	if d.active && ts != d.ts {
		if !d.reported && d.digit != 0 {
			out[n] = d.event()
			n++
		}
		d.active = false
	}
	if !d.active {
		d.active, d.ts, d.reported, d.digit, d.duration = true, ts, false, 0, 0
	}
	if d.reported {
		return n // retransmitted end packet
	}
	digit, ok := ev.Digit()
	if !ok {
		d.reported = true // not a key: never report it
		return n
	}
	d.digit = digit
	if ev.Duration > d.duration {
		d.duration = ev.Duration
	}
	if ev.End {
		d.reported = true
		out[n] = d.event()
		n++
	}
	return n
}

func (d *dtmfTracker) event() DTMFEvent {
	rate := d.clockRate
	if rate == 0 {
		rate = 8000
	}
	return DTMFEvent{Digit: d.digit, Duration: time.Duration(d.duration) * time.Second / time.Duration(rate), Source: DTMFRFC4733}
}

// reset forgets the current event (new SSRC or re-INVITE).
func (d *dtmfTracker) reset() { d.active = false }
