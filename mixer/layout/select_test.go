package layout

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprint(prefix, i)
	}
	return out
}

func TestSelect(t *testing.T) {
	abcd := []string{"a", "b", "c", "d"}
	tests := []struct {
		name   string
		layout string
		sel    Selection[string]
		want   []string
	}{
		{"2x2 by join order, viewer left out", "4:0",
			Selection[string]{Participants: abcd, Viewer: "b"},
			[]string{"a", "c", "d", ""}},
		{"2x2 seen by someone not in the room", "4:0",
			Selection[string]{Participants: abcd},
			[]string{"a", "b", "c", "d"}},
		{"fewer participants than cells", "9:0",
			Selection[string]{Participants: []string{"a", "b"}, Viewer: "a"},
			[]string{"b", "", "", "", "", "", "", "", ""}},
		{"alone in the room", "1:7",
			Selection[string]{Participants: []string{"a"}, Viewer: "a"},
			[]string{"", "", "", "", "", "", "", ""}},
		{"speaker takes the main cell", "1:7",
			Selection[string]{Participants: abcd, Speakers: []string{"c"}, Viewer: "a"},
			[]string{"c", "b", "d", "", "", "", "", ""}},
		{"the speaker sees the previous speaker", "1:7",
			Selection[string]{Participants: abcd, Speakers: []string{"c", "d"}, Viewer: "c"},
			[]string{"d", "a", "b", "", "", "", "", ""}},
		{"recent speakers first in small cells", "1:7",
			Selection[string]{Participants: ids("p", 12), Speakers: []string{"p9", "p7", "p11"}, Viewer: "p0"},
			[]string{"p9", "p7", "p11", "p1", "p2", "p3", "p4", "p5"}},
		{"more participants than cells", "4:0",
			Selection[string]{Participants: ids("p", 10), Speakers: []string{"p5"}, Viewer: "p9"},
			[]string{"p5", "p0", "p1", "p2"}},
		{"speakers who left are skipped", "4:0",
			Selection[string]{Participants: abcd, Speakers: []string{"gone", "d"}, Viewer: "a"},
			[]string{"d", "b", "c", ""}},
		{"two main cells get the two latest speakers", "2:21",
			Selection[string]{Participants: ids("p", 5), Speakers: []string{"p3", "p4", "p2"}},
			append([]string{"p3", "p4", "p2", "p0", "p1"}, make([]string, 18)...)},
		{"pin beats speaker", "1:7",
			Selection[string]{Participants: abcd, Speakers: []string{"c"}, Pins: map[string]int{"a": 0}, Viewer: "d"},
			[]string{"a", "c", "b", "", "", "", "", ""}},
		{"pin into a small cell", "1:7",
			Selection[string]{Participants: abcd, Pins: map[string]int{"b": 5}},
			[]string{"a", "c", "d", "", "", "b", "", ""}},
		{"the viewer's own pin is ignored and the cell filled", "4:0",
			Selection[string]{Participants: abcd, Pins: map[string]int{"a": 0}, Viewer: "a"},
			[]string{"b", "c", "d", ""}},
		{"pin beyond the layout is ignored", "4:0",
			Selection[string]{Participants: abcd, Pins: map[string]int{"d": 7}, Viewer: "a"},
			[]string{"b", "c", "d", ""}},
		{"two pins on one cell: earlier joiner wins", "4:0",
			Selection[string]{Participants: abcd, Pins: map[string]int{"c": 1, "b": 1}, Viewer: "a"},
			[]string{"c", "b", "d", ""}},
		{"pin of an invisible participant is ignored", "4:0",
			Selection[string]{Participants: abcd, Pins: map[string]int{"zz": 0}, Viewer: "a"},
			[]string{"b", "c", "d", ""}},
	}
	set := DefaultSet()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := set.Get(tt.layout)
			if err != nil {
				t.Fatal(err)
			}
			got := Select(l, tt.sel, nil)
			if !slices.Equal(got, tt.want) {
				t.Errorf("Select =\n %q\nwant\n %q", got, tt.want)
			}
			if slices.Contains(got, tt.sel.Viewer) && tt.sel.Viewer != "" {
				t.Errorf("the viewer %s sees themselves", tt.sel.Viewer)
			}
		})
	}
}

