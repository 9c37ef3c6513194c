package media

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// arrival is one packet in a jitter buffer simulation.
type arrival struct {
	at     int // ms after start
	seq    uint16
	ts     uint32
	marker bool
	filler bool
}

// pkts makes packets seq first..first+n-1, 20 ms apart in time and 160 in
// timestamp (8 kHz), arriving on time from start ms on.
func pkts(start int, first uint16, ts uint32, n int) []arrival {
	out := make([]arrival, n)
	for i := range n {
		out[i] = arrival{at: start + 20*i, seq: first + uint16(i), ts: ts + uint32(160*i)}
	}
	return out
}

// simulate runs a buffer on a fake clock in 1 ms steps until untilMs and
// returns what it played: "<seq>" for a packet, "c" for a concealed frame.
func simulate(t *testing.T, jb *JitterBuffer, arrivals []arrival, untilMs int) []string {
	t.Helper()
	t0 := time.Unix(1000, 0)
	var out []string
	sorted := slices.Clone(arrivals)
	slices.SortStableFunc(sorted, func(a, b arrival) int { return a.at - b.at })
	next := 0
	for ms := 0; ms <= untilMs; ms++ {
		now := t0.Add(time.Duration(ms) * time.Millisecond)
		for next < len(sorted) && sorted[next].at == ms {
			a := sorted[next]
			if a.filler {
				jb.PushFiller(a.seq, now)
			} else {
				jb.Push(a.seq, a.ts, a.marker, []byte{byte(a.seq >> 8), byte(a.seq)}, now)
			}
			next++
		}
		for {
			f := jb.Pop(now)
			if f.Kind == FrameNone {
				break
			}
			switch f.Kind {
			case FramePacket:
				if got := uint16(f.Payload[0])<<8 | uint16(f.Payload[1]); got != f.Seq {
					t.Fatalf("payload of seq %d is %d", f.Seq, got)
				}
				out = append(out, fmt.Sprint(f.Seq))
			case FrameConceal:
				out = append(out, "c")
			}
		}
	}
	return out
}

func seqs(from, to int) []string {
	var s []string
	for i := from; i <= to; i++ {
		s = append(s, fmt.Sprint(uint16(i)))
	}
	return s
}

func join(parts ...[]string) []string { return slices.Concat(parts...) }

