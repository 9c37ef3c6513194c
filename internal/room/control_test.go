package room

import (
	"slices"
	"testing"
)

// fixture is a PIN room with a participant in every state:
// hosts host and host2, guest in the meeting, leaving (a guest hearing its
// farewell), gone (a guest that hung up), an API host, then the room
// locked, lobby waiting and ivr keying its PIN.
type fixture struct {
	h                                 *harness
	host, host2, guest, leaving, gone *caller
	lobby, ivr                        *caller
	api                               *Participant
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	h := newHarness(t, []Settings{pinRoom(20)})
	f := &fixture{h: h}
	f.host = h.joinAs("2002", "Host", hostPIN)
	f.host2 = h.joinAs("2002", "Host 2", hostPIN)
	f.guest = h.joinAs("2002", "Guest", guestPIN)
	f.leaving = h.joinAs("2002", "Leaving", guestPIN)
	if err := f.host.p.Disconnect(f.leaving.id()); err != nil {
		t.Fatal(err)
	}
	f.gone = h.joinAs("2002", "Gone", guestPIN)
	f.gone.p.Leave("hung up")
	var err error
	if f.api, err = h.api("2002", hostPIN, "Control"); err != nil {
		t.Fatal(err)
	}
	if err := f.host.p.Lock(true); err != nil {
		t.Fatal(err)
	}
	f.lobby = h.joinAs("2002", "Lobby", guestPIN)
	f.ivr = h.join("2002", "IVR")
	h.settle()
	for _, c := range []*caller{f.host, f.host2} {
		if c.mixer().playing(c.id()) == "knock" {
			c.finish() // the knock for lobby has played
		}
	}
	want := map[*caller]State{f.host: StateIn, f.host2: StateIn, f.guest: StateIn, f.leaving: StateIn, f.lobby: StateLobby, f.ivr: StateIVR, f.gone: StateGone}
	for c, st := range want {
		if got := c.state(); got != st {
			t.Fatalf("fixture: %s is %s, want %s", c.p.name, got, st)
		}
	}
	if !f.leaving.snap().leaving {
		t.Fatal("fixture: leaving is not leaving")
	}
	return f
}

func (f *fixture) participant(name string) *Participant {
	switch name {
	case "host":
		return f.host.p
	case "host2":
		return f.host2.p
	case "guest":
		return f.guest.p
	case "leaving":
		return f.leaving.p
	case "gone":
		return f.gone.p
	case "lobby":
		return f.lobby.p
	case "ivr":
		return f.ivr.p
	case "api":
		return f.api
	}
	return nil
}

func (f *fixture) caller(name string) *caller {
	for _, c := range []*caller{f.host, f.host2, f.guest, f.leaving, f.gone, f.lobby, f.ivr} {
		if c.p == f.participant(name) {
			return c
		}
	}
	return nil
}

type action int

const (
	actAdmit action = iota
	actReject
	actMute
	actUnmute
	actDisconnect
	actLock
	actUnlock
	actMuteGuests
	actUnmuteGuests
	actEnd
)

var actionAudit = map[action]string{actAdmit: "admit", actReject: "reject", actMute: "mute", actUnmute: "unmute",
	actDisconnect: "disconnect", actLock: "lock", actUnlock: "unlock", actMuteGuests: "mute_guests",
	actUnmuteGuests: "unmute_guests", actEnd: "end_meeting"}

func (a action) run(p *Participant, target ParticipantID) error {
	switch a {
	case actAdmit:
		return p.Admit(target)
	case actReject:
		return p.Reject(target)
	case actMute:
		return p.SetMuted(target, true)
	case actUnmute:
		return p.SetMuted(target, false)
	case actDisconnect:
		return p.Disconnect(target)
	case actLock:
		return p.Lock(true)
	case actUnlock:
		return p.Lock(false)
	case actMuteGuests:
		return p.MuteGuests(true)
	case actUnmuteGuests:
		return p.MuteGuests(false)
	default:
		return p.EndMeeting()
	}
}

