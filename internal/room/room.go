package room

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

var errRoomStopping = errors.New("room is stopping")

// Room is the actor of one active room: one goroutine owns its state and
// takes commands from a channel.
type Room struct {
	// number and decoy never change and may be read from any goroutine;
	// settings belong to the actor (adopt replaces them on reload).
	number   Number
	decoy    bool
	settings Settings
	mixer    Mixer
	video    VideoMixer
	streamer Streamer // nil unless a large room
	m        *Manager
	log      *slog.Logger

	cmds     chan func(*roomState)
	done     chan struct{} // closed once no command will run any more
	stopping atomic.Bool
	count    atomic.Int64
	dropped  atomic.Uint64
	wg       sync.WaitGroup // PIN checks in flight
}

// roomState is owned by the actor goroutine.
type roomState struct {
	participants map[ParticipantID]*Participant
	order        []ParticipantID // join order: the lobby is served in it
	locked       bool
	guestsMuted  bool
	hosts        int // hosts in the meeting
	graceStop    func() bool
	subs         []*subscription
	stop         bool
	closing      bool // shutdown ran: no new participants
	graceGen     int  // which grace period a grace timer belongs to
	layout       string
	spotlight    []ParticipantID // pinned to the first cells, in this order
	stream       StreamStatus
}

type subscription struct {
	owner ParticipantID
	ch    chan Event
}

func newRoom(s Settings, mixer Mixer, video VideoMixer, m *Manager, log *slog.Logger) *Room {
	if video == nil {
		video = noVideo{}
	}
	return &Room{
		number:   s.Number,
		decoy:    s.Decoy,
		settings: s,
		mixer:    mixer,
		video:    video,
		m:        m,
		log:      log,
		cmds:     make(chan func(*roomState), 1024),
		done:     make(chan struct{}),
	}
}

func (r *Room) String() string {
	// Only the number: the other settings belong to the actor (adopt).
	return fmt.Sprintf("Room(%s, %d participants)", r.number, r.count.Load())
}

// run is the actor loop. It ends when the last participant leaves.
func (r *Room) run() {
	st := &roomState{participants: map[ParticipantID]*Participant{}, layout: r.settings.Layout}
	if !r.settings.Decoy {
		r.log.Info("room active", "type", r.settings.Type.String())
	}
	for !st.stop {
		cmd := <-r.cmds
		cmd(st)
		if len(st.participants) == 0 {
			st.stop = true
		}
	}
	if st.graceStop != nil {
		st.graceStop()
	}
	// Refuse commands that raced with the stop; joins retry on a new actor.
	r.stopping.Store(true)
	for drained := false; !drained; {
		select {
		case cmd := <-r.cmds:
			cmd(nil)
		default:
			drained = true
		}
	}
	close(r.done)
	r.wg.Wait()
	if err := r.mixer.Close(); err != nil {
		r.log.Warn("closing mixer", "err", err)
	}
	if r.streamer != nil {
		if err := r.streamer.Close(); err != nil {
			r.log.Warn("closing stream", "err", err)
		}
	}
	if err := r.video.Close(); err != nil {
		r.log.Warn("closing compositor", "err", err)
	}
	if !r.settings.Decoy {
		r.log.Info("room idle")
	}
}

// do runs f on the actor and waits for it. f gets nil when the room is stopping.
func (r *Room) do(ctx context.Context, f func(*roomState)) error {
	if r.stopping.Load() {
		return errRoomStopping
	}
	ran := make(chan struct{})
	cmd := func(st *roomState) {
		defer close(ran)
		f(st)
	}
	select {
	case r.cmds <- cmd:
	case <-r.done:
		return errRoomStopping
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-ran:
		return nil
	case <-r.done:
		// The actor runs every command queued before its final drain; one
		// that slipped into the queue after it will never run.
		select {
		case <-ran:
			return nil
		default:
			return errRoomStopping
		}
	}
}

