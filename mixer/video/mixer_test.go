package video

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"vmrd/internal/codec"
	"vmrd/internal/media"
	"vmrd/mixer/layout"
)

// TestWhoSeesWhom: participant i sends colour i; in 4:0 everyone sees the
// other three in join order and never themselves.
func TestWhoSeesWhom(t *testing.T) {
	tests := []struct {
		name   string
		layout string
		n      int
		// want[viewer] lists the participant expected in each cell; -1
		// is an empty cell.
		want [][]int
	}{
		{"4:0 with four", "4:0", 4, [][]int{
			{1, 2, 3, -1},
			{0, 2, 3, -1},
			{0, 1, 3, -1},
			{0, 1, 2, -1},
		}},
		{"4:0 with two", "4:0", 2, [][]int{
			{1, -1, -1, -1},
			{0, -1, -1, -1},
		}},
		{"1:7 with three", "1:7", 3, [][]int{
			{1, 2, -1, -1, -1, -1, -1, -1},
			{0, 2, -1, -1, -1, -1, -1, -1},
			{0, 1, -1, -1, -1, -1, -1, -1},
		}},
		{"9:0 with six", "9:0", 6, [][]int{
			{1, 2, 3, 4, 5, -1, -1, -1, -1},
			{0, 2, 3, 4, 5, -1, -1, -1, -1},
			{0, 1, 3, 4, 5, -1, -1, -1, -1},
			{0, 1, 2, 4, 5, -1, -1, -1, -1},
			{0, 1, 2, 3, 5, -1, -1, -1, -1},
			{0, 1, 2, 3, 4, -1, -1, -1, -1},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.layout, nil)
			for i := range tt.n {
				in := r.add(fmt.Sprint("p", i), true)
				in.WriteFrame(solid(640, 360, palette[i]))
			}
			r.tick()
			for v := range tt.n {
				id := fmt.Sprint("p", v)
				canvas := r.seen(id)
				for cell, who := range tt.want[v] {
					x, y := centre(canvas, tt.layout, cell)
					got := pixel(canvas, x, y)
					switch {
					case who >= 0 && !near(got, palette[who], 2):
						t.Errorf("%s: cell %d shows %v, want p%d's %v", id, cell, got, who, palette[who])
					case who < 0 && !near(got, emptyCell, 2):
						t.Errorf("%s: cell %d shows %v, want empty %v", id, cell, got, emptyCell)
					}
					if near(got, palette[v], 8) {
						t.Errorf("%s sees their own colour in cell %d", id, cell)
					}
				}
			}
			if got := r.f.open(); got != tt.n {
				t.Errorf("%d encoders, want one per participant (%d)", got, tt.n)
			}
		})
	}
}

// TestSlate: a participant entering the PIN or in the lobby sees the slate
// and nothing of the meeting, and the meeting does not see them.
func TestSlate(t *testing.T) {
	r := newRig(t, "4:0", nil)
	for i := range 3 {
		r.add(fmt.Sprint("p", i), true).WriteFrame(solid(640, 360, palette[i]))
	}
	lobby := r.add("lobby", true) // visible, but a slate overrides it
	lobby.WriteFrame(solid(640, 360, palette[3]))
	if err := r.m.SetSlate("lobby", "Venter på at verten skal slippe deg inn\nWaiting for the host to let you in"); err != nil {
		t.Fatal(err)
	}
	r.tick()

	slate := r.seen("lobby")
	slateEnc := r.sinks["lobby"].lastSerial(t)
	bright := 0
	for y := range slate.Height {
		for x := range slate.Width {
			p := pixel(slate, x, y)
			for i, c := range palette[:4] {
				if near(p, c, 8) {
					t.Fatalf("slate pixel (%d,%d) %v looks like p%d's colour", x, y, p, i)
				}
			}
			if p.y > 200 {
				bright++
			}
		}
	}
	if bright == 0 {
		t.Error("the slate has no text on it")
	}
	for i := range 3 {
		c := r.seen(fmt.Sprint("p", i))
		for cell := range 4 {
			x, y := centre(c, "4:0", cell)
			if near(pixel(c, x, y), palette[3], 8) {
				t.Errorf("p%d sees the participant in the lobby", i)
			}
		}
	}

	// Admitted: the slate goes, the meeting shows, and the first picture
	// in the new group is a keyframe.
	if err := r.m.SetSlate("lobby", ""); err != nil {
		t.Fatal(err)
	}
	r.tick()
	c := r.seen("lobby")
	for cell := range 3 {
		x, y := centre(c, "4:0", cell)
		if got := pixel(c, x, y); !near(got, palette[cell], 2) {
			t.Errorf("admitted participant sees %v in cell %d, want %v", got, cell, palette[cell])
		}
	}
	// The participant's stream goes on from the same encoder: the slate
	// group had them alone and now serves their meeting view.
	if got := r.sinks["lobby"].lastSerial(t); got != slateEnc {
		t.Errorf("admitted participant moved from encoder %d to %d", slateEnc, got)
	}
	if c := r.seen("p0"); !near(cellPixel(c, "4:0", 2), palette[3], 2) {
		t.Errorf("p0 does not see the admitted participant in cell 2")
	}
}

