package codec

/*
#cgo pkg-config: libavcodec libavutil
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>

// vmrd_aac is one AAC encoder with its reusable input frame and packet.
typedef struct {
	AVCodecContext *ctx;
	AVFrame *frame; // planar float input, filled up to fill samples
	AVPacket *pkt;
	int fill;
	int64_t next_pts; // input samples handed to the encoder so far
} vmrd_aac;

static void vmrd_aac_free(vmrd_aac *e) {
	if (e == NULL) return;
	avcodec_free_context(&e->ctx);
	av_frame_free(&e->frame);
	av_packet_free(&e->pkt);
	free(e);
}

static int vmrd_aac_open(vmrd_aac **out, int rate, int channels, int bitrate) {
	*out = NULL;
	const AVCodec *codec = avcodec_find_encoder_by_name("aac");
	if (codec == NULL) return AVERROR_ENCODER_NOT_FOUND;
	vmrd_aac *e = calloc(1, sizeof *e);
	if (e == NULL) return AVERROR(ENOMEM);
	e->ctx = avcodec_alloc_context3(codec);
	e->frame = av_frame_alloc();
	e->pkt = av_packet_alloc();
	if (!e->ctx || !e->frame || !e->pkt) {
		vmrd_aac_free(e);
		return AVERROR(ENOMEM);
	}
	AVCodecContext *c = e->ctx;
	c->sample_fmt = AV_SAMPLE_FMT_FLTP; // the only format the native encoder takes
	c->sample_rate = rate;
	av_channel_layout_default(&c->ch_layout, channels);
	c->bit_rate = bitrate;
	c->profile = FF_PROFILE_AAC_LOW;
	c->time_base = (AVRational){1, rate};
	// FLV carries the AudioSpecificConfig once, in the sequence header, so
	// ask for it as extradata.
	c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
	c->thread_count = 1;
	int r = avcodec_open2(c, codec, NULL);
	if (r < 0) {
		vmrd_aac_free(e);
		return r;
	}
	e->frame->format = c->sample_fmt;
	e->frame->nb_samples = c->frame_size;
	e->frame->sample_rate = rate;
	if ((r = av_channel_layout_copy(&e->frame->ch_layout, &c->ch_layout)) < 0 ||
	    (r = av_frame_get_buffer(e->frame, 0)) < 0) {
		vmrd_aac_free(e);
		return r;
	}
	*out = e;
	return 0;
}

// vmrd_aac_push copies mono samples into the input frame (every channel
// gets the same signal) and returns how many it took; when the frame is
// full it is sent to the encoder and the return is negative on failure.
static int vmrd_aac_push(vmrd_aac *e, const int16_t *pcm, int n) {
	if (e->fill == 0) {
		// The encoder may still hold a reference to the last frame's
		// buffer; this reallocates only in that case.
		int r = av_frame_make_writable(e->frame);
		if (r < 0) return r;
	}
	int room = e->frame->nb_samples - e->fill;
	if (n > room) n = room;
	int ch = e->ctx->ch_layout.nb_channels;
	for (int c = 0; c < ch; c++) {
		float *dst = (float *)e->frame->extended_data[c] + e->fill;
		for (int i = 0; i < n; i++) dst[i] = pcm[i] * (1.0f / 32768.0f);
	}
	e->fill += n;
	if (e->fill == e->frame->nb_samples) {
		e->frame->pts = e->next_pts;
		e->next_pts += e->fill;
		e->fill = 0;
		int r = avcodec_send_frame(e->ctx, e->frame);
		if (r < 0) return r;
	}
	return n;
}

// vmrd_aac_receive returns 1 with a packet in e->pkt, 0 when the encoder
// wants more input, AVERROR_EOF after a flush, or another negative error.
static int vmrd_aac_receive(vmrd_aac *e) {
	av_packet_unref(e->pkt);
	int r = avcodec_receive_packet(e->ctx, e->pkt);
	if (r == AVERROR(EAGAIN)) return 0;
	return r < 0 ? r : 1;
}

// vmrd_aac_flush pads a partial frame with silence, sends it and starts
// draining.
static int vmrd_aac_flush(vmrd_aac *e) {
	if (e->fill > 0) {
		int16_t zero[1024] = {0};
		while (e->fill > 0) {
			int want = e->frame->nb_samples - e->fill;
			int r = vmrd_aac_push(e, zero, want > 1024 ? 1024 : want);
			if (r < 0) return r;
		}
	}
	return avcodec_send_frame(e->ctx, NULL);
}

static void vmrd_aac_quiet(void) { av_log_set_level(AV_LOG_QUIET); }
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// AACConfig sets up an AAC encoder. The input is always mono int16 PCM at
// SampleRate (what the audio mixer produces); Channels is what the encoded
// stream carries, the mono signal copied into each.
type AACConfig struct {
	SampleRate int // 48000 (also 44100, 32000, 24000, 16000)
	Channels   int // 1 or 2
	Bitrate    int // bits per second, 32000 to 320000
}

// AACFrame is one raw AAC access unit (no ADTS header), as FLV and MP4 carry
// it. PTS counts samples at SampleRate on the encoder's input timeline; the
// first frame has a negative PTS (minus one frame) because the encoder
// primes with a frame of silence that decoders play or trim.
type AACFrame struct {
	Data []byte
	PTS  int64
}

// AACFrameSamples is the number of samples per channel in one AAC-LC frame.
const AACFrameSamples = 1024

// maxAACFrameBytes bounds one AAC frame: 6144 bits per channel (ISO/IEC
// 14496-3 section 4.5.3.2) for up to two channels.
const maxAACFrameBytes = 2 * 6144 / 8

// Prebuilt per-call errors, so a caller stuck on a broken encoder does not
// allocate an error per frame.
var (
	errAACEncode = fmt.Errorf("%w: aac encoder failed", ErrLibrary)
	errAACBig    = fmt.Errorf("%w: aac frame above the format's limit", ErrLibrary)
)

// AACEncoder encodes mono PCM into AAC-LC with libavcodec's native encoder.
// Encode accepts any number of samples and buffers them into 1024-sample
// frames. It is safe for one goroutine at a time; Close may be called from
// another.
type AACEncoder struct {
	mu      sync.Mutex
	e       *C.vmrd_aac
	cfg     AACConfig
	asc     []byte
	out     []AACFrame
	buf     []byte // backing store of out[i].Data
	cleanup runtime.Cleanup
}

// NewAACEncoder opens libavcodec's "aac" encoder (AAC-LC).
func NewAACEncoder(cfg AACConfig) (*AACEncoder, error) {
	switch {
	case cfg.SampleRate != 48000 && cfg.SampleRate != 44100 && cfg.SampleRate != 32000 &&
		cfg.SampleRate != 24000 && cfg.SampleRate != 16000:
		return nil, fmt.Errorf("%w: aac sample rate %d", ErrBadConfig, cfg.SampleRate)
	case cfg.Channels != 1 && cfg.Channels != 2:
		return nil, fmt.Errorf("%w: aac channels %d (1 or 2)", ErrBadConfig, cfg.Channels)
	case cfg.Bitrate < 32000 || cfg.Bitrate > 320000:
		return nil, fmt.Errorf("%w: aac bitrate %d (32000 to 320000)", ErrBadConfig, cfg.Bitrate)
	}
	// The encoder prints statistics to stderr on close; failures reach
	// the caller as errors instead.
	avQuietOnce.Do(func() { C.vmrd_aac_quiet() })
	var e *C.vmrd_aac
	if r := C.vmrd_aac_open(&e, C.int(cfg.SampleRate), C.int(cfg.Channels), C.int(cfg.Bitrate)); r < 0 {
		return nil, fmt.Errorf("%w: open aac encoder: error %d", ErrLibrary, int(r))
	}
	if int(e.ctx.frame_size) != AACFrameSamples || e.ctx.extradata_size < 2 {
		C.vmrd_aac_free(e)
		return nil, fmt.Errorf("%w: aac encoder has no 1024-sample frames or no AudioSpecificConfig", ErrLibrary)
	}
	enc := &AACEncoder{e: e, cfg: cfg,
		asc: C.GoBytes(unsafe.Pointer(e.ctx.extradata), e.ctx.extradata_size),
		out: make([]AACFrame, 0, 4),
		buf: make([]byte, 0, 4*maxAACFrameBytes),
	}
	enc.cleanup = runtime.AddCleanup(enc, func(e *C.vmrd_aac) { C.vmrd_aac_free(e) }, e)
	return enc, nil
}

// AudioSpecificConfig returns the stream's AudioSpecificConfig (ISO/IEC
// 14496-3 section 1.6.2.1), the body of FLV's AAC sequence header.
func (enc *AACEncoder) AudioSpecificConfig() []byte { return append([]byte(nil), enc.asc...) }

// Config returns the encoder's settings.
func (enc *AACEncoder) Config() AACConfig { return enc.cfg }

// Encode takes mono samples in any amount and returns the AAC frames that
// became complete, in order. The frames and their Data are valid until the
// next call; no frames (nil error) means more input is needed.
func (enc *AACEncoder) Encode(pcm []int16) ([]AACFrame, error) {
	enc.mu.Lock()
	defer enc.mu.Unlock()
	if enc.e == nil {
		return nil, ErrClosed
	}
	enc.out, enc.buf = enc.out[:0], enc.buf[:0]
	for len(pcm) > 0 {
		n := C.vmrd_aac_push(enc.e, (*C.int16_t)(unsafe.Pointer(&pcm[0])), C.int(len(pcm)))
		if n < 0 {
			return enc.out, errAACEncode
		}
		pcm = pcm[int(n):]
		if err := enc.drain(); err != nil {
			return enc.out, err
		}
	}
	return enc.out, nil
}

// Flush pads the buffered samples with silence to a whole frame and returns
// every frame still inside the encoder. The encoder takes no input after it.
func (enc *AACEncoder) Flush() ([]AACFrame, error) {
	enc.mu.Lock()
	defer enc.mu.Unlock()
	if enc.e == nil {
		return nil, ErrClosed
	}
	enc.out, enc.buf = enc.out[:0], enc.buf[:0]
	if C.vmrd_aac_flush(enc.e) < 0 {
		return nil, errAACEncode
	}
	return enc.out, enc.drain()
}

// drain moves every packet the encoder has ready into enc.out.
func (enc *AACEncoder) drain() error {
	for {
		r := C.vmrd_aac_receive(enc.e)
		switch {
		case r == 0 || r == C.AVERROR_EOF:
			return nil
		case r < 0:
			return errAACEncode
		}
		p := enc.e.pkt
		n := int(p.size)
		if n > maxAACFrameBytes {
			return errAACBig
		}
		if len(enc.buf)+n > cap(enc.buf) {
			// Only a caller handing over many frames' worth at once gets
			// here; earlier frames keep the old backing array.
			enc.buf = make([]byte, 0, 2*cap(enc.buf)+n)
		}
		start := len(enc.buf)
		enc.buf = append(enc.buf, unsafe.Slice((*byte)(unsafe.Pointer(p.data)), n)...)
		enc.out = append(enc.out, AACFrame{Data: enc.buf[start:len(enc.buf):len(enc.buf)], PTS: int64(p.pts)})
	}
}

// Close frees the encoder; it is safe to call more than once.
func (enc *AACEncoder) Close() error {
	enc.mu.Lock()
	defer enc.mu.Unlock()
	if enc.e != nil {
		enc.cleanup.Stop()
		C.vmrd_aac_free(enc.e)
		enc.e = nil
	}
	return nil
}

// String names the encoder for pipeline descriptions.
func (enc *AACEncoder) String() string {
	return fmt.Sprintf("AAC(%d Hz, %d ch, %d b/s)", enc.cfg.SampleRate, enc.cfg.Channels, enc.cfg.Bitrate)
}
