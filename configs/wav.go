package configs

import (
	"encoding/binary"
	"fmt"
)

// WAV format tags (the fmt chunk's wFormatTag).
const (
	wavPCM        = 1
	wavExtensible = 0xFFFE
)

// parseWAV reads a RIFF WAVE file of 16-bit PCM mono samples whose rate
// divides Rate, and returns the samples and the rate. Chunks other than fmt
// and data are skipped; chunks are padded to an even size.
func parseWAV(b []byte) ([]int16, int, error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, fmt.Errorf("%w: no RIFF WAVE header", ErrBadWAV)
	}
	var (
		rate    int
		haveFmt bool
	)
	rest := b[12:]
	for len(rest) >= 8 {
		id := string(rest[0:4])
		size := binary.LittleEndian.Uint32(rest[4:8])
		rest = rest[8:]
		if uint64(size) > uint64(len(rest)) {
			return nil, 0, fmt.Errorf("%w: chunk %q of %d bytes overruns the file", ErrBadWAV, id, size)
		}
		body := rest[:size]
		rest = rest[size:]
		if size%2 == 1 && len(rest) > 0 {
			rest = rest[1:]
		}
		switch id {
		case "fmt ":
			r, err := parseFmt(body)
			if err != nil {
				return nil, 0, err
			}
			rate, haveFmt = r, true
		case "data":
			if !haveFmt {
				return nil, 0, fmt.Errorf("%w: data before fmt", ErrBadWAV)
			}
			pcm := make([]int16, len(body)/2)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(body[2*i:]))
			}
			return pcm, rate, nil
		}
	}
	return nil, 0, fmt.Errorf("%w: no data chunk", ErrBadWAV)
}

// parseFmt checks a fmt chunk and returns the sample rate.
func parseFmt(c []byte) (int, error) {
	if len(c) < 16 {
		return 0, fmt.Errorf("%w: fmt chunk of %d bytes", ErrBadWAV, len(c))
	}
	tag := binary.LittleEndian.Uint16(c[0:2])
	channels := binary.LittleEndian.Uint16(c[2:4])
	rate := binary.LittleEndian.Uint32(c[4:8])
	bits := binary.LittleEndian.Uint16(c[14:16])
	if tag == wavExtensible && len(c) >= 26 {
		// The sub-format GUID starts with the real format tag.
		tag = binary.LittleEndian.Uint16(c[24:26])
	}
	switch {
	case tag != wavPCM:
		return 0, fmt.Errorf("%w: format tag %#x, want PCM", ErrBadWAV, tag)
	case channels != 1:
		return 0, fmt.Errorf("%w: %d channels, want mono", ErrBadWAV, channels)
	case bits != 16:
		return 0, fmt.Errorf("%w: %d bits a sample, want 16", ErrBadWAV, bits)
	case rate == 0 || rate > Rate || Rate%rate != 0:
		return 0, fmt.Errorf("%w: rate %d Hz does not divide %d Hz", ErrBadWAV, rate, Rate)
	}
	return int(rate), nil
}
