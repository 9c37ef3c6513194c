package webrtc

import "errors"

// Errors of browser joins. The message sent to the browser is the error's
// text, so none of them reveals whether a room or token exists.
var (
	// ErrBadToken: the join token is missing, unknown, expired or of
	// another room.
	ErrBadToken = errors.New("invalid token")
	// ErrDraining: the service is shutting down and takes no new joins.
	ErrDraining = errors.New("service is shutting down")
	// ErrLimited: too many joins or messages from this peer.
	ErrLimited = errors.New("too many requests")
	// ErrProtocol: a message out of order, of an unknown type or malformed.
	ErrProtocol = errors.New("protocol error")
	// ErrTooLarge: a WebSocket message above the cap.
	ErrTooLarge = errors.New("message too large")
	// ErrJoinTimeout: no join message in time.
	ErrJoinTimeout = errors.New("no join message in time")
	// ErrBadOffer: the offer is not usable SDP or offers no codec we speak.
	ErrBadOffer = errors.New("unusable offer")
	// ErrAlreadyConnected: the participant has media already.
	ErrAlreadyConnected = errors.New("participant is connected already")
	// ErrClosed: the server is closed.
	ErrClosed = errors.New("server closed")
)