// post queues f without waiting: for the media path (digits), timers and
// the mixer's callbacks, none of which may block on the actor. A full
// queue drops the command and counts it.
func (r *Room) post(f func(*roomState)) {
	select {
	case <-r.done:
		return
	default:
	}
	select {
	case r.cmds <- f:
	default:
		if r.dropped.Add(1) == 1 {
			r.log.Warn("room command queue full, dropping commands")
		}
	}
}

// after runs f on the actor after d.
func (r *Room) after(d time.Duration, f func(*roomState)) func() bool {
	return r.m.cfg.AfterFunc(d, func() { r.post(f) })
}

func (r *Room) now() time.Time { return r.m.cfg.Clock() }

func (r *Room) audit(e AuditEvent) {
	if r.settings.Decoy && e.Kind != "pin_failure" {
		return
	}
	e.Room = r.settings.Number
	r.m.audit(e)
}

func (r *Room) info(st *roomState) ConferenceInfo {
	ci := ConferenceInfo{Number: r.settings.Number, Name: r.settings.Name,
		Locked: st.locked, GuestsMuted: st.guestsMuted, HostPresent: st.hosts > 0, Layout: st.layout}
	if r.streamer != nil {
		s := st.stream
		if s.State == "" {
			s.State = "idle"
		}
		ci.Stream = &s
	}
	return ci
}

// publish sends an event to every subscriber allowed to see it: a
// participant not in the meeting only learns about itself. A subscriber
// whose buffer is full has fallen behind: it is dropped (its channel
// closes) and must subscribe again.
func (r *Room) publish(st *roomState, ev Event) {
	kept := st.subs[:0]
	for _, s := range st.subs {
		owner := st.participants[s.owner]
		if owner == nil {
			close(s.ch)
			continue
		}
		if owner.state != StateIn && (ev.Participant == nil || ev.Participant.ID != owner.id) {
			kept = append(kept, s)
			continue
		}
		select {
		case s.ch <- ev:
			kept = append(kept, s)
		default:
			close(s.ch)
		}
	}
	clear(st.subs[len(kept):])
	st.subs = kept
}

func (r *Room) publishParticipant(st *roomState, t EventType, p *Participant) {
	if r.settings.Decoy {
		return
	}
	info := p.info()
	r.publish(st, Event{Type: t, Participant: &info})
}

func (r *Room) publishConference(st *roomState) {
	info := r.info(st)
	r.publish(st, Event{Type: ConferenceUpdate, Conference: &info})
}

// join adds a participant. role is set for API participants, whose PIN
// was checked already; media callers start in the voice menu of a room
// with PINs.
//
// settings are the room's configuration as the join found it: after a
// reload they replace the running room's, so that changes apply to new
// joins while the meeting goes on.
func (r *Room) join(ctx context.Context, req JoinRequest, id ParticipantID, role *Role, settings Settings) (*Participant, error) {
	var (
		p   *Participant
		err error
	)
	derr := r.do(ctx, func(st *roomState) {
		if st == nil {
			err = errRoomStopping
			return
		}
		r.adopt(settings)
		if st.closing {
			err = ErrClosed
			return
		}
		if len(st.participants) >= r.settings.MaxParticipants {
			err = ErrRoomFull
			return
		}
		p = &Participant{id: id, room: r, name: req.DisplayName, source: req.Source,
			protocol: req.Protocol, crypto: req.Encryption, leg: req.Leg, joinedAt: r.now()}
		if req.Protocol != "api" {
			in, aerr := r.mixer.Add(id, req.AudioFormat, req.Sink)
			if aerr != nil {
				err = fmt.Errorf("add to mixer: %w", aerr)
				p = nil
				return
			}
			p.input.Store(&inputBox{in})
		}
		st.participants[id] = p
		st.order = append(st.order, id)
		r.count.Store(int64(len(st.participants)))
		if met := r.m.cfg.Metrics; met != nil && !r.settings.Decoy {
			met.Participants.Add(1)
		}
		r.log.Info("participant joined", "participant", string(id), "protocol", p.protocol,
			"source", req.Source, "participants", len(st.participants))
		if role != nil {
			p.setRole(*role)
		}
		r.publishParticipant(st, ParticipantCreate, p)
		switch {
		case role != nil:
			r.audit(AuditEvent{Kind: "join", Participant: string(id), Role: p.role.String(), Source: p.source, Protocol: p.protocol, Encryption: p.crypto})
			r.admitOrWait(st, p)
		case r.settings.Type == Open:
			r.audit(AuditEvent{Kind: "join", Participant: string(id), Role: Guest.String(), Source: p.source, Protocol: p.protocol, Encryption: p.crypto})
			r.admitOrWait(st, p)
		default:
			r.startIVR(st, p)
		}
	})
	if derr != nil {
		return nil, derr
	}
	return p, err
}

