package media

import (
	"slices"
	"testing"
	"time"
)

// roStep is one event for the reorder buffer: a packet arrives at at
// (relative to t0), or, with tick, only time passes.
type roStep struct {
	seq  uint16
	at   time.Duration
	tick bool
}

func TestReorderBuffer(t *testing.T) {
	const wait = 40 * time.Millisecond
	tests := []struct {
		name   string
		steps  []roStep
		want   []uint16
		lost   uint64
		reord  uint64
		late   uint64
		dup    uint64
		isHeld bool
	}{
		{name: "in order", steps: []roStep{{seq: 10}, {seq: 11}, {seq: 12}}, want: []uint16{10, 11, 12}},
		{name: "swap", steps: []roStep{{seq: 10}, {seq: 12}, {seq: 11}, {seq: 13}}, want: []uint16{10, 11, 12, 13}, reord: 1},
		{name: "gap waits then gives up", steps: []roStep{{seq: 10}, {seq: 12}, {seq: 13}, {at: wait - time.Millisecond, tick: true}},
			want: []uint16{10}, isHeld: true},
		{name: "gap given up after wait", steps: []roStep{{seq: 10}, {seq: 12}, {seq: 13}, {at: wait, tick: true}},
			want: []uint16{10, 12, 13}, lost: 1},
		{name: "late after give-up", steps: []roStep{{seq: 10}, {seq: 12}, {at: wait, tick: true}, {seq: 11, at: wait}},
			want: []uint16{10, 12}, lost: 1, late: 1},
		{name: "duplicate held", steps: []roStep{{seq: 10}, {seq: 12}, {seq: 12}, {seq: 11}},
			want: []uint16{10, 11, 12}, dup: 1, reord: 1},
		{name: "wrap", steps: []roStep{{seq: 65534}, {seq: 0}, {seq: 65535}, {seq: 1}},
			want: []uint16{65534, 65535, 0, 1}, reord: 1},
		{name: "window overflow gives up the oldest gap", steps: []roStep{{seq: 0}, {seq: 2}, {seq: 2 + reorderSlots}},
			want: []uint16{0, 2}, lost: 1, isHeld: true},
		{name: "one far packet is dropped", steps: []roStep{{seq: 100}, {seq: 40000}, {seq: 101}},
			want: []uint16{100, 101}},
		{name: "two far packets in sequence restart", steps: []roStep{{seq: 100}, {seq: 40000}, {seq: 40001}, {seq: 40002}},
			want: []uint16{100, 40001, 40002}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b reorderBuffer
			var got []uint16
			deliver := func(seq uint16, ts uint32, marker bool, payload []byte) {
				if len(payload) != 1 || payload[0] != byte(seq) {
					t.Fatalf("seq %d delivered payload %v", seq, payload)
				}
				got = append(got, seq)
			}
			t0 := time.Unix(1000, 0)
			for _, s := range tc.steps {
				if s.tick {
					b.release(t0.Add(s.at), wait, deliver)
					continue
				}
				b.push(s.seq, uint32(s.seq), false, []byte{byte(s.seq)}, t0.Add(s.at), wait, deliver)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("delivered %v, want %v", got, tc.want)
			}
			st := b.st
			if st.lost != tc.lost || st.reordered != tc.reord || st.late != tc.late || st.dup != tc.dup {
				t.Fatalf("stats %+v", st)
			}
			if b.pending() != tc.isHeld {
				t.Fatalf("pending %v, want %v", b.pending(), tc.isHeld)
			}
		})
	}
}

func TestReorderBufferNACKPacing(t *testing.T) {
	var b reorderBuffer
	t0 := time.Unix(1000, 0)
	nop := func(uint16, uint32, bool, []byte) {}
	const retry = 30 * time.Millisecond
	b.push(1, 0, false, []byte{1}, t0, time.Second, nop)
	b.push(4, 0, false, []byte{4}, t0, time.Second, nop) // 2 and 3 missing
	if got, next := b.nackDue(t0, retry, true, nil); len(got) != 0 || !next.Equal(t0.Add(nackGrace)) {
		t.Fatalf("before grace: %v next %v", got, next)
	}
	var asked [][]uint16
	now := t0.Add(nackGrace)
	for range 6 {
		got, _ := b.nackDue(now, retry, true, nil)
		asked = append(asked, got)
		now = now.Add(retry)
	}
	want := [][]uint16{{2, 3}, {2, 3}, {2, 3}, nil, nil, nil}
	for i := range want {
		if !slices.Equal(asked[i], want[i]) {
			t.Fatalf("round %d asked %v, want %v (all %v)", i, asked[i], want[i], asked)
		}
	}
	// A repair of 2 counts as recovered.
	b.push(2, 0, false, []byte{2}, now, time.Second, nop)
	if b.st.recovered != 1 {
		t.Fatalf("recovered %d", b.st.recovered)
	}
}

func TestKeyframeLimiter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	k := keyframeLimiter{interval: 500 * time.Millisecond}
	if k.due(t0) {
		t.Fatal("due without a need")
	}
	k.pending = true
	if !k.due(t0) {
		t.Fatal("first request not due")
	}
	k.done(t0)
	k.pending = true
	tests := []struct {
		name string
		at   time.Duration
		want bool
	}{
		{"1 ms later", time.Millisecond, false},
		{"499 ms later", 499 * time.Millisecond, false},
		{"500 ms later", 500 * time.Millisecond, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := k.due(t0.Add(tc.at)); got != tc.want {
				t.Fatalf("due %v, want %v", got, tc.want)
			}
		})
	}
	if d, ok := k.deadline(); !ok || !d.Equal(t0.Add(500*time.Millisecond)) {
		t.Fatalf("deadline %v %v", d, ok)
	}
}

func FuzzReorderBuffer(f *testing.F) {
	f.Add([]byte{0, 1, 2, 1, 5, 0, 3, 0, 0})
	f.Add([]byte{0, 0, 0, 0xff, 0xff, 10, 0x80, 0, 0, 0x80, 1, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var b reorderBuffer
		t0 := time.Unix(1000, 0)
		now := t0
		var last uint16
		have := false
		deliver := func(seq uint16, ts uint32, marker bool, payload []byte) {
			// Between restarts, output is strictly increasing in
			// sequence order; a restart may jump anywhere.
			if have && seq == last {
				t.Fatalf("seq %d delivered twice", seq)
			}
			last, have = seq, true
		}
		for len(ops) >= 3 {
			seq := uint16(ops[0])<<8 | uint16(ops[1])
			now = now.Add(time.Duration(ops[2]) * time.Millisecond)
			b.push(seq, 0, false, ops[:1], now, 40*time.Millisecond, deliver)
			b.release(now, 40*time.Millisecond, deliver)
			b.nackDue(now, 20*time.Millisecond, true, nil)
			if b.held < 0 || b.held > reorderSlots {
				t.Fatalf("held %d", b.held)
			}
			ops = ops[3:]
		}
	})
}
