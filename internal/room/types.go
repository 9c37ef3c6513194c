// Package room holds the room manager and one actor per active room: roles,
// PIN entry (IVR), the lobby, lock and autolock, mute, capacity, host
// commands and events. It is pure logic: no sockets and no codecs.
// Signaling turns protocol events into room commands (join, digit, leave);
// the room decides and tells its mixer what each participant hears.
package room

import (
	"context"
	"fmt"
	"time"
)

// Number is a room's number: the user part of the SIP Request-URI.
type Number string

// ParticipantID names one participant for the lifetime of the process.
type ParticipantID string

// Role of a participant.
type Role int

// Roles. A caller is a guest until the host PIN says otherwise.
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

// Type is how a room admits callers.
type Type int

// Room types.
const (
	// Open: no PIN, everyone is a guest and goes straight in.
	Open Type = iota
	// PIN: callers key a PIN; the host PIN makes a host. Guests wait in the
	// lobby until the first host arrives, who admits them.
	PIN
	// Autolock: like PIN, but the room locks when a host arrives, so
	// guests wait until a host admits them one by one.
	Autolock
	// Large: like PIN; its meeting (a few speakers) streams to an
	// audience outside the room.
	Large
)

func (t Type) String() string {
	switch t {
	case PIN:
		return "pin"
	case Large:
		return "large"
	case Autolock:
		return "autolock"
	default:
		return "open"
	}
}

// Settings are one room's configuration as the room logic needs it.
type Settings struct {
	Number          Number
	Name            string
	MaxParticipants int
	Type            Type
	// Language of the room's prompts ("nb" or "en").
	Language string
	// GracePeriod: guests stay this long after the last host left.
	GracePeriod time.Duration
	// Decoy marks the stand-in for an unknown number: it behaves like a PIN
	// room whose PIN is never right, so numbers cannot be enumerated.
	Decoy bool
	// Layout is the room's starting layout; Layouts every layout the
	// host may switch to, in the order keypad *8 steps through them.
	Layout  string
	Layouts []string
	// StreamAutoStart starts a large room's stream when the first host
	// joins.
	StreamAutoStart bool
}

// Prompt names a voice prompt or tone the room plays to a participant.
type Prompt string

// Prompts.
const (
	PromptEnterPIN      Prompt = "enter_pin"
	PromptWrongPIN      Prompt = "wrong_pin"
	PromptGoodbyePIN    Prompt = "goodbye_pin"
	PromptWaiting       Prompt = "waiting"
	PromptRejected      Prompt = "rejected"
	PromptRoomFull      Prompt = "room_full"
	PromptMeetingEnded  Prompt = "meeting_ended"
	PromptDisconnected  Prompt = "disconnected"
	PromptMuted         Prompt = "muted"
	PromptUnmuted       Prompt = "unmuted"
	PromptGuestsMuted   Prompt = "guests_muted"
	PromptGuestsUnmuted Prompt = "guests_unmuted"
	PromptLocked        Prompt = "locked"
	PromptUnlocked      Prompt = "unlocked"
	PromptHoldTone      Prompt = "hold_tone"
	PromptKnock         Prompt = "knock"
)

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
	// Add starts a participant whose mix is encoded in format (a codec
	// key: equal keys share encoded frames). New inputs are isolated:
	// not mixed, and hearing only what Play sends them.
	Add(id ParticipantID, format string, sink AudioSink) (AudioInput, error)
	Remove(id ParticipantID)
	// SetInMeeting puts a participant into the mix (true) or isolates it.
	SetInMeeting(id ParticipantID, in bool)
	// Play replaces what the participant's player plays: alone when
	// isolated, over the meeting otherwise. done (may be nil) is called
	// once when the sequence ends, is replaced or stopped, from the
	// mixer's goroutine; it must not block.
	Play(id ParticipantID, lang string, prompts []Prompt, loop bool, done func())
	StopPlay(id ParticipantID)
	Close() error
}

// Leg is the signaling side of a participant, as the room needs it.
type Leg interface {
	// Disconnect asks the leg to hang up (SIP BYE) and then Leave.
	Disconnect(reason string)
}

// Verifier checks a keyed PIN for a room. It returns Host or Guest, or
// ErrBadPIN alike for a wrong PIN, a decoy room and while PIN entry is
// blocked, taking the same time in each case. entered is what was keyed,
// without the final '#'; empty means '#' alone.
type Verifier interface {
	Verify(ctx context.Context, s Settings, source, entered string) (Role, error)
}

// AuditEvent is one line of the audit log. It never holds a PIN.
type AuditEvent struct {
	Time        time.Time `json:"time"`
	Kind        string    `json:"event"`
	Room        Number    `json:"room"`
	Participant string    `json:"participant,omitempty"`
	Role        string    `json:"role,omitempty"`
	Source      string    `json:"source,omitempty"`
	Protocol    string    `json:"protocol,omitempty"`
	Encryption  string    `json:"encryption,omitempty"`
	Target      string    `json:"target,omitempty"`
	Detail      string    `json:"detail,omitempty"`
}

// JoinRequest asks to add a caller to a room.
type JoinRequest struct {
	Number      Number
	DisplayName string
	Source      string // the caller's address, for limits, logs and audit
	Protocol    string // "sip", "webrtc"
	Leg         Leg
	// AudioFormat is the codec key of the caller's mix (e.g. "opus/48000/2").
	AudioFormat string
	// Sink gets the caller's encoded mix.
	Sink AudioSink
	// Encryption names the media encryption ("none", "srtp:<suite>",
	// "dtls-srtp"), shown in the API and audit log.
	Encryption string
}

func (r JoinRequest) String() string {
	return fmt.Sprintf("join %s from %s", r.Number, r.Source)
}
