package video

import "errors"

// Sentinel errors of the video compositor, wrapped with context by the
// methods that return them.
var (
	// ErrClosed: the mixer was closed.
	ErrClosed = errors.New("video mixer: closed")
	// ErrDuplicateInput: a participant with that id is already in the mixer.
	ErrDuplicateInput = errors.New("video mixer: duplicate input")
	// ErrUnknownInput: no participant with that id is in the mixer.
	ErrUnknownInput = errors.New("video mixer: unknown input")
	// ErrBadOutput: Add was given an empty id, a nil sink or a codec the
	// mixer cannot encode.
	ErrBadOutput = errors.New("video mixer: bad output")
	// ErrBadCell: Pin was given a negative or impossible cell index.
	ErrBadCell = errors.New("video mixer: bad cell")
	// ErrBadConfig: the mixer's Config is unusable.
	ErrBadConfig = errors.New("video mixer: bad config")
)