// TestSelectUnshownViewerSeesBaseView checks the property the compositor
// relies on to compute few views: a viewer who is not shown in the view
// of nobody sees exactly that view.
func TestSelectUnshownViewerSeesBaseView(t *testing.T) {
	parts := ids("p", 30)
	speakers := []string{"p17", "p3", "p29", "p3x", "p0"}
	pins := map[string]int{"p20": 4, "p21": 4, "p5": 0}
	for _, name := range DefaultSet().Names() {
		t.Run(name, func(t *testing.T) {
			l, _ := DefaultSet().Get(name)
			base := Select(l, Selection[string]{Participants: parts, Speakers: speakers, Pins: pins}, nil)
			for _, v := range parts {
				got := Select(l, Selection[string]{Participants: parts, Speakers: speakers, Pins: pins, Viewer: v}, nil)
				if slices.Contains(got, v) {
					t.Fatalf("viewer %s sees themselves", v)
				}
				if !slices.Contains(base, v) && !slices.Equal(got, base) {
					t.Fatalf("viewer %s is not shown, yet their view\n %q\ndiffers from\n %q", v, got, base)
				}
			}
		})
	}
}

func TestSelectReusesOut(t *testing.T) {
	l, _ := DefaultSet().Get("1:7")
	parts := ids("p", 20)
	out := make([]string, 0, 8)
	s := Selection[string]{Participants: parts, Speakers: []string{"p4"}, Pins: map[string]int{"p9": 3}, Viewer: "p1"}
	allocs := testing.AllocsPerRun(100, func() { out = Select(l, s, out) })
	if allocs != 0 {
		t.Errorf("Select allocates %v times with a reused slice", allocs)
	}
}

