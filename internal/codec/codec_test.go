package codec

import (
	"errors"
	"math"
	"testing"
)

// codecCase lists what each codec must achieve on a clean tone.
var codecCases = []struct {
	codec  AudioCodec
	freqs  []float64 // tones inside the codec's band
	minSNR float64   // dB, tone against everything else
}{
	// G.711 gives ~38-44 dB on a -12 dBFS tone; the resamplers add almost nothing.
	{PCMU, []float64{300, 1000, 3000}, 30},
	{PCMA, []float64{300, 1000, 3000}, 30},
	// G.722's lower band (0-4 kHz) is ADPCM at 6 bits/sample; its upper band
	// has only 2 bits/sample.
	{G722, []float64{300, 1000, 3000, 6000}, 20},
	// Opus is perceptual, so waveform SNR is a loose check (35-45 dB seen).
	{Opus, []float64{300, 1000, 3000, 6000}, 20},
}

func newPair(t testing.TB, c AudioCodec) (AudioEncoder, AudioDecoder) {
	t.Helper()
	enc, err := c.NewEncoder()
	if err != nil {
		t.Fatalf("%v NewEncoder: %v", c, err)
	}
	dec, err := c.NewDecoder()
	if err != nil {
		enc.Close()
		t.Fatalf("%v NewDecoder: %v", c, err)
	}
	t.Cleanup(func() {
		if err := enc.Close(); err != nil {
			t.Errorf("encoder Close: %v", err)
		}
		if err := dec.Close(); err != nil {
			t.Errorf("decoder Close: %v", err)
		}
	})
	return enc, dec
}

// roundTrip encodes frames of in and decodes them, returning the output.
func roundTrip(t *testing.T, enc AudioEncoder, dec AudioDecoder, frames [][]int16) []int16 {
	t.Helper()
	pkt := make([]byte, 1500)
	pcm := make([]int16, MaxFrameSamples)
	var out []int16
	for i, fr := range frames {
		n, err := enc.Encode(fr, pkt)
		if err != nil {
			t.Fatalf("frame %d: Encode: %v", i, err)
		}
		m, err := dec.Decode(pkt[:n], pcm)
		if err != nil {
			t.Fatalf("frame %d: Decode: %v", i, err)
		}
		if m != FrameSamples {
			t.Fatalf("frame %d: decoded %d samples, want %d", i, m, FrameSamples)
		}
		out = append(out, pcm[:m]...)
	}
	return out
}

func toneFrames(freq float64, frames int, amp float64) [][]int16 {
	out := make([][]int16, frames)
	for i := range out {
		out[i] = sine(freq, MixRate, i*FrameSamples, FrameSamples, amp)
	}
	return out
}

func TestRoundTripTone(t *testing.T) {
	const amp = 8000 // about -12 dBFS
	for _, cc := range codecCases {
		for _, freq := range cc.freqs {
			t.Run(cc.codec.Name+"/"+formatHz(freq), func(t *testing.T) {
				enc, dec := newPair(t, cc.codec)
				out := roundTrip(t, enc, dec, toneFrames(freq, 30, amp))
				x := out[len(out)-MixRate/5:] // last 200 ms, past any start-up
				gotAmp, snr := toneFit(t, x, freq, MixRate)
				t.Logf("amplitude %.0f (%.2f dB), SNR %.1f dB", gotAmp, 20*math.Log10(gotAmp/amp), snr)
				if snr < cc.minSNR {
					t.Errorf("SNR %.1f dB, want >= %v", snr, cc.minSNR)
				}
				if d := 20 * math.Log10(gotAmp/amp); math.Abs(d) > 2 {
					t.Errorf("tone level changed by %.2f dB, want within 2 dB", d)
				}
				// The strongest bin near the tone is the tone itself.
				tone := goertzel(x, freq, MixRate)
				for _, off := range []float64{-200, -100, -50, 50, 100, 200} {
					if p := goertzel(x, freq+off, MixRate); p >= tone/100 {
						t.Errorf("energy at %v Hz only %.1f dB below the tone", freq+off, 10*math.Log10(tone/p))
					}
				}
			})
		}
	}
}

func formatHz(f float64) string {
	return string(appendInt(nil, int(f))) + "Hz"
}

func appendInt(b []byte, v int) []byte {
	if v >= 10 {
		b = appendInt(b, v/10)
	}
	return append(b, byte('0'+v%10))
}

