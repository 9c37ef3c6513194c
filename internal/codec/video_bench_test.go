package codec

import (
	"testing"
)

// Run with: go test -run '^$' -bench 'Video|H264|VP8|Scale360' -benchtime 300x ./internal/codec

// reportNsPerFrame reports the time per frame (one b.Loop iteration).
func reportNsPerFrame(b *testing.B) {
	b.Helper()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/frame")
}

func benchmarkEncode(b *testing.B, c videoCodecCase, w, h int) {
	frames := movingPicture(w, h, 60)
	enc := mustEncoder(b, c, VideoEncoderConfig{Width: w, Height: h, FPS: 30, Bitrate: 1_500_000})
	var bytes int
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		out, _, err := enc.Encode(&frames[i%len(frames)], false)
		if err != nil {
			b.Fatal(err)
		}
		bytes += len(out)
	}
	reportNsPerFrame(b)
	b.ReportMetric(float64(bytes)/float64(b.N), "bytes/frame")
}

func BenchmarkH264Encode720p(b *testing.B) { benchmarkEncode(b, videoCodecCases[0], 1280, 720) }
func BenchmarkVP8Encode720p(b *testing.B)  { benchmarkEncode(b, videoCodecCases[1], 1280, 720) }

func benchmarkDecode(b *testing.B, c VideoCodec, w, h int) {
	aus := codecStream(b, c, w, h, 60)
	dec := mustDecoder(b, c)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// The stream starts with a keyframe, so looping over it is a
		// valid stream.
		f, err := dec.Decode(aus[i%len(aus)])
		if err != nil || f == nil {
			b.Fatalf("decode %d: %v, %v", i, f, err)
		}
	}
	reportNsPerFrame(b)
}

func BenchmarkH264Decode360p(b *testing.B) { benchmarkDecode(b, H264, 640, 360) }
func BenchmarkVP8Decode360p(b *testing.B)  { benchmarkDecode(b, VP8, 640, 360) }

// BenchmarkScale360to640x360cell scales a decoded 640x360 picture into a
// cell of a 1280x720 canvas: the 2x2 layout's cell (same size, a copy), the
// 3x3 layout's (downscale) and, for comparison, a 720p source into the 2x2
// cell.
func BenchmarkScale360to640x360cell(b *testing.B) {
	cases := []struct {
		name         string
		srcW, srcH   int
		cellW, cellH int
	}{
		{"640x360_to_640x360", 640, 360, 640, 360},
		{"640x360_to_426x240", 640, 360, 426, 240},
		{"1280x720_to_640x360", 1280, 720, 640, 360},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			src := texturedFrame(tc.srcW, tc.srcH, 3)
			canvas := NewFrame(1280, 720)
			cell := canvas.Sub(640, 360, tc.cellW, tc.cellH)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := Scale(&cell, src); err != nil {
					b.Fatal(err)
				}
			}
			reportNsPerFrame(b)
		})
	}
}
