package room

import "sync/atomic"

// Participant is one caller in a room. Its methods are safe from any goroutine.
type Participant struct {
	id    ParticipantID
	room  *Room
	role  Role
	name  string
	leg   Leg
	input atomic.Pointer[inputBox]
	left  atomic.Bool
}

// ID is the participant's identifier.
func (p *Participant) ID() ParticipantID { return p.id }

// Role is host or guest.
func (p *Participant) Role() Role { return p.role }

// Room is the number of the participant's room.
func (p *Participant) Room() Number { return p.room.settings.Number }

// Input is where the participant's decoded audio goes.
func (p *Participant) Input() AudioInput { return p.input.Load().in }

type inputBox struct{ in AudioInput }

// SetAudioFormat changes the codec of the participant's mix and returns the
// new input to write audio to.
func (p *Participant) SetAudioFormat(format string, sink AudioSink) (AudioInput, error) {
	if p.left.Load() {
		return nil, ErrGone
	}
	in, err := p.room.setFormat(p, format, sink)
	if err == nil {
		p.input.Store(&inputBox{in})
	}
	return in, err
}

// Leave removes the participant from its room. It is idempotent.
func (p *Participant) Leave(reason string) {
	if p.left.Swap(true) {
		return
	}
	p.room.leave(p, reason)
}
