package video

import (
	"errors"
	"sync"
	"testing"

	"vmrd/internal/codec"
	"vmrd/mixer/layout"
)

func TestFrameSlot(t *testing.T) {
	s := newFrameSlot()
	if s.take() || s.current() != nil {
		t.Fatal("a new slot has a frame")
	}
	steps := []struct {
		name        string
		write       []yuv // written before the take
		w, h        int
		wantDropped int
		want        yuv
	}{
		{"one frame", []yuv{palette[0]}, 64, 36, 0, palette[0]},
		{"the newest of three wins", []yuv{palette[1], palette[2], palette[3]}, 64, 36, 2, palette[3]},
		{"a new size", []yuv{palette[4]}, 33, 17, 0, palette[4]},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			dropped := 0
			for _, c := range st.write {
				d, err := s.write(solid(st.w, st.h, c))
				if err != nil {
					t.Fatal(err)
				}
				if d {
					dropped++
				}
			}
			if dropped != st.wantDropped {
				t.Errorf("%d dropped, want %d", dropped, st.wantDropped)
			}
			if !s.take() {
				t.Fatal("take found nothing new")
			}
			if s.take() {
				t.Error("take found a second new frame")
			}
			f := s.current()
			if f.Width != (st.w+1)&^1 && f.Width != st.w {
				t.Errorf("frame is %dx%d, want %dx%d", f.Width, f.Height, st.w, st.h)
			}
			if got := pixel(f, 0, 0); got != st.want {
				t.Errorf("frame shows %v, want %v", got, st.want)
			}
		})
	}
	if _, err := s.write(&codec.Frame{}); !errors.Is(err, codec.ErrBadFrame) {
		t.Errorf("empty frame: %v", err)
	}
}

// TestFrameSlotConcurrent is for the race detector: a writer and a reader
// never see a torn frame (every frame is one solid colour).
func TestFrameSlotConcurrent(t *testing.T) {
	s := newFrameSlot()
	frames := []*codec.Frame{solid(64, 36, palette[0]), solid(64, 36, palette[1])}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 5000 {
			if _, err := s.write(frames[i%2]); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for range 5000 {
		if !s.take() {
			continue
		}
		f := s.current()
		first := pixel(f, 0, 0)
		if last := pixel(f, 63, 35); last != first {
			t.Fatalf("torn frame: %v and %v", first, last)
		}
	}
	wg.Wait()
}

func TestWriteFrameCountsAndDoesNotAllocate(t *testing.T) {
	r := newRig(t, "4:0", nil)
	in := r.add("a", true)
	f := solid(64, 36, palette[0])
	in.WriteFrame(f)
	in.WriteFrame(f)
	in.WriteFrame(f)
	if allocs := testing.AllocsPerRun(50, func() { in.WriteFrame(f) }); allocs != 0 {
		t.Errorf("WriteFrame allocates %v times once warm", allocs)
	}
	in.WriteFrame(nil)
	st := in.Stats()
	// Three, plus AllocsPerRun's warm-up run and 50 runs; all unread but
	// the last.
	if st.Frames != 54 || st.Dropped != 53 || st.Rejected != 1 {
		t.Errorf("stats %+v, want 54 frames, 53 dropped, 1 rejected", st)
	}
	if got := r.m.Stats().FramesDropped; got != 53 {
		t.Errorf("mixer FramesDropped = %d, want 53", got)
	}
	r.tick()
	r.m.Remove("a")
	in.WriteFrame(f) // after Remove: ignored
	if in.Stats().Frames != 54 {
		t.Error("a removed input still takes frames")
	}
}

// TestOverlappingLayout: a picture-in-picture layout draws the small cell
// on top of the large one, every tick.
func TestOverlappingLayout(t *testing.T) {
	set, err := layout.NewSet(layout.Layout{Name: "pip", Cells: []layout.Cell{
		{W: 1, H: 1, Main: true, Fit: true},
		{X: 0.7, Y: 0.7, W: 0.25, H: 0.25},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, "pip", nil, func(c *Config) { c.Layouts = set })
	a := r.add("a", true)
	b := r.add("b", true)
	r.add("w", false)
	for i := range 3 {
		a.WriteFrame(solid(320, 180, palette[i]))
		if i == 0 {
			b.WriteFrame(solid(320, 180, palette[5]))
		}
		r.tick()
		c := r.seen("w")
		if got := pixel(c, 100, 60); !near(got, palette[i], 2) {
			t.Errorf("tick %d: main cell shows %v, want %v", i, got, palette[i])
		}
		if got := pixel(c, 280, 150); !near(got, palette[5], 2) {
			t.Errorf("tick %d: the picture in picture shows %v, want b's %v", i, got, palette[5])
		}
	}
}
