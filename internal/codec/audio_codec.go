package codec

import (
	"strconv"
	"strings"
)

// AudioCodec describes an audio codec as SDP and RTP see it. The values are
// comparable: PCMU == LookupAudio("pcmu", 8000).
type AudioCodec struct {
	// Name is the encoding name as it appears in a=rtpmap.
	Name string
	// ClockRate is the RTP timestamp clock rate, which is not always the
	// sampling rate (G.722, RFC 3551 section 4.5.2).
	ClockRate uint32
	// Channels is the rtpmap channel count.
	Channels int
	// StaticPT is the static RTP payload type (RFC 3551 table 4), or -1 when
	// the payload type is negotiated dynamically.
	StaticPT int
	// FrameTS is the RTP timestamp increment of one 20 ms frame.
	FrameTS uint32
}

// The audio codecs vmrd implements.
var (
	// PCMU is G.711 µ-law, RFC 3551 section 4.5.14.
	PCMU = AudioCodec{Name: "PCMU", ClockRate: 8000, Channels: 1, StaticPT: 0, FrameTS: 160}
	// PCMA is G.711 A-law, RFC 3551 section 4.5.14.
	PCMA = AudioCodec{Name: "PCMA", ClockRate: 8000, Channels: 1, StaticPT: 8, FrameTS: 160}
	// G722 samples at 16 kHz but its RTP clock runs at 8 kHz for historical
	// reasons (RFC 3551 section 4.5.2), so a 20 ms frame advances the
	// timestamp by 160.
	G722 = AudioCodec{Name: "G722", ClockRate: 8000, Channels: 1, StaticPT: 9, FrameTS: 160}
	// Opus is always advertised as opus/48000/2 whatever is actually sent
	// (RFC 7587 section 7); we send mono and accept stereo, downmixed.
	Opus = AudioCodec{Name: "opus", ClockRate: 48000, Channels: 2, StaticPT: -1, FrameTS: 960}
)

// AudioCodecs returns the implemented audio codecs in vmrd's order of
// preference for SDP offers and answers.
func AudioCodecs() []AudioCodec {
	return []AudioCodec{Opus, G722, PCMU, PCMA}
}

// LookupAudio finds an implemented codec by its rtpmap encoding name (case
// insensitive, RFC 4566 section 6) and clock rate. A clockRate of 0 matches
// any clock rate, for callers that know only a name (configuration).
func LookupAudio(name string, clockRate uint32) (AudioCodec, bool) {
	for _, c := range [...]AudioCodec{PCMU, PCMA, G722, Opus} {
		if strings.EqualFold(c.Name, name) && (clockRate == 0 || clockRate == c.ClockRate) {
			return c, true
		}
	}
	return AudioCodec{}, false
}

// String returns the rtpmap form: "PCMU/8000", "opus/48000/2". The channel
// count is left out when it is 1, as SDP does (RFC 4566 section 6).
func (c AudioCodec) String() string {
	s := c.Name + "/" + strconv.FormatUint(uint64(c.ClockRate), 10)
	if c.Channels > 1 {
		s += "/" + strconv.Itoa(c.Channels)
	}
	return s
}

// kind maps a descriptor to its implementation. Only the name and clock rate
// identify a codec; the other fields are derived facts.
func (c AudioCodec) kind() (AudioCodec, bool) {
	if c.Name == "" || c.ClockRate == 0 {
		return AudioCodec{}, false
	}
	return LookupAudio(c.Name, c.ClockRate)
}

// NewDecoder returns a decoder producing 48 kHz mono PCM. Decode and Conceal
// are not safe for concurrent use; Close releases the C state and may be
// called from any goroutine, any number of times.
//
// The Opus decoder also has DecodeFEC(payload, pcm []int16) (int, error):
// after a single lost packet, call it with the next packet instead of
// Conceal to recover the lost frame from in-band FEC, then Decode that packet.
func (c AudioCodec) NewDecoder() (AudioDecoder, error) {
	k, ok := c.kind()
	if !ok {
		return nil, ErrUnknownCodec
	}
	switch k {
	case PCMU:
		return newG711Decoder(&ulawDecode), nil
	case PCMA:
		return newG711Decoder(&alawDecode), nil
	case G722:
		return newG722Decoder()
	case Opus:
		return newOpusDecoder()
	}
	return nil, ErrUnknownCodec
}

// NewEncoder returns an encoder taking 20 ms frames of 48 kHz mono PCM.
// Encode is not safe for concurrent use; Close releases the C state and may
// be called from any goroutine, any number of times.
//
// The Opus encoder also has SetPacketLoss(percent int) error, fed from RTCP
// receiver reports, which lets libopus add in-band FEC when loss is high.
func (c AudioCodec) NewEncoder() (AudioEncoder, error) {
	k, ok := c.kind()
	if !ok {
		return nil, ErrUnknownCodec
	}
	switch k {
	case PCMU:
		return newG711Encoder(ulawEncodeTable()), nil
	case PCMA:
		return newG711Encoder(alawEncodeTable()), nil
	case G722:
		return newG722Encoder()
	case Opus:
		return newOpusEncoder(defaultOpusConfig)
	}
	return nil, ErrUnknownCodec
}
