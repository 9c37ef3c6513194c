package codec

/*
#cgo LDFLAGS: -lyuv
#include <stdint.h>
#include <libyuv/scale.h>
#include <libyuv/planar_functions.h>
#include <libyuv/convert.h>
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// MaxVideoDimension bounds the width and height of any picture vmrd
// decodes, scales or encodes: 1920x1080 is the largest canvas, and inputs
// above 4096 pixels on a side are refused rather than allocated (a sender
// declaring 16384x16384 would otherwise cost 400 MB per frame).
const MaxVideoDimension = 4096

// Frame is a planar YUV 4:2:0 (I420) picture. Y holds Height rows of
// StrideY bytes; U and V hold (Height+1)/2 rows of StrideUV bytes each. A
// Frame may be a view into a larger one (see Sub): then the slices start at
// the view's first pixel and run to the end of the parent's planes.
type Frame struct {
	Width, Height     int
	Y, U, V           []byte
	StrideY, StrideUV int
}

// NewFrame allocates a w x h frame in one block. Width and height are
// rounded up to even numbers so the chroma planes cover every pixel.
func NewFrame(w, h int) *Frame {
	w, h = (w+1)&^1, (h+1)&^1
	ys, cs := w*h, (w/2)*(h/2)
	buf := make([]byte, ys+2*cs)
	return &Frame{Width: w, Height: h, Y: buf[:ys:ys], U: buf[ys : ys+cs : ys+cs], V: buf[ys+cs:],
		StrideY: w, StrideUV: w / 2}
}

// valid reports whether the planes hold the frame's pixels.
func (f *Frame) valid() bool {
	if f == nil || f.Width <= 0 || f.Height <= 0 || f.Width > MaxVideoDimension || f.Height > MaxVideoDimension {
		return false
	}
	cw, ch := (f.Width+1)/2, (f.Height+1)/2
	return f.StrideY >= f.Width && f.StrideUV >= cw &&
		len(f.Y) >= f.StrideY*(f.Height-1)+f.Width &&
		len(f.U) >= f.StrideUV*(ch-1)+cw && len(f.V) >= f.StrideUV*(ch-1)+cw
}

// Sub is a view of the rectangle (x, y, w, h) of f, sharing its memory. x
// and y are rounded down to even numbers (chroma is subsampled 2x2); the
// rectangle is clipped to f.
func (f *Frame) Sub(x, y, w, h int) Frame {
	x, y = max(0, x&^1), max(0, y&^1)
	w, h = min(w, f.Width-x), min(h, f.Height-y)
	if w <= 0 || h <= 0 {
		return Frame{}
	}
	cx, cy := x/2, y/2
	return Frame{Width: w, Height: h,
		Y: f.Y[y*f.StrideY+x:], U: f.U[cy*f.StrideUV+cx:], V: f.V[cy*f.StrideUV+cx:],
		StrideY: f.StrideY, StrideUV: f.StrideUV}
}

// Fill paints the whole frame one colour, given as Y, Cb, Cr.
func (f *Frame) Fill(y, u, v byte) {
	if !f.valid() {
		return
	}
	cw, ch := (f.Width+1)/2, (f.Height+1)/2
	C.SetPlane((*C.uint8_t)(&f.Y[0]), C.int(f.StrideY), C.int(f.Width), C.int(f.Height), C.uint32_t(y))
	C.SetPlane((*C.uint8_t)(&f.U[0]), C.int(f.StrideUV), C.int(cw), C.int(ch), C.uint32_t(u))
	C.SetPlane((*C.uint8_t)(&f.V[0]), C.int(f.StrideUV), C.int(cw), C.int(ch), C.uint32_t(v))
}

// CopyFrom copies src into f; both must have the same size.
func (f *Frame) CopyFrom(src *Frame) error {
	if !f.valid() || !src.valid() || f.Width != src.Width || f.Height != src.Height {
		return fmt.Errorf("%w: copy %dx%d into %dx%d", ErrBadFrame, src.Width, src.Height, f.Width, f.Height)
	}
	C.I420Copy(
		(*C.uint8_t)(unsafe.Pointer(&src.Y[0])), C.int(src.StrideY),
		(*C.uint8_t)(unsafe.Pointer(&src.U[0])), C.int(src.StrideUV),
		(*C.uint8_t)(unsafe.Pointer(&src.V[0])), C.int(src.StrideUV),
		(*C.uint8_t)(unsafe.Pointer(&f.Y[0])), C.int(f.StrideY),
		(*C.uint8_t)(unsafe.Pointer(&f.U[0])), C.int(f.StrideUV),
		(*C.uint8_t)(unsafe.Pointer(&f.V[0])), C.int(f.StrideUV),
		C.int(f.Width), C.int(f.Height))
	return nil
}

// Scale resamples all of src into all of dst (bilinear, libyuv's SIMD
// code). dst is usually a Sub view of a canvas, so the picture is scaled
// straight into its place; to crop, pass a Sub view of the source.
func Scale(dst, src *Frame) error {
	if !dst.valid() || !src.valid() {
		return fmt.Errorf("%w: scale %dx%d to %dx%d", ErrBadFrame, src.Width, src.Height, dst.Width, dst.Height)
	}
	r := C.I420Scale(
		(*C.uint8_t)(unsafe.Pointer(&src.Y[0])), C.int(src.StrideY),
		(*C.uint8_t)(unsafe.Pointer(&src.U[0])), C.int(src.StrideUV),
		(*C.uint8_t)(unsafe.Pointer(&src.V[0])), C.int(src.StrideUV),
		C.int(src.Width), C.int(src.Height),
		(*C.uint8_t)(unsafe.Pointer(&dst.Y[0])), C.int(dst.StrideY),
		(*C.uint8_t)(unsafe.Pointer(&dst.U[0])), C.int(dst.StrideUV),
		(*C.uint8_t)(unsafe.Pointer(&dst.V[0])), C.int(dst.StrideUV),
		C.int(dst.Width), C.int(dst.Height), C.kFilterBilinear)
	if r != 0 {
		return fmt.Errorf("%w: libyuv scale returned %d", ErrBadFrame, int(r))
	}
	return nil
}
