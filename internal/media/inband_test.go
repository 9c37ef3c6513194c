package media

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"vmrd/internal/codec"
)

const allDigits = "123A456B789C*0#D"

// dBm0Amp is the peak amplitude of a sine at level dB (dBm0).
func dBm0Amp(dB float64) float64 { return dBm0Peak * math.Pow(10, dB/20) }

// keyFreqs returns the row and column frequencies of a key.
func keyFreqs(t testing.TB, key rune) (row, col float64) {
	t.Helper()
	for r := range 4 {
		for c := range 4 {
			if dtmfKeypad[r][c] == key {
				return dtmfRowHz[r], dtmfColHz[c]
			}
		}
	}
	t.Fatalf("no key %q", key)
	return 0, 0
}

// signal builds 48 kHz audio in float64 so several parts can be mixed
// before the final rounding.
type signal struct {
	x []float64
}

func ms(d float64) int { return int(math.Round(d * codec.MixRate / 1000)) }

// silence appends d milliseconds of silence.
func (s *signal) silence(d float64) { s.x = append(s.x, make([]float64, ms(d))...) }

// tones appends d milliseconds of the sum of sines (freq, peak amplitude).
func (s *signal) tones(d float64, freqs, amps []float64) {
	n := ms(d)
	for i := range n {
		var v float64
		for k, f := range freqs {
			v += amps[k] * math.Sin(2*math.Pi*f*float64(i)/codec.MixRate+float64(k))
		}
		s.x = append(s.x, v)
	}
}

// key appends one key press: on ms of the key's tones at the given
// per-tone levels (dBm0), frequencies scaled by 1+dev, then off ms of pause.
func (s *signal) key(t testing.TB, key rune, on, off, rowDB, colDB, dev float64) {
	t.Helper()
	r, c := keyFreqs(t, key)
	s.tones(on, []float64{r * (1 + dev), c * (1 + dev)}, []float64{dBm0Amp(rowDB), dBm0Amp(colDB)})
	s.silence(off)
}

// noise adds Gaussian noise whose power in the 0-4 kHz band is dB (dBm0):
// white noise at 48 kHz has one sixth of its power there.
func (s *signal) noise(dB float64, rng *rand.Rand) {
	sigma := dBm0Amp(dB) / math.Sqrt2 * math.Sqrt(6)
	for i := range s.x {
		s.x[i] += sigma * rng.NormFloat64()
	}
}

// pcm rounds and clips to 16 bits, padded with silence to whole 20 ms frames.
func (s *signal) pcm() []int16 {
	n := (len(s.x) + codec.FrameSamples - 1) / codec.FrameSamples * codec.FrameSamples
	out := make([]int16, n)
	for i, v := range s.x {
		out[i] = int16(max(-32768, min(32767, math.Round(v))))
	}
	return out
}

// through encodes and decodes pcm with c, 20 ms at a time, as a phone and a
// session would; a zero codec returns pcm unchanged.
func through(t testing.TB, c codec.AudioCodec, pcm []int16) []int16 {
	t.Helper()
	if c.Name == "" {
		return pcm
	}
	enc, err := c.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	dec, err := c.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var out []int16
	buf := make([]byte, 1500)
	frame := make([]int16, codec.MaxFrameSamples)
	for i := 0; i+codec.FrameSamples <= len(pcm); i += codec.FrameSamples {
		n, err := enc.Encode(pcm[i:i+codec.FrameSamples], buf)
		if err != nil {
			t.Fatal(err)
		}
		m, err := dec.Decode(buf[:n], frame)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, frame[:m]...)
	}
	return out
}

// detect runs a new detector over pcm in chunks of the given size (0: 20 ms
// frames) and returns its events.
func detect(pcm []int16, chunk int) []DTMFEvent {
	var got []DTMFEvent
	d := NewInbandDetector(func(e DTMFEvent) { got = append(got, e) })
	if chunk <= 0 {
		chunk = codec.FrameSamples
	}
	for i := 0; i < len(pcm); i += chunk {
		d.Write(pcm[i:min(i+chunk, len(pcm))])
	}
	return got
}

func digitsOf(evs []DTMFEvent) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteRune(e.Digit)
	}
	return b.String()
}

