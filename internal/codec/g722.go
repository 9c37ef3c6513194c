package codec

/*
#cgo pkg-config: spandsp
#include <stdint.h>
#include <spandsp/telephony.h>
#include <spandsp/g722.h>
*/
import "C"

import (
	"runtime"
	"sync"
	"unsafe"
)

// G.722 at 64 kbit/s through spandsp. One payload byte carries two 16 kHz
// samples (1/8000 s), so the length limits match G.711's.
const (
	g722Rate      = 16000
	g722Bitrate   = 64000
	g722Factor    = MixRate / g722Rate
	g722MaxBytes  = MaxFrameSamples / g722Factor / 2
	g722FrameSize = FrameSamples / g722Factor / 2
)

// g722Decoder decodes G.722. The mutex makes Close safe against a Decode
// running on another goroutine; it is uncontended in normal use.
type g722Decoder struct {
	mu sync.Mutex
	st *C.g722_decode_state_t
	pcmDecoder
	native  [g722MaxBytes * 2]int16
	cleanup runtime.Cleanup
}

var _ AudioDecoder = (*g722Decoder)(nil)

func newG722Decoder() (*g722Decoder, error) {
	st := C.g722_decode_init(nil, g722Bitrate, 0)
	if st == nil {
		return nil, ErrLibrary
	}
	d := &g722Decoder{
		st:         st,
		pcmDecoder: newPCMDecoder(g722Rate, len(g722Decoder{}.native)),
	}
	// A forgotten Close must not leak C memory for the life of the process.
	d.cleanup = runtime.AddCleanup(d, func(st *C.g722_decode_state_t) { C.g722_decode_free(st) }, st)
	return d, nil
}

// Decode implements AudioDecoder.
func (d *g722Decoder) Decode(payload []byte, pcm []int16) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.st == nil:
		return 0, ErrClosed
	case len(payload) == 0:
		return 0, ErrEmptyPayload
	case len(payload) > g722MaxBytes:
		return 0, ErrPayloadTooLong
	case len(pcm) < len(payload)*2*g722Factor:
		return 0, ErrShortBuffer
	}
	// spandsp reads payload and writes native only during the call.
	n := int(C.g722_decode(d.st,
		(*C.int16_t)(unsafe.Pointer(&d.native[0])),
		(*C.uint8_t)(unsafe.Pointer(&payload[0])),
		C.int(len(payload))))
	if n < 0 || n > len(d.native) {
		return 0, ErrLibrary
	}
	return d.finish(d.native[:n], pcm), nil
}

// Conceal implements AudioDecoder. The G.722 ADPCM state is left as it was:
// spandsp has no concealment of its own, and the predictor re-adapts within
// a few milliseconds of the next good packet.
func (d *g722Decoder) Conceal(pcm []int16) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.st == nil {
		return 0, ErrClosed
	}
	return d.conceal(d.native[:], pcm)
}

// Close implements AudioDecoder; it is safe to call more than once.
func (d *g722Decoder) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.st != nil {
		d.cleanup.Stop()
		C.g722_decode_free(d.st)
		d.st = nil
	}
	return nil
}

// g722Encoder encodes G.722.
type g722Encoder struct {
	mu      sync.Mutex
	st      *C.g722_encode_state_t
	down    *downsampler
	native  [g722FrameSize * 2]int16
	cleanup runtime.Cleanup
}

var _ AudioEncoder = (*g722Encoder)(nil)

func newG722Encoder() (*g722Encoder, error) {
	st := C.g722_encode_init(nil, g722Bitrate, 0)
	if st == nil {
		return nil, ErrLibrary
	}
	e := &g722Encoder{
		st:   st,
		down: newDownsampler(g722Factor, FrameSamples),
	}
	e.cleanup = runtime.AddCleanup(e, func(st *C.g722_encode_state_t) { C.g722_encode_free(st) }, st)
	return e, nil
}

// Encode implements AudioEncoder: 960 samples in, 160 bytes out.
func (e *g722Encoder) Encode(pcm []int16, out []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.st == nil:
		return 0, ErrClosed
	case len(pcm) != FrameSamples:
		return 0, ErrFrameSize
	case len(out) < g722FrameSize:
		return 0, ErrShortBuffer
	}
	ns := e.down.process(pcm, e.native[:])
	n := int(C.g722_encode(e.st,
		(*C.uint8_t)(unsafe.Pointer(&out[0])),
		(*C.int16_t)(unsafe.Pointer(&e.native[0])),
		C.int(ns)))
	if n != g722FrameSize {
		return 0, ErrLibrary
	}
	return n, nil
}

// Close implements AudioEncoder; it is safe to call more than once.
func (e *g722Encoder) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st != nil {
		e.cleanup.Stop()
		C.g722_encode_free(e.st)
		e.st = nil
	}
	return nil
}