func TestSpeakerTracker(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const tick = 100 * time.Millisecond
	// run feeds speaking patterns tick by tick: at tick i, the string
	// pattern[id][i] is 'x' when id speaks.
	type want struct {
		at     time.Duration
		recent []string
	}
	tests := []struct {
		name    string
		pattern map[string]string
		checks  []want
	}{
		{"a short remark does not promote", map[string]string{
			"a": "xxxxx.........."},
			[]want{{14 * tick, nil}}},
		{"a second of speech promotes", map[string]string{
			"a": "xxxxxxxxxxxxxxx"},
			[]want{{9 * tick, nil}, {10 * tick, []string{"a"}}}},
		{"short pauses do not restart the run", map[string]string{
			"a": "xxxx.xxx.xxxx.."},
			[]want{{9 * tick, nil}, {10 * tick, []string{"a"}}}},
		{"a long pause restarts the run", map[string]string{
			"a": "xxxx.....xxxxxxxxxxx"},
			[]want{{14 * tick, nil}, {19 * tick, []string{"a"}}}},
		{"hold keeps the first speaker for two seconds", map[string]string{
			"a": "xxxxxxxxxxx.........................",
			"b": "...........xxxxxxxxxxxxxxxxxxxxxxxxx"},
			// a promoted at 1.0 s; b has spoken 1 s at 2.1 s but must
			// wait for the hold to end at 3.0 s.
			[]want{{10 * tick, []string{"a"}}, {29 * tick, []string{"a"}}, {30 * tick, []string{"b", "a"}}}},
		{"the longest talker wins a tie of eligibility", map[string]string{
			"a": "..xxxxxxxxxxxxxxxxxxxxxxx",
			"b": "xxxxxxxxxxxxxxxxxxxxxxxxx"},
			[]want{{10 * tick, []string{"b"}}, {24 * tick, []string{"b"}}}},
		{"a former speaker returns to the front", map[string]string{
			"a": "xxxxxxxxxxx....................." + strings.Repeat("x", 24),
			"b": "................xxxxxxxxxxxx"},
			// b is eligible at 2.6 s but held until 3.0 s; a again at
			// 4.2 s, held until 5.0 s.
			[]want{{29 * tick, []string{"a"}}, {30 * tick, []string{"b", "a"}},
				{49 * tick, []string{"b", "a"}}, {50 * tick, []string{"a", "b"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewSpeakerTracker[string](0, 0)
			n := 0
			for _, p := range tt.pattern {
				n = max(n, len(p))
			}
			names := make([]string, 0, len(tt.pattern))
			for id := range tt.pattern {
				names = append(names, id)
			}
			slices.Sort(names)
			ci := 0
			for i := range n {
				now := t0.Add(time.Duration(i) * tick)
				for _, id := range names {
					p := tt.pattern[id]
					tr.Observe(id, i < len(p) && p[i] == 'x', now)
				}
				tr.Step(now)
				for ci < len(tt.checks) && tt.checks[ci].at == time.Duration(i)*tick {
					if got := tr.Recent(); !slices.Equal(got, tt.checks[ci].recent) {
						t.Errorf("at %v: Recent = %q, want %q", tt.checks[ci].at, got, tt.checks[ci].recent)
					}
					ci++
				}
			}
			if ci != len(tt.checks) {
				t.Fatalf("only %d of %d checks ran", ci, len(tt.checks))
			}
		})
	}
}

func TestSpeakerTrackerActiveAndForget(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := NewSpeakerTracker[string](time.Second, 2*time.Second)
	if _, ok := tr.Active(t0); ok {
		t.Fatal("active speaker before anyone spoke")
	}
	for i := range 11 {
		now := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		tr.Observe("a", true, now)
		tr.Observe("b", false, now)
		tr.Step(now)
	}
	end := t0.Add(time.Second)
	if id, ok := tr.Active(end); !ok || id != "a" {
		t.Errorf("Active = %q, %t; want a", id, ok)
	}
	tr.Observe("a", false, end.Add(time.Second))
	if _, ok := tr.Active(end.Add(time.Second)); !ok {
		t.Error("the speaker stopped being active before the hold time")
	}
	if _, ok := tr.Active(end.Add(3 * time.Second)); ok {
		t.Error("still active long after stopping")
	}
	tr.Forget("a")
	if len(tr.Recent()) != 0 {
		t.Errorf("Recent after Forget = %q", tr.Recent())
	}
}

// TestSpeakerTrackerReplace: a participant under a new identity (its
// video arrived) keeps its place among the recent speakers and its run.
func TestSpeakerTrackerReplace(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := NewSpeakerTracker[string](time.Second, 2*time.Second)
	for i := range 11 {
		now := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		tr.Observe("tile", true, now)
		tr.Observe("b", false, now)
		tr.Step(now)
	}
	end := t0.Add(time.Second)
	tr.Replace("tile", "video")
	if got := tr.Recent(); len(got) != 1 || got[0] != "video" {
		t.Errorf("Recent after Replace = %q, want [video]", got)
	}
	if id, ok := tr.Active(end); !ok || id != "video" {
		t.Errorf("Active after Replace = %q, %t; want video", id, ok)
	}
	tr.Replace("nobody", "x") // unknown: nothing happens
	if got := tr.Recent(); len(got) != 1 || got[0] != "video" {
		t.Errorf("Recent after replacing an unknown id = %q", got)
	}
}

func TestSpeakerTrackerNoAllocs(t *testing.T) {
	tr := NewSpeakerTracker[string](0, 0)
	parts := ids("p", 50)
	now := time.Unix(1000, 0)
	step := func() {
		now = now.Add(20 * time.Millisecond)
		for i, p := range parts {
			tr.Observe(p, i == int(now.Unix()%7), now)
		}
		tr.Step(now)
	}
	for range 1000 {
		step()
	}
	if allocs := testing.AllocsPerRun(200, step); allocs != 0 {
		t.Errorf("Observe+Step allocates %v times per tick once warm", allocs)
	}
}
