package room

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestRaceAdmitAfterGuestHungUp(t *testing.T) {
	t.Run("in order", func(t *testing.T) {
		f := newFixture(t)
		f.lobby.p.Leave("hung up")
		if err := f.host.p.Admit(f.lobby.id()); !errors.Is(err, ErrNoSuchParticipant) {
			t.Fatalf("admit after hang-up: %v, want ErrNoSuchParticipant", err)
		}
		if f.lobby.mixer().everInMeeting(f.lobby.id()) {
			t.Fatal("a guest that hung up was mixed")
		}
	})
	t.Run("concurrently", func(t *testing.T) {
		h := newHarness(t, []Settings{autolockRoom(50)})
		host := h.joinAs("3003", "Host", hostPIN)
		for i := 0; i < 40; i++ {
			g := h.joinAs("3003", "Guest", guestPIN)
			var err error
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); g.p.Leave("hung up") }()
			go func() { defer wg.Done(); err = host.p.Admit(g.id()) }()
			wg.Wait()
			if err != nil && !errors.Is(err, ErrNoSuchParticipant) {
				t.Fatalf("admit racing a hang-up: %v", err)
			}
			if s := g.snap(); s.present {
				t.Fatalf("guest still there: %+v", s)
			}
			if g.mixer().present(g.id()) {
				t.Fatal("guest still in the mixer")
			}
		}
		h.settle()
	})
}

func TestRaceHostLeavesWhileGuestsWait(t *testing.T) {
	h := newHarness(t, []Settings{autolockRoom(20)})
	host := h.joinAs("3003", "Host", hostPIN)
	var guests []*caller
	for i := 0; i < 5; i++ {
		guests = append(guests, h.joinAs("3003", "Guest", guestPIN))
	}
	errs := make([]error, len(guests))
	var wg sync.WaitGroup
	for i, g := range guests {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = host.p.Admit(g.id()) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); host.p.Leave("hung up") }()
	wg.Wait()
	h.settle()
	for i, g := range guests {
		s := g.snap()
		switch {
		case errs[i] == nil && s.state != StateIn:
			t.Fatalf("guest %d admitted but %s", i, s.state)
		case errors.Is(errs[i], ErrGone) && s.state != StateLobby:
			t.Fatalf("guest %d not admitted but %s", i, s.state)
		case errs[i] != nil && !errors.Is(errs[i], ErrGone):
			t.Fatalf("admit %d: %v", i, errs[i])
		}
		if s.leaving {
			t.Fatalf("guest %d sent away before the grace period", i)
		}
	}
	if n := h.timers.pending(grace); n != 1 {
		t.Fatalf("%d grace timers pending", n)
	}
	if h.conf(guests[0].p).HostPresent {
		t.Fatal("host present")
	}
	h.fire(grace)
	for _, g := range guests {
		g.finish()
	}
	h.waitIdle()
}

// Two hosts lock (and unlock) at the same moment; a guest arrives meanwhile.
func TestRaceTwoHostsLock(t *testing.T) {
	for i := 0; i < 20; i++ {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			h := newHarness(t, []Settings{pinRoom(10)})
			a := h.joinAs("2002", "A", hostPIN)
			b := h.joinAs("2002", "B", hostPIN)
			ev, cancel := a.p.Subscribe()
			defer cancel()
			var wg sync.WaitGroup
			var errA, errB error
			wg.Add(3)
			go func() { defer wg.Done(); errA = a.p.Lock(true) }()
			go func() { defer wg.Done(); errB = b.p.Lock(true) }()
			go func() { defer wg.Done(); b.p.Digit('*'); b.p.Digit('7'); b.p.Digit('*'); b.p.Digit('7') }()
			wg.Wait()
			h.settle()
			if errA != nil || errB != nil {
				t.Fatalf("lock: %v %v", errA, errB)
			}
			// Two Lock(true) and *7 twice: whatever the order, the toggles
			// cancel out only if both ran after a lock; count transitions.
			locks := 0
			last := false
			for _, e := range mustDrain(ev) {
				if e.Conference == nil {
					continue
				}
				if e.Conference.Locked == last {
					t.Fatalf("conference_update without a change: %+v", e.Conference)
				}
				last = e.Conference.Locked
				locks++
			}
			if got := h.conf(a.p).Locked; got != last {
				t.Fatalf("room locked %t, last event said %t", got, last)
			}
			if n := len(h.auditOf("lock")) + len(h.auditOf("unlock")); n != 4 {
				t.Fatalf("%d lock audits, want 4", n)
			}
			g := h.joinAs("2002", "G", guestPIN)
			if want := map[bool]State{true: StateLobby, false: StateIn}[last]; g.state() != want {
				t.Fatalf("guest %s in a room locked=%t", g.state(), last)
			}
		})
	}
}

