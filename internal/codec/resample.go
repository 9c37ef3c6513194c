package codec

import "math"

// The resamplers convert between a codec's native rate and MixRate by an
// integer factor (6 for 8 kHz, 3 for 16 kHz) with a Kaiser-windowed sinc
// low-pass. Upsampling runs it in polyphase form so only the taps that meet
// real input samples are computed; downsampling computes only the outputs
// that are kept. Both keep their filter history between calls, so frames
// join without clicks, and neither allocates after construction.

const (
	// resampleTapsPerPhase sets the prototype filter length (factor * taps).
	// With 32 taps a phase the 8 kHz filter (192 taps at 48 kHz) has a
	// transition band of about 1.1 kHz around 4 kHz: flat to ~3.45 kHz and
	// at least ~70 dB down from ~4.55 kHz, so images of a 3.4 kHz tone sit
	// far below the 30 dB we need. The group delay is 2 ms.
	resampleTapsPerPhase = 32
	// resampleAttenuation is the Kaiser design stopband attenuation in dB.
	resampleAttenuation = 70
)

// upsampler raises the rate of a stream by factor.
type upsampler struct {
	factor int
	taps   int
	// coef holds factor phases of taps coefficients each. Each phase is
	// stored oldest-sample-first so it lines up with a window of buf.
	coef []float32
	// buf holds taps-1 samples of history followed by the current input.
	buf []float32
}

// newUpsampler returns an upsampler that accepts up to maxIn samples a call.
func newUpsampler(factor, maxIn int) *upsampler {
	taps := resampleTapsPerPhase
	proto := lowpass(factor*taps, 0.5/float64(factor))
	u := &upsampler{
		factor: factor,
		taps:   taps,
		coef:   make([]float32, factor*taps),
		buf:    make([]float32, taps-1+maxIn),
	}
	// y[n*L+p] = L * sum_k h[k*L+p] * x[n-k]; window index j holds x[n-(taps-1)+j].
	for p := 0; p < factor; p++ {
		for j := 0; j < taps; j++ {
			k := taps - 1 - j
			u.coef[p*taps+j] = float32(float64(factor) * proto[k*factor+p])
		}
	}
	return u
}

// process writes factor*len(in) samples to out and returns that count. The
// caller guarantees len(in) <= maxIn and len(out) >= factor*len(in).
func (u *upsampler) process(in, out []int16) int {
	h := u.taps - 1
	buf := u.buf[:h+len(in)]
	for i, s := range in {
		buf[h+i] = float32(s)
	}
	out = out[:len(in)*u.factor]
	o := 0
	for i := range in {
		win := buf[i : i+u.taps]
		for p := 0; p < u.factor; p++ {
			out[o] = toInt16(dot(u.coef[p*u.taps:(p+1)*u.taps], win))
			o++
		}
	}
	copy(u.buf[:h], buf[len(in):])
	return o
}

// reset forgets the history.
func (u *upsampler) reset() {
	clear(u.buf)
}

// downsampler lowers the rate of a stream by factor.
type downsampler struct {
	factor int
	// coef is the prototype low-pass, oldest-sample-first.
	coef []float32
	// buf holds len(coef)-1 samples of history followed by the current input.
	buf []float32
}

// newDownsampler returns a downsampler that accepts up to maxIn samples a call.
func newDownsampler(factor, maxIn int) *downsampler {
	n := factor * resampleTapsPerPhase
	proto := lowpass(n, 0.5/float64(factor))
	d := &downsampler{
		factor: factor,
		coef:   make([]float32, n),
		buf:    make([]float32, n-1+maxIn),
	}
	for j := range n {
		d.coef[j] = float32(proto[n-1-j])
	}
	return d
}

// process writes len(in)/factor samples to out and returns that count. The
// caller guarantees len(in) <= maxIn, len(in) is a multiple of factor and
// len(out) >= len(in)/factor.
func (d *downsampler) process(in, out []int16) int {
	n := len(d.coef)
	h := n - 1
	buf := d.buf[:h+len(in)]
	for i, s := range in {
		buf[h+i] = float32(s)
	}
	m := len(in) / d.factor
	out = out[:m]
	for k := range out {
		// The newest input sample feeding output k is in[k*factor+factor-1],
		// which lives at buf[h+k*factor+factor-1].
		start := k*d.factor + d.factor - 1
		out[k] = toInt16(dot(d.coef, buf[start:start+n]))
	}
	copy(d.buf[:h], buf[len(in):])
	return m
}

// dot is the inner product of two equal-length vectors, unrolled with four
// accumulators so the loop is not bound by one add chain.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// toInt16 rounds and saturates.
func toInt16(v float32) int16 {
	if v >= math.MaxInt16 {
		return math.MaxInt16
	}
	if v <= math.MinInt16 {
		return math.MinInt16
	}
	if v < 0 {
		return int16(v - 0.5)
	}
	return int16(v + 0.5)
}

// lowpass designs an n-tap linear-phase low-pass with cutoff fc (cycles per
// sample, -6 dB point) by windowing a sinc with a Kaiser window, normalised
// to unity gain at DC.
func lowpass(n int, fc float64) []float64 {
	a := float64(resampleAttenuation)
	beta := 0.1102 * (a - 8.7)
	h := make([]float64, n)
	mid := float64(n-1) / 2
	i0b := besselI0(beta)
	var sum float64
	for i := range h {
		t := float64(i) - mid
		x := 2 * fc * t
		sinc := 1.0
		if x != 0 {
			sinc = math.Sin(math.Pi*x) / (math.Pi * x)
		}
		r := t / mid
		w := besselI0(beta*math.Sqrt(max(0, 1-r*r))) / i0b
		h[i] = 2 * fc * sinc * w
		sum += h[i]
	}
	for i := range h {
		h[i] /= sum
	}
	return h
}

// besselI0 is the zeroth-order modified Bessel function of the first kind,
// by its power series (converges quickly for the betas used here).
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	q := x * x / 4
	for k := 1; k < 50; k++ {
		term *= q / float64(k*k)
		sum += term
		if term < sum*1e-12 {
			break
		}
	}
	return sum
}
