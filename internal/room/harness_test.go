package room

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The harness drives the room actor deterministically: a fake mixer records
// what each participant hears and lets the test finish a prompt, fake legs
// hang up the way a SIP leg does (Disconnect, then Leave), a fake verifier
// maps keyed strings to roles, and timers fire only when the test says so.

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// ---- clock and timers ----

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type timerState int

const (
	timerPending timerState = iota
	timerStopped
	timerFired
)

type fakeTimer struct {
	d     time.Duration
	f     func()
	state timerState
}

// fakeTimers is a manual AfterFunc: nothing fires until the test fires it.
type fakeTimers struct {
	mu     sync.Mutex
	timers []*fakeTimer
}

func (ft *fakeTimers) AfterFunc(d time.Duration, f func()) func() bool {
	t := &fakeTimer{d: d, f: f}
	ft.mu.Lock()
	ft.timers = append(ft.timers, t)
	ft.mu.Unlock()
	return func() bool {
		ft.mu.Lock()
		defer ft.mu.Unlock()
		if t.state == timerPending {
			t.state = timerStopped
			return true
		}
		return false
	}
}

// pending counts the timers of duration d that neither fired nor stopped.
func (ft *fakeTimers) pending(d time.Duration) int {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	n := 0
	for _, t := range ft.timers {
		if t.d == d && t.state == timerPending {
			n++
		}
	}
	return n
}

// expire marks the pending timers of duration d fired, as time.AfterFunc
// does the moment it starts the function's goroutine, and returns the
// functions to run: run them now (fire) or later (a late goroutine).
func (ft *fakeTimers) expire(d time.Duration) []func() {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	var fs []func()
	for _, t := range ft.timers {
		if t.d == d && t.state == timerPending {
			t.state = timerFired
			fs = append(fs, t.f)
		}
	}
	return fs
}

// fire runs every pending timer of duration d and returns how many ran.
func (ft *fakeTimers) fire(d time.Duration) int {
	fs := ft.expire(d)
	for _, f := range fs {
		f()
	}
	return len(fs)
}

// ---- mixer ----

type fakePlay struct {
	prompts []Prompt
	loop    bool
	done    func()
}

type fakeInput struct {
	mu    sync.Mutex
	muted bool
	sets  []bool
}

func (in *fakeInput) Write([]int16) {}

func (in *fakeInput) SetMuted(m bool) {
	in.mu.Lock()
	in.muted = m
	in.sets = append(in.sets, m)
	in.mu.Unlock()
}

func (in *fakeInput) isMuted() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.muted
}

type mixPart struct {
	present bool
	in      bool
	everIn  bool
	play    *fakePlay
	input   *fakeInput
	format  string
	plays   []string // every sequence played, "a+b" or "a(loop)"
	ops     []string
}

// fakeMixer records what the room asks for each participant. It calls a
// replaced or stopped sequence's done itself, like the real mixer, and the
// test finishes a sequence with finish.
type fakeMixer struct {
	mu         sync.Mutex
	parts      map[ParticipantID]*mixPart
	violations []string
	closed     bool
	addErr     error
}

func newFakeMixer() *fakeMixer { return &fakeMixer{parts: map[ParticipantID]*mixPart{}} }

func (f *fakeMixer) Add(id ParticipantID, format string, _ AudioSink) (AudioInput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.addErr != nil {
		return nil, f.addErr
	}
	p := f.parts[id]
	if p == nil {
		p = &mixPart{}
		f.parts[id] = p
	}
	if p.present {
		f.violations = append(f.violations, fmt.Sprintf("add of %s twice", id))
	}
	if f.closed {
		f.violations = append(f.violations, fmt.Sprintf("add of %s after close", id))
	}
	p.present, p.in, p.format = true, false, format
	p.input = &fakeInput{}
	p.ops = append(p.ops, "add")
	return p.input, nil
}

