package audio

import (
	"math"
	"testing"

	"vmrd/internal/codec"
)

func TestLevelDB(t *testing.T) {
	tests := []struct {
		name string
		pcm  []int16
		want float64
	}{
		{"silence", make([]int16, codec.FrameSamples), silenceDB},
		{"full-scale sine", (&tone{freq: 400, amp: 32767}).next(codec.FrameSamples), -3.01},
		{"sine at a tenth", (&tone{freq: 400, amp: 3276.7}).next(codec.FrameSamples), -23.01},
		{"empty", nil, silenceDB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := levelDB(tt.pcm); math.Abs(got-tt.want) > 0.05 {
				t.Errorf("levelDB = %.2f, want %.2f", got, tt.want)
			}
		})
	}
}

// levels builds a level sequence from runs: level, count, level, count...
func levels(runs ...float64) []float64 {
	var out []float64
	for i := 0; i+1 < len(runs); i += 2 {
		for range int(runs[i+1]) {
			out = append(out, runs[i])
		}
	}
	return out
}

// noise alternates around a mean, as frame levels of background noise do.
func noise(mean float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = mean + 2*math.Sin(float64(i)*1.7)
	}
	return out
}

func TestVAD(t *testing.T) {
	type probe struct {
		frame          int // index into the level sequence
		speaking, gate bool
	}
	tests := []struct {
		name   string
		levels []float64
		probes []probe
	}{
		{"silence", levels(silenceDB, 100), []probe{{0, false, false}, {99, false, false}}},
		{"too quiet to be voice", levels(-55, 100), []probe{{99, false, false}}},
		{
			"speech: gate at once, speaking after the attack",
			levels(-20, 50),
			[]probe{{0, false, true}, {vadAttack - 2, false, true}, {vadAttack - 1, true, true}, {49, true, true}},
		},
		{
			"a click opens the gate but is no speaker",
			append(levels(-10, 1), levels(silenceDB, 30)...),
			[]probe{{0, false, true}, {gateHangover, false, true}, {gateHangover + 1, false, false}},
		},
		{
			"pauses between words do not flap",
			append(levels(-20, 10), append(levels(-60, 15), levels(-20, 3)...)...),
			[]probe{{10, true, true}, {24, true, true}, {27, true, true}},
		},
		{
			"hangover ends speaking",
			append(levels(-20, 10), levels(silenceDB, 40)...),
			[]probe{{9 + gateHangover, true, true}, {10 + gateHangover, true, false}, {9 + speakHangover, true, false}, {10 + speakHangover, false, false}},
		},
		{
			"steady noise is learnt as the floor",
			noise(-44, 400),
			[]probe{{380, false, false}, {399, false, false}},
		},
		{
			"speech over learnt noise",
			append(noise(-44, 400), levels(-25, 5)...),
			[]probe{{400, false, true}, {404, true, true}},
		},
		{
			"a long steady tone is not learnt as noise",
			levels(-20, 3000),
			[]probe{{2999, true, true}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVAD()
			var speaking, gate []bool
			for _, l := range tt.levels {
				v.update(l, true)
				speaking = append(speaking, v.speaking)
				gate = append(gate, v.gateOpen())
			}
			for _, p := range tt.probes {
				if speaking[p.frame] != p.speaking || gate[p.frame] != p.gate {
					t.Errorf("frame %d: speaking %t, gate %t; want %t, %t",
						p.frame, speaking[p.frame], gate[p.frame], p.speaking, p.gate)
				}
			}
		})
	}
}

// TestVADMissingFramesKeepFloor: ticks without audio count as quiet but do
// not drag the noise floor down to silence.
func TestVADMissingFramesKeepFloor(t *testing.T) {
	v := newVAD()
	for _, l := range noise(-44, 400) {
		v.update(l, true)
	}
	floor := v.floor
	for range 100 {
		v.update(silenceDB, false)
	}
	if v.floor != floor {
		t.Errorf("floor moved from %.1f to %.1f over missing frames", floor, v.floor)
	}
	if v.gateOpen() || v.speaking {
		t.Errorf("gate %t, speaking %t after 2 s without audio", v.gateOpen(), v.speaking)
	}
}