// admitOrWait places a participant whose role is known: hosts go in (and
// the first one opens or locks the room), guests go in or to the lobby.
func (r *Room) admitOrWait(st *roomState, p *Participant) {
	if p.role == Host {
		r.enter(st, p)
		st.hosts++
		if st.hosts == 1 {
			if st.graceStop != nil {
				st.graceStop()
				st.graceStop = nil
				st.graceGen++
			}
			if r.settings.StreamAutoStart && r.streamer != nil {
				if err := r.setStreaming(st, nil, true); err != nil {
					r.log.Warn("stream auto start failed", "err", err)
				}
			}
			if r.settings.Type == Autolock {
				// The room locks when the host arrives: whoever waits keeps
				// waiting until a host admits them.
				st.locked = true
			} else if !st.locked {
				r.admitLobby(st)
			}
		}
		r.publishConference(st)
		if r.lobbySize(st) > 0 {
			r.knock(st, p)
		}
		return
	}
	if r.settings.Type != Open && (st.hosts == 0 || st.locked) {
		r.toLobby(st, p)
		return
	}
	r.enter(st, p)
}

// enter puts a participant into the meeting.
func (r *Room) enter(st *roomState, p *Participant) {
	p.state = StateIn
	p.stopTimers()
	if p.role == Guest && st.guestsMuted {
		p.muted, p.mutedByHost = true, true
	}
	if in := p.Input(); in != nil {
		in.SetMuted(p.muted)
		r.mixer.StopPlay(p.id)
		r.mixer.SetInMeeting(p.id, true)
	}
	r.showMeeting(p)
	r.log.Info("participant in meeting", "participant", string(p.id), "role", p.role.String())
	r.publishParticipant(st, ParticipantUpdate, p)
	r.sendSnapshot(st, p)
}

// sendSnapshot gives a participant's subscriptions the room as it is, when
// it enters the meeting: until then it saw only itself.
func (r *Room) sendSnapshot(st *roomState, p *Participant) {
	for _, s := range st.subs {
		if s.owner != p.id {
			continue
		}
		info := r.info(st)
		events := []Event{{Type: ConferenceUpdate, Conference: &info}}
		for _, id := range st.order {
			if other := st.participants[id]; other != nil && other != p {
				oi := other.info()
				events = append(events, Event{Type: ParticipantCreate, Participant: &oi})
			}
		}
		for _, ev := range events {
			select {
			case s.ch <- ev:
			default:
			}
		}
	}
}

