package codec

import (
	"math"
	"testing"
)

// G.711 and G.722 concealment: the first lost frame continues the tone
// without a click, later ones fade, then silence; recovery is smooth.
func TestConcealRepeatAndFade(t *testing.T) {
	const (
		freq = 400.0 // period of 20 samples at 8 kHz, 40 at 16 kHz
		amp  = 8000.0
	)
	for _, c := range []AudioCodec{PCMU, PCMA, G722} {
		t.Run(c.Name, func(t *testing.T) {
			enc, dec := newPair(t, c)
			pkt := make([]byte, 1500)
			pcm := make([]int16, MaxFrameSamples)
			var out []int16
			frame := 0
			good := func() {
				t.Helper()
				n, err := enc.Encode(sine(freq, MixRate, frame*FrameSamples, FrameSamples, amp), pkt)
				if err != nil {
					t.Fatal(err)
				}
				m, err := dec.Decode(pkt[:n], pcm)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, pcm[:m]...)
				frame++
			}
			lost := func() []int16 {
				t.Helper()
				// Encode anyway so the encoder's state follows the timeline.
				if _, err := enc.Encode(sine(freq, MixRate, frame*FrameSamples, FrameSamples, amp), pkt); err != nil {
					t.Fatal(err)
				}
				m, err := dec.Conceal(pcm)
				if err != nil {
					t.Fatal(err)
				}
				if m != FrameSamples {
					t.Fatalf("Conceal wrote %d samples, want %d", m, FrameSamples)
				}
				out = append(out, pcm[:m]...)
				frame++
				return out[len(out)-m:]
			}
			for range 10 {
				good()
			}
			// Largest natural step of the tone at 48 kHz, with margin for
			// codec noise.
			limit := 2 * amp * 2 * math.Pi * freq / MixRate

			first := lost()
			a, snr := toneFit(t, first, freq, MixRate)
			t.Logf("first concealed frame: amplitude %.0f, SNR %.1f dB", a, snr)
			if a < 0.7*amp || a > 1.1*amp {
				t.Errorf("first concealed frame amplitude %.0f, want about %v", a, amp)
			}
			if snr < 15 {
				t.Errorf("first concealed frame is not a clean tone: SNR %.1f dB", snr)
			}
			if s := maxStep(out[len(out)-2*FrameSamples:]); s > limit {
				t.Errorf("click entering concealment: step %.0f, limit %.0f", s, limit)
			}
			second := lost()
			third := lost()
			if r2, r1 := rms(second), rms(first); !(r2 < r1) {
				t.Errorf("second frame rms %.0f not below first %.0f: no fade", r2, r1)
			}
			if r3, r2 := rms(third), rms(second); !(r3 < r2) {
				t.Errorf("third frame rms %.0f not below second %.0f: no fade", r3, r2)
			}
			lost()
			for i := range 3 {
				f := lost()
				for j, v := range f {
					if v != 0 {
						t.Fatalf("concealed frame %d sample %d = %d, want silence", 5+i, j, v)
					}
				}
			}
			if s := maxStep(out[len(out)-8*FrameSamples:]); s > limit {
				t.Errorf("click during concealment: step %.0f, limit %.0f", s, limit)
			}

			// A short loss followed by recovery stays smooth.
			for range 5 {
				good()
			}
			lost()
			for range 5 {
				good()
			}
			if s := maxStep(out[len(out)-11*FrameSamples:]); s > limit {
				t.Errorf("click around a single loss: step %.0f, limit %.0f", s, limit)
			}
			a, snr = toneFit(t, out[len(out)-4*FrameSamples:], freq, MixRate)
			if a < 0.9*amp || snr < 20 {
				t.Errorf("after recovery: amplitude %.0f, SNR %.1f dB; want the tone back", a, snr)
			}
		})
	}
}

// Concealment repeats only what was heard: nothing before the first packet
// and nothing after silence, so it can never inject noise.
func TestConcealSilence(t *testing.T) {
	for _, c := range AudioCodecs() {
		t.Run(c.Name, func(t *testing.T) {
			enc, dec := newPair(t, c)
			pcm := make([]int16, MaxFrameSamples)
			for i := range pcm {
				pcm[i] = 12345 // must be overwritten
			}
			n, err := dec.Conceal(pcm)
			if err != nil {
				t.Fatal(err)
			}
			if n != FrameSamples {
				t.Fatalf("Conceal wrote %d, want %d", n, FrameSamples)
			}
			for i, v := range pcm[:n] {
				if v != 0 {
					t.Fatalf("conceal before any packet: sample %d = %d, want 0", i, v)
				}
			}
			pkt := make([]byte, 1500)
			silence := make([]int16, FrameSamples)
			for range 10 {
				m, err := enc.Encode(silence, pkt)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := dec.Decode(pkt[:m], pcm); err != nil {
					t.Fatal(err)
				}
			}
			for f := range 5 {
				if _, err := dec.Conceal(pcm); err != nil {
					t.Fatal(err)
				}
				// G.711 silence decodes to 0 (µ-law) or ±8 (A-law); allow
				// that floor, nothing louder.
				if r := rms(pcm[:FrameSamples]); r > 10 {
					t.Fatalf("concealed frame %d after silence has rms %.1f", f, r)
				}
			}
		})
	}
}

