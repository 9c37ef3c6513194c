package media

import (
	"math"
	"time"

	"vmrd/internal/codec"
)

// In-band DTMF detection: the tone pairs of ITU-T Q.23 found in decoded audio,
// with the acceptance rules receivers follow in practice (ITU-T Q.24).
//
// Cost. The tones lie below 1.7 kHz, so the 48 kHz input is first decimated
// by 6 to 8 kHz and the Goertzel filters run on 8 kHz samples: six times fewer
// filter steps than at 48 kHz for the same frequency resolution (resolution
// depends on the window's duration, not its rate). The decimation filter is
// an 11-tap triangle (two cascaded 6-sample boxcars): its zeros sit at 8, 16
// and 24 kHz, exactly where the bands that alias onto the DTMF band are
// centred, and it needs two multiply-adds per input sample. Its droop (-1.2 dB
// at 1633 Hz, -5.4 dB at 3.4 kHz) is undone by a 3-tap high-shelf filter at
// 8 kHz, flat to within 0.9 dB over 300-3400 Hz, so that the window's
// energy, against which the tones are weighed, counts speech harmonics and
// noise at 2-4 kHz fully; what remains is corrected per frequency.
//
// Windows. Rows are 73-89 Hz apart, so a window must be at least ~12 ms for a
// row tone to leak little into its neighbours (the rectangular window's first
// null falls at 1/duration). Windows of 102 samples (12.75 ms, nulls every
// 78 Hz) advance by half a window (6.375 ms), which makes the timing rules
// below independent of where a tone starts relative to the windows.
//
// Timing. A digit starts after inbandStartHits consecutive windows that see
// it and ends after inbandEndMisses consecutive windows that do not. A 40 ms
// tone always gives at least five such windows and a 20 ms tone at most
// three, so tones of 40 ms and more are accepted and tones of 20 ms and less
// rejected; a pause of 40 ms always gives five misses, while a dropout of up
// to 10 ms gives at most three and is bridged. Q.24 asks for 40 ms tones and
// pauses to be recognized and for short interruptions not to split a digit.
//
// Talk-off. Speech and music rarely put nearly all of their energy into
// exactly one row and one column frequency at once: a window counts only if
// both tones are present at a usable level, their levels are within the twist
// limits, every other row and column frequency is well below them, the two
// tones hold most of the window's energy, and the column tone has no strong
// second harmonic (voiced speech is rich in harmonics; keypad tones are not).
// Together with the duration rule this keeps the conference's own test tones
// (sines at 400/440/660/700/990/1100 Hz, alone or together) and speech from
// producing digits.

const (
	inbandRate   = 8000
	inbandFactor = codec.MixRate / inbandRate // decimation by 6
	inbandWin    = 102                        // 12.75 ms at 8 kHz; even, see goertzel4
	inbandHop    = inbandWin / 2

	inbandStartHits = 4 // windows that must see a digit before it counts
	inbandEndMisses = 4 // windows without it that end it

	// inbandShelf is the high-shelf filter's coefficient: it is
	// -a, 1+2a, -a.
	inbandShelf = 0.18

	// dBm0Peak is the peak of a 0 dBm0 sine in 16-bit PCM: G.711 full scale
	// (8159 on the 14-bit µ-law scale, 32636 on ours) is +3.17 dBm0.
	dBm0Peak = 22650
	// inbandMinDBm0 is the weakest tone accepted: Q.24 receivers must work
	// down to about -25 to -30 dBm0 per tone and must not below -55 dBm0.
	inbandMinDBm0 = -36.0

	// Twist limits. Receivers must accept a column tone up to 8 dB louder
	// than the row tone (normal twist) and a row tone up to 4 dB louder
	// (reverse twist). The limits applied are 3 dB wider because a 12.75 ms
	// window lets the louder tone leak into the other's filter at up to
	// -21 dB (941 and 1209 Hz, 3.4 bins apart), which moves the measured
	// twist by up to 2.5 dB with the tones' relative phase. Twists from
	// 15 dB normal and 12 dB reverse are rejected in every window.
	inbandNormalTwistDB  = 11.0
	inbandReverseTwistDB = 7.0
	inbandRelativeDB     = 8.0  // the other rows/columns must be this far below
	inbandHarmonicDB     = 15.0 // the column's second harmonic must be this far below
	// inbandMinFraction is the least share of the window's energy the two
	// tones must hold: 1 for clean tones, 0.8 at 6 dB signal-to-noise ratio.
	inbandMinFraction = 0.75
)

