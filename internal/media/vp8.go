package media

import (
	"errors"
	"fmt"

	"github.com/pion/rtp"
)

// VP8 errors; see h264.go for why they are not in errors.go.
var (
	// ErrVP8Malformed: a payload descriptor or keyframe header is truncated
	// or invalid.
	ErrVP8Malformed = errors.New("media: malformed VP8 payload")
	// ErrVP8Dimensions: a keyframe announces a size beyond the configured
	// limits. The frame is not delivered; the caller should refuse the stream.
	ErrVP8Dimensions = errors.New("media: VP8 frame size out of limits")
)

var (
	errVP8Malformed = fmt.Errorf("%w: %w", ErrFrameLoss, ErrVP8Malformed)
	errVP8Oversize  = fmt.Errorf("%w: %w", ErrFrameLoss, ErrFrameTooLarge)
	errVP8NoEnd     = fmt.Errorf("%w: frame start before previous frame's end", ErrFrameLoss)
	errVP8TSChange  = fmt.Errorf("%w: timestamp changed inside a frame", ErrFrameLoss)
)

// vp8KeyframeStart is the start code of a keyframe header (RFC 6386 section 9.1).
var vp8KeyframeStart = [3]byte{0x9d, 0x01, 0x2a}

// Defaults for VP8Limits; 4096x4096 covers 4K both ways.
const (
	DefaultVP8MaxWidth  = 4096
	DefaultVP8MaxHeight = 4096
)

// VP8Limits bounds what a VP8Depacketizer accepts. Zero fields take defaults.
type VP8Limits struct {
	MaxFrameSize int // bytes; DefaultMaxVideoFrame
	MaxWidth     int // pixels; DefaultVP8MaxWidth
	MaxHeight    int // pixels; DefaultVP8MaxHeight
}

// VP8Frame is one complete VP8 frame.
type VP8Frame struct {
	// Data is the VP8 frame without payload descriptors. It aliases the
	// depacketizer's buffer and is valid only inside the callback.
	Data      []byte
	Timestamp uint32
	PictureID int // -1 when the sender sends none
	Keyframe  bool
	// Width and Height come from the keyframe header; zero on interframes.
	Width, Height int
}

// vp8Descriptor is the parsed RTP payload descriptor (RFC 7741 section 4.2).
type vp8Descriptor struct {
	start     bool // S
	partition byte // PID
	pictureID int  // -1 when absent
	size      int  // descriptor length in bytes
}

// parseVP8Descriptor reads the payload descriptor of RFC 7741 section 4.2.
func parseVP8Descriptor(p []byte) (vp8Descriptor, bool) {
	d := vp8Descriptor{pictureID: -1}
	if len(p) < 1 {
		return d, false
	}
	d.start = p[0]&0x10 != 0
	d.partition = p[0] & 0x07
	i := 1
	if p[0]&0x80 != 0 { // X: extension control byte
		if len(p) < 2 {
			return d, false
		}
		ext := p[1]
		i = 2
		if ext&0x80 != 0 { // I: PictureID, M selects 15 bits
			if len(p) < i+1 {
				return d, false
			}
			if p[i]&0x80 != 0 {
				if len(p) < i+2 {
					return d, false
				}
				d.pictureID = int(p[i]&0x7f)<<8 | int(p[i+1])
				i += 2
			} else {
				d.pictureID = int(p[i])
				i++
			}
		}
		if ext&0x40 != 0 { // L: TL0PICIDX
			i++
		}
		if ext&0x30 != 0 { // T or K: TID/Y/KEYIDX share one byte
			i++
		}
	}
	if i > len(p) {
		return d, false
	}
	d.size = i
	return d, true
}

// VP8Depacketizer assembles RTP payloads (RFC 7741) into VP8 frames. A
// frame starts only at S=1 with partition index 0 (section 4.2): senders
// such as baresip set S=1 at the start of every partition, and those
// packets continue the frame. Input must be in sequence order. It is not
// safe for concurrent use. Once its buffer has grown, Push does not allocate.
type VP8Depacketizer struct {
	onFrame func(VP8Frame)
	lim     VP8Limits
	buf     []byte

	phase     videoPhase
	ts        uint32
	pictureID int
	lastSeq   uint16
	haveSeq   bool
}

// NewVP8Depacketizer returns a depacketizer that calls onFrame for every
// complete, intact frame within lim.
func NewVP8Depacketizer(onFrame func(VP8Frame), lim VP8Limits) *VP8Depacketizer {
	if lim.MaxFrameSize <= 0 {
		lim.MaxFrameSize = DefaultMaxVideoFrame
	}
	if lim.MaxWidth <= 0 {
		lim.MaxWidth = DefaultVP8MaxWidth
	}
	if lim.MaxHeight <= 0 {
		lim.MaxHeight = DefaultVP8MaxHeight
	}
	return &VP8Depacketizer{onFrame: onFrame, lim: lim, buf: make([]byte, 0, min(lim.MaxFrameSize, 64<<10))}
}

