package room

import (
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
)

// fakeVideo records what the room tells its compositor.
type fakeVideo struct {
	mu      sync.Mutex
	visible map[ParticipantID]bool
	slate   map[ParticipantID]Slate
	removed map[ParticipantID]bool
	tiles   map[ParticipantID]string
	pins    map[ParticipantID]int
	layouts []string
	closed  bool
}

func newFakeVideo() *fakeVideo {
	return &fakeVideo{visible: map[ParticipantID]bool{}, slate: map[ParticipantID]Slate{}, removed: map[ParticipantID]bool{},
		tiles: map[ParticipantID]string{}, pins: map[ParticipantID]int{}}
}

func (f *fakeVideo) Tile(p *Participant) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tiles[p.ID()] = p.DisplayName()
}

func (f *fakeVideo) SetVisible(id ParticipantID, v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.visible[id] = v
}

func (f *fakeVideo) SetSlate(id ParticipantID, s Slate) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.slate[id] = s
}

func (f *fakeVideo) SetLayout(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.layouts = append(f.layouts, name)
	return nil
}

func (f *fakeVideo) Pin(id ParticipantID, cell int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pins[id] = cell
}

func (f *fakeVideo) Unpin(id ParticipantID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.pins, id)
}

func (f *fakeVideo) pinned() map[ParticipantID]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.pins)
}

func (f *fakeVideo) Remove(id ParticipantID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed[id] = true
}

func (f *fakeVideo) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func (f *fakeVideo) state(id ParticipantID) (visible bool, s Slate, removed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.visible[id], f.slate[id], f.removed[id]
}

func (f *fakeVideo) tile(id ParticipantID) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name, ok := f.tiles[id]
	return name, ok
}

func (f *fakeVideo) layoutHistory() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.layouts...)
}

func withVideo(fv *fakeVideo) harnessOption {
	return func(c *Config) {
		c.NewVideoMixer = func(Settings) (VideoMixer, error) { return fv, nil }
	}
}

func videoPINRoom() Settings {
	s := pinRoom(10)
	s.Layout = "1:7"
	s.Layouts = []string{"1:0", "1:7", "4:0"}
	return s
}

// Callers keying the PIN or waiting in the lobby see a slate and are seen
// by nobody; in the meeting they see it and are seen.
func TestVideoFollowsParticipantState(t *testing.T) {
	fv := newFakeVideo()
	h := newHarness(t, []Settings{videoPINRoom()}, withVideo(fv))
	host := h.joinAs("2002", "Host", hostPIN)
	if err := host.p.Lock(true); err != nil {
		t.Fatal(err)
	}
	ivr := h.join("2002", "Keying")
	lobby := h.joinAs("2002", "Waiting", guestPIN)
	cases := []struct {
		name    string
		c       *caller
		visible bool
		slate   Slate
	}{
		{"host in meeting", host, true, SlateNone},
		{"caller entering the PIN", ivr, false, SlatePIN},
		{"guest in the lobby", lobby, false, SlateLobby},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, s, _ := fv.state(c.c.id())
			if v != c.visible || s != c.slate {
				t.Fatalf("visible %v slate %s; want %v %s", v, s, c.visible, c.slate)
			}
			// Every caller has audio, so the compositor knows its name
			// for a tile, shown when it is visible and has no video.
			if name, ok := fv.tile(c.c.id()); !ok || name != c.c.p.DisplayName() {
				t.Fatalf("tile %q (%v), want one named %q", name, ok, c.c.p.DisplayName())
			}
		})
	}
	if err := host.p.Admit(lobby.id()); err != nil {
		t.Fatal(err)
	}
	h.settle()
	if v, s, _ := fv.state(lobby.id()); !v || s != SlateNone {
		t.Fatalf("admitted guest: visible %v slate %s; want the meeting", v, s)
	}
	lobby.p.Leave("hung up")
	h.settle()
	if _, _, removed := fv.state(lobby.id()); !removed {
		t.Fatal("a guest who left is still in the compositor")
	}
}

