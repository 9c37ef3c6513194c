package stream

import "errors"

// Sentinel errors of the publisher. Errors handed to callers and loggers
// never contain the stream key.
var (
	// ErrBadURL: the URL is not an rtmp:// or rtmps:// URL with a host.
	ErrBadURL = errors.New("stream: bad rtmp url")
	// ErrConnect: connecting, the RTMP handshake or the publish command
	// failed.
	ErrConnect = errors.New("stream: connect failed")
	// ErrSend: writing to an established connection failed or the server
	// closed it.
	ErrSend = errors.New("stream: connection lost")
	// ErrGaveUp: MaxRetries consecutive attempts failed.
	ErrGaveUp = errors.New("stream: gave up reconnecting")
	// ErrBadAU: an access unit or codec configuration could not be muxed.
	ErrBadAU = errors.New("stream: bad access unit")
)
