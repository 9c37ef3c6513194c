package e2e

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"testing"
)

// Errors of the WAV reader.
var (
	errNotWAV       = errors.New("not a RIFF/WAVE file")
	errWAVFormat    = errors.New("unsupported WAV format")
	errWAVNoData    = errors.New("WAV file has no data chunk")
	errWAVTruncated = errors.New("WAV file truncated")
)

// pcm is decoded audio: the first channel of a 16-bit PCM WAV file,
// scaled to [-1, 1).
type pcm struct {
	Rate     int
	Channels int
	Samples  []float64
}

// Duration is the length of the audio in seconds.
func (p pcm) Duration() float64 { return float64(len(p.Samples)) / float64(p.Rate) }

// Slice returns the samples between from and to seconds, clamped to the audio.
func (p pcm) Slice(from, to float64) []float64 {
	a := int(math.Max(0, from) * float64(p.Rate))
	b := int(math.Min(p.Duration(), to) * float64(p.Rate))
	if a >= b {
		return nil
	}
	return p.Samples[a:b]
}

// readWAV reads a 16-bit PCM WAV file. baresip's sndfile module rewrites the
// RIFF sizes only when the call ends cleanly, so a data chunk whose size is
// zero or runs past the end of the file is read up to the end of the file.
func readWAV(path string) (pcm, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return pcm{}, err
	}
	return parseWAV(b)
}

func parseWAV(b []byte) (pcm, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return pcm{}, errNotWAV
	}
	var (
		p      pcm
		bits   int
		gotFmt bool
	)
	off := 12
	for off+8 <= len(b) {
		id := string(b[off : off+4])
		size := int(binary.LittleEndian.Uint32(b[off+4 : off+8]))
		body := off + 8
		switch id {
		case "fmt ":
			if size < 16 || body+16 > len(b) {
				return pcm{}, errWAVTruncated
			}
			format := binary.LittleEndian.Uint16(b[body:])
			p.Channels = int(binary.LittleEndian.Uint16(b[body+2:]))
			p.Rate = int(binary.LittleEndian.Uint32(b[body+4:]))
			bits = int(binary.LittleEndian.Uint16(b[body+14:]))
			// 0xFFFE is WAVE_FORMAT_EXTENSIBLE; its sub-format is PCM for sndfile's 16-bit output.
			if (format != 1 && format != 0xFFFE) || bits != 16 || p.Channels < 1 || p.Rate <= 0 {
				return pcm{}, fmt.Errorf("%w: format %d, %d bits, %d channels, %d Hz", errWAVFormat, format, bits, p.Channels, p.Rate)
			}
			gotFmt = true
		case "data":
			if !gotFmt {
				return pcm{}, fmt.Errorf("%w: data before fmt", errWAVFormat)
			}
			end := body + size
			if size == 0 || end > len(b) {
				end = len(b)
			}
			frame := 2 * p.Channels
			n := (end - body) / frame
			p.Samples = make([]float64, n)
			for i := range n {
				v := int16(binary.LittleEndian.Uint16(b[body+i*frame:]))
				p.Samples[i] = float64(v) / 32768
			}
			return p, nil
		}
		off = body + size + size%2
	}
	return pcm{}, errWAVNoData
}

// goertzelLevel is the amplitude of the component at freq in x, in dB
// relative to a full-scale sine (0 dBFS). A Hann window keeps the leakage of
// the other tones, a few hundred hertz away, far below the 20 dB margins the
// tests ask for.
func goertzelLevel(x []float64, rate int, freq float64) float64 {
	n := len(x)
	if n == 0 {
		return math.Inf(-1)
	}
	w := 2 * math.Pi * freq / float64(rate)
	coeff := 2 * math.Cos(w)
	var s1, s2, wsum float64
	for i, v := range x {
		h := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1+boolInt(n == 1)))
		wsum += h
		s0 := v*h + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	re := s1 - s2*math.Cos(w)
	im := s2 * math.Sin(w)
	amp := 2 * math.Hypot(re, im) / wsum
	if amp < 1e-12 {
		return -240
	}
	return 20 * math.Log10(amp)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// toneReport holds the median level of each probed frequency over blocks of
// one piece of audio.
type toneReport struct {
	Levels map[float64]float64 // dBFS by frequency
	Floor  float64             // median level of the off-tone probes, dBFS
}

// floorProbes are frequencies away from the test tones, their harmonics and
// their second and third order intermodulation products (see toneFreqs).
var floorProbes = []float64{250, 520, 830, 1170, 1700, 2300}

