package room

import "slices"

// Host actions, shared by the keypad commands and the control API. Each
// runs on the actor with the participant who asked.

func (r *Room) hostAction(actor *Participant, kind, target string) error {
	if err := mayAct(actor); err != nil {
		return err
	}
	r.auditAction(actor, kind, target)
	return nil
}

func mayAct(actor *Participant) error {
	if actor.role != Host || actor.state != StateIn {
		return ErrNotHost
	}
	return nil
}

func (r *Room) auditAction(actor *Participant, kind, target string) {
	r.audit(AuditEvent{Kind: kind, Participant: string(actor.id), Role: actor.role.String(), Source: actor.source, Protocol: actor.protocol, Target: target})
}

func (r *Room) setLocked(st *roomState, actor *Participant, locked bool) error {
	if err := r.hostAction(actor, map[bool]string{true: "lock", false: "unlock"}[locked], ""); err != nil {
		return err
	}
	if st.locked == locked {
		return nil
	}
	st.locked = locked
	r.log.Info("room lock changed", "locked", locked, "by", string(actor.id))
	if !locked {
		r.admitLobby(st)
	}
	r.publishConference(st)
	return nil
}

func (r *Room) setGuestsMuted(st *roomState, actor *Participant, muted bool) error {
	if err := r.hostAction(actor, map[bool]string{true: "mute_guests", false: "unmute_guests"}[muted], ""); err != nil {
		return err
	}
	st.guestsMuted = muted
	for _, id := range st.order {
		p := st.participants[id]
		if p == nil || p.role != Guest || p.state != StateIn {
			continue
		}
		if p.muted != muted {
			p.muted, p.mutedByHost = muted, muted
			p.applyMute()
			r.publishParticipant(st, ParticipantUpdate, p)
		}
	}
	r.publishConference(st)
	return nil
}

// setMuted mutes or unmutes target. Anyone may mute themselves; only a
// host may change someone else, and a guest muted by a host cannot unmute.
func (r *Room) setMuted(st *roomState, actor, target *Participant, muted bool) error {
	if actor != target {
		if err := r.hostAction(actor, map[bool]string{true: "mute", false: "unmute"}[muted], string(target.id)); err != nil {
			return err
		}
		target.mutedByHost = muted
	} else {
		if actor.state != StateIn {
			return ErrNotAdmitted
		}
		if !muted && target.mutedByHost && actor.role != Host {
			return ErrNotHost
		}
		if !muted {
			target.mutedByHost = false
		}
	}
	if target.muted == muted {
		return nil
	}
	target.muted = muted
	target.applyMute()
	r.publishParticipant(st, ParticipantUpdate, target)
	return nil
}

func (r *Room) admit(st *roomState, actor, target *Participant) error {
	if err := mayAct(actor); err != nil {
		return err
	}
	if target.state != StateLobby || target.leaving {
		return ErrNotWaiting
	}
	r.auditAction(actor, "admit", string(target.id))
	r.enter(st, target)
	return nil
}

func (r *Room) reject(st *roomState, actor, target *Participant) error {
	if err := mayAct(actor); err != nil {
		return err
	}
	if target.state != StateLobby || target.leaving {
		return ErrNotWaiting
	}
	r.auditAction(actor, "reject", string(target.id))
	r.farewell(st, target, PromptRejected, "rejected by host")
	return nil
}

func (r *Room) disconnect(st *roomState, actor, target *Participant) error {
	if actor != target {
		if err := r.hostAction(actor, "disconnect", string(target.id)); err != nil {
			return err
		}
	}
	r.farewell(st, target, PromptDisconnected, "disconnected by host")
	return nil
}

func (r *Room) endMeeting(st *roomState, actor *Participant) error {
	if err := r.hostAction(actor, "end_meeting", ""); err != nil {
		return err
	}
	r.log.Info("meeting ended by host", "by", string(actor.id))
	for _, id := range slices.Clone(st.order) {
		if p := st.participants[id]; p != nil {
			r.farewell(st, p, PromptMeetingEnded, "meeting ended by host")
		}
	}
	return nil
}
