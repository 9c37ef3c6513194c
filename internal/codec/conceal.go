package codec

// concealer hides lost packets of codecs without their own loss concealment
// (G.711, G.722) at the codec's native rate, before upsampling, so the
// resampler's history stays continuous. It repeats the last pitch period of
// the good signal, holds it at full level for a short while, fades it to
// silence, and crossfades back into the first good frame after the loss. It
// never synthesises noise: every output sample is a scaled past sample or
// zero. The idea follows ITU-T G.711 Appendix I, much simplified.
type concealer struct {
	// hist holds the last histLen good (or concealed) samples, newest last.
	hist []int16
	// filled counts valid samples in hist (fewer before enough audio came).
	filled int
	// cycle is the pitch period being repeated, with its end smoothed into
	// its start so that the wrap-around does not click.
	cycle  []int16
	period int
	pos    int
	// lost counts samples concealed since the last good frame; 0 when not
	// concealing.
	lost int

	minPeriod, maxPeriod int
	hold, fade           int // samples at full level, then samples of fade
	xfade                int // crossfade length back into good audio
}

const (
	concealHistMS   = 40 // two longest pitch periods and some
	concealMinPitch = 2  // ms, 500 Hz
	concealMaxPitch = 15 // ms, ~67 Hz
	concealHoldMS   = 10
	concealFadeMS   = 50
	concealXfadeMS  = 4
)

func newConcealer(rate int) *concealer {
	ms := rate / 1000
	return &concealer{
		hist:      make([]int16, concealHistMS*ms),
		cycle:     make([]int16, concealMaxPitch*ms),
		minPeriod: concealMinPitch * ms,
		maxPeriod: concealMaxPitch * ms,
		hold:      concealHoldMS * ms,
		fade:      concealFadeMS * ms,
		xfade:     concealXfadeMS * ms,
	}
}

// good records a decoded frame. After a loss it first crossfades the frame's
// start from the concealment signal into the real one, in place.
func (c *concealer) good(frame []int16) {
	if c.lost > 0 {
		n := min(c.xfade, len(frame))
		for i := range n {
			// w rises from just above 0 to 1 over the crossfade.
			w := float32(i+1) / float32(n+1)
			v := c.next()
			frame[i] = toInt16(w*float32(frame[i]) + (1-w)*float32(v))
		}
		c.lost = 0
	}
	c.push(frame)
}

// conceal fills out with concealment. The history is left alone during a
// loss: the pitch cycle is fixed when the loss starts, and recovery
// crossfades against the continued concealment signal.
func (c *concealer) conceal(out []int16) {
	if c.lost == 0 {
		c.start()
	}
	for i := range out {
		out[i] = c.next()
	}
}

// start chooses the pitch period from the history and builds the cycle.
func (c *concealer) start() {
	c.pos = 0
	c.period = 0
	// Needs two periods of history to find and smooth one.
	if c.filled < 2*c.minPeriod {
		return
	}
	h := c.hist
	n := len(h)
	maxP := min(c.maxPeriod, c.filled/2)
	p := c.pitch(maxP)
	c.period = p
	// The cycle is the last p samples. Its last quarter is crossfaded with
	// the samples one period earlier, which are the ones that naturally lead
	// into the cycle's first sample, so the wrap-around is smooth even when
	// the signal is not exactly periodic.
	q := p / 4
	for j := range p {
		v := float32(h[n-p+j])
		if j >= p-q {
			w := float32(j-(p-q)+1) / float32(q+1)
			v = (1-w)*v + w*float32(h[n-2*p+j])
		}
		c.cycle[j] = toInt16(v)
	}
}

// pitch returns the lag in [minPeriod, maxP] with the highest normalised
// correlation between the newest window and the window one lag earlier.
func (c *concealer) pitch(maxP int) int {
	h := c.hist
	n := len(h)
	win := min(maxP, c.filled-maxP)
	ref := h[n-win:]
	best, bestScore := maxP, float64(-1)
	for p := c.minPeriod; p <= maxP; p++ {
		old := h[n-win-p : n-p]
		var xy, yy float64
		for i, x := range ref {
			y := float64(old[i])
			xy += float64(x) * y
			yy += y * y
		}
		if yy == 0 {
			continue
		}
		// Maximising xy/sqrt(yy) with the sign kept; compare squares.
		score := xy * xy / yy
		if xy < 0 {
			score = -score
		}
		if score > bestScore {
			best, bestScore = p, score
		}
	}
	return best
}

// next returns the next concealment sample and advances.
func (c *concealer) next() int16 {
	t := c.lost
	c.lost++
	if c.period == 0 || t >= c.hold+c.fade {
		return 0
	}
	v := c.cycle[c.pos]
	c.pos++
	if c.pos == c.period {
		c.pos = 0
	}
	if t < c.hold {
		return v
	}
	g := 1 - float32(t-c.hold)/float32(c.fade)
	return toInt16(g * float32(v))
}

// push appends samples to the history.
func (c *concealer) push(s []int16) {
	n := len(c.hist)
	if len(s) >= n {
		copy(c.hist, s[len(s)-n:])
	} else {
		copy(c.hist, c.hist[len(s):])
		copy(c.hist[n-len(s):], s)
	}
	c.filled = min(n, c.filled+len(s))
}
