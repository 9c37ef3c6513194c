package api

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"vmrd/internal/room"
)

// fakeRooms is a Rooms with one room per number, each with a host and a
// guest PIN. It records every call.
type fakeRooms struct {
	mu     sync.Mutex
	rooms  map[room.Number]*fakeRoom
	joins  []string // "number name source"
	actors []*fakeActor
	nextID int
}

// fakeRoom holds the state the fake actors act on.
type fakeRoom struct {
	number             room.Number
	hostPIN, guestPIN  string
	locked, guestMuted bool
	parts              []room.Info
}

var _ Rooms = (*fakeRooms)(nil)
var _ Actor = (*fakeActor)(nil)

func newFakeRooms(numbers ...room.Number) *fakeRooms {
	f := &fakeRooms{rooms: map[room.Number]*fakeRoom{}}
	for _, n := range numbers {
		f.rooms[n] = &fakeRoom{number: n, hostPIN: "1234", guestPIN: "5678"}
	}
	return f
}

// addParticipant puts a non-API caller into a room.
func (f *fakeRooms) addParticipant(n room.Number, info room.Info) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rooms[n].parts = append(f.rooms[n].parts, info)
}

// publish sends ev to every live subscription of the room's actors.
func (f *fakeRooms) publish(n room.Number, ev room.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.actors {
		if a.room.number != n {
			continue
		}
		for _, ch := range a.subs {
			select {
			case ch <- ev:
			default:
			}
		}
	}
}

func (f *fakeRooms) JoinAPI(_ context.Context, number, pin, name, source string) (Actor, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.joins = append(f.joins, number+" "+name+" "+source)
	r, ok := f.rooms[room.Number(number)]
	if !ok {
		return nil, fmt.Errorf("join %s: %w", number, room.ErrBadPIN)
	}
	var role room.Role
	switch pin {
	case r.hostPIN:
		role = room.Host
	case r.guestPIN:
		role = room.Guest
	default:
		return nil, fmt.Errorf("join %s: %w", number, room.ErrBadPIN)
	}
	f.nextID++
	a := &fakeActor{f: f, room: r, id: room.ParticipantID(fmt.Sprintf("p%d", f.nextID)), role: role}
	r.parts = append(r.parts, room.Info{ID: a.id, DisplayName: name, Role: role.String(), State: "in", Protocol: "api", Source: source, JoinedAt: time.Unix(1700000000, 0).UTC()})
	f.actors = append(f.actors, a)
	return a, nil
}

// actor returns the i-th actor made.
func (f *fakeRooms) actor(i int) *fakeActor {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.actors[i]
}

// join returns the i-th recorded join.
func (f *fakeRooms) join(i int) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.joins[i]
}

func (f *fakeRooms) joinCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.joins)
}

// fakeActor acts on a fakeRoom; its state is guarded by fakeRooms.mu.
type fakeActor struct {
	f     *fakeRooms
	room  *fakeRoom
	id    room.ParticipantID
	role  room.Role
	calls []string
	left  string // leave reason, "" while present
	subs  []chan room.Event
}

func (a *fakeActor) ID() room.ParticipantID { return a.id }
func (a *fakeActor) Role() room.Role        { return a.role }

// do records a call and runs f under the lock unless the actor has left
// or, for host verbs, is a guest.
func (a *fakeActor) do(call string, host bool, f func() error) error {
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	a.calls = append(a.calls, call)
	if a.left != "" {
		return room.ErrGone
	}
	if host && a.role != room.Host {
		return room.ErrNotHost
	}
	if f == nil {
		return nil
	}
	return f()
}

func (a *fakeActor) find(id room.ParticipantID) (int, error) {
	i := slices.IndexFunc(a.room.parts, func(p room.Info) bool { return p.ID == id })
	if i < 0 {
		return 0, room.ErrNoSuchParticipant
	}
	return i, nil
}

func (a *fakeActor) Lock(locked bool) error {
	return a.do(fmt.Sprint("lock ", locked), true, func() error { a.room.locked = locked; return nil })
}