// dtmfRowHz and dtmfColHz are the Q.23 frequencies; dtmfKeypad is the keypad
// laid out row by row.
var (
	dtmfRowHz  = [4]float64{697, 770, 852, 941}
	dtmfColHz  = [4]float64{1209, 1336, 1477, 1633}
	dtmfKeypad = [4][4]rune{
		{'1', '2', '3', 'A'},
		{'4', '5', '6', 'B'},
		{'7', '8', '9', 'C'},
		{'*', '0', '#', 'D'},
	}
)

// inbandConsts are the detector's precomputed coefficients and thresholds,
// shared by all detectors.
type inbandConsts struct {
	row, col     [4]float32    // Goertzel coefficients 2cos(w)
	harm         [4][3]float32 // the same around twice the column frequencies
	rowGain      [4]float32    // power corrections for the decimator's droop
	colGain      [4]float32
	harmGain     [4][3]float32
	minPower     float32 // Goertzel power of a tone at inbandMinDBm0
	normalTwist  float32 // as power ratios
	reverseTwist float32
	relative     float32
	harmonic     float32
	// energyScale turns the window's energy into the Goertzel power a tone
	// of that energy would give (N/2), times inbandMinFraction.
	energyScale float32
}

var inband = func() (k inbandConsts) {
	coef := func(f float64) float32 { return float32(2 * math.Cos(2*math.Pi*f/inbandRate)) }
	// The triangle is a 6-sample boxcar applied twice: its amplitude
	// response is the boxcar's squared.
	gain := func(f float64) float32 {
		x := math.Pi * f / codec.MixRate
		box := math.Sin(inbandFactor*x) / (inbandFactor * math.Sin(x))
		shelf := 1 + 2*inbandShelf*(1-math.Cos(2*math.Pi*f/inbandRate))
		a := box * box * shelf
		return float32(1 / (a * a))
	}
	for i := range 4 {
		k.row[i], k.rowGain[i] = coef(dtmfRowHz[i]), gain(dtmfRowHz[i])
		k.col[i], k.colGain[i] = coef(dtmfColHz[i]), gain(dtmfColHz[i])
		// A column tone may be off by a few percent (Q.24 accepts
		// 1.5 %), and its harmonic twice as far in Hz: look at 2f
		// and 2 % either side, which covers it with the 78 Hz wide
		// main lobe.
		for j, m := range [3]float64{0.98, 1, 1.02} {
			f := 2 * dtmfColHz[i] * m
			k.harm[i][j], k.harmGain[i][j] = coef(f), gain(f)
		}
	}
	db := func(d float64) float32 { return float32(math.Pow(10, d/10)) }
	amp := dBm0Peak * math.Pow(10, inbandMinDBm0/20)
	k.minPower = float32(amp * amp * inbandWin * inbandWin / 4)
	k.normalTwist = db(inbandNormalTwistDB)
	k.reverseTwist = db(inbandReverseTwistDB)
	k.relative = db(inbandRelativeDB)
	k.harmonic = db(inbandHarmonicDB)
	k.energyScale = inbandWin / 2 * inbandMinFraction
	return k
}()

// InbandDetector finds DTMF key presses in 48 kHz mono PCM, such as a
// session's decoded audio, and reports each once, at its end. It does not
// allocate after construction. It is not safe for concurrent use.
type InbandDetector struct {
	onDigit func(DTMFEvent)

	// Decimator state: the position in the current group of six input
	// samples, the group's plain and ramp-weighted sums, and the previous
	// group's ramp-weighted sum.
	pos     int
	sum     int32
	ramp    int32
	prevRmp int32

	y1, y2 float32 // the last two decimated samples, for the shelf filter

	win [inbandWin]float32 // filtered 8 kHz samples; the first n are valid
	n   int
	// Energies of the window's first half and of its second half so far.
	prevEnergy, hopEnergy float32

	// Per-window decisions. A window index counts hops.
	window   int64
	cand     rune // digit of the last window(s), 0 for none
	candRun  int  // consecutive windows that saw cand
	cur      rune // the digit in progress, 0 when idle
	curFirst int64
	curLast  int64
	misses   int
}

