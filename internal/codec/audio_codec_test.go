package codec

import (
	"errors"
	"testing"
)

func TestLookupAudio(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		clock uint32
		want  AudioCodec
		ok    bool
	}{
		{"pcmu exact", "PCMU", 8000, PCMU, true},
		{"pcmu lower case", "pcmu", 8000, PCMU, true},
		{"pcma mixed case", "PcMa", 8000, PCMA, true},
		{"g722 rtp clock is 8000", "G722", 8000, G722, true},
		{"g722 at its sample rate is not g722", "G722", 16000, AudioCodec{}, false},
		{"opus upper case", "OPUS", 48000, Opus, true},
		{"opus at 8000 is wrong", "opus", 8000, AudioCodec{}, false},
		{"any clock rate", "opus", 0, Opus, true},
		{"any clock rate still needs the name", "G729", 0, AudioCodec{}, false},
		{"unknown", "G729", 8000, AudioCodec{}, false},
		{"empty", "", 0, AudioCodec{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := LookupAudio(tc.in, tc.clock)
			if ok != tc.ok || got != tc.want {
				t.Fatalf("LookupAudio(%q, %d) = %v, %v; want %v, %v", tc.in, tc.clock, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestAudioCodecFields(t *testing.T) {
	tests := []struct {
		c       AudioCodec
		str     string
		pt      int
		frameTS uint32
	}{
		{PCMU, "PCMU/8000", 0, 160},
		{PCMA, "PCMA/8000", 8, 160},
		{G722, "G722/8000", 9, 160},
		{Opus, "opus/48000/2", -1, 960},
	}
	for _, tc := range tests {
		t.Run(tc.str, func(t *testing.T) {
			if got := tc.c.String(); got != tc.str {
				t.Errorf("String() = %q, want %q", got, tc.str)
			}
			if tc.c.StaticPT != tc.pt {
				t.Errorf("StaticPT = %d, want %d", tc.c.StaticPT, tc.pt)
			}
			if tc.c.FrameTS != tc.frameTS {
				t.Errorf("FrameTS = %d, want %d", tc.c.FrameTS, tc.frameTS)
			}
			// 20 ms of RTP clock.
			if tc.c.FrameTS != tc.c.ClockRate/50 {
				t.Errorf("FrameTS %d is not 20 ms of clock %d", tc.c.FrameTS, tc.c.ClockRate)
			}
		})
	}
	if got := len(AudioCodecs()); got != 4 {
		t.Errorf("AudioCodecs() has %d entries, want 4", got)
	}
}

func TestUnknownCodec(t *testing.T) {
	for _, c := range []AudioCodec{{}, {Name: "G729", ClockRate: 8000}, {Name: "opus", ClockRate: 16000}, {Name: "opus"}} {
		if _, err := c.NewDecoder(); !errors.Is(err, ErrUnknownCodec) {
			t.Errorf("%v NewDecoder error = %v, want ErrUnknownCodec", c, err)
		}
		if _, err := c.NewEncoder(); !errors.Is(err, ErrUnknownCodec) {
			t.Errorf("%v NewEncoder error = %v, want ErrUnknownCodec", c, err)
		}
	}
}
