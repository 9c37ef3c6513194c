package room

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestGracePeriod(t *testing.T) {
	tests := []struct {
		name string
		room Settings
		run  func(t *testing.T, h *harness, host, guest *caller)
	}{
		{"guests stay, then the meeting ends", pinRoom(9), func(t *testing.T, h *harness, host, guest *caller) {
			host.p.Leave("hung up")
			h.settle()
			if n := h.timers.pending(grace); n != 1 {
				t.Fatalf("%d grace timers, want 1", n)
			}
			if s := guest.snap(); s.state != StateIn || s.leaving || !guest.mixer().inMeeting(guest.id()) {
				t.Fatalf("guest during grace: %+v", s)
			}
			if h.conf(guest.p).HostPresent {
				t.Fatal("host present after the last host left")
			}
			h.fire(grace)
			if !guest.snap().leaving || guest.mixer().playing(guest.id()) != "meeting_ended" {
				t.Fatalf("guest after grace: %+v hears %q", guest.snap(), guest.mixer().playing(guest.id()))
			}
			guest.finish()
			if d := guest.leg.disconnects(); len(d) != 1 {
				t.Fatalf("guest disconnects %v", d)
			}
			h.waitIdle()
		}},
		{"a host returning in time cancels it", pinRoom(9), func(t *testing.T, h *harness, host, guest *caller) {
			host.p.Leave("hung up")
			h.settle()
			back := h.joinAs("2002", "Host again", hostPIN)
			if n := h.timers.pending(grace); n != 0 {
				t.Fatalf("grace timer still pending after a host returned")
			}
			if n := h.fire(grace); n != 0 {
				t.Fatalf("%d grace timers fired", n)
			}
			if guest.snap().leaving || !h.conf(back.p).HostPresent {
				t.Fatal("meeting ended although a host came back")
			}
		}},
		{"a second host keeps the meeting going", pinRoom(9), func(t *testing.T, h *harness, host, guest *caller) {
			h.joinAs("2002", "Host 2", hostPIN)
			host.p.Leave("hung up")
			h.settle()
			if n := h.timers.pending(grace); n != 0 {
				t.Fatal("grace started with a host still there")
			}
		}},
		{"an API host counts as a host", pinRoom(9), func(t *testing.T, h *harness, host, guest *caller) {
			api, err := h.api("2002", hostPIN, "Control")
			if err != nil {
				t.Fatal(err)
			}
			host.p.Leave("hung up")
			h.settle()
			if n := h.timers.pending(grace); n != 0 {
				t.Fatal("grace started with an API host there")
			}
			api.Leave("token expired")
			h.settle()
			if n := h.timers.pending(grace); n != 1 {
				t.Fatal("no grace after the API host left")
			}
		}},
		{"zero grace ends at once", Settings{Number: "2002", MaxParticipants: 9, Type: PIN, Language: "nb"}, func(t *testing.T, h *harness, host, guest *caller) {
			host.p.Leave("hung up")
			h.settle()
			if guest.mixer().playing(guest.id()) != "meeting_ended" {
				t.Fatalf("guest hears %q", guest.mixer().playing(guest.id()))
			}
			guest.finish()
			h.waitIdle()
		}},
		{"lobby guests of an autolock room hear it too", autolockRoom(9), func(t *testing.T, h *harness, host, guest *caller) {
			if guest.state() != StateLobby {
				t.Fatalf("autolock guest is %s", guest.state())
			}
			host.p.Leave("hung up")
			h.settle()
			if guest.state() != StateLobby || guest.snap().leaving {
				t.Fatal("lobby guest sent away before the grace period ended")
			}
			h.fire(grace)
			if guest.mixer().playing(guest.id()) != "meeting_ended" {
				t.Fatalf("lobby guest hears %q", guest.mixer().playing(guest.id()))
			}
			guest.finish()
			h.waitIdle()
		}},
		{"a host disconnected by itself starts it", pinRoom(9), func(t *testing.T, h *harness, host, guest *caller) {
			if err := host.p.Disconnect(host.id()); err != nil {
				t.Fatal(err)
			}
			h.settle()
			host.finish()
			if n := h.timers.pending(grace); n != 1 {
				t.Fatal("no grace after the host hung up")
			}
		}},
		// A caller still keying the PIN is not in the meeting yet: it may
		// be the host coming back. Ending the meeting should not cut it off.
		{"callers in the IVR are spared", pinRoom(9), func(t *testing.T, h *harness, host, guest *caller) {
			host.p.Leave("hung up")
			h.settle()
			back := h.join("2002", "Host calling back")
			back.keys("867")
			h.fire(grace)
			if s := back.snap(); s.leaving {
				t.Fatalf("a caller keying its PIN was sent away by the grace period: hears %q", back.mixer().playing(back.id()))
			}
			back.keys("5309#")
			if back.state() != StateIn {
				t.Fatal("returning host not in")
			}
		}},
		// The grace timer fired (its goroutine started) just as a host came
		// back; that host then left again, starting a new grace period. The
		// old timer's command, arriving late, must not end the meeting early.
		{"a late grace timer after a host came and went", pinRoom(9), func(t *testing.T, h *harness, host, guest *caller) {
			host.p.Leave("hung up")
			h.settle()
			late := h.timers.expire(grace)
			back := h.joinAs("2002", "Host again", hostPIN)
			back.p.Leave("hung up again")
			h.settle()
			if n := h.timers.pending(grace); n != 1 {
				t.Fatalf("%d grace timers pending, want the new one", n)
			}
			for _, f := range late {
				f()
			}
			h.settle()
			if guest.snap().leaving {
				t.Fatal("a stale grace timer ended the meeting at the start of a new grace period")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, []Settings{tt.room})
			host := h.joinAs(tt.room.Number, "Host", hostPIN)
			guest := h.joinAs(tt.room.Number, "Guest", guestPIN)
			tt.run(t, h, host, guest)
		})
	}
}

