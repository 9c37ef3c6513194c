package media

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/pion/rtp"
)

// DefaultMaxVideoFrame bounds an assembled video frame. A 4 MiB access unit
// is far beyond any sane 1080p keyframe; anything larger is an attack or a
// broken sender, and growing the buffer for it would pin the memory forever.
const DefaultMaxVideoFrame = 4 << 20

// Video payload errors. They live here, next to the video depacketizers, so
// that this file set stays self-contained; errors.go holds the older ones.
var (
	// ErrFrameLoss: the frame being assembled is broken (a packet was lost or
	// unusable). The caller drops it and asks the sender for a keyframe.
	ErrFrameLoss = errors.New("media: video frame lost")
	// ErrFrameTooLarge: the assembled frame would exceed the size limit.
	ErrFrameTooLarge = errors.New("media: video frame too large")
	// ErrH264Unsupported: STAP-B, MTAP16/24, FU-B or a reserved NAL type;
	// those belong to packetization-mode 2, which vmrd does not negotiate.
	ErrH264Unsupported = errors.New("media: unsupported H.264 payload type")
	// ErrH264Malformed: a STAP-A or FU-A payload is truncated or inconsistent.
	ErrH264Malformed = errors.New("media: malformed H.264 payload")
	// ErrNALTooLarge: in packetization-mode 0 a NAL unit exceeds the MTU.
	ErrNALTooLarge = errors.New("media: H.264 NAL unit larger than MTU")
	// ErrNoNAL: the access unit handed to the packetizer holds no start code.
	ErrNoNAL = errors.New("media: access unit holds no NAL unit")
	// ErrMTU: the packetizer's MTU cannot carry any payload.
	ErrMTU = errors.New("media: MTU too small")
)

// Pre-wrapped errors so the per-packet error path does not allocate.
var (
	errSeqGap         = fmt.Errorf("%w: sequence gap", ErrFrameLoss)
	errFUNoStart      = fmt.Errorf("%w: FU-A fragment without start", ErrFrameLoss)
	errFUNoEnd        = fmt.Errorf("%w: FU-A without end fragment", ErrFrameLoss)
	errH264Oversize   = fmt.Errorf("%w: %w", ErrFrameLoss, ErrFrameTooLarge)
	errH264Unsupp     = fmt.Errorf("%w: %w", ErrFrameLoss, ErrH264Unsupported)
	errH264Malformed  = fmt.Errorf("%w: %w", ErrFrameLoss, ErrH264Malformed)
	errH264STAPLength = fmt.Errorf("%w: %w: STAP-A NAL size overruns packet", ErrFrameLoss, ErrH264Malformed)
)

// H.264 NAL unit types used by RFC 6184 and the decoder (ITU-T H.264 table 7-1).
const (
	h264NALIDR   = 5
	h264NALSPS   = 7
	h264NALPPS   = 8
	h264NALSTAPA = 24
	h264NALSTAPB = 25
	h264NALMTP16 = 26
	h264NALMTP24 = 27
	h264NALFUA   = 28
	h264NALFUB   = 29
)

var annexBStart = []byte{0, 0, 0, 1}

// H264Frame is one access unit in Annex B byte-stream form.
type H264Frame struct {
	// Data holds the NAL units, each after a 00 00 00 01 start code. It
	// aliases the depacketizer's buffer and is valid only inside the callback.
	Data      []byte
	Timestamp uint32
	NALs      int
	IDR       bool // holds a coded slice of an IDR picture (type 5)
	SPS       bool // holds a sequence parameter set (type 7)
	PPS       bool // holds a picture parameter set (type 8)
}

type videoPhase uint8

const (
	phaseIdle       videoPhase = iota // the next packet starts a frame
	phaseAssembling                   // packets of an intact frame so far
	phaseDropping                     // the frame is broken; skip to its end
)

// H264Depacketizer assembles RTP payloads (RFC 6184, packetization-modes 0
// and 1) into access units. Input must be in sequence order (the jitter
// buffer reorders); any sequence gap breaks the frame. It is not safe for
// concurrent use. Once its buffer has grown, Push does not allocate.
type H264Depacketizer struct {
	onFrame func(H264Frame)
	max     int
	buf     []byte

	phase   videoPhase
	ts      uint32
	lastSeq uint16
	haveSeq bool
	inFU    bool // an FU-A start was seen and its end not yet
	nals    int
	idr     bool
	sps     bool
	pps     bool
}