func TestGroupsAreShared(t *testing.T) {
	tests := []struct {
		name     string
		layout   string
		n        int
		speakers int // the first ones speak long enough to be promoted
		vp8      int // the last ones use VP8
		max      int
		exact    bool
	}{
		{"100 in 1:7", "1:7", 100, 0, 0, 9, true},
		{"100 in 1:7 with speakers", "1:7", 100, 3, 0, 9, true},
		// The eight shown (H.264) get their own views; everyone else
		// shares the view of nobody, once per codec.
		{"100 in 1:7, two codecs", "1:7", 100, 0, 50, 10, true},
		{"4 in 4:0", "4:0", 4, 0, 0, 4, true},
		{"30 in 25:0", "25:0", 30, 0, 0, 26, true},
		{"1 alone", "1:7", 1, 0, 0, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, tt.layout, &fakeFactory{})
			for i := range tt.n {
				out := Output{Codec: codec.H264, PacketizationMode: 1}
				if i >= tt.n-tt.vp8 {
					out = Output{Codec: codec.VP8}
				}
				in := r.addOut(fmt.Sprint("p", i), true, out)
				in.SetSpeaking(i < tt.speakers)
			}
			for range 3 * DefaultFPS {
				r.tick()
			}
			if got := r.f.open(); got > tt.max || (tt.exact && got != tt.max) {
				t.Errorf("%d encoders, want %d", got, tt.max)
			}
			if st := r.m.Stats(); st.Groups != r.f.open() || st.EncodersActive != r.f.open() {
				t.Errorf("stats say %d groups, %d encoders; %d are open", st.Groups, st.EncodersActive, r.f.open())
			}
			for id, s := range r.sinks {
				if s.count() == 0 {
					t.Fatalf("%s was sent nothing", id)
				}
			}
		})
	}
}

func TestForceKeyframeRateLimited(t *testing.T) {
	r := newRig(t, "4:0", nil)
	r.add("a", true)
	r.add("b", true)
	r.tick()
	r.tick()
	enc := r.encoderOf("a")
	before := len(enc.forcedLog())
	r.clk.Advance(time.Second) // past the rate limit of the first keyframe

	steps := []struct {
		advance   time.Duration
		ask       bool
		wantForce bool
	}{
		{0, true, true},                       // asked: keyframe now
		{100 * time.Millisecond, true, false}, // asked again 100 ms later: held back
		{200 * time.Millisecond, false, false},
		{200 * time.Millisecond, false, true}, // 500 ms after the last: the held request
		{100 * time.Millisecond, false, false},
		{time.Second, true, true},
	}
	for i, s := range steps {
		r.clk.Advance(s.advance)
		if s.ask {
			if err := r.m.ForceKeyframe("a"); err != nil {
				t.Fatal(err)
			}
		}
		// Make the canvas change so every tick encodes.
		r.ins["b"].WriteFrame(solid(64, 36, palette[i%len(palette)]))
		r.tick()
		log := enc.forcedLog()
		if len(log) != before+1 {
			t.Fatalf("step %d: %d encodes, want one", i, len(log)-before)
		}
		before = len(log)
		if log[len(log)-1] != s.wantForce {
			t.Errorf("step %d: forced %t, want %t", i, log[len(log)-1], s.wantForce)
		}
		if got := r.sinks["a"].lastKey(); got != s.wantForce {
			t.Errorf("step %d: sink keyframe %t, want %t", i, got, s.wantForce)
		}
	}
	if err := r.m.ForceKeyframe("nobody"); !errors.Is(err, ErrUnknownInput) {
		t.Errorf("ForceKeyframe(nobody) = %v", err)
	}
}

func TestNewMemberGetsKeyframe(t *testing.T) {
	r := newRig(t, "4:0", nil)
	r.add("a", true)
	r.add("b", true)
	r.add("watcher1", false) // not shown: sees the base view
	for range 5 {
		r.tick()
	}
	enc := r.encoderOf("watcher1")
	n := len(enc.forcedLog())
	r.add("watcher2", false)
	r.tick()
	if got := r.encoderOf("watcher2"); got != enc {
		t.Fatalf("watcher2 got encoder %d, want the shared %d", got.serial, enc.serial)
	}
	log := enc.forcedLog()
	if len(log) != n+1 || !log[n] {
		t.Errorf("the group's encode after a member joined was not forced: %v", log[n:])
	}
	if !r.sinks["watcher2"].lastKey() || !r.sinks["watcher1"].lastKey() {
		t.Error("members did not get the keyframe")
	}
	if st := r.m.Stats(); st.KeyframesForced == 0 {
		t.Error("no forced keyframes counted")
	}
}

func TestRemoveClosesEmptyGroups(t *testing.T) {
	r := newRig(t, "4:0", nil)
	for _, id := range []string{"a", "b", "c", "w1", "w2"} {
		r.add(id, id[0] != 'w')
	}
	r.tick()
	if got := r.f.open(); got != 4 { // a, b, c and the watchers
		t.Fatalf("%d encoders, want 4", got)
	}
	encA := r.encoderOf("a")
	steps := []struct {
		remove string
		want   int
	}{
		{"a", 3},  // a's group was a alone: closed at once
		{"w1", 3}, // w2 still watches
		{"w2", 2},
		{"b", 1},
		{"c", 0},
	}
	for _, s := range steps {
		if err := r.m.Remove(s.remove); err != nil {
			t.Fatal(err)
		}
		if got := r.f.open(); got != s.want {
			t.Errorf("after removing %s: %d encoders open, want %d", s.remove, got, s.want)
		}
		n := r.sinks[s.remove].count()
		r.tick()
		if got := r.f.open(); got != s.want {
			t.Errorf("a tick after removing %s: %d encoders open, want %d", s.remove, got, s.want)
		}
		if r.sinks[s.remove].count() != n {
			t.Errorf("%s was sent video after Remove", s.remove)
		}
	}
	if !encA.closed.Load() {
		t.Error("a's encoder was not closed")
	}
	if err := r.m.Remove("a"); !errors.Is(err, ErrUnknownInput) {
		t.Errorf("second Remove = %v", err)
	}
}