func TestTimeouts(t *testing.T) {
	t.Run("no PIN within the IVR timeout", func(t *testing.T) {
		h := newHarness(t, []Settings{pinRoom(5)})
		c := h.join("2002", "c")
		c.keys("12")
		h.fire(ivrTimeout)
		if got := c.mixer().playing(c.id()); got != "goodbye_pin" || !c.snap().leaving {
			t.Fatalf("after the IVR timeout hears %q", got)
		}
		c.finish()
		if c.snap().present || len(c.leg.disconnects()) != 1 {
			t.Fatal("not hung up")
		}
		h.waitIdle()
	})
	t.Run("IVR timer stops once the PIN is accepted", func(t *testing.T) {
		h := newHarness(t, []Settings{pinRoom(5)})
		c := h.joinAs("2002", "c", guestPIN)
		if n := h.timers.pending(ivrTimeout); n != 0 {
			t.Fatalf("%d IVR timers pending in the lobby", n)
		}
		if n := h.fire(ivrTimeout); n != 0 || c.state() != StateLobby {
			t.Fatal("IVR timer acted in the lobby")
		}
	})
	t.Run("a PIN without hash is taken after a pause", func(t *testing.T) {
		h := newHarness(t, []Settings{pinRoom(5)})
		c := h.join("2002", "c")
		c.keys(hostPIN)
		if n := h.timers.pending(digitTimeout); n != 1 {
			t.Fatalf("%d digit timers pending, want 1 (restarted per key)", n)
		}
		h.fire(digitTimeout)
		if s := c.snap(); s.state != StateIn || s.role != Host {
			t.Fatalf("after the digit timeout: %+v", s)
		}
	})
	t.Run("no PIN keyed, no digit timeout", func(t *testing.T) {
		h := newHarness(t, []Settings{pinRoom(5)})
		c := h.join("2002", "c")
		c.keys("12*")
		h.fire(digitTimeout)
		if len(h.ver.callsCopy()) != 0 || c.state() != StateIVR {
			t.Fatal("an empty PIN was submitted by the digit timeout")
		}
	})
	t.Run("hash stops the digit timer", func(t *testing.T) {
		h := newHarness(t, []Settings{pinRoom(5)})
		h.joinAs("2002", "c", "0000")
		if n := h.timers.pending(digitTimeout); n != 0 {
			t.Fatalf("%d digit timers pending after '#'", n)
		}
	})
	t.Run("a farewell that never ends hangs up anyway", func(t *testing.T) {
		h := newHarness(t, []Settings{pinRoom(5)})
		host := h.joinAs("2002", "h", hostPIN)
		g := h.joinAs("2002", "g", guestPIN)
		if err := host.p.Disconnect(g.id()); err != nil {
			t.Fatal(err)
		}
		h.settle()
		if len(g.leg.disconnects()) != 0 {
			t.Fatal("hung up before the prompt")
		}
		h.fire(leaveTimeout)
		if d := g.leg.disconnects(); len(d) != 1 || g.snap().present {
			t.Fatalf("disconnects %v after the leave timeout", d)
		}
	})
	// The IVR timer fires while a PIN is being checked; the PIN turns out
	// wrong. The caller must still be sent away some time: otherwise it
	// holds a place in the room for as long as it likes.
	t.Run("IVR timeout during a PIN check is not lost", func(t *testing.T) {
		h := newHarness(t, []Settings{pinRoom(5)})
		gate := make(chan struct{})
		h.ver.gate = gate
		c := h.join("2002", "c")
		c.keys("0000#")
		waitFor(t, "verify called", func() bool { return h.ver.inFlight() == 1 })
		h.fire(ivrTimeout)
		h.ver.mu.Lock()
		h.ver.gate = nil
		h.ver.mu.Unlock()
		close(gate)
		h.settle()
		if s := c.snap(); s.state != StateIVR {
			t.Fatalf("caller %+v", s)
		}
		if !c.snap().leaving && h.timers.pending(ivrTimeout) == 0 {
			t.Fatal("caller stays in the IVR with no timer left to end it")
		}
	})
}

