package codec

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestVideoRoundTrip(t *testing.T) {
	type picture struct {
		name  string
		frame func(w, h int) *Frame
		check func(t *testing.T, f *Frame)
	}
	solid := func(c yuv) picture {
		return picture{
			name:  "solid " + c.String(),
			frame: func(w, h int) *Frame { return solidFrame(w, h, c) },
			check: func(t *testing.T, f *Frame) {
				t.Helper()
				for _, p := range [][2]int{{f.Width / 2, f.Height / 2}, {8, 8}, {f.Width - 9, f.Height - 9}} {
					checkColour(t, f, p[0], p[1], c)
				}
			},
		}
	}
	pictures := []picture{
		solid(colRed), solid(colGreen), solid(colBlue), solid(colWhite), solid(colGrey),
		{name: "quadrants", frame: quadFrame, check: checkQuad},
	}
	sizes := [][2]int{{1280, 720}, {640, 360}}
	for _, c := range videoCodecCases {
		for _, sz := range sizes {
			for _, p := range pictures {
				t.Run(fmt.Sprintf("%s/%dx%d/%s", c.codec, sz[0], sz[1], p.name), func(t *testing.T) {
					w, h := sz[0], sz[1]
					enc := mustEncoder(t, c, VideoEncoderConfig{Width: w, Height: h, FPS: 30, Bitrate: 1_000_000})
					dec := mustDecoder(t, c.codec)
					src := p.frame(w, h)
					for i := range 5 {
						au, key, err := enc.Encode(src, false)
						if err != nil {
							t.Fatalf("encode %d: %v", i, err)
						}
						if len(au) == 0 {
							t.Fatalf("encode %d: empty output", i)
						}
						if key != (i == 0) {
							t.Errorf("frame %d: key = %v, want %v", i, key, i == 0)
						}
						f, err := dec.Decode(au)
						if err != nil {
							t.Fatalf("decode %d: %v", i, err)
						}
						if f == nil {
							t.Fatalf("decode %d: no picture", i)
						}
						if f.Width != w || f.Height != h {
							t.Fatalf("decoded %dx%d, want %dx%d", f.Width, f.Height, w, h)
						}
						if !f.valid() {
							t.Fatalf("decoded frame %d has unusable planes", i)
						}
						p.check(t, f)
					}
				})
			}
		}
	}
}

func TestVideoForceKey(t *testing.T) {
	for _, c := range videoCodecCases {
		t.Run(string(c.codec), func(t *testing.T) {
			enc := mustEncoder(t, c, VideoEncoderConfig{Width: 640, Height: 360, FPS: 30, Bitrate: 500_000})
			dec := mustDecoder(t, c.codec)
			frames := movingPicture(640, 360, 30)
			forced := map[int]bool{7: true, 8: true, 20: true}
			for i := range frames {
				au, key, err := enc.Encode(&frames[i], forced[i])
				if err != nil {
					t.Fatalf("encode %d: %v", i, err)
				}
				want := i == 0 || forced[i]
				if key != want {
					t.Errorf("frame %d: key = %v, want %v (KeyframeInterval 0: keyframes only when asked)", i, key, want)
				}
				if got := bitstreamKey(t, c.codec, au); got != want {
					t.Errorf("frame %d: bitstream says key = %v, want %v", i, got, want)
				}
				if c.codec == H264 && want {
					// SPS and PPS travel with every IDR, so a receiver
					// that joins late or lost them can start here.
					if ts := nalTypes(au); !slices.Contains(ts, 7) || !slices.Contains(ts, 8) || !slices.Contains(ts, 5) {
						t.Errorf("frame %d: IDR access unit holds NAL types %v, want SPS, PPS and IDR slices", i, ts)
					}
				}
				if f, err := dec.Decode(au); err != nil || f == nil {
					t.Fatalf("decode %d: %v, %v", i, f, err)
				}
			}
		})
	}
}

// bitstreamKey reads from the coded picture whether it is a keyframe.
func bitstreamKey(t *testing.T, c VideoCodec, au []byte) bool {
	t.Helper()
	if len(au) == 0 {
		t.Fatal("empty access unit")
	}
	if c == VP8 {
		return au[0]&1 == 0 // frame tag, RFC 6386 section 9.1
	}
	return slices.Contains(nalTypes(au), 5)
}

