// Package codec holds the audio (and later video) encoders and decoders vmrd
// speaks, behind small interfaces. Audio codecs convert to and from the
// mixer's format: 48 kHz, mono, signed 16-bit samples.
package codec

// MixRate is the sample rate of the audio mixer.
const MixRate = 48000

// FrameSamples is one 20 ms mixer frame at MixRate.
const FrameSamples = MixRate / 50

// MaxFrameSamples is the largest decoded payload we accept: 120 ms at MixRate
// (the longest Opus packet).
const MaxFrameSamples = MixRate * 120 / 1000

// AudioDecoder turns RTP payloads of one codec into 48 kHz mono PCM.
type AudioDecoder interface {
	// Decode decodes one RTP payload into pcm (48 kHz mono) and returns the
	// number of samples written. pcm must hold MaxFrameSamples.
	Decode(payload []byte, pcm []int16) (int, error)
	// Conceal writes one 20 ms frame (FrameSamples) of loss concealment to pcm
	// after a lost packet and returns the number of samples written.
	Conceal(pcm []int16) (int, error)
	Close() error
}

// AudioEncoder turns 20 ms frames of 48 kHz mono PCM into RTP payloads.
type AudioEncoder interface {
	// Encode encodes exactly FrameSamples samples into out and returns the
	// payload length. out should hold at least 1500 bytes.
	Encode(pcm []int16, out []byte) (int, error)
	Close() error
}
