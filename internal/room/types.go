// Package room holds the room manager and one actor per active room. It is
// pure logic: no sockets and no codecs. Signaling turns protocol events into
// room commands; the room tells its mixer to add and remove inputs.
package room

import "fmt"

// Number is a room's number: the user part of the SIP Request-URI.
type Number string

// ParticipantID names one participant for the lifetime of the process.
type ParticipantID string

// Role of a participant.
type Role int

// Roles. The host-PIN issue makes hosts; until then everyone is a guest.
const (
	Guest Role = iota
	Host
)

func (r Role) String() string {
	if r == Host {
		return "host"
	}
	return "guest"
}

// Settings are one room's configuration as the room logic needs it.
type Settings struct {
	Number          Number
	Name            string
	MaxParticipants int
}

// AudioSink receives one encoded 20 ms frame of the participant's mix. It
// is called from the mixer's tick and must not block.
type AudioSink interface {
	WriteAudio(payload []byte)
}

// AudioInput takes the participant's decoded audio (48 kHz mono).
type AudioInput interface {
	Write(pcm []int16)
	SetMuted(bool)
}

// Mixer is the audio mixer of one room, as the room drives it.
type Mixer interface {
	// Add starts mixing a participant whose mix is encoded in format (a
	// codec key: participants with equal keys share encoded frames).
	Add(id ParticipantID, format string, sink AudioSink) (AudioInput, error)
	Remove(id ParticipantID)
	Close() error
}

// Leg is the signaling side of a participant, as the room needs it.
type Leg interface {
	// Disconnect asks the leg to hang up (SIP BYE); reason is for logs
	// and, where the protocol has one, the Reason header.
	Disconnect(reason string)
}

// JoinRequest asks to add a caller to a room.
type JoinRequest struct {
	Number      Number
	DisplayName string
	Source      string // where the call comes from, for logs and audit
	Leg         Leg
	// AudioFormat is the codec key of the caller's mix (e.g. "opus/48000/2").
	AudioFormat string
	// Sink gets the caller's encoded mix.
	Sink AudioSink
}

func (r JoinRequest) String() string {
	return fmt.Sprintf("join %s from %s", r.Number, r.Source)
}