// Capacity counts callers still keying their PIN and waiting in the lobby:
// a caller that got a place keeps it.
func TestRacePINWhileRoomFills(t *testing.T) {
	t.Run("in order", func(t *testing.T) {
		h := newHarness(t, []Settings{pinRoom(3)})
		early := h.join("2002", "early")
		h.joinAs("2002", "host", hostPIN)
		h.joinAs("2002", "guest", guestPIN)
		if _, err := h.dial("2002", "late"); !errors.Is(err, ErrRoomFull) {
			t.Fatalf("fourth caller: %v", err)
		}
		early.keys(guestPIN + "#")
		if early.state() != StateIn {
			t.Fatalf("caller that held a place: %s", early.state())
		}
	})
	t.Run("concurrently", func(t *testing.T) {
		const max, callers = 8, 20
		h := newHarness(t, []Settings{pinRoom(max)})
		var full, in atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < callers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := h.dial("2002", "c")
				if errors.Is(err, ErrRoomFull) {
					full.Add(1)
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				pin := guestPIN
				if i%4 == 0 {
					pin = hostPIN
				}
				for _, d := range pin + "#" {
					c.p.Digit(d)
				}
				in.Add(1)
			}()
		}
		wg.Wait()
		h.settle()
		if in.Load() != max || full.Load() != callers-max {
			t.Fatalf("%d joined, %d refused; want %d and %d", in.Load(), full.Load(), max, callers-max)
		}
		if got := h.m.Snapshot()["2002"]; got != max {
			t.Fatalf("snapshot %d", got)
		}
	})
}

func TestRaceLeaveDuringPINVerification(t *testing.T) {
	h := newHarness(t, []Settings{pinRoom(5)})
	gate := make(chan struct{})
	h.ver.gate = gate
	stay := h.join("2002", "stays") // keeps the room active
	c := h.join("2002", "c")
	c.keys(hostPIN + "#")
	waitFor(t, "verify running", func() bool { return h.ver.inFlight() == 1 })
	c.p.Leave("hung up")
	close(gate)
	waitFor(t, "verify done", func() bool { return h.ver.inFlight() == 0 })
	// The result arrives for a participant that left: it changes nothing.
	h.ver.mu.Lock()
	h.ver.gate = nil
	h.ver.mu.Unlock()
	h.settle()
	if s := c.snap(); s.present || s.role == Host || s.state != StateGone {
		t.Fatalf("caller after leaving mid-check: %+v", s)
	}
	if j := h.auditOf("join"); len(j) != 0 {
		t.Fatalf("a caller that left was audited as joining: %+v", j)
	}
	if h.conf(stay.p).HostPresent {
		t.Fatal("a host that left during its PIN check is present")
	}
	stay.p.Leave("bye")
	h.waitIdle()
}

// A caller that hangs up while its PIN is checked needs no answer: the
// check should be called off, so that Close (and the room's end) need not
// wait for a slow or queued verification. (Verify gets up to 30 s.)
func TestLeaveDuringPINVerificationCancelsIt(t *testing.T) {
	h := newHarness(t, []Settings{pinRoom(5)})
	gate := make(chan struct{})
	h.ver.gate = gate
	t.Cleanup(func() { close(gate) }) // runs before the harness closes
	c := h.join("2002", "c")
	c.keys(hostPIN + "#")
	waitFor(t, "verify running", func() bool { return h.ver.inFlight() == 1 })
	c.p.Leave("hung up")
	deadline := time.Now().Add(2 * time.Second)
	for h.ver.inFlight() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("PIN check still running 2s after the caller left: its context was not cancelled")
		}
		time.Sleep(time.Millisecond)
	}
}

