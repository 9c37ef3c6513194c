package codec

// VideoCodec names a video codec as SDP does (the encoding name of rtpmap).
type VideoCodec string

// Video codecs vmrd decodes and encodes.
const (
	H264 VideoCodec = "H264"
	VP8  VideoCodec = "VP8"
)

// VideoDecoder turns compressed pictures into I420 frames.
type VideoDecoder interface {
	// Decode decodes one access unit: an H.264 access unit in Annex B form
	// (start codes before each NAL unit), or one whole VP8 frame. It
	// returns the picture, valid only until the next Decode or Close, or
	// nil with no error when the decoder has no picture to show yet (for
	// example before the first keyframe). Corrupt input returns an error
	// wrapping ErrCorrupt and leaves the decoder usable; the caller keeps
	// its last good picture and asks the sender for a keyframe.
	Decode(au []byte) (*Frame, error)
	Close() error
}

// VideoEncoderConfig sets up an encoder.
type VideoEncoderConfig struct {
	Width, Height int // the canvas size, even numbers
	FPS           int // frames per second the encoder is fed
	Bitrate       int // target in bits per second
	// MaxNALSize, for H.264, caps every NAL unit so that it fits one RTP
	// packet (packetization-mode 0, RFC 6184 section 6.2); 0 is no cap.
	MaxNALSize int
	// KeyframeInterval in frames; 0 means keyframes only when asked.
	KeyframeInterval int
}

// VideoEncoder turns I420 frames into compressed pictures.
type VideoEncoder interface {
	// Encode compresses f, which must have the configured size. forceKey
	// asks for a keyframe (IDR for H.264). out is an H.264 access unit in
	// Annex B form or one VP8 frame, valid until the next Encode or Close;
	// it is empty when the encoder dropped the frame (rate control).
	Encode(f *Frame, forceKey bool) (out []byte, key bool, err error)
	// SetBitrate changes the target bitrate (bits per second) from the
	// next frame on.
	SetBitrate(bps int) error
	Close() error
}

// ActiveMapEncoder is a VideoEncoder that can be told which parts of the
// next pictures changed. A compositor knows which cells it redrew; the
// encoder then spends nothing on the rest.
type ActiveMapEncoder interface {
	VideoEncoder
	// SetActiveMap applies to the following Encode calls until the next
	// SetActiveMap. active has one byte per 16x16 macroblock, row by row
	// (MacroblockGrid); 0 marks one unchanged since the last encoded
	// picture, which is then coded as skipped. nil makes every macroblock
	// active. Keyframes code every macroblock.
	SetActiveMap(active []byte) error
}

// MacroblockGrid is the number of 16x16 macroblock columns and rows of a
// w x h picture.
func MacroblockGrid(w, h int) (cols, rows int) { return (w + 15) / 16, (h + 15) / 16 }