// part returns id's record, noting a violation if it is not added. Locked.
func (f *fakeMixer) part(op string, id ParticipantID) *mixPart {
	p := f.parts[id]
	if p == nil || !p.present {
		f.violations = append(f.violations, fmt.Sprintf("%s of %s, which is not in the mixer", op, id))
		return nil
	}
	if f.closed {
		f.violations = append(f.violations, fmt.Sprintf("%s of %s after close", op, id))
	}
	p.ops = append(p.ops, op)
	return p
}

func (f *fakeMixer) Remove(id ParticipantID) {
	f.mu.Lock()
	p := f.part("remove", id)
	var old *fakePlay
	if p != nil {
		p.present, p.in = false, false
		old, p.play = p.play, nil
	}
	f.mu.Unlock()
	if old != nil && old.done != nil {
		old.done()
	}
}

func (f *fakeMixer) SetInMeeting(id ParticipantID, in bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.part(map[bool]string{true: "in", false: "out"}[in], id); p != nil {
		p.in = in
		p.everIn = p.everIn || in
	}
}

func (f *fakeMixer) Play(id ParticipantID, _ string, prompts []Prompt, loop bool, done func()) {
	f.mu.Lock()
	p := f.part("play", id)
	var old *fakePlay
	if p != nil {
		old = p.play
		p.play = &fakePlay{prompts: slices.Clone(prompts), loop: loop, done: done}
		s := joinPrompts(prompts)
		if loop {
			s += "(loop)"
		}
		p.plays = append(p.plays, s)
	}
	f.mu.Unlock()
	if old != nil && old.done != nil {
		old.done()
	}
}

func (f *fakeMixer) StopPlay(id ParticipantID) {
	f.mu.Lock()
	p := f.part("stop", id)
	var old *fakePlay
	if p != nil {
		old, p.play = p.play, nil
	}
	f.mu.Unlock()
	if old != nil && old.done != nil {
		old.done()
	}
}

func (f *fakeMixer) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		f.violations = append(f.violations, "closed twice")
	}
	f.closed = true
	for id, p := range f.parts {
		if p.present {
			f.violations = append(f.violations, fmt.Sprintf("closed with %s still added", id))
		}
	}
	return nil
}

func joinPrompts(ps []Prompt) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = string(p)
	}
	return strings.Join(s, "+")
}

// finish ends id's current sequence as if it played to its end. It
// reports whether a finite sequence was playing.
func (f *fakeMixer) finish(id ParticipantID) bool {
	f.mu.Lock()
	p := f.parts[id]
	if p == nil || p.play == nil || p.play.loop {
		f.mu.Unlock()
		return false
	}
	done := p.play.done
	p.play = nil
	f.mu.Unlock()
	if done != nil {
		done()
	}
	return true
}

// playing is what id hears from its player now ("" for nothing).
func (f *fakeMixer) playing(id ParticipantID) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.parts[id]
	if p == nil || p.play == nil {
		return ""
	}
	s := joinPrompts(p.play.prompts)
	if p.play.loop {
		s += "(loop)"
	}
	return s
}

func (f *fakeMixer) plays(id ParticipantID) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p := f.parts[id]; p != nil {
		return slices.Clone(p.plays)
	}
	return nil
}

func (f *fakeMixer) inMeeting(id ParticipantID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.parts[id]
	return p != nil && p.present && p.in
}

func (f *fakeMixer) everInMeeting(id ParticipantID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.parts[id]
	return p != nil && p.everIn
}

func (f *fakeMixer) present(id ParticipantID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.parts[id]
	return p != nil && p.present
}

func (f *fakeMixer) known(id ParticipantID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.parts[id] != nil
}

// mutedInput reports whether id's current input is muted.
func (f *fakeMixer) mutedInput(id ParticipantID) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.parts[id]
	return p != nil && p.input != nil && p.input.isMuted()
}

func (f *fakeMixer) problems() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.violations)
}

func (f *fakeMixer) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// ---- leg ----

