package api

import (
	"context"

	"vmrd/internal/room"
)

// Rooms is what the client API needs of the room manager.
type Rooms interface {
	// JoinAPI checks the PIN and adds a control-only participant (protocol
	// "api") to the room. It returns room.ErrBadPIN for a wrong PIN, an
	// unknown room and while PIN entry is blocked, all alike.
	JoinAPI(ctx context.Context, number, pin, displayName, source string) (Actor, error)
}

// Actor is one API participant, acting on its own room. The room decides
// what each role may do (room.ErrNotHost); the API does not repeat that
// policy.
type Actor interface {
	ID() room.ParticipantID
	Role() room.Role
	Lock(locked bool) error
	MuteGuests(muted bool) error
	EndMeeting() error
	Admit(id room.ParticipantID) error
	Reject(id room.ParticipantID) error
	SetMuted(id room.ParticipantID, muted bool) error
	Disconnect(id room.ParticipantID) error
	// Spotlight keeps a participant in the first free spotlight cell of
	// every layout (on) or releases them.
	Spotlight(id room.ParticipantID, on bool) error
	// StartStream and StopStream control a large room's stream.
	StartStream() error
	StopStream() error
	// SetLayout switches the room's layout (canonical names, "4:0").
	SetLayout(name string) error
	Participants() ([]room.Info, error)
	Conference() (room.ConferenceInfo, error)
	// Subscribe returns the room's events; the channel is closed when the
	// participant leaves or cancel is called.
	Subscribe() (<-chan room.Event, func())
	// Leave removes the participant from its room; it is idempotent.
	Leave(reason string)
}
