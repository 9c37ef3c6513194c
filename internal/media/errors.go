package media

import "errors"

// Sentinel errors of the media package. Callers match them with errors.Is.
var (
	// ErrNoPorts: every port pair of the configured range is busy.
	ErrNoPorts = errors.New("media: no free RTP ports")
	// ErrPortRange: the allocator's range is empty or outside 1-65535.
	ErrPortRange = errors.New("media: bad port range")
	// ErrClosed: the session or ports were used after Close.
	ErrClosed = errors.New("media: closed")
	// ErrConfig: a SessionConfig or Update lacks a required field.
	ErrConfig = errors.New("media: bad session config")
	// ErrShortEvent: an RFC 4733 telephone-event payload is shorter than 4 bytes.
	ErrShortEvent = errors.New("media: telephone-event payload too short")
)
