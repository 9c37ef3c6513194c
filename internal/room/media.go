package room

import "fmt"

// MediaRequest gives a control-only participant (one that joined with a
// control API token, such as a browser before its media connects) audio
// and a leg: it becomes a media participant in the state it already has.
type MediaRequest struct {
	Protocol    string // "webrtc"
	Encryption  string // "dtls-srtp"
	Leg         Leg
	AudioFormat string
	Sink        AudioSink
}

// AttachMedia turns this API participant into a media participant: it
// joins the audio mix (in the meeting or isolated in the lobby, as its
// state says) and is shown in the layout once in the meeting. The same
// PIN, role and lobby rules hold as for a SIP caller: the participant got
// its role through request_token. A participant that has media already
// gets ErrMediaAttached.
func (p *Participant) AttachMedia(req MediaRequest) (AudioInput, error) {
	if p.left.Load() {
		return nil, ErrGone
	}
	var in AudioInput
	err := p.act(func(st *roomState) error {
		if p.Input() != nil || p.protocol != "api" {
			return ErrMediaAttached
		}
		r := p.room
		a, err := r.mixer.Add(p.id, req.AudioFormat, req.Sink)
		if err != nil {
			return fmt.Errorf("add to mixer: %w", err)
		}
		in = a
		p.input.Store(&inputBox{a})
		p.protocol, p.crypto, p.leg = req.Protocol, req.Encryption, req.Leg
		switch p.state {
		case StateIn:
			a.SetMuted(p.muted)
			r.mixer.SetInMeeting(p.id, true)
			r.showMeeting(p)
		case StateLobby:
			r.toLobby(st, p) // the waiting prompt, hold tone and slate
		}
		r.audit(AuditEvent{Kind: "media", Participant: string(p.id), Role: p.role.String(), Source: p.source,
			Protocol: p.protocol, Encryption: p.crypto})
		r.publishParticipant(st, ParticipantUpdate, p)
		return nil
	})
	return in, err
}
