package audio

import (
	"slices"
	"testing"
)

func seq(from, n int) []int16 {
	p := make([]int16, n)
	for i := range p {
		p[i] = int16(from + i)
	}
	return p
}

func TestRing(t *testing.T) {
	type op struct {
		write    []int16 // written if not nil
		read     int     // samples read if > 0
		discard  int
		want     []int16 // what the read returns
		wantDrop int     // what the write drops
	}
	tests := []struct {
		name    string
		ops     []op
		wantLen int
	}{
		{"fifo", []op{{write: seq(0, 3)}, {write: seq(3, 2)}, {read: 4, want: seq(0, 4)}}, 1},
		{"short read", []op{{write: seq(0, 2)}, {read: 5, want: seq(0, 2)}}, 0},
		{"wraps", []op{{write: seq(0, 6)}, {read: 5, want: seq(0, 5)}, {write: seq(6, 6)}, {read: 7, want: seq(5, 7)}}, 0},
		{"full drops oldest", []op{{write: seq(0, 6)}, {write: seq(6, 4), wantDrop: 2}, {read: 8, want: seq(2, 8)}}, 0},
		{"write longer than capacity keeps the tail", []op{{write: seq(0, 3)}, {write: seq(3, 10), wantDrop: 5}, {read: 8, want: seq(5, 8)}}, 0},
		{"discard", []op{{write: seq(0, 6)}, {discard: 4}, {read: 8, want: seq(4, 2)}}, 0},
		{"discard more than queued", []op{{write: seq(0, 2)}, {discard: 4}, {write: seq(9, 1)}, {read: 8, want: seq(9, 1)}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := newRing(8)
			for i, o := range tt.ops {
				switch {
				case o.write != nil:
					if d := q.write(o.write); d != o.wantDrop {
						t.Errorf("op %d: write dropped %d, want %d", i, d, o.wantDrop)
					}
				case o.discard > 0:
					q.discard(o.discard)
				default:
					dst := make([]int16, o.read)
					n := q.read(dst)
					if !slices.Equal(dst[:n], o.want) {
						t.Errorf("op %d: read %v, want %v", i, dst[:n], o.want)
					}
				}
			}
			if q.len() != tt.wantLen {
				t.Errorf("len = %d, want %d", q.len(), tt.wantLen)
			}
		})
	}
}