func TestVideoKeyframeInterval(t *testing.T) {
	for _, c := range videoCodecCases {
		t.Run(string(c.codec), func(t *testing.T) {
			enc := mustEncoder(t, c, VideoEncoderConfig{Width: 320, Height: 180, FPS: 30, Bitrate: 300_000, KeyframeInterval: 10})
			frames := movingPicture(320, 180, 31)
			var keys []int
			for i := range frames {
				_, key, err := enc.Encode(&frames[i], false)
				if err != nil {
					t.Fatalf("encode %d: %v", i, err)
				}
				if key {
					keys = append(keys, i)
				}
			}
			if want := []int{0, 10, 20, 30}; !slices.Equal(keys, want) {
				t.Errorf("keyframes at %v, want %v", keys, want)
			}
		})
	}
}

func TestH264MaxNALSize(t *testing.T) {
	const limit = 1200
	enc := mustEncoder(t, videoCodecCases[0], VideoEncoderConfig{Width: 1280, Height: 720, FPS: 30, Bitrate: 4_000_000, MaxNALSize: limit})
	dec := mustDecoder(t, H264)
	frames := movingPicture(1280, 720, 6)
	for i := range frames {
		au, _, err := enc.Encode(&frames[i], i == 4)
		if err != nil {
			t.Fatalf("encode %d: %v", i, err)
		}
		nals := nalUnits(au)
		slicesN := 0
		for j, n := range nals {
			if len(n) > limit {
				t.Errorf("frame %d NAL %d (type %d) is %d bytes, above %d", i, j, n[0]&0x1f, len(n), limit)
			}
			if typ := n[0] & 0x1f; typ == 1 || typ == 5 {
				slicesN++
			}
		}
		// A detailed 720p picture at 4 Mbit/s is far above 1200 bytes, so
		// the limit must have split it.
		if len(au) > 4*limit && slicesN < 2 {
			t.Errorf("frame %d: %d bytes in %d slice(s): size-limited slicing not in effect", i, len(au), slicesN)
		}
		if f, err := dec.Decode(au); err != nil || f == nil {
			t.Fatalf("decode %d: %v, %v", i, f, err)
		}
	}
}

func TestVideoSetBitrate(t *testing.T) {
	for _, c := range videoCodecCases {
		t.Run(string(c.codec), func(t *testing.T) {
			frames := movingPicture(640, 360, 90)
			enc := mustEncoder(t, c, VideoEncoderConfig{Width: 640, Height: 360, FPS: 30, Bitrate: 2_000_000})
			total := func(from, to int) int {
				n := 0
				for i := from; i < to; i++ {
					au, _, err := enc.Encode(&frames[i], false)
					if err != nil {
						t.Fatalf("encode %d: %v", i, err)
					}
					n += len(au)
				}
				return n
			}
			total(0, 15) // let rate control settle after the keyframe
			high := total(15, 45)
			if err := enc.SetBitrate(200_000); err != nil {
				t.Fatalf("SetBitrate: %v", err)
			}
			total(45, 60)
			low := total(60, 90)
			t.Logf("%s: 30 frames at 2 Mbit/s = %d bytes, at 200 kbit/s = %d bytes", c.codec, high, low)
			if low*3 > high {
				t.Errorf("after SetBitrate(200k) a second of video is %d bytes, at 2M it was %d: want at least 3x less", low, high)
			}
			// 200 kbit/s is 25000 bytes a second; allow rate control slack.
			if low > 2*25000 {
				t.Errorf("at 200 kbit/s one second of video took %d bytes", low)
			}
		})
	}
}