// NewInbandDetector returns a detector that calls onDigit, from Write, once
// per key press when the press has ended.
func NewInbandDetector(onDigit func(DTMFEvent)) *InbandDetector {
	return &InbandDetector{onDigit: onDigit}
}

// String names the stage for pipeline descriptions.
func (d *InbandDetector) String() string { return "DTMF(in-band)" }

// Reset forgets all audio seen so far, including a press in progress (new
// source or stream).
func (d *InbandDetector) Reset() {
	on := d.onDigit
	*d = InbandDetector{onDigit: on}
}

// Write analyses the next samples of the stream. Any length is accepted;
// calls continue one stream.
func (d *InbandDetector) Write(pcm []int16) {
	i := 0
	for ; d.pos != 0 && i < len(pcm); i++ {
		d.push(pcm[i])
	}
	// Whole groups of six: out = 6*sum - ramp + prevRamp is the triangle
	// 1 2 3 4 5 6 5 4 3 2 1 over this group and the previous one.
	// The state lives in locals for the loop; the shelf filter and the
	// window are written out here rather than through emit.
	prev, y1, y2, n, e := d.prevRmp, d.y1, d.y2, d.n, d.hopEnergy
	for ; i+inbandFactor <= len(pcm); i += inbandFactor {
		g := pcm[i : i+inbandFactor : i+inbandFactor]
		x0, x1, x2, x3, x4, x5 := int32(g[0]), int32(g[1]), int32(g[2]), int32(g[3]), int32(g[4]), int32(g[5])
		sum := x0 + x1 + x2 + x3 + x4 + x5
		ramp := x1 + 2*x2 + 3*x3 + 4*x4 + 5*x5
		y := float32(6*sum-ramp+prev) * (1.0 / 36)
		prev = ramp
		z := (1+2*inbandShelf)*y1 - inbandShelf*(y2+y)
		y2, y1 = y1, y
		d.win[n] = z
		e += z * z
		n++
		if n == inbandHop || n == inbandWin {
			d.n, d.hopEnergy = n, e
			d.hopDone()
			n, e = d.n, d.hopEnergy
		}
	}
	d.prevRmp, d.y1, d.y2, d.n, d.hopEnergy = prev, y1, y2, n, e
	for ; i < len(pcm); i++ {
		d.push(pcm[i])
	}
}

// push takes one sample into a partial group.
func (d *InbandDetector) push(v int16) {
	x := int32(v)
	d.sum += x
	d.ramp += int32(d.pos) * x
	d.pos++
	if d.pos == inbandFactor {
		d.emit(6*d.sum - d.ramp + d.prevRmp)
		d.prevRmp, d.sum, d.ramp, d.pos = d.ramp, 0, 0, 0
	}
}

// emit takes one decimated sample (36 times the input scale), and puts the
// previous one, through the shelf filter, into the window.
func (d *InbandDetector) emit(v int32) {
	y := float32(v) * (1.0 / 36)
	z := (1+2*inbandShelf)*d.y1 - inbandShelf*(d.y2+y)
	d.y2, d.y1 = d.y1, y
	d.win[d.n] = z
	d.hopEnergy += z * z
	d.n++
	if d.n == inbandHop || d.n == inbandWin {
		d.hopDone()
	}
}

// hopDone is called when a half window has been filled: the window's energy
// is that of its two halves. A full window is analysed and slides on.
func (d *InbandDetector) hopDone() {
	if d.n == inbandHop {
		d.prevEnergy, d.hopEnergy = d.hopEnergy, 0
		return
	}
	d.step(d.classify(&d.win, d.prevEnergy+d.hopEnergy))
	copy(d.win[:inbandHop], d.win[inbandHop:])
	d.n = inbandHop
	d.prevEnergy, d.hopEnergy = d.hopEnergy, 0
}

// step advances the press state machine by one window that saw digit
// (0 for none).
func (d *InbandDetector) step(digit rune) {
	w := d.window
	d.window++
	if digit != 0 && digit == d.cand {
		d.candRun++
	} else {
		d.cand, d.candRun = digit, 0
		if digit != 0 {
			d.candRun = 1
		}
	}
	if d.cur != 0 {
		if digit == d.cur {
			d.curLast, d.misses = w, 0
		} else if d.misses++; d.misses >= inbandEndMisses {
			d.finish()
		}
	}
	if d.cur == 0 && d.cand != 0 && d.candRun >= inbandStartHits {
		d.cur, d.curFirst, d.curLast, d.misses = d.cand, w-int64(d.candRun)+1, w, 0
	}
}