func TestEvents(t *testing.T) {
	t.Run("host sees the room, lobby guest only itself", func(t *testing.T) {
		h := newHarness(t, []Settings{pinRoom(9)})
		host := h.joinAs("2002", "Host", hostPIN)
		hostEv, cancelHost := host.p.Subscribe()
		defer cancelHost()
		if err := host.p.Lock(true); err != nil {
			t.Fatal(err)
		}
		g := h.join("2002", "Guest")
		gEv, cancelG := g.p.Subscribe()
		defer cancelG()
		g.keys(guestPIN + "#")
		other := h.join("2002", "Other")
		if err := host.p.MuteGuests(true); err != nil {
			t.Fatal(err)
		}
		evs, _ := drain(gEv)
		for _, ev := range evs {
			if ev.Participant == nil || ev.Participant.ID != g.id() {
				t.Fatalf("a guest not admitted saw %s", describe([]Event{ev}))
			}
		}
		if got := describe(evs); !slices.Contains(got, "participant_update "+string(g.id())+" guest/lobby") {
			t.Fatalf("guest did not see itself move to the lobby: %v", got)
		}
		if _, err := g.p.Participants(); !errors.Is(err, ErrNotAdmitted) {
			t.Fatalf("lobby guest lists participants: %v", err)
		}
		if _, err := g.p.Conference(); !errors.Is(err, ErrNotAdmitted) {
			t.Fatalf("lobby guest reads the conference: %v", err)
		}
		hevs, _ := drain(hostEv)
		want := []string{
			"conference_update locked=true guests_muted=false host=true",
			"participant_create " + string(g.id()) + " guest/ivr",
			"participant_update " + string(g.id()) + " guest/lobby",
			"participant_create " + string(other.id()) + " guest/ivr",
			"conference_update locked=true guests_muted=true host=true",
		}
		if got := describe(hevs); !isSubsequence(got, want) {
			t.Fatalf("host events\n%v\nwant in order\n%v", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		// Admitted: the guest gets the room as it is.
		if err := host.p.Admit(g.id()); err != nil {
			t.Fatal(err)
		}
		evs, _ = drain(gEv)
		got := describe(evs)
		for _, w := range []string{
			"participant_update " + string(g.id()) + " guest/in",
			"conference_update locked=true guests_muted=true host=true",
			"participant_create " + string(host.id()) + " host/in",
			"participant_create " + string(other.id()) + " guest/ivr",
		} {
			if !slices.Contains(got, w) {
				t.Fatalf("admitted guest events %v lack %q", got, w)
			}
		}
		list, err := g.p.Participants()
		if err != nil || len(list) != 3 || list[0].ID != host.id() || list[1].ID != g.id() || !list[1].Muted {
			t.Fatalf("participants %+v %v", list, err)
		}
		// Now it sees others too.
		other.keys(guestPIN + "#")
		evs, _ = drain(gEv)
		if !slices.Contains(describe(evs), "participant_update "+string(other.id())+" guest/lobby") {
			t.Fatalf("admitted guest misses others: %v", describe(evs))
		}
	})
	t.Run("leaving ends the stream with deletes for others", func(t *testing.T) {
		h := newHarness(t, []Settings{pinRoom(9)})
		host := h.joinAs("2002", "Host", hostPIN)
		g := h.joinAs("2002", "Guest", guestPIN)
		hostEv, cancelHost := host.p.Subscribe()
		gEv, _ := g.p.Subscribe()
		g.p.Leave("hung up")
		evs, closed := drain(gEv)
		if !closed {
			t.Fatalf("the stream of a participant that left is still open: %v", describe(evs))
		}
		if !slices.Contains(describe(mustDrain(hostEv)), "participant_delete "+string(g.id())+" guest/gone") {
			t.Fatal("host did not see the delete")
		}
		cancelHost()
		cancelHost() // twice is harmless
		if _, closed := drain(hostEv); !closed {
			t.Fatal("cancel did not close the stream")
		}
		// Subscribing after leaving gives a closed stream.
		ch, cancel := g.p.Subscribe()
		defer cancel()
		if _, closed := drain(ch); !closed {
			t.Fatal("a gone participant's new stream is open")
		}
	})
	t.Run("host leaving updates host_present", func(t *testing.T) {
		h := newHarness(t, []Settings{pinRoom(9)})
		host := h.joinAs("2002", "Host", hostPIN)
		g := h.joinAs("2002", "Guest", guestPIN)
		gEv, cancel := g.p.Subscribe()
		defer cancel()
		host.p.Leave("hung up")
		h.settle()
		if got := describe(mustDrain(gEv)); !slices.Contains(got, "conference_update locked=false guests_muted=false host=false") {
			t.Fatalf("guest events %v", got)
		}
	})
	t.Run("a reader far behind is dropped", func(t *testing.T) {
		h := newHarness(t, []Settings{pinRoom(9)})
		host := h.joinAs("2002", "Host", hostPIN)
		ch, cancel := host.p.Subscribe()
		defer cancel()
		for i := 0; i <= subscriberBuf; i++ {
			if err := host.p.Lock(i%2 == 0); err != nil {
				t.Fatal(err)
			}
		}
		evs, closed := drain(ch)
		if !closed || len(evs) != subscriberBuf {
			t.Fatalf("slow reader: %d events, closed %t", len(evs), closed)
		}
	})
	t.Run("an API host's create event says host", func(t *testing.T) {
		h := newHarness(t, []Settings{pinRoom(9)})
		host := h.joinAs("2002", "Host", hostPIN)
		ch, cancel := host.p.Subscribe()
		defer cancel()
		api, err := h.api("2002", hostPIN, "Control")
		if err != nil {
			t.Fatal(err)
		}
		defer api.Leave("done")
		for _, ev := range mustDrain(ch) {
			if ev.Type == ParticipantCreate && ev.Participant.ID == api.ID() && ev.Participant.Role != "host" {
				t.Fatalf("participant_create of an API host says %s/%s", ev.Participant.Role, ev.Participant.State)
			}
		}
	})
	t.Run("decoys publish nothing", func(t *testing.T) {
		h := newHarness(t, nil, withDecoys)
		c := h.join("5550199", "c")
		ch, cancel := c.p.Subscribe()
		defer cancel()
		c.keys("1#")
		if evs := mustDrain(ch); len(evs) != 0 {
			t.Fatalf("decoy events %v", describe(evs))
		}
	})
}

func mustDrain(ch <-chan Event) []Event {
	evs, _ := drain(ch)
	return evs
}

// isSubsequence reports whether want appears in got in order.
func isSubsequence(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

// TestAuditAndLogsNeverHoldAPIN keys right and wrong PINs by keypad and
// API and searches every audit event and log line for them.
func TestAuditAndLogsNeverHoldAPIN(t *testing.T) {
	const wrong = "1357913"
	h := newHarness(t, []Settings{pinRoom(9), autolockRoom(9)}, withDecoys)
	host := h.joinAs("2002", "Host", hostPIN)
	h.joinAs("2002", "Guest", guestPIN)
	bad := h.join("2002", "Bad")
	bad.keys(wrong + "#")
	bad.keys(wrong[:4]) // taken by the digit timeout
	h.fire(digitTimeout)
	decoy := h.join("5550100", "Decoy")
	decoy.keys(hostPIN + "#")
	if _, err := h.api("2002", wrong, "API"); !errors.Is(err, ErrBadPIN) {
		t.Fatal(err)
	}
	api, err := h.api("3003", hostPIN, "API host")
	if err != nil {
		t.Fatal(err)
	}
	api.Leave("done")
	host.keys("*7*5##")
	h.settle()

	audit := auditJSON(t, h.auditCopy())
	logs := h.logs.String()
	for _, pin := range []string{hostPIN, guestPIN, wrong, wrong[:4]} {
		if strings.Contains(audit, pin) {
			t.Errorf("audit holds PIN %s", pin)
		}
		if strings.Contains(logs, pin) {
			t.Errorf("logs hold PIN %s", pin)
		}
	}
	// And the audit says who did what.
	for _, e := range h.auditOf("join") {
		if e.Role == "" || e.Source == "" || e.Participant == "" || e.Room == "" {
			t.Errorf("join audit lacks role, source or participant: %+v", e)
		}
	}
	if n := len(h.auditOf("pin_failure")); n != 4 {
		t.Errorf("%d pin failures audited, want 4 (2 keypad, 1 decoy, 1 API)", n)
	}
	for _, kind := range []string{"lock", "mute_guests", "end_meeting"} {
		e := h.auditOf(kind)
		if len(e) != 1 || e[0].Participant != string(host.id()) || e[0].Role != "host" || e[0].Source != "192.0.2.10" {
			t.Errorf("%s audit %+v", kind, e)
		}
	}
	for _, e := range h.auditCopy() {
		if !e.Time.Equal(h.clock.Now()) {
			t.Errorf("audit time %v, want the room's clock", e.Time)
		}
	}
}

func TestManagerCloseEveryState(t *testing.T) {
	f := newFixture(t)
	h := f.h
	open := h.m
	h.rooms["1001"] = openRoom(5)
	o := h.join("1001", "open")
	if err := h.m.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*caller{f.host, f.host2, f.guest, f.leaving, f.lobby, f.ivr, o} {
		if d := c.leg.disconnects(); len(d) != 1 {
			t.Errorf("%s: disconnects %v, want one", c.p.name, d)
		}
		if s := c.snap(); s.present || s.state != StateGone {
			t.Errorf("%s still in the room after Close: %+v", c.p.name, s)
		}
	}
	if len(f.gone.leg.disconnects()) != 0 {
		t.Error("a participant that left was disconnected again")
	}
	if snapOf(f.api).present {
		t.Error("API participant survived Close")
	}
	if len(h.activeRooms()) != 0 {
		t.Error("rooms active after Close")
	}
	if _, err := h.dial("2002", "late"); !errors.Is(err, ErrClosed) {
		t.Errorf("join after Close: %v", err)
	}
	if _, err := h.api("2002", hostPIN, "late"); !errors.Is(err, ErrClosed) {
		t.Errorf("API join after Close: %v", err)
	}
	if err := f.host.p.Lock(false); !errors.Is(err, ErrGone) {
		t.Errorf("action after Close: %v", err)
	}
	f.host.p.Digit('*') // harmless
	f.host.p.Leave("again")
	if err := open.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestSetAudioFormat(t *testing.T) {
	h := newHarness(t, []Settings{pinRoom(9)})
	host := h.joinAs("2002", "Host", hostPIN)
	g := h.joinAs("2002", "Guest", guestPIN)
	if err := host.p.SetMuted(g.id(), true); err != nil {
		t.Fatal(err)
	}
	if err := host.p.Lock(true); err != nil {
		t.Fatal(err)
	}
	w := h.joinAs("2002", "Waiting", guestPIN)
	for _, c := range []*caller{g, w} {
		in, err := c.p.SetAudioFormat("opus/48000/2", nil)
		if err != nil || in == nil || c.p.Input() != in {
			t.Fatalf("%s: set format: %v", c.p.name, err)
		}
	}
	if !g.mixer().inMeeting(g.id()) || !g.mixer().mutedInput(g.id()) {
		t.Fatal("a muted guest lost its place or its mute with the new format")
	}
	if w.mixer().inMeeting(w.id()) {
		t.Fatal("a lobby guest was mixed after a format change")
	}
	g.p.Leave("bye")
	if _, err := g.p.SetAudioFormat("PCMA/8000", nil); !errors.Is(err, ErrGone) {
		t.Fatalf("format change after leaving: %v", err)
	}
}

// A reloaded configuration applies to new joins while the meeting goes on;
// a removed room takes no new callers but its meeting continues.
func TestReloadedSettingsApplyToNewJoins(t *testing.T) {
	h := newHarness(t, []Settings{openRoom(10)})
	first := h.join("1001", "First")
	if first.state() != StateIn {
		t.Fatalf("first caller is %s, want in", first.state())
	}
	changed := pinRoom(3)
	changed.Number = "1001"
	h.mu.Lock()
	h.rooms["1001"] = changed
	h.mu.Unlock()

	second := h.join("1001", "Second")
	if second.state() != StateIVR {
		t.Fatalf("a caller after the reload is %s, want ivr (the room now has a PIN)", second.state())
	}
	if first.state() != StateIn {
		t.Fatalf("the reload moved the first caller to %s", first.state())
	}
	h.join("1001", "Third")
	if _, err := h.dial("1001", "Fourth"); !errors.Is(err, ErrRoomFull) {
		t.Fatalf("fourth caller: %v, want ErrRoomFull (max_participants 3 after the reload)", err)
	}

	h.mu.Lock()
	delete(h.rooms, "1001")
	h.mu.Unlock()
	if _, err := h.dial("1001", "Late"); !errors.Is(err, ErrNoSuchRoom) {
		t.Fatalf("a caller to a removed room: %v, want ErrNoSuchRoom", err)
	}
	if first.state() != StateIn {
		t.Fatalf("removing the room ended the meeting: first caller is %s", first.state())
	}
}