// TestHostActions runs every control action by every kind of actor on
// targets in every state.
func TestHostActions(t *testing.T) {
	type check func(t *testing.T, f *fixture)
	hears := func(who, want string) check {
		return func(t *testing.T, f *fixture) {
			t.Helper()
			c := f.caller(who)
			if got := c.mixer().playing(c.id()); got != want {
				t.Fatalf("%s hears %q, want %q", who, got, want)
			}
		}
	}
	inState := func(who string, want State) check {
		return func(t *testing.T, f *fixture) {
			t.Helper()
			if got := snapOf(f.participant(who)).state; got != want {
				t.Fatalf("%s is %s, want %s", who, got, want)
			}
		}
	}
	leaving := func(who string, prompt string) check {
		return func(t *testing.T, f *fixture) {
			t.Helper()
			c := f.caller(who)
			if !c.snap().leaving {
				t.Fatalf("%s is not leaving", who)
			}
			if c.mixer().inMeeting(c.id()) {
				t.Fatalf("%s still mixed while hearing its farewell", who)
			}
			hears(who, prompt)(t, f)
			c.finish()
			if len(c.leg.disconnects()) != 1 || c.snap().present {
				t.Fatalf("%s not hung up after %s", who, prompt)
			}
		}
	}
	muted := func(who string, want, byHost bool) check {
		return func(t *testing.T, f *fixture) {
			t.Helper()
			s := snapOf(f.participant(who))
			if s.muted != want || s.mutedByHost != byHost {
				t.Fatalf("%s muted=%t byHost=%t, want %t %t", who, s.muted, s.mutedByHost, want, byHost)
			}
			if c := f.caller(who); c != nil && c.mixer().mutedInput(c.id()) != want {
				t.Fatalf("%s: mixer input muted=%t, want %t", who, !want, want)
			}
		}
	}
	locked := func(want bool) check {
		return func(t *testing.T, f *fixture) {
			t.Helper()
			if got := f.h.conf(f.host.p).Locked; got != want {
				t.Fatalf("locked %t, want %t", got, want)
			}
		}
	}
	unchanged := func(t *testing.T, f *fixture) {
		t.Helper()
		inState("lobby", StateLobby)(t, f)
		inState("ivr", StateIVR)(t, f)
		inState("guest", StateIn)(t, f)
		locked(true)(t, f)
		muted("guest", false, false)(t, f)
		muted("host2", false, false)(t, f)
		if f.guest.snap().leaving || f.host2.snap().leaving || f.lobby.snap().leaving {
			t.Fatal("someone is leaving after a refused action")
		}
		hears("lobby", "waiting")(t, f)
	}
	all := func(cs ...check) check {
		return func(t *testing.T, f *fixture) {
			t.Helper()
			for _, c := range cs {
				c(t, f)
			}
		}
	}

	tests := []struct {
		name    string
		actor   string
		act     action
		target  string // a fixture name, "self" or "unknown"
		wantErr error
		check   check
	}{
		// admit
		{"host admits lobby", "host", actAdmit, "lobby", nil, all(inState("lobby", StateIn), hears("lobby", ""), func(t *testing.T, f *fixture) {
			if !f.lobby.mixer().inMeeting(f.lobby.id()) {
				t.Fatal("admitted guest not mixed")
			}
		})},
		{"api host admits lobby", "api", actAdmit, "lobby", nil, inState("lobby", StateIn)},
		{"second host admits lobby", "host2", actAdmit, "lobby", nil, inState("lobby", StateIn)},
		{"host admits guest in meeting", "host", actAdmit, "guest", ErrNotWaiting, unchanged},
		{"host admits caller in IVR", "host", actAdmit, "ivr", ErrNotWaiting, unchanged},
		{"host admits leaving guest", "host", actAdmit, "leaving", ErrNotWaiting, all(unchanged, leaving("leaving", "disconnected"))},
		{"host admits gone guest", "host", actAdmit, "gone", ErrNoSuchParticipant, unchanged},
		{"host admits unknown", "host", actAdmit, "unknown", ErrNoSuchParticipant, unchanged},
		{"guest admits lobby", "guest", actAdmit, "lobby", ErrNotHost, unchanged},
		{"lobby admits itself", "lobby", actAdmit, "self", ErrNotHost, unchanged},
		{"ivr caller admits lobby", "ivr", actAdmit, "lobby", ErrNotHost, unchanged},
		{"gone guest admits lobby", "gone", actAdmit, "lobby", ErrGone, unchanged},
		{"leaving guest admits lobby", "leaving", actAdmit, "lobby", ErrNotHost, unchanged},
		// reject
		{"host rejects lobby", "host", actReject, "lobby", nil, leaving("lobby", "rejected")},
		{"host rejects guest in meeting", "host", actReject, "guest", ErrNotWaiting, unchanged},
		{"host rejects caller in IVR", "host", actReject, "ivr", ErrNotWaiting, unchanged},
		{"host rejects gone guest", "host", actReject, "gone", ErrNoSuchParticipant, unchanged},
		{"guest rejects lobby", "guest", actReject, "lobby", ErrNotHost, unchanged},
		{"gone guest rejects lobby", "gone", actReject, "lobby", ErrGone, unchanged},
		// mute and unmute
		{"host mutes guest", "host", actMute, "guest", nil, muted("guest", true, true)},
		{"host mutes other host", "host", actMute, "host2", nil, muted("host2", true, true)},
		{"api host mutes guest", "api", actMute, "guest", nil, muted("guest", true, true)},
		{"host mutes itself", "host", actMute, "self", nil, muted("host", true, false)},
		{"host mutes lobby guest", "host", actMute, "lobby", nil, muted("lobby", true, true)},
		{"guest mutes itself", "guest", actMute, "self", nil, muted("guest", true, false)},
		{"guest mutes host", "guest", actMute, "host", ErrNotHost, all(unchanged, muted("host", false, false))},
		{"lobby guest mutes itself", "lobby", actMute, "self", ErrNotAdmitted, all(unchanged, muted("lobby", false, false))},
		{"host mutes gone", "host", actMute, "gone", ErrNoSuchParticipant, unchanged},
		{"host mutes unknown", "host", actMute, "unknown", ErrNoSuchParticipant, unchanged},
		{"gone mutes guest", "gone", actMute, "guest", ErrGone, unchanged},
		{"host unmutes unmuted guest", "host", actUnmute, "guest", nil, muted("guest", false, false)},
		{"guest unmutes host", "guest", actUnmute, "host", ErrNotHost, unchanged},
		// disconnect
		{"host disconnects guest", "host", actDisconnect, "guest", nil, leaving("guest", "disconnected")},
		{"host disconnects other host", "host", actDisconnect, "host2", nil, leaving("host2", "disconnected")},
		{"host disconnects lobby guest", "host", actDisconnect, "lobby", nil, leaving("lobby", "disconnected")},
		{"host disconnects caller in IVR", "host", actDisconnect, "ivr", nil, leaving("ivr", "disconnected")},
		{"host disconnects leaving guest", "host", actDisconnect, "leaving", nil, leaving("leaving", "disconnected")},
		{"host disconnects itself", "host", actDisconnect, "self", nil, leaving("host", "disconnected")},
		{"api host disconnects guest", "api", actDisconnect, "guest", nil, leaving("guest", "disconnected")},
		{"host disconnects api host", "host", actDisconnect, "api", nil, func(t *testing.T, f *fixture) {
			if snapOf(f.api).present {
				t.Fatal("API participant not removed at once")
			}
		}},
		{"host disconnects gone", "host", actDisconnect, "gone", ErrNoSuchParticipant, unchanged},
		{"guest disconnects host", "guest", actDisconnect, "host", ErrNotHost, all(unchanged, inState("host", StateIn))},
		{"guest disconnects itself", "guest", actDisconnect, "self", nil, leaving("guest", "disconnected")},
		{"gone disconnects guest", "gone", actDisconnect, "guest", ErrGone, unchanged},
		// lock and unlock (the fixture is locked)
		{"host unlocks: lobby admitted", "host", actUnlock, "", nil, all(locked(false), inState("lobby", StateIn), inState("ivr", StateIVR))},
		{"api host unlocks", "api", actUnlock, "", nil, all(locked(false), inState("lobby", StateIn))},
		{"host locks a locked room", "host", actLock, "", nil, unchanged},
		{"guest unlocks", "guest", actUnlock, "", ErrNotHost, unchanged},
		{"lobby guest unlocks", "lobby", actUnlock, "", ErrNotHost, unchanged},
		{"ivr caller unlocks", "ivr", actUnlock, "", ErrNotHost, unchanged},
		{"gone guest unlocks", "gone", actUnlock, "", ErrGone, unchanged},
		// mute all guests
		{"host mutes guests", "host", actMuteGuests, "", nil, all(muted("guest", true, true), muted("host2", false, false), muted("lobby", false, false), func(t *testing.T, f *fixture) {
			if !f.h.conf(f.host.p).GuestsMuted {
				t.Fatal("guests_muted not set")
			}
			// a guest let in while guests are muted comes in muted
			if err := f.host.p.Admit(f.lobby.id()); err != nil {
				t.Fatal(err)
			}
			muted("lobby", true, true)(t, f)
			// and a muted guest cannot unmute itself
			if err := f.guest.p.SetMuted(f.guest.id(), false); err != ErrNotHost {
				t.Fatalf("guest unmuting itself: %v, want ErrNotHost", err)
			}
			if err := f.host.p.MuteGuests(false); err != nil {
				t.Fatal(err)
			}
			muted("guest", false, false)(t, f)
			muted("lobby", false, false)(t, f)
		})},
		{"guest mutes guests", "guest", actMuteGuests, "", ErrNotHost, unchanged},
		{"guest unmutes guests", "guest", actUnmuteGuests, "", ErrNotHost, unchanged},
		{"gone mutes guests", "gone", actMuteGuests, "", ErrGone, unchanged},
		// end the meeting
		{"host ends the meeting", "host", actEnd, "", nil, func(t *testing.T, f *fixture) {
			for _, who := range []string{"host", "host2", "guest", "lobby", "ivr"} {
				leaving(who, "meeting_ended")(t, f)
			}
			if snapOf(f.api).present {
				t.Fatal("API participant still there")
			}
			f.leaving.finish()
			f.h.waitIdle()
		}},
		{"api host ends the meeting", "api", actEnd, "", nil, leaving("guest", "meeting_ended")},
		{"guest ends the meeting", "guest", actEnd, "", ErrNotHost, unchanged},
		{"lobby ends the meeting", "lobby", actEnd, "", ErrNotHost, unchanged},
		{"gone ends the meeting", "gone", actEnd, "", ErrGone, unchanged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			actor := f.participant(tt.actor)
			target := ParticipantID("no-such-id")
			switch tt.target {
			case "self":
				target = actor.ID()
			case "unknown", "":
			default:
				target = f.participant(tt.target).ID()
			}
			audits := len(f.h.auditCopy())
			err := tt.act.run(actor, target)
			if !isErr(err, tt.wantErr) {
				t.Fatalf("%s: %v, want %v", actionAudit[tt.act], err, tt.wantErr)
			}
			f.h.settle()
			if err == nil && actor.Role() == Host && tt.target != "self" {
				var got *AuditEvent
				for _, e := range f.h.auditCopy()[audits:] {
					if e.Kind == actionAudit[tt.act] {
						got = &e
						break
					}
				}
				if got == nil || got.Participant != string(actor.ID()) || got.Role != "host" || got.Room != "2002" ||
					(tt.target != "" && got.Target != string(target)) {
					t.Fatalf("audit of %s: %+v", actionAudit[tt.act], got)
				}
			}
			tt.check(t, f)
		})
	}
}