// TestBrokenEncodersAndSinks: an encoder that fails, one that panics, a
// factory that refuses and a sink that panics only hurt their own group.
func TestBrokenEncodersAndSinks(t *testing.T) {
	refused := errors.New("no such encoder")
	f := &fakeFactory{behave: func(c codec.VideoEncoderConfig) (bool, bool, error) {
		switch c.Width {
		case 160:
			return true, false, nil // fails
		case 128:
			return false, true, nil // panics
		case 96:
			return false, false, refused
		}
		return false, false, nil
	}}
	r := newRig(t, "4:0", f)
	r.add("good1", true)
	r.add("good2", true)
	r.addOut("failing", false, Output{Codec: codec.H264, Width: 160, Height: 90})
	r.addOut("panicking", false, Output{Codec: codec.H264, Width: 128, Height: 72})
	r.addOut("refused", false, Output{Codec: codec.H264, Width: 96, Height: 54})
	r.addOut("badsink", false, Output{Codec: codec.VP8, Sink: SinkFunc(func([][]byte, uint32, bool) { panic("sink") })})
	const ticks = 90
	for i := range ticks {
		r.ins["good1"].WriteFrame(solid(64, 36, palette[i%2]))
		r.ins["good2"].WriteFrame(solid(64, 36, palette[i%2]))
		r.tick()
	}
	for _, id := range []string{"good1", "good2"} {
		if got := r.sinks[id].count(); got != ticks {
			t.Errorf("%s got %d pictures in %d ticks", id, got, ticks)
		}
	}
	for _, id := range []string{"failing", "panicking", "refused"} {
		if got := r.sinks[id].count(); got != 0 {
			t.Errorf("%s got %d pictures from a broken encoder", id, got)
		}
	}
	st := r.m.Stats()
	if st.EncodeErrors < ticks || st.SinkPanics < ticks || st.TickPanics != 0 {
		t.Errorf("stats %+v: want encode errors and sink panics counted, no tick panics", st)
	}
	// The panicking encoder is replaced at most once a second; the refused
	// one is retried as often.
	made := 0
	f.mu.Lock()
	for _, e := range f.all {
		if e.cfg.Width == 128 {
			made++
		}
	}
	f.mu.Unlock()
	if want := ticks/DefaultFPS + 1; made < 2 || made > want {
		t.Errorf("the panicking encoder was made %d times in %d ticks, want 2 to %d", made, ticks, want)
	}
}

func TestLabels(t *testing.T) {
	tests := []struct {
		name  string
		label string
		want  bool
	}{
		{"named", "Dr. Kari Nordmann", true},
		{"no name", "", false},
		{"very long name is shortened", "Overlege Kari Nordmann-Johansen ved Nevrologisk avdeling", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, "4:0", nil, func(c *Config) { c.Width, c.Height = 640, 360 })
			r.add("viewer", false)
			in := r.add("shown", true)
			if err := r.m.SetName("shown", tt.label); err != nil {
				t.Fatal(err)
			}
			in.WriteFrame(solid(640, 360, palette[1]))
			r.tick()
			c := r.seen("viewer")
			// Cell 0 is 320x180; the label sits in its bottom-left corner.
			differs := 0
			for y := 140; y < 176; y++ {
				for x := 0; x < 120; x++ {
					if c.Y[y*c.StrideY+x] != palette[1].y {
						differs++
					}
				}
			}
			if got := differs > 100; got != tt.want {
				t.Errorf("%d pixels under the label differ from the picture; label wanted: %t", differs, tt.want)
			}
			// The rest of the cell is untouched.
			if got := pixel(c, 300, 20); got != palette[1] {
				t.Errorf("top right of the cell is %v, want %v", got, palette[1])
			}
		})
	}
}

// TestSpeaker: someone who speaks for long enough takes the main cell in
// everyone else's view, with a highlight; they themselves keep seeing the
// others.
func TestSpeaker(t *testing.T) {
	r := newRig(t, "1:7", nil, func(c *Config) { c.Width, c.Height = 640, 360 })
	for i := range 4 {
		r.add(fmt.Sprint("p", i), true).WriteFrame(solid(640, 360, palette[i]))
	}
	talk := false
	if err := r.m.SetSpeaking("p2", func() bool { return talk }); err != nil {
		t.Fatal(err)
	}
	r.tick()
	if c := r.seen("p3"); !near(cellPixel(c, "1:7", 0), palette[0], 2) {
		t.Fatal("before anyone speaks, p3 should see p0 in the main cell")
	}
	talk = true
	for range DefaultFPS + 2 { // just over the second it takes
		r.tick()
	}
	for _, v := range []string{"p0", "p1", "p3"} {
		c := r.seen(v)
		if got := cellPixel(c, "1:7", 0); !near(got, palette[2], 2) {
			t.Errorf("%s sees %v in the main cell, want the speaker p2", v, got)
		}
		// The highlight frames the main cell: its top-left corner is amber.
		if got := pixel(c, 1, 1); !near(got, highlight, 2) {
			t.Errorf("%s: main cell corner is %v, want the highlight %v", v, got, highlight)
		}
	}
	c := r.seen("p2")
	if got := cellPixel(c, "1:7", 0); !near(got, palette[0], 2) {
		t.Errorf("the speaker sees %v in the main cell, want p0", got)
	}
}