// fakeLeg hangs up like a SIP leg: Disconnect, then Leave. A stubborn leg
// records the request and does not leave (a leg whose BYE is stuck).
type fakeLeg struct {
	mu       sync.Mutex
	p        *Participant
	reasons  []string
	stubborn bool
	left     bool
}

func (l *fakeLeg) Disconnect(reason string) {
	l.mu.Lock()
	l.reasons = append(l.reasons, reason)
	p, leave := l.p, !l.stubborn && !l.left
	if p != nil && leave {
		l.left = true
	}
	l.mu.Unlock()
	if p != nil && leave {
		p.Leave("bye")
	}
}

// attach gives the leg its participant once Join returned; a Disconnect
// that came first is acted on now.
func (l *fakeLeg) attach(p *Participant) {
	l.mu.Lock()
	l.p = p
	leave := len(l.reasons) > 0 && !l.stubborn && !l.left
	if leave {
		l.left = true
	}
	l.mu.Unlock()
	if leave {
		p.Leave("bye")
	}
}

func (l *fakeLeg) disconnects() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.reasons)
}

// ---- verifier ----

type verifyCall struct {
	room    Number
	source  string
	entered string
	decoy   bool
}

// fakeVerifier maps keyed strings to roles; anything else is ErrBadPIN, and
// a decoy is always refused. With a gate, Verify waits for it (or ctx).
type fakeVerifier struct {
	mu      sync.Mutex
	roles   map[string]Role
	calls   []verifyCall
	gate    chan struct{}
	waiting int
	ctxDone int // Verify calls that ended because their ctx ended
	lax     bool
}

func (v *fakeVerifier) Verify(ctx context.Context, s Settings, source, entered string) (Role, error) {
	v.mu.Lock()
	v.calls = append(v.calls, verifyCall{room: s.Number, source: source, entered: entered, decoy: s.Decoy})
	gate := v.gate
	v.waiting++
	v.mu.Unlock()
	defer func() { v.mu.Lock(); v.waiting--; v.mu.Unlock() }()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			v.mu.Lock()
			v.ctxDone++
			v.mu.Unlock()
			return Guest, ctx.Err()
		}
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	role, ok := v.roles[entered]
	if !ok || (s.Decoy && !v.lax) {
		return Guest, ErrBadPIN
	}
	return role, nil
}

func (v *fakeVerifier) callsCopy() []verifyCall {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.calls)
}

func (v *fakeVerifier) inFlight() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.waiting
}

// ---- logs ----

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// ---- harness ----

const (
	hostPIN  = "8675309"
	guestPIN = "2468642"
	grace    = 45 * time.Second
)

type harness struct {
	t      *testing.T
	m      *Manager
	clock  *fakeClock
	timers *fakeTimers
	ver    *fakeVerifier
	logs   *lockedBuffer

	mu      sync.Mutex
	rooms   map[Number]Settings
	mixers  []*fakeMixer
	audits  []AuditEvent
	callers []*caller
}

type harnessOption func(*Config)

func withDecoys(c *Config) { c.UnknownAsDecoy = true }

// newHarness starts a manager over rooms. Its cleanup closes the manager
// (failing the test if Close hangs), checks the fake mixers for calls the
// contract forbids, and checks for leaked goroutines.
func newHarness(t *testing.T, rooms []Settings, opts ...harnessOption) *harness {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) }) // runs last
	h := &harness{
		t:      t,
		clock:  &fakeClock{now: time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)},
		timers: &fakeTimers{},
		ver:    &fakeVerifier{roles: map[string]Role{hostPIN: Host, guestPIN: Guest}},
		logs:   &lockedBuffer{},
		rooms:  map[Number]Settings{},
	}
	for _, s := range rooms {
		h.rooms[s.Number] = s
	}
	cfg := Config{
		Lookup: func(n Number) (Settings, bool) {
			h.mu.Lock()
			defer h.mu.Unlock()
			s, ok := h.rooms[n]
			return s, ok
		},
		NewMixer: func(Settings) (Mixer, error) {
			f := newFakeMixer()
			h.mu.Lock()
			h.mixers = append(h.mixers, f)
			h.mu.Unlock()
			return f, nil
		},
		Verifier: h.ver,
		Audit: func(e AuditEvent) {
			h.mu.Lock()
			h.audits = append(h.audits, e)
			h.mu.Unlock()
		},
		Logger:    slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:     h.clock.Now,
		AfterFunc: h.timers.AfterFunc,
	}
	for _, o := range opts {
		o(&cfg)
	}
	h.m = NewManager(cfg)
	t.Cleanup(h.close)
	return h
}