func TestInbandDetectsAllDigits(t *testing.T) {
	tests := []struct {
		name         string
		on, off      float64 // ms
		rowDB, colDB float64 // per tone, dBm0
		dev          float64 // relative frequency error
		noiseDB      float64 // 0: none
		codec        codec.AudioCodec
		chunk        int
	}{
		{name: "clean", on: 60, off: 60, rowDB: -10, colDB: -8},
		{name: "pcmu", on: 60, off: 60, rowDB: -10, colDB: -8, codec: codec.PCMU},
		{name: "pcma", on: 60, off: 60, rowDB: -10, colDB: -8, codec: codec.PCMA},
		{name: "g722", on: 60, off: 60, rowDB: -10, colDB: -8, codec: codec.G722},
		{name: "opus", on: 60, off: 60, rowDB: -10, colDB: -8, codec: codec.Opus},
		{name: "pcmu loud", on: 60, off: 60, rowDB: -4, colDB: -3, codec: codec.PCMU},
		{name: "pcmu quiet", on: 60, off: 60, rowDB: -30, colDB: -30, codec: codec.PCMU},
		{name: "pcmu normal twist 8 dB", on: 60, off: 60, rowDB: -20, colDB: -12, codec: codec.PCMU},
		{name: "pcmu reverse twist 4 dB", on: 60, off: 60, rowDB: -10, colDB: -14, codec: codec.PCMU},
		{name: "pcmu minimum timing 40/40", on: 40, off: 40, rowDB: -10, colDB: -8, codec: codec.PCMU},
		{name: "pcmu slow 250/150", on: 250, off: 150, rowDB: -10, colDB: -8, codec: codec.PCMU},
		{name: "pcmu frequencies +1.5%", on: 60, off: 60, rowDB: -10, colDB: -8, dev: 0.015, codec: codec.PCMU},
		{name: "pcmu frequencies -1.5%", on: 60, off: 60, rowDB: -10, colDB: -8, dev: -0.015, codec: codec.PCMU},
		{name: "pcmu noise snr 15 dB", on: 60, off: 60, rowDB: -15, colDB: -15, noiseDB: -30, codec: codec.PCMU},
		{name: "pcmu noise snr 8 dB", on: 60, off: 60, rowDB: -15, colDB: -15, noiseDB: -23, codec: codec.PCMU},
		{name: "pcmu odd chunks", on: 50, off: 50, rowDB: -10, colDB: -8, codec: codec.PCMU, chunk: 331},
		{name: "sample by sample", on: 50, off: 50, rowDB: -10, colDB: -8, chunk: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s signal
			s.silence(100)
			for _, k := range allDigits {
				s.key(t, k, tt.on, tt.off, tt.rowDB, tt.colDB, tt.dev)
			}
			s.silence(100)
			if tt.noiseDB != 0 {
				s.noise(tt.noiseDB, rand.New(rand.NewPCG(1, 2)))
			}
			evs := detect(through(t, tt.codec, s.pcm()), tt.chunk)
			if got := digitsOf(evs); got != allDigits {
				t.Fatalf("digits %q, want %q", got, allDigits)
			}
			for _, e := range evs {
				if e.Source != DTMFInband {
					t.Fatalf("source %v", e.Source)
				}
				// The measured length is within a window of the truth.
				if d := math.Abs(e.Duration.Seconds()*1000 - tt.on); d > 13 {
					t.Fatalf("%q lasted %v, sent %v ms", e.Digit, e.Duration, tt.on)
				}
			}
		})
	}
}

// TestInbandLevelVariation sends random digits at random levels and twists
// within the limits, through µ-law, with noise.
func TestInbandLevelVariation(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	var s signal
	var want strings.Builder
	s.silence(50)
	for range 200 {
		k := rune(allDigits[rng.IntN(len(allDigits))])
		row := -28 + 24*rng.Float64()
		col := row - 4 + 12*rng.Float64() // reverse 4 dB to normal 8 dB
		on, off := 45+100*rng.Float64(), 45+100*rng.Float64()
		s.key(t, k, on, off, row, col, 0.01*(2*rng.Float64()-1))
		want.WriteRune(k)
	}
	s.noise(-45, rng)
	if got := digitsOf(detect(through(t, codec.PCMU, s.pcm()), 0)); got != want.String() {
		t.Fatalf("digits\n%q, want\n%q", got, want.String())
	}
}

