package audio

import (
	"fmt"
	"strconv"
	"strings"

	"vmrd/internal/codec"
)

// knownCodecs are the codecs CodecEncoder can make encoders for.
var knownCodecs = [...]codec.AudioCodec{codec.Opus, codec.G722, codec.PCMU, codec.PCMA}

// FormatKey is the format key of an audio codec in rtpmap form, as SDP writes
// it (RFC 4566 section 6): "PCMU/8000", "opus/48000/2".
func FormatKey(c codec.AudioCodec) string {
	k := c.Name + "/" + strconv.FormatUint(uint64(c.ClockRate), 10)
	if c.Channels > 1 {
		k += "/" + strconv.Itoa(c.Channels)
	}
	return k
}

// CodecEncoder makes an encoder of the codec whose FormatKey is format (the
// encoding name compared case-insensitively). It is the default
// Config.NewEncoder.
func CodecEncoder(format string) (codec.AudioEncoder, error) {
	for _, c := range knownCodecs {
		if k := FormatKey(c); strings.EqualFold(k, format) {
			return c.NewEncoder()
		}
	}
	return nil, fmt.Errorf("%w: %q", codec.ErrUnknownCodec, format)
}
