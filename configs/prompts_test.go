package configs

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"path"
	"slices"
	"testing"
)

// amplitude estimates the amplitude of the freq component of pcm (at Rate)
// with the Goertzel algorithm.
func amplitude(pcm []int16, freq float64) float64 {
	c := 2 * math.Cos(2*math.Pi*freq/Rate)
	var s1, s2 float64
	for _, x := range pcm {
		s1, s2 = float64(x)+c*s1-s2, s1
	}
	return 2 * math.Sqrt(max(s1*s1+s2*s2-c*s1*s2, 0)) / float64(len(pcm))
}

func peakRMS(pcm []int16) (peakDB, rmsDB float64) {
	var peak, sum float64
	for _, v := range pcm {
		f := float64(v)
		peak = max(peak, math.Abs(f))
		sum += f * f
	}
	db := func(x float64) float64 { return 20 * math.Log10(max(x, 1e-9)/32768) }
	return db(peak), db(math.Sqrt(sum / float64(len(pcm))))
}

func TestPromptsExistInEveryLanguage(t *testing.T) {
	for _, lang := range Languages() {
		for _, name := range PromptNames() {
			t.Run(lang+"/"+name, func(t *testing.T) {
				pcm, err := Prompt(lang, name)
				if err != nil {
					t.Fatal(err)
				}
				secs := float64(len(pcm)) / Rate
				if secs < 0.5 || secs > 6 {
					t.Errorf("%.2f s long, want 0.5 to 6 s", secs)
				}
				if name == HoldTone || name == Knock {
					return // levels checked with the tone tests
				}
				peak, rms := peakRMS(pcm)
				// scripts/prompts.sh normalizes the peak to -6 dBFS; the
				// interpolator may overshoot a little.
				if peak < -8 || peak > -4 {
					t.Errorf("peak %.1f dBFS, want about -6", peak)
				}
				if rms < -32 || rms > -16 {
					t.Errorf("RMS %.1f dBFS, want speech around -24", rms)
				}
				// Trimmed: no long silence at either end (the script pads
				// 50 ms before and 250 ms after).
				if lead := leadingSilence(pcm); lead > 0.1 {
					t.Errorf("%.2f s of silence before the speech", lead)
				}
				if trail := trailingSilence(pcm); trail > 0.35 {
					t.Errorf("%.2f s of silence after the speech", trail)
				}
			})
		}
	}
	// The contract's prompts and the embedded files agree both ways.
	files, err := fs.Glob(promptFiles, "prompts/*/*.wav")
	if err != nil {
		t.Fatal(err)
	}
	if want := len(Languages()) * len(spoken); len(files) != want {
		t.Errorf("%d embedded prompt files, want %d: %v", len(files), want, files)
	}
	for _, f := range files {
		lang, name := path.Base(path.Dir(f)), path.Base(f[:len(f)-len(".wav")])
		if !slices.Contains(Languages(), lang) || !slices.Contains(spoken, name) {
			t.Errorf("embedded %s is not a known prompt", f)
		}
	}
}

// leadingSilence is the time before pcm first exceeds -40 dBFS.
func leadingSilence(pcm []int16) float64 {
	for i, v := range pcm {
		if loud(v) {
			return float64(i) / Rate
		}
	}
	return float64(len(pcm)) / Rate
}

// trailingSilence is the time after pcm last exceeds -40 dBFS.
func trailingSilence(pcm []int16) float64 {
	for i := len(pcm) - 1; i >= 0; i-- {
		if loud(pcm[i]) {
			return float64(len(pcm)-1-i) / Rate
		}
	}
	return float64(len(pcm)) / Rate
}

func loud(v int16) bool { return v > 328 || v < -328 }

func TestLanguagesDiffer(t *testing.T) {
	nb, err := Prompt(LangNB, "enter_pin")
	if err != nil {
		t.Fatal(err)
	}
	en, err := Prompt(LangEN, "enter_pin")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(nb, en) {
		t.Error("nb and en enter_pin are the same clip")
	}
	for _, lang := range []string{"", "sv", "NB", "de"} {
		got, err := Prompt(lang, "enter_pin")
		if err != nil {
			t.Fatalf("Prompt(%q): %v", lang, err)
		}
		if &got[0] != &nb[0] {
			t.Errorf("Prompt(%q) is not the cached nb clip", lang)
		}
	}
	again, _ := Prompt(LangEN, "enter_pin")
	if &again[0] != &en[0] {
		t.Error("a second Prompt decoded again instead of using the cache")
	}
}

func TestUnknownPrompt(t *testing.T) {
	for _, name := range []string{"", "nope", "../vmrd", "enter_pin.wav"} {
		if _, err := Prompt(LangEN, name); !errors.Is(err, ErrUnknownPrompt) {
			t.Errorf("Prompt(%q) = %v, want ErrUnknownPrompt", name, err)
		}
	}
}

