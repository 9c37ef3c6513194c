package audio

// The mix is summed in int32, so many talkers can exceed the int16 range.
// Hard clamping alone flattens the peaks into loud square-ish distortion, so
// each output runs through a frame-based peak limiter first: when the frame's
// peak is above full scale the gain drops to fit it (ramped over the first
// millisecond to avoid a click), and afterwards recovers towards unity a
// fraction of the way each frame (a time constant of about 200 ms) without
// ever exceeding what the current frame allows. The clamp remains as the
// last guard for the attack ramp. When nothing is over full scale and the
// gain is unity, the limiter is a plain copy.
const (
	fullScale             = 32767
	limiterAttackSamples  = 48    // 1 ms at 48 kHz
	limiterRelease        = 0.1   // fraction of the distance to unity recovered per frame
	limiterUnityThreshold = 0.999 // snap to unity above this gain
)

// limiter is the state of one output's limiter. It is owned by the tick.
type limiter struct {
	gain float32
}

func newLimiter() limiter { return limiter{gain: 1} }

// process writes src, limited and clamped, to dst (len(dst) >= len(src)).
func (l *limiter) process(src []int32, dst []int16) {
	dst = dst[:len(src)]
	var hi, lo int32
	for _, v := range src {
		hi = max(hi, v)
		lo = min(lo, v)
	}
	need := float32(1)
	if hi > fullScale {
		need = fullScale / float32(hi)
	}
	if lo < -fullScale-1 {
		need = min(need, (-fullScale-1)/float32(lo))
	}
	g0 := l.gain
	g1 := g0 + (1-g0)*limiterRelease
	if g1 > limiterUnityThreshold {
		g1 = 1
	}
	g1 = min(g1, need)
	l.gain = g1
	if g0 == 1 && g1 == 1 {
		for i, v := range src {
			dst[i] = int16(v) // within the int16 range, checked above
		}
		return
	}
	ramp := len(src)
	if g1 < g0 {
		ramp = min(limiterAttackSamples, len(src))
	}
	step := (g1 - g0) / float32(ramp)
	g := g0
	for i, v := range src {
		if i < ramp {
			g += step
		} else {
			g = g1
		}
		dst[i] = clamp16(int32(float32(v) * g))
	}
}

func clamp16(v int32) int16 {
	return int16(max(min(v, fullScale), -fullScale-1))
}
