package media

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseTelephoneEvent(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    TelephoneEvent
		digit   rune
		isDigit bool
		err     error
	}{
		{"digit 5 start", []byte{5, 10, 0, 160}, TelephoneEvent{Event: 5, Volume: 10, Duration: 160}, '5', true, nil},
		{"star end", []byte{10, 0x80 | 7, 0x03, 0x20}, TelephoneEvent{Event: 10, End: true, Volume: 7, Duration: 800}, '*', true, nil},
		{"hash", []byte{11, 0, 0, 0}, TelephoneEvent{Event: 11}, '#', true, nil},
		{"A", []byte{12, 0, 0, 0}, TelephoneEvent{Event: 12}, 'A', true, nil},
		{"D", []byte{15, 0, 0, 0}, TelephoneEvent{Event: 15}, 'D', true, nil},
		{"reserved bit ignored", []byte{1, 0x40 | 3, 0, 1}, TelephoneEvent{Event: 1, Volume: 3, Duration: 1}, '1', true, nil},
		{"flash is not a digit", []byte{16, 0x80, 0, 8}, TelephoneEvent{Event: 16, End: true, Duration: 8}, 0, false, nil},
		{"trailing bytes ignored", []byte{0, 0, 0, 1, 9, 9}, TelephoneEvent{Event: 0, Duration: 1}, '0', true, nil},
		{"short", []byte{1, 2, 3}, TelephoneEvent{}, 0, false, ErrShortEvent},
		{"empty", nil, TelephoneEvent{}, 0, false, ErrShortEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTelephoneEvent(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			d, ok := got.Digit()
			if err == nil && (d != tt.digit || ok != tt.isDigit) {
				t.Fatalf("digit %q %v, want %q %v", d, ok, tt.digit, tt.isDigit)
			}
		})
	}
}

func TestDTMFTracker(t *testing.T) {
	type pkt struct {
		ts  uint32
		ev  uint8
		end bool
		dur uint16
	}
	tests := []struct {
		name string
		pkts []pkt
		want []DTMFEvent
	}{
		{
			name: "one press with three end packets",
			pkts: []pkt{{100, 1, false, 160}, {100, 1, false, 320}, {100, 1, true, 800}, {100, 1, true, 800}, {100, 1, true, 800}},
			want: []DTMFEvent{{'1', 100 * time.Millisecond, DTMFRFC4733}},
		},
		{
			name: "same digit twice is two presses",
			pkts: []pkt{{100, 7, true, 400}, {100, 7, true, 400}, {2000, 7, false, 160}, {2000, 7, true, 480}, {2000, 7, true, 480}},
			want: []DTMFEvent{{'7', 50 * time.Millisecond, DTMFRFC4733}, {'7', 60 * time.Millisecond, DTMFRFC4733}},
		},
		{
			name: "lost end packets: reported when the next event starts",
			pkts: []pkt{{100, 9, false, 160}, {100, 9, false, 320}, {900, 11, false, 160}, {900, 11, true, 400}},
			want: []DTMFEvent{{'9', 40 * time.Millisecond, DTMFRFC4733}, {'#', 50 * time.Millisecond, DTMFRFC4733}},
		},
		{
			name: "only an end packet arrives",
			pkts: []pkt{{5, 12, true, 800}},
			want: []DTMFEvent{{'A', 100 * time.Millisecond, DTMFRFC4733}},
		},
		{
			name: "non-digit events are not reported",
			pkts: []pkt{{5, 16, false, 80}, {5, 16, true, 800}, {900, 0, true, 800}},
			want: []DTMFEvent{{'0', 100 * time.Millisecond, DTMFRFC4733}},
		},
		{
			name: "no end yet: nothing",
			pkts: []pkt{{5, 3, false, 80}, {5, 3, false, 160}},
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := dtmfTracker{clockRate: 8000}
			var got []DTMFEvent
			var out [2]DTMFEvent
			for _, p := range tt.pkts {
				n := tr.push(p.ts, TelephoneEvent{Event: p.ev, End: p.end, Duration: p.dur}, &out)
				got = append(got, out[:n]...)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("event %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func FuzzParseTelephoneEvent(f *testing.F) {
	f.Add([]byte{1, 0x8a, 0x03, 0x20}) // digit 1, end, volume 10, 800
	f.Add([]byte{11, 0x00, 0x00, 0xa0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseTelephoneEvent(b)
		if err != nil {
			return
		}
		if len(b) < 4 {
			t.Fatalf("parsed %d bytes: %+v", len(b), ev)
		}
		if d, ok := ev.Digit(); ok && !strings.ContainsRune("0123456789*#ABCD", d) {
			t.Fatalf("event %d gave digit %q", ev.Event, d)
		}
	})
}
