package codec

import (
	"errors"
	"fmt"
	"testing"
)

// spsProfile returns profile_idc of the first SPS in au, or -1.
func spsProfile(au []byte) int {
	for _, n := range nalUnits(au) {
		if n[0]&0x1f == 7 && len(n) > 1 {
			return int(n[1])
		}
	}
	return -1
}

func mustX264(t testing.TB, cfg VideoEncoderConfig, o X264Options) VideoEncoder {
	t.Helper()
	enc, err := NewH264HighEncoder(cfg, o)
	if err != nil {
		t.Fatalf("new x264 encoder: %v", err)
	}
	t.Cleanup(func() { enc.Close() })
	return enc
}

func TestX264Stream(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opt     X264Options
		profile int // profile_idc, ITU-T H.264 Annex A.2
	}{
		{"high", X264Options{}, 100},
		{"main", X264Options{Profile: ProfileMain}, 77},
		{"high two threads", X264Options{Threads: 2, Preset: "superfast"}, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := VideoEncoderConfig{Width: 640, Height: 360, FPS: 30, Bitrate: 800_000, KeyframeInterval: 30}
			enc := mustX264(t, cfg, tc.opt)
			dec := mustDecoder(t, H264)
			frames := movingPicture(640, 360, 75)
			var keys []int
			for i := range frames {
				force := i == 45
				au, key, err := enc.Encode(&frames[i], force)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if len(au) < 5 || au[0] != 0 || au[1] != 0 || (au[2] != 1 && (au[2] != 0 || au[3] != 1)) {
					t.Fatalf("frame %d is not Annex B: % x", i, au[:min(len(au), 8)])
				}
				types := nalTypes(au)
				hasIDR := false
				for _, ty := range types {
					hasIDR = hasIDR || ty == 5
				}
				if key != hasIDR {
					t.Fatalf("frame %d: key %v but NAL types %v", i, key, types)
				}
				if key {
					keys = append(keys, i)
					if p := spsProfile(au); p != tc.profile {
						t.Fatalf("frame %d: keyframe without SPS of profile %d (got %d, NALs %v)", i, tc.profile, p, types)
					}
				}
				pic, err := dec.Decode(au)
				if err != nil {
					t.Fatalf("decode frame %d: %v", i, err)
				}
				if pic == nil || pic.Width != 640 || pic.Height != 360 {
					t.Fatalf("frame %d decoded to %v", i, pic)
				}
			}
			// Interval 30 from frame 0, and the forced one at 45 (x264
			// counts the next interval from the forced IDR).
			if want := []int{0, 30, 45}; fmt.Sprint(keys[:3]) != fmt.Sprint(want) {
				t.Fatalf("keyframes at %v, want %v first", keys, want)
			}
			for i := 1; i < len(keys); i++ {
				if keys[i]-keys[i-1] > 30 {
					t.Fatalf("keyframes %v more than 30 frames apart", keys)
				}
			}
		})
	}
}

func TestX264Bitrate(t *testing.T) {
	cfg := VideoEncoderConfig{Width: 640, Height: 360, FPS: 30, Bitrate: 600_000, KeyframeInterval: 60}
	enc := mustX264(t, cfg, X264Options{})
	frames := movingPicture(640, 360, 150)
	size := func(from, to int) int {
		n := 0
		for i := from; i < to; i++ {
			au, _, err := enc.Encode(&frames[i], false)
			if err != nil {
				t.Fatal(err)
			}
			n += len(au)
		}
		return n
	}
	first := size(0, 60) * 8 / 2 // bits per second over 2 s
	if err := enc.SetBitrate(150_000); err != nil {
		t.Fatal(err)
	}
	size(60, 90) // let the VBV settle
	second := size(90, 150) * 8 / 2
	if first > 600_000*13/10 || second > 150_000*14/10 || second > first/2 {
		t.Fatalf("rates %d b/s at 600 kb/s then %d b/s at 150 kb/s", first, second)
	}
}

func TestX264Errors(t *testing.T) {
	good := VideoEncoderConfig{Width: 640, Height: 360, FPS: 30, Bitrate: 800_000}
	for _, tc := range []struct {
		name string
		cfg  VideoEncoderConfig
		opt  X264Options
	}{
		{"odd size", VideoEncoderConfig{Width: 641, Height: 360, FPS: 30, Bitrate: 1}, X264Options{}},
		{"nal cap", VideoEncoderConfig{Width: 640, Height: 360, FPS: 30, Bitrate: 1, MaxNALSize: 1200}, X264Options{}},
		{"baseline", good, X264Options{Profile: "baseline"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewH264HighEncoder(tc.cfg, tc.opt); !errors.Is(err, ErrBadConfig) {
				t.Fatalf("got %v, want ErrBadConfig", err)
			}
		})
	}
	enc := mustX264(t, good, X264Options{})
	if _, _, err := enc.Encode(NewFrame(320, 180), false); !errors.Is(err, ErrBadFrame) {
		t.Fatalf("wrong size: got %v, want ErrBadFrame", err)
	}
	enc.Close()
	if _, _, err := enc.Encode(NewFrame(640, 360), false); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: got %v, want ErrClosed", err)
	}
}

// BenchmarkH264HighEncode720p encodes a moving 1280x720 picture at 2.5 Mb/s,
// one keyframe every 2 s, per preset and thread count.
func BenchmarkH264HighEncode720p(b *testing.B) {
	frames := movingPicture(1280, 720, 120)
	for _, o := range []X264Options{
		{Preset: "veryfast", Threads: 1},
		{Preset: "veryfast", Threads: 2},
		{Preset: "superfast", Threads: 1},
		{Preset: "faster", Threads: 1},
	} {
		b.Run(fmt.Sprintf("%s-%dthreads", o.Preset, o.Threads), func(b *testing.B) {
			cfg := VideoEncoderConfig{Width: 1280, Height: 720, FPS: 30, Bitrate: 2_500_000, KeyframeInterval: 60}
			enc := mustX264(b, cfg, o)
			bytes := 0
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				au, _, err := enc.Encode(&frames[i%len(frames)], false)
				if err != nil {
					b.Fatal(err)
				}
				bytes += len(au)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e6/float64(b.N), "ms/frame")
			b.ReportMetric(float64(bytes)*8*30/float64(b.N)/1e6, "Mb/s")
		})
	}
}