func TestJitterBuffer(t *testing.T) {
	tests := []struct {
		name     string
		arrivals []arrival
		until    int
		want     []string
		stats    JitterStats // only the non-zero fields named in check are compared
		check    []string
	}{
		{
			name:     "in order",
			arrivals: pkts(0, 100, 5000, 10),
			until:    400,
			want:     seqs(100, 109),
			stats:    JitterStats{Lost: 0, Concealed: 3},
			check:    []string{"Lost", "Concealed"}, // the stream ends: three concealed frames, then silence
		},
		{
			name: "reordered",
			arrivals: []arrival{
				{at: 0, seq: 1, ts: 0}, {at: 20, seq: 3, ts: 320}, {at: 22, seq: 2, ts: 160},
				{at: 40, seq: 4, ts: 480}, {at: 60, seq: 5, ts: 640},
			},
			until: 100,
			want:  seqs(1, 5),
			stats: JitterStats{Lost: 0, Late: 0},
			check: []string{"Lost", "Late"},
		},
		{
			name:     "one lost is concealed",
			arrivals: slices.Concat(pkts(0, 1, 0, 3), pkts(80, 5, 640, 3)),
			until:    150,
			want:     join(seqs(1, 3), []string{"c"}, seqs(5, 7)),
			stats:    JitterStats{Lost: 1, Concealed: 1},
			check:    []string{"Lost", "Concealed"},
		},
		{
			name:     "duplicates dropped",
			arrivals: append(pkts(0, 1, 0, 4), arrival{at: 21, seq: 2, ts: 160}, arrival{at: 90, seq: 1, ts: 0}),
			until:    100,
			want:     seqs(1, 4),
			stats:    JitterStats{Duplicate: 2},
			check:    []string{"Duplicate"},
		},
		{
			name: "late packet after its successor played",
			arrivals: []arrival{
				{at: 0, seq: 1, ts: 0}, {at: 20, seq: 2, ts: 160},
				{at: 55, seq: 4, ts: 480}, {at: 70, seq: 3, ts: 320},
			},
			until: 90,
			want:  []string{"1", "2", "c", "4"},
			stats: JitterStats{Late: 1, Lost: 1},
			check: []string{"Late", "Lost"},
		},
		{
			name: "delay spike grows the delay instead of dropping",
			arrivals: []arrival{
				{at: 0, seq: 1, ts: 0}, {at: 20, seq: 2, ts: 160},
				{at: 85, seq: 3, ts: 320}, {at: 86, seq: 4, ts: 480}, {at: 90, seq: 5, ts: 640},
				{at: 100, seq: 6, ts: 800},
			},
			until: 160,
			want:  []string{"1", "2", "c", "c", "3", "4", "5", "6"},
			stats: JitterStats{Late: 0, Lost: 0},
			check: []string{"Late", "Lost"},
		},
		{
			name:     "sequence wraps",
			arrivals: pkts(0, 65533, 1<<32-480, 6),
			until:    140,
			want:     seqs(65533, 65538),
			stats:    JitterStats{Lost: 0},
			check:    []string{"Lost"},
		},
		{
			name: "talkspurt after silence re-anchors without stalling",
			arrivals: slices.Concat(pkts(0, 1, 0, 3),
				[]arrival{{at: 1000, seq: 4, ts: 160 * 50, marker: true}, {at: 1020, seq: 5, ts: 160 * 51}}),
			until: 1100,
			want:  join(seqs(1, 3), []string{"c", "c", "c"}, seqs(4, 5)),
		},
		{
			name: "timestamp jump without marker",
			arrivals: slices.Concat(pkts(0, 1, 0, 3),
				pkts(60, 4, 1<<31, 3)),
			until: 200,
			want:  seqs(1, 6),
		},
		{
			name: "sequence reset confirmed by a second packet",
			arrivals: slices.Concat(pkts(0, 1, 0, 3),
				pkts(60, 40000, 9999, 4)),
			until: 300,
			// 40000 waits on probation (RFC 3550 A.1); 40001 confirms.
			want:  join(seqs(1, 3), seqs(40001, 40003)),
			stats: JitterStats{Resets: 1},
			check: []string{"Resets"},
		},
		{
			name:     "a stray packet far away does not disturb",
			arrivals: append(pkts(0, 1, 0, 5), arrival{at: 30, seq: 30000, ts: 5}),
			until:    150,
			want:     seqs(1, 5),
			stats:    JitterStats{Resets: 0, Lost: 0},
			check:    []string{"Resets", "Lost"},
		},
		{
			name:     "long loss: three concealed then silence",
			arrivals: slices.Concat(pkts(0, 1, 0, 2), pkts(200, 12, 160*11, 2)),
			until:    250,
			want:     join(seqs(1, 2), []string{"c", "c", "c"}, seqs(12, 13)),
			stats:    JitterStats{Lost: 9, Concealed: 3},
			check:    []string{"Lost", "Concealed"},
		},
		{
			name: "event packets are not losses",
			arrivals: []arrival{
				{at: 0, seq: 1, ts: 0}, {at: 20, seq: 2, ts: 160},
				{at: 25, seq: 3, filler: true}, {at: 30, seq: 4, filler: true},
				{at: 40, seq: 5, ts: 320}, {at: 60, seq: 6, ts: 480},
			},
			until: 100,
			want:  []string{"1", "2", "5", "6"},
			stats: JitterStats{Lost: 0},
			check: []string{"Lost"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jb := NewJitterBuffer(JitterConfig{ClockRate: 8000, FrameTS: 160})
			got := simulate(t, jb, tt.arrivals, tt.until)
			// A stream that ends is concealed for up to three frames; the
			// cases below name only what comes before that tail.
			for len(got) > 0 && got[len(got)-1] == "c" && len(got) > len(tt.want) {
				got = got[:len(got)-1]
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("played %s, want %s", strings.Join(got, " "), strings.Join(tt.want, " "))
			}
			st := jb.Stats()
			for _, f := range tt.check {
				g, w := statField(st, f), statField(tt.stats, f)
				if g != w {
					t.Errorf("%s = %d, want %d (stats %+v)", f, g, w, st)
				}
			}
		})
	}
}

func statField(s JitterStats, name string) uint64 {
	switch name {
	case "Lost":
		return s.Lost
	case "Late":
		return s.Late
	case "Duplicate":
		return s.Duplicate
	case "Concealed":
		return s.Concealed
	case "Resets":
		return s.Resets
	}
	panic("unknown stat " + name)
}

func TestJitterBufferIdleHasNoDeadline(t *testing.T) {
	jb := NewJitterBuffer(JitterConfig{ClockRate: 8000, FrameTS: 160})
	if _, ok := jb.Deadline(); ok {
		t.Fatal("empty buffer has a deadline")
	}
	simulate(t, jb, pkts(0, 1, 0, 2), 500)
	if _, ok := jb.Deadline(); ok {
		t.Fatal("starved buffer still has a deadline")
	}
	if c := jb.Stats().Concealed; c != 3 {
		t.Fatalf("concealed %d frames, want 3", c)
	}
}

func TestJitterBufferDeadlineIsFirstDue(t *testing.T) {
	jb := NewJitterBuffer(JitterConfig{ClockRate: 8000, FrameTS: 160})
	t0 := time.Unix(1000, 0)
	jb.Push(1, 0, false, []byte{1}, t0)
	if f := jb.Pop(t0); f.Kind != FrameNone {
		t.Fatalf("played %v before the target delay", f.Kind)
	}
	d, ok := jb.Deadline()
	if !ok || d.Sub(t0) != jb.Target() {
		t.Fatalf("deadline %v (ok %v), want %v after arrival", d.Sub(t0), ok, jb.Target())
	}
	if f := jb.Pop(d); f.Kind != FramePacket || f.Seq != 1 {
		t.Fatalf("at the deadline got %v seq %d", f.Kind, f.Seq)
	}
}

