package codec

import (
	"errors"
	"testing"
)

// knownError reports whether err is one of the package's sentinels: decoders
// may reject input, but only in the documented ways.
func knownError(err error) bool {
	for _, s := range []error{ErrEmptyPayload, ErrPayloadTooLong, ErrShortBuffer, ErrCorrupt} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// fuzzDecode feeds data to dec as one packet, then conceals once, checking
// that results stay in bounds. Seeds live in testdata/fuzz/<name>/.
func fuzzDecode(t *testing.T, dec AudioDecoder, data []byte, samplesPerByte int) {
	t.Helper()
	pcm := make([]int16, MaxFrameSamples+1)
	pcm[MaxFrameSamples] = 0x5A5A // guard: nothing may write past MaxFrameSamples
	n, err := dec.Decode(data, pcm[:MaxFrameSamples])
	switch {
	case err != nil && !knownError(err):
		t.Fatalf("Decode(%d bytes): unexpected error %v", len(data), err)
	case err != nil && n != 0:
		t.Fatalf("Decode returned %d samples with error %v", n, err)
	case err == nil && (n <= 0 || n > MaxFrameSamples):
		t.Fatalf("Decode(%d bytes) = %d samples, out of range", len(data), n)
	case err == nil && samplesPerByte > 0 && n != samplesPerByte*len(data):
		t.Fatalf("Decode(%d bytes) = %d samples, want %d", len(data), n, samplesPerByte*len(data))
	}
	if n, err := dec.Conceal(pcm[:MaxFrameSamples]); err != nil || n != FrameSamples {
		t.Fatalf("Conceal after %d bytes = %d, %v", len(data), n, err)
	}
	if pcm[MaxFrameSamples] != 0x5A5A {
		t.Fatal("decoder wrote past the pcm slice")
	}
}

func FuzzG711Decode(f *testing.F) {
	f.Add([]byte{0xFF, 0x7F, 0x00, 0x80})
	ulaw, err := PCMU.NewDecoder()
	if err != nil {
		f.Fatal(err)
	}
	defer ulaw.Close()
	alaw, err := PCMA.NewDecoder()
	if err != nil {
		f.Fatal(err)
	}
	defer alaw.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzDecode(t, ulaw, data, 6)
		fuzzDecode(t, alaw, data, 6)
	})
}

func FuzzG722Decode(f *testing.F) {
	f.Add([]byte{0x00, 0xFF, 0x55, 0xAA})
	dec, err := G722.NewDecoder()
	if err != nil {
		f.Fatal(err)
	}
	defer dec.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzDecode(t, dec, data, 6)
	})
}

func FuzzOpusDecode(f *testing.F) {
	f.Add([]byte{0xF8, 0xFF, 0xFE})
	f.Add([]byte{0x03, 0x00})
	dec, err := Opus.NewDecoder()
	if err != nil {
		f.Fatal(err)
	}
	defer dec.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzDecode(t, dec, data, 0)
	})
}