// toLobby makes a guest wait: a prompt, then a soft hold tone; hosts
// present hear a knock.
func (r *Room) toLobby(st *roomState, p *Participant) {
	p.state = StateLobby
	p.stopTimers()
	r.showSlate(p, SlateLobby)
	if p.Input() != nil {
		id := p.id
		r.mixer.SetInMeeting(id, false)
		r.mixer.Play(id, r.settings.Language, []Prompt{PromptWaiting}, false, func() {
			r.post(func(st *roomState) {
				if st == nil {
					return
				}
				if q := st.participants[id]; q != nil && q.state == StateLobby && !q.leaving {
					r.mixer.Play(id, r.settings.Language, []Prompt{PromptHoldTone}, true, nil)
				}
			})
		})
	}
	r.log.Info("participant waiting in lobby", "participant", string(p.id))
	r.publishParticipant(st, ParticipantUpdate, p)
	if st.hosts > 0 {
		r.knock(st, nil)
	}
}

// knock tells hosts someone waits: a short chime in their audio (to one
// host, or to all when only is nil). The event stream carries the lobby
// change as a participant_update.
func (r *Room) knock(st *roomState, only *Participant) {
	for _, id := range st.order {
		h := st.participants[id]
		if h == nil || h.role != Host || h.state != StateIn || h.leaving || h.Input() == nil || (only != nil && h != only) {
			continue
		}
		r.mixer.Play(id, r.settings.Language, []Prompt{PromptKnock}, false, nil)
	}
}

func (r *Room) lobbySize(st *roomState) int {
	n := 0
	for _, p := range st.participants {
		if p.state == StateLobby && !p.leaving {
			n++
		}
	}
	return n
}

// admitLobby lets everyone waiting in, in arrival order.
func (r *Room) admitLobby(st *roomState) {
	for _, id := range st.order {
		if p := st.participants[id]; p != nil && p.state == StateLobby && !p.leaving {
			r.enter(st, p)
		}
	}
}

// farewell plays a last prompt and then hangs the participant up. An API
// participant, which hears nothing, is removed at once.
func (r *Room) farewell(st *roomState, p *Participant, prompt Prompt, reason string) {
	if p.leaving {
		return
	}
	p.leaving = true
	p.stopTimers()
	if p.role == Host && p.state == StateIn {
		r.hostGone(st)
	}
	if p.leg == nil {
		r.remove(st, p, reason)
		return
	}
	id, leg := p.id, p.leg
	hangup := func(st *roomState) {
		if st == nil {
			return
		}
		if q := st.participants[id]; q != nil && !q.hungUp {
			q.hungUp = true
			go leg.Disconnect(reason)
		}
	}
	r.video.SetVisible(id, false)
	if p.Input() != nil {
		r.mixer.SetInMeeting(id, false)
		r.mixer.Play(id, r.settings.Language, []Prompt{prompt}, false, func() { r.post(hangup) })
	}
	// In case the prompt never ends (a mixer gone): hang up anyway.
	p.leaveStop = r.after(leaveTimeout, hangup)
	r.publishParticipant(st, ParticipantUpdate, p)
}

// leave removes a participant that left (its leg hung up or its token ended).
func (r *Room) leave(p *Participant, reason string) {
	_ = r.do(context.Background(), func(st *roomState) {
		if st == nil {
			return
		}
		if st.participants[p.id] == p {
			r.remove(st, p, reason)
		}
	})
}

func (r *Room) remove(st *roomState, p *Participant, reason string) {
	wasHost := p.role == Host && p.state == StateIn && !p.leaving
	p.state = StateGone
	p.left.Store(true)
	p.stopTimers()
	if p.leaveStop != nil {
		p.leaveStop()
	}
	if p.verifyStop != nil {
		p.verifyStop() // nobody waits for this PIN check any more
	}
	delete(st.participants, p.id)
	if i := slices.Index(st.order, p.id); i >= 0 {
		st.order = slices.Delete(st.order, i, i+1)
	}
	if p.Input() != nil {
		r.mixer.Remove(p.id)
	}
	r.video.Remove(p.id)
	if i := slices.Index(st.spotlight, p.id); i >= 0 {
		st.spotlight = slices.Delete(st.spotlight, i, i+1)
		r.applySpotlight(st) // the others move up
	}
	r.count.Store(int64(len(st.participants)))
	if met := r.m.cfg.Metrics; met != nil && !r.settings.Decoy {
		met.Participants.Add(-1)
	}
	r.log.Info("participant left", "participant", string(p.id), "reason", reason, "participants", len(st.participants))
	r.audit(AuditEvent{Kind: "leave", Participant: string(p.id), Role: p.role.String(), Source: p.source, Protocol: p.protocol, Detail: reason})
	r.publishParticipant(st, ParticipantDelete, p)
	if wasHost {
		r.hostGone(st)
	}
	// Its own subscriptions end with it.
	kept := st.subs[:0]
	for _, s := range st.subs {
		if s.owner == p.id {
			close(s.ch)
			continue
		}
		kept = append(kept, s)
	}
	clear(st.subs[len(kept):])
	st.subs = kept
}

