package room

import "errors"

// Errors of room commands. Each protocol maps them to its status codes in one place.
var (
	// ErrNoSuchRoom: no room has this number.
	ErrNoSuchRoom = errors.New("no such room")
	// ErrRoomFull: the room has max_participants callers already.
	ErrRoomFull = errors.New("room is full")
	// ErrClosed: the manager is shutting down.
	ErrClosed = errors.New("room manager closed")
	// ErrGone: the participant has left already.
	ErrGone = errors.New("participant has left")
)
