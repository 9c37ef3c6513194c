package audio

import "errors"

// Sentinel errors of the audio mixer, wrapped with context by the methods
// that return them.
var (
	// ErrClosed: the mixer was closed.
	ErrClosed = errors.New("audio mixer: closed")
	// ErrDuplicateInput: an input with that id is already in the mixer.
	ErrDuplicateInput = errors.New("audio mixer: duplicate input")
	// ErrUnknownInput: no input with that id is in the mixer.
	ErrUnknownInput = errors.New("audio mixer: unknown input")
	// ErrBadInput: Add was given an empty id or format, or a nil sink.
	ErrBadInput = errors.New("audio mixer: bad input")
	// ErrNoEncoder: the mixer cannot make an encoder for the input's format.
	ErrNoEncoder = errors.New("audio mixer: no encoder")
)