func TestHoldTone(t *testing.T) {
	pcm, err := Prompt(LangEN, HoldTone)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(pcm), 4*Rate; got != want {
		t.Fatalf("%d samples, want %d (a 4 s cycle)", got, want)
	}
	// 100 ms windows hold whole periods of 440 Hz and its neighbours.
	const w = Rate / 10
	want := 32767 * math.Pow(10, -24.0/20)
	on := pcm[w : 2*w] // inside the 0.4 s burst
	if a := amplitude(on, 440); math.Abs(a-want) > 0.03*want {
		t.Errorf("440 Hz amplitude %.0f, want %.0f (-24 dBFS)", a, want)
	}
	for _, f := range []float64{220, 880, 1320} {
		if a := amplitude(on, f); a > 0.01*want {
			t.Errorf("%v Hz at %.0f in the burst, want a pure 440 Hz tone", f, a)
		}
	}
	if peak, _ := peakRMS(pcm[int(0.41*Rate):]); peak > -90 {
		t.Errorf("after the burst the peak is %.1f dBFS, want silence", peak)
	}
	if pcm[0] != 0 || math.Abs(float64(pcm[edgeRamp/4])) > want/3 {
		t.Errorf("burst starts at %d, %d: want a soft start", pcm[0], pcm[edgeRamp/4])
	}
}

func TestKnock(t *testing.T) {
	pcm, err := Prompt(LangNB, Knock)
	if err != nil {
		t.Fatal(err)
	}
	if secs := float64(len(pcm)) / Rate; secs < 0.5 || secs > 0.8 {
		t.Errorf("%.2f s long, want about 0.6", secs)
	}
	// 50 ms windows at the start of each note: 880 then 660 Hz.
	const w = Rate / 20
	half := len(pcm) / 2
	tests := []struct {
		name      string
		win       []int16
		want, not float64
	}{
		{"first note", pcm[edgeRamp : edgeRamp+w], knockHigh, knockLow},
		{"second note", pcm[half+edgeRamp : half+edgeRamp+w], knockLow, knockHigh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, other := amplitude(tt.win, tt.want), amplitude(tt.win, tt.not)
			// The note decays (time constant 120 ms) over the window.
			if a < 0.5*dbfs(knockDB) || a > dbfs(knockDB) {
				t.Errorf("%v Hz amplitude %.0f, want about %.0f", tt.want, a, 0.8*dbfs(knockDB))
			}
			if other > 0.05*a {
				t.Errorf("%v Hz at %.0f, want only %v Hz", tt.not, other, tt.want)
			}
		})
	}
	if peak, _ := peakRMS(pcm); peak > knockDB+0.1 {
		t.Errorf("peak %.1f dBFS, want at most %d", peak, knockDB)
	}
}

func TestUpsample(t *testing.T) {
	tests := []struct {
		name   string
		inRate int
		freq   float64
	}{
		{"8 kHz, 1 kHz tone", 8000, 1000},
		{"8 kHz, 3 kHz tone", 8000, 3000},
		{"16 kHz, 1 kHz tone", 16000, 1000},
		{"16 kHz, 6 kHz tone", 16000, 6000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const amp = 10000
			in := make([]int16, tt.inRate/2)
			for i := range in {
				in[i] = int16(math.Round(amp * math.Sin(2*math.Pi*tt.freq*float64(i)/float64(tt.inRate))))
			}
			factor := Rate / tt.inRate
			out := upsample(in, factor)
			if len(out) != len(in)*factor {
				t.Fatalf("%d samples out of %d, want %d", len(out), len(in), len(in)*factor)
			}
			// Away from the edges, where the filter sees zeros.
			mid := out[Rate/10 : Rate/10+Rate/10]
			if a := amplitude(mid, tt.freq); math.Abs(a-amp) > 0.01*amp {
				t.Errorf("tone amplitude %.0f, want %d", a, amp)
			}
			// The first images of the tone around the input rate.
			for _, img := range []float64{float64(tt.inRate) - tt.freq, float64(tt.inRate) + tt.freq} {
				if a := amplitude(mid, img); a > 0.001*amp {
					t.Errorf("image at %v Hz has amplitude %.1f, want below -60 dB", img, a)
				}
			}
			// Zero delay: the input samples are (nearly) kept in place.
			for k := tt.inRate / 10; k < tt.inRate/10+50; k++ {
				if d := math.Abs(float64(out[k*factor]) - float64(in[k])); d > 0.01*amp {
					t.Fatalf("out[%d] = %d, in[%d] = %d: the filter shifts the signal", k*factor, out[k*factor], k, in[k])
				}
			}
		})
	}
	if got := upsample([]int16{1, 2, 3}, 1); !slices.Equal(got, []int16{1, 2, 3}) {
		t.Errorf("upsample by 1 = %v", got)
	}
}

