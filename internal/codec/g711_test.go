package codec

import (
	"math"
	"testing"
)

func TestG711KnownCodes(t *testing.T) {
	tests := []struct {
		name  string
		table *[256]int16
		code  uint8
		want  int16
	}{
		{"ulaw positive zero", &ulawDecode, 0xFF, 0},
		{"ulaw negative zero", &ulawDecode, 0x7F, 0},
		{"ulaw positive max", &ulawDecode, 0x80, 32124},
		{"ulaw negative max", &ulawDecode, 0x00, -32124},
		{"ulaw smallest step", &ulawDecode, 0xFE, 8},
		{"alaw smallest positive", &alawDecode, 0xD5, 8},
		{"alaw smallest negative", &alawDecode, 0x55, -8},
		{"alaw positive max", &alawDecode, 0xAA, 32256},
		{"alaw negative max", &alawDecode, 0x2A, -32256},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.table[tc.code]; got != tc.want {
				t.Fatalf("decode(%#02x) = %d, want %d", tc.code, got, tc.want)
			}
		})
	}
}

// Every code decodes to a value that encodes back to the same code (µ-law
// has two zeros, both of which encode to positive zero).
func TestG711CodeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		dec  *[256]int16
		enc  *[65536]uint8
	}{
		{"ulaw", &ulawDecode, ulawEncodeTable()},
		{"alaw", &alawDecode, alawEncodeTable()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for c := range 256 {
				v := tc.dec[c]
				got := tc.enc[uint16(v)]
				if got != uint8(c) && !(tc.name == "ulaw" && c == 0x7F && got == 0xFF) {
					t.Errorf("encode(decode(%#02x)=%d) = %#02x", c, v, got)
				}
			}
		})
	}
}

// Quantisation error is bounded by half a step of the segment, which G.711
// keeps within a few percent of the value: check every 16-bit input.
func TestG711QuantisationError(t *testing.T) {
	tests := []struct {
		name string
		dec  *[256]int16
		enc  *[65536]uint8
		clip float64
	}{
		{"ulaw", &ulawDecode, ulawEncodeTable(), 32124},
		{"alaw", &alawDecode, alawEncodeTable(), 32256},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for i := math.MinInt16; i <= math.MaxInt16; i++ {
				got := float64(tc.dec[tc.enc[uint16(int16(i))]])
				in := math.Max(-tc.clip, math.Min(tc.clip, float64(i)))
				// Largest step is 1024 (µ-law) / 1024 (A-law) at the top
				// segment; relative error stays under ~3.2 %, plus 16 near 0.
				if d := math.Abs(got - in); d > 16+0.033*math.Abs(in) {
					t.Fatalf("%d -> %v, error %v too large", i, got, d)
				}
			}
		})
	}
}
