package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// toneMono returns n samples of a sine at freq Hz (48 kHz), starting at
// sample offset off, peak amplitude amp.
func toneMono(n, off int, freq, amp float64) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(amp * math.Sin(2*math.Pi*freq*float64(off+i)/48000))
	}
	return s
}

func mustAAC(t testing.TB) *AACEncoder {
	t.Helper()
	enc, err := NewAACEncoder(AACConfig{SampleRate: 48000, Channels: 2, Bitrate: 128000})
	if err != nil {
		t.Fatalf("new aac encoder: %v", err)
	}
	t.Cleanup(func() { enc.Close() })
	return enc
}

func TestAACConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  AACConfig
	}{
		{"odd rate", AACConfig{SampleRate: 8000, Channels: 2, Bitrate: 128000}},
		{"three channels", AACConfig{SampleRate: 48000, Channels: 3, Bitrate: 128000}},
		{"bitrate too low", AACConfig{SampleRate: 48000, Channels: 2, Bitrate: 1000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewAACEncoder(tc.cfg); !errors.Is(err, ErrBadConfig) {
				t.Fatalf("got %v, want ErrBadConfig", err)
			}
		})
	}
}

func TestAACAudioSpecificConfig(t *testing.T) {
	enc := mustAAC(t)
	asc := enc.AudioSpecificConfig()
	// ISO/IEC 14496-3 1.6.2.1: object type 2 (LC), frequency index 3
	// (48000), channel configuration 2.
	if len(asc) < 2 {
		t.Fatalf("asc %x too short", asc)
	}
	obj, freq, ch := asc[0]>>3, (asc[0]&7)<<1|asc[1]>>7, (asc[1]>>3)&0xf
	if obj != 2 || freq != 3 || ch != 2 {
		t.Fatalf("asc %x: object %d, frequency index %d, channels %d; want 2, 3, 2", asc, obj, freq, ch)
	}
}

// TestAACFraming feeds chunks of several sizes and checks that frames come
// out whole, in order, with PTS stepping by 1024 samples.
func TestAACFraming(t *testing.T) {
	for _, tc := range []struct {
		name  string
		chunk int
	}{
		{"mixer frames 960", 960},
		{"tiny 7", 7},
		{"one frame 1024", 1024},
		{"many frames 48000", 48000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc := mustAAC(t)
			const total = 48000
			pcm := toneMono(total, 0, 1000, 8000)
			var pts []int64
			for off := 0; off < total; off += tc.chunk {
				frames, err := enc.Encode(pcm[off:min(total, off+tc.chunk)])
				if err != nil {
					t.Fatalf("encode at %d: %v", off, err)
				}
				for _, f := range frames {
					if len(f.Data) == 0 || len(f.Data) > maxAACFrameBytes {
						t.Fatalf("frame size %d", len(f.Data))
					}
					if f.Data[0] == 0xff && f.Data[1]&0xf0 == 0xf0 {
						t.Fatalf("frame starts with an ADTS sync word")
					}
					pts = append(pts, f.PTS)
				}
			}
			frames, err := enc.Flush()
			if err != nil {
				t.Fatalf("flush: %v", err)
			}
			for _, f := range frames {
				pts = append(pts, f.PTS)
			}
			// 48000 samples are 46.9 frames: 47 after padding, plus the
			// priming frame.
			if len(pts) != 48 {
				t.Fatalf("got %d frames, want 48", len(pts))
			}
			for i, p := range pts {
				if want := int64(i-1) * AACFrameSamples; p != want {
					t.Fatalf("frame %d pts %d, want %d", i, p, want)
				}
			}
		})
	}
}

// TestAACDecodesToTone has ffmpeg decode the encoder's output (wrapped in
// ADTS) and checks both channels carry the 1 kHz tone.
func TestAACDecodesToTone(t *testing.T) {
	ffmpeg, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg not installed")
	}
	enc := mustAAC(t)
	var adts bytes.Buffer
	for off := 0; off < 48000; off += 960 {
		frames, err := enc.Encode(toneMono(960, off, 1000, 10000))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range frames {
			writeADTS(&adts, f.Data)
		}
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.aac"), filepath.Join(dir, "out.raw")
	if err := os.WriteFile(in, adts.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ffmpeg, "-v", "error", "-i", in, "-f", "s16le", "-ac", "2", "-ar", "48000", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg decode: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	n := len(raw) / 4
	if n < 40000 {
		t.Fatalf("decoded %d samples per channel, want about 48000", n)
	}
	for ch := range 2 {
		s := make([]int16, 0, n)
		for i := 4800; i < n-4800; i++ {
			s = append(s, int16(binary.LittleEndian.Uint16(raw[4*i+2*ch:])))
		}
		at, off := toneAmplitude(s, 1000), toneAmplitude(s, 1700)
		if at < 5000 || off > at/100 {
			t.Errorf("channel %d: 1 kHz amplitude %.0f, 1.7 kHz %.0f", ch, at, off)
		}
	}
}

// toneAmplitude returns the amplitude of freq Hz in s (48 kHz).
func toneAmplitude(s []int16, freq float64) float64 {
	return 2 * math.Sqrt(goertzel(s, freq, 48000)) / float64(len(s))
}

// writeADTS writes one AAC-LC 48 kHz stereo frame with its ADTS header
// (ISO/IEC 13818-7 section 6.2), only so ffmpeg can read the test stream.
func writeADTS(w *bytes.Buffer, frame []byte) {
	n := len(frame) + 7
	w.Write([]byte{0xff, 0xf1, 1<<6 | 3<<2, 2<<6 | byte(n>>11), byte(n >> 3), byte(n&7)<<5 | 0x1f, 0xfc})
	w.Write(frame)
}

func TestAACNoAllocs(t *testing.T) {
	enc := mustAAC(t)
	pcm := toneMono(960, 0, 1000, 8000)
	for range 10 {
		if _, err := enc.Encode(pcm); err != nil {
			t.Fatal(err)
		}
	}
	if a := testing.AllocsPerRun(200, func() { enc.Encode(pcm) }); a != 0 {
		t.Fatalf("%.1f allocations per 20 ms", a)
	}
}

func TestAACClosed(t *testing.T) {
	enc := mustAAC(t)
	enc.Close()
	if _, err := enc.Encode(make([]int16, 960)); !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v, want ErrClosed", err)
	}
	if err := enc.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func BenchmarkAACEncode(b *testing.B) {
	enc := mustAAC(b)
	pcm := toneMono(48000, 0, 1000, 8000)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		off := (i * 960) % 48000
		if _, err := enc.Encode(pcm[off : off+960]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(b.N), "us/20ms")
}