// NewH264Depacketizer returns a depacketizer that calls onFrame for every
// complete, intact access unit. maxFrame <= 0 means DefaultMaxVideoFrame.
func NewH264Depacketizer(onFrame func(H264Frame), maxFrame int) *H264Depacketizer {
	if maxFrame <= 0 {
		maxFrame = DefaultMaxVideoFrame
	}
	return &H264Depacketizer{onFrame: onFrame, max: maxFrame, buf: make([]byte, 0, min(maxFrame, 64<<10))}
}

// Push consumes one RTP packet. An error wrapping ErrFrameLoss means the
// frame in progress was discarded; it is returned once per broken frame, and
// the following packets of that frame are skipped silently.
//
// A frame ends at the marker bit (RFC 6184 section 5.1) or, for senders that
// omit the marker, when the timestamp changes without a sequence gap.
func (d *H264Depacketizer) Push(pkt *rtp.Packet) error {
	if d.haveSeq {
		switch pkt.SequenceNumber - d.lastSeq {
		case 0:
			return nil // duplicate
		case 1:
		default:
			d.lastSeq = pkt.SequenceNumber
			return d.gap(pkt)
		}
	}
	d.haveSeq = true
	d.lastSeq = pkt.SequenceNumber

	var err error
	if d.phase != phaseIdle && pkt.Timestamp != d.ts {
		// The previous frame ended without a marker and nothing was lost.
		if d.phase == phaseAssembling {
			if d.inFU {
				err = errFUNoEnd
			} else {
				d.emit()
			}
		}
		d.phase = phaseIdle
	}
	if d.phase == phaseDropping {
		if pkt.Marker {
			d.phase = phaseIdle
		}
		return err
	}
	if len(pkt.Payload) == 0 {
		return err // keep-alive or padding-only packet
	}
	if d.phase == phaseIdle {
		d.start(pkt.Timestamp)
	}
	if perr := d.appendPayload(pkt.Payload); perr != nil {
		d.drop(pkt.Marker)
		if err == nil {
			err = perr
		}
		return err
	}
	if pkt.Marker {
		if d.inFU {
			d.drop(true)
			if err == nil {
				err = errFUNoEnd
			}
			return err
		}
		d.emit()
		d.phase = phaseIdle
	}
	return err
}

// gap handles a sequence discontinuity: the packets lost may belong to the
// frame in progress, to whole frames, or to the head of this packet's frame,
// so this packet's frame is unusable too.
func (d *H264Depacketizer) gap(pkt *rtp.Packet) error {
	reported := d.phase == phaseDropping && pkt.Timestamp == d.ts
	d.ts = pkt.Timestamp
	d.drop(pkt.Marker)
	if reported {
		return nil
	}
	return errSeqGap
}

func (d *H264Depacketizer) start(ts uint32) {
	d.buf = d.buf[:0]
	d.ts = ts
	d.phase = phaseAssembling
	d.inFU = false
	d.nals = 0
	d.idr, d.sps, d.pps = false, false, false
}

// drop discards the frame in progress; last says this packet ends it.
func (d *H264Depacketizer) drop(last bool) {
	d.buf = d.buf[:0]
	d.inFU = false
	if last {
		d.phase = phaseIdle
	} else {
		d.phase = phaseDropping
	}
}

func (d *H264Depacketizer) emit() {
	if d.nals > 0 && d.onFrame != nil {
		d.onFrame(H264Frame{Data: d.buf, Timestamp: d.ts, NALs: d.nals, IDR: d.idr, SPS: d.sps, PPS: d.pps})
	}
	d.buf = d.buf[:0]
	d.nals = 0
}

func (d *H264Depacketizer) noteType(t byte) {
	switch t {
	case h264NALIDR:
		d.idr = true
	case h264NALSPS:
		d.sps = true
	case h264NALPPS:
		d.pps = true
	}
}

// appendNAL writes a start code and the given NAL unit pieces.
func (d *H264Depacketizer) appendNAL(hdr byte, body []byte) error {
	if len(d.buf)+len(annexBStart)+1+len(body) > d.max {
		return errH264Oversize
	}
	d.buf = append(d.buf, annexBStart...)
	d.buf = append(d.buf, hdr)
	d.buf = append(d.buf, body...)
	d.nals++
	d.noteType(hdr & 0x1f)
	return nil
}