func (a *fakeActor) MuteGuests(muted bool) error {
	return a.do(fmt.Sprint("muteguests ", muted), true, func() error { a.room.guestMuted = muted; return nil })
}

func (a *fakeActor) Spotlight(id room.ParticipantID, on bool) error {
	return a.do(fmt.Sprint("spotlight ", id, " ", on), true, func() error {
		_, err := a.find(id)
		return err
	})
}

func (a *fakeActor) StartStream() error { return a.do("stream start", true, nil) }
func (a *fakeActor) StopStream() error  { return a.do("stream stop", true, nil) }

func (a *fakeActor) SetLayout(name string) error {
	return a.do("layout "+name, true, func() error {
		if name != "1:7" && name != "4:0" {
			return room.ErrBadLayout
		}
		return nil
	})
}

func (a *fakeActor) EndMeeting() error { return a.do("end", true, nil) }

func (a *fakeActor) Admit(id room.ParticipantID) error {
	return a.do("admit "+string(id), true, func() error {
		i, err := a.find(id)
		if err != nil {
			return err
		}
		if a.room.parts[i].State != "lobby" {
			return room.ErrNotWaiting
		}
		a.room.parts[i].State = "in"
		return nil
	})
}

func (a *fakeActor) Reject(id room.ParticipantID) error {
	return a.do("reject "+string(id), true, func() error {
		i, err := a.find(id)
		if err != nil {
			return err
		}
		if a.room.parts[i].State != "lobby" {
			return room.ErrNotWaiting
		}
		a.room.parts = slices.Delete(a.room.parts, i, i+1)
		return nil
	})
}

func (a *fakeActor) SetMuted(id room.ParticipantID, muted bool) error {
	return a.do(fmt.Sprint("mute ", id, " ", muted), true, func() error {
		i, err := a.find(id)
		if err == nil {
			a.room.parts[i].Muted = muted
		}
		return err
	})
}

func (a *fakeActor) Disconnect(id room.ParticipantID) error {
	return a.do("disconnect "+string(id), true, func() error {
		i, err := a.find(id)
		if err == nil {
			a.room.parts = slices.Delete(a.room.parts, i, i+1)
		}
		return err
	})
}

func (a *fakeActor) Participants() ([]room.Info, error) {
	var out []room.Info
	err := a.do("participants", false, func() error { out = slices.Clone(a.room.parts); return nil })
	return out, err
}

func (a *fakeActor) Conference() (room.ConferenceInfo, error) {
	var c room.ConferenceInfo
	err := a.do("conference", false, func() error {
		c = room.ConferenceInfo{Number: a.room.number, Name: "Room " + string(a.room.number), Locked: a.room.locked, GuestsMuted: a.room.guestMuted, HostPresent: true}
		return nil
	})
	return c, err
}

func (a *fakeActor) Subscribe() (<-chan room.Event, func()) {
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	ch := make(chan room.Event, 64)
	if a.left != "" {
		close(ch)
		return ch, func() {}
	}
	a.subs = append(a.subs, ch)
	return ch, func() {
		a.f.mu.Lock()
		defer a.f.mu.Unlock()
		if i := slices.Index(a.subs, ch); i >= 0 {
			a.subs = slices.Delete(a.subs, i, i+1)
			close(ch)
		}
	}
}

func (a *fakeActor) Leave(reason string) {
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	a.calls = append(a.calls, "leave "+reason)
	if a.left != "" {
		return
	}
	a.left = reason
	if i := slices.IndexFunc(a.room.parts, func(p room.Info) bool { return p.ID == a.id }); i >= 0 {
		a.room.parts = slices.Delete(a.room.parts, i, i+1)
	}
	for _, ch := range a.subs {
		close(ch)
	}
	a.subs = nil
}

// leftReason is why the actor left, "" if it has not.
func (a *fakeActor) leftReason() string {
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	return a.left
}

// callLog is a copy of the recorded calls.
func (a *fakeActor) callLog() []string {
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	return slices.Clone(a.calls)
}

// subCount is the number of live subscriptions.
func (a *fakeActor) subCount() int {
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	return len(a.subs)
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1700000000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
