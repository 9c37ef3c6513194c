package api

import "errors"

// Errors of the client API's own checks. statusOf maps them, and the room
// errors, to HTTP statuses.
var (
	// ErrInvalidToken: the token is missing, unknown, expired, released or
	// belongs to another conference.
	ErrInvalidToken = errors.New("invalid token")
	// ErrBadRequest: the request body or a field in it is malformed.
	ErrBadRequest = errors.New("bad request")
	// ErrUnsupportedMediaType: a request body that is not JSON.
	ErrUnsupportedMediaType = errors.New("request body must be application/json")
	// ErrBodyTooLarge: the request body exceeds the limit.
	ErrBodyTooLarge = errors.New("request body too large")
	// ErrNotFound: no such endpoint.
	ErrNotFound = errors.New("not found")
	// ErrMethodNotAllowed: the endpoint exists but not with this method.
	ErrMethodNotAllowed = errors.New("method not allowed")
	// ErrShuttingDown: the API is closing and takes no new sessions.
	ErrShuttingDown = errors.New("shutting down")
)