// TestStillCanvasIsNotReencoded: without new pictures a canvas is encoded
// for stillTrail after its last change, then once a second, not every tick.
func TestStillCanvasIsNotReencoded(t *testing.T) {
	r := newRig(t, "4:0", nil)
	r.add("a", true).WriteFrame(solid(64, 36, palette[0]))
	r.add("b", true).WriteFrame(solid(64, 36, palette[1]))
	r.tick()
	enc := r.encoderOf("a")
	first := len(enc.forcedLog())
	trail := int(stillTrail / r.m.period)
	for range trail {
		r.tick()
	}
	n := len(enc.forcedLog())
	if n-first != trail {
		t.Errorf("%d encodes in the %s after a change, want one a tick (%d)", n-first, stillTrail, trail)
	}
	for range DefaultFPS - 1 {
		r.tick()
	}
	if got := len(enc.forcedLog()); got != n {
		t.Errorf("a still canvas was encoded %d more times", got-n)
	}
	r.tick()
	r.tick()
	if got := len(enc.forcedLog()); got != n+1 {
		t.Errorf("after a second a still canvas was encoded %d more times, want 1", got-n)
	}
	r.ins["b"].WriteFrame(solid(64, 36, palette[2]))
	r.tick()
	if got := len(enc.forcedLog()); got != n+2 {
		t.Errorf("a new picture did not get encoded")
	}
	if c := r.seen("a"); !near(cellPixel(c, "4:0", 0), palette[2], 2) {
		t.Error("the new picture is not on the canvas")
	}
}

func TestRequestKeyframeFromSenders(t *testing.T) {
	r := newRig(t, "1:7", nil)
	asked := map[string]int{}
	ids := []string{"a", "b", "c"}
	for _, id := range ids {
		r.addOut(id, false, Output{Codec: codec.H264, RequestKeyframe: func() { asked[id]++ }})
	}
	r.tick()
	if len(asked) != 0 {
		t.Fatalf("keyframes asked of senders nobody sees: %v", asked)
	}
	for _, id := range ids {
		r.m.SetVisible(id, true)
	}
	r.tick()
	r.tick()
	if asked["a"] != 1 || asked["b"] != 1 || asked["c"] != 1 {
		t.Errorf("after a, b and c appear: asked %v, want each once", asked)
	}
	// c is in a small cell in every view; pinned to the main cell it
	// grows: ask again, but not within a second of the last request.
	r.m.Pin("c", 0)
	r.tick()
	if asked["c"] != 1 {
		t.Errorf("asked c again within a second: %v", asked)
	}
	for range DefaultFPS {
		r.tick()
	}
	if asked["c"] != 2 || asked["a"] != 1 || asked["b"] != 1 {
		t.Errorf("c's grown cell: asked %v, want c twice, a and b once", asked)
	}
	if st := r.m.Stats(); st.KeyframesRequested != 4 {
		t.Errorf("KeyframesRequested = %d, want 4", st.KeyframesRequested)
	}
}

func TestBitrate(t *testing.T) {
	r := newRig(t, "4:0", nil)
	r.addOut("a", false, Output{Codec: codec.H264, Bitrate: 1_000_000})
	r.addOut("b", false, Output{Codec: codec.H264, Bitrate: 1_000_000})
	r.add("shown", true)
	r.tick()
	enc := r.encoderOf("a")
	if enc != r.encoderOf("b") || enc.cfg.Bitrate != 1_000_000 {
		t.Fatalf("a and b should share an encoder at 1 Mbps (got %d)", enc.cfg.Bitrate)
	}
	steps := []struct {
		id   string
		bps  int
		want int
	}{
		{"a", 600_000, 600_000},
		{"b", 800_000, 600_000}, // the lowest member wins
		{"a", 10, MinBitrate},
		{"a", 5_000_000, 800_000}, // never above the tier; b still 800k
		{"b", 0, 1_000_000},       // estimates cleared: the tier
	}
	for _, s := range steps {
		r.m.SetBitrate(s.id, s.bps)
		r.m.ForceKeyframe("a") // make the tick encode
		r.clk.Advance(time.Second)
		r.tick()
		enc.mu.Lock()
		got := enc.bitrate
		enc.mu.Unlock()
		if got != s.want && !(s.want == 1_000_000 && got == 0) {
			t.Errorf("after %s at %d: encoder at %d, want %d", s.id, s.bps, got, s.want)
		}
	}
}