func (h *harness) close() {
	h.t.Helper()
	done := make(chan struct{})
	go func() { _ = h.m.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		h.t.Error("Manager.Close did not return within 5s; making every leg leave")
		h.mu.Lock()
		cs := slices.Clone(h.callers)
		h.mu.Unlock()
		for _, c := range cs {
			c.p.Leave("test cleanup")
		}
		<-done
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, f := range h.mixers {
		for _, v := range f.problems() {
			h.t.Errorf("mixer %d: %s", i, v)
		}
		if !f.isClosed() {
			h.t.Errorf("mixer %d was never closed", i)
		}
	}
}

// caller is one participant of a test with its leg.
type caller struct {
	p   *Participant
	leg *fakeLeg
	h   *harness
}

func (c *caller) id() ParticipantID { return c.p.ID() }

func (c *caller) mixer() *fakeMixer { return c.p.room.mixer.(*fakeMixer) }

// dial joins a SIP caller; the error is returned, not fatal.
func (h *harness) dial(n Number, name string) (*caller, error) {
	leg := &fakeLeg{}
	p, err := h.m.Join(context.Background(), JoinRequest{Number: n, DisplayName: name,
		Source: "192.0.2.10", Protocol: "sip", Leg: leg, AudioFormat: "PCMU/8000"})
	if err != nil {
		return nil, err
	}
	leg.attach(p)
	c := &caller{p: p, leg: leg, h: h}
	h.mu.Lock()
	h.callers = append(h.callers, c)
	h.mu.Unlock()
	return c, nil
}

func (h *harness) join(n Number, name string) *caller {
	h.t.Helper()
	c, err := h.dial(n, name)
	if err != nil {
		h.t.Fatalf("join %s as %s: %v", n, name, err)
	}
	h.settle()
	return c
}

// keys presses each key of s and lets the room act on them.
func (c *caller) keys(s string) {
	c.h.t.Helper()
	for _, d := range s {
		c.p.Digit(d)
	}
	c.h.settle()
}

// joinAs joins n and keys pin followed by '#'.
func (h *harness) joinAs(n Number, name, pin string) *caller {
	h.t.Helper()
	c := h.join(n, name)
	c.keys(pin + "#")
	return c
}

func (h *harness) api(n Number, pin, name string) (*Participant, error) {
	return h.m.JoinAPI(context.Background(), string(n), pin, name, "198.51.100.7")
}

// settle waits until every active room has handled everything queued and
// nothing is in flight: PIN checks (unless held at a gate) and legs asked
// to hang up that have not left yet.
func (h *harness) settle() {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		busy := false
		h.ver.mu.Lock()
		gated := h.ver.gate != nil
		h.ver.mu.Unlock()
		for _, r := range h.activeRooms() {
			_ = r.do(context.Background(), func(st *roomState) {
				if st == nil {
					return
				}
				for _, p := range st.participants {
					if p.verifying && !gated {
						busy = true
					}
					if l, ok := p.leg.(*fakeLeg); ok && p.hungUp && !l.stubborn {
						busy = true
					}
				}
			})
		}
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatal("room did not settle within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}

func (h *harness) activeRooms() []*Room {
	h.m.mu.Lock()
	defer h.m.mu.Unlock()
	out := make([]*Room, 0, len(h.m.rooms))
	for _, r := range h.m.rooms {
		out = append(out, r)
	}
	return out
}

// fire runs the pending timers of duration d, then settles.
func (h *harness) fire(d time.Duration) int {
	h.t.Helper()
	n := h.timers.fire(d)
	h.settle()
	return n
}

// finish plays c's current prompt to its end, then settles.
func (c *caller) finish() {
	c.h.t.Helper()
	if !c.mixer().finish(c.id()) {
		c.h.t.Fatalf("%s: no finite prompt playing (playing %q)", c.id(), c.mixer().playing(c.id()))
	}
	c.h.settle()
}

// snap is a participant as the actor sees it.
type snap struct {
	state       State
	role        Role
	muted       bool
	mutedByHost bool
	leaving     bool
	present     bool // still in the room's participant map
}

func (c *caller) snap() snap {
	return snapOf(c.p)
}

func snapOf(p *Participant) snap {
	var s snap
	read := func(st *roomState) {
		s = snap{state: p.state, role: p.role, muted: p.muted, mutedByHost: p.mutedByHost, leaving: p.leaving}
		if st != nil {
			s.present = st.participants[p.id] == p
		}
	}
	if err := p.room.do(context.Background(), read); err != nil {
		<-p.room.done // the actor has finished: its writes happened before
		read(nil)
	}
	return s
}

func (c *caller) state() State { return c.snap().state }

// conf reads the room's conference state on the actor.
func (h *harness) conf(p *Participant) ConferenceInfo {
	h.t.Helper()
	var ci ConferenceInfo
	if err := p.room.do(context.Background(), func(st *roomState) {
		if st != nil {
			ci = p.room.info(st)
		}
	}); err != nil {
		h.t.Fatalf("room of %s is gone: %v", p.ID(), err)
	}
	return ci
}

func (h *harness) auditCopy() []AuditEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.audits)
}

// auditOf returns the audit events of kind.
func (h *harness) auditOf(kind string) []AuditEvent {
	var out []AuditEvent
	for _, e := range h.auditCopy() {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// waitIdle waits until no room is active.
func (h *harness) waitIdle() {
	h.t.Helper()
	waitFor(h.t, "rooms idle", func() bool {
		h.m.mu.Lock()
		defer h.m.mu.Unlock()
		return len(h.m.rooms) == 0
	})
}

// drain reads every event already queued on ch, without blocking.
func drain(ch <-chan Event) (evs []Event, closed bool) {
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return evs, true
			}
			evs = append(evs, ev)
		default:
			return evs, false
		}
	}
}

