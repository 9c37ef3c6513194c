package config

import (
	"errors"
	"os"
	"testing"
)

// FuzzParse checks that no input makes Parse panic, and that its two
// outcomes are well formed: a config that validates again unchanged, or an
// *Error whose every problem names the file and says something.
// Seeds live in testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("../../configs/vmrd.yaml"); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, "fuzz.yaml")
		if err != nil {
			if cfg != nil {
				t.Fatal("config returned along with an error")
			}
			var cerr *Error
			if !errors.As(err, &cerr) || len(cerr.Problems) == 0 {
				t.Fatalf("error %v (%T) is not an *Error with problems", err, err)
			}
			for _, p := range cerr.Problems {
				if p.File != "fuzz.yaml" || p.Msg == "" || p.Line < 0 {
					t.Fatalf("malformed problem %+v", p)
				}
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("a parsed config fails Validate: %v", err)
		}
		if len(cfg.Rooms) == 0 || len(cfg.SIP.Listeners()) != len(cfg.SIP.Listen) {
			t.Fatalf("parsed config breaks its rules: %+v", cfg)
		}
		for _, r := range cfg.Rooms {
			if got, ok := cfg.Room(string(r.Number)); !ok || got.Number != r.Number {
				t.Fatalf("room %q not found by Room", r.Number)
			}
		}
	})
}

func BenchmarkParseSample(b *testing.B) {
	data, err := os.ReadFile("../../configs/vmrd.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data, "vmrd.yaml"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRoom(b *testing.B) {
	cfg := mustParseB(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := cfg.Room("1003"); !ok {
			b.Fatal("room 1003 missing")
		}
	}
}

func mustParseB(b *testing.B) *Config {
	b.Helper()
	data, err := os.ReadFile("../../configs/vmrd.yaml")
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := Parse(data, "vmrd.yaml")
	if err != nil {
		b.Fatal(err)
	}
	return cfg
}
