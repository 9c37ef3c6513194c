package sip

import (
	"errors"

	"vmrd/internal/media"
	"vmrd/internal/room"
	"vmrd/signaling/sdp"
)

// Errors of the SIP layer itself.
var (
	// ErrNotRoomURI: the Request-URI's user part is not a room number.
	ErrNotRoomURI = errors.New("request-URI names no room")
	// ErrSessionIntervalTooSmall: Session-Expires below our Min-SE (RFC 4028 6).
	ErrSessionIntervalTooSmall = errors.New("session interval too small")
	// ErrUnsupportedBody: an INVITE body that is not application/sdp.
	ErrUnsupportedBody = errors.New("unsupported message body")
)

// status maps an error to the SIP response that reports it: the one
// place where room, SDP and media errors become status codes.
func status(err error) (code int, reason string) {
	switch {
	case errors.Is(err, room.ErrNoSuchRoom), errors.Is(err, ErrNotRoomURI):
		return 404, "Not Found"
	case errors.Is(err, room.ErrRoomFull):
		return 486, "Busy Here"
	case errors.Is(err, room.ErrClosed):
		return 503, "Service Unavailable"
	case errors.Is(err, sdp.ErrMalformed), errors.Is(err, errBadHeader):
		return 400, "Bad Request"
	case errors.Is(err, sdp.ErrNoCommonCodec), errors.Is(err, sdp.ErrNoAudio), errors.Is(err, sdp.ErrUnsupportedTransport),
		errors.Is(err, sdp.ErrEncryptionRequired), errors.Is(err, sdp.ErrNoCrypto):
		return 488, "Not Acceptable Here"
	case errors.Is(err, ErrUnsupportedBody):
		return 415, "Unsupported Media Type"
	case errors.Is(err, ErrSessionIntervalTooSmall):
		return 422, "Session Interval Too Small"
	case errors.Is(err, media.ErrNoPorts):
		return 503, "Service Unavailable"
	default:
		return 500, "Server Internal Error"
	}
}

// errBadHeader: a header we need is unparseable; answered 400.
var errBadHeader = errors.New("bad header")
