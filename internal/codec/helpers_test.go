package codec

import (
	"math"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// sine returns n samples of a tone at rate, starting at sample offset start
// so that consecutive calls continue one waveform.
func sine(freq float64, rate, start, n int, amp float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(math.Round(amp * math.Sin(2*math.Pi*freq*float64(start+i)/float64(rate))))
	}
	return out
}

// toneFit fits a sinusoid at freq (least squares over a window holding a
// whole number of cycles, where the cosine and sine bases are orthogonal)
// and returns its amplitude and the ratio in dB of its power to the power of
// everything else (noise, distortion, other tones).
func toneFit(t *testing.T, x []int16, freq float64, rate int) (amp, snrDB float64) {
	t.Helper()
	cycles := freq * float64(len(x)) / float64(rate)
	if math.Abs(cycles-math.Round(cycles)) > 1e-6 {
		t.Fatalf("toneFit: window of %d samples holds %.3f cycles of %g Hz, want a whole number", len(x), cycles, freq)
	}
	var a, b float64
	for i, v := range x {
		w := 2 * math.Pi * freq * float64(i) / float64(rate)
		a += float64(v) * math.Cos(w)
		b += float64(v) * math.Sin(w)
	}
	a *= 2 / float64(len(x))
	b *= 2 / float64(len(x))
	var sig, res float64
	for i, v := range x {
		w := 2 * math.Pi * freq * float64(i) / float64(rate)
		fit := a*math.Cos(w) + b*math.Sin(w)
		sig += fit * fit
		d := float64(v) - fit
		res += d * d
	}
	if res == 0 {
		res = 1e-9
	}
	return math.Hypot(a, b), 10 * math.Log10(sig/res)
}

// goertzel returns the power of x at freq (one DFT bin when freq falls on a
// bin), normalised so a full-window tone of amplitude A gives A*A/4·len².
func goertzel(x []int16, freq float64, rate int) float64 {
	w := 2 * math.Pi * freq / float64(rate)
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := float64(v) + c*s1 - s2
		s2, s1 = s1, s0
	}
	return s1*s1 + s2*s2 - c*s1*s2
}

// rms returns the root mean square of x.
func rms(x []int16) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(max(1, len(x))))
}

// maxStep returns the largest difference between neighbouring samples.
func maxStep(x []int16) float64 {
	var m float64
	for i := 1; i < len(x); i++ {
		m = max(m, math.Abs(float64(x[i])-float64(x[i-1])))
	}
	return m
}

// speechLike returns n frames of a deterministic voice-like signal: a
// gliding harmonic series with a syllabic envelope and a little noise. It is
// what the benchmarks encode, since codec cost depends on the signal.
func speechLike(frames int) [][]int16 {
	out := make([][]int16, frames)
	var phase float64
	seed := uint32(1)
	for f := range out {
		fr := make([]int16, FrameSamples)
		for i := range fr {
			t := float64(f*FrameSamples+i) / MixRate
			f0 := 150 + 60*math.Sin(2*math.Pi*0.7*t)
			phase += 2 * math.Pi * f0 / MixRate
			var v float64
			for h := 1; h <= 12; h++ {
				v += math.Sin(float64(h)*phase) / float64(h)
			}
			env := 0.5 + 0.5*math.Sin(2*math.Pi*4*t)
			seed = seed*1664525 + 1013904223
			noise := float64(int32(seed)>>16) / 32768
			fr[i] = int16(4000*env*v + 300*noise)
		}
		out[f] = fr
	}
	return out
}