// A refused action is no host action: nothing happened, so nothing is
// audited as if it had.
func TestAuditOnlyActionsThatHappened(t *testing.T) {
	f := newFixture(t)
	before := len(f.h.auditCopy())
	for _, c := range []struct {
		a      action
		actor  *Participant
		target ParticipantID
	}{
		{actAdmit, f.host.p, f.guest.id()},   // not waiting
		{actReject, f.host.p, f.ivr.id()},    // not waiting
		{actAdmit, f.host.p, f.leaving.id()}, // leaving
		{actAdmit, f.guest.p, f.lobby.id()},  // not a host
		{actAdmit, f.host.p, "no-such-id"},   // no such participant
		{actMute, f.guest.p, f.host.id()},    // not a host
		{actLock, f.lobby.p, ""},             // not a host
	} {
		if err := c.a.run(c.actor, c.target); err == nil {
			t.Fatalf("%s by %s on %s succeeded", actionAudit[c.a], c.actor.ID(), c.target)
		}
	}
	if got := f.h.auditCopy()[before:]; len(got) != 0 {
		t.Fatalf("refused actions were audited: %+v", got)
	}
}

// TestKeypadCommands runs the two-key commands of the meeting for hosts and
// guests.
func TestKeypadCommands(t *testing.T) {
	type check func(t *testing.T, f *fixture)
	feedback := func(who, want string) check {
		return func(t *testing.T, f *fixture) {
			t.Helper()
			c := f.caller(who)
			if got := c.mixer().playing(c.id()); got != want {
				t.Fatalf("%s hears %q, want %q", who, got, want)
			}
		}
	}
	conf := func(locked, guestsMuted bool) check {
		return func(t *testing.T, f *fixture) {
			t.Helper()
			ci := f.h.conf(f.host.p)
			if ci.Locked != locked || ci.GuestsMuted != guestsMuted {
				t.Fatalf("locked=%t guests_muted=%t, want %t %t", ci.Locked, ci.GuestsMuted, locked, guestsMuted)
			}
		}
	}
	muted := func(who string, want bool) check {
		return func(t *testing.T, f *fixture) {
			t.Helper()
			c := f.caller(who)
			if got := c.snap().muted; got != want {
				t.Fatalf("%s muted %t, want %t", who, got, want)
			}
			if got := c.mixer().mutedInput(c.id()); got != want {
				t.Fatalf("%s input muted %t, want %t", who, got, want)
			}
		}
	}
	state := func(who string, want State) check {
		return func(t *testing.T, f *fixture) {
			t.Helper()
			if got := f.caller(who).state(); got != want {
				t.Fatalf("%s is %s, want %s", who, got, want)
			}
		}
	}
	nothing := func(who string) check {
		return func(t *testing.T, f *fixture) {
			t.Helper()
			conf(true, false)(t, f)
			muted("guest", false)(t, f)
			muted("host", false)(t, f)
			state("lobby", StateLobby)(t, f)
			state("guest", StateIn)(t, f)
			state("host", StateIn)(t, f)
			if c := f.caller(who); c.snap().state == StateIn {
				feedback(who, "")(t, f)
			}
		}
	}
	all := func(cs ...check) check {
		return func(t *testing.T, f *fixture) {
			t.Helper()
			for _, c := range cs {
				c(t, f)
			}
		}
	}
	const timeout = "T" // fire the command timeout here

	tests := []struct {
		name  string
		who   string
		keys  string
		setup func(t *testing.T, f *fixture)
		check check
	}{
		{"host *5 mutes guests", "host", "*5", nil, all(conf(true, true), muted("guest", true), muted("host2", false), feedback("host", "guests_muted"))},
		{"host *5 twice unmutes guests", "host", "*5*5", nil, all(conf(true, false), muted("guest", false), feedback("host", "guests_unmuted"))},
		{"host *6 mutes itself", "host", "*6", nil, all(muted("host", true), feedback("host", "muted"))},
		{"host *6 twice unmutes itself", "host", "*6*6", nil, all(muted("host", false), feedback("host", "unmuted"))},
		{"host *7 unlocks and admits", "host", "*7", nil, all(conf(false, false), state("lobby", StateIn), feedback("host", "unlocked"))},
		{"host *7 twice locks again", "host", "*7*7", nil, all(conf(true, false), feedback("host", "locked"))},
		{"host *3 admits the longest waiting", "host", "*3", func(t *testing.T, f *fixture) {
			f.ivr.keys(guestPIN + "#") // a second guest waits, after lobby
		}, all(state("lobby", StateIn), state("ivr", StateLobby))},
		{"host *3 twice admits both", "host", "*3*3", func(t *testing.T, f *fixture) {
			f.ivr.keys(guestPIN + "#")
		}, all(state("lobby", StateIn), state("ivr", StateIn))},
		{"host *8 changes nothing yet", "host", "*8", nil, nothing("host")},
		{"host ## ends the meeting", "host", "##", nil, func(t *testing.T, f *fixture) {
			for _, who := range []string{"host", "host2", "guest", "lobby", "ivr"} {
				c := f.caller(who)
				if !c.snap().leaving || c.mixer().playing(c.id()) != "meeting_ended" {
					t.Fatalf("%s: %+v hears %q", who, c.snap(), c.mixer().playing(c.id()))
				}
			}
		}},
		{"host # then *6", "host", "#*6", nil, muted("host", true)},
		{"host ** then 6", "host", "**6", nil, muted("host", true)},
		{"host *9 is nothing", "host", "*96", nil, nothing("host")},
		{"host * timeout 6", "host", "*" + timeout + "6", nil, nothing("host")},
		{"host # timeout #", "host", "#" + timeout + "#", nil, nothing("host")},
		{"host muted by host2 unmutes itself", "host", "*6", func(t *testing.T, f *fixture) {
			if err := f.host2.p.SetMuted(f.host.id(), true); err != nil {
				t.Fatal(err)
			}
		}, all(muted("host", false), feedback("host", "unmuted"))},
		{"guest *6 mutes itself", "guest", "*6", nil, all(muted("guest", true), feedback("guest", "muted"))},
		{"guest *6 twice unmutes itself", "guest", "*6*6", nil, all(muted("guest", false), feedback("guest", "unmuted"))},
		{"guest muted by host stays muted", "guest", "*6", func(t *testing.T, f *fixture) {
			if err := f.host.p.SetMuted(f.guest.id(), true); err != nil {
				t.Fatal(err)
			}
		}, all(muted("guest", true), feedback("guest", "muted"))},
		{"guest muted with all guests stays muted", "guest", "*6", func(t *testing.T, f *fixture) {
			if err := f.host.p.MuteGuests(true); err != nil {
				t.Fatal(err)
			}
		}, all(muted("guest", true), feedback("guest", "muted"))},
		{"guest *5 does nothing", "guest", "*5", nil, nothing("guest")},
		{"guest *7 does nothing", "guest", "*7", nil, nothing("guest")},
		{"guest *3 does nothing", "guest", "*3", nil, nothing("guest")},
		{"guest *8 does nothing", "guest", "*8", nil, nothing("guest")},
		{"guest ## does nothing", "guest", "##", nil, nothing("guest")},
		{"guest # then *6", "guest", "#*6", nil, muted("guest", true)},
		{"guest ** then 6", "guest", "**6", nil, muted("guest", true)},
		{"guest * timeout 6", "guest", "*" + timeout + "6", nil, nothing("guest")},
		{"lobby guest keys are ignored", "lobby", "*6##*5", nil, all(nothing("lobby"), muted("lobby", false), feedback("lobby", "waiting"))},
		{"leaving guest keys are ignored", "leaving", "*6", nil, all(muted("leaving", false), feedback("leaving", "disconnected"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			if tt.setup != nil {
				tt.setup(t, f)
				f.h.settle()
			}
			c := f.caller(tt.who)
			for _, k := range tt.keys {
				if string(k) == timeout {
					if n := f.h.fire(commandTimeout); n != 1 {
						t.Fatalf("%d command timers pending, want 1", n)
					}
					continue
				}
				c.keys(string(k))
			}
			tt.check(t, f)
		})
	}
}

// A second key ends the command timer; no timer is left behind.
func TestKeypadCommandTimerStops(t *testing.T) {
	f := newFixture(t)
	f.host.keys("*6")
	if n := f.h.timers.pending(commandTimeout); n != 0 {
		t.Fatalf("%d command timers pending after a full command", n)
	}
	f.host.keys("*")
	if n := f.h.timers.pending(commandTimeout); n != 1 {
		t.Fatalf("%d command timers pending after '*'", n)
	}
	f.host.p.Leave("bye")
	f.h.settle()
	if n := f.h.timers.pending(commandTimeout); n != 0 {
		t.Fatalf("command timer still pending after the caller left")
	}
}

// The admitted guest's key presses in the lobby did not count: its PIN
// entry and lobby keys leave no command half-typed once it is in.
func TestLobbyKeysDoNotCarryIntoTheMeeting(t *testing.T) {
	f := newFixture(t)
	f.lobby.keys("*")
	if err := f.host.p.Admit(f.lobby.id()); err != nil {
		t.Fatal(err)
	}
	f.h.settle()
	f.lobby.keys("6")
	if f.lobby.snap().muted {
		t.Fatal("a '*' keyed in the lobby combined with a '6' keyed in the meeting")
	}
	if !slices.Contains(f.host.mixer().plays(f.host.id()), "knock") {
		t.Fatal("host never heard a knock for the lobby guest")
	}
}