// Disconnect and hang-ups while a farewell prompt plays.
func TestRaceDisconnectDuringFarewell(t *testing.T) {
	t.Run("caller hangs up during its farewell", func(t *testing.T) {
		f := newFixture(t)
		f.leaving.p.Leave("hung up")
		f.h.settle()
		if f.leaving.snap().present {
			t.Fatal("still present")
		}
		f.h.fire(leaveTimeout)
		if d := f.leaving.leg.disconnects(); len(d) != 0 {
			t.Fatalf("a leg that hung up was asked to hang up: %v", d)
		}
	})
	t.Run("second disconnect keeps the first farewell", func(t *testing.T) {
		f := newFixture(t)
		if err := f.host2.p.Disconnect(f.leaving.id()); err != nil {
			t.Fatal(err)
		}
		if err := f.host.p.EndMeeting(); err != nil {
			t.Fatal(err)
		}
		f.h.settle()
		if got := f.leaving.mixer().playing(f.leaving.id()); got != "disconnected" {
			t.Fatalf("farewell replaced by %q", got)
		}
		f.leaving.finish()
		if d := f.leaving.leg.disconnects(); len(d) != 1 {
			t.Fatalf("disconnects %v", d)
		}
	})
	t.Run("leave timeout after the prompt ended", func(t *testing.T) {
		f := newFixture(t)
		f.leaving.finish()
		f.h.fire(leaveTimeout)
		if d := f.leaving.leg.disconnects(); len(d) != 1 {
			t.Fatalf("disconnects %v, want exactly one", d)
		}
	})
	t.Run("stubborn leg: the room waits for Leave", func(t *testing.T) {
		f := newFixture(t)
		f.guest.leg.stubborn = true
		if err := f.host.p.Disconnect(f.guest.id()); err != nil {
			t.Fatal(err)
		}
		f.h.settle()
		f.guest.finish()
		f.h.fire(leaveTimeout)
		if d := f.guest.leg.disconnects(); len(d) != 1 || !f.guest.snap().present {
			t.Fatalf("disconnects %v", d)
		}
		f.guest.p.Leave("bye at last")
	})
	// A host hearing its farewell is leaving: a knock for a new lobby
	// guest must not cut its prompt off (replacing it ends the prompt and
	// hangs up at once).
	t.Run("knock spares a leaving host", func(t *testing.T) {
		f := newFixture(t)
		if err := f.host.p.Disconnect(f.host2.id()); err != nil {
			t.Fatal(err)
		}
		f.h.settle()
		f.h.joinAs("2002", "Knocker", guestPIN)
		if got := f.host2.mixer().playing(f.host2.id()); got != "disconnected" {
			t.Fatalf("leaving host hears %q instead of its farewell", got)
		}
		if d := f.host2.leg.disconnects(); len(d) != 0 {
			t.Fatalf("leaving host hung up before its farewell ended: %v", d)
		}
	})
}

// After a host ends the meeting, the hosts hear their farewell for a few
// seconds; a guest calling in then must not be let into the ended meeting.
func TestJoinWhileMeetingEnds(t *testing.T) {
	h := newHarness(t, []Settings{pinRoom(9)})
	host := h.joinAs("2002", "Host", hostPIN)
	h.joinAs("2002", "Guest", guestPIN)
	if err := host.p.EndMeeting(); err != nil {
		t.Fatal(err)
	}
	h.settle()
	late := h.joinAs("2002", "Late", guestPIN)
	if late.state() == StateIn {
		t.Fatal("a guest was admitted into a meeting that a host had ended, by the leaving host")
	}
	if h.conf(late.p).HostPresent {
		t.Fatal("host_present while every host is leaving")
	}
}

// Close racing joins: a caller that got its room just before Close must
// be disconnected too, or Close waits forever for it.
func TestRaceJoinDuringClose(t *testing.T) {
	for i := 0; i < 30; i++ {
		h := newHarness(t, []Settings{openRoom(1000)})
		h.join("1001", "first")
		var wg sync.WaitGroup
		start := make(chan struct{})
		for j := 0; j < 20; j++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for {
					if _, err := h.dial("1001", "late"); errors.Is(err, ErrClosed) {
						return
					}
				}
			}()
		}
		close(start)
		time.Sleep(time.Millisecond) // let the joiners get going
		h.close()
		wg.Wait()
		if t.Failed() {
			never := 0
			h.mu.Lock()
			for _, c := range h.callers {
				if len(c.leg.disconnects()) == 0 {
					never++
				}
			}
			h.mu.Unlock()
			t.Fatalf("iteration %d: Close hung; %d callers were never asked to hang up", i, never)
		}
	}
}

// Mute must survive a codec change racing with it: the room applies the
// mute to the participant's current input.
func TestRaceMuteDuringFormatChange(t *testing.T) {
	h := newHarness(t, []Settings{pinRoom(9)})
	host := h.joinAs("2002", "Host", hostPIN)
	g := h.joinAs("2002", "Guest", guestPIN)
	for i := 0; i < 300; i++ {
		muted := i%2 == 0
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, err := g.p.SetAudioFormat(fmt.Sprintf("f%d", i), nil); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			if err := host.p.SetMuted(g.id(), muted); err != nil {
				t.Error(err)
			}
		}()
		wg.Wait()
		in := g.p.Input().(*fakeInput)
		if in.isMuted() != muted {
			t.Fatalf("iteration %d: participant muted=%t but its audio input muted=%t", i, muted, !muted)
		}
	}
}