func TestOutputSettingsSplitGroups(t *testing.T) {
	r := newRig(t, "4:0", nil)
	r.add("shown", true)
	outs := map[string]Output{
		"h264":     {Codec: codec.H264, PacketizationMode: 1},
		"h264b":    {Codec: codec.H264, PacketizationMode: 1, Width: 1920, Height: 1080}, // capped to the canvas
		"mode0":    {Codec: codec.H264, PacketizationMode: 0},
		"vp8":      {Codec: codec.VP8},
		"small":    {Codec: codec.H264, PacketizationMode: 1, Width: 160, Height: 120},
		"lowtier":  {Codec: codec.H264, PacketizationMode: 1, Bitrate: 256_000},
		"smallmtu": {Codec: codec.H264, PacketizationMode: 1, MTU: 500},
	}
	for id, o := range outs {
		r.addOut(id, false, o)
	}
	r.tick()
	if r.encoderOf("h264") != r.encoderOf("h264b") {
		t.Error("equal settings after capping got different encoders")
	}
	seen := map[*fakeEncoder]string{}
	for id := range outs {
		if id == "h264b" {
			continue
		}
		e := r.encoderOf(id)
		if other, dup := seen[e]; dup {
			t.Errorf("%s and %s share an encoder despite different settings", id, other)
		}
		seen[e] = id
	}
	if c := r.encoderOf("small").cfg; c.Width != 160 || c.Height != 90 {
		t.Errorf("160x120 endpoint got a %dx%d canvas, want 160x90 (the room's shape)", c.Width, c.Height)
	}
	if c := r.encoderOf("mode0").cfg; c.MaxNALSize != DefaultMTU {
		t.Errorf("mode 0 encoder MaxNALSize = %d, want the MTU", c.MaxNALSize)
	}
}

func TestLayoutChangeAndPins(t *testing.T) {
	r := newRig(t, "4:0", nil)
	for i := range 5 {
		r.add(fmt.Sprint("p", i), true).WriteFrame(solid(64, 36, palette[i]))
	}
	r.add("w", false)
	r.tick()
	c := r.seen("w")
	for cell := range 4 {
		if got := cellPixel(c, "4:0", cell); !near(got, palette[cell], 2) {
			t.Errorf("cell %d shows %v, want p%d", cell, got, cell)
		}
	}
	if err := r.m.Pin("p4", 0); err != nil {
		t.Fatal(err)
	}
	r.tick()
	c = r.seen("w")
	want := []int{4, 0, 1, 2}
	for cell, p := range want {
		if got := cellPixel(c, "4:0", cell); !near(got, palette[p], 2) {
			t.Errorf("pinned: cell %d shows %v, want p%d", cell, got, p)
		}
	}
	if err := r.m.SetLayout("1+0"); err != nil {
		t.Fatal(err)
	}
	r.tick()
	c = r.seen("w")
	if got := cellPixel(c, "1:0", 0); !near(got, palette[4], 2) {
		t.Errorf("1:0 shows %v, want the pinned p4", got)
	}
	if r.m.Layout() != "1:0" {
		t.Errorf("Layout() = %s", r.m.Layout())
	}
	if err := r.m.SetLayout("7:7"); !errors.Is(err, layout.ErrUnknownLayout) {
		t.Errorf("SetLayout(7:7) = %v", err)
	}
	if err := r.m.Pin("p1", -1); !errors.Is(err, ErrBadCell) {
		t.Errorf("Pin(-1) = %v", err)
	}
}

func TestAddErrors(t *testing.T) {
	r := newRig(t, "4:0", nil)
	r.add("a", true)
	sink := &recSink{}
	tests := []struct {
		name string
		id   string
		out  Output
		want error
	}{
		{"empty id", "", Output{Codec: codec.H264, Sink: sink}, ErrBadOutput},
		{"tile for one with video", "a", Output{}, ErrDuplicateInput},
		{"unknown codec", "x", Output{Codec: "H265", Sink: sink}, ErrBadOutput},
		{"mode 2", "x", Output{Codec: codec.H264, PacketizationMode: 2, Sink: sink}, ErrBadOutput},
		{"tiny MTU", "x", Output{Codec: codec.H264, MTU: 20, Sink: sink}, ErrBadOutput},
		{"duplicate", "a", Output{Codec: codec.H264, Sink: sink}, ErrDuplicateInput},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := r.m.Add(tt.id, "", tt.out); !errors.Is(err, tt.want) {
				t.Errorf("Add = %v, want %v", err, tt.want)
			}
		})
	}
	for name, err := range map[string]error{
		"SetVisible": r.m.SetVisible("x", true),
		"SetSlate":   r.m.SetSlate("x", "hi"),
		"Pin":        r.m.Pin("x", 1),
		"Unpin":      r.m.Unpin("x"),
		"SetBitrate": r.m.SetBitrate("x", 1),
		"Remove":     r.m.Remove("x"),
	} {
		if !errors.Is(err, ErrUnknownInput) {
			t.Errorf("%s(unknown) = %v", name, err)
		}
	}
	r.m.Close()
	if _, err := r.m.Add("b", "", Output{Codec: codec.H264, Sink: sink}); !errors.Is(err, ErrClosed) {
		t.Errorf("Add after Close = %v", err)
	}
	r.m.Tick() // a no-op, not a panic
}

