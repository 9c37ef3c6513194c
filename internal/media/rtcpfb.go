package media

import (
	"encoding/binary"
	"errors"
	"math"
	"math/bits"

	"github.com/pion/rtcp"
)

// errRTCPMalformed: a compound RTCP packet whose headers or lengths do not
// add up. Sub-packets we do not use are skipped, not rejected.
var errRTCPMalformed = errors.New("media: malformed RTCP packet")

// RTCP packet types and feedback formats the video session reads (RFC 3550
// section 12.1, RFC 4585 section 6.1, RFC 5104 section 4.2 and 4.3).
const (
	rtcpTypeSR    = 200
	rtcpTypeBYE   = 203
	rtcpTypeRTPFB = 205
	rtcpTypePSFB  = 206

	fmtNACK  = 1  // RTPFB: generic NACK, RFC 4585 section 6.2.1
	fmtTMMBR = 3  // RTPFB: RFC 5104 section 4.2.1
	fmtTMMBN = 4  // RTPFB: RFC 5104 section 4.2.2
	fmtPLI   = 1  // PSFB: RFC 4585 section 6.3.1
	fmtFIR   = 4  // PSFB: RFC 5104 section 4.3.1
	fmtAFB   = 15 // PSFB: application layer feedback, carries REMB
)

// Bounds of what one parse keeps, so parsing never allocates and a hostile
// packet cannot make us do unbounded work downstream.
const (
	maxFeedbackNACKs = 512 // sequence numbers; the send history holds 512
	maxFeedbackFIRs  = 8
	maxFeedbackTMMB  = 8
)

// firRequest is one FIR FCI entry addressed to us: who asks, and its
// command sequence number (RFC 5104 section 4.3.1.1).
type firRequest struct {
	sender uint32
	seq    uint8
}

// tmmbEntry is one TMMBR or TMMBN FCI entry (RFC 5104 section 4.2.1.1):
// the SSRC field, the bitrate as exponent and 17-bit mantissa, and the
// measured overhead in bytes per packet.
type tmmbEntry struct {
	ssrc     uint32
	exp      uint8
	mantissa uint32
	overhead uint16
}

// bitrate is mantissa * 2^exp bits per second, saturated at MaxInt.
func (e tmmbEntry) bitrate() int { return shiftSat(uint64(e.mantissa), uint(e.exp)) }

// shiftSat returns m << exp, or math.MaxInt when that overflows an int.
func shiftSat(m uint64, exp uint) int {
	if m == 0 {
		return 0
	}
	if exp >= 64 || bits.Len64(m)+int(exp) > 63 {
		return math.MaxInt
	}
	return int(m << exp)
}

// rtcpFeedback is what one inbound compound RTCP packet tells the video
// session. Each goroutine that reads RTCP owns one and reuses it.
type rtcpFeedback struct {
	sr     bool
	srSSRC uint32
	srNTP  uint64
	bye    bool

	pli   int // PLI packets (any media SSRC: the session sends one stream)
	firs  [maxFeedbackFIRs]firRequest
	nFIR  int
	nacks [maxFeedbackNACKs]uint16 // seqs the peer misses in our stream
	nNACK int
	nackP int // NACK packets addressed to us
	remb  int // bits per second; -1 when none
	tmmbr [maxFeedbackTMMB]tmmbEntry
	nTMMB int
	// tmmbrSender is the SSRC of the TMMBR packet's sender per entry: it
	// owns the tuple in the TMMBN we answer with.
	tmmbrSender [maxFeedbackTMMB]uint32
	tmmbn       [maxFeedbackTMMB]tmmbEntry
	nTMMBN      int
	skipped     int // sub-packets of known types too short to use
}

func (f *rtcpFeedback) reset() {
	f.sr, f.srSSRC, f.srNTP, f.bye = false, 0, 0, false
	f.pli, f.nFIR, f.nNACK, f.nackP, f.remb, f.nTMMB, f.nTMMBN, f.skipped = 0, 0, 0, 0, -1, 0, 0, 0
}

// parseRTCPFeedback walks a compound RTCP packet (RFC 3550 section 6.1)
// and collects what the video session acts on. ours is our sending SSRC:
// NACK, FIR and TMMBR name the media source they are about, and requests
// for another source are ignored. It never allocates; it returns
// errRTCPMalformed when the packet's structure is broken, in which case f
// must not be used.
func parseRTCPFeedback(b []byte, ours uint32, f *rtcpFeedback) error {
	f.reset()
	if len(b) < 4 {
		return errRTCPMalformed
	}
	for len(b) > 0 {
		if len(b) < 4 || b[0]>>6 != 2 {
			return errRTCPMalformed
		}
		n := (int(binary.BigEndian.Uint16(b[2:4])) + 1) * 4
		if n > len(b) {
			return errRTCPMalformed
		}
		count, pt := b[0]&0x1f, b[1]
		body := b[4:n]
		if b[0]&0x20 != 0 {
			// RFC 3550 section 6.4.1: the last octet counts the padding,
			// itself included.
			if len(body) == 0 {
				return errRTCPMalformed
			}
			pad := int(body[len(body)-1])
			if pad == 0 || pad > len(body) {
				return errRTCPMalformed
			}
			body = body[:len(body)-pad]
		}
		b = b[n:]
		switch pt {
		case rtcpTypeSR:
			if len(body) < 24 {
				f.skipped++
				continue
			}
			f.sr = true
			f.srSSRC = binary.BigEndian.Uint32(body)
			f.srNTP = binary.BigEndian.Uint64(body[4:])
		case rtcpTypeBYE:
			f.bye = true
		case rtcpTypeRTPFB:
			if len(body) < 8 {
				f.skipped++
				continue
			}
			f.parseRTPFB(count, binary.BigEndian.Uint32(body), binary.BigEndian.Uint32(body[4:]), body[8:], ours)
		case rtcpTypePSFB:
			if len(body) < 8 {
				f.skipped++
				continue
			}
			f.parsePSFB(count, binary.BigEndian.Uint32(body), body[8:], ours)
		}
	}
	return nil
}