// Opus concealment comes from libopus: it continues a tone and fades away
// over a long loss.
func TestOpusConceal(t *testing.T) {
	const freq, amp = 440.0, 8000.0
	enc, dec := newPair(t, Opus)
	frames := toneFrames(freq, 25, amp)
	roundTrip(t, enc, dec, frames)
	pcm := make([]int16, MaxFrameSamples)
	n, err := dec.Conceal(pcm)
	if err != nil || n != FrameSamples {
		t.Fatalf("Conceal = %d, %v", n, err)
	}
	if p, q := goertzel(pcm[:n], freq, MixRate), goertzel(pcm[:n], 2*freq+100, MixRate); p < 100*q {
		t.Errorf("first concealed frame does not carry the tone: %.1f dB over a neighbour", 10*math.Log10(p/q))
	}
	first := rms(pcm[:n])
	var last float64
	for range 50 {
		if _, err := dec.Conceal(pcm); err != nil {
			t.Fatal(err)
		}
		last = rms(pcm[:FrameSamples])
	}
	if last > first/10 {
		t.Errorf("after 1 s of loss rms %.0f, first concealed %.0f: want a fade of 20 dB or more", last, first)
	}
}

// DecodeFEC rebuilds a lost frame from the next packet's in-band FEC: the
// result is closer to what the lost packet held than libopus's concealment.
func TestOpusDecodeFEC(t *testing.T) {
	type fecDecoder interface {
		DecodeFEC(payload []byte, pcm []int16) (int, error)
	}
	frames := speechLike(30)
	enc, err := Opus.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	lossSetter, ok := enc.(interface{ SetPacketLoss(int) error })
	if !ok {
		t.Fatal("opus encoder has no SetPacketLoss")
	}
	// libopus adds FEC only when told to expect loss.
	if err := lossSetter.SetPacketLoss(15); err != nil {
		t.Fatal(err)
	}
	pkts := make([][]byte, len(frames))
	for i, f := range frames {
		buf := make([]byte, 1500)
		n, err := enc.Encode(f, buf)
		if err != nil {
			t.Fatal(err)
		}
		pkts[i] = buf[:n]
	}
	const lost = 15 // a loud voiced frame: libopus codes LBRR for active speech only

	newDec := func() AudioDecoder {
		t.Helper()
		d, err := Opus.NewDecoder()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		pcm := make([]int16, MaxFrameSamples)
		for _, p := range pkts[:lost] {
			if _, err := d.Decode(p, pcm); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	ref, plc, fec := make([]int16, MaxFrameSamples), make([]int16, MaxFrameSamples), make([]int16, MaxFrameSamples)
	if _, err := newDec().Decode(pkts[lost], ref); err != nil {
		t.Fatal(err)
	}
	if _, err := newDec().Conceal(plc); err != nil {
		t.Fatal(err)
	}
	d := newDec()
	fd, ok := d.(fecDecoder)
	if !ok {
		t.Fatal("opus decoder has no DecodeFEC")
	}
	n, err := fd.DecodeFEC(pkts[lost+1], fec)
	if err != nil || n != FrameSamples {
		t.Fatalf("DecodeFEC = %d, %v", n, err)
	}
	errEnergy := func(x []int16) float64 {
		var e float64
		for i := range FrameSamples {
			v := float64(x[i]) - float64(ref[i])
			e += v * v
		}
		return e
	}
	ePLC, eFEC := errEnergy(plc), errEnergy(fec)
	t.Logf("error vs received frame: concealment %.1f dB, FEC %.1f dB", 10*math.Log10(ePLC), 10*math.Log10(eFEC))
	if !(eFEC < ePLC/2) {
		t.Errorf("FEC frame not closer to the lost frame than concealment (%.3g vs %.3g)", eFEC, ePLC)
	}
	// The decoder carries on with the packet that held the FEC.
	if _, err := d.Decode(pkts[lost+1], fec); err != nil {
		t.Fatal(err)
	}
	if _, err := fd.DecodeFEC(nil, fec); err == nil {
		t.Error("DecodeFEC accepted an empty payload")
	}
}