// Push consumes one RTP packet. An error wrapping ErrFrameLoss means a
// frame was discarded (or frames were lost) and the caller should request a
// keyframe; ErrVP8Dimensions means a keyframe's size is out of limits.
func (d *VP8Depacketizer) Push(pkt *rtp.Packet) error {
	var err error
	if d.haveSeq {
		switch pkt.SequenceNumber - d.lastSeq {
		case 0:
			return nil // duplicate
		case 1:
		default:
			// Lost packets may be this frame's, whole frames or the next
			// frame's head; report once, resume at the next frame start.
			if d.phase != phaseDropping {
				err = errSeqGap
			}
			d.drop()
		}
	}
	d.haveSeq = true
	d.lastSeq = pkt.SequenceNumber
	if len(pkt.Payload) == 0 {
		return err // padding-only packet
	}

	desc, ok := parseVP8Descriptor(pkt.Payload)
	if !ok || desc.size == len(pkt.Payload) {
		// Unless already dropping, this may have been part or the start
		// of a frame, which is now lost.
		if d.phase != phaseDropping && err == nil {
			err = errVP8Malformed
		}
		d.drop()
		return err
	}
	payload := pkt.Payload[desc.size:]

	if desc.start && desc.partition == 0 {
		if d.phase == phaseAssembling {
			if pkt.Timestamp != d.ts {
				d.finish() // marker lost by the sender, not by the network
			} else if err == nil {
				err = errVP8NoEnd
			}
		}
		d.buf = d.buf[:0]
		d.ts = pkt.Timestamp
		d.pictureID = desc.pictureID
		d.phase = phaseAssembling
	} else {
		if d.phase != phaseAssembling {
			d.phase = phaseDropping // mid-frame join, or the rest of a broken frame
			return err
		}
		if pkt.Timestamp != d.ts {
			d.drop()
			if err == nil {
				err = errVP8TSChange
			}
			return err
		}
	}

	if len(d.buf)+len(payload) > d.lim.MaxFrameSize {
		d.drop()
		if err == nil {
			err = errVP8Oversize
		}
		return err
	}
	d.buf = append(d.buf, payload...)
	if pkt.Marker { // RFC 7741 section 4.1: marker on the frame's last packet
		if ferr := d.finish(); err == nil {
			err = ferr
		}
	}
	return err
}

func (d *VP8Depacketizer) drop() {
	d.buf = d.buf[:0]
	d.phase = phaseDropping
}

// finish delivers the assembled frame after checking its header.
func (d *VP8Depacketizer) finish() error {
	d.phase = phaseIdle
	f := VP8Frame{Data: d.buf, Timestamp: d.ts, PictureID: d.pictureID}
	d.buf = d.buf[:0]
	w, h, key, err := parseVP8FrameHeader(f.Data)
	if err != nil {
		return err
	}
	if key && (w > d.lim.MaxWidth || h > d.lim.MaxHeight) {
		return fmt.Errorf("%w: %dx%d, limit %dx%d", ErrVP8Dimensions, w, h, d.lim.MaxWidth, d.lim.MaxHeight)
	}
	f.Keyframe, f.Width, f.Height = key, w, h
	if d.onFrame != nil {
		d.onFrame(f)
	}
	return nil
}

// parseVP8FrameHeader reads the frame tag and, for keyframes, the start
// code and the 14-bit width and height (RFC 6386 sections 9.1 and 19.1).
func parseVP8FrameHeader(b []byte) (w, h int, key bool, err error) {
	if len(b) < 3 {
		return 0, 0, false, errVP8Malformed
	}
	if b[0]&0x01 != 0 { // P=1: interframe
		return 0, 0, false, nil
	}
	if len(b) < 10 || [3]byte(b[3:6]) != vp8KeyframeStart {
		return 0, 0, true, errVP8Malformed
	}
	w = int(b[6]) | int(b[7]&0x3f)<<8 // top two bits are the scale
	h = int(b[8]) | int(b[9]&0x3f)<<8
	if w == 0 || h == 0 {
		return w, h, true, errVP8Malformed
	}
	return w, h, true, nil
}

// vp8DescriptorSize: X, I, and a 15-bit PictureID.
const vp8DescriptorSize = 4

// VP8Packetizer splits VP8 frames into RTP payloads (RFC 7741) with a
// 15-bit PictureID that increments per frame. It reuses its buffers: the
// returned payloads are valid until the next Packetize.
type VP8Packetizer struct {
	mtu       int
	pictureID uint16
	buf       []byte
	out       [][]byte
}

// NewVP8Packetizer returns a packetizer whose payloads are at most mtu
// bytes, starting at PictureID first (taken modulo 2^15).
func NewVP8Packetizer(mtu int, first uint16) (*VP8Packetizer, error) {
	if mtu <= vp8DescriptorSize {
		return nil, fmt.Errorf("%w: %d", ErrMTU, mtu)
	}
	return &VP8Packetizer{mtu: mtu, pictureID: first & 0x7fff}, nil
}

// PictureID returns the PictureID the next frame will carry.
func (p *VP8Packetizer) PictureID() uint16 { return p.pictureID }

// Packetize returns the payloads of one frame, in order; S=1 and PID=0 on
// the first only. The caller sets the marker on the last and gives all of
// them the frame's timestamp.
func (p *VP8Packetizer) Packetize(frame []byte) ([][]byte, error) {
	if len(frame) == 0 {
		return nil, fmt.Errorf("%w: empty frame", ErrVP8Malformed)
	}
	chunk := p.mtu - vp8DescriptorSize
	n := (len(frame) + chunk - 1) / chunk
	p.buf = p.buf[:0]
	p.out = p.out[:0]
	pid := p.pictureID
	for i := range n {
		b0 := byte(0x80) // X
		if i == 0 {
			b0 |= 0x10 // S, partition 0
		}
		p.buf = append(p.buf, b0, 0x80, 0x80|byte(pid>>8), byte(pid))
		p.buf = append(p.buf, frame[i*chunk:min((i+1)*chunk, len(frame))]...)
	}
	off := 0
	for i := range n {
		size := vp8DescriptorSize + min(chunk, len(frame)-i*chunk)
		p.out = append(p.out, p.buf[off:off+size:off+size])
		off += size
	}
	p.pictureID = (pid + 1) & 0x7fff
	return p.out, nil
}