func (f *rtcpFeedback) parseRTPFB(format uint8, sender, media uint32, fci []byte, ours uint32) {
	switch format {
	case fmtNACK:
		// RFC 4585 section 6.2.1: PID and a bitmask of the 16 following.
		if media != ours {
			return
		}
		f.nackP++
		for ; len(fci) >= 4; fci = fci[4:] {
			pid := binary.BigEndian.Uint16(fci)
			blp := binary.BigEndian.Uint16(fci[2:])
			f.addNACK(pid)
			for i := range uint16(16) {
				if blp&(1<<i) != 0 {
					f.addNACK(pid + i + 1)
				}
			}
		}
	case fmtTMMBR, fmtTMMBN:
		// RFC 5104 section 4.2.1.2: the media source field is unused; each
		// FCI entry names the media sender it bounds.
		for ; len(fci) >= 8; fci = fci[8:] {
			w := binary.BigEndian.Uint32(fci[4:])
			e := tmmbEntry{ssrc: binary.BigEndian.Uint32(fci), exp: uint8(w >> 26),
				mantissa: w >> 9 & 0x1ffff, overhead: uint16(w & 0x1ff)}
			if format == fmtTMMBN {
				if f.nTMMBN < maxFeedbackTMMB {
					f.tmmbn[f.nTMMBN] = e
					f.nTMMBN++
				}
				continue
			}
			if e.ssrc == ours && f.nTMMB < maxFeedbackTMMB {
				f.tmmbr[f.nTMMB], f.tmmbrSender[f.nTMMB] = e, sender
				f.nTMMB++
			}
		}
	}
}

func (f *rtcpFeedback) addNACK(seq uint16) {
	if f.nNACK < maxFeedbackNACKs {
		f.nacks[f.nNACK] = seq
		f.nNACK++
	}
}

func (f *rtcpFeedback) parsePSFB(format uint8, sender uint32, fci []byte, ours uint32) {
	switch format {
	case fmtPLI:
		f.pli++
	case fmtFIR:
		// RFC 5104 section 4.3.1.1: SSRC, sequence number, 3 reserved bytes.
		for ; len(fci) >= 8; fci = fci[8:] {
			if binary.BigEndian.Uint32(fci) == ours && f.nFIR < maxFeedbackFIRs {
				f.firs[f.nFIR] = firRequest{sender: sender, seq: fci[4]}
				f.nFIR++
			}
		}
	case fmtAFB:
		// draft-alvestrand-rmcat-remb section 2.2: "REMB", the number of
		// SSRCs, a 6-bit exponent and an 18-bit mantissa, then the SSRCs.
		if len(fci) < 8 || string(fci[:4]) != "REMB" {
			return
		}
		num := int(fci[4])
		if len(fci) < 8+4*num {
			f.skipped++
			return
		}
		exp := uint(fci[5] >> 2)
		m := uint64(fci[5]&3)<<16 | uint64(fci[6])<<8 | uint64(fci[7])
		f.remb = shiftSat(m, exp)
	}
}

// tmmbn is a TMMBN packet (RFC 5104 section 4.2.2); pion/rtcp has no type
// for it. It marshals into a RawPacket so it joins a compound packet.
func tmmbn(sender uint32, entries []tmmbEntry) rtcp.Packet {
	b := make([]byte, 12+8*len(entries))
	b[0] = 2<<6 | fmtTMMBN
	b[1] = rtcpTypeRTPFB
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)/4-1))
	binary.BigEndian.PutUint32(b[4:], sender)
	// Media source: unused, 0 (RFC 5104 section 4.2.2.1).
	for i, e := range entries {
		o := 12 + 8*i
		binary.BigEndian.PutUint32(b[o:], e.ssrc)
		binary.BigEndian.PutUint32(b[o+4:], uint32(e.exp)<<26|(e.mantissa&0x1ffff)<<9|uint32(e.overhead&0x1ff))
	}
	raw := rtcp.RawPacket(b)
	return &raw
}

// tmmbr builds a TMMBR packet; the session never sends one, but tests and
// fuzz seeds do.
func tmmbr(sender uint32, entries []tmmbEntry) rtcp.Packet {
	p := tmmbn(sender, entries).(*rtcp.RawPacket)
	(*p)[0] = 2<<6 | fmtTMMBR
	return p
}