// TestStress runs many callers, keys, host actions and hang-ups at once,
// then checks the room's invariants.
func TestStress(t *testing.T) {
	rooms := []Settings{openRoom(15), pinRoom(15), autolockRoom(15)}
	h := newHarness(t, rooms, withDecoys)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var live []*caller
	numbers := []Number{"1001", "2002", "3003", "5550123"}
	pins := []string{hostPIN, guestPIN, guestPIN, "0000", ""}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(w), 7))
			var mine []*caller
			for i := 0; i < 60; i++ {
				switch op := rnd.IntN(10); {
				case op < 4 || len(mine) == 0:
					c, err := h.dial(numbers[rnd.IntN(len(numbers))], "s")
					if err != nil {
						if !errors.Is(err, ErrRoomFull) {
							t.Error(err)
						}
						continue
					}
					for _, d := range pins[rnd.IntN(len(pins))] + "#" {
						c.p.Digit(d)
					}
					mine = append(mine, c)
				case op < 6:
					c := mine[rnd.IntN(len(mine))]
					for _, d := range []string{"*5", "*6", "*7", "*3", "*8", "#"}[rnd.IntN(6)] {
						c.p.Digit(d)
					}
				case op < 8:
					c := mine[rnd.IntN(len(mine))]
					var target ParticipantID
					if o := mine[rnd.IntN(len(mine))]; o.p.Room() == c.p.Room() {
						target = o.id()
					}
					var err error
					switch rnd.IntN(6) {
					case 0:
						err = c.p.Admit(target)
					case 1:
						err = c.p.Reject(target)
					case 2:
						err = c.p.SetMuted(target, rnd.IntN(2) == 0)
					case 3:
						err = c.p.Lock(rnd.IntN(2) == 0)
					case 4:
						err = c.p.MuteGuests(rnd.IntN(2) == 0)
					case 5:
						_, err = c.p.Participants()
					}
					for _, ok := range []error{ErrNotHost, ErrNotWaiting, ErrNoSuchParticipant, ErrGone, ErrNotAdmitted} {
						if errors.Is(err, ok) {
							err = nil
						}
					}
					if err != nil {
						t.Error(err)
					}
				case op < 9:
					i := rnd.IntN(len(mine))
					mine[i].p.Leave("hung up")
					mine = append(mine[:i], mine[i+1:]...)
				default:
					// Farewells finish; timers fire.
					c := mine[rnd.IntN(len(mine))]
					c.mixer().finish(c.id())
					h.timers.fire([]time.Duration{commandTimeout, digitTimeout}[rnd.IntN(2)])
				}
			}
			mu.Lock()
			live = append(live, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	h.settle()
	checkInvariants(t, h)
	// End every farewell, then everyone leaves: rooms go idle.
	for _, r := range h.activeRooms() {
		_ = r.do(context.Background(), func(st *roomState) {})
	}
	h.fire(leaveTimeout)
	for _, c := range live {
		c.p.Leave("done")
	}
	h.settle()
	h.waitIdle()
}

// checkInvariants compares each active room's state with its fake mixer:
// counts, hosts, and nobody both waiting and mixed.
func checkInvariants(t *testing.T, h *harness) {
	t.Helper()
	for _, r := range h.activeRooms() {
		mx := r.mixer.(*fakeMixer)
		_ = r.do(context.Background(), func(st *roomState) {
			if st == nil {
				return
			}
			if got := int(r.count.Load()); got != len(st.participants) || got > r.settings.MaxParticipants {
				t.Errorf("room %s: count %d, participants %d, max %d", r.settings.Number, got, len(st.participants), r.settings.MaxParticipants)
			}
			if len(st.order) != len(st.participants) {
				t.Errorf("room %s: order %d, participants %d", r.settings.Number, len(st.order), len(st.participants))
			}
			hosts := 0
			for id, p := range st.participants {
				if p.role == Host && p.state == StateIn {
					hosts++
				}
				if p.role == Host && r.settings.Type == Open {
					t.Errorf("host in an open room")
				}
				if r.settings.Decoy && p.state != StateIVR {
					t.Errorf("decoy caller %s is %s", id, p.state)
				}
				if p.Input() == nil {
					continue
				}
				mixed := mx.inMeeting(id)
				if want := p.state == StateIn && !p.leaving; mixed != want {
					t.Errorf("room %s: %s is %s leaving=%t but mixed=%t", r.settings.Number, id, p.state, p.leaving, mixed)
				}
				if p.state == StateLobby && mixed {
					t.Errorf("%s waits in the lobby and is mixed", id)
				}
				if p.state == StateIVR && mx.everInMeeting(id) {
					t.Errorf("%s in the IVR was mixed once", id)
				}
				if mx.mutedInput(id) != p.muted {
					t.Errorf("%s muted=%t, input muted=%t", id, p.muted, mx.mutedInput(id))
				}
			}
			if hosts != st.hosts {
				t.Errorf("room %s: %d hosts in, counted %d", r.settings.Number, hosts, st.hosts)
			}
			if st.hosts > 0 && st.graceStop != nil {
				t.Errorf("room %s: grace running with a host", r.settings.Number)
			}
		})
	}
}
