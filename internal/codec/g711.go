package codec

import (
	"sync"
	"sync/atomic"
)

// G.711 (ITU-T G.711) in pure Go. Decoding is a 256-entry table lookup;
// encoding is a 64 Ki-entry table indexed by the 16-bit sample, built on
// first use so binaries that never encode G.711 do not pay for it.

const (
	g711Factor = MixRate / 8000
	// g711MaxBytes is the longest payload: one byte is one 8 kHz sample and
	// the result must fit MaxFrameSamples.
	g711MaxBytes  = MaxFrameSamples / g711Factor
	g711FrameSize = FrameSamples / g711Factor
)

var (
	ulawDecode = func() (t [256]int16) {
		for i := range t {
			t[i] = ulawToLinear(uint8(i))
		}
		return t
	}()
	alawDecode = func() (t [256]int16) {
		for i := range t {
			t[i] = alawToLinear(uint8(i))
		}
		return t
	}()

	ulawEncodeTable = sync.OnceValue(func() *[65536]uint8 {
		t := new([65536]uint8)
		for i := range t {
			t[i] = linearToUlaw(int16(uint16(i)))
		}
		return t
	})
	alawEncodeTable = sync.OnceValue(func() *[65536]uint8 {
		t := new([65536]uint8)
		for i := range t {
			t[i] = linearToAlaw(int16(uint16(i)))
		}
		return t
	})
)

// µ-law (G.711 table 2): 14-bit magnitude plus a bias of 33 (132 on the
// 16-bit scale) so that the segment is the position of the top bit; the code
// is sign, 3-bit segment, 4-bit mantissa, all inverted.
const (
	ulawBias = 0x84
	ulawClip = 32635
)

func linearToUlaw(s int16) uint8 {
	v := int32(s)
	var sign uint8
	if v < 0 {
		v = -v
		sign = 0x80
	}
	v = min(v, ulawClip) + ulawBias
	seg := uint8(0)
	for x := v >> 8; x != 0 && seg < 7; x >>= 1 {
		seg++
	}
	mant := uint8(v>>(seg+3)) & 0x0F
	return ^(sign | seg<<4 | mant)
}

func ulawToLinear(u uint8) int16 {
	u = ^u
	seg := (u >> 4) & 0x07
	t := (int32(u&0x0F)<<3 + ulawBias) << seg
	if u&0x80 != 0 {
		return int16(ulawBias - t)
	}
	return int16(t - ulawBias)
}

// A-law (G.711 table 1): 13-bit magnitude, segments 0 and 1 share a step
// size; even bits of the code are inverted (XOR 0x55), sign bit set for
// positive values.
func linearToAlaw(s int16) uint8 {
	v := int32(s) >> 3
	mask := uint8(0xD5)
	if v < 0 {
		mask = 0x55
		v = -v - 1
	}
	seg := uint8(0)
	for x := v >> 5; x != 0; x >>= 1 {
		seg++
	}
	if seg > 7 {
		return 0x7F ^ mask
	}
	var code uint8
	if seg < 2 {
		code = seg<<4 | uint8(v>>1)&0x0F
	} else {
		code = seg<<4 | uint8(v>>seg)&0x0F
	}
	return code ^ mask
}

func alawToLinear(a uint8) int16 {
	a ^= 0x55
	seg := (a >> 4) & 0x07
	t := int32(a&0x0F)<<4 + 8
	if seg >= 1 {
		t += 0x100
		t <<= seg - 1
	}
	if a&0x80 != 0 {
		return int16(t)
	}
	return int16(-t)
}

// pcmDecoder is the part shared by the decoders that produce native-rate PCM
// in Go memory: loss concealment and upsampling to MixRate.
type pcmDecoder struct {
	up     *upsampler
	plc    *concealer
	factor int
}

func newPCMDecoder(rate, maxNative int) pcmDecoder {
	return pcmDecoder{
		up:     newUpsampler(MixRate/rate, maxNative),
		plc:    newConcealer(rate),
		factor: MixRate / rate,
	}
}

// finish takes decoded native samples to MixRate.
func (p *pcmDecoder) finish(native, pcm []int16) int {
	p.plc.good(native)
	return p.up.process(native, pcm)
}

// conceal writes one frame of concealment at MixRate, using native as
// scratch for FrameSamples/factor samples.
func (p *pcmDecoder) conceal(native, pcm []int16) (int, error) {
	if len(pcm) < FrameSamples {
		return 0, ErrShortBuffer
	}
	native = native[:FrameSamples/p.factor]
	p.plc.conceal(native)
	return p.up.process(native, pcm), nil
}

// g711Decoder decodes PCMU or PCMA.
type g711Decoder struct {
	pcmDecoder
	table  *[256]int16
	native [g711MaxBytes]int16
	// closed is atomic so Close may race with Decode or Encode.
	closed atomic.Bool
}

var _ AudioDecoder = (*g711Decoder)(nil)

func newG711Decoder(table *[256]int16) *g711Decoder {
	return &g711Decoder{
		pcmDecoder: newPCMDecoder(8000, g711MaxBytes),
		table:      table,
	}
}

// Decode implements AudioDecoder. Any payload length up to 120 ms is valid:
// every byte is one sample.
func (d *g711Decoder) Decode(payload []byte, pcm []int16) (int, error) {
	switch {
	case d.closed.Load():
		return 0, ErrClosed
	case len(payload) == 0:
		return 0, ErrEmptyPayload
	case len(payload) > g711MaxBytes:
		return 0, ErrPayloadTooLong
	case len(pcm) < len(payload)*g711Factor:
		return 0, ErrShortBuffer
	}
	native := d.native[:len(payload)]
	for i, b := range payload {
		native[i] = d.table[b]
	}
	return d.finish(native, pcm), nil
}

// Conceal implements AudioDecoder.
func (d *g711Decoder) Conceal(pcm []int16) (int, error) {
	if d.closed.Load() {
		return 0, ErrClosed
	}
	return d.conceal(d.native[:], pcm)
}

// Close implements AudioDecoder.
func (d *g711Decoder) Close() error {
	d.closed.Store(true)
	return nil
}

// g711Encoder encodes PCMU or PCMA.
type g711Encoder struct {
	down   *downsampler
	table  *[65536]uint8
	native [g711FrameSize]int16
	// closed is atomic so Close may race with Decode or Encode.
	closed atomic.Bool
}

var _ AudioEncoder = (*g711Encoder)(nil)

func newG711Encoder(table *[65536]uint8) *g711Encoder {
	return &g711Encoder{
		down:  newDownsampler(g711Factor, FrameSamples),
		table: table,
	}
}

// Encode implements AudioEncoder: 960 samples in, 160 bytes out.
func (e *g711Encoder) Encode(pcm []int16, out []byte) (int, error) {
	switch {
	case e.closed.Load():
		return 0, ErrClosed
	case len(pcm) != FrameSamples:
		return 0, ErrFrameSize
	case len(out) < g711FrameSize:
		return 0, ErrShortBuffer
	}
	n := e.down.process(pcm, e.native[:])
	out = out[:n]
	for i, s := range e.native[:n] {
		out[i] = e.table[uint16(s)]
	}
	return n, nil
}

// Close implements AudioEncoder.
func (e *g711Encoder) Close() error {
	e.closed.Store(true)
	return nil
}
