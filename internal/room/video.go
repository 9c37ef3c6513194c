package room

import (
	"slices"
)

// Slate is what a participant who is not in the meeting sees instead of
// it: callers entering the PIN and callers in the lobby never see or hear
// the meeting.
type Slate int

// Slates.
const (
	SlateNone  Slate = iota // the meeting
	SlatePIN                // "Enter the PIN"
	SlateLobby              // "Waiting for the host to let you in"
)

func (s Slate) String() string {
	switch s {
	case SlatePIN:
		return "pin"
	case SlateLobby:
		return "lobby"
	default:
		return "none"
	}
}

// VideoMixer is the compositor of one room, as the room drives it. The
// room never sees pictures: legs attach their video to the compositor
// through the service, by participant ID, and the room says who is seen
// and what each participant sees. Methods must not block, except Remove,
// which may wait for a running compositor tick (a few milliseconds) so
// that nothing reaches the participant's leg afterwards.
type VideoMixer interface {
	// SetVisible puts a participant into the others' views (true) or takes
	// them out.
	SetVisible(id ParticipantID, visible bool)
	// SetSlate sets what the participant sees: a slate or the meeting.
	SetSlate(id ParticipantID, s Slate)
	// SetLayout switches the room's layout; unknown names are an error
	// wrapping ErrBadLayout.
	SetLayout(name string) error
	// Pin keeps a participant in one cell of every view but their own
	// (cell is an index into the layout's cells); Unpin releases them.
	Pin(id ParticipantID, cell int)
	Unpin(id ParticipantID)
	// Tile tells the compositor that a participant has audio: until (and
	// unless) its video attaches, others see a tile with its name in its
	// place, so that everyone sees who takes part. Called again on every
	// state change; only the first call counts.
	Tile(p *Participant)
	// Remove forgets a participant that left.
	Remove(id ParticipantID)
	Close() error
}

// noVideo stands in when a room has no compositor (audio-only config, tests).
type noVideo struct{}

func (noVideo) SetVisible(ParticipantID, bool) {}
func (noVideo) SetSlate(ParticipantID, Slate)  {}
func (noVideo) SetLayout(string) error         { return nil }
func (noVideo) Remove(ParticipantID)           {}
func (noVideo) Tile(*Participant)              {}
func (noVideo) Pin(ParticipantID, int)         {}
func (noVideo) Unpin(ParticipantID)            {}
func (noVideo) Close() error                   { return nil }

// Video returns the room's compositor, for legs attaching their video.
func (p *Participant) Video() VideoMixer { return p.room.video }

// DisplayName is the participant's name as shown in the layout.
func (p *Participant) DisplayName() string { return p.name }

// Left reports whether the participant has left the room.
func (p *Participant) Left() bool { return p.left.Load() }

// showSlate and showMeeting keep the compositor in step with a
// participant's state.
func (r *Room) showSlate(p *Participant, s Slate) {
	r.video.SetVisible(p.id, false)
	r.video.SetSlate(p.id, s)
	r.tile(p)
}

func (r *Room) showMeeting(p *Participant) {
	r.video.SetSlate(p.id, SlateNone)
	r.video.SetVisible(p.id, true)
	r.tile(p)
}

// tile gives a participant with audio its name tile; API participants
// without media have none (a clinician controlling the room from a web
// page is not a caller).
func (r *Room) tile(p *Participant) {
	if p.Input() != nil {
		r.video.Tile(p)
	}
}

// setLayout switches the room's layout: a host action (control API
// transform_layout, keypad *8).
func (r *Room) setLayout(st *roomState, actor *Participant, name string) error {
	if err := mayAct(actor); err != nil {
		return err
	}
	if !slices.Contains(r.settings.Layouts, name) {
		return ErrBadLayout
	}
	if err := r.video.SetLayout(name); err != nil {
		return err
	}
	r.auditAction(actor, "layout", name)
	st.layout = name
	r.log.Info("layout changed", "layout", name, "by", string(actor.id))
	r.publishConference(st)
	return nil
}

// nextLayout is the layout after the current one in the room's list.
func (r *Room) nextLayout(st *roomState) string {
	ls := r.settings.Layouts
	if len(ls) == 0 {
		return st.layout
	}
	i := slices.Index(ls, st.layout)
	return ls[(i+1)%len(ls)]
}

// SetLayout switches the room's layout (host only): the control API's
// transform_layout. Names are canonical ("4:0", not "4+0").
func (p *Participant) SetLayout(name string) error {
	return p.act(func(st *roomState) error { return p.room.setLayout(st, p, name) })
}

// setSpotlight puts a participant in the spotlight or takes them out (host
// only): spotlit participants keep the first cells of every layout, in the
// order they were spotlit, whoever speaks. This keeps the sign-language
// interpreter (and the clinician) in view for the patient.
func (r *Room) setSpotlight(st *roomState, actor, target *Participant, on bool) error {
	if err := r.hostAction(actor, map[bool]string{true: "spotlight_on", false: "spotlight_off"}[on], string(target.id)); err != nil {
		return err
	}
	i := slices.Index(st.spotlight, target.id)
	switch {
	case on && i < 0:
		st.spotlight = append(st.spotlight, target.id)
	case !on && i >= 0:
		st.spotlight = slices.Delete(st.spotlight, i, i+1)
		target.spotlight = 0
		r.video.Unpin(target.id)
	default:
		return nil
	}
	r.applySpotlight(st)
	r.publishParticipant(st, ParticipantUpdate, target)
	return nil
}

// applySpotlight pins the spotlit participants to cells 0, 1, ... in order.
func (r *Room) applySpotlight(st *roomState) {
	for cell, id := range st.spotlight {
		if p := st.participants[id]; p != nil {
			p.spotlight = cell + 1
		}
		r.video.Pin(id, cell)
	}
}

// Spotlight puts participant id in the spotlight or takes them out (host
// only); the control API's spotlighton and spotlightoff.
func (p *Participant) Spotlight(id ParticipantID, on bool) error {
	return p.target(id, func(st *roomState, t *Participant) error { return p.room.setSpotlight(st, p, t, on) })
}