func TestNewConfigErrors(t *testing.T) {
	f := &fakeFactory{}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no encoder", Config{}},
		{"odd width", Config{Width: 641, Height: 360, NewEncoder: f.New}},
		{"huge", Config{Width: 8192, Height: 360, NewEncoder: f.New}},
		{"fps", Config{FPS: 500, NewEncoder: f.New}},
		{"layout", Config{Layout: "3:3", NewEncoder: f.New}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); !errors.Is(err, ErrBadConfig) {
				t.Errorf("New = %v, want ErrBadConfig", err)
			}
		})
	}
	m, err := New(Config{NewEncoder: f.New})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.cfg.Width != DefaultWidth || m.cfg.Height != DefaultHeight || m.cfg.FPS != DefaultFPS || m.Layout() != layout.Default {
		t.Errorf("defaults: %s", m)
	}
}

func TestPacketization(t *testing.T) {
	f := &fakeFactory{payloadPad: 3000}
	r := newRig(t, "4:0", f)
	r.add("shown", true)
	var got [][]byte
	r.addOut("v", false, Output{Codec: codec.H264, PacketizationMode: media.H264ModeNonInterleaved, MTU: 1000,
		Sink: SinkFunc(func(p [][]byte, _ uint32, _ bool) {
			got = got[:0]
			for _, b := range p {
				got = append(got, slices.Clone(b))
			}
		})})
	r.tick()
	if len(got) != 4 { // a 3006-byte NAL in FU-A pieces of at most 1000
		t.Fatalf("%d payloads, want 4", len(got))
	}
	for i, p := range got {
		if len(p) > 1000 || p[0]&0x1f != 28 {
			t.Errorf("payload %d: %d bytes, type %d; want FU-A within the MTU", i, len(p), p[0]&0x1f)
		}
	}
}

func TestTimestamps(t *testing.T) {
	r := newRig(t, "4:0", nil)
	r.add("a", true)
	in := r.add("b", true)
	for i := range 4 {
		in.WriteFrame(solid(64, 36, palette[i]))
		r.tick()
	}
	s := r.sinks["a"]
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 1; i < len(s.ts); i++ {
		if d := s.ts[i] - s.ts[i-1]; d != 3000 {
			t.Errorf("timestamp step %d, want 3000 (90 kHz at 30 fps)", d)
		}
	}
	if got, want := rtpTime(25*time.Hour+time.Second/2), uint32(uint64(25*3600*90000+45000)%(1<<32)); got != want {
		t.Errorf("rtpTime after 25 h = %d", got)
	}
}

func TestStartClose(t *testing.T) {
	defer goleak.VerifyNone(t)
	f := &fakeFactory{}
	m, err := New(Config{Width: 320, Height: 180, FPS: 50, Layout: "4:0", NewEncoder: f.New})
	if err != nil {
		t.Fatal(err)
	}
	in, err := m.Add("a", "A", Output{Codec: codec.VP8, Sink: &recSink{}})
	if err != nil {
		t.Fatal(err)
	}
	sink := &recSink{} // b watches a, whose pictures keep coming
	if _, err := m.Add("b", "B", Output{Codec: codec.VP8, Sink: sink}); err != nil {
		t.Fatal(err)
	}
	m.SetVisible("a", true)
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // a receive goroutine
		defer close(done)
		fr := solid(320, 180, palette[0])
		for {
			select {
			case <-stop:
				return
			default:
			}
			in.WriteFrame(fr)
			time.Sleep(time.Millisecond)
		}
	}()
	waitFor(t, "frames at the sink", func() bool { return sink.count() >= 5 })
	close(stop)
	<-done
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if f.open() != 0 {
		t.Errorf("%d encoders open after Close", f.open())
	}
	if st := m.Stats(); st.Ticks == 0 || st.FramesEncoded == 0 {
		t.Errorf("stats after running: %+v", st)
	}
	if err := m.Start(); !errors.Is(err, ErrClosed) {
		t.Errorf("Start after Close = %v", err)
	}
}