func TestLayoutChanges(t *testing.T) {
	fv := newFakeVideo()
	h := newHarness(t, []Settings{videoPINRoom()}, withVideo(fv))
	host := h.joinAs("2002", "Host", hostPIN)
	guest := h.joinAs("2002", "Guest", guestPIN)

	if err := guest.p.SetLayout("4:0"); !errors.Is(err, ErrNotHost) {
		t.Fatalf("guest SetLayout = %v, want ErrNotHost", err)
	}
	if err := host.p.SetLayout("3:3"); !errors.Is(err, ErrBadLayout) {
		t.Fatalf("unknown layout = %v, want ErrBadLayout", err)
	}
	if err := host.p.SetLayout("4:0"); err != nil {
		t.Fatal(err)
	}
	info, err := host.p.Conference()
	if err != nil || info.Layout != "4:0" {
		t.Fatalf("conference layout %q (%v), want 4:0", info.Layout, err)
	}
	host.keys("*8") // 4:0 -> 1:0, wrapping around the list
	guest.keys("*8")
	host.keys("*8") // 1:0 -> 1:7
	if got, want := fv.layoutHistory(), []string{"4:0", "1:0", "1:7"}; !slices.Equal(got, want) {
		t.Fatalf("layouts %v, want %v (guests may not switch)", got, want)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, a := range h.audits {
		if a.Kind == "layout" {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("%d layout audit events, want 3", n)
	}
}

// Spotlit participants keep the first cells in the order they were spotlit;
// when one leaves, the next moves up.
func TestSpotlight(t *testing.T) {
	fv := newFakeVideo()
	h := newHarness(t, []Settings{videoPINRoom()}, withVideo(fv))
	host := h.joinAs("2002", "Clinician", hostPIN)
	interp := h.joinAs("2002", "Interpreter", guestPIN)
	patient := h.joinAs("2002", "Patient", guestPIN)

	if err := patient.p.Spotlight(interp.id(), true); !errors.Is(err, ErrNotHost) {
		t.Fatalf("guest spotlight = %v, want ErrNotHost", err)
	}
	for _, c := range []*caller{interp, host} {
		if err := host.p.Spotlight(c.id(), true); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := fv.pinned(), map[ParticipantID]int{interp.id(): 0, host.id(): 1}; !maps.Equal(got, want) {
		t.Fatalf("pins %v, want %v", got, want)
	}
	list, err := host.p.Participants()
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range list {
		want := map[ParticipantID]int{interp.id(): 1, host.id(): 2}[i.ID]
		if i.Spotlight != want {
			t.Errorf("%s spotlight %d, want %d", i.DisplayName, i.Spotlight, want)
		}
	}
	interp.p.Leave("hung up")
	h.settle()
	if cell, ok := fv.pinned()[host.id()]; !ok || cell != 0 {
		t.Fatalf("pins after the interpreter left %v, want the clinician in cell 0", fv.pinned())
	}
	if err := host.p.Spotlight(host.id(), false); err != nil {
		t.Fatal(err)
	}
	if _, ok := fv.pinned()[host.id()]; ok {
		t.Fatal("spotlight off left the pin")
	}
}

// A browser joins with a control API token, then attaches its media: it
// keeps its role and state (here: waiting in the lobby), hears the lobby
// and sees the slate until admitted.
func TestAttachMedia(t *testing.T) {
	fv := newFakeVideo()
	h := newHarness(t, []Settings{autolockRoom(10)}, withVideo(fv))
	host := h.joinAs("3003", "Host", hostPIN)
	p, err := h.api("3003", guestPIN, "Browser")
	if err != nil {
		t.Fatal(err)
	}
	h.settle()
	if _, ok := fv.tile(p.ID()); ok {
		t.Fatal("an API participant without media got a name tile")
	}
	leg := &fakeLeg{}
	leg.attach(p)
	if _, err := p.AttachMedia(MediaRequest{Protocol: "webrtc", Encryption: "dtls-srtp", Leg: leg, AudioFormat: "opus/48000/2", Sink: nil}); err != nil {
		t.Fatal(err)
	}
	h.settle()
	mx := host.mixer()
	if !mx.present(p.ID()) || mx.inMeeting(p.ID()) {
		t.Fatalf("browser in the lobby: in mixer %v, in meeting %v; want isolated", mx.present(p.ID()), mx.inMeeting(p.ID()))
	}
	if _, s, _ := fv.state(p.ID()); s != SlateLobby {
		t.Fatalf("browser in the lobby sees slate %s", s)
	}
	if _, ok := fv.tile(p.ID()); !ok {
		t.Fatal("a browser with media has no name tile")
	}
	if _, err := p.AttachMedia(MediaRequest{Protocol: "webrtc", AudioFormat: "opus/48000/2"}); !errors.Is(err, ErrMediaAttached) {
		t.Fatalf("second attach = %v, want ErrMediaAttached", err)
	}
	if err := host.p.Admit(p.ID()); err != nil {
		t.Fatal(err)
	}
	h.settle()
	if !mx.inMeeting(p.ID()) {
		t.Fatal("admitted browser is not in the mix")
	}
	if v, s, _ := fv.state(p.ID()); !v || s != SlateNone {
		t.Fatalf("admitted browser: visible %v slate %s", v, s)
	}
	info, _ := p.Info()
	if info.Protocol != "webrtc" || info.Encryption != "dtls-srtp" {
		t.Fatalf("info %+v", info)
	}
}
