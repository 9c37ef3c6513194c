package room

import (
	"context"
	"strconv"
	"time"
)

// startIVR asks a caller for the PIN.
func (r *Room) startIVR(st *roomState, p *Participant) {
	p.state = StateIVR
	r.showSlate(p, SlatePIN)
	if p.Input() != nil {
		r.mixer.Play(p.id, r.settings.Language, []Prompt{PromptEnterPIN}, false, nil)
	}
	id := p.id
	p.ivrStop = r.after(ivrTimeout, func(st *roomState) {
		if st == nil {
			return
		}
		q := st.participants[id]
		if q == nil || q.state != StateIVR {
			return
		}
		if q.verifying {
			q.ivrExpired = true // a wrong PIN ends the call
			return
		}
		r.log.Info("no PIN entered in time", "participant", string(id))
		r.farewell(st, q, PromptGoodbyePIN, "no PIN entered")
	})
	r.publishParticipant(st, ParticipantUpdate, p)
}

// digit handles one key press: PIN entry in the voice menu, two-key
// commands in the meeting. Keys in the lobby are ignored.
func (r *Room) digit(st *roomState, p *Participant, d rune) {
	if p.leaving {
		return
	}
	switch p.state {
	case StateIVR:
		r.pinDigit(st, p, d)
	case StateIn:
		r.commandDigit(st, p, d)
	}
}

// pinDigit collects a PIN: digits, then '#'. '*' starts over. A PIN
// without '#' is taken after a pause.
func (r *Room) pinDigit(st *roomState, p *Participant, d rune) {
	if p.verifying {
		return // keys while the PIN is being checked are not a new PIN
	}
	switch {
	case d == '#':
		r.submitPIN(st, p)
		return
	case d == '*':
		p.pin = p.pin[:0]
	case d >= '0' && d <= '9':
		if len(p.pin) == 0 && p.Input() != nil {
			r.mixer.StopPlay(p.id) // the caller is keying: stop talking
		}
		if len(p.pin) < 32 {
			p.pin = append(p.pin, d)
		}
	default:
		return
	}
	if p.digitStop != nil {
		p.digitStop()
	}
	id := p.id
	p.digitStop = r.after(digitTimeout, func(st *roomState) {
		if st == nil {
			return
		}
		if q := st.participants[id]; q != nil && q.state == StateIVR && len(q.pin) > 0 && !q.verifying && !q.leaving {
			r.submitPIN(st, q)
		}
	})
}

// submitPIN checks the keyed PIN off the actor (it is a slow hash) and
// hands the result back as a command.
func (r *Room) submitPIN(st *roomState, p *Participant) {
	if p.digitStop != nil {
		p.digitStop()
		p.digitStop = nil
	}
	entered := string(p.pin)
	clear(p.pin)
	p.pin = p.pin[:0]
	p.verifying = true
	settings, source, v := r.settings, p.source, r.m.cfg.Verifier
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	p.verifyStop = cancel
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer cancel()
		role, err := Guest, ErrBadPIN
		if v != nil {
			role, err = v.Verify(ctx, settings, source, entered)
		}
		r.post(func(st *roomState) {
			if st != nil && st.participants[p.id] == p {
				r.pinResult(st, p, role, err)
			}
		})
	}()
}

// pinResult acts on a checked PIN: the caller becomes host or guest, or
// hears that it was wrong; the third wrong PIN ends the call.
func (r *Room) pinResult(st *roomState, p *Participant, role Role, err error) {
	p.verifying = false
	p.verifyStop = nil
	if err == nil && r.settings.Decoy {
		err = ErrBadPIN // a verifier must never accept a decoy; be sure
	}
	if p.leaving || p.state != StateIVR {
		return
	}
	if err != nil {
		p.tries++
		r.audit(AuditEvent{Kind: "pin_failure", Participant: string(p.id), Source: p.source, Protocol: p.protocol, Detail: "try " + strconv.Itoa(p.tries)})
		r.log.Info("wrong PIN", "participant", string(p.id), "try", p.tries)
		if p.tries >= maxPINTries || p.ivrExpired {
			r.farewell(st, p, PromptGoodbyePIN, "too many wrong PINs")
			return
		}
		if p.Input() != nil {
			r.mixer.Play(p.id, r.settings.Language, []Prompt{PromptWrongPIN, PromptEnterPIN}, false, nil)
		}
		return
	}
	p.setRole(role)
	r.audit(AuditEvent{Kind: "join", Participant: string(p.id), Role: role.String(), Source: p.source, Protocol: p.protocol, Encryption: p.crypto})
	r.log.Info("PIN accepted", "participant", string(p.id), "role", role.String())
	r.admitOrWait(st, p)
}

// commandDigit reads two-key commands in the meeting (the keypad menu
// Pexip users know): *5 mute/unmute all guests, *6 mute/unmute yourself,
// *7 lock/unlock, *8 next layout, *3 admit the longest-waiting caller, ##
// end the meeting for everyone. Guests may use only *6.
func (r *Room) commandDigit(st *roomState, p *Participant, d rune) {
	if p.cmd == 0 {
		if d == '*' || d == '#' {
			p.cmd = d
			id := p.id
			p.cmdStop = r.after(commandTimeout, func(st *roomState) {
				if st == nil {
					return
				}
				if q := st.participants[id]; q != nil {
					q.cmd = 0
				}
			})
		}
		return
	}
	first := p.cmd
	p.cmd = 0
	if p.cmdStop != nil {
		p.cmdStop()
		p.cmdStop = nil
	}
	switch {
	case first == '#' && d == '#':
		if p.role == Host {
			_ = r.endMeeting(st, p)
		}
	case first == '*' && d == '6':
		muted := !p.muted
		if err := r.setMuted(st, p, p, muted); err != nil {
			r.feedback(p, PromptMuted) // muted by a host: stays muted
			return
		}
		r.feedback(p, map[bool]Prompt{true: PromptMuted, false: PromptUnmuted}[muted])
	case d == '*' || d == '#':
		r.commandDigit(st, p, d) // a new command starts
	case first == '*' && p.role != Host:
		// Host commands from a guest do nothing.
	case first == '*' && d == '5':
		muted := !st.guestsMuted
		_ = r.setGuestsMuted(st, p, muted)
		r.feedback(p, map[bool]Prompt{true: PromptGuestsMuted, false: PromptGuestsUnmuted}[muted])
	case first == '*' && d == '7':
		locked := !st.locked
		_ = r.setLocked(st, p, locked)
		r.feedback(p, map[bool]Prompt{true: PromptLocked, false: PromptUnlocked}[locked])
	case first == '*' && d == '3':
		for _, id := range st.order {
			if w := st.participants[id]; w != nil && w.state == StateLobby && !w.leaving {
				_ = r.admit(st, p, w)
				break
			}
		}
	case first == '*' && d == '9':
		on := st.stream.State == "" || st.stream.State == "idle" || st.stream.State == "stopped" || st.stream.State == "failed"
		if err := r.setStreaming(st, p, on); err != nil {
			r.log.Warn("keypad stream change failed", "participant", string(p.id), "err", err)
		}
	case first == '*' && d == '8':
		if err := r.setLayout(st, p, r.nextLayout(st)); err != nil {
			r.log.Warn("keypad layout change failed", "participant", string(p.id), "err", err)
		}
	}
}

// feedback plays a short confirmation over the meeting to the one who
// pressed the keys.
func (r *Room) feedback(p *Participant, prompt Prompt) {
	if p.Input() != nil {
		r.mixer.Play(p.id, r.settings.Language, []Prompt{prompt}, false, nil)
	}
}
