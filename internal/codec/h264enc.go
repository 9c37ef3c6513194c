package codec

/*
#cgo pkg-config: openh264
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <wels/codec_api.h>

// vmrd_h264 holds the encoder and its output description in C memory.
typedef struct {
	ISVCEncoder *enc;
	SFrameBSInfo info;
} vmrd_h264;

static void vmrd_h264_free(vmrd_h264 *e) {
	if (e == NULL) return;
	if (e->enc != NULL) {
		(*e->enc)->Uninitialize(e->enc);
		WelsDestroySVCEncoder(e->enc);
	}
	free(e);
}

// vmrd_h264_open sets up a constrained baseline, single-layer, single-thread
// real-time encoder. max_nal > 0 switches to size-limited slices so every
// NAL unit fits one RTP packet. Returns 0 or an openh264 error code (or -1).
static int vmrd_h264_open(vmrd_h264 **out, int w, int h, float fps, int bitrate, int max_nal, int idr_interval, int complexity) {
	*out = NULL;
	vmrd_h264 *e = calloc(1, sizeof *e);
	if (e == NULL) return -1;
	if (WelsCreateSVCEncoder(&e->enc) != 0 || e->enc == NULL) {
		e->enc = NULL;
		vmrd_h264_free(e);
		return -1;
	}
	ISVCEncoder *enc = e->enc;
	int trace = WELS_LOG_QUIET;
	(*enc)->SetOption(enc, ENCODER_OPTION_TRACE_LEVEL, &trace);

	SEncParamExt p;
	memset(&p, 0, sizeof p);
	(*enc)->GetDefaultParams(enc, &p);
	p.iUsageType = CAMERA_VIDEO_REAL_TIME;
	p.iPicWidth = w;
	p.iPicHeight = h;
	p.iTargetBitrate = bitrate;
	p.iMaxBitrate = UNSPECIFIED_BIT_RATE;
	p.iRCMode = RC_BITRATE_MODE;
	p.fMaxFrameRate = fps;
	p.iTemporalLayerNum = 1;
	p.iSpatialLayerNum = 1;
	p.iComplexityMode = (ECOMPLEXITY_MODE)complexity;
	p.uiIntraPeriod = idr_interval;
	p.iNumRefFrame = 1;
	p.eSpsPpsIdStrategy = CONSTANT_ID;
	p.bPrefixNalAddingCtrl = false;
	p.bEnableSSEI = false;
	p.bSimulcastAVC = false;
	p.iPaddingFlag = 0;
	p.iEntropyCodingModeFlag = 0; // CAVLC: constrained baseline
	p.bEnableFrameSkip = false;
	p.bEnableLongTermReference = false;
	p.iMultipleThreadIdc = 1;
	p.bUseLoadBalancing = false;
	p.bEnableDenoise = false;
	// Background detection and adaptive quantisation cost about a fifth
	// of the encode time (measured with BenchmarkCompareFFmpegH264); an
	// MCU encodes dozens of canvases, so CPU wins over the small gain in
	// perceived quality.
	p.bEnableBackgroundDetection = false;
	p.bEnableAdaptiveQuant = false;
	p.bEnableFrameCroppingFlag = true;
	p.bEnableSceneChangeDetect = false;
	p.iLoopFilterDisableIdc = 0;

	SSpatialLayerConfig *l = &p.sSpatialLayers[0];
	l->iVideoWidth = w;
	l->iVideoHeight = h;
	l->fFrameRate = fps;
	l->iSpatialBitrate = bitrate;
	l->iMaxSpatialBitrate = UNSPECIFIED_BIT_RATE;
	l->uiProfileIdc = PRO_BASELINE;
	l->uiLevelIdc = LEVEL_UNKNOWN;
	if (max_nal > 0) {
		l->sSliceArgument.uiSliceMode = SM_SIZELIMITED_SLICE;
		l->sSliceArgument.uiSliceSizeConstraint = max_nal;
		p.uiMaxNalSize = max_nal;
	} else {
		l->sSliceArgument.uiSliceMode = SM_SINGLE_SLICE;
		l->sSliceArgument.uiSliceNum = 1;
		p.uiMaxNalSize = 0;
	}
	int r = (*enc)->InitializeExt(enc, &p);
	if (r != 0) {
		vmrd_h264_free(e);
		return r;
	}
	int fmt = videoFormatI420;
	(*enc)->SetOption(enc, ENCODER_OPTION_DATAFORMAT, &fmt);
	*out = e;
	return 0;
}

// vmrd_h264_encode encodes one picture. The planes are Go memory: they are
// only referenced from this stack frame, never stored in e.
static int vmrd_h264_encode(vmrd_h264 *e, uint8_t *y, uint8_t *u, uint8_t *v, int sy, int suv,
                            int w, int h, long long ts_ms, int force) {
	ISVCEncoder *enc = e->enc;
	if (force) (*enc)->ForceIntraFrame(enc, true);
	SSourcePicture pic;
	memset(&pic, 0, sizeof pic);
	pic.iColorFormat = videoFormatI420;
	pic.iStride[0] = sy;
	pic.iStride[1] = suv;
	pic.iStride[2] = suv;
	pic.pData[0] = y;
	pic.pData[1] = u;
	pic.pData[2] = v;
	pic.iPicWidth = w;
	pic.iPicHeight = h;
	pic.uiTimeStamp = ts_ms;
	e->info.iLayerNum = 0;
	e->info.eFrameType = videoFrameTypeInvalid;
	return (*enc)->EncodeFrame(enc, &pic, &e->info);
}

static int vmrd_h264_frame_type(vmrd_h264 *e) { return e->info.eFrameType; }

// vmrd_h264_collect returns the size of the access unit just encoded and,
// when it fits in cap bytes, copies it to dst. openh264 already puts a
// four-byte start code before every NAL unit it returns.
static int vmrd_h264_collect(vmrd_h264 *e, uint8_t *dst, int cap) {
	int total = 0;
	for (int i = 0; i < e->info.iLayerNum; i++) {
		const SLayerBSInfo *l = &e->info.sLayerInfo[i];
		for (int j = 0; j < l->iNalCount; j++) total += l->pNalLengthInByte[j];
	}
	if (total > cap) return total;
	int off = 0;
	for (int i = 0; i < e->info.iLayerNum; i++) {
		const SLayerBSInfo *l = &e->info.sLayerInfo[i];
		int n = 0;
		for (int j = 0; j < l->iNalCount; j++) n += l->pNalLengthInByte[j];
		memcpy(dst + off, l->pBsBuf, n);
		off += n;
	}
	return total;
}

static int vmrd_h264_set_bitrate(vmrd_h264 *e, int bps) {
	SBitrateInfo b;
	b.iLayer = SPATIAL_LAYER_ALL;
	b.iBitrate = bps;
	return (*e->enc)->SetOption(e->enc, ENCODER_OPTION_BITRATE, &b);
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// h264Complexity is openh264's ECOMPLEXITY_MODE: LOW_COMPLEXITY, because a
// bridge runs one encoder per encoder group on a couple of cores.
const h264Complexity = C.LOW_COMPLEXITY

// h264Encoder encodes constrained baseline H.264 with openh264.
//
// Rate control is RC_BITRATE_MODE with frame skipping off: the encoder
// never returns an empty access unit to hold the rate, it raises the
// quantiser instead and may overshoot the target for a while on hard
// pictures. Scene-change detection is off too, so IDRs come only from
// KeyframeInterval and forceKey; every IDR carries SPS and PPS.
type h264Encoder struct {
	mu      sync.Mutex
	e       *C.vmrd_h264
	cfg     VideoEncoderConfig
	frames  int64
	out     []byte
	cleanup runtime.Cleanup
}

var _ VideoEncoder = (*h264Encoder)(nil)

// NewH264Encoder returns a constrained baseline H.264 encoder for real-time
// camera video, single-threaded, with bitrate rate control.
func NewH264Encoder(cfg VideoEncoderConfig) (VideoEncoder, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.MaxNALSize != 0 && cfg.MaxNALSize < 200 {
		return nil, fmt.Errorf("%w: MaxNALSize %d is below 200 bytes", ErrBadConfig, cfg.MaxNALSize)
	}
	var e *C.vmrd_h264
	if r := C.vmrd_h264_open(&e, C.int(cfg.Width), C.int(cfg.Height), C.float(cfg.FPS), C.int(cfg.Bitrate),
		C.int(cfg.MaxNALSize), C.int(cfg.KeyframeInterval), h264Complexity); r != 0 {
		return nil, fmt.Errorf("%w: openh264 initialisation failed (code %d) for %dx%d", ErrLibrary, int(r), cfg.Width, cfg.Height)
	}
	enc := &h264Encoder{e: e, cfg: cfg, out: make([]byte, initialOutSize(cfg))}
	enc.cleanup = runtime.AddCleanup(enc, func(e *C.vmrd_h264) { C.vmrd_h264_free(e) }, e)
	return enc, nil
}

var (
	errH264Encode = fmt.Errorf("%w: openh264 EncodeFrame failed", ErrLibrary)
)

// Encode implements VideoEncoder.
func (enc *h264Encoder) Encode(f *Frame, forceKey bool) ([]byte, bool, error) {
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
	ts := enc.frames * 1000 / int64(enc.cfg.FPS)
	enc.frames++
	r := C.vmrd_h264_encode(enc.e, (*C.uint8_t)(&f.Y[0]), (*C.uint8_t)(&f.U[0]), (*C.uint8_t)(&f.V[0]),
		C.int(f.StrideY), C.int(f.StrideUV), C.int(f.Width), C.int(f.Height), C.longlong(ts), force)
	if r != 0 {
		return nil, false, errH264Encode
	}
	switch C.vmrd_h264_frame_type(enc.e) {
	case C.videoFrameTypeSkip:
		return enc.out[:0], false, nil
	case C.videoFrameTypeInvalid:
		return nil, false, errH264Encode
	}
	key := C.vmrd_h264_frame_type(enc.e) == C.videoFrameTypeIDR
	n := int(C.vmrd_h264_collect(enc.e, (*C.uint8_t)(unsafe.Pointer(&enc.out[0])), C.int(len(enc.out))))
	if n > len(enc.out) {
		enc.out = make([]byte, n+n/2)
		n = int(C.vmrd_h264_collect(enc.e, (*C.uint8_t)(unsafe.Pointer(&enc.out[0])), C.int(len(enc.out))))
	}
	return enc.out[:n], key, nil
}

// SetBitrate implements VideoEncoder.
func (enc *h264Encoder) SetBitrate(bps int) error {
	enc.mu.Lock()
	defer enc.mu.Unlock()
	if enc.e == nil {
		return ErrClosed
	}
	if bps <= 0 {
		return fmt.Errorf("%w: bitrate %d", ErrBadConfig, bps)
	}
	if r := C.vmrd_h264_set_bitrate(enc.e, C.int(bps)); r != 0 {
		return fmt.Errorf("%w: openh264 refused bitrate %d (code %d)", ErrLibrary, bps, int(r))
	}
	enc.cfg.Bitrate = bps
	return nil
}

// Close implements VideoEncoder; it is safe to call more than once.
func (enc *h264Encoder) Close() error {
	enc.mu.Lock()
	defer enc.mu.Unlock()
	if enc.e != nil {
		enc.cleanup.Stop()
		C.vmrd_h264_free(enc.e)
		enc.e = nil
	}
	return nil
}

// String names the encoder for pipeline descriptions.
func (enc *h264Encoder) String() string {
	return fmt.Sprintf("H264(openh264 %dx%d@%d)", enc.cfg.Width, enc.cfg.Height, enc.cfg.FPS)
}
