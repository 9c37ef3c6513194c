package audio

import (
	"testing"

	"vmrd/internal/codec"
)

func frameOf(v int32) []int32 {
	p := make([]int32, codec.FrameSamples)
	for i := range p {
		p[i] = v
	}
	return p
}

func TestLimiter(t *testing.T) {
	tests := []struct {
		name   string
		frames []int32 // one constant frame each
		// the last frame's output must be within [lo, hi]
		lo, hi   int16
		wantGain float32
	}{
		{"below full scale passes", []int32{30000}, 30000, 30000, 1},
		{"negative full scale passes", []int32{-32768}, -32768, -32768, 1},
		{"below negative full scale", []int32{-65536, -65536}, -32768, -32767, 0.5},
		{"twice full scale halves", []int32{65534, 65534}, 32767, 32767, 0.5},
		{"ten times full scale", []int32{327670, 327670}, 32766, 32767, 0.1},
		{"recovers after a peak", append([]int32{65534}, repeat(16000, 60)...), 16000, 16000, 1},
		{"recovery never overshoots", []int32{65534, 30000, 30000, 30000}, 30000 * 0.5, 32767, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter()
			out := make([]int16, codec.FrameSamples)
			for _, v := range tt.frames {
				l.process(frameOf(v), out)
			}
			for i, v := range out {
				if v < tt.lo || v > tt.hi {
					t.Fatalf("sample %d = %d, want within [%d, %d]", i, v, tt.lo, tt.hi)
				}
			}
			if tt.wantGain != 0 && abs32(l.gain-tt.wantGain) > 1e-4 {
				t.Errorf("gain %.5f, want %.5f", l.gain, tt.wantGain)
			}
		})
	}
}

func repeat(v int32, n int) []int32 {
	p := make([]int32, n)
	for i := range p {
		p[i] = v
	}
	return p
}

func abs32(v float32) float32 {
	if v < 0 {
		return -v
	}
	return v
}
