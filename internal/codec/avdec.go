package codec

/*
#cgo pkg-config: libavcodec libavutil libswscale
#cgo LDFLAGS: -lyuv
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>
#include <libavutil/pixfmt.h>
#include <libswscale/swscale.h>
#include <libyuv/convert.h>

// vmrd_avdec is one decoder and everything it reuses between packets. It
// lives in C memory so that libavcodec may keep pointers into it.
typedef struct {
	AVCodecContext *ctx;
	AVPacket *pkt;
	AVFrame *frame;   // the picture handed to Go, kept until the next decode
	AVFrame *spare;   // receives pictures while draining
	AVBufferRef *buf; // padded copy of the input, reused while writable
	struct SwsContext *sws;
	int max_dim;
	int refused; // set when a callback refused the declared picture size
} vmrd_avdec;

// too_large reports whether the size c declares exceeds max_dim. The coded
// size may exceed the display size by up to one macroblock.
static int vmrd_too_large(const AVCodecContext *c, int max_dim) {
	return c->width > max_dim || c->height > max_dim ||
	       c->coded_width > max_dim + 16 || c->coded_height > max_dim + 16;
}

// vmrd_get_format is called when a stream (re)declares its size and format,
// after the size is known and before the H.264 decoder allocates its
// per-macroblock tables: refusing here keeps an absurd SPS from costing
// anything. max_pixels stops absurd areas in the decoders that call
// ff_set_dimensions (VP8); vmrd_get_buffer is the last line.
static enum AVPixelFormat vmrd_get_format(AVCodecContext *c, const enum AVPixelFormat *fmts) {
	vmrd_avdec *d = c->opaque;
	if (vmrd_too_large(c, d->max_dim)) {
		d->refused = 1;
		return AV_PIX_FMT_NONE;
	}
	return avcodec_default_get_format(c, fmts);
}

static int vmrd_get_buffer(AVCodecContext *c, AVFrame *f, int flags) {
	vmrd_avdec *d = c->opaque;
	if (vmrd_too_large(c, d->max_dim) || f->width > d->max_dim + 16 || f->height > d->max_dim + 16) {
		d->refused = 1;
		return AVERROR(ERANGE);
	}
	return avcodec_default_get_buffer2(c, f, flags);
}

static void vmrd_avdec_free(vmrd_avdec *d) {
	if (d == NULL) return;
	avcodec_free_context(&d->ctx);
	av_packet_free(&d->pkt);
	av_frame_free(&d->frame);
	av_frame_free(&d->spare);
	av_buffer_unref(&d->buf);
	sws_freeContext(d->sws);
	free(d);
}

static int vmrd_avdec_open(vmrd_avdec **out, enum AVCodecID id, int max_dim) {
	*out = NULL;
	const AVCodec *codec = avcodec_find_decoder(id);
	if (codec == NULL) return AVERROR_DECODER_NOT_FOUND;
	vmrd_avdec *d = calloc(1, sizeof *d);
	if (d == NULL) return AVERROR(ENOMEM);
	d->max_dim = max_dim;
	d->ctx = avcodec_alloc_context3(codec);
	d->pkt = av_packet_alloc();
	d->frame = av_frame_alloc();
	d->spare = av_frame_alloc();
	if (!d->ctx || !d->pkt || !d->frame || !d->spare) {
		vmrd_avdec_free(d);
		return AVERROR(ENOMEM);
	}
	AVCodecContext *c = d->ctx;
	c->opaque = d;
	c->get_format = vmrd_get_format;
	c->get_buffer2 = vmrd_get_buffer;
	// One thread and no frame threading: frame threads add a frame of delay
	// each, and the mixer runs many decoders on few cores anyway.
	c->thread_count = 1;
	c->thread_type = 0;
	c->flags |= AV_CODEC_FLAG_LOW_DELAY;
	// Report broken slices as errors instead of concealing them silently,
	// so the caller keeps its last good picture and asks for a keyframe.
	c->err_recognition |= AV_EF_EXPLODE;
	c->max_pixels = (int64_t)max_dim * max_dim;
	int r = avcodec_open2(c, codec, NULL);
	if (r < 0) {
		vmrd_avdec_free(d);
		return r;
	}
	*out = d;
	return 0;
}

// vmrd_avdec_decode decodes one access unit. It returns 1 when d->frame
// holds a picture, 0 when there is none yet, or a negative AVERROR. A
// picture libavcodec flags as damaged is dropped and reported as invalid
// data.
static int vmrd_avdec_decode(vmrd_avdec *d, const uint8_t *data, int len) {
	int got = 0;
	d->refused = 0;
	av_frame_unref(d->frame);
	// A VP8 keyframe states its size in clear (RFC 6386 section 9.1):
	// refuse it before libavcodec sizes anything after it.
	if (d->ctx->codec_id == AV_CODEC_ID_VP8 && len >= 10 && (data[0] & 1) == 0 &&
	    data[3] == 0x9d && data[4] == 0x01 && data[5] == 0x2a) {
		int w = (data[6] | data[7] << 8) & 0x3fff, h = (data[8] | data[9] << 8) & 0x3fff;
		if (w > d->max_dim || h > d->max_dim) return AVERROR(ERANGE);
	}
	// libavcodec reads past the end of the input in its bit readers, so the
	// copy carries zero padding; the buffer is reused once the decoder has
	// let go of it.
	if (d->buf == NULL || !av_buffer_is_writable(d->buf) ||
	    d->buf->size < (size_t)len + AV_INPUT_BUFFER_PADDING_SIZE) {
		av_buffer_unref(&d->buf);
		d->buf = av_buffer_alloc((size_t)len + len / 2 + AV_INPUT_BUFFER_PADDING_SIZE);
		if (d->buf == NULL) return AVERROR(ENOMEM);
	}
	memcpy(d->buf->data, data, len);
	memset(d->buf->data + len, 0, AV_INPUT_BUFFER_PADDING_SIZE);
	d->pkt->buf = av_buffer_ref(d->buf);
	if (d->pkt->buf == NULL) return AVERROR(ENOMEM);
	d->pkt->data = d->buf->data;
	d->pkt->size = len;
	int err = avcodec_send_packet(d->ctx, d->pkt);
	av_packet_unref(d->pkt);
	// Drain even after an error so no picture stays queued inside; keep
	// the last one (a packet holding two frames shows the later).
	for (;;) {
		int r = avcodec_receive_frame(d->ctx, d->spare);
		if (r < 0) {
			if (r != AVERROR(EAGAIN) && r != AVERROR_EOF && err >= 0) err = r;
			break;
		}
		if (d->spare->decode_error_flags || (d->spare->flags & AV_FRAME_FLAG_CORRUPT)) {
			av_frame_unref(d->spare);
			if (err >= 0) err = AVERROR_INVALIDDATA;
			continue;
		}
		av_frame_unref(d->frame);
		av_frame_move_ref(d->frame, d->spare);
		got = 1;
	}
	if (d->refused) err = AVERROR(ERANGE);
	if (err < 0) {
		av_frame_unref(d->frame);
		return err;
	}
	return got;
}

// vmrd_avdec_direct reports whether d->frame is already I420 in memory
// layout (full-range 4:2:0 only differs in its signalled range).
static int vmrd_avdec_direct(vmrd_avdec *d) {
	int f = d->frame->format;
	return f == AV_PIX_FMT_YUV420P || f == AV_PIX_FMT_YUVJ420P;
}

// vmrd_avdec_convert converts d->frame to I420 in dst: libyuv for the
// layouts decoders of High profiles produce, swscale for anything else.
static int vmrd_avdec_convert(vmrd_avdec *d, uint8_t *dy, uint8_t *du, uint8_t *dv, int sy, int suv) {
	AVFrame *f = d->frame;
	int w = f->width, h = f->height;
	const uint8_t *y = f->data[0], *u = f->data[1], *v = f->data[2];
	int ly = f->linesize[0], lu = f->linesize[1], lv = f->linesize[2];
	switch (f->format) {
	case AV_PIX_FMT_YUV422P:
	case AV_PIX_FMT_YUVJ422P:
		return I422ToI420(y, ly, u, lu, v, lv, dy, sy, du, suv, dv, suv, w, h);
	case AV_PIX_FMT_YUV444P:
	case AV_PIX_FMT_YUVJ444P:
		return I444ToI420(y, ly, u, lu, v, lv, dy, sy, du, suv, dv, suv, w, h);
	case AV_PIX_FMT_GRAY8:
		return I400ToI420(y, ly, dy, sy, du, suv, dv, suv, w, h);
	case AV_PIX_FMT_YUV420P10LE:
		return I010ToI420((const uint16_t *)y, ly / 2, (const uint16_t *)u, lu / 2,
			(const uint16_t *)v, lv / 2, dy, sy, du, suv, dv, suv, w, h);
	case AV_PIX_FMT_YUV422P10LE:
		return I210ToI420((const uint16_t *)y, ly / 2, (const uint16_t *)u, lu / 2,
			(const uint16_t *)v, lv / 2, dy, sy, du, suv, dv, suv, w, h);
	case AV_PIX_FMT_YUV444P10LE:
		return I410ToI420((const uint16_t *)y, ly / 2, (const uint16_t *)u, lu / 2,
			(const uint16_t *)v, lv / 2, dy, sy, du, suv, dv, suv, w, h);
	}
	d->sws = sws_getCachedContext(d->sws, w, h, f->format, w, h, AV_PIX_FMT_YUV420P,
		SWS_BILINEAR, NULL, NULL, NULL);
	if (d->sws == NULL) return AVERROR(ENOSYS);
	uint8_t *dst[4] = {dy, du, dv, NULL};
	int dstride[4] = {sy, suv, suv, 0};
	int r = sws_scale(d->sws, (const uint8_t *const *)f->data, f->linesize, 0, h, dst, dstride);
	return r == h ? 0 : AVERROR(EINVAL);
}

static void vmrd_av_quiet(void) { av_log_set_level(AV_LOG_QUIET); }
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// maxAccessUnit bounds what Decode accepts. A 4096x4096 keyframe at very
// high quality stays well below it; anything larger is not a picture we
// want to spend time on.
const maxAccessUnit = 16 << 20

// Prebuilt decode errors, so a flood of corrupt packets does not allocate.
var (
	errAVInvalid     = fmt.Errorf("%w: libavcodec rejected the access unit", ErrCorrupt)
	errAVTooLarge    = fmt.Errorf("%w (%w): above %d pixels on a side", ErrTooLarge, ErrCorrupt, MaxVideoDimension)
	errAVInvalidArg  = fmt.Errorf("%w: libavcodec rejected a parameter of the stream", ErrCorrupt)
	errAVUnsupported = fmt.Errorf("%w: stream uses a feature libavcodec does not support", ErrCorrupt)
	errAVNoMem       = fmt.Errorf("%w: libavcodec out of memory", ErrLibrary)
	errAVConvert     = fmt.Errorf("%w: converting the decoded picture to I420 failed", ErrLibrary)
	errAVOdd         = fmt.Errorf("%w: decoder produced an unusable picture layout", ErrLibrary)
)

func avError(code C.int) error {
	switch code {
	case -C.ENOMEM:
		return errAVNoMem
	case -C.ERANGE:
		return errAVTooLarge
	case -C.EINVAL:
		// ff_set_dimensions refuses sizes above max_pixels with EINVAL,
		// among other things.
		return errAVInvalidArg
	case C.AVERROR_PATCHWELCOME, -C.ENOSYS:
		return errAVUnsupported
	}
	return errAVInvalid
}

var avQuietOnce sync.Once

// avDecoder decodes H.264 or VP8 with libavcodec. The mutex makes Close safe
// against a Decode on another goroutine; it is uncontended in normal use.
type avDecoder struct {
	mu    sync.Mutex
	d     *C.vmrd_avdec
	codec VideoCodec
	// out is the Frame Decode returns: a view of the AVFrame's planes, or of
	// conv when the decoder's output is not I420.
	out     Frame
	conv    *Frame
	cleanup runtime.Cleanup
}

var _ VideoDecoder = (*avDecoder)(nil)

// NewVideoDecoder returns a single-threaded, low-delay decoder for c (H264
// of any profile libavcodec supports, or VP8). Pictures above
// MaxVideoDimension on a side are refused before they are allocated.
func NewVideoDecoder(c VideoCodec) (VideoDecoder, error) {
	var id C.enum_AVCodecID
	switch c {
	case H264:
		id = C.AV_CODEC_ID_H264
	case VP8:
		id = C.AV_CODEC_ID_VP8
	default:
		return nil, fmt.Errorf("%w: video %q", ErrUnknownCodec, c)
	}
	// libavcodec logs every damaged slice to stderr; errors reach the caller
	// instead, who logs once and counts.
	avQuietOnce.Do(func() { C.vmrd_av_quiet() })
	var d *C.vmrd_avdec
	if r := C.vmrd_avdec_open(&d, id, MaxVideoDimension); r < 0 {
		return nil, fmt.Errorf("%w: open %s decoder: %w", ErrLibrary, c, avError(r))
	}
	dec := &avDecoder{d: d, codec: c}
	dec.cleanup = runtime.AddCleanup(dec, func(d *C.vmrd_avdec) { C.vmrd_avdec_free(d) }, d)
	return dec, nil
}

// Decode implements VideoDecoder.
func (dec *avDecoder) Decode(au []byte) (*Frame, error) {
	dec.mu.Lock()
	defer dec.mu.Unlock()
	switch {
	case dec.d == nil:
		return nil, ErrClosed
	case len(au) == 0:
		return nil, ErrEmptyPayload
	case len(au) > maxAccessUnit:
		return nil, ErrPayloadTooLong
	}
	r := C.vmrd_avdec_decode(dec.d, (*C.uint8_t)(unsafe.Pointer(&au[0])), C.int(len(au)))
	if r < 0 {
		return nil, avError(r)
	}
	if r == 0 {
		return nil, nil
	}
	return dec.picture()
}

// picture describes the decoded AVFrame as a Frame, converting it first when
// it is not I420.
func (dec *avDecoder) picture() (*Frame, error) {
	f := dec.d.frame
	w, h := int(f.width), int(f.height)
	if w <= 0 || h <= 0 || w > MaxVideoDimension || h > MaxVideoDimension {
		return nil, errAVTooLarge
	}
	if C.vmrd_avdec_direct(dec.d) == 0 {
		if dec.conv == nil || dec.conv.Width < w || dec.conv.Height < h ||
			dec.conv.Width > 2*w || dec.conv.Height > 2*h {
			dec.conv = NewFrame(w, h)
		}
		c := dec.conv
		if r := C.vmrd_avdec_convert(dec.d, (*C.uint8_t)(&c.Y[0]), (*C.uint8_t)(&c.U[0]), (*C.uint8_t)(&c.V[0]),
			C.int(c.StrideY), C.int(c.StrideUV)); r != 0 {
			return nil, errAVConvert
		}
		dec.out = Frame{Width: w, Height: h, Y: c.Y, U: c.U, V: c.V, StrideY: c.StrideY, StrideUV: c.StrideUV}
		return &dec.out, nil
	}
	sy, su, sv := int(f.linesize[0]), int(f.linesize[1]), int(f.linesize[2])
	if sy < w || su < (w+1)/2 || su != sv || f.data[0] == nil || f.data[1] == nil || f.data[2] == nil {
		return nil, errAVOdd
	}
	ch := (h + 1) / 2
	// libavcodec's picture buffers hold whole lines of linesize bytes for
	// every row, so these lengths stay inside the allocation.
	dec.out = Frame{Width: w, Height: h,
		Y:       unsafe.Slice((*byte)(unsafe.Pointer(f.data[0])), sy*h),
		U:       unsafe.Slice((*byte)(unsafe.Pointer(f.data[1])), su*ch),
		V:       unsafe.Slice((*byte)(unsafe.Pointer(f.data[2])), sv*ch),
		StrideY: sy, StrideUV: su}
	return &dec.out, nil
}

// Close implements VideoDecoder; it is safe to call more than once.
func (dec *avDecoder) Close() error {
	dec.mu.Lock()
	defer dec.mu.Unlock()
	if dec.d != nil {
		dec.cleanup.Stop()
		C.vmrd_avdec_free(dec.d)
		dec.d = nil
		dec.out = Frame{}
		dec.conv = nil
	}
	return nil
}

// String names the decoder for pipeline descriptions.
func (dec *avDecoder) String() string { return "libavcodec(" + string(dec.codec) + ")" }
