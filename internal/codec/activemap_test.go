package codec

import (
	"errors"
	"testing"
)

// quarterMap is an active map of a w x h picture with only the macroblocks
// of its top-left quarter active.
func quarterMap(w, h int) []byte {
	cols, rows := MacroblockGrid(w, h)
	m := make([]byte, cols*rows)
	for r := range rows / 2 {
		for c := range cols / 2 {
			m[r*cols+c] = 1
		}
	}
	return m
}

// TestVP8ActiveMap: macroblocks marked inactive keep what the decoder had,
// even when the picture there changed; active ones follow the picture; a
// keyframe codes everything; and nil makes every macroblock active again.
func TestVP8ActiveMap(t *testing.T) {
	const w, h = 320, 192 // a whole number of macroblocks: 20 x 12
	e := mustEncoder(t, videoCodecCases[1], VideoEncoderConfig{Width: w, Height: h, FPS: 30, Bitrate: 1_000_000})
	enc, ok := e.(ActiveMapEncoder)
	if !ok {
		t.Fatalf("%T is not an ActiveMapEncoder", e)
	}
	dec := mustDecoder(t, VP8)
	decode := func(f *Frame, key bool) *Frame {
		t.Helper()
		out, _, err := enc.Encode(f, key)
		if err != nil || len(out) == 0 {
			t.Fatalf("encode: %d bytes, %v", len(out), err)
		}
		got, err := dec.Decode(out)
		if err != nil || got == nil {
			t.Fatalf("decode: %v, %v", got, err)
		}
		return got
	}
	red, green := solidFrame(w, h, colRed), solidFrame(w, h, colGreen)
	decode(red, true)
	for range 3 {
		decode(red, false)
	}
	if err := enc.SetActiveMap(quarterMap(w, h)); err != nil {
		t.Fatal(err)
	}
	var got *Frame
	for range 3 {
		got = decode(green, false)
	}
	checkColour(t, got, 40, 40, colGreen)     // active quarter
	checkColour(t, got, w-40, h-40, colRed)   // inactive: unchanged
	checkColour(t, got, w-40, 40, colRed)     // inactive
	got = decode(green, true)                 // keyframes code every macroblock
	checkColour(t, got, w-40, h-40, colGreen) // ...
	if err := enc.SetActiveMap(quarterMap(w, h)); err != nil {
		t.Fatal(err)
	}
	got = decode(red, false)
	checkColour(t, got, 40, 40, colRed)
	checkColour(t, got, w-40, h-40, colGreen)
	if err := enc.SetActiveMap(nil); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		got = decode(red, false)
	}
	checkColour(t, got, w-40, h-40, colRed)

	if err := enc.SetActiveMap(make([]byte, 7)); !errors.Is(err, ErrBadConfig) {
		t.Errorf("an active map of the wrong size gave %v, want ErrBadConfig", err)
	}
	_ = enc.Close()
	if err := enc.SetActiveMap(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("SetActiveMap after Close gave %v, want ErrClosed", err)
	}
}

func TestMacroblockGrid(t *testing.T) {
	for _, c := range []struct{ w, h, cols, rows int }{
		{1280, 720, 80, 45}, {1920, 1080, 120, 68}, {640, 360, 40, 23}, {16, 16, 1, 1}, {2, 2, 1, 1},
	} {
		if cols, rows := MacroblockGrid(c.w, c.h); cols != c.cols || rows != c.rows {
			t.Errorf("MacroblockGrid(%d, %d) = %d, %d; want %d, %d", c.w, c.h, cols, rows, c.cols, c.rows)
		}
	}
}

// BenchmarkVP8Encode720pQuarterActive: a 1280x720 picture of which one
// quarter moves, encoded with every macroblock active and with only that
// quarter's: what an active map saves on a 2x2 canvas where one cell
// changed.
func BenchmarkVP8Encode720pQuarterActive(b *testing.B) {
	const w, h = 1280, 720
	moving := movingPicture(w/2, h/2, 60)
	still := texturedFrame(w, h, 3)
	for _, useMap := range []bool{false, true} {
		name := "all-active"
		if useMap {
			name = "map"
		}
		b.Run(name, func(b *testing.B) {
			canvas := NewFrame(w, h)
			if err := canvas.CopyFrom(still); err != nil {
				b.Fatal(err)
			}
			quarter := canvas.Sub(0, 0, w/2, h/2)
			e := mustEncoder(b, videoCodecCases[1], VideoEncoderConfig{Width: w, Height: h, FPS: 30, Bitrate: 1_500_000})
			if _, _, err := e.Encode(canvas, true); err != nil {
				b.Fatal(err)
			}
			if useMap {
				if err := e.(ActiveMapEncoder).SetActiveMap(quarterMap(w, h)); err != nil {
					b.Fatal(err)
				}
			}
			var bytes int
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if err := quarter.CopyFrom(&moving[i%len(moving)]); err != nil {
					b.Fatal(err)
				}
				out, _, err := e.Encode(canvas, false)
				if err != nil {
					b.Fatal(err)
				}
				bytes += len(out)
			}
			reportNsPerFrame(b)
			b.ReportMetric(float64(bytes)/float64(b.N), "bytes/frame")
		})
	}
}
