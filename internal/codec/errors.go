package codec

import "errors"

// Sentinel errors. Decoders and encoders return these (possibly wrapped) and
// never panic on bad input; per-packet error paths do not allocate.
var (
	// ErrUnknownCodec: the AudioCodec is not one this package implements.
	ErrUnknownCodec = errors.New("codec: unknown codec")
	// ErrClosed: the decoder or encoder was used after Close.
	ErrClosed = errors.New("codec: closed")
	// ErrEmptyPayload: Decode was given a zero-length payload.
	ErrEmptyPayload = errors.New("codec: empty payload")
	// ErrPayloadTooLong: the payload would decode to more than MaxFrameSamples
	// or is longer than any legal packet of the codec.
	ErrPayloadTooLong = errors.New("codec: payload too long")
	// ErrShortBuffer: the pcm or out buffer cannot hold the result.
	ErrShortBuffer = errors.New("codec: buffer too small")
	// ErrFrameSize: Encode was not given exactly FrameSamples samples.
	ErrFrameSize = errors.New("codec: pcm is not one 20 ms frame")
	// ErrCorrupt: the codec library rejected the payload as malformed.
	ErrCorrupt = errors.New("codec: corrupt payload")
	// ErrLibrary: the codec library failed for a reason other than bad input
	// (allocation failure, internal error).
	ErrLibrary = errors.New("codec: library failure")
	// ErrBadFrame: a video frame's size or planes are unusable (zero,
	// above MaxVideoDimension, or slices too short for the strides).
	ErrBadFrame = errors.New("codec: bad video frame")
	// ErrBadConfig: an encoder was configured with values it cannot use
	// (size, frame rate, bitrate, NAL size).
	ErrBadConfig = errors.New("codec: bad encoder config")
	// ErrTooLarge: a video stream declared a picture above MaxVideoDimension
	// on a side; the decoder refused it before allocating it. Errors
	// wrapping it also wrap ErrCorrupt.
	ErrTooLarge = errors.New("codec: picture too large")
)
