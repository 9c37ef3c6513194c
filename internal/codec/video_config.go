package codec

import "fmt"

// maxEncoderFPS is the highest frame rate the encoders accept (openh264
// clips its rate model to 60).
const maxEncoderFPS = 60

// check reports whether cfg can set up an encoder.
func (cfg VideoEncoderConfig) check() error {
	switch {
	case cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > MaxVideoDimension || cfg.Height > MaxVideoDimension ||
		cfg.Width%2 != 0 || cfg.Height%2 != 0:
		return fmt.Errorf("%w: size %dx%d (even, 2 to %d)", ErrBadConfig, cfg.Width, cfg.Height, MaxVideoDimension)
	case cfg.FPS <= 0 || cfg.FPS > maxEncoderFPS:
		return fmt.Errorf("%w: fps %d (1 to %d)", ErrBadConfig, cfg.FPS, maxEncoderFPS)
	case cfg.Bitrate <= 0:
		return fmt.Errorf("%w: bitrate %d", ErrBadConfig, cfg.Bitrate)
	case cfg.MaxNALSize < 0 || cfg.KeyframeInterval < 0:
		return fmt.Errorf("%w: negative MaxNALSize or KeyframeInterval", ErrBadConfig)
	}
	return nil
}

// errFrameSize is returned for frames of the wrong size; prebuilt so that a
// caller stuck feeding wrong frames does not allocate an error per tick.
var errFrameSize = fmt.Errorf("%w: frame size differs from the encoder's", ErrBadFrame)

// checkFrame reports whether f is a usable frame of the configured size.
func (cfg VideoEncoderConfig) checkFrame(f *Frame) error {
	if !f.valid() {
		return ErrBadFrame
	}
	if f.Width != cfg.Width || f.Height != cfg.Height {
		return errFrameSize
	}
	return nil
}

// initialOutSize sizes an encoder's output buffer so that even a detailed
// keyframe fits without growing it in the middle of a call.
func initialOutSize(cfg VideoEncoderConfig) int { return max(64<<10, cfg.Width*cfg.Height/2) }
