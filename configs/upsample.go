package configs

import "math"

// The prompts are stored at a low rate to keep the binary small and raised
// to the mixer's rate once, when first used, so this interpolator favours
// quality and simplicity over speed: a windowed-sinc low-pass at the input's
// Nyquist frequency, split into one sub-filter per output phase so every
// output sample is one dot product over consecutive input samples.

// upsampleHalfTaps is the filter's half length in input samples: the
// Blackman window then gives a transition band of about 5.5 * inRate /
// (2 * upsampleHalfTaps), 460 Hz at 8 kHz, and a stopband near -74 dB.
const upsampleHalfTaps = 48

// upsample raises the rate of in by the integer factor, without delay.
func upsample(in []int16, factor int) []int16 {
	if factor <= 1 {
		return append([]int16(nil), in...)
	}
	const m = upsampleHalfTaps
	phases := phaseFilters(factor)
	// x is in with m zeros either side, so every window is in range.
	x := make([]float64, len(in)+2*m)
	for i, v := range in {
		x[m+i] = float64(v)
	}
	out := make([]int16, len(in)*factor)
	for i := range in {
		win := x[i : i+2*m+1]
		for p, h := range phases {
			var acc float64
			for u, c := range h {
				acc += win[u] * c
			}
			out[i*factor+p] = int16(max(-32768, min(32767, math.Round(acc))))
		}
	}
	return out
}

// phaseFilters splits the interpolation low-pass into factor sub-filters of
// 2*upsampleHalfTaps+1 taps: output i*factor+p is the dot product of phase
// p with input samples i-upsampleHalfTaps .. i+upsampleHalfTaps.
func phaseFilters(factor int) [][]float64 {
	const m = upsampleHalfTaps
	h := interpolator(factor)
	c := m * factor // centre tap
	phases := make([][]float64, factor)
	for p := range phases {
		phases[p] = make([]float64, 2*m+1)
		for u := range phases[p] {
			// Input i-m+u lands (m-u)*factor+p output samples before
			// output i*factor+p.
			if k := c + (m-u)*factor + p; k < len(h) {
				phases[p][u] = h[k]
			}
		}
	}
	return phases
}

// interpolator is the low-pass for upsampling by factor: cut-off at the
// input's Nyquist frequency, 2*upsampleHalfTaps*factor+1 taps, gain factor
// so each output phase keeps the input's level.
func interpolator(factor int) []float64 {
	c := upsampleHalfTaps * factor
	h := make([]float64, 2*c+1)
	var sum float64
	for i := range h {
		x := float64(i-c) / float64(factor) // in input samples
		sinc := 1.0
		if x != 0 {
			sinc = math.Sin(math.Pi*x) / (math.Pi * x)
		}
		w := 2 * math.Pi * float64(i) / float64(len(h)-1)
		blackman := 0.42 - 0.5*math.Cos(w) + 0.08*math.Cos(2*w)
		h[i] = sinc * blackman
		sum += h[i]
	}
	for i := range h {
		h[i] *= float64(factor) / sum
	}
	return h
}
