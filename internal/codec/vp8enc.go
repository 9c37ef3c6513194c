package codec

/*
#cgo pkg-config: vpx
#include <stdlib.h>
#include <string.h>
#include <vpx/vpx_encoder.h>
#include <vpx/vp8cx.h>

// vmrd_vp8 lives in C memory: libvpx keeps a pointer to cfg inside ctx.
typedef struct {
	vpx_codec_ctx_t ctx;
	vpx_codec_enc_cfg_t cfg;
	int open;
	int64_t pts;
	// The frame packet of the last encode; it points into libvpx's output
	// buffer and stays valid until the next vpx_codec_encode.
	const uint8_t *data;
	size_t size;
	int key;
	int frames;
} vmrd_vp8;

static void vmrd_vp8_free(vmrd_vp8 *e) {
	if (e == NULL) return;
	if (e->open) vpx_codec_destroy(&e->ctx);
	free(e);
}

// The vpx_codec_control calls are variadic, which cgo cannot call.
static int vmrd_vp8_open(vmrd_vp8 **out, int w, int h, int fps, int kbps, int kf_interval, int cpu_used) {
	*out = NULL;
	vmrd_vp8 *e = calloc(1, sizeof *e);
	if (e == NULL) return VPX_CODEC_MEM_ERROR;
	vpx_codec_enc_cfg_t *c = &e->cfg;
	vpx_codec_err_t r = vpx_codec_enc_config_default(vpx_codec_vp8_cx(), c, 0);
	if (r != VPX_CODEC_OK) {
		free(e);
		return r;
	}
	c->g_w = w;
	c->g_h = h;
	c->g_timebase.num = 1;
	c->g_timebase.den = fps;
	c->g_threads = 1;
	c->g_lag_in_frames = 0;
	c->g_pass = VPX_RC_ONE_PASS;
	c->g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
	c->rc_end_usage = VPX_CBR;
	c->rc_target_bitrate = kbps;
	c->rc_dropframe_thresh = 0;
	c->rc_resize_allowed = 0;
	c->rc_min_quantizer = 2;
	c->rc_max_quantizer = 56;
	c->rc_undershoot_pct = 100;
	c->rc_overshoot_pct = 15;
	c->rc_buf_initial_sz = 500;
	c->rc_buf_optimal_sz = 600;
	c->rc_buf_sz = 1000;
	if (kf_interval > 0) {
		// min == max gives a fixed interval without scene-cut keyframes.
		c->kf_mode = VPX_KF_AUTO;
		c->kf_min_dist = kf_interval;
		c->kf_max_dist = kf_interval;
	} else {
		c->kf_mode = VPX_KF_DISABLED;
	}
	r = vpx_codec_enc_init(&e->ctx, vpx_codec_vp8_cx(), c, 0);
	if (r != VPX_CODEC_OK) {
		free(e);
		return r;
	}
	e->open = 1;
	if ((r = vpx_codec_control(&e->ctx, VP8E_SET_CPUUSED, cpu_used)) != VPX_CODEC_OK ||
	    (r = vpx_codec_control(&e->ctx, VP8E_SET_NOISE_SENSITIVITY, 0u)) != VPX_CODEC_OK ||
	    (r = vpx_codec_control(&e->ctx, VP8E_SET_STATIC_THRESHOLD, 1u)) != VPX_CODEC_OK ||
	    (r = vpx_codec_control(&e->ctx, VP8E_SET_TOKEN_PARTITIONS, VP8_ONE_TOKENPARTITION)) != VPX_CODEC_OK ||
	    (r = vpx_codec_control(&e->ctx, VP8E_SET_MAX_INTRA_BITRATE_PCT, 300u)) != VPX_CODEC_OK) {
		vmrd_vp8_free(e);
		return r;
	}
	*out = e;
	return 0;
}

// vmrd_vp8_encode encodes one picture. The planes are Go memory: the image
// descriptor is on this stack frame and libvpx copies the pixels (lag 0).
static int vmrd_vp8_encode(vmrd_vp8 *e, uint8_t *y, uint8_t *u, uint8_t *v, int sy, int suv, int w, int h, int force) {
	vpx_image_t img;
	memset(&img, 0, sizeof img);
	img.fmt = VPX_IMG_FMT_I420;
	img.w = img.d_w = w;
	img.h = img.d_h = h;
	img.x_chroma_shift = 1;
	img.y_chroma_shift = 1;
	img.bit_depth = 8;
	img.bps = 12;
	img.planes[VPX_PLANE_Y] = y;
	img.planes[VPX_PLANE_U] = u;
	img.planes[VPX_PLANE_V] = v;
	img.stride[VPX_PLANE_Y] = sy;
	img.stride[VPX_PLANE_U] = suv;
	img.stride[VPX_PLANE_V] = suv;
	e->data = NULL;
	e->size = 0;
	e->key = 0;
	e->frames = 0;
	vpx_codec_err_t r = vpx_codec_encode(&e->ctx, &img, e->pts++, 1, force ? VPX_EFLAG_FORCE_KF : 0, VPX_DL_REALTIME);
	if (r != VPX_CODEC_OK) return r;
	vpx_codec_iter_t it = NULL;
	const vpx_codec_cx_pkt_t *p;
	while ((p = vpx_codec_get_cx_data(&e->ctx, &it)) != NULL) {
		if (p->kind != VPX_CODEC_CX_FRAME_PKT) continue;
		e->frames++;
		e->data = p->data.frame.buf;
		e->size = p->data.frame.sz;
		e->key = (p->data.frame.flags & VPX_FRAME_IS_KEY) != 0;
	}
	return 0;
}

// vmrd_vp8_set_active_map sets which macroblocks the next frames code
// (libvpx copies the map); map NULL makes every one active again.
static int vmrd_vp8_set_active_map(vmrd_vp8 *e, unsigned char *map, int rows, int cols) {
	vpx_active_map_t m;
	m.active_map = map;
	m.rows = rows; // checked against the frame's grid even for NULL
	m.cols = cols;
	return vpx_codec_control(&e->ctx, VP8E_SET_ACTIVEMAP, &m);
}

static int vmrd_vp8_set_bitrate(vmrd_vp8 *e, int kbps) {
	e->cfg.rc_target_bitrate = kbps;
	return vpx_codec_enc_config_set(&e->ctx, &e->cfg);
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// VP8CPUUsed is libvpx's speed for our encoders: negative is a fixed speed
// (positive would let libvpx change it by the time each frame took). -8
// takes about half the CPU time of -6, the WebRTC default, for 0.2 dB less
// PSNR at the same bitrate (720p textured motion at 1.5 Mbit/s, measured
// with BenchmarkVP8Encode720p); an MCU encodes many canvases, so the CPU
// wins.
const VP8CPUUsed = -8

// vp8Encoder encodes VP8 with libvpx for real-time use: one pass, CBR, no
// frame dropping, no lag, error resilient, fixed speed (VP8CPUUsed).
// Keyframes are capped at three times an average frame
// (VP8E_SET_MAX_INTRA_BITRATE_PCT) so one does not burst the link.
type vp8Encoder struct {
	mu      sync.Mutex
	e       *C.vmrd_vp8
	cfg     VideoEncoderConfig
	out     []byte
	cleanup runtime.Cleanup
}

var (
	_ VideoEncoder     = (*vp8Encoder)(nil)
	_ ActiveMapEncoder = (*vp8Encoder)(nil)
)

// NewVP8Encoder returns a single-threaded real-time VP8 encoder.
func NewVP8Encoder(cfg VideoEncoderConfig) (VideoEncoder, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	var e *C.vmrd_vp8
	if r := C.vmrd_vp8_open(&e, C.int(cfg.Width), C.int(cfg.Height), C.int(cfg.FPS), C.int(vp8Kbps(cfg.Bitrate)),
		C.int(cfg.KeyframeInterval), C.int(VP8CPUUsed)); r != 0 {
		return nil, fmt.Errorf("%w: libvpx initialisation failed: %s", ErrLibrary, C.GoString(C.vpx_codec_err_to_string(C.vpx_codec_err_t(r))))
	}
	enc := &vp8Encoder{e: e, cfg: cfg, out: make([]byte, initialOutSize(cfg))}
	enc.cleanup = runtime.AddCleanup(enc, func(e *C.vmrd_vp8) { C.vmrd_vp8_free(e) }, e)
	return enc, nil
}

// vp8Kbps converts bits per second to libvpx's kilobits, at least 1.
func vp8Kbps(bps int) int { return max(1, (bps+500)/1000) }

var errVP8Encode = fmt.Errorf("%w: libvpx encode failed", ErrLibrary)

// Encode implements VideoEncoder.
func (enc *vp8Encoder) Encode(f *Frame, forceKey bool) ([]byte, bool, error) {
	enc.mu.Lock()
	defer enc.mu.Unlock()
	if enc.e == nil {
		return nil, false, ErrClosed
	}
	if err := enc.cfg.checkFrame(f); err != nil {
		return nil, false, err
	}
	force := C.int(0)
	if forceKey {
		force = 1
	}
	if r := C.vmrd_vp8_encode(enc.e, (*C.uint8_t)(&f.Y[0]), (*C.uint8_t)(&f.U[0]), (*C.uint8_t)(&f.V[0]),
		C.int(f.StrideY), C.int(f.StrideUV), C.int(f.Width), C.int(f.Height), force); r != 0 {
		return nil, false, errVP8Encode
	}
	if enc.e.frames != 1 || enc.e.data == nil {
		// No frame (rate control dropped it) or, impossible with lag 0,
		// more than one: send nothing rather than a bad concatenation.
		return enc.out[:0], false, nil
	}
	n := int(enc.e.size)
	if n > len(enc.out) {
		enc.out = make([]byte, n+n/2)
	}
	copy(enc.out, unsafe.Slice((*byte)(unsafe.Pointer(enc.e.data)), n))
	return enc.out[:n], enc.e.key != 0, nil
}

// SetBitrate implements VideoEncoder.
func (enc *vp8Encoder) SetBitrate(bps int) error {
	enc.mu.Lock()
	defer enc.mu.Unlock()
	if enc.e == nil {
		return ErrClosed
	}
	if bps <= 0 {
		return fmt.Errorf("%w: bitrate %d", ErrBadConfig, bps)
	}
	if r := C.vmrd_vp8_set_bitrate(enc.e, C.int(vp8Kbps(bps))); r != 0 {
		return fmt.Errorf("%w: libvpx refused bitrate %d: %s", ErrLibrary, bps, C.GoString(C.vpx_codec_err_to_string(C.vpx_codec_err_t(r))))
	}
	enc.cfg.Bitrate = bps
	return nil
}

// Close implements VideoEncoder; it is safe to call more than once.
func (enc *vp8Encoder) Close() error {
	enc.mu.Lock()
	defer enc.mu.Unlock()
	if enc.e != nil {
		enc.cleanup.Stop()
		C.vmrd_vp8_free(enc.e)
		enc.e = nil
	}
	return nil
}

// String names the encoder for pipeline descriptions.
func (enc *vp8Encoder) String() string {
	return fmt.Sprintf("VP8(libvpx %dx%d@%d)", enc.cfg.Width, enc.cfg.Height, enc.cfg.FPS)
}

// SetActiveMap implements ActiveMapEncoder with libvpx's active map
// (VP8E_SET_ACTIVEMAP): inactive macroblocks of an inter frame are coded as
// skipped, with no motion search and no residual. Keyframes code every
// macroblock whatever the map says.
func (enc *vp8Encoder) SetActiveMap(active []byte) error {
	enc.mu.Lock()
	defer enc.mu.Unlock()
	if enc.e == nil {
		return ErrClosed
	}
	cols, rows := MacroblockGrid(enc.cfg.Width, enc.cfg.Height)
	var p *C.uchar
	if active != nil {
		if len(active) != cols*rows {
			return fmt.Errorf("%w: active map of %d macroblocks for a %dx%d grid", ErrBadConfig, len(active), cols, rows)
		}
		p = (*C.uchar)(unsafe.Pointer(&active[0]))
	}
	if r := C.vmrd_vp8_set_active_map(enc.e, p, C.int(rows), C.int(cols)); r != 0 {
		return fmt.Errorf("%w: libvpx active map: %s", ErrLibrary, C.GoString(C.vpx_codec_err_to_string(C.vpx_codec_err_t(r))))
	}
	return nil
}
