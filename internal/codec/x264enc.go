package codec

/*
#cgo pkg-config: libavcodec libavutil
#cgo LDFLAGS: -lyuv
#include <stdint.h>
#include <stdlib.h>
#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libyuv/planar_functions.h>

// vmrd_x264 is one libx264 encoder (through libavcodec) with its reusable
// input picture and output packet.
typedef struct {
	AVCodecContext *ctx;
	AVFrame *frame;
	AVPacket *pkt;
	int64_t pts;
} vmrd_x264;

static void vmrd_x264_free(vmrd_x264 *e) {
	if (e == NULL) return;
	avcodec_free_context(&e->ctx);
	av_frame_free(&e->frame);
	av_packet_free(&e->pkt);
	free(e);
}

static void vmrd_x264_rate(AVCodecContext *c, int bitrate) {
	// CBR-like: the VBV drains at the target rate and holds one second,
	// which keeps an RTMP ingest's buffer steady without starving
	// keyframes.
	c->bit_rate = bitrate;
	c->rc_max_rate = bitrate;
	c->rc_buffer_size = bitrate;
}

static int vmrd_x264_open(vmrd_x264 **out, int w, int h, int fps, int bitrate, int keyint,
                          const char *profile, const char *preset, int threads) {
	*out = NULL;
	const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
	if (codec == NULL) return AVERROR_ENCODER_NOT_FOUND;
	vmrd_x264 *e = calloc(1, sizeof *e);
	if (e == NULL) return AVERROR(ENOMEM);
	e->ctx = avcodec_alloc_context3(codec);
	e->frame = av_frame_alloc();
	e->pkt = av_packet_alloc();
	if (!e->ctx || !e->frame || !e->pkt) {
		vmrd_x264_free(e);
		return AVERROR(ENOMEM);
	}
	AVCodecContext *c = e->ctx;
	c->width = w;
	c->height = h;
	c->pix_fmt = AV_PIX_FMT_YUV420P;
	c->time_base = (AVRational){1, fps};
	c->framerate = (AVRational){fps, 1};
	vmrd_x264_rate(c, bitrate);
	// No B-frames, so decode order is display order and FLV's composition
	// time is always 0. zerolatency implies it; this states it.
	c->max_b_frames = 0;
	c->gop_size = keyint > 0 ? keyint : 100000;
	c->keyint_min = keyint > 0 ? keyint : 25;
	c->thread_count = threads;
	// Without GLOBAL_HEADER the wrapper asks x264 to repeat SPS and PPS in
	// front of every keyframe, so a viewer joining (or a reconnect) can
	// start from any of them.
	c->flags &= ~AV_CODEC_FLAG_GLOBAL_HEADER;
	int r;
	if ((r = av_opt_set(c->priv_data, "preset", preset, 0)) < 0 ||
	    (r = av_opt_set(c->priv_data, "tune", "zerolatency", 0)) < 0 ||
	    (r = av_opt_set(c->priv_data, "profile", profile, 0)) < 0 ||
	    // A forced keyframe must be an IDR so that the stream can be cut
	    // there (RTMP reconnects, ingest segmenting).
	    (r = av_opt_set_int(c->priv_data, "forced-idr", 1, 0)) < 0 ||
	    (r = av_opt_set(c->priv_data, "x264-params", "annexb=1:aud=0", 0)) < 0) {
		vmrd_x264_free(e);
		return r;
	}
	if ((r = avcodec_open2(c, codec, NULL)) < 0) {
		vmrd_x264_free(e);
		return r;
	}
	e->frame->format = c->pix_fmt;
	e->frame->width = w;
	e->frame->height = h;
	if ((r = av_frame_get_buffer(e->frame, 0)) < 0) {
		vmrd_x264_free(e);
		return r;
	}
	*out = e;
	return 0;
}

// vmrd_x264_encode copies one I420 picture in, encodes it and returns 1
// with the access unit in e->pkt, 0 when the encoder produced nothing, or
// a negative AVERROR.
static int vmrd_x264_encode(vmrd_x264 *e, const uint8_t *y, int sy, const uint8_t *u, const uint8_t *v,
                            int suv, int force_key, int bitrate) {
	AVFrame *f = e->frame;
	int r = av_frame_make_writable(f);
	if (r < 0) return r;
	I420Copy(y, sy, u, suv, v, suv, f->data[0], f->linesize[0], f->data[1], f->linesize[1],
		f->data[2], f->linesize[2], f->width, f->height);
	if (bitrate > 0) vmrd_x264_rate(e->ctx, bitrate); // applied by the wrapper's reconfigure
	f->pts = e->pts++;
	f->pict_type = force_key ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
	r = avcodec_send_frame(e->ctx, f);
	if (r < 0) return r;
	av_packet_unref(e->pkt);
	r = avcodec_receive_packet(e->ctx, e->pkt);
	if (r == AVERROR(EAGAIN)) return 0;
	return r < 0 ? r : 1;
}

static void vmrd_x264_quiet(void) { av_log_set_level(AV_LOG_QUIET); }
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// H264Profile selects the profile of the libx264 encoder.
type H264Profile string

// Profiles NewH264HighEncoder offers. High adds 8x8 transforms and CABAC
// over Main; both decode everywhere RTMP ingest is accepted.
const (
	ProfileHigh H264Profile = "high"
	ProfileMain H264Profile = "main"
)

// X264Options tunes NewH264HighEncoder; the zero value is High profile,
// preset veryfast, one thread.
type X264Options struct {
	Profile H264Profile // ProfileHigh when empty
	// Preset is an x264 preset name; "veryfast" when empty. "superfast"
	// halves the cost at about 20% more bits for the same quality.
	Preset string
	// Threads is the number of slice threads (zerolatency uses slice
	// threading, which adds no delay); 1 when zero.
	Threads int
}

var errX264Encode = fmt.Errorf("%w: libx264 encode failed", ErrLibrary)

// x264Encoder implements VideoEncoder with libx264 through libavcodec.
type x264Encoder struct {
	mu      sync.Mutex
	e       *C.vmrd_x264
	cfg     VideoEncoderConfig
	opt     X264Options
	out     []byte
	bitrate int // pending SetBitrate, 0 when none
	cleanup runtime.Cleanup
}

var _ VideoEncoder = (*x264Encoder)(nil)

// NewH264HighEncoder returns a live-streaming H.264 encoder: libx264 with
// tune zerolatency (no B-frames, no lookahead, one frame in, one access
// unit out), CBR-like VBV at the bitrate, an IDR every KeyframeInterval
// frames and on request, SPS and PPS repeated before every IDR, Annex B
// output. MaxNALSize is not supported (the stream is not packetized into
// RTP) and must be 0. libx264 is GPL: see the package README.
func NewH264HighEncoder(cfg VideoEncoderConfig, opts ...X264Options) (VideoEncoder, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.MaxNALSize != 0 {
		return nil, fmt.Errorf("%w: MaxNALSize is not supported by the libx264 encoder", ErrBadConfig)
	}
	var o X264Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Profile == "" {
		o.Profile = ProfileHigh
	}
	if o.Preset == "" {
		o.Preset = "veryfast"
	}
	if o.Threads <= 0 {
		o.Threads = 1
	}
	if (o.Profile != ProfileHigh && o.Profile != ProfileMain) || o.Threads > 16 {
		return nil, fmt.Errorf("%w: x264 profile %q, threads %d", ErrBadConfig, o.Profile, o.Threads)
	}
	profile, preset := C.CString(string(o.Profile)), C.CString(o.Preset)
	defer C.free(unsafe.Pointer(profile))
	defer C.free(unsafe.Pointer(preset))
	avQuietOnce.Do(func() { C.vmrd_x264_quiet() })
	var e *C.vmrd_x264
	if r := C.vmrd_x264_open(&e, C.int(cfg.Width), C.int(cfg.Height), C.int(cfg.FPS), C.int(cfg.Bitrate),
		C.int(cfg.KeyframeInterval), profile, preset, C.int(o.Threads)); r < 0 {
		return nil, fmt.Errorf("%w: open libx264 (%s, %s): error %d", ErrLibrary, o.Profile, o.Preset, int(r))
	}
	enc := &x264Encoder{e: e, cfg: cfg, opt: o, out: make([]byte, 0, initialOutSize(cfg))}
	enc.cleanup = runtime.AddCleanup(enc, func(e *C.vmrd_x264) { C.vmrd_x264_free(e) }, e)
	return enc, nil
}

// Encode implements VideoEncoder.
func (enc *x264Encoder) Encode(f *Frame, forceKey bool) ([]byte, bool, error) {
	enc.mu.Lock()
	defer enc.mu.Unlock()
	if enc.e == nil {
		return nil, false, ErrClosed
	}
	if err := enc.cfg.checkFrame(f); err != nil {
		return nil, false, err
	}
	fk := C.int(0)
	if forceKey {
		fk = 1
	}
	r := C.vmrd_x264_encode(enc.e, (*C.uint8_t)(&f.Y[0]), C.int(f.StrideY), (*C.uint8_t)(&f.U[0]),
		(*C.uint8_t)(&f.V[0]), C.int(f.StrideUV), fk, C.int(enc.bitrate))
	enc.bitrate = 0
	if r < 0 {
		return nil, false, errX264Encode
	}
	if r == 0 {
		return enc.out[:0], false, nil
	}
	p := enc.e.pkt
	enc.out = append(enc.out[:0], unsafe.Slice((*byte)(unsafe.Pointer(p.data)), int(p.size))...)
	return enc.out, p.flags&C.AV_PKT_FLAG_KEY != 0, nil
}

// SetBitrate implements VideoEncoder; libx264 reconfigures its rate control
// at the next frame.
func (enc *x264Encoder) SetBitrate(bps int) error {
	enc.mu.Lock()
	defer enc.mu.Unlock()
	if enc.e == nil {
		return ErrClosed
	}
	if bps <= 0 {
		return fmt.Errorf("%w: bitrate %d", ErrBadConfig, bps)
	}
	enc.cfg.Bitrate, enc.bitrate = bps, bps
	return nil
}

// Close implements VideoEncoder; it is safe to call more than once.
func (enc *x264Encoder) Close() error {
	enc.mu.Lock()
	defer enc.mu.Unlock()
	if enc.e != nil {
		enc.cleanup.Stop()
		C.vmrd_x264_free(enc.e)
		enc.e = nil
	}
	return nil
}

// String names the encoder for pipeline descriptions.
func (enc *x264Encoder) String() string {
	return fmt.Sprintf("x264(%s, %s, %dx%d@%d, %d b/s)", enc.opt.Profile, enc.opt.Preset,
		enc.cfg.Width, enc.cfg.Height, enc.cfg.FPS, enc.cfg.Bitrate)
}