func (d *H264Depacketizer) appendPayload(p []byte) error {
	typ := p[0] & 0x1f
	if d.inFU && typ != h264NALFUA {
		return errFUNoEnd
	}
	switch {
	case typ >= 1 && typ <= 23: // single NAL unit packet, RFC 6184 section 5.6
		return d.appendNAL(p[0], p[1:])
	case typ == h264NALSTAPA: // RFC 6184 section 5.7.1
		return d.appendSTAPA(p[1:])
	case typ == h264NALFUA: // RFC 6184 section 5.8
		return d.appendFUA(p)
	default: // 0, 30, 31 reserved; STAP-B, MTAP, FU-B need mode 2
		return errH264Unsupp
	}
}

func (d *H264Depacketizer) appendSTAPA(p []byte) error {
	if len(p) == 0 {
		return errH264Malformed
	}
	for len(p) > 0 {
		if len(p) < 2 {
			return errH264STAPLength
		}
		n := int(p[0])<<8 | int(p[1])
		p = p[2:]
		if n == 0 || n > len(p) {
			return errH264STAPLength
		}
		if t := p[0] & 0x1f; t == 0 || t >= h264NALSTAPA {
			return errH264Unsupp // aggregation units carry plain NAL units only
		}
		if err := d.appendNAL(p[0], p[1:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

func (d *H264Depacketizer) appendFUA(p []byte) error {
	if len(p) < 3 {
		return errH264Malformed
	}
	fuHdr := p[1]
	startBit, endBit := fuHdr&0x80 != 0, fuHdr&0x40 != 0
	data := p[2:]
	if startBit {
		if d.inFU {
			return errFUNoEnd
		}
		// The original NAL header is F|NRI of the indicator and the type of
		// the FU header (RFC 6184 section 5.8).
		if err := d.appendNAL(p[0]&0xe0|fuHdr&0x1f, data); err != nil {
			return err
		}
		d.inFU = !endBit
		return nil
	}
	if !d.inFU {
		return errFUNoStart
	}
	if len(d.buf)+len(data) > d.max {
		return errH264Oversize
	}
	d.buf = append(d.buf, data...)
	if endBit {
		d.inFU = false
	}
	return nil
}

// H264PacketizationMode is the SDP packetization-mode (RFC 6184 section 6.2).
type H264PacketizationMode uint8

const (
	// H264ModeSingleNAL (0): one NAL unit per packet, nothing else.
	H264ModeSingleNAL H264PacketizationMode = 0
	// H264ModeNonInterleaved (1): single NAL units, STAP-A and FU-A.
	H264ModeNonInterleaved H264PacketizationMode = 1
)

// String names the mode as SDP writes it.
func (m H264PacketizationMode) String() string {
	return fmt.Sprintf("packetization-mode=%d", uint8(m))
}

// H264Packetizer splits Annex B access units into RTP payloads. It reuses
// its buffers: the returned payloads are valid until the next Packetize.
type H264Packetizer struct {
	mtu       int
	mode      H264PacketizationMode
	aggregate bool
	buf       []byte
	ranges    []int // start/end offsets into buf, two per payload
	out       [][]byte
}

// NewH264Packetizer returns a packetizer whose payloads are at most mtu
// bytes. aggregateParams puts consecutive SPS/PPS into one STAP-A in mode 1.
func NewH264Packetizer(mtu int, mode H264PacketizationMode, aggregateParams bool) (*H264Packetizer, error) {
	if mtu < 3 { // FU-A needs two header bytes and one of data
		return nil, fmt.Errorf("%w: %d", ErrMTU, mtu)
	}
	if mode > H264ModeNonInterleaved {
		return nil, fmt.Errorf("%w: %v", ErrH264Unsupported, mode)
	}
	return &H264Packetizer{mtu: mtu, mode: mode, aggregate: aggregateParams && mode == H264ModeNonInterleaved}, nil
}

// nextNAL returns the NAL unit that follows the first start code in b and
// the rest of b after it. Trailing zero bytes belong to the next 4-byte start
// code (ITU-T H.264 Annex B.1), so they are trimmed.
func nextNAL(b []byte) (nal, rest []byte, ok bool) {
	i := bytes.Index(b, annexBStart[1:])
	if i < 0 {
		return nil, nil, false
	}
	b = b[i+3:]
	j := bytes.Index(b, annexBStart[1:])
	if j < 0 {
		nal, rest = b, nil
	} else {
		nal, rest = b[:j], b[j:]
	}
	for len(nal) > 0 && nal[len(nal)-1] == 0 {
		nal = nal[:len(nal)-1]
	}
	return nal, rest, true
}

func (p *H264Packetizer) mark(from int) {
	p.ranges = append(p.ranges, from, len(p.buf))
}

// Packetize returns the payloads for one access unit, in order. The caller
// sets the marker bit on the last one (RFC 6184 section 5.1) and gives all
// of them the access unit's timestamp.
func (p *H264Packetizer) Packetize(au []byte) ([][]byte, error) {
	p.buf = p.buf[:0]
	p.ranges = p.ranges[:0]
	rest := au
	for {
		nal, r, ok := nextNAL(rest)
		if !ok {
			break
		}
		rest = r
		if len(nal) == 0 {
			continue
		}
		if p.aggregate && isParamSet(nal) {
			// Collect the run of parameter sets that fits one STAP-A.
			size, n := 1+2+len(nal), 1
			look := rest
			for {
				next, r2, ok := nextNAL(look)
				if !ok || len(next) == 0 || !isParamSet(next) || size+2+len(next) > p.mtu {
					break
				}
				size += 2 + len(next)
				n++
				look = r2
			}
			if n > 1 && size <= p.mtu {
				p.stapA(nal, rest, n)
				for range n - 1 {
					_, rest, _ = nextNAL(rest)
				}
				continue
			}
		}
		if err := p.single(nal); err != nil {
			return nil, err
		}
	}
	if len(p.ranges) == 0 {
		return nil, ErrNoNAL
	}
	p.out = p.out[:0]
	for i := 0; i < len(p.ranges); i += 2 {
		p.out = append(p.out, p.buf[p.ranges[i]:p.ranges[i+1]:p.ranges[i+1]])
	}
	return p.out, nil
}

func isParamSet(nal []byte) bool {
	t := nal[0] & 0x1f
	return t == h264NALSPS || t == h264NALPPS
}

// stapA writes first and the n-1 NAL units that follow it in rest as one
// STAP-A (RFC 6184 section 5.7.1). F is the OR and NRI the maximum of theirs.
func (p *H264Packetizer) stapA(first, rest []byte, n int) {
	from := len(p.buf)
	p.buf = append(p.buf, 0)
	hdr := byte(0)
	nal := first
	for i := range n {
		if i > 0 {
			nal, rest, _ = nextNAL(rest)
		}
		hdr = hdr&0x80 | nal[0]&0x80 | max(hdr&0x60, nal[0]&0x60)
		p.buf = append(p.buf, byte(len(nal)>>8), byte(len(nal)))
		p.buf = append(p.buf, nal...)
	}
	p.buf[from] = hdr | h264NALSTAPA
	p.mark(from)
}

func (p *H264Packetizer) single(nal []byte) error {
	if len(nal) <= p.mtu {
		from := len(p.buf)
		p.buf = append(p.buf, nal...)
		p.mark(from)
		return nil
	}
	if p.mode == H264ModeSingleNAL {
		return fmt.Errorf("%w: %d bytes, MTU %d", ErrNALTooLarge, len(nal), p.mtu)
	}
	// FU-A, RFC 6184 section 5.8: the NAL header is split between the FU
	// indicator (F, NRI) and the FU header (type).
	ind := nal[0]&0xe0 | h264NALFUA
	typ := nal[0] & 0x1f
	data := nal[1:]
	chunk := p.mtu - 2
	for off := 0; off < len(data); off += chunk {
		end := min(off+chunk, len(data))
		fh := typ
		if off == 0 {
			fh |= 0x80
		}
		if end == len(data) {
			fh |= 0x40
		}
		from := len(p.buf)
		p.buf = append(p.buf, ind, fh)
		p.buf = append(p.buf, data[off:end]...)
		p.mark(from)
	}
	return nil
}