// TestInbandTiming checks the duration rules at every alignment of the tones
// to the analysis windows.
func TestInbandTiming(t *testing.T) {
	tests := []struct {
		name  string
		build func(s *signal)
		want  string
	}{
		{"20 ms tone rejected", func(s *signal) { s.key(t, '5', 20, 100, -10, -10, 0) }, ""},
		{"24 ms tone rejected", func(s *signal) { s.key(t, '5', 24, 100, -10, -10, 0) }, ""},
		{"40 ms tone accepted", func(s *signal) { s.key(t, '5', 40, 100, -10, -10, 0) }, "5"},
		{"10 ms dropout bridged", func(s *signal) {
			s.key(t, '8', 60, 10, -10, -10, 0)
			s.key(t, '8', 60, 100, -10, -10, 0)
		}, "8"},
		{"40 ms pause splits", func(s *signal) {
			s.key(t, '8', 60, 40, -10, -10, 0)
			s.key(t, '8', 60, 100, -10, -10, 0)
		}, "88"},
		{"different digit without pause", func(s *signal) {
			s.key(t, '1', 60, 0, -10, -10, 0)
			s.key(t, '9', 60, 100, -10, -10, 0)
		}, "19"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One 48 kHz sample at a time over a whole hop (6.375 ms).
			for lead := 0.0; lead < 6.5; lead += 1.0 / 48 * 7 {
				var s signal
				s.silence(20 + lead)
				tt.build(&s)
				for _, c := range []codec.AudioCodec{{}, codec.PCMU} {
					if got := digitsOf(detect(through(t, c, s.pcm()), 0)); got != tt.want {
						t.Fatalf("lead %.3f ms, codec %q: digits %q, want %q", lead, c.Name, got, tt.want)
					}
				}
			}
		})
	}
}

// speech synthesizes voiced speech: a glottal pulse train (harmonics
// falling 12 dB an octave) with jitter, 5.5 Hz vibrato and pitch glides,
// shaped by the formants of a vowel that changes every syllable, with a
// syllabic envelope.
func speech(seconds, f0Low, f0High, peakDB float64, rng *rand.Rand) []float64 {
	vowels := [][3]float64{{730, 1090, 2440}, {270, 2290, 3010}, {300, 870, 2240}, {530, 1840, 2480}, {570, 840, 2410}, {660, 1720, 2410}, {440, 1020, 2240}}
	n := ms(seconds * 1000)
	out := make([]float64, n)
	var phase [40]float64
	i := 0
	for i < n {
		syl := ms(120 + 250*rng.Float64())
		v := vowels[rng.IntN(len(vowels))]
		f0a := f0Low + (f0High-f0Low)*rng.Float64()
		f0b := f0a * (0.85 + 0.3*rng.Float64())
		for j := 0; j < syl && i < n; i, j = i+1, j+1 {
			tt := float64(i) / codec.MixRate
			frac := float64(j) / float64(syl)
			f0 := (f0a + (f0b-f0a)*frac) * (1 + 0.03*math.Sin(2*math.Pi*5.5*tt)) * (1 + 0.005*rng.NormFloat64())
			env := math.Sin(math.Pi * frac)
			var x float64
			for h := 1; h < len(phase); h++ {
				f := float64(h) * f0
				if f > 3800 {
					break
				}
				phase[h] += 2 * math.Pi * f / codec.MixRate
				g := 0.0
				for k, fm := range v {
					bw := 60.0 + 40*float64(k)
					g += math.Pow(0.5, float64(k)) / (1 + (f-fm)*(f-fm)/(bw*bw))
				}
				x += g / float64(h) * math.Sin(phase[h])
			}
			out[i] = env * x
		}
	}
	return normalize(out, peakDB)
}