// TestOwnLayoutRawOutput: a stream's output has its own layout (1:0 here,
// in a 4:0 room), is sent whole frames, is encoded every tick and gets
// keyframes at its own interval.
func TestOwnLayoutRawOutput(t *testing.T) {
	r := newRig(t, "4:0", nil)
	for i := range 2 {
		in := r.add(fmt.Sprint("p", i), true)
		in.WriteFrame(solid(640, 360, palette[i]))
	}
	var mu sync.Mutex
	var payloads []int
	var keys []bool
	raw := Output{Codec: codec.H264, Layout: "1:0", Raw: true, KeyframeInterval: 100 * time.Millisecond,
		Sink: SinkFunc(func(p [][]byte, _ uint32, key bool) {
			mu.Lock()
			defer mu.Unlock()
			payloads = append(payloads, len(p))
			keys = append(keys, key)
		})}
	if _, err := r.m.Add("stream", "", raw); err != nil {
		t.Fatal(err)
	}
	for range 9 {
		r.tick()
	}
	// The stream's encoder saw 1:0: the first participant over the canvas.
	var streamEnc *fakeEncoder
	e0, e1 := r.encoderOf("p0"), r.encoderOf("p1")
	r.f.mu.Lock()
	for _, e := range r.f.all {
		if e != e0 && e != e1 {
			streamEnc = e
		}
	}
	r.f.mu.Unlock()
	if streamEnc == nil {
		t.Fatal("no encoder for the stream")
	}
	canvas := streamEnc.last(t)
	for _, at := range [][2]int{{canvas.Width / 4, canvas.Height / 4}, {canvas.Width * 3 / 4, canvas.Height * 3 / 4}} {
		if got := pixel(canvas, at[0], at[1]); !near(got, palette[0], 2) {
			t.Fatalf("stream canvas at %v is %v, want p0's %v over the whole 1:0 picture", at, got, palette[0])
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(payloads) != 9 {
		t.Fatalf("stream got %d frames in 9 ticks, want one a tick (raw outputs are never idle)", len(payloads))
	}
	nkeys := 0
	for i, n := range payloads {
		if n != 1 {
			t.Fatalf("frame %d came in %d payloads, want the whole frame in one", i, n)
		}
		if keys[i] {
			nkeys++
		}
	}
	// 9 ticks at 30 fps is 300 ms: the first frame and one every 100 ms.
	if nkeys < 3 || nkeys > 4 {
		t.Fatalf("%d keyframes in 300 ms with a 100 ms interval (keys %v)", nkeys, keys)
	}
	// A layout that does not exist is refused.
	if _, err := r.m.Add("bad", "", Output{Codec: codec.H264, Layout: "7:7", Raw: true, Sink: &recSink{}}); !errors.Is(err, ErrBadOutput) {
		t.Fatalf("unknown output layout: %v, want ErrBadOutput", err)
	}
}

// activeCells renders an active map as a grid of '#' (coded) and '.'
// (skipped), for messages and comparisons.
func activeCells(m []byte, cols int) string {
	if m == nil {
		return "all"
	}
	var b strings.Builder
	for i, v := range m {
		if i > 0 && i%cols == 0 {
			b.WriteByte('/')
		}
		if v != 0 {
			b.WriteByte('#')
		} else {
			b.WriteByte('.')
		}
	}
	return b.String()
}

// TestActiveMapFollowsChangedCells: the encoder is told to code only the
// macroblocks of cells drawn since its last frame, plus those of a cell
// that just went still for a few frames of refinement; a new layout makes
// everything active again.
func TestActiveMapFollowsChangedCells(t *testing.T) {
	r := newRig(t, "4:0", nil)
	r.add("viewer", false) // not shown, so its view has a, b and c
	a := r.add("a", true)
	r.add("b", true).WriteFrame(solid(64, 36, palette[1]))
	r.add("c", true).WriteFrame(solid(64, 36, palette[2]))
	a.WriteFrame(solid(64, 36, palette[0]))
	r.tick()
	enc := r.encoderOf("viewer")
	cols, rows := codec.MacroblockGrid(320, 180)
	// a's cell, the top-left 160x90 of 320x180: columns 0-9, rows 0-5 (row
	// 5 is half in it).
	aCell := make([]byte, cols*rows)
	for row := range 6 {
		for col := range 10 {
			aCell[row*cols+col] = 1
		}
	}
	none := make([]byte, cols*rows)
	want := func(step string, got []byte, w []byte) {
		t.Helper()
		if !bytes.Equal(got, w) || (got == nil) != (w == nil) {
			t.Errorf("%s: active map %s, want %s", step, activeCells(got, cols), activeCells(w, cols))
		}
	}
	if maps := enc.mapLog(); len(maps) != 1 || maps[0] != nil {
		t.Fatalf("first frame: %d maps, want one with everything active", len(maps))
	}
	// Only a moves: after a's first refinement window passed for b and c
	// (drawn on the first frame), only a's cell is coded.
	for i := range refineFrames + 3 {
		a.WriteFrame(solid(64, 36, palette[i%2]))
		r.tick()
	}
	maps := enc.mapLog()
	want("a moving", maps[len(maps)-1], aCell)
	// a stops: the next frame codes nothing (a frame a tick late must not
	// cost a full cell), the following refineFrames-1 code a's cell, and
	// then nothing again.
	n := len(maps)
	for range refineFrames + 1 {
		r.tick()
	}
	maps = enc.mapLog()[n:]
	if len(maps) != refineFrames+1 {
		t.Fatalf("%d encodes after a stopped, want %d (the still trail is %s)", len(maps), refineFrames+1, stillTrail)
	}
	want("first frame after a stopped", maps[0], none)
	for i := 1; i < refineFrames; i++ {
		want(fmt.Sprintf("refinement frame %d", i), maps[i], aCell)
	}
	want("after refinement", maps[refineFrames], none)

	if err := r.m.SetLayout("1:0"); err != nil {
		t.Fatal(err)
	}
	r.tick()
	maps = enc.mapLog()
	want("new layout", maps[len(maps)-1], nil)
	if st := r.m.Stats(); st.MacroblocksSkipped == 0 || st.MacroblocksCoded == 0 {
		t.Errorf("stats count %d coded and %d skipped macroblocks, want both", st.MacroblocksCoded, st.MacroblocksSkipped)
	}
}

// TestNameTileForParticipantWithoutVideo: a participant without video is a
// name tile in the others' views and costs no encoder; when its video
// arrives it takes the tile's place and keeps its state.
func TestNameTileForParticipantWithoutVideo(t *testing.T) {
	r := newRig(t, "4:0", nil)
	r.add("viewer", true).WriteFrame(solid(64, 36, palette[0]))
	tile, err := r.m.Add("phone", "Phone", Output{})
	if err != nil {
		t.Fatal(err)
	}
	if tile.HasVideo() {
		t.Error("a tile says it has video")
	}
	if err := r.m.SetVisible("phone", true); err != nil {
		t.Fatal(err)
	}
	r.add("c", true).WriteFrame(solid(64, 36, palette[1]))
	r.tick()
	if got := cellPixel(r.seen("viewer"), "4:0", 0); !near(got, nameTile, 2) {
		t.Errorf("the viewer sees %v in the tile's cell, want the tile %v", got, nameTile)
	}
	if got := cellPixel(r.seen("viewer"), "4:0", 1); !near(got, palette[1], 2) {
		t.Errorf("the viewer sees %v in cell 1, want c", got)
	}
	if got := cellPixel(r.seen("c"), "4:0", 1); !near(got, nameTile, 2) {
		t.Errorf("c sees %v in cell 1, want the tile", got)
	}
	if st := r.m.Stats(); st.Groups != 2 {
		t.Errorf("%d encoder groups, want 2: a tile sees nothing", st.Groups)
	}
	if _, err := r.m.Add("phone", "Phone", Output{}); !errors.Is(err, ErrDuplicateInput) {
		t.Errorf("a second tile for the same id: %v, want ErrDuplicateInput", err)
	}

	// The video arrives: same cell, still visible, and now with a view.
	sink := &recSink{}
	in, err := r.m.Add("phone", "Phone", Output{Codec: codec.H264, PacketizationMode: 1, Sink: sink})
	if err != nil {
		t.Fatalf("video for a tile: %v", err)
	}
	if !in.HasVideo() {
		t.Error("the video input says it has none")
	}
	in.WriteFrame(solid(64, 36, palette[2]))
	r.tick()
	if got := cellPixel(r.seen("viewer"), "4:0", 0); !near(got, palette[2], 2) {
		t.Errorf("the viewer sees %v in the phone's cell, want its picture", got)
	}
	if sink.count() == 0 {
		t.Error("the phone was sent nothing after its video arrived")
	}
	if st := r.m.Stats(); st.Groups != 3 {
		t.Errorf("%d encoder groups, want 3", st.Groups)
	}
	if r.m.Len() != 3 {
		t.Errorf("%d inputs, want 3", r.m.Len())
	}

	// The video ends, the call goes on: the tile is back in the same cell
	// and the phone's encoder group goes.
	if err := r.m.ToTile("phone"); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.m.Input("phone"); got.HasVideo() {
		t.Error("after ToTile the phone still has video")
	}
	r.ins["viewer"].WriteFrame(solid(64, 36, palette[0]))
	r.tick()
	if got := cellPixel(r.seen("viewer"), "4:0", 0); !near(got, nameTile, 2) {
		t.Errorf("after the video ended the viewer sees %v in the phone's cell, want the tile", got)
	}
	if st := r.m.Stats(); st.Groups != 2 {
		t.Errorf("%d encoder groups after the video ended, want 2", st.Groups)
	}
	if err := r.m.ToTile("phone"); err != nil {
		t.Errorf("ToTile on a tile: %v", err)
	}
	if err := r.m.ToTile("nobody"); !errors.Is(err, ErrUnknownInput) {
		t.Errorf("ToTile(nobody) = %v, want ErrUnknownInput", err)
	}
}

// TestActiveMapRefinesAfterKeyframe: a keyframe is coarse, so after one the
// still parts of the canvas get their refinement frames again instead of
// staying at keyframe quality.
func TestActiveMapRefinesAfterKeyframe(t *testing.T) {
	r := newRig(t, "4:0", nil)
	r.add("viewer", false)
	a := r.add("a", true)
	r.add("b", true).WriteFrame(solid(64, 36, palette[1]))
	a.WriteFrame(solid(64, 36, palette[0]))
	r.tick()
	enc := r.encoderOf("viewer")
	cols, _ := codec.MacroblockGrid(320, 180)
	// Long enough for b's refinement window to pass and for the keyframe
	// rate limit to allow another.
	ticks := int(keyframeGap/r.m.period) + refineFrames + 2
	for i := range ticks {
		a.WriteFrame(solid(64, 36, palette[i%2]))
		r.tick()
	}
	if err := r.m.ForceKeyframe("viewer"); err != nil {
		t.Fatal(err)
	}
	n := len(enc.mapLog())
	for i := range refineFrames + 1 {
		a.WriteFrame(solid(64, 36, palette[i%2]))
		r.tick()
	}
	forced := enc.forcedLog()[n:]
	maps := enc.mapLog()[n:]
	if len(maps) != refineFrames+1 || !forced[0] {
		t.Fatalf("%d encodes after the request (forced %v), want %d starting with the keyframe", len(maps), forced, refineFrames+1)
	}
	// bCell reports whether the map codes all of b's cell (cell 1, the
	// top-right 160x90: columns 10-19, rows 0-4 wholly inside it).
	bCell := func(m []byte) bool {
		for row := range 5 {
			for col := 10; col < cols; col++ {
				if m == nil || m[row*cols+col] == 0 {
					return m == nil
				}
			}
		}
		return true
	}
	if m := maps[1]; m == nil || bCell(m) {
		t.Errorf("the frame after the keyframe codes b's still cell: %s", activeCells(m, cols))
	}
	for i := 2; i <= refineFrames; i++ {
		if m := maps[i]; !bCell(m) {
			t.Errorf("frame %d after the keyframe skips b's still cell: %s", i, activeCells(m, cols))
		}
	}
}
