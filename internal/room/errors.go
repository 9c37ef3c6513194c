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

// Errors of room control.
var (
	// ErrBadPIN: the PIN is wrong. Also returned for an unknown room and
	// while PIN entry is blocked, so that neither can be told apart.
	ErrBadPIN = errors.New("invalid PIN")
	// ErrNotHost: the action needs the host role.
	ErrNotHost = errors.New("only a host may do this")
	// ErrBadLayout: the layout name is not one the room offers.
	ErrBadLayout = errors.New("no such layout")
	// ErrNoStream: the room does not stream (not a large room).
	ErrNoStream = errors.New("this room does not stream")
	// ErrMediaAttached: the participant has media already.
	ErrMediaAttached = errors.New("participant has media already")
	// ErrNoSuchParticipant: no participant with that ID in the room.
	ErrNoSuchParticipant = errors.New("no such participant")
	// ErrNotWaiting: admit or reject of a participant who is not in the lobby.
	ErrNotWaiting = errors.New("participant is not waiting in the lobby")
)

// ErrNotAdmitted: a guest waiting in the lobby (or entering the PIN) may not
// see the meeting.
var ErrNotAdmitted = errors.New("waiting to be admitted")
