package room

import (
	"errors"
	"sync"
	"testing"
)

type fakeStreamer struct {
	mu     sync.Mutex
	calls  []string
	report func(StreamStatus)
}

func (f *fakeStreamer) Start() error {
	f.mu.Lock()
	f.calls = append(f.calls, "start")
	f.mu.Unlock()
	f.report(StreamStatus{State: "live"})
	return nil
}

func (f *fakeStreamer) Stop() {
	f.mu.Lock()
	f.calls = append(f.calls, "stop")
	f.mu.Unlock()
	f.report(StreamStatus{State: "stopped"})
}

func (f *fakeStreamer) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "close")
	return nil
}

func (f *fakeStreamer) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func largeRoom(auto bool) Settings {
	s := pinRoom(10)
	s.Type = Large
	s.StreamAutoStart = auto
	return s
}

func withStreamer(fs *fakeStreamer) harnessOption {
	return func(c *Config) {
		c.NewStreamer = func(_ Settings, _ Mixer, _ VideoMixer, report func(StreamStatus)) (Streamer, error) {
			fs.report = report
			return fs, nil
		}
	}
}

func TestStreamControl(t *testing.T) {
	fs := &fakeStreamer{}
	h := newHarness(t, []Settings{largeRoom(false)}, withStreamer(fs))
	host := h.joinAs("2002", "Host", hostPIN)
	guest := h.joinAs("2002", "Speaker", guestPIN)
	if info := h.conf(host.p); info.Stream == nil || info.Stream.State != "idle" {
		t.Fatalf("stream before start: %+v, want idle", info.Stream)
	}
	if err := guest.p.StartStream(); !errors.Is(err, ErrNotHost) {
		t.Fatalf("guest start_stream = %v, want ErrNotHost", err)
	}
	if err := host.p.StartStream(); err != nil {
		t.Fatal(err)
	}
	h.settle()
	if info := h.conf(host.p); info.Stream == nil || info.Stream.State != "live" {
		t.Fatalf("stream after start: %+v, want live", info.Stream)
	}
	host.keys("*9") // live: the keypad stops it
	h.settle()
	if info := h.conf(host.p); info.Stream.State != "stopped" {
		t.Fatalf("stream after *9: %+v, want stopped", info.Stream)
	}
	host.keys("*9")
	if got := fs.log(); len(got) != 3 || got[0] != "start" || got[1] != "stop" || got[2] != "start" {
		t.Fatalf("streamer calls %v", got)
	}
	host.p.Leave("bye")
	guest.p.Leave("bye")
	h.settle()
	waitFor(t, "streamer closed with the room", func() bool {
		l := fs.log()
		return len(l) > 0 && l[len(l)-1] == "close"
	})
}

func TestStreamAutoStartAndOtherRooms(t *testing.T) {
	fs := &fakeStreamer{}
	h := newHarness(t, []Settings{largeRoom(true), openRoom(5)}, withStreamer(fs))
	g := h.joinAs("2002", "Early speaker", guestPIN)
	if len(fs.log()) != 0 {
		t.Fatalf("stream started before a host came: %v", fs.log())
	}
	h.joinAs("2002", "Host", hostPIN)
	if got := fs.log(); len(got) != 1 || got[0] != "start" {
		t.Fatalf("streamer calls after the host joined: %v, want start", got)
	}
	_ = g
	o := h.join("1001", "Open")
	if err := o.p.StartStream(); !errors.Is(err, ErrNoStream) && !errors.Is(err, ErrNotHost) {
		t.Fatalf("start_stream in an open room = %v", err)
	}
	if info := h.conf(o.p); info.Stream != nil {
		t.Fatalf("an open room shows a stream: %+v", info.Stream)
	}
}
