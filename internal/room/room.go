package room

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"vmrd/internal/metrics"
)

var errRoomStopping = errors.New("room is stopping")

// Room is the actor of one active room: one goroutine owns its state and
// takes commands from a channel.
type Room struct {
	settings Settings
	mixer    Mixer
	metrics  *metrics.Metrics
	log      *slog.Logger

	cmds     chan func(*roomState)
	done     chan struct{}
	stopping atomic.Bool
	count    atomic.Int64
}

// roomState is owned by the actor goroutine.
type roomState struct {
	participants map[ParticipantID]*Participant
	order        []ParticipantID // join order
	stop         bool
}

func newRoom(s Settings, mixer Mixer, m *metrics.Metrics, log *slog.Logger) *Room {
	return &Room{
		settings: s,
		mixer:    mixer,
		metrics:  m,
		log:      log,
		cmds:     make(chan func(*roomState), 64),
		done:     make(chan struct{}),
	}
}

func (r *Room) String() string {
	return fmt.Sprintf("Room(%s %q, %d participants)", r.settings.Number, r.settings.Name, r.count.Load())
}

// run is the actor loop. It ends when the last participant leaves.
func (r *Room) run() {
	defer close(r.done)
	st := &roomState{participants: map[ParticipantID]*Participant{}}
	r.log.Info("room active")
	for !st.stop {
		cmd := <-r.cmds
		cmd(st)
		if len(st.participants) == 0 {
			st.stop = true
		}
	}
	// Refuse commands that raced with the stop; they retry on a new actor.
	r.stopping.Store(true)
	for {
		select {
		case cmd := <-r.cmds:
			cmd(nil)
			continue
		default:
		}
		break
	}
	if err := r.mixer.Close(); err != nil {
		r.log.Warn("closing mixer", "err", err)
	}
	r.log.Info("room idle")
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

func (r *Room) join(ctx context.Context, req JoinRequest, id ParticipantID) (*Participant, error) {
	var (
		p   *Participant
		err error
	)
	derr := r.do(ctx, func(st *roomState) {
		if st == nil {
			err = errRoomStopping
			return
		}
		if len(st.participants) >= r.settings.MaxParticipants {
			err = ErrRoomFull
			return
		}
		in, aerr := r.mixer.Add(id, req.AudioFormat, req.Sink)
		if aerr != nil {
			err = fmt.Errorf("add to mixer: %w", aerr)
			return
		}
		p = &Participant{id: id, room: r, role: Guest, leg: req.Leg, name: req.DisplayName}
		p.input.Store(&inputBox{in})
		st.participants[id] = p
		st.order = append(st.order, id)
		r.count.Store(int64(len(st.participants)))
		if r.metrics != nil {
			r.metrics.Participants.Add(1)
		}
		r.log.Info("participant joined", "participant", string(id), "role", p.role.String(),
			"source", req.Source, "participants", len(st.participants))
	})
	if derr != nil {
		return nil, derr
	}
	return p, err
}

func (r *Room) leave(p *Participant, reason string) {
	_ = r.do(context.Background(), func(st *roomState) {
		if st == nil {
			return
		}
		if _, ok := st.participants[p.id]; !ok {
			return
		}
		delete(st.participants, p.id)
		for i, id := range st.order {
			if id == p.id {
				st.order = append(st.order[:i], st.order[i+1:]...)
				break
			}
		}
		r.mixer.Remove(p.id)
		r.count.Store(int64(len(st.participants)))
		if r.metrics != nil {
			r.metrics.Participants.Add(-1)
		}
		r.log.Info("participant left", "participant", string(p.id), "reason", reason, "participants", len(st.participants))
	})
}

// setFormat moves a participant's mix to another codec (after a re-INVITE
// changed it).
func (r *Room) setFormat(p *Participant, format string, sink AudioSink) (AudioInput, error) {
	var (
		in  AudioInput
		err error
	)
	derr := r.do(context.Background(), func(st *roomState) {
		if st == nil || st.participants[p.id] == nil {
			err = ErrGone
			return
		}
		r.mixer.Remove(p.id)
		in, err = r.mixer.Add(p.id, format, sink)
	})
	if derr != nil {
		return nil, ErrGone
	}
	return in, err
}

// shutdown disconnects every participant; the room stops when they have left.
func (r *Room) shutdown() {
	var legs []Leg
	_ = r.do(context.Background(), func(st *roomState) {
		if st == nil {
			return
		}
		for _, id := range st.order {
			legs = append(legs, st.participants[id].leg)
		}
	})
	for _, l := range legs {
		if l != nil {
			l.Disconnect("service shutting down")
		}
	}
	<-r.done
}
