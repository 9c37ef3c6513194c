package codec

import (
	"errors"
	"testing"
)

// FuzzVideoDecode feeds one input to a fresh H.264 and a fresh VP8 decoder,
// as one access unit and then as two halves, checking that they only fail
// in the documented ways and never hand out a picture they cannot hold.
// Seeds in testdata/fuzz/FuzzVideoDecode are small real keyframes and delta
// frames of both codecs, plus damaged ones.
func FuzzVideoDecode(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f})
	f.Add([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x00, 0x30, 0x00})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range []VideoCodec{H264, VP8} {
			dec, err := NewVideoDecoder(c)
			if err != nil {
				t.Fatal(err)
			}
			fuzzVideoUnit(t, dec, c, data)
			fuzzVideoUnit(t, dec, c, data[:len(data)/2])
			fuzzVideoUnit(t, dec, c, data[len(data)/2:])
			if err := dec.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func fuzzVideoUnit(t *testing.T, dec VideoDecoder, c VideoCodec, au []byte) {
	t.Helper()
	f, err := dec.Decode(au)
	switch {
	case err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrEmptyPayload):
		t.Fatalf("%s: Decode(%d bytes): unexpected error %v", c, len(au), err)
	case err != nil && f != nil:
		t.Fatalf("%s: picture returned with error %v", c, err)
	case f != nil && !f.valid():
		t.Fatalf("%s: unusable picture %dx%d strides %d/%d", c, f.Width, f.Height, f.StrideY, f.StrideUV)
	case f != nil:
		// Touch the last pixel of every plane: the slices must be backed.
		ch := (f.Height + 1) / 2
		cw := (f.Width + 1) / 2
		_ = f.Y[(f.Height-1)*f.StrideY+f.Width-1]
		_ = f.U[(ch-1)*f.StrideUV+cw-1]
		_ = f.V[(ch-1)*f.StrideUV+cw-1]
	}
}
