package room

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// place brings a caller into n in the given state: "ivr" (keyed nothing),
// "guest" (guest PIN), "host" (host PIN).
func (h *harness) place(n Number, as string) *caller {
	h.t.Helper()
	switch as {
	case "ivr":
		return h.join(n, "ivr caller")
	case "guest":
		return h.joinAs(n, "guest", guestPIN)
	case "host":
		return h.joinAs(n, "host", hostPIN)
	case "open":
		return h.join(n, "open guest")
	}
	h.t.Fatalf("unknown placement %q", as)
	return nil
}

func TestJoin(t *testing.T) {
	tests := []struct {
		name     string
		room     Settings
		before   []string // callers already there, in order
		lock     bool     // the first caller (a host) locks the room
		wantErr  error
		want     State
		wantPlay string // what the new caller hears
	}{
		{name: "open room goes straight in", room: openRoom(5), want: StateIn},
		{name: "open room with others", room: openRoom(5), before: []string{"open", "open"}, want: StateIn},
		{name: "open room full", room: openRoom(2), before: []string{"open", "open"}, wantErr: ErrRoomFull},
		{name: "pin room asks for the PIN", room: pinRoom(5), want: StateIVR, wantPlay: "enter_pin"},
		{name: "pin room with a host asks for the PIN", room: pinRoom(5), before: []string{"host"}, want: StateIVR, wantPlay: "enter_pin"},
		{name: "locked pin room asks for the PIN", room: pinRoom(5), before: []string{"host"}, lock: true, want: StateIVR, wantPlay: "enter_pin"},
		{name: "autolock room asks for the PIN", room: autolockRoom(5), want: StateIVR, wantPlay: "enter_pin"},
		{name: "autolock room with a host asks for the PIN", room: autolockRoom(5), before: []string{"host"}, want: StateIVR, wantPlay: "enter_pin"},
		{name: "pin room full of callers in the IVR", room: pinRoom(2), before: []string{"ivr", "ivr"}, wantErr: ErrRoomFull},
		{name: "pin room full of callers in the lobby", room: pinRoom(2), before: []string{"guest", "guest"}, wantErr: ErrRoomFull},
		{name: "pin room full: host, lobby and IVR", room: pinRoom(3), before: []string{"host", "guest", "ivr"}, lock: true, wantErr: ErrRoomFull},
		{name: "autolock room full", room: autolockRoom(2), before: []string{"host", "guest"}, wantErr: ErrRoomFull},
		{name: "limit of one", room: pinRoom(1), before: []string{"ivr"}, wantErr: ErrRoomFull},
		{name: "limit of zero", room: pinRoom(0), wantErr: ErrRoomFull},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, []Settings{tt.room})
			var before []*caller
			for _, as := range tt.before {
				before = append(before, h.place(tt.room.Number, as))
			}
			if tt.lock {
				if err := before[0].p.Lock(true); err != nil {
					t.Fatalf("lock: %v", err)
				}
			}
			joins := len(h.auditOf("join"))
			c, err := h.dial(tt.room.Number, "new")
			if !isErr(err, tt.wantErr) {
				t.Fatalf("join: %v, want %v", err, tt.wantErr)
			}
			h.settle()
			if tt.wantErr != nil {
				if c != nil {
					t.Fatal("a refused join returned a participant")
				}
				if got := h.m.Snapshot()[tt.room.Number]; got != len(before) {
					t.Fatalf("room has %d participants after a refused join, want %d", got, len(before))
				}
				if got := len(h.auditOf("join")); got != joins {
					t.Fatalf("a refused join was audited as a join")
				}
				return
			}
			if got := c.state(); got != tt.want {
				t.Fatalf("state %s, want %s", got, tt.want)
			}
			if got := c.mixer().playing(c.id()); got != tt.wantPlay {
				t.Fatalf("new caller hears %q, want %q", got, tt.wantPlay)
			}
			if got, want := c.mixer().inMeeting(c.id()), tt.want == StateIn; got != want {
				t.Fatalf("mixed into the meeting: %t, want %t", got, want)
			}
			if got := c.p.Role(); got != Guest {
				t.Fatalf("role before any PIN: %s", got)
			}
			if got := h.m.Snapshot()[tt.room.Number]; got != len(before)+1 {
				t.Fatalf("snapshot counts %d, want %d", got, len(before)+1)
			}
		})
	}
}

