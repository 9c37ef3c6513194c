package room

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// fakeMixer records what the room asks of it.
type fakeMixer struct {
	mu      sync.Mutex
	inputs  map[ParticipantID]string
	closed  atomic.Bool
	addErr  error
	removed []ParticipantID
}

func newFakeMixer() *fakeMixer { return &fakeMixer{inputs: map[ParticipantID]string{}} }

func (f *fakeMixer) Add(id ParticipantID, format string, _ AudioSink) (AudioInput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addErr != nil {
		return nil, f.addErr
	}
	f.inputs[id] = format
	return nopInput{}, nil
}

func (f *fakeMixer) Remove(id ParticipantID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.inputs, id)
	f.removed = append(f.removed, id)
}

func (f *fakeMixer) Close() error { f.closed.Store(true); return nil }

func (f *fakeMixer) formats() map[ParticipantID]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[ParticipantID]string{}
	for k, v := range f.inputs {
		out[k] = v
	}
	return out
}

type nopInput struct{}

func (nopInput) Write([]int16) {}
func (nopInput) SetMuted(bool) {}

type nopLeg struct{ disconnected chan string }

func (l *nopLeg) Disconnect(reason string) {
	if l.disconnected != nil {
		l.disconnected <- reason
	}
}

var (
	_ Mixer = (*fakeMixer)(nil)
	_ Leg   = (*nopLeg)(nil)
)

type harness struct {
	m      *Manager
	mu     sync.Mutex
	mixers []*fakeMixer
	rooms  map[Number]Settings
}

func newHarness(t *testing.T, rooms ...Settings) *harness {
	t.Helper()
	h := &harness{rooms: map[Number]Settings{}}
	for _, r := range rooms {
		h.rooms[r.Number] = r
	}
	h.m = NewManager(Config{
		Lookup: func(n Number) (Settings, bool) { s, ok := h.rooms[n]; return s, ok },
		NewMixer: func(Settings) (Mixer, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			f := newFakeMixer()
			h.mixers = append(h.mixers, f)
			return f, nil
		},
	})
	t.Cleanup(func() { _ = h.m.Close() })
	return h
}

func (h *harness) mixer(i int) *fakeMixer {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mixers[i]
}

func join(h *harness, n Number) (*Participant, error) {
	return h.m.Join(context.Background(), JoinRequest{Number: n, Leg: &nopLeg{}, AudioFormat: "PCMU/8000"})
}

func TestJoin(t *testing.T) {
	defer goleak.VerifyNone(t)
	tests := []struct {
		name    string
		max     int
		number  Number
		callers int
		wantErr error // for the last caller
	}{
		{name: "first caller", max: 100, number: "1001", callers: 1},
		{name: "unknown room", max: 100, number: "9999", callers: 1, wantErr: ErrNoSuchRoom},
		{name: "fills to the limit", max: 3, number: "1001", callers: 3},
		{name: "one over the limit", max: 3, number: "1001", callers: 4, wantErr: ErrRoomFull},
		{name: "limit of one", max: 1, number: "1001", callers: 2, wantErr: ErrRoomFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Settings{Number: "1001", Name: "Test", MaxParticipants: tt.max})
			var err error
			var joined []*Participant
			for i := 0; i < tt.callers; i++ {
				var p *Participant
				p, err = join(h, tt.number)
				if err == nil {
					joined = append(joined, p)
				} else if i != tt.callers-1 {
					t.Fatalf("caller %d: %v", i, err)
				}
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("last join: %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == ErrNoSuchRoom {
				if len(h.m.Snapshot()) != 0 {
					t.Fatalf("an unknown room became active: %v", h.m.Snapshot())
				}
				return
			}
			if got := h.m.Snapshot()[tt.number]; got != len(joined) {
				t.Fatalf("room has %d participants, want %d", got, len(joined))
			}
			if got := len(h.mixer(0).formats()); got != len(joined) {
				t.Fatalf("mixer has %d inputs, want %d", got, len(joined))
			}
			for _, p := range joined {
				p.Leave("test")
			}
		})
	}
}

func TestRoomStopsWhenEmptyAndRestarts(t *testing.T) {
	defer goleak.VerifyNone(t)
	h := newHarness(t, Settings{Number: "1001", MaxParticipants: 10})
	a, err := join(h, "1001")
	if err != nil {
		t.Fatal(err)
	}
	b, err := join(h, "1001")
	if err != nil {
		t.Fatal(err)
	}
	if a.ID() == b.ID() {
		t.Fatalf("two participants share ID %s", a.ID())
	}
	a.Leave("bye")
	a.Leave("bye again") // idempotent
	if got := h.mixer(0).formats(); len(got) != 1 || got[b.ID()] == "" {
		t.Fatalf("mixer inputs after one left: %v", got)
	}
	b.Leave("bye")
	waitFor(t, func() bool { return h.mixer(0).closed.Load() && len(h.m.Snapshot()) == 0 })
	// A new caller starts a new actor with a new mixer.
	c, err := join(h, "1001")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.mixers) != 2 || h.mixer(1).formats()[c.ID()] == "" {
		t.Fatalf("second activation did not make a new mixer")
	}
	c.Leave("bye")
}

