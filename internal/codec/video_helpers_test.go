package codec

import (
	"bytes"
	"fmt"
	"testing"
)

// yuv is a colour as limited-range BT.601 Y, Cb, Cr.
type yuv struct{ Y, U, V byte }

func (c yuv) String() string { return fmt.Sprintf("yuv(%d,%d,%d)", c.Y, c.U, c.V) }

var (
	colRed   = yuv{81, 90, 240}
	colGreen = yuv{145, 54, 34}
	colBlue  = yuv{41, 240, 110}
	colWhite = yuv{235, 128, 128}
	colGrey  = yuv{128, 128, 128}
)

// videoCodecCase builds an encoder of one codec.
type videoCodecCase struct {
	codec VideoCodec
	enc   func(VideoEncoderConfig) (VideoEncoder, error)
}

var videoCodecCases = []videoCodecCase{
	{H264, NewH264Encoder},
	{VP8, NewVP8Encoder},
}

// solidFrame returns a w x h frame of one colour.
func solidFrame(w, h int, c yuv) *Frame {
	f := NewFrame(w, h)
	f.Fill(c.Y, c.U, c.V)
	return f
}

// quadColours are the colours of quadFrame: top left, top right, bottom
// left, bottom right.
var quadColours = [4]yuv{colRed, colGreen, colBlue, colWhite}

// quadFrame returns a frame split into four quadrants of quadColours.
func quadFrame(w, h int) *Frame {
	f := NewFrame(w, h)
	hw, hh := w/2, h/2
	for i, c := range quadColours {
		s := f.Sub((i%2)*hw, (i/2)*hh, hw, hh)
		s.Fill(c.Y, c.U, c.V)
	}
	return f
}

// pixel returns the colour of f at (x, y).
func pixel(f *Frame, x, y int) yuv {
	return yuv{f.Y[y*f.StrideY+x], f.U[(y/2)*f.StrideUV+x/2], f.V[(y/2)*f.StrideUV+x/2]}
}

// near reports whether a and b differ by at most tol in every component.
func near(a, b yuv, tol int) bool {
	d := func(p, q byte) bool { return max(int(p)-int(q), int(q)-int(p)) <= tol }
	return d(a.Y, b.Y) && d(a.U, b.U) && d(a.V, b.V)
}

// checkColour fails the test when f at (x, y) is not near want.
func checkColour(t *testing.T, f *Frame, x, y int, want yuv) {
	t.Helper()
	if got := pixel(f, x, y); !near(got, want, 10) {
		t.Errorf("pixel (%d,%d) of %dx%d = %v, want %v ±10", x, y, f.Width, f.Height, got, want)
	}
}

// checkQuad checks the centre of every quadrant of a decoded quadFrame.
func checkQuad(t *testing.T, f *Frame) {
	t.Helper()
	for i, c := range quadColours {
		checkColour(t, f, (i%2)*f.Width/2+f.Width/4, (i/2)*f.Height/2+f.Height/4, c)
	}
}

// texturedFrame returns a w x h frame with detail everywhere (ramps,
// blocks and pseudo-random noise), which is costly to encode; seed varies
// the noise.
func texturedFrame(w, h int, seed uint32) *Frame {
	f := NewFrame(w, h)
	s := seed*2654435761 + 1
	for y := range h {
		for x := range w {
			s = s*1664525 + 1013904223
			v := (x*3+y*2)&0xff ^ ((x/16+y/16)&1)*64
			f.Y[y*f.StrideY+x] = byte(v/2 + int(s>>26))
		}
	}
	for y := range (h + 1) / 2 {
		for x := range (w + 1) / 2 {
			f.U[y*f.StrideUV+x] = byte(64 + (x*2)&0x7f)
			f.V[y*f.StrideUV+x] = byte(64 + (y*2)&0x7f)
		}
	}
	return f
}

// movingPicture returns frames of w x h that are views of one larger
// textured picture, shifted a little each frame, so consecutive frames
// differ the way a panning camera's do.
func movingPicture(w, h, n int) []Frame {
	big := texturedFrame(w+2*n+2, h+n+2, 7)
	out := make([]Frame, n)
	for i := range out {
		out[i] = big.Sub(2*i, i, w, h)
	}
	return out
}

func mustEncoder(t testing.TB, c videoCodecCase, cfg VideoEncoderConfig) VideoEncoder {
	t.Helper()
	enc, err := c.enc(cfg)
	if err != nil {
		t.Fatalf("new %s encoder %+v: %v", c.codec, cfg, err)
	}
	t.Cleanup(func() { enc.Close() })
	return enc
}

func mustDecoder(t testing.TB, c VideoCodec) VideoDecoder {
	t.Helper()
	dec, err := NewVideoDecoder(c)
	if err != nil {
		t.Fatalf("new %s decoder: %v", c, err)
	}
	t.Cleanup(func() { dec.Close() })
	return dec
}

// encodeFrames encodes frames in order (the first as a keyframe) and
// returns copies of the outputs.
func encodeFrames(t testing.TB, enc VideoEncoder, frames ...*Frame) [][]byte {
	t.Helper()
	var out [][]byte
	for i, f := range frames {
		au, _, err := enc.Encode(f, i == 0)
		if err != nil {
			t.Fatalf("encode frame %d: %v", i, err)
		}
		out = append(out, bytes.Clone(au))
	}
	return out
}

// nalUnits splits an Annex B stream into NAL units without start codes.
func nalUnits(b []byte) [][]byte {
	var nals [][]byte
	start := -1
	for i := 0; i+3 <= len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				end := i
				for end > start && b[end-1] == 0 {
					end--
				}
				nals = append(nals, b[start:end])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		nals = append(nals, b[start:])
	}
	return nals
}

// accessUnits splits an Annex B elementary stream into access units
// (ITU-T H.264 section 7.4.1.2.3): a new one begins with an access unit
// delimiter, SPS, PPS or SEI after a coded slice, or with a slice whose
// first_mb_in_slice is 0 after another slice.
func accessUnits(stream []byte) [][]byte {
	var aus [][]byte
	var cur []byte
	haveVCL := false
	for _, n := range nalUnits(stream) {
		typ := n[0] & 0x1f
		newAU := false
		switch {
		case typ == 6 || typ == 7 || typ == 8 || typ == 9:
			newAU = haveVCL
		case typ == 1 || typ == 5:
			// first_mb_in_slice is ue(v): 0 is coded as the single bit 1.
			newAU = haveVCL && len(n) > 1 && n[1]&0x80 != 0
		}
		if newAU {
			aus = append(aus, cur)
			cur, haveVCL = nil, false
		}
		cur = append(cur, 0, 0, 0, 1)
		cur = append(cur, n...)
		if typ == 1 || typ == 5 {
			haveVCL = true
		}
	}
	if len(cur) > 0 {
		aus = append(aus, cur)
	}
	return aus
}

// nalTypes lists the nal_unit_type of every NAL unit in an access unit.
func nalTypes(au []byte) []int {
	var ts []int
	for _, n := range nalUnits(au) {
		ts = append(ts, int(n[0]&0x1f))
	}
	return ts
}