// music plays random chords of equal-tempered notes around the DTMF band,
// each note with harmonics falling as 1/k, like a reed or a bowed string.
func music(seconds, peakDB float64, rng *rand.Rand) []float64 {
	n := ms(seconds * 1000)
	out := make([]float64, n)
	i := 0
	for i < n {
		dur := ms(200 + 300*rng.Float64())
		notes := make([]float64, 2+rng.IntN(3))
		for k := range notes {
			notes[k] = 440 * math.Pow(2, float64(rng.IntN(30)-5)/12) // E4 .. A6
		}
		for j := 0; j < dur && i < n; i, j = i+1, j+1 {
			tt := float64(j) / codec.MixRate
			env := math.Exp(-3*tt) * math.Min(1, tt*200)
			var x float64
			for _, f := range notes {
				for h := 1.0; h*f < 3800; h++ {
					x += math.Sin(2*math.Pi*h*f*tt) / h
				}
			}
			out[i] = env * x
		}
	}
	return normalize(out, peakDB)
}

func normalize(x []float64, peakDB float64) []float64 {
	var peak float64
	for _, v := range x {
		peak = max(peak, math.Abs(v))
	}
	g := dBm0Amp(peakDB) / peak
	for i := range x {
		x[i] *= g
	}
	return x
}

// TestInbandTalkOff feeds signals that are not key presses: none may give a
// digit, directly or through µ-law.
func TestInbandTalkOff(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sines := func(seconds float64, freqs []float64, dBs ...float64) []float64 {
		var s signal
		amps := make([]float64, len(freqs))
		for i := range freqs {
			amps[i] = dBm0Amp(dBs[i%len(dBs)])
		}
		s.tones(seconds*1000, freqs, amps)
		return s.x
	}
	tests := []struct {
		name string
		x    []float64
	}{
		{"male speech", speech(8, 85, 160, 0, rng)},
		{"female speech", speech(8, 165, 260, 0, rng)},
		{"child speech", speech(5, 250, 400, 0, rng)},
		{"quiet speech", speech(5, 100, 250, -25, rng)},
		{"music", music(10, 0, rng)},
		{"chord F5 and F#6, rich timbre", func() []float64 {
			var s signal
			var freqs, amps []float64
			for _, f := range []float64{698.46, 1479.98} {
				for h := 1.0; h*f < 3800; h++ {
					freqs, amps = append(freqs, h*f), append(amps, dBm0Amp(-10)/h)
				}
			}
			s.tones(2000, freqs, amps)
			return s.x
		}()},
		{"noise -10 dBm0", func() []float64 { var s signal; s.silence(5000); s.noise(-10, rng); return s.x }()},
		{"noise -35 dBm0", func() []float64 { var s signal; s.silence(5000); s.noise(-35, rng); return s.x }()},
		{"test tones 440 660 990", sines(2, []float64{440, 660, 990}, -10)},
		{"test tones 400 700 1100", sines(2, []float64{400, 700, 1100}, -10)},
		{"700 and 1100 at 13 dB apart", sines(2, []float64{700, 1100}, -23, -10)},
		{"660 and 990", sines(2, []float64{660, 990}, -10)},
		{"two rows and a column", sines(2, []float64{697, 770, 1209}, -10)},
		{"a row and two columns", sines(2, []float64{852, 1336, 1477}, -10)},
		{"twist 16 dB normal", sines(2, []float64{697, 1209}, -26, -10)},
		{"twist 12 dB reverse", sines(2, []float64{697, 1209}, -10, -22)},
		{"too quiet -45 dBm0", sines(2, []float64{697, 1209}, -45)},
		{"frequencies 6% off", sines(2, []float64{697 * 1.06, 1209 * 1.06}, -10)},
		{"column with its harmonic", sines(2, []float64{941, 1336, 2672}, -10, -10, -16)},
		{"single tones", func() []float64 {
			var s signal
			for _, f := range append(append([]float64{400, 440, 660, 700, 990, 1100}, dtmfRowHz[:]...), dtmfColHz[:]...) {
				s.tones(500, []float64{f}, []float64{dBm0Amp(-6)})
				s.silence(50)
			}
			return s.x
		}()},
		{"sweep 300-3400 Hz", func() []float64 {
			var s signal
			var ph float64
			for i := range ms(6000) {
				f := 300 * math.Pow(3400.0/300, float64(i)/float64(ms(6000)))
				ph += 2 * math.Pi * f / codec.MixRate
				s.x = append(s.x, dBm0Amp(-6)*math.Sin(ph))
			}
			return s.x
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := signal{x: tt.x}
			for _, c := range []codec.AudioCodec{{}, codec.PCMU} {
				if evs := detect(through(t, c, s.pcm()), 0); len(evs) != 0 {
					t.Fatalf("codec %q: digits %q from %s", c.Name, digitsOf(evs), tt.name)
				}
			}
		})
	}
}