func TestSetAudioFormatAfterLeave(t *testing.T) {
	defer goleak.VerifyNone(t)
	h := newHarness(t, Settings{Number: "1001", MaxParticipants: 10})
	a, _ := join(h, "1001")
	b, _ := join(h, "1001")
	if _, err := a.SetAudioFormat("opus/48000/2", nil); err != nil {
		t.Fatal(err)
	}
	if got := h.mixer(0).formats()[a.ID()]; got != "opus/48000/2" {
		t.Fatalf("format %q after change", got)
	}
	a.Leave("bye")
	if _, err := a.SetAudioFormat("PCMA/8000", nil); !errors.Is(err, ErrGone) {
		t.Fatalf("format change after leave: %v, want ErrGone", err)
	}
	b.Leave("bye")
}

func TestMixerRefusal(t *testing.T) {
	defer goleak.VerifyNone(t)
	h := newHarness(t, Settings{Number: "1001", MaxParticipants: 10})
	a, _ := join(h, "1001")
	h.mixer(0).mu.Lock()
	h.mixer(0).addErr = errors.New("no encoder")
	h.mixer(0).mu.Unlock()
	if _, err := join(h, "1001"); err == nil {
		t.Fatal("join succeeded although the mixer refused")
	}
	if got := h.m.Snapshot()["1001"]; got != 1 {
		t.Fatalf("room has %d participants after a refused join, want 1", got)
	}
	a.Leave("bye")
}

// Many callers join and leave at once: the limit holds exactly and the
// room ends empty, whatever the interleaving.
func TestConcurrentJoinsRespectLimit(t *testing.T) {
	defer goleak.VerifyNone(t)
	const max, callers = 10, 50
	h := newHarness(t, Settings{Number: "1001", MaxParticipants: max})
	var ok, full atomic.Int64
	var wg sync.WaitGroup
	parts := make(chan *Participant, callers)
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := join(h, "1001")
			switch {
			case err == nil:
				ok.Add(1)
				parts <- p
			case errors.Is(err, ErrRoomFull):
				full.Add(1)
			default:
				t.Errorf("join: %v", err)
			}
		}()
	}
	wg.Wait()
	close(parts)
	if ok.Load() != max || full.Load() != callers-max {
		t.Fatalf("%d joined and %d refused, want %d and %d", ok.Load(), full.Load(), max, callers-max)
	}
	for p := range parts {
		wg.Add(1)
		go func() { defer wg.Done(); p.Leave("bye") }()
	}
	wg.Wait()
	waitFor(t, func() bool { return len(h.m.Snapshot()) == 0 })
}

// Joins racing with the room emptying never land in a stopped actor.
func TestJoinRacesWithRoomStop(t *testing.T) {
	defer goleak.VerifyNone(t)
	h := newHarness(t, Settings{Number: "1001", MaxParticipants: 100})
	for round := 0; round < 200; round++ {
		a, err := join(h, "1001")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan *Participant)
		go func() {
			p, err := join(h, "1001")
			if err != nil {
				t.Errorf("round %d: %v", round, err)
			}
			done <- p
		}()
		a.Leave("bye")
		b := <-done
		if b == nil {
			return
		}
		if got := h.m.Snapshot()["1001"]; got != 1 {
			t.Fatalf("round %d: room shows %d participants, want 1", round, got)
		}
		b.Leave("bye")
	}
}

func TestCloseDisconnectsEveryone(t *testing.T) {
	defer goleak.VerifyNone(t)
	h := newHarness(t, Settings{Number: "1001", MaxParticipants: 10}, Settings{Number: "1002", MaxParticipants: 10})
	reasons := make(chan string, 4)
	var parts []*Participant
	for _, n := range []Number{"1001", "1001", "1002"} {
		leg := &nopLeg{disconnected: make(chan string, 1)}
		p, err := h.m.Join(context.Background(), JoinRequest{Number: n, Leg: leg, AudioFormat: "PCMU/8000"})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, p)
		go func() {
			r := <-leg.disconnected
			reasons <- r
			p.Leave(r) // what a real leg does after hanging up
		}()
	}
	if err := h.m.Close(); err != nil {
		t.Fatal(err)
	}
	for range parts {
		if r := <-reasons; r == "" {
			t.Fatal("empty disconnect reason")
		}
	}
	if _, err := join(h, "1001"); !errors.Is(err, ErrClosed) {
		t.Fatalf("join after close: %v, want ErrClosed", err)
	}
}

// A command that lands in the queue after the actor's final drain must not
// wait forever: the caller gets errRoomStopping and retries on a new actor.
func TestCommandAfterFinalDrainDoesNotHang(t *testing.T) {
	r := newRoom(Settings{Number: "1001", MaxParticipants: 1}, newFakeMixer(), nil, discardLogger())
	close(r.done) // the actor has drained and stopped, stopping not yet seen
	errc := make(chan error, 1)
	go func() { errc <- r.do(context.Background(), func(*roomState) {}) }()
	select {
	case err := <-errc:
		if !errors.Is(err, errRoomStopping) {
			t.Fatalf("do: %v, want errRoomStopping", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("do hung on a stopped actor")
	}
}
