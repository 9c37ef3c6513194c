package room

import (
	"context"
	"sync/atomic"
	"time"
)

// Participant is one caller (or API client) in a room. Its methods are
// safe from any goroutine; the fields below the line belong to the actor.
type Participant struct {
	id       ParticipantID
	room     *Room
	name     string
	source   string
	protocol string
	crypto   string // media encryption, for the API and audit
	leg      Leg
	joinedAt time.Time
	input    atomic.Pointer[inputBox]
	left     atomic.Bool
	roleA    atomic.Int32

	// owned by the room's actor
	role        Role
	state       State
	muted       bool
	spotlight   int // place in the spotlight (1 = first cell), 0 if not spotlit
	mutedByHost bool
	leaving     bool // a farewell prompt is playing
	hungUp      bool // the leg was asked to hang up
	pin         []rune
	tries       int
	verifying   bool
	ivrExpired  bool // the IVR timer ran out during a PIN check
	verifyStop  context.CancelFunc
	cmd         rune // first key of a two-key command
	ivrStop     func() bool
	digitStop   func() bool
	cmdStop     func() bool
	leaveStop   func() bool
}

type inputBox struct{ in AudioInput }

func (p *Participant) setRole(r Role) {
	p.role = r
	p.roleA.Store(int32(r))
}

func (p *Participant) applyMute() {
	if in := p.Input(); in != nil {
		in.SetMuted(p.muted)
	}
}

func (p *Participant) stopTimers() {
	for _, stop := range []*func() bool{&p.ivrStop, &p.digitStop, &p.cmdStop} {
		if *stop != nil {
			(*stop)()
			*stop = nil
		}
	}
}

// info is the API's view; called on the actor.
func (p *Participant) info() Info {
	return Info{ID: p.id, DisplayName: p.name, Role: p.role.String(), State: p.state.String(),
		Muted: p.muted, Protocol: p.protocol, Source: p.source, Encryption: p.crypto, JoinedAt: p.joinedAt,
		Spotlight: p.spotlight}
}

// ID is the participant's identifier.
func (p *Participant) ID() ParticipantID { return p.id }

// Role is host or guest (guest until a host PIN is accepted).
func (p *Participant) Role() Role { return Role(p.roleA.Load()) }

// Room is the number of the participant's room.
func (p *Participant) Room() Number { return p.room.number }

// Input is where the participant's decoded audio goes; nil for API participants.
func (p *Participant) Input() AudioInput {
	if b := p.input.Load(); b != nil {
		return b.in
	}
	return nil
}

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

// Digit passes one key press (RFC 4733, SIP INFO or in-band) to the room.
// It never blocks: the media path calls it.
func (p *Participant) Digit(d rune) {
	if p.left.Load() {
		return
	}
	p.room.post(func(st *roomState) {
		if st != nil && st.participants[p.id] == p {
			p.room.digit(st, p, d)
		}
	})
}

// Leave removes the participant from its room. It is idempotent.
func (p *Participant) Leave(reason string) {
	if p.left.Swap(true) {
		return
	}
	p.room.leave(p, reason)
}

// act runs f on the actor with this participant as the actor of a control
// action.
func (p *Participant) act(f func(st *roomState) error) error {
	if p.left.Load() {
		return ErrGone
	}
	var err error
	derr := p.room.do(context.Background(), func(st *roomState) {
		if st == nil || st.participants[p.id] != p {
			err = ErrGone
			return
		}
		err = f(st)
	})
	if derr != nil {
		return ErrGone
	}
	return err
}

// target runs f with another participant of the same room.
func (p *Participant) target(id ParticipantID, f func(st *roomState, t *Participant) error) error {
	return p.act(func(st *roomState) error {
		t := st.participants[id]
		if t == nil {
			return ErrNoSuchParticipant
		}
		return f(st, t)
	})
}

// Lock locks or unlocks the room (host only). Unlocking admits everyone waiting.
func (p *Participant) Lock(locked bool) error {
	return p.act(func(st *roomState) error { return p.room.setLocked(st, p, locked) })
}

// MuteGuests mutes or unmutes every guest (host only).
func (p *Participant) MuteGuests(muted bool) error {
	return p.act(func(st *roomState) error { return p.room.setGuestsMuted(st, p, muted) })
}

// EndMeeting disconnects everyone (host only).
func (p *Participant) EndMeeting() error {
	return p.act(func(st *roomState) error { return p.room.endMeeting(st, p) })
}

// Admit lets a waiting participant in (host only).
func (p *Participant) Admit(id ParticipantID) error {
	return p.target(id, func(st *roomState, t *Participant) error { return p.room.admit(st, p, t) })
}

// Reject turns a waiting participant away (host only).
func (p *Participant) Reject(id ParticipantID) error {
	return p.target(id, func(st *roomState, t *Participant) error { return p.room.reject(st, p, t) })
}

// SetMuted mutes or unmutes a participant: a host anyone, a guest itself.
func (p *Participant) SetMuted(id ParticipantID, muted bool) error {
	return p.target(id, func(st *roomState, t *Participant) error { return p.room.setMuted(st, p, t, muted) })
}

// Disconnect hangs a participant up (host only, or oneself).
func (p *Participant) Disconnect(id ParticipantID) error {
	return p.target(id, func(st *roomState, t *Participant) error { return p.room.disconnect(st, p, t) })
}

// Participants lists the room, in join order. A participant not yet in the
// meeting may not see it.
func (p *Participant) Participants() ([]Info, error) {
	var out []Info
	err := p.act(func(st *roomState) error {
		if p.state != StateIn {
			return ErrNotAdmitted
		}
		for _, id := range st.order {
			out = append(out, st.participants[id].info())
		}
		return nil
	})
	return out, err
}

// Conference is the room's state: locked, guests muted, host present.
func (p *Participant) Conference() (ConferenceInfo, error) {
	var out ConferenceInfo
	err := p.act(func(st *roomState) error {
		if p.state != StateIn {
			return ErrNotAdmitted
		}
		out = p.room.info(st)
		return nil
	})
	return out, err
}

// Info is the participant's own view of itself.
func (p *Participant) Info() (Info, error) {
	var out Info
	err := p.act(func(*roomState) error { out = p.info(); return nil })
	return out, err
}

// Subscribe streams the room's events to this participant until it leaves
// or calls cancel. A participant not in the meeting sees only events about
// itself, and the whole room once admitted. The channel closes when the
// subscription ends (also if the reader falls far behind).
func (p *Participant) Subscribe() (<-chan Event, func()) {
	s := &subscription{owner: p.id, ch: make(chan Event, subscriberBuf)}
	err := p.act(func(st *roomState) error {
		st.subs = append(st.subs, s)
		return nil
	})
	if err != nil {
		close(s.ch)
		return s.ch, func() {}
	}
	cancel := func() {
		_ = p.room.do(context.Background(), func(st *roomState) {
			if st == nil {
				return
			}
			for i, x := range st.subs {
				if x == s {
					close(s.ch)
					st.subs = append(st.subs[:i], st.subs[i+1:]...)
					return
				}
			}
		})
	}
	return s.ch, cancel
}