func describe(evs []Event) []string {
	out := make([]string, 0, len(evs))
	for _, ev := range evs {
		switch {
		case ev.Participant != nil:
			out = append(out, fmt.Sprintf("%s %s %s/%s", ev.Type, ev.Participant.ID, ev.Participant.Role, ev.Participant.State))
		case ev.Conference != nil:
			c := ev.Conference
			out = append(out, fmt.Sprintf("%s locked=%t guests_muted=%t host=%t", ev.Type, c.Locked, c.GuestsMuted, c.HostPresent))
		default:
			out = append(out, string(ev.Type))
		}
	}
	return out
}

func auditJSON(t *testing.T, evs []AuditEvent) string {
	t.Helper()
	b, err := json.Marshal(evs)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func isErr(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

var (
	_ Mixer      = (*fakeMixer)(nil)
	_ AudioInput = (*fakeInput)(nil)
	_ Leg        = (*fakeLeg)(nil)
	_ Verifier   = (*fakeVerifier)(nil)
)

// Rooms used by most tests.
func openRoom(max int) Settings {
	return Settings{Number: "1001", Name: "Open", MaxParticipants: max, Type: Open, Language: "nb", GracePeriod: grace}
}

func pinRoom(max int) Settings {
	return Settings{Number: "2002", Name: "Legekontor", MaxParticipants: max, Type: PIN, Language: "nb", GracePeriod: grace}
}

func autolockRoom(max int) Settings {
	return Settings{Number: "3003", Name: "Konsultasjon", MaxParticipants: max, Type: Autolock, Language: "en", GracePeriod: grace}
}
