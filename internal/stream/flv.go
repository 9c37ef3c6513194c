package stream

import (
	"encoding/binary"
	"fmt"
)

// FLV tag types and codec ids (Adobe FLV specification v10.1, annex E.4).
const (
	tagAudio  byte = 8
	tagVideo  byte = 9
	tagScript byte = 18

	codecAVC = 7
	codecAAC = 10

	avcSequenceHeader byte = 0
	avcNALU           byte = 1
	aacSequenceHeader byte = 0
	aacRaw            byte = 1

	// aacTagFlags is SoundFormat 10 (AAC), SoundRate 3, SoundSize 1 and
	// SoundType 1: FLV requires these constant values for AAC whatever the
	// real rate and channels are (E.4.2.1); the AudioSpecificConfig tells.
	aacTagFlags byte = codecAAC<<4 | 3<<2 | 1<<1 | 1
)

// H.264 NAL unit types (ITU-T H.264 table 7-1).
const (
	nalIDR = 5
	nalSPS = 7
	nalPPS = 8
	nalAUD = 9
)

// splitAnnexB calls fn for every NAL unit of an Annex B access unit
// (ITU-T H.264 annex B), without start codes.
func splitAnnexB(au []byte, fn func(nal []byte)) {
	start := -1
	for i := 0; i+2 < len(au); {
		if au[i] == 0 && au[i+1] == 0 && au[i+2] == 1 {
			if start >= 0 {
				end := i
				for end > start && au[end-1] == 0 {
					end--
				}
				if end > start {
					fn(au[start:end])
				}
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(au) {
		fn(au[start:])
	}
}

// appendAVCC appends the NAL units of an Annex B access unit to dst in the
// length-prefixed form FLV carries (ISO/IEC 14496-15 section 5.3.4.2, four
// byte lengths), leaving out access unit delimiters. It returns the SPS
// and PPS if the unit has them (views into au).
func appendAVCC(dst, au []byte) (out, sps, pps []byte) {
	splitAnnexB(au, func(nal []byte) {
		switch nal[0] & 0x1f {
		case nalAUD:
			return
		case nalSPS:
			sps = nal
		case nalPPS:
			pps = nal
		}
		dst = binary.BigEndian.AppendUint32(dst, uint32(len(nal)))
		dst = append(dst, nal...)
	})
	return dst, sps, pps
}

// bitReader reads an RBSP (emulation prevention bytes already removed).
type bitReader struct {
	b   []byte
	pos int
}

func (r *bitReader) bit() (uint, bool) {
	if r.pos >= 8*len(r.b) {
		return 0, false
	}
	v := uint(r.b[r.pos/8]>>(7-r.pos%8)) & 1
	r.pos++
	return v, true
}

// ue reads an Exp-Golomb code (ITU-T H.264 section 9.1).
func (r *bitReader) ue() (uint, bool) {
	zeros := 0
	for {
		b, ok := r.bit()
		if !ok || zeros > 31 {
			return 0, false
		}
		if b == 1 {
			break
		}
		zeros++
	}
	v := uint(1)<<zeros - 1
	for i := zeros - 1; i >= 0; i-- {
		b, ok := r.bit()
		if !ok {
			return 0, false
		}
		v += b << i
	}
	return v, true
}

// spsChroma reads chroma_format_idc and the bit depths from an SPS of a
// High profile (ITU-T H.264 section 7.3.2.1.1).
func spsChroma(sps []byte) (chroma, lumaMinus8, chromaMinus8 uint, ok bool) {
	rbsp := make([]byte, 0, min(len(sps), 32))
	for i := 4; i < len(sps) && len(rbsp) < 32; i++ {
		// Drop emulation_prevention_three_byte (section 7.4.1).
		if i >= 6 && sps[i] == 3 && sps[i-1] == 0 && sps[i-2] == 0 {
			continue
		}
		rbsp = append(rbsp, sps[i])
	}
	r := &bitReader{b: rbsp}
	if _, ok = r.ue(); !ok { // seq_parameter_set_id
		return
	}
	if chroma, ok = r.ue(); !ok {
		return
	}
	if chroma == 3 {
		if _, ok = r.bit(); !ok { // separate_colour_plane_flag
			return
		}
	}
	if lumaMinus8, ok = r.ue(); !ok {
		return
	}
	chromaMinus8, ok = r.ue()
	return
}

// avcConfigRecord builds the AVCDecoderConfigurationRecord (ISO/IEC
// 14496-15 section 5.3.3.1) from one SPS and one PPS: the body of FLV's
// AVC sequence header. NAL lengths are four bytes.
func avcConfigRecord(sps, pps []byte) ([]byte, error) {
	if len(sps) < 4 || len(pps) < 1 || len(sps) > 0xffff || len(pps) > 0xffff {
		return nil, fmt.Errorf("%w: sps of %d bytes, pps of %d", ErrBadAU, len(sps), len(pps))
	}
	rec := make([]byte, 0, 16+len(sps)+len(pps))
	rec = append(rec, 1, sps[1], sps[2], sps[3], 0xfc|3, 0xe0|1)
	rec = binary.BigEndian.AppendUint16(rec, uint16(len(sps)))
	rec = append(rec, sps...)
	rec = append(rec, 1)
	rec = binary.BigEndian.AppendUint16(rec, uint16(len(pps)))
	rec = append(rec, pps...)
	switch sps[1] {
	case 100, 110, 122, 144:
		// The High profiles add chroma format and bit depths.
		c, l, cc, ok := spsChroma(sps)
		if !ok {
			return nil, fmt.Errorf("%w: unreadable sps", ErrBadAU)
		}
		rec = append(rec, 0xfc|byte(c&3), 0xf8|byte(l&7), 0xf8|byte(cc&7), 0)
	}
	return rec, nil
}

// appendVideoTag appends an FLV video tag body (E.4.3.1): frame type,
// codec AVC, packet type, composition time 0 (no B-frames), payload.
func appendVideoTag(dst []byte, key bool, packetType byte, payload []byte) []byte {
	ft := byte(2) // inter frame
	if key {
		ft = 1
	}
	dst = append(dst, ft<<4|codecAVC, packetType, 0, 0, 0)
	return append(dst, payload...)
}

// appendAudioTag appends an FLV AAC audio tag body (E.4.2.1).
func appendAudioTag(dst []byte, packetType byte, payload []byte) []byte {
	dst = append(dst, aacTagFlags, packetType)
	return append(dst, payload...)
}

// flvHeader is the FLV file header (E.2) for audio and video, followed by
// PreviousTagSize0.
var flvHeader = []byte{'F', 'L', 'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0}

// appendFLVTag appends a whole FLV tag (E.4.1) and its PreviousTagSize, as
// a file or an FLV-over-byte-stream transport carries it.
func appendFLVTag(dst []byte, typ byte, ms uint32, body []byte) []byte {
	n := len(body)
	dst = append(dst, typ, byte(n>>16), byte(n>>8), byte(n),
		byte(ms>>16), byte(ms>>8), byte(ms), byte(ms>>24), 0, 0, 0)
	dst = append(dst, body...)
	return binary.BigEndian.AppendUint32(dst, uint32(11+n))
}