// hostGone counts a host out of the meeting (it left or hears its
// farewell); the last one starts the grace period.
func (r *Room) hostGone(st *roomState) {
	st.hosts--
	if st.hosts == 0 && len(st.participants) > 0 {
		r.startGrace(st)
	}
	r.publishConference(st)
}

// startGrace lets guests stay for the grace period after the last host
// left; then everyone still there hears that the meeting ended.
func (r *Room) startGrace(st *roomState) {
	if st.graceStop != nil {
		return
	}
	st.graceGen++
	gen := st.graceGen
	end := func(st *roomState) {
		if st == nil || st.hosts > 0 || st.graceGen != gen {
			return
		}
		st.graceStop = nil
		r.log.Info("no host returned within the grace period: ending the meeting", "grace", r.settings.GracePeriod)
		for _, id := range slices.Clone(st.order) {
			if p := st.participants[id]; p != nil && p.state != StateIVR {
				r.farewell(st, p, PromptMeetingEnded, "host left")
			}
		}
	}
	if r.settings.GracePeriod <= 0 {
		end(st)
		return
	}
	st.graceStop = r.after(r.settings.GracePeriod, end)
	r.log.Info("last host left: guests stay for the grace period", "grace", r.settings.GracePeriod)
}

// setFormat moves a participant's mix to another codec (after a re-INVITE
// changed it), keeping whether it is in the meeting.
func (r *Room) setFormat(p *Participant, format string, sink AudioSink) (AudioInput, error) {
	var (
		in  AudioInput
		err error
	)
	derr := r.do(context.Background(), func(st *roomState) {
		if st == nil || st.participants[p.id] != p {
			err = ErrGone
			return
		}
		r.mixer.Remove(p.id)
		if in, err = r.mixer.Add(p.id, format, sink); err != nil {
			return
		}
		p.input.Store(&inputBox{in})
		in.SetMuted(p.muted)
		if p.state == StateIn && !p.leaving {
			r.mixer.SetInMeeting(p.id, true)
		}
	})
	if derr != nil {
		return nil, ErrGone
	}
	return in, err
}

// shutdown disconnects every participant; the room stops when they have left.
func (r *Room) shutdown() {
	_ = r.do(context.Background(), func(st *roomState) {
		if st == nil {
			return
		}
		st.closing = true
		for _, id := range slices.Clone(st.order) {
			p := st.participants[id]
			if p.leg == nil {
				r.remove(st, p, "service shutting down")
				continue
			}
			if !p.hungUp {
				p.hungUp = true
				go p.leg.Disconnect("service shutting down")
			}
		}
	})
	<-r.done
}

// adopt takes reloaded settings for the room (on the actor). The number and
// the decoy flag never change; everything else applies from now on: to
// this join and later ones, the next grace period, the next prompts.
func (r *Room) adopt(s Settings) {
	if s.Number != r.number || s.Decoy != r.decoy || reflect.DeepEqual(s, r.settings) {
		return
	}
	r.log.Info("room settings changed: they apply to new joins", "type", s.Type.String(), "max_participants", s.MaxParticipants)
	r.settings = s
}
