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
	// ErrNoVideoCodec: no offered video format is one the room accepts (a
	// video stream is then refused with port 0; the call goes on).
	ErrNoVideoCodec = errors.New("no common video codec")
	// ErrUnsupportedTransport: the audio stream asks for a profile we do not speak (e.g. SRTP).
	ErrUnsupportedTransport = errors.New("unsupported media transport")
	// ErrEncryptionRequired: the room requires SRTP and the SDP offers
	// (or answers with) plain RTP/AVP only.
	ErrEncryptionRequired = errors.New("media encryption required")
	// ErrNoCrypto: an encrypted stream without a usable a=crypto line
	// (none, unknown suites, bad keys, lifetimes or MKIs we cannot honour).
	ErrNoCrypto = errors.New("no usable SDES crypto attribute")
	// ErrUnknownPolicy: a configured encryption policy name is not off, preferred or required.
	ErrUnknownPolicy = errors.New("unknown encryption policy")
)
