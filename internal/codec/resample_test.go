package codec

import (
	"math"
	"testing"
)

// Upsampling a band-limited tone must leave it clean: images at k*fs_in ± f
// at least 30 dB below the tone (the design gives far more).
func TestUpsamplerImages(t *testing.T) {
	tests := []struct {
		name   string
		rate   int
		freq   float64
		minRej float64 // dB below the tone for every image
	}{
		{"8k 300 Hz", 8000, 300, 60},
		{"8k 1000 Hz", 8000, 1000, 60},
		{"8k 3400 Hz", 8000, 3400, 40},
		{"16k 500 Hz", 16000, 500, 60},
		{"16k 7000 Hz", 16000, 7000, 40},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			factor := MixRate / tc.rate
			frame := tc.rate / 50
			up := newUpsampler(factor, frame)
			var out []int16
			buf := make([]int16, FrameSamples)
			for f := range 15 {
				n := up.process(sine(tc.freq, tc.rate, f*frame, frame, 10000), buf)
				out = append(out, buf[:n]...)
			}
			x := out[len(out)-MixRate/10:] // last 100 ms: whole cycles at 10 Hz resolution
			amp, snr := toneFit(t, x, tc.freq, MixRate)
			if math.Abs(20*math.Log10(amp/10000)) > 0.5 {
				t.Errorf("tone amplitude %v, want 10000 within 0.5 dB", amp)
			}
			if snr < tc.minRej {
				t.Errorf("tone SNR %.1f dB, want >= %v", snr, tc.minRej)
			}
			tone := goertzel(x, tc.freq, MixRate)
			for k := 1; k*tc.rate < MixRate; k++ {
				for _, img := range []float64{float64(k*tc.rate) - tc.freq, float64(k*tc.rate) + tc.freq} {
					if img >= MixRate/2 {
						continue
					}
					rej := 10 * math.Log10(tone/max(goertzel(x, img, MixRate), 1e-9))
					if rej < tc.minRej {
						t.Errorf("image at %v Hz only %.1f dB below the tone, want >= %v", img, rej, tc.minRej)
					}
				}
			}
		})
	}
}

// Downsampling must reject what would alias: a tone above the new Nyquist
// comes out at least 30 dB weaker; a tone in band passes unchanged.
func TestDownsamplerAliasing(t *testing.T) {
	tests := []struct {
		name    string
		rate    int
		freq    float64
		passing bool
	}{
		{"8k passes 300 Hz", 8000, 300, true},
		{"8k passes 3400 Hz", 8000, 3400, true},
		{"8k rejects 4700 Hz", 8000, 4700, false},
		{"8k rejects 10 kHz", 8000, 10000, false},
		{"8k rejects 20 kHz", 8000, 20000, false},
		{"16k passes 7000 Hz", 16000, 7000, true},
		{"16k rejects 9500 Hz", 16000, 9500, false},
		{"16k rejects 15 kHz", 16000, 15000, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			factor := MixRate / tc.rate
			down := newDownsampler(factor, FrameSamples)
			var out []int16
			buf := make([]int16, FrameSamples)
			for f := range 15 {
				n := down.process(sine(tc.freq, MixRate, f*FrameSamples, FrameSamples, 10000), buf)
				out = append(out, buf[:n]...)
			}
			x := out[len(out)-tc.rate/10:]
			level := 20 * math.Log10(max(rms(x), 1e-9)*math.Sqrt2/10000)
			if tc.passing && math.Abs(level) > 0.5 {
				t.Errorf("in-band tone level %.2f dB, want 0 within 0.5 dB", level)
			}
			if !tc.passing && level > -30 {
				t.Errorf("out-of-band tone level %.1f dB, want <= -30 dB", level)
			}
			if tc.passing {
				if _, snr := toneFit(t, x, tc.freq, tc.rate); snr < 40 {
					t.Errorf("SNR %.1f dB, want >= 40", snr)
				}
			}
		})
	}
}

// The brief's acceptance test: 8k -> 48k -> 8k keeps a 300-3400 Hz tone
// clean, with everything else at least 30 dB down.
func TestResampleRoundTrip(t *testing.T) {
	for _, freq := range []float64{300, 1000, 2000, 3000, 3400} {
		up := newUpsampler(6, 160)
		down := newDownsampler(6, FrameSamples)
		hi := make([]int16, FrameSamples)
		lo := make([]int16, 160)
		var out []int16
		for f := range 15 {
			up.process(sine(freq, 8000, f*160, 160, 12000), hi)
			n := down.process(hi, lo)
			out = append(out, lo[:n]...)
		}
		x := out[len(out)-800:]
		amp, snr := toneFit(t, x, freq, 8000)
		t.Logf("%v Hz: amplitude %.0f, SNR %.1f dB", freq, amp, snr)
		if snr < 30 {
			t.Errorf("%v Hz: SNR %.1f dB, want >= 30", freq, snr)
		}
		if math.Abs(20*math.Log10(amp/12000)) > 1 {
			t.Errorf("%v Hz: amplitude %.0f, want 12000 within 1 dB", freq, amp)
		}
	}
}

// Frames are joined seamlessly: processing in uneven chunks gives exactly
// the same output as one call.
func TestUpsamplerChunking(t *testing.T) {
	in := sine(700, 8000, 0, 480, 9000)
	whole := newUpsampler(6, 480)
	want := make([]int16, 480*6)
	whole.process(in, want)

	parts := newUpsampler(6, 480)
	got := make([]int16, 0, len(want))
	buf := make([]int16, 480*6)
	for _, n := range []int{1, 7, 160, 32, 280} {
		m := parts.process(in[:n], buf)
		got = append(got, buf[:m]...)
		in = in[n:]
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("sample %d: chunked %d, whole %d", i, got[i], want[i])
		}
	}
}