// analyseTones measures every frequency in freqs and the floor probes over
// blocks of blockSec seconds and keeps each one's median, so one glitch
// (a lost packet, a concealed frame) does not decide the outcome.
func analyseTones(x []float64, rate int, freqs []float64, blockSec float64) toneReport {
	block := int(blockSec * float64(rate))
	all := append(append([]float64(nil), freqs...), floorProbes...)
	perFreq := make(map[float64][]float64, len(all))
	for start := 0; start+block <= len(x); start += block {
		for _, f := range all {
			perFreq[f] = append(perFreq[f], goertzelLevel(x[start:start+block], rate, f))
		}
	}
	r := toneReport{Levels: make(map[float64]float64, len(freqs))}
	for _, f := range freqs {
		r.Levels[f] = median(perFreq[f])
	}
	floors := make([]float64, 0, len(floorProbes))
	for _, f := range floorProbes {
		floors = append(floors, median(perFreq[f]))
	}
	r.Floor = median(floors)
	return r
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.Inf(-1)
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// String prints the report as one line of a frequency table.
func (r toneReport) String() string {
	keys := make([]float64, 0, len(r.Levels))
	for f := range r.Levels {
		keys = append(keys, f)
	}
	sort.Float64s(keys)
	var sb strings.Builder
	for _, f := range keys {
		fmt.Fprintf(&sb, "%6.0f Hz %7.1f dBFS | ", f, r.Levels[f])
	}
	fmt.Fprintf(&sb, "floor %7.1f dBFS", r.Floor)
	return sb.String()
}

// Margins the conference tests demand.
const (
	hearMarginDB   = 20.0  // a tone one must hear stands this far above the floor
	ownMarginDB    = 20.0  // one's own tone stays this far below the weakest tone one hears
	minAudibleDBFS = -45.0 // and a heard tone is at least this loud in absolute terms
)

// checkHearing returns the problems of one listener: it must hear every tone in
// hear and not own.
func checkHearing(r toneReport, hear []float64, own float64) []string {
	var problems []string
	weakest := math.Inf(1)
	for _, f := range hear {
		l := r.Levels[f]
		weakest = math.Min(weakest, l)
		if l-r.Floor < hearMarginDB {
			problems = append(problems, fmt.Sprintf("%.0f Hz only %.1f dB above the floor (want >= %.0f)", f, l-r.Floor, hearMarginDB))
		}
		if l < minAudibleDBFS {
			problems = append(problems, fmt.Sprintf("%.0f Hz at %.1f dBFS (want >= %.0f)", f, l, minAudibleDBFS))
		}
	}
	if own > 0 {
		if d := weakest - r.Levels[own]; d < ownMarginDB {
			problems = append(problems, fmt.Sprintf("own tone %.0f Hz only %.1f dB below the weakest heard tone (want >= %.0f)", own, d, ownMarginDB))
		}
	}
	return problems
}

// synth makes a test signal: the sum of sines at freqs, each at amp, plus a
// little deterministic noise.
func synth(rate int, sec float64, amp float64, freqs ...float64) []float64 {
	n := int(sec * float64(rate))
	x := make([]float64, n)
	seed := uint32(1)
	for i := range x {
		t := float64(i) / float64(rate)
		for _, f := range freqs {
			x[i] += amp * math.Sin(2*math.Pi*f*t)
		}
		seed = seed*1664525 + 1013904223
		x[i] += 1e-4 * (float64(seed)/float64(math.MaxUint32) - 0.5)
	}
	return x
}

func TestGoertzelLevel(t *testing.T) {
	tests := []struct {
		name  string
		rate  int
		freqs []float64
		probe float64
		want  float64 // dBFS
		tol   float64
	}{
		{name: "full scale 440 at 8k", rate: 8000, freqs: []float64{440}, probe: 440, want: -6.02, tol: 0.2},
		{name: "tone among others 48k", rate: 48000, freqs: []float64{440, 660, 990}, probe: 660, want: -6.02, tol: 0.2},
		{name: "absent tone is near the noise", rate: 16000, freqs: []float64{440, 990}, probe: 660, want: -100, tol: 30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := synth(tc.rate, 0.5, 0.5, tc.freqs...)
			got := goertzelLevel(x, tc.rate, tc.probe)
			if math.Abs(got-tc.want) > tc.tol {
				t.Errorf("level at %.0f Hz = %.2f dBFS, want %.2f ± %.1f", tc.probe, got, tc.want, tc.tol)
			}
		})
	}
}