// wavFile builds a WAV file: a fmt chunk of the given fields, then extra
// chunks, then data.
func wavFile(tag, channels uint16, rate uint32, bits uint16, extra []byte, samples ...int16) []byte {
	le := binary.LittleEndian
	fmtc := le.AppendUint16(nil, tag)
	fmtc = le.AppendUint16(fmtc, channels)
	fmtc = le.AppendUint32(fmtc, rate)
	fmtc = le.AppendUint32(fmtc, rate*uint32(channels)*uint32(bits)/8)
	fmtc = le.AppendUint16(fmtc, channels*bits/8)
	fmtc = le.AppendUint16(fmtc, bits)
	var body []byte
	body = append(body, "WAVE"...)
	body = append(body, "fmt "...)
	body = le.AppendUint32(body, uint32(len(fmtc)))
	body = append(body, fmtc...)
	body = append(body, extra...)
	body = append(body, "data"...)
	body = le.AppendUint32(body, uint32(2*len(samples)))
	for _, s := range samples {
		body = le.AppendUint16(body, uint16(s))
	}
	out := append([]byte("RIFF"), le.AppendUint32(nil, uint32(len(body)))...)
	return append(out, body...)
}

func TestParseWAV(t *testing.T) {
	// An odd-sized LIST chunk, padded to even, before the data.
	list := append([]byte("LIST\x03\x00\x00\x00abc"), 0)
	tests := []struct {
		name     string
		data     []byte
		wantRate int
		wantPCM  []int16
		wantErr  bool
	}{
		{"8 kHz", wavFile(1, 1, 8000, 16, nil, 1, -2, 32767), 8000, []int16{1, -2, 32767}, false},
		{"16 kHz with a padded odd chunk", wavFile(1, 1, 16000, 16, list, -32768), 16000, []int16{-32768}, false},
		{"stereo", wavFile(1, 2, 8000, 16, nil, 1, 2), 0, nil, true},
		{"8-bit", wavFile(1, 1, 8000, 8, nil, 1), 0, nil, true},
		{"float", wavFile(3, 1, 8000, 16, nil, 1), 0, nil, true},
		{"44.1 kHz", wavFile(1, 1, 44100, 16, nil, 1), 0, nil, true},
		{"96 kHz", wavFile(1, 1, 96000, 16, nil, 1), 0, nil, true},
		{"not RIFF", []byte("RIFX\x00\x00\x00\x00WAVE"), 0, nil, true},
		{"truncated", wavFile(1, 1, 8000, 16, nil, 1, 2)[:40], 0, nil, true},
		{"empty", nil, 0, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pcm, rate, err := parseWAV(tt.data)
			if tt.wantErr {
				if !errors.Is(err, ErrBadWAV) {
					t.Errorf("parseWAV = %v, want ErrBadWAV", err)
				}
				return
			}
			if err != nil || rate != tt.wantRate || !slices.Equal(pcm, tt.wantPCM) {
				t.Errorf("parseWAV = %v, %d, %v; want %v, %d", pcm, rate, err, tt.wantPCM, tt.wantRate)
			}
		})
	}
}

func FuzzParseWAV(f *testing.F) {
	f.Add(wavFile(1, 1, 8000, 16, nil, 1, -2, 3))
	f.Add(wavFile(0xFFFE, 1, 16000, 16, []byte("fact\x04\x00\x00\x00\x01\x00\x00\x00"), 5))
	f.Add([]byte("RIFF\x04\x00\x00\x00WAVEdata\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pcm, rate, err := parseWAV(b)
		if err != nil {
			return
		}
		if rate <= 0 || Rate%rate != 0 || 2*len(pcm) > len(b) {
			t.Errorf("accepted rate %d with %d samples from %d bytes", rate, len(pcm), len(b))
		}
	})
}

// TestPromptConcurrent: callers on many goroutines get the one cached clip.
func TestPromptConcurrent(t *testing.T) {
	cache.Lock()
	cache.clips = nil // decode again, racing
	cache.Unlock()
	const workers = 4
	got := make([][]*int16, workers)
	done := make(chan int)
	for w := range workers {
		go func() {
			for _, name := range PromptNames() {
				pcm, err := Prompt(LangEN, name)
				if err != nil {
					t.Error(err)
					got[w] = append(got[w], nil)
					continue
				}
				got[w] = append(got[w], &pcm[0])
			}
			done <- w
		}()
	}
	for range workers {
		<-done
	}
	for w := 1; w < workers; w++ {
		if !slices.Equal(got[w], got[0]) {
			t.Errorf("worker %d got other clips than worker 0", w)
		}
	}
}
