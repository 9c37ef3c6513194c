package configs

import "errors"

// Sentinel errors of the shipped assets, wrapped with context by the
// functions that return them.
var (
	// ErrUnknownPrompt: no prompt has that name.
	ErrUnknownPrompt = errors.New("configs: unknown prompt")
	// ErrBadWAV: an embedded prompt is not a WAV file the loader reads
	// (16-bit PCM, mono, a rate that divides 48 kHz).
	ErrBadWAV = errors.New("configs: bad wav")
)