// TestInbandSpeechThenDigits checks that a detector that has listened to
// speech still finds digits, also when they are spoken over quietly.
func TestInbandSpeechThenDigits(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	s := signal{x: speech(3, 90, 220, -3, rng)}
	start := len(s.x)
	for _, k := range "1234" {
		s.key(t, k, 80, 80, -8, -6, 0)
	}
	talk := speech(float64(len(s.x)-start)/codec.MixRate, 90, 220, -30, rng)
	for i, v := range talk {
		s.x[start+i] += v
	}
	if got := digitsOf(detect(through(t, codec.PCMU, s.pcm()), 0)); got != "1234" {
		t.Fatalf("digits %q, want 1234", got)
	}
}

func TestInbandChunkingInvariant(t *testing.T) {
	var s signal
	s.silence(33)
	for _, k := range allDigits {
		s.key(t, k, 55, 47, -12, -9, 0)
	}
	pcm := through(t, codec.PCMU, s.pcm())
	want := detect(pcm, len(pcm))
	for _, chunk := range []int{1, 5, 6, 7, 160, 959, 960, 961, 2000} {
		got := detect(pcm, chunk)
		if len(got) != len(want) {
			t.Fatalf("chunk %d: %v, want %v", chunk, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("chunk %d: event %d is %+v, want %+v", chunk, i, got[i], want[i])
			}
		}
	}
}

func TestInbandReset(t *testing.T) {
	var s signal
	s.key(t, '7', 200, 0, -10, -10, 0)
	pcm := s.pcm()
	var got []DTMFEvent
	d := NewInbandDetector(func(e DTMFEvent) { got = append(got, e) })
	d.Write(pcm[:len(pcm)/2])
	d.Reset() // the press in progress is forgotten...
	var q signal
	q.silence(200)
	d.Write(q.pcm())
	if len(got) != 0 {
		t.Fatalf("press reported across Reset: %v", got)
	}
	d.Write(pcm) // ...and the callback survives
	d.Write(q.pcm())
	if digitsOf(got) != "7" {
		t.Fatalf("after Reset: %v", got)
	}
}

func TestInbandNoAllocs(t *testing.T) {
	var s signal
	for _, k := range allDigits {
		s.key(t, k, 60, 60, -10, -10, 0)
	}
	pcm := s.pcm()
	n := 0
	d := NewInbandDetector(func(DTMFEvent) { n++ })
	i := 0
	allocs := testing.AllocsPerRun(len(pcm)/codec.FrameSamples-1, func() {
		d.Write(pcm[i : i+codec.FrameSamples])
		i += codec.FrameSamples
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame", allocs)
	}
	if n == 0 {
		t.Fatal("no digits: the measured path was not the detecting one")
	}
}

// BenchmarkInband measures the detector's cost per 20 ms frame on key
// presses and on speech.
func BenchmarkInband(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	var keys signal
	for _, k := range allDigits {
		keys.key(b, k, 60, 60, -10, -10, 0)
	}
	talk := signal{x: speech(4, 90, 220, -3, rng)}
	for _, bc := range []struct {
		name string
		pcm  []int16
	}{{"keys", keys.pcm()}, {"speech", talk.pcm()}, {"silence", make([]int16, 50*codec.FrameSamples)}} {
		b.Run(bc.name, func(b *testing.B) {
			d := NewInbandDetector(func(DTMFEvent) {})
			frames := len(bc.pcm) / codec.FrameSamples
			i := 0
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				f := i % frames
				d.Write(bc.pcm[f*codec.FrameSamples : (f+1)*codec.FrameSamples])
				i++
			}
			el := time.Since(start)
			b.ReportMetric(float64(el.Nanoseconds())/float64(b.N), "ns/frame")
			b.ReportMetric(float64(b.N)/el.Seconds()/50, "legs/core")
		})
	}
}

