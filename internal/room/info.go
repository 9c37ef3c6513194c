package room

import "time"

// State of a participant: it only moves forward (ivr -> lobby -> in -> gone;
// a host skips the lobby, an open room's guest skips ivr and lobby).
type State int

// Participant states.
const (
	StateIVR   State = iota // entering the PIN
	StateLobby              // waiting for a host to admit them
	StateIn                 // in the meeting
	StateGone               // left or disconnected
)

func (s State) String() string {
	switch s {
	case StateIVR:
		return "ivr"
	case StateLobby:
		return "lobby"
	case StateIn:
		return "in"
	default:
		return "gone"
	}
}

// Info is what the control API shows of a participant.
type Info struct {
	ID          ParticipantID `json:"uuid"`
	DisplayName string        `json:"display_name"`
	Role        string        `json:"role"`     // "host" or "guest"
	State       string        `json:"state"`    // "ivr", "lobby", "in"
	Muted       bool          `json:"is_muted"` // the room does not mix their audio
	Protocol    string        `json:"protocol"` // "sip", "api", "webrtc"
	Source      string        `json:"source,omitempty"`
	Encryption  string        `json:"encryption,omitempty"` // "none", "srtp:<suite>", "dtls-srtp"
	JoinedAt    time.Time     `json:"connect_time"`
	// Spotlight is the participant's place in the spotlight, 1 for the
	// first cell; 0 when not spotlit.
	Spotlight int `json:"spotlight"`
}

// ConferenceInfo is what the control API shows of a room.
type ConferenceInfo struct {
	Number      Number `json:"number"`
	Name        string `json:"name"`
	Locked      bool   `json:"locked"`
	GuestsMuted bool   `json:"guests_muted"`
	HostPresent bool   `json:"host_present"`
	Layout      string `json:"layout,omitempty"` // "1:7", "4:0", ...; empty without video
	// Stream is a large room's stream; nil for other rooms.
	Stream *StreamStatus `json:"stream,omitempty"`
}

// EventType names a room event, as the control API's event stream does.
type EventType string

// Event types.
const (
	ParticipantCreate EventType = "participant_create"
	ParticipantUpdate EventType = "participant_update"
	ParticipantDelete EventType = "participant_delete"
	ConferenceUpdate  EventType = "conference_update"
)

// Event is one change in a room, published to subscribers.
type Event struct {
	Type        EventType
	Participant *Info           // for participant_* events
	Conference  *ConferenceInfo // for conference_update
}