// finish reports the press in progress.
func (d *InbandDetector) finish() {
	hops := d.curLast - d.curFirst
	dur := time.Duration(hops*inbandHop+inbandWin) * time.Second / inbandRate
	ev := DTMFEvent{Digit: d.cur, Duration: dur, Source: DTMFInband}
	d.cur, d.misses = 0, 0
	if d.onDigit != nil {
		d.onDigit(ev)
	}
}

// classify returns the digit whose tones the window of the given energy
// holds, or 0.
func (d *InbandDetector) classify(x *[inbandWin]float32, energy float32) rune {
	k := &inband
	rows := goertzel4(x, &k.row)
	r := 0
	for i := range 4 {
		if rows[i]*k.rowGain[i] > rows[r]*k.rowGain[r] {
			r = i
		}
	}
	if rows[r]*k.rowGain[r] < k.minPower {
		return 0 // silence, or nothing near a row: skip the columns
	}
	cols := goertzel4(x, &k.col)
	c := 0
	for i := range 4 {
		if cols[i]*k.colGain[i] > cols[c]*k.colGain[c] {
			c = i
		}
	}
	// The share of the energy is taken before the correction for the
	// filters: the tones and the energy went through the same filters.
	if rows[r]+cols[c] < energy*k.energyScale {
		return 0
	}
	// Levels, twist and harmonics are compared as they were sent.
	for i := range 4 {
		rows[i] *= k.rowGain[i]
		cols[i] *= k.colGain[i]
	}
	pr, pc := rows[r], cols[c]
	switch {
	case pr < k.minPower || pc < k.minPower:
		return 0
	case pc > pr*k.normalTwist || pr > pc*k.reverseTwist:
		return 0
	}
	for i := range 4 {
		if i != r && rows[i]*k.relative > pr || i != c && cols[i]*k.relative > pc {
			return 0
		}
	}
	for j := range 3 {
		if goertzel1(x, k.harm[c][j])*k.harmGain[c][j]*k.harmonic > pc {
			return 0
		}
	}
	return dtmfKeypad[r][c]
}

// goertzel4 runs four Goertzel filters over x in one pass (four independent
// recurrences keep the FPU busy) and returns their powers, |X(f)|².
//
// Each recurrence s[n] = c*s[n-1] - s[n-2] + x[n] is written as
// c*s[n-1] + (x[n]-s[n-2]), so the subtraction does not wait for the product,
// and unrolled by two with the two state variables taking turns, so no
// values are shuffled between registers.
func goertzel4(x *[inbandWin]float32, c *[4]float32) (p [4]float32) {
	c0, c1, c2, c3 := c[0], c[1], c[2], c[3]
	var a1, a2, b1, b2, d1, d2, e1, e2 float32 // s[n-1], s[n-2] of each
	for i := 0; i+1 < len(x); i += 2 {
		v, w := x[i], x[i+1]
		a2 = c0*a1 + (v - a2)
		b2 = c1*b1 + (v - b2)
		d2 = c2*d1 + (v - d2)
		e2 = c3*e1 + (v - e2)
		a1 = c0*a2 + (w - a1)
		b1 = c1*b2 + (w - b1)
		d1 = c2*d2 + (w - d1)
		e1 = c3*e2 + (w - e1)
	}
	p[0] = a1*a1 + a2*a2 - c0*a1*a2
	p[1] = b1*b1 + b2*b2 - c1*b1*b2
	p[2] = d1*d1 + d2*d2 - c2*d1*d2
	p[3] = e1*e1 + e2*e2 - c3*e1*e2
	return p
}

// goertzel1 is one Goertzel filter over x, written like goertzel4.
func goertzel1(x *[inbandWin]float32, c float32) float32 {
	var s1, s2 float32
	for i := 0; i+1 < len(x); i += 2 {
		s2 = c*s1 + (x[i] - s2)
		s1 = c*s2 + (x[i+1] - s1)
	}
	return s1*s1 + s2*s2 - c*s1*s2
}