// sendPCM encodes pcm as PCMU and sends it from the leg's peer at the real
// packet rate, so the session's jitter buffer plays it out as it would a
// phone's.
func (l *testLeg) sendPCM(t *testing.T, pcm []int16) {
	t.Helper()
	enc, err := codec.PCMU.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	buf := make([]byte, 1500)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i+codec.FrameSamples <= len(pcm); i += codec.FrameSamples {
		n, err := enc.Encode(pcm[i:i+codec.FrameSamples], buf)
		if err != nil {
			t.Fatal(err)
		}
		p := l.packet(0)
		p.Payload = buf[:n]
		l.sendPacket(t, nil, p)
		<-tick.C
	}
}

// sendEvent sends one complete RFC 4733 key press (event code ev) of 100 ms:
// two progress packets and three end packets sharing one timestamp.
func (l *testLeg) sendEvent(t *testing.T, ev byte) {
	t.Helper()
	ts := l.ts
	for i, dur := range []uint16{160, 320, 800, 800, 800} {
		p := l.packet(0)
		p.PayloadType, p.Timestamp = 101, ts
		p.Payload = []byte{ev, 10, byte(dur >> 8), byte(dur)}
		if i >= 2 {
			p.Payload[1] |= 0x80
		}
		l.sendPacket(t, nil, p)
	}
	l.ts = ts + 800
}

func nextDTMF(t *testing.T, l *testLeg) DTMFEvent {
	t.Helper()
	select {
	case ev := <-l.dtmf:
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no DTMF event")
		return DTMFEvent{}
	}
}

func TestSessionInbandDTMF(t *testing.T) {
	l := newTestLeg(t, false, func(c *SessionConfig) { c.NewDecoder = nil; c.InbandDTMF = true })
	if !strings.Contains(l.s.String(), "48kHz mono -> DTMF(in-band) -> Sink(test)") {
		t.Fatalf("String() %q does not show the detector", l.s.String())
	}
	var s signal
	s.silence(60)
	s.key(t, '1', 80, 80, -10, -8, 0)
	s.key(t, '#', 80, 200, -10, -8, 0)
	l.sendPCM(t, s.pcm())
	for _, want := range "1#" {
		ev := nextDTMF(t, l)
		if ev.Digit != want || ev.Source != DTMFInband || ev.Duration < 60*time.Millisecond || ev.Duration > 100*time.Millisecond {
			t.Fatalf("event %+v, want %q from in-band tones of 80 ms", ev, want)
		}
	}
}

func TestSessionInbandOffAfterRFC4733(t *testing.T) {
	l := newTestLeg(t, false, func(c *SessionConfig) { c.NewDecoder = nil; c.InbandDTMF = true })
	var lead signal
	lead.silence(40)
	l.sendPCM(t, lead.pcm())
	l.sendEvent(t, 5)
	if ev := nextDTMF(t, l); ev.Digit != '5' || ev.Source != DTMFRFC4733 {
		t.Fatalf("event %+v, want 5 by RFC 4733", ev)
	}
	if strings.Contains(l.s.String(), "DTMF(in-band)") {
		t.Fatalf("String() %q still shows the detector", l.s.String())
	}
	// The same phone's audio now carries tones (an echo, or both ways at
	// once): they must not become digits.
	var s signal
	s.key(t, '7', 100, 100, -10, -8, 0)
	s.key(t, '7', 100, 200, -10, -8, 0)
	pcm := s.pcm()
	before := len(l.sink.got())
	l.sendPCM(t, pcm)
	eventually(t, "tones played", func() bool { return len(l.sink.got()) >= before+len(pcm)/codec.FrameSamples })
	select {
	case ev := <-l.dtmf:
		t.Fatalf("in-band event %+v after RFC 4733", ev)
	default:
	}
}

// TestSessionInbandOff: without the option, tones are only audio.
func TestSessionInbandOff(t *testing.T) {
	l := newTestLeg(t, false, func(c *SessionConfig) { c.NewDecoder = nil })
	var s signal
	s.key(t, '9', 100, 200, -10, -8, 0)
	pcm := s.pcm()
	l.sendPCM(t, pcm)
	eventually(t, "tones played", func() bool { return len(l.sink.got()) >= len(pcm)/codec.FrameSamples })
	select {
	case ev := <-l.dtmf:
		t.Fatalf("event %+v with in-band detection off", ev)
	default:
	}
	if strings.Contains(l.s.String(), "DTMF") {
		t.Fatalf("String() %q", l.s.String())
	}
}
