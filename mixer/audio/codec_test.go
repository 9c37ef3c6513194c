package audio

import (
	"errors"
	"testing"

	"vmrd/internal/codec"
)

func TestCodecEncoder(t *testing.T) {
	tests := []struct {
		format  string
		wantErr error
	}{
		{"opus/48000/2", nil},
		{"OPUS/48000/2", nil},
		{"PCMU/8000", nil},
		{"pcma/8000", nil},
		{"G722/8000", nil},
		{"opus/48000", codec.ErrUnknownCodec},
		{"PCMU/16000", codec.ErrUnknownCodec},
		{"L16/48000", codec.ErrUnknownCodec},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			enc, err := CodecEncoder(tt.format)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("CodecEncoder(%q) = %v, want %v", tt.format, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			defer enc.Close()
			out := make([]byte, maxPayload)
			if n, err := enc.Encode(make([]int16, codec.FrameSamples), out); err != nil || n == 0 {
				t.Errorf("encode a frame of silence: %d bytes, %v", n, err)
			}
		})
	}
	if got, want := FormatKey(codec.Opus), "opus/48000/2"; got != want {
		t.Errorf("FormatKey(Opus) = %q, want %q", got, want)
	}
}

// TestWhoHearsWhomOpus runs the three tones through real Opus encoders and
// decoders: with a lossy codec a participant's own tone is not exactly zero,
// but far below the others.
func TestWhoHearsWhomOpus(t *testing.T) {
	m := New(Config{Name: "room 1"})
	defer m.Close()
	ps := threeTalkersAndListener()
	key := FormatKey(codec.Opus)
	for _, p := range ps {
		dec, err := codec.Opus.NewDecoder()
		if err != nil {
			t.Fatal(err)
		}
		defer dec.Close()
		buf := make([]int16, codec.MaxFrameSamples)
		p.sink = &recSink{decode: func(payload []byte) []int16 {
			n, err := dec.Decode(payload, buf)
			if err != nil {
				t.Errorf("decode: %v", err)
			}
			return append([]int16(nil), buf[:n]...)
		}}
	}
	room(t, m, key, ps)
	run(m, ps, 100)
	for _, p := range ps {
		hears := map[string]bool{}
		for _, o := range ps {
			hears[o.id] = o.id != p.id
		}
		checkHearsMin(t, p, ps, hears, 0.4, 0.03)
	}
}