// Decoders reject bad input with the right sentinel and never panic.
func TestDecodeBadInput(t *testing.T) {
	pcm := make([]int16, MaxFrameSamples)
	tests := []struct {
		name    string
		codec   AudioCodec
		payload []byte
		pcm     []int16
		want    error
	}{
		{"pcmu empty", PCMU, nil, pcm, ErrEmptyPayload},
		{"pcmu 121 ms", PCMU, make([]byte, 968), pcm, ErrPayloadTooLong},
		{"pcmu pcm too small", PCMU, make([]byte, 160), pcm[:FrameSamples-1], ErrShortBuffer},
		{"pcmu nil pcm", PCMU, make([]byte, 160), nil, ErrShortBuffer},
		{"pcma empty", PCMA, []byte{}, pcm, ErrEmptyPayload},
		{"g722 empty", G722, nil, pcm, ErrEmptyPayload},
		{"g722 121 ms", G722, make([]byte, 968), pcm, ErrPayloadTooLong},
		{"g722 pcm too small", G722, make([]byte, 160), pcm[:100], ErrShortBuffer},
		{"opus empty", Opus, nil, pcm, ErrEmptyPayload},
		{"opus absurd length", Opus, make([]byte, 1<<20), pcm, ErrPayloadTooLong},
		// TOC code 3 (RFC 6716 section 3.2.5) without its frame count byte.
		{"opus truncated code 3", Opus, []byte{0x03}, pcm, ErrCorrupt},
		// Code 3 with a frame count of 0.
		{"opus zero frames", Opus, []byte{0x03, 0x00}, pcm, ErrCorrupt},
		// Code 3, 49 frames of 2.5 ms: more than 120 ms.
		{"opus over 120 ms", Opus, []byte{0x83, 49, 0, 0}, pcm, ErrCorrupt},
		// Code 2 whose first frame length runs past the end.
		{"opus bad frame length", Opus, []byte{0x02, 250, 1, 2}, pcm, ErrCorrupt},
		// A 20 ms packet into a 10 ms buffer.
		{"opus pcm too small", Opus, []byte{0xF8, 0xFF, 0xFE}, pcm[:480], ErrShortBuffer},
		// A 60 ms packet (code 3, three 20 ms CELT frames) into a 20 ms buffer.
		{"opus 60 ms into 20 ms", Opus, []byte{0xFB, 0x03}, pcm[:FrameSamples], ErrShortBuffer},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dec, err := tc.codec.NewDecoder()
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			n, err := dec.Decode(tc.payload, tc.pcm)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode error = %v, want %v", err, tc.want)
			}
			if n != 0 {
				t.Fatalf("Decode returned %d samples with an error", n)
			}
			// The decoder still works afterwards.
			if _, err := dec.Conceal(pcm); err != nil {
				t.Fatalf("Conceal after bad input: %v", err)
			}
		})
	}
}

func TestConcealShortBuffer(t *testing.T) {
	for _, c := range AudioCodecs() {
		t.Run(c.Name, func(t *testing.T) {
			dec, err := c.NewDecoder()
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			if _, err := dec.Conceal(make([]int16, FrameSamples-1)); !errors.Is(err, ErrShortBuffer) {
				t.Fatalf("Conceal error = %v, want ErrShortBuffer", err)
			}
		})
	}
}

func TestEncodeBadInput(t *testing.T) {
	frame := make([]int16, FrameSamples)
	for _, c := range AudioCodecs() {
		tests := []struct {
			name string
			pcm  []int16
			out  []byte
			want error
		}{
			{"short frame", frame[:FrameSamples-1], make([]byte, 1500), ErrFrameSize},
			{"long frame", make([]int16, FrameSamples+1), make([]byte, 1500), ErrFrameSize},
			{"nil frame", nil, make([]byte, 1500), ErrFrameSize},
			{"nil out", frame, nil, ErrShortBuffer},
		}
		if c != Opus {
			tests = append(tests, struct {
				name string
				pcm  []int16
				out  []byte
				want error
			}{"out below 160 bytes", frame, make([]byte, 159), ErrShortBuffer})
		}
		for _, tc := range tests {
			t.Run(c.Name+"/"+tc.name, func(t *testing.T) {
				enc, err := c.NewEncoder()
				if err != nil {
					t.Fatal(err)
				}
				defer enc.Close()
				if _, err := enc.Encode(tc.pcm, tc.out); !errors.Is(err, tc.want) {
					t.Fatalf("Encode error = %v, want %v", err, tc.want)
				}
				if _, err := enc.Encode(frame, make([]byte, 1500)); err != nil {
					t.Fatalf("Encode after bad input: %v", err)
				}
			})
		}
	}
}

