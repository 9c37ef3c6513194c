package codec

/*
#cgo pkg-config: opus
#include <opus.h>

// The opus_*_ctl requests are variadic, which cgo cannot call.
static int vmrd_opus_encoder_setup(OpusEncoder *e, int bitrate, int complexity, int fec, int loss, int bw) {
	int r;
	if ((r = opus_encoder_ctl(e, OPUS_SET_MAX_BANDWIDTH(bw))) != OPUS_OK) return r;
	if ((r = opus_encoder_ctl(e, OPUS_SET_BITRATE(bitrate))) != OPUS_OK) return r;
	if ((r = opus_encoder_ctl(e, OPUS_SET_COMPLEXITY(complexity))) != OPUS_OK) return r;
	if ((r = opus_encoder_ctl(e, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE))) != OPUS_OK) return r;
	if ((r = opus_encoder_ctl(e, OPUS_SET_INBAND_FEC(fec))) != OPUS_OK) return r;
	if ((r = opus_encoder_ctl(e, OPUS_SET_PACKET_LOSS_PERC(loss))) != OPUS_OK) return r;
	return opus_encoder_ctl(e, OPUS_SET_DTX(0));
}

static int vmrd_opus_set_loss(OpusEncoder *e, int loss) {
	return opus_encoder_ctl(e, OPUS_SET_PACKET_LOSS_PERC(loss));
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

const (
	// opusMaxPayload bounds what Decode accepts: a 120 ms code-3 packet of
	// 48 frames of at most 1275 bytes each (RFC 6716 section 3.2.5) plus
	// headers fits well inside it; anything larger is not Opus.
	opusMaxPayload = 48*1275 + 64
	// opusMaxOut caps what Encode asks libopus for: one 20 ms frame never
	// exceeds 1275 bytes (RFC 6716 section 3.2.1).
	opusMaxOut = 1275
)

// opusConfig holds the encoder settings.
type opusConfig struct {
	bitrate    int
	complexity int
	// fec allows in-band FEC (LBRR, RFC 6716 section 2.1.7) so receivers
	// that use it, browsers among them, can rebuild a lost frame from the
	// next packet. libopus only spends bits on it once told to expect loss
	// (lossPerc, or SetPacketLoss from RTCP reports), and then may narrow the
	// audio bandwidth to afford it.
	fec      bool
	lossPerc int
	// maxBandwidth is an OPUS_BANDWIDTH_* constant.
	maxBandwidth int
}

// defaultOpusConfig: 32 kbit/s mono VoIP, fullband allowed, FEC ready but
// idle until loss is reported. At this rate and no loss libopus sends hybrid
// fullband; told of 10 % loss or more it switches to SILK wideband with FEC.
//
// Complexity 0 because of the CPU budget: on the reference host (2 vCPU AMD
// EPYC) one 20 ms encode of speech-like input measured about 67 µs at
// complexity 0, 80-88 µs at 1, 110 µs at 2-3, 150 µs at 5 and 370 µs at 10
// (BenchmarkOpusComplexity). Only 0 stays well under the 100 µs budget; the
// cost is mostly SILK's, so limiting the bandwidth barely helps.
var defaultOpusConfig = opusConfig{bitrate: 32000, complexity: 0, fec: true, lossPerc: 0, maxBandwidth: C.OPUS_BANDWIDTH_FULLBAND}

// opusErrors maps libopus error codes (-1 .. -7) to prebuilt errors, so a
// flood of corrupt packets does not allocate.
var opusErrors = func() (m [8]error) {
	for code := 1; code < len(m); code++ {
		msg := C.GoString(C.opus_strerror(C.int(-code)))
		switch -code {
		case C.OPUS_INVALID_PACKET, C.OPUS_BAD_ARG:
			m[code] = fmt.Errorf("%w: opus: %s", ErrCorrupt, msg)
		case C.OPUS_BUFFER_TOO_SMALL:
			m[code] = fmt.Errorf("%w: opus: %s", ErrShortBuffer, msg)
		default:
			m[code] = fmt.Errorf("%w: opus: %s", ErrLibrary, msg)
		}
	}
	return m
}()

func opusError(code C.int) error {
	if code < 0 && int(-code) < len(opusErrors) {
		return opusErrors[-code]
	}
	return ErrLibrary
}

// opusDecoder decodes Opus to 48 kHz mono: libopus downmixes stereo packets
// when asked for one channel. The mutex makes Close safe against a Decode on
// another goroutine; it is uncontended in normal use.
type opusDecoder struct {
	mu      sync.Mutex
	st      *C.OpusDecoder
	cleanup runtime.Cleanup
}

var _ AudioDecoder = (*opusDecoder)(nil)

func newOpusDecoder() (*opusDecoder, error) {
	var rc C.int
	st := C.opus_decoder_create(MixRate, 1, &rc)
	if st == nil || rc != C.OPUS_OK {
		return nil, opusError(rc)
	}
	d := &opusDecoder{st: st}
	// A forgotten Close must not leak C memory for the life of the process.
	d.cleanup = runtime.AddCleanup(d, func(st *C.OpusDecoder) { C.opus_decoder_destroy(st) }, st)
	return d, nil
}

// Decode implements AudioDecoder. A payload may hold 2.5 to 120 ms.
func (d *opusDecoder) Decode(payload []byte, pcm []int16) (int, error) {
	return d.decode(payload, pcm, false)
}

// DecodeFEC rebuilds the frame lost just before payload from the in-band FEC
// data in payload (RFC 6716 section 2.1.7), writing FrameSamples to pcm. Call
// it instead of Conceal when the packet after a single loss has arrived, then
// Decode that packet as usual. Without FEC data libopus conceals instead.
func (d *opusDecoder) DecodeFEC(payload []byte, pcm []int16) (int, error) {
	return d.decode(payload, pcm, true)
}

func (d *opusDecoder) decode(payload []byte, pcm []int16, fec bool) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.st == nil:
		return 0, ErrClosed
	case len(payload) == 0:
		// A NULL/empty packet means "conceal" to libopus; make that explicit.
		return 0, ErrEmptyPayload
	case len(payload) > opusMaxPayload:
		return 0, ErrPayloadTooLong
	}
	data := (*C.uchar)(unsafe.Pointer(&payload[0]))
	frame := FrameSamples
	if !fec {
		ns := C.opus_decoder_get_nb_samples(d.st, data, C.opus_int32(len(payload)))
		if ns < 0 {
			return 0, opusError(ns)
		}
		if int(ns) > MaxFrameSamples {
			return 0, ErrPayloadTooLong
		}
		frame = int(ns)
	}
	if len(pcm) < frame {
		return 0, ErrShortBuffer
	}
	var decodeFEC C.int
	if fec {
		decodeFEC = 1
	}
	n := C.opus_decode(d.st, data, C.opus_int32(len(payload)),
		(*C.opus_int16)(unsafe.Pointer(&pcm[0])), C.int(frame), decodeFEC)
	if n < 0 {
		return 0, opusError(n)
	}
	return int(n), nil
}

// Conceal implements AudioDecoder with libopus's own loss concealment, which
// fades to silence over a long loss.
func (d *opusDecoder) Conceal(pcm []int16) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.st == nil {
		return 0, ErrClosed
	}
	if len(pcm) < FrameSamples {
		return 0, ErrShortBuffer
	}
	n := C.opus_decode(d.st, nil, 0, (*C.opus_int16)(unsafe.Pointer(&pcm[0])), FrameSamples, 0)
	if n < 0 {
		return 0, opusError(n)
	}
	return int(n), nil
}

// Close implements AudioDecoder; it is safe to call more than once.
func (d *opusDecoder) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.st != nil {
		d.cleanup.Stop()
		C.opus_decoder_destroy(d.st)
		d.st = nil
	}
	return nil
}

// opusEncoder encodes 48 kHz mono 20 ms frames.
type opusEncoder struct {
	mu      sync.Mutex
	st      *C.OpusEncoder
	cleanup runtime.Cleanup
}

var _ AudioEncoder = (*opusEncoder)(nil)

func newOpusEncoder(cfg opusConfig) (*opusEncoder, error) {
	var rc C.int
	st := C.opus_encoder_create(MixRate, 1, C.OPUS_APPLICATION_VOIP, &rc)
	if st == nil || rc != C.OPUS_OK {
		return nil, opusError(rc)
	}
	fec := C.int(0)
	if cfg.fec {
		fec = 1
	}
	if rc := C.vmrd_opus_encoder_setup(st, C.int(cfg.bitrate), C.int(cfg.complexity), fec, C.int(cfg.lossPerc), C.int(cfg.maxBandwidth)); rc != C.OPUS_OK {
		C.opus_encoder_destroy(st)
		return nil, opusError(rc)
	}
	e := &opusEncoder{st: st}
	e.cleanup = runtime.AddCleanup(e, func(st *C.OpusEncoder) { C.opus_encoder_destroy(st) }, st)
	return e, nil
}

// Encode implements AudioEncoder.
func (e *opusEncoder) Encode(pcm []int16, out []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.st == nil:
		return 0, ErrClosed
	case len(pcm) != FrameSamples:
		return 0, ErrFrameSize
	case len(out) == 0:
		return 0, ErrShortBuffer
	}
	n := C.opus_encode(e.st, (*C.opus_int16)(unsafe.Pointer(&pcm[0])), FrameSamples,
		(*C.uchar)(unsafe.Pointer(&out[0])), C.opus_int32(min(len(out), opusMaxOut)))
	if n < 0 {
		return 0, opusError(n)
	}
	return int(n), nil
}

// SetPacketLoss tells the encoder the packet loss its receivers see, in
// percent (RTCP fraction lost, RFC 3550 section 6.4.1), so it can add in-band
// FEC when loss is high. Values are clamped to 0-100.
func (e *opusEncoder) SetPacketLoss(percent int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st == nil {
		return ErrClosed
	}
	if rc := C.vmrd_opus_set_loss(e.st, C.int(min(max(percent, 0), 100))); rc != C.OPUS_OK {
		return opusError(rc)
	}
	return nil
}

// Close implements AudioEncoder; it is safe to call more than once.
func (e *opusEncoder) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.st != nil {
		e.cleanup.Stop()
		C.opus_encoder_destroy(e.st)
		e.st = nil
	}
	return nil
}