func TestJoinUnknownRoom(t *testing.T) {
	h := newHarness(t, []Settings{pinRoom(5)})
	if _, err := h.dial("9999", "x"); !errors.Is(err, ErrNoSuchRoom) {
		t.Fatalf("join unknown: %v, want ErrNoSuchRoom", err)
	}
	if h.m.Exists("9999") || !h.m.Exists("2002") {
		t.Fatal("Exists is wrong without decoys")
	}
	if len(h.activeRooms()) != 0 {
		t.Fatal("an unknown number started a room")
	}
}

func TestJoinMixerAddFails(t *testing.T) {
	h := newHarness(t, []Settings{openRoom(5)})
	h.m.cfg.NewMixer = func(Settings) (Mixer, error) {
		f := newFakeMixer()
		f.addErr = errors.New("no codec")
		h.mu.Lock()
		h.mixers = append(h.mixers, f)
		h.mu.Unlock()
		return f, nil
	}
	_, err := h.dial("1001", "x")
	if err == nil || !strings.Contains(err.Error(), "no codec") {
		t.Fatalf("join: %v, want the mixer's error wrapped", err)
	}
	h.waitIdle()
}

// TestPINEntry covers what each PIN result does in each room state.
func TestPINEntry(t *testing.T) {
	tests := []struct {
		name        string
		room        Settings
		host        bool // a host is in the meeting
		lock        *bool
		openGuests  bool // '#' alone makes a guest
		keys        string
		want        State
		wantRole    Role
		wantPlaying string
		wantKnock   bool // the host hears a knock
		wantLocked  bool
		wantEntered string // what the verifier was asked
	}{
		{name: "pin room: host PIN, no host yet", room: pinRoom(9), keys: hostPIN + "#", want: StateIn, wantRole: Host, wantEntered: hostPIN},
		{name: "pin room: guest PIN, no host yet", room: pinRoom(9), keys: guestPIN + "#", want: StateLobby, wantPlaying: "waiting", wantEntered: guestPIN},
		{name: "pin room: guest PIN, host present", room: pinRoom(9), host: true, keys: guestPIN + "#", want: StateIn, wantEntered: guestPIN},
		{name: "pin room: guest PIN, locked", room: pinRoom(9), host: true, lock: ptr(true), keys: guestPIN + "#", want: StateLobby, wantPlaying: "waiting", wantKnock: true, wantLocked: true, wantEntered: guestPIN},
		{name: "pin room: host PIN bypasses the lock", room: pinRoom(9), host: true, lock: ptr(true), keys: hostPIN + "#", want: StateIn, wantRole: Host, wantLocked: true, wantEntered: hostPIN},
		{name: "autolock: guest PIN, no host yet", room: autolockRoom(9), keys: guestPIN + "#", want: StateLobby, wantPlaying: "waiting", wantEntered: guestPIN},
		{name: "autolock: guest PIN, host present", room: autolockRoom(9), host: true, keys: guestPIN + "#", want: StateLobby, wantPlaying: "waiting", wantKnock: true, wantLocked: true, wantEntered: guestPIN},
		{name: "autolock: guest PIN, host unlocked", room: autolockRoom(9), host: true, lock: ptr(false), keys: guestPIN + "#", want: StateIn, wantEntered: guestPIN},
		{name: "autolock: host PIN locks the room", room: autolockRoom(9), keys: hostPIN + "#", want: StateIn, wantRole: Host, wantLocked: true, wantEntered: hostPIN},
		{name: "hash alone where guests need no PIN", room: pinRoom(9), openGuests: true, keys: "#", want: StateLobby, wantPlaying: "waiting", wantEntered: ""},
		{name: "hash alone with a host present", room: pinRoom(9), host: true, openGuests: true, keys: "#", want: StateIn, wantEntered: ""},
		{name: "hash alone where guests need a PIN", room: pinRoom(9), keys: "#", want: StateIVR, wantPlaying: "wrong_pin+enter_pin", wantEntered: ""},
		{name: "wrong PIN", room: pinRoom(9), keys: "1111#", want: StateIVR, wantPlaying: "wrong_pin+enter_pin", wantEntered: "1111"},
		{name: "star starts over", room: pinRoom(9), keys: "99*" + hostPIN + "#", want: StateIn, wantRole: Host, wantEntered: hostPIN},
		{name: "other keys are ignored", room: pinRoom(9), keys: "A" + guestPIN + "D#", want: StateLobby, wantPlaying: "waiting", wantEntered: guestPIN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, []Settings{tt.room})
			if tt.openGuests {
				h.ver.roles[""] = Guest
			}
			var host *caller
			if tt.host {
				host = h.place(tt.room.Number, "host")
				if tt.lock != nil {
					if err := host.p.Lock(*tt.lock); err != nil {
						t.Fatal(err)
					}
				}
			}
			calls := len(h.ver.callsCopy())
			c := h.join(tt.room.Number, "caller")
			c.keys(tt.keys)

			s := c.snap()
			if s.state != tt.want || s.role != tt.wantRole || c.p.Role() != tt.wantRole {
				t.Fatalf("state %s role %s, want %s %s", s.state, s.role, tt.want, tt.wantRole)
			}
			if got := c.mixer().playing(c.id()); got != tt.wantPlaying {
				t.Fatalf("caller hears %q, want %q", got, tt.wantPlaying)
			}
			if got := c.mixer().inMeeting(c.id()); got != (tt.want == StateIn) {
				t.Fatalf("caller mixed: %t", got)
			}
			if tt.want != StateIn && c.mixer().everInMeeting(c.id()) {
				t.Fatal("a caller not admitted was put into the mix")
			}
			vc := h.ver.callsCopy()[calls:]
			if len(vc) != 1 || vc[0].entered != tt.wantEntered || vc[0].room != tt.room.Number || vc[0].source != "192.0.2.10" {
				t.Fatalf("verifier calls %+v, want one with %q", vc, tt.wantEntered)
			}
			if host != nil {
				knocked := slices.Contains(host.mixer().plays(host.id()), "knock")
				if knocked != tt.wantKnock {
					t.Fatalf("host knocked: %t, want %t", knocked, tt.wantKnock)
				}
			}
			if got := h.conf(c.p).Locked; got != tt.wantLocked {
				t.Fatalf("locked %t, want %t", got, tt.wantLocked)
			}
			if tt.want == StateLobby {
				c.finish() // the waiting prompt ends: the hold tone loops
				if got := c.mixer().playing(c.id()); got != "hold_tone(loop)" {
					t.Fatalf("after the waiting prompt: %q, want the hold tone", got)
				}
			}
			if tt.want == StateIn {
				if j := h.auditOf("join"); len(j) == 0 || j[len(j)-1].Role != tt.wantRole.String() || j[len(j)-1].Participant != string(c.id()) {
					t.Fatalf("join audit %+v", j)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestPINFirstDigitStopsThePrompt(t *testing.T) {
	h := newHarness(t, []Settings{pinRoom(5)})
	c := h.join("2002", "c")
	if got := c.mixer().playing(c.id()); got != "enter_pin" {
		t.Fatalf("hears %q", got)
	}
	c.keys("8")
	if got := c.mixer().playing(c.id()); got != "" {
		t.Fatalf("after the first digit hears %q, want silence", got)
	}
}

func TestWrongPINThreeTimes(t *testing.T) {
	for _, decoy := range []bool{false, true} {
		name := map[bool]string{false: "pin room", true: "decoy"}[decoy]
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, []Settings{pinRoom(5)}, withDecoys)
			n := Number("2002")
			if decoy {
				n = "5550199"
			}
			c := h.join(n, "c")
			for try := 1; try <= 2; try++ {
				c.keys("0000#")
				if s := c.snap(); s.state != StateIVR || s.leaving {
					t.Fatalf("after wrong PIN %d: %+v", try, s)
				}
				if got := c.mixer().playing(c.id()); got != "wrong_pin+enter_pin" {
					t.Fatalf("after wrong PIN %d hears %q", try, got)
				}
			}
			c.keys(hostPIN + "#") // right for 2002, wrong for a decoy
			if !decoy {
				if c.state() != StateIn {
					t.Fatal("the right PIN on the third try was refused")
				}
				return
			}
			if s := c.snap(); !s.leaving {
				t.Fatalf("after the third wrong PIN: %+v", s)
			}
			if got := c.mixer().playing(c.id()); got != "goodbye_pin" {
				t.Fatalf("third wrong PIN: hears %q, want goodbye_pin", got)
			}
			if len(c.leg.disconnects()) != 0 {
				t.Fatal("hung up before the goodbye prompt ended")
			}
			c.keys(hostPIN + "#") // too late: ignored
			if n := len(h.ver.callsCopy()); n != 3 {
				t.Fatalf("verifier called %d times, want 3", n)
			}
			c.finish()
			if d := c.leg.disconnects(); len(d) != 1 {
				t.Fatalf("disconnects %v, want one", d)
			}
			if c.snap().present {
				t.Fatal("still in the room after hanging up")
			}
			f := h.auditOf("pin_failure")
			if len(f) != 3 {
				t.Fatalf("pin_failure audits %+v, want 3", f)
			}
			for i, e := range f {
				if e.Detail != "try "+string(rune('1'+i)) || e.Source != "192.0.2.10" || e.Room != n {
					t.Fatalf("pin_failure %d: %+v", i, e)
				}
			}
			if j := h.auditOf("join"); len(j) != 0 {
				t.Fatalf("a refused caller was audited as joining: %+v", j)
			}
			h.waitIdle()
		})
	}
}

// Wrong PINs in the pin room itself: the third ends the call too.
func TestWrongPINThirdTryEndsCall(t *testing.T) {
	h := newHarness(t, []Settings{pinRoom(5)})
	c := h.join("2002", "c")
	for _, k := range []string{"1#", "2#", "3#"} {
		c.keys(k) // one attempt at a time: keys during a check are dropped
	}
	if got := c.mixer().playing(c.id()); got != "goodbye_pin" {
		t.Fatalf("hears %q, want goodbye_pin", got)
	}
	if c.mixer().everInMeeting(c.id()) {
		t.Fatal("a caller with wrong PINs was mixed")
	}
	c.finish()
	if c.snap().present || len(c.leg.disconnects()) != 1 {
		t.Fatal("not hung up after goodbye_pin")
	}
	h.waitIdle()
}

func TestDecoy(t *testing.T) {
	h := newHarness(t, []Settings{pinRoom(5)}, withDecoys)
	if !h.m.Exists("5550199") {
		t.Fatal("with decoys every number exists")
	}
	a := h.join("5550199", "a")
	b := h.join("5550199", "b") // a decoy holds one caller: each gets its own
	for _, c := range []*caller{a, b} {
		if c.state() != StateIVR || c.mixer().playing(c.id()) != "enter_pin" {
			t.Fatalf("decoy caller not asked for a PIN: %+v", c.snap())
		}
	}
	if a.mixer() == b.mixer() {
		t.Fatal("two decoy callers share a room")
	}
	if snap := h.m.Snapshot(); len(snap) != 0 {
		t.Fatalf("decoys appear in the snapshot: %v", snap)
	}
	a.keys(hostPIN + "#")
	if a.state() != StateIVR {
		t.Fatal("a decoy accepted a PIN")
	}
	if vc := h.ver.callsCopy(); len(vc) != 1 || !vc[0].decoy {
		t.Fatalf("verifier was not told it checks a decoy: %+v", vc)
	}
	if got := a.mixer().playing(a.id()); got != "wrong_pin+enter_pin" {
		t.Fatalf("decoy after a PIN: %q", got)
	}
	for _, e := range h.auditCopy() {
		if e.Kind != "pin_failure" {
			t.Fatalf("decoy audited %+v", e)
		}
	}
}

// A decoy must never admit anyone, even if a verifier got it wrong: the
// API path already double-checks this; the keypad path should too.
func TestDecoyNeverAdmitsEvenIfVerifierAccepts(t *testing.T) {
	h := newHarness(t, []Settings{pinRoom(5)}, withDecoys)
	h.ver.lax = true
	c := h.join("5550199", "c")
	c.keys(hostPIN + "#")
	if s := c.snap(); s.state != StateIVR || s.role != Guest {
		t.Fatalf("decoy admitted a caller as %s/%s", s.role, s.state)
	}
	if _, err := h.api("5550199", hostPIN, "api"); !errors.Is(err, ErrBadPIN) {
		t.Fatalf("API join of a decoy: %v", err)
	}
}

func TestJoinAPI(t *testing.T) {
	tests := []struct {
		name       string
		room       Number
		pin        string
		noVerifier bool
		hostFirst  bool
		wantErr    error
		wantRole   Role
		wantState  State
		wantFail   bool // a pin_failure audit
	}{
		{name: "host PIN", room: "2002", pin: hostPIN, wantRole: Host, wantState: StateIn},
		{name: "guest PIN, no host", room: "2002", pin: guestPIN, wantState: StateLobby},
		{name: "guest PIN, host present", room: "2002", pin: guestPIN, hostFirst: true, wantState: StateIn},
		{name: "guest PIN, autolock with host", room: "3003", pin: guestPIN, hostFirst: true, wantState: StateLobby},
		{name: "wrong PIN", room: "2002", pin: "0000", wantErr: ErrBadPIN, wantFail: true},
		{name: "unknown room", room: "9999", pin: hostPIN, wantErr: ErrBadPIN, wantFail: true},
		{name: "open room needs no PIN", room: "1001", pin: "", wantState: StateIn},
		{name: "no verifier", room: "2002", pin: hostPIN, noVerifier: true, wantErr: ErrBadPIN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, []Settings{openRoom(5), pinRoom(5), autolockRoom(5)})
			if tt.noVerifier {
				h.m.cfg.Verifier = nil
			}
			var host *caller
			if tt.hostFirst {
				host = h.place(tt.room, "host")
			}
			p, err := h.api(tt.room, tt.pin, "Control")
			if !isErr(err, tt.wantErr) {
				t.Fatalf("JoinAPI: %v, want %v", err, tt.wantErr)
			}
			if got := len(h.auditOf("pin_failure")) > 0; got != tt.wantFail {
				t.Fatalf("pin_failure audited: %t, want %t", got, tt.wantFail)
			}
			if tt.room == "9999" {
				if vc := h.ver.callsCopy(); len(vc) != 1 || !vc[0].decoy {
					t.Fatalf("an unknown room must cost a verification like any other: %+v", vc)
				}
			}
			if err != nil {
				return
			}
			defer p.Leave("done")
			if p.Role() != tt.wantRole || snapOf(p).state != tt.wantState {
				t.Fatalf("role %s state %s, want %s %s", p.Role(), snapOf(p).state, tt.wantRole, tt.wantState)
			}
			if p.Input() != nil {
				t.Fatal("an API participant has an audio input")
			}
			if known := p.room.mixer.(*fakeMixer).known(p.ID()); known {
				t.Fatal("an API participant was added to the mixer")
			}
			info, err := p.Info()
			if err != nil || info.Protocol != "api" || info.Source != "198.51.100.7" {
				t.Fatalf("info %+v %v", info, err)
			}
			j := h.auditOf("join")
			if last := j[len(j)-1]; last.Participant != string(p.ID()) || last.Protocol != "api" || last.Role != tt.wantRole.String() {
				t.Fatalf("join audit %+v", last)
			}
			if host != nil && tt.wantState == StateLobby {
				if err := host.p.Admit(p.ID()); err != nil {
					t.Fatalf("admit API guest: %v", err)
				}
				if snapOf(p).state != StateIn {
					t.Fatal("API guest not admitted")
				}
			}
		})
	}
}

// An API host is a host: it may lock, and it admits guests waiting.
func TestJoinAPIHostActs(t *testing.T) {
	h := newHarness(t, []Settings{pinRoom(5)})
	g := h.place("2002", "guest")
	p, err := h.api("2002", hostPIN, "Control")
	if err != nil {
		t.Fatal(err)
	}
	h.settle()
	if g.state() != StateIn {
		t.Fatalf("guest waiting after an API host joined: %s", g.state())
	}
	if err := p.Lock(true); err != nil {
		t.Fatal(err)
	}
	if err := p.Disconnect(g.id()); err != nil {
		t.Fatal(err)
	}
	h.settle()
	if got := g.mixer().playing(g.id()); got != "disconnected" {
		t.Fatalf("guest hears %q", got)
	}
	g.finish()
	if g.snap().present {
		t.Fatal("guest still there")
	}
	p.Leave("token expired")
	h.waitIdle()
}