func TestCheckHearing(t *testing.T) {
	tests := []struct {
		name    string
		signal  []float64
		hear    []float64
		own     float64
		wantBad bool
	}{
		{name: "hears others not self", signal: []float64{660, 990}, hear: []float64{660, 990}, own: 440},
		{name: "hears self", signal: []float64{440, 660, 990}, hear: []float64{660, 990}, own: 440, wantBad: true},
		{name: "misses one", signal: []float64{660}, hear: []float64{660, 990}, own: 440, wantBad: true},
		{name: "silence", signal: nil, hear: []float64{660, 990}, own: 440, wantBad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := analyseTones(synth(8000, 2, 0.1, tc.signal...), 8000, toneFreqs, 0.25)
			problems := checkHearing(r, tc.hear, tc.own)
			if (len(problems) > 0) != tc.wantBad {
				t.Errorf("problems = %q, want bad = %v; %s", problems, tc.wantBad, r)
			}
		})
	}
}

func TestToneFreqsAreDistinguishable(t *testing.T) {
	// No tone may be a harmonic (up to the 8th) or a 2nd/3rd order
	// intermodulation product of the others, and no floor probe may sit
	// within 20 Hz of any of those, or the detector would measure distortion
	// as a tone.
	var products []float64
	for i, a := range toneFreqs {
		for h := 2.0; h <= 8; h++ {
			products = append(products, h*a)
		}
		for j, b := range toneFreqs {
			if i == j {
				continue
			}
			products = append(products, math.Abs(a-b), a+b, math.Abs(2*a-b))
			for k, c := range toneFreqs {
				if k != i && k != j {
					products = append(products, math.Abs(a+b-c))
				}
			}
		}
	}
	near := func(f float64, set []float64, within float64) (float64, bool) {
		for _, p := range set {
			if math.Abs(f-p) < within {
				return p, true
			}
		}
		return 0, false
	}
	for _, f := range toneFreqs {
		if p, ok := near(f, products, 20); ok {
			t.Errorf("tone %.0f Hz is within 20 Hz of distortion product %.0f Hz", f, p)
		}
	}
	for _, f := range floorProbes {
		if p, ok := near(f, append(products, toneFreqs...), 20); ok {
			t.Errorf("floor probe %.0f Hz is within 20 Hz of %.0f Hz", f, p)
		}
	}
}

func TestParseWAV(t *testing.T) {
	header := func(dataSize uint32, channels uint16, rate uint32) []byte {
		b := []byte("RIFF\x00\x00\x00\x00WAVEfmt ")
		b = binary.LittleEndian.AppendUint32(b, 16)
		b = binary.LittleEndian.AppendUint16(b, 1)
		b = binary.LittleEndian.AppendUint16(b, channels)
		b = binary.LittleEndian.AppendUint32(b, rate)
		b = binary.LittleEndian.AppendUint32(b, rate*uint32(channels)*2)
		b = binary.LittleEndian.AppendUint16(b, channels*2)
		b = binary.LittleEndian.AppendUint16(b, 16)
		b = append(b, "data"...)
		return binary.LittleEndian.AppendUint32(b, dataSize)
	}
	stereo := func(pairs ...int16) []byte {
		var b []byte
		for _, v := range pairs {
			b = binary.LittleEndian.AppendUint16(b, uint16(v))
		}
		return b
	}
	tests := []struct {
		name    string
		in      []byte
		want    []float64
		wantErr error
	}{
		{name: "stereo keeps first channel", in: append(header(8, 2, 48000), stereo(16384, -1, -16384, 7)...), want: []float64{0.5, -0.5}},
		{name: "unfinished header reads to end", in: append(header(0, 1, 8000), stereo(16384, 16384)...), want: []float64{0.5, 0.5}},
		{name: "size past end reads to end", in: append(header(1000, 1, 8000), stereo(-32768)...), want: []float64{-1}},
		{name: "not riff", in: []byte("OggS............"), wantErr: errNotWAV},
		{name: "no data", in: header(0, 1, 8000)[:36], wantErr: errWAVNoData},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseWAV(tc.in)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if fmt.Sprint(got.Samples) != fmt.Sprint(tc.want) {
				t.Errorf("samples = %v, want %v", got.Samples, tc.want)
			}
		})
	}
}