func TestClose(t *testing.T) {
	for _, c := range AudioCodecs() {
		t.Run(c.Name, func(t *testing.T) {
			enc, err := c.NewEncoder()
			if err != nil {
				t.Fatal(err)
			}
			dec, err := c.NewDecoder()
			if err != nil {
				t.Fatal(err)
			}
			pkt := make([]byte, 1500)
			n, err := enc.Encode(make([]int16, FrameSamples), pkt)
			if err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				if err := enc.Close(); err != nil {
					t.Fatalf("encoder Close #%d: %v", i+1, err)
				}
				if err := dec.Close(); err != nil {
					t.Fatalf("decoder Close #%d: %v", i+1, err)
				}
			}
			if _, err := enc.Encode(make([]int16, FrameSamples), pkt); !errors.Is(err, ErrClosed) {
				t.Errorf("Encode after Close = %v, want ErrClosed", err)
			}
			pcm := make([]int16, MaxFrameSamples)
			if _, err := dec.Decode(pkt[:n], pcm); !errors.Is(err, ErrClosed) {
				t.Errorf("Decode after Close = %v, want ErrClosed", err)
			}
			if _, err := dec.Conceal(pcm); !errors.Is(err, ErrClosed) {
				t.Errorf("Conceal after Close = %v, want ErrClosed", err)
			}
		})
	}
}

// Once constructed, Encode, Decode and Conceal do not allocate, and neither
// do their error paths.
func TestNoAllocs(t *testing.T) {
	frames := speechLike(10)
	for _, c := range AudioCodecs() {
		t.Run(c.Name, func(t *testing.T) {
			enc, dec := newPair(t, c)
			pkt := make([]byte, 1500)
			pcm := make([]int16, MaxFrameSamples)
			i := 0
			allocs := testing.AllocsPerRun(50, func() {
				n, err := enc.Encode(frames[i%len(frames)], pkt)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := dec.Decode(pkt[:n], pcm); err != nil {
					t.Fatal(err)
				}
				if _, err := dec.Conceal(pcm); err != nil {
					t.Fatal(err)
				}
				if _, err := dec.Decode(nil, pcm); err == nil {
					t.Fatal("empty payload accepted")
				}
				if _, err := enc.Encode(pcm[:10], pkt); err == nil {
					t.Fatal("short frame accepted")
				}
				i++
			})
			if allocs != 0 {
				t.Fatalf("%v allocations per encode+decode+conceal, want 0", allocs)
			}
		})
	}
	t.Run("opus corrupt", func(t *testing.T) {
		dec, err := Opus.NewDecoder()
		if err != nil {
			t.Fatal(err)
		}
		defer dec.Close()
		pcm := make([]int16, MaxFrameSamples)
		bad := []byte{0x03, 0x00}
		if allocs := testing.AllocsPerRun(50, func() {
			if _, err := dec.Decode(bad, pcm); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("corrupt packet: %v", err)
			}
		}); allocs != 0 {
			t.Fatalf("%v allocations per corrupt packet, want 0", allocs)
		}
	})
}

// Close may come from another goroutine while the media goroutine is still
// decoding and encoding: the codec stops with ErrClosed, never a crash.
func TestCloseWhileRunning(t *testing.T) {
	for _, c := range AudioCodecs() {
		t.Run(c.Name, func(t *testing.T) {
			enc, err := c.NewEncoder()
			if err != nil {
				t.Fatal(err)
			}
			dec, err := c.NewDecoder()
			if err != nil {
				t.Fatal(err)
			}
			frame := sine(1000, MixRate, 0, FrameSamples, 5000)
			started := make(chan struct{})
			done := make(chan error)
			go func() {
				pkt := make([]byte, 1500)
				pcm := make([]int16, MaxFrameSamples)
				for i := 0; ; i++ {
					n, err := enc.Encode(frame, pkt)
					if err == nil {
						_, err = dec.Decode(pkt[:n], pcm)
					}
					if err != nil {
						done <- err
						return
					}
					if i == 3 {
						close(started)
					}
				}
			}()
			<-started
			if err := dec.Close(); err != nil {
				t.Fatal(err)
			}
			if err := enc.Close(); err != nil {
				t.Fatal(err)
			}
			if err := <-done; !errors.Is(err, ErrClosed) {
				t.Fatalf("worker stopped with %v, want ErrClosed", err)
			}
		})
	}
}
