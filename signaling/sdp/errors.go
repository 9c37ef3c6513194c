package sdp

import "errors"

// Errors of offer/answer. signaling/sip maps them to SIP status codes.
var (
	// ErrMalformed: the body is not SDP we can parse.
	ErrMalformed = errors.New("malformed SDP")
	// ErrNoAudio: the offer has no usable audio stream.
	ErrNoAudio = errors.New("no audio stream offered")
	// ErrNoCommonCodec: no offered audio codec is one the room accepts.
	ErrNoCommonCodec = errors.New("no common audio codec")
	// ErrUnsupportedTransport: the audio stream asks for a profile we do not speak (e.g. SRTP).
	ErrUnsupportedTransport = errors.New("unsupported media transport")
)