func TestVideoEncoderErrors(t *testing.T) {
	for _, c := range videoCodecCases {
		t.Run(string(c.codec), func(t *testing.T) {
			badConfigs := []VideoEncoderConfig{
				{Width: 0, Height: 360, FPS: 30, Bitrate: 1e6},
				{Width: 641, Height: 360, FPS: 30, Bitrate: 1e6},
				{Width: 8192, Height: 360, FPS: 30, Bitrate: 1e6},
				{Width: 640, Height: 360, FPS: 0, Bitrate: 1e6},
				{Width: 640, Height: 360, FPS: 30, Bitrate: 0},
				{Width: 640, Height: 360, FPS: 30, Bitrate: 1e6, KeyframeInterval: -1},
			}
			for _, cfg := range badConfigs {
				if enc, err := c.enc(cfg); !errors.Is(err, ErrBadConfig) {
					if enc != nil {
						enc.Close()
					}
					t.Errorf("config %+v: err = %v, want ErrBadConfig", cfg, err)
				}
			}
			enc, err := c.enc(VideoEncoderConfig{Width: 640, Height: 360, FPS: 30, Bitrate: 500_000})
			if err != nil {
				t.Fatal(err)
			}
			badFrames := map[string]*Frame{
				"nil":        nil,
				"wrong size": solidFrame(320, 180, colGrey),
				"short planes": {Width: 640, Height: 360, StrideY: 640, StrideUV: 320,
					Y: make([]byte, 100), U: make([]byte, 100), V: make([]byte, 100)},
			}
			for name, f := range badFrames {
				if _, _, err := enc.Encode(f, false); !errors.Is(err, ErrBadFrame) {
					t.Errorf("%s frame: err = %v, want ErrBadFrame", name, err)
				}
			}
			if err := enc.SetBitrate(0); !errors.Is(err, ErrBadConfig) {
				t.Errorf("SetBitrate(0) = %v, want ErrBadConfig", err)
			}
			// A bad frame must not have broken the encoder.
			if au, _, err := enc.Encode(solidFrame(640, 360, colGrey), false); err != nil || len(au) == 0 {
				t.Fatalf("encode after bad frames: %d bytes, %v", len(au), err)
			}
			for range 2 {
				if err := enc.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
			}
			if _, _, err := enc.Encode(solidFrame(640, 360, colGrey), false); !errors.Is(err, ErrClosed) {
				t.Errorf("Encode after Close = %v, want ErrClosed", err)
			}
			if err := enc.SetBitrate(100_000); !errors.Is(err, ErrClosed) {
				t.Errorf("SetBitrate after Close = %v, want ErrClosed", err)
			}
		})
	}
}

// TestVideoEncodeSubFrame encodes a view into a larger canvas, whose strides
// exceed its width: the compositor hands encoders such frames.
func TestVideoEncodeSubFrame(t *testing.T) {
	for _, c := range videoCodecCases {
		t.Run(string(c.codec), func(t *testing.T) {
			canvas := quadFrame(1280, 720)
			view := canvas.Sub(320, 180, 640, 360) // the centre: one colour per quadrant again
			enc := mustEncoder(t, c, VideoEncoderConfig{Width: 640, Height: 360, FPS: 30, Bitrate: 1_000_000})
			dec := mustDecoder(t, c.codec)
			au, _, err := enc.Encode(&view, true)
			if err != nil {
				t.Fatal(err)
			}
			f, err := dec.Decode(au)
			if err != nil || f == nil {
				t.Fatalf("decode: %v, %v", f, err)
			}
			checkQuad(t, f)
		})
	}
}

// TestVideoNoAllocs checks that encoding and decoding allocate nothing in
// Go once warm, corrupt input included.
func TestVideoNoAllocs(t *testing.T) {
	for _, c := range videoCodecCases {
		t.Run(string(c.codec), func(t *testing.T) {
			frames := movingPicture(320, 180, 10)
			enc := mustEncoder(t, c, VideoEncoderConfig{Width: 320, Height: 180, FPS: 30, Bitrate: 300_000})
			dec := mustDecoder(t, c.codec)
			aus := codecStream(t, c.codec, 320, 180, 10)
			garbage := make([]byte, 500)
			for i := range garbage {
				garbage[i] = byte(i * 7)
			}
			i := 0
			step := func() {
				if _, _, err := enc.Encode(&frames[i%len(frames)], i%5 == 0); err != nil {
					t.Fatal(err)
				}
				if _, err := dec.Decode(aus[i%len(aus)]); err != nil {
					t.Fatal(err)
				}
				dec.Decode(garbage) // an error, but no allocation for it
				i++
			}
			for range 10 {
				step()
			}
			if n := testing.AllocsPerRun(50, step); n != 0 {
				t.Errorf("%v allocations per encode+decode, want 0", n)
			}
		})
	}
}