func TestJitterBufferTargetFollowsJitter(t *testing.T) {
	tests := []struct {
		name     string
		jitterMs int // arrival alternates ±jitterMs around the nominal time
		min, max time.Duration
	}{
		{"no jitter stays at the minimum", 0, 20 * time.Millisecond, 20 * time.Millisecond},
		{"moderate jitter raises the target", 15, 40 * time.Millisecond, 120 * time.Millisecond},
		{"huge jitter is clamped", 300, 200 * time.Millisecond, 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jb := NewJitterBuffer(JitterConfig{ClockRate: 8000, FrameTS: 160})
			t0 := time.Unix(1000, 0)
			for i := range 200 {
				off := 20*i + 300
				if i%2 == 1 {
					off += tt.jitterMs
				} else {
					off -= tt.jitterMs
				}
				jb.Push(uint16(i), uint32(160*i), false, []byte{1}, t0.Add(time.Duration(off)*time.Millisecond))
				jb.Pop(t0.Add(time.Duration(off) * time.Millisecond))
			}
			if g := jb.Target(); g < tt.min || g > tt.max {
				t.Fatalf("target %v, want %v-%v (jitter %v)", g, tt.min, tt.max, jb.JitterDuration())
			}
		})
	}
}

func TestJitterBufferDriftShrinksDelay(t *testing.T) {
	// The sender's clock runs 2% fast: packets come 19.6 ms apart. Without
	// adaptation they would pile up in the buffer.
	jb := NewJitterBuffer(JitterConfig{ClockRate: 8000, FrameTS: 160})
	t0 := time.Unix(1000, 0)
	var maxWait time.Duration
	arrived := map[uint16]time.Time{}
	for i := range 3000 {
		now := t0.Add(time.Duration(i) * 19600 * time.Microsecond)
		arrived[uint16(i)] = now
		jb.Push(uint16(i), uint32(160*i), false, []byte{1}, now)
		for {
			f := jb.Pop(now)
			if f.Kind == FrameNone {
				break
			}
			if f.Kind == FramePacket && i > 500 {
				maxWait = max(maxWait, now.Sub(arrived[f.Seq]))
			}
		}
	}
	if maxWait > 100*time.Millisecond {
		t.Fatalf("packets waited up to %v; drift not compensated", maxWait)
	}
	if st := jb.Stats(); st.Late != 0 || st.Resets != 0 {
		t.Fatalf("stats %+v in a jitter-free stream", st)
	}
}

func TestJitterBufferNoAllocs(t *testing.T) {
	jb := NewJitterBuffer(JitterConfig{ClockRate: 48000, FrameTS: 960})
	payload := make([]byte, 160)
	t0 := time.Unix(1000, 0)
	i := 0
	step := func() {
		now := t0.Add(time.Duration(i) * 20 * time.Millisecond)
		jb.Push(uint16(i), uint32(960*i), false, payload, now)
		for jb.Pop(now.Add(40*time.Millisecond)).Kind != FrameNone {
		}
		i++
	}
	for range 100 {
		step()
	}
	if a := testing.AllocsPerRun(1000, step); a != 0 {
		t.Fatalf("%v allocations per push/pop", a)
	}
}

func BenchmarkJitterBuffer(b *testing.B) {
	jb := NewJitterBuffer(JitterConfig{ClockRate: 48000, FrameTS: 960})
	payload := make([]byte, 160)
	t0 := time.Unix(1000, 0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now := t0.Add(time.Duration(i) * 20 * time.Millisecond)
		jb.Push(uint16(i), uint32(960*i), false, payload, now)
		for jb.Pop(now.Add(40*time.Millisecond)).Kind != FrameNone {
		}
		i++
	}
}

func TestJitterBufferSlowSenderDoesNotStarve(t *testing.T) {
	// The sender's clock runs 2% slow: packets come 20.4 ms apart, so the
	// playout point catches up with arrivals once a second.
	jb := NewJitterBuffer(JitterConfig{ClockRate: 8000, FrameTS: 160})
	t0 := time.Unix(1000, 0)
	played := 0
	for i := range 3000 {
		now := t0.Add(time.Duration(i) * 20400 * time.Microsecond)
		jb.Push(uint16(i), uint32(160*i), false, []byte{1}, now)
		for {
			f := jb.Pop(now)
			if f.Kind == FrameNone {
				break
			}
			if f.Kind == FramePacket {
				played++
			}
		}
	}
	// 60 s at 2% is 60 frames of drift: each should cost at most one
	// concealed or silent frame, not a lost packet.
	if st := jb.Stats(); st.Late > 0 || played != 3000 || st.Concealed > 70 {
		t.Fatalf("played %d of 3000, stats %+v", played, st)
	}
}
