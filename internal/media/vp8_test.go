package media

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/pion/rtp"
)

// vp8Key builds a keyframe of n bytes (n >= 10) with the given size.
func vp8Key(w, h, n int) []byte {
	b := make([]byte, n)
	b[0] = 0x10 // P=0, version 0, show_frame
	copy(b[3:], []byte{0x9d, 0x01, 0x2a})
	b[6], b[7] = byte(w), byte(w>>8)
	b[8], b[9] = byte(h), byte(h>>8)
	for i := 10; i < n; i++ {
		b[i] = byte(i)
	}
	return b
}

// vp8Inter builds an interframe of n bytes (n >= 3).
func vp8Inter(n int) []byte {
	b := make([]byte, n)
	b[0] = 0x11 // P=1, show_frame
	for i := 1; i < n; i++ {
		b[i] = byte(i * 7)
	}
	return b
}

type vp8Collector struct{ frames []VP8Frame }

func (c *vp8Collector) add(f VP8Frame) {
	f.Data = bytes.Clone(f.Data)
	c.frames = append(c.frames, f)
}

func TestParseVP8Descriptor(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		ok   bool
		want vp8Descriptor
	}{
		{name: "minimal start", in: []byte{0x10, 0xaa}, ok: true, want: vp8Descriptor{start: true, pictureID: -1, size: 1}},
		{name: "partition 3 no start", in: []byte{0x03, 0xaa}, ok: true, want: vp8Descriptor{partition: 3, pictureID: -1, size: 1}},
		{name: "N bit ignored", in: []byte{0x30, 0xaa}, ok: true, want: vp8Descriptor{start: true, pictureID: -1, size: 1}},
		{name: "X without fields", in: []byte{0x90, 0x00, 0xaa}, ok: true, want: vp8Descriptor{start: true, pictureID: -1, size: 2}},
		{name: "7-bit PictureID", in: []byte{0x90, 0x80, 0x55, 0xaa}, ok: true, want: vp8Descriptor{start: true, pictureID: 0x55, size: 3}},
		{name: "15-bit PictureID", in: []byte{0x90, 0x80, 0xab, 0xcd, 0xaa}, ok: true, want: vp8Descriptor{start: true, pictureID: 0x2bcd, size: 4}},
		{name: "I L T K", in: []byte{0x90, 0xf0, 0x81, 0x02, 0x07, 0x45, 0xaa}, ok: true, want: vp8Descriptor{start: true, pictureID: 0x102, size: 6}},
		{name: "L only", in: []byte{0x80, 0x40, 0x07, 0xaa}, ok: true, want: vp8Descriptor{pictureID: -1, size: 3}},
		{name: "K only", in: []byte{0x80, 0x10, 0x1f, 0xaa}, ok: true, want: vp8Descriptor{pictureID: -1, size: 3}},
		{name: "T only", in: []byte{0x80, 0x20, 0xc0, 0xaa}, ok: true, want: vp8Descriptor{pictureID: -1, size: 3}},
		{name: "empty", in: nil},
		{name: "X truncated", in: []byte{0x90}},
		{name: "PictureID truncated", in: []byte{0x90, 0x80}},
		{name: "15-bit PictureID truncated", in: []byte{0x90, 0x80, 0x80}},
		{name: "TL0PICIDX truncated", in: []byte{0x90, 0xc0, 0x01}},
		{name: "TID truncated", in: []byte{0x90, 0x20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseVP8Descriptor(tt.in)
			if ok != tt.ok {
				t.Fatalf("ok %v, want %v", ok, tt.ok)
			}
			if ok && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestVP8Depacketize(t *testing.T) {
	key := vp8Key(640, 480, 30)
	inter := vp8Inter(20)
	// d builds a payload: descriptor with a 15-bit PictureID, then data.
	d := func(start bool, pid byte, data []byte) []byte {
		b0 := 0x80 | pid
		if start {
			b0 |= 0x10
		}
		return cat([]byte{b0, 0x80, 0x80, 0x07}, data)
	}
	tests := []struct {
		name     string
		steps    []videoStep
		want     [][]byte
		keyframe []bool
		dims     [][2]int
	}{
		{
			name:  "one packet keyframe",
			steps: []videoStep{{pkt: videoPkt(1, 90, true, d(true, 0, key))}},
			want:  [][]byte{key}, keyframe: []bool{true}, dims: [][2]int{{640, 480}},
		},
		{
			name: "three packets, minimal descriptors",
			steps: []videoStep{
				{pkt: videoPkt(1, 90, false, cat([]byte{0x10}, key[:5]))},
				{pkt: videoPkt(2, 90, false, cat([]byte{0x00}, key[5:12]))},
				{pkt: videoPkt(3, 90, true, cat([]byte{0x00}, key[12:]))},
			},
			want: [][]byte{key}, keyframe: []bool{true}, dims: [][2]int{{640, 480}},
		},
		{
			name: "baresip: S=1 at every partition start",
			steps: []videoStep{
				{pkt: videoPkt(1, 90, false, d(true, 0, key[:12]))},
				{pkt: videoPkt(2, 90, false, d(false, 0, key[12:18]))},
				{pkt: videoPkt(3, 90, false, d(true, 1, key[18:25]))},
				{pkt: videoPkt(4, 90, false, d(true, 2, key[25:27]))},
				{pkt: videoPkt(5, 90, true, d(false, 2, key[27:]))},
				{pkt: videoPkt(6, 180, false, d(true, 0, inter[:10]))},
				{pkt: videoPkt(7, 180, true, d(true, 1, inter[10:]))},
			},
			want: [][]byte{key, inter}, keyframe: []bool{true, false}, dims: [][2]int{{640, 480}, {0, 0}},
		},
		{
			name: "gap inside frame drops it, next start resumes",
			steps: []videoStep{
				{pkt: videoPkt(1, 90, false, d(true, 0, key[:12]))},
				{pkt: videoPkt(3, 90, true, d(false, 0, key[12:])), wantErr: ErrFrameLoss},
				{pkt: videoPkt(4, 180, true, d(true, 0, inter))},
			},
			want: [][]byte{inter}, keyframe: []bool{false}, dims: [][2]int{{0, 0}},
		},
		{
			name: "gap before frame start reports loss and keeps the frame",
			steps: []videoStep{
				{pkt: videoPkt(1, 90, true, d(true, 0, key))},
				{pkt: videoPkt(4, 270, true, d(true, 0, inter)), wantErr: ErrFrameLoss},
			},
			want: [][]byte{key, inter}, keyframe: []bool{true, false}, dims: [][2]int{{640, 480}, {0, 0}},
		},
		{
			name: "gap swallows frame start: continuation dropped silently",
			steps: []videoStep{
				{pkt: videoPkt(1, 90, true, d(true, 0, key))},
				{pkt: videoPkt(3, 180, false, d(false, 0, inter[:5])), wantErr: ErrFrameLoss},
				{pkt: videoPkt(4, 180, true, d(true, 1, inter[5:]))},
				{pkt: videoPkt(5, 270, true, d(true, 0, inter))},
			},
			want: [][]byte{key, inter}, keyframe: []bool{true, false}, dims: [][2]int{{640, 480}, {0, 0}},
		},
		{
			name: "join mid-frame",
			steps: []videoStep{
				{pkt: videoPkt(1, 90, true, d(false, 0, inter))},
				{pkt: videoPkt(2, 180, true, d(true, 0, inter))},
			},
			want: [][]byte{inter}, keyframe: []bool{false}, dims: [][2]int{{0, 0}},
		},
		{
			name: "missing marker, new timestamp: previous frame delivered",
			steps: []videoStep{
				{pkt: videoPkt(1, 90, false, d(true, 0, inter))},
				{pkt: videoPkt(2, 180, true, d(true, 0, key))},
			},
			want: [][]byte{inter, key}, keyframe: []bool{false, true}, dims: [][2]int{{0, 0}, {640, 480}},
		},
		{
			name: "second start in the same frame",
			steps: []videoStep{
				{pkt: videoPkt(1, 90, false, d(true, 0, inter))},
				{pkt: videoPkt(2, 90, true, d(true, 0, key)), wantErr: ErrFrameLoss},
			},
			want: [][]byte{key}, keyframe: []bool{true}, dims: [][2]int{{640, 480}},
		},
		{
			name: "timestamp change inside frame",
			steps: []videoStep{
				{pkt: videoPkt(1, 90, false, d(true, 0, inter[:5]))},
				{pkt: videoPkt(2, 180, true, d(false, 0, inter[5:])), wantErr: ErrFrameLoss},
			},
		},
		{
			name: "truncated descriptor breaks frame",
			steps: []videoStep{
				{pkt: videoPkt(1, 90, false, d(true, 0, inter[:5]))},
				{pkt: videoPkt(2, 90, false, []byte{0x90, 0x80}), wantErr: ErrVP8Malformed},
				{pkt: videoPkt(3, 90, true, d(false, 0, inter[5:]))},
			},
		},
		{
			name:  "descriptor without payload",
			steps: []videoStep{{pkt: videoPkt(1, 90, true, []byte{0x10}), wantErr: ErrVP8Malformed}},
		},
		{
			name:  "keyframe without start code",
			steps: []videoStep{{pkt: videoPkt(1, 90, true, d(true, 0, []byte{0x10, 0, 0, 1, 2, 3, 4, 5, 6, 7})), wantErr: ErrVP8Malformed}},
		},
		{
			name:  "keyframe too short",
			steps: []videoStep{{pkt: videoPkt(1, 90, true, d(true, 0, key[:8])), wantErr: ErrVP8Malformed}},
		},
		{
			name:  "keyframe of zero width",
			steps: []videoStep{{pkt: videoPkt(1, 90, true, d(true, 0, vp8Key(0, 480, 12))), wantErr: ErrVP8Malformed}},
		},
		{
			name:  "absurd keyframe size",
			steps: []videoStep{{pkt: videoPkt(1, 90, true, d(true, 0, vp8Key(16383, 16383, 12))), wantErr: ErrVP8Dimensions}},
		},
		{
			name:  "scale bits do not count",
			steps: []videoStep{{pkt: videoPkt(1, 90, true, d(true, 0, vp8Key(0xc000|1280, 0x4000|720, 12)))}},
			want:  [][]byte{vp8Key(0xc000|1280, 0x4000|720, 12)}, keyframe: []bool{true}, dims: [][2]int{{1280, 720}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c vp8Collector
			dp := NewVP8Depacketizer(c.add, VP8Limits{})
			runSteps(t, dp.Push, tt.steps)
			if len(c.frames) != len(tt.want) {
				t.Fatalf("got %d frames, want %d", len(c.frames), len(tt.want))
			}
			for i, f := range c.frames {
				if !bytes.Equal(f.Data, tt.want[i]) {
					t.Errorf("frame %d: data % x, want % x", i, f.Data, tt.want[i])
				}
				if f.Keyframe != tt.keyframe[i] || f.Width != tt.dims[i][0] || f.Height != tt.dims[i][1] {
					t.Errorf("frame %d: key %v %dx%d, want %v %v", i, f.Keyframe, f.Width, f.Height, tt.keyframe[i], tt.dims[i])
				}
				if f.PictureID != 7 && f.PictureID != -1 {
					t.Errorf("frame %d: PictureID %d", i, f.PictureID)
				}
			}
		})
	}
}

func TestVP8DepacketizeLimits(t *testing.T) {
	var c vp8Collector
	d := NewVP8Depacketizer(c.add, VP8Limits{MaxFrameSize: 50, MaxWidth: 1920, MaxHeight: 1080})
	body := vp8Inter(40)
	if err := d.Push(videoPkt(1, 90, false, cat([]byte{0x10}, body))); err != nil {
		t.Fatal(err)
	}
	if err := d.Push(videoPkt(2, 90, true, cat([]byte{0x00}, body))); !errors.Is(err, ErrFrameTooLarge) || !errors.Is(err, ErrFrameLoss) {
		t.Fatalf("error %v, want ErrFrameTooLarge and ErrFrameLoss", err)
	}
	err := d.Push(videoPkt(3, 180, true, cat([]byte{0x10}, vp8Key(1921, 1080, 20))))
	if !errors.Is(err, ErrVP8Dimensions) {
		t.Fatalf("1921x1080: %v, want ErrVP8Dimensions", err)
	}
	if err := d.Push(videoPkt(4, 270, true, cat([]byte{0x10}, vp8Key(1920, 1080, 20)))); err != nil {
		t.Fatalf("1920x1080: %v", err)
	}
	if len(c.frames) != 1 || c.frames[0].Width != 1920 || c.frames[0].Height != 1080 {
		t.Fatalf("frames %+v, want one 1920x1080", c.frames)
	}
}

func TestVP8Packetize(t *testing.T) {
	p, err := NewVP8Packetizer(10, 0x7ffe)
	if err != nil {
		t.Fatal(err)
	}
	frame := []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}
	got, err := p.Packetize(frame)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]byte{
		{0x90, 0x80, 0xff, 0xfe, 1, 2, 3, 4, 5, 6},
		{0x80, 0x80, 0xff, 0xfe, 7, 8, 9, 10, 11, 12},
		{0x80, 0x80, 0xff, 0xfe, 13},
	}
	if len(got) != len(want) {
		t.Fatalf("%d payloads, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("payload %d: % x, want % x", i, got[i], want[i])
		}
	}
	for _, wantID := range []uint16{0x7fff, 0, 1} {
		if p.PictureID() != wantID {
			t.Fatalf("PictureID %#x, want %#x", p.PictureID(), wantID)
		}
		got, err := p.Packetize(frame[:1])
		if err != nil {
			t.Fatal(err)
		}
		if id := uint16(got[0][2]&0x7f)<<8 | uint16(got[0][3]); id != wantID {
			t.Errorf("descriptor PictureID %#x, want %#x", id, wantID)
		}
	}
	if _, err := p.Packetize(nil); !errors.Is(err, ErrVP8Malformed) {
		t.Errorf("empty frame: %v, want ErrVP8Malformed", err)
	}
	if _, err := NewVP8Packetizer(4, 0); !errors.Is(err, ErrMTU) {
		t.Errorf("mtu 4: %v, want ErrMTU", err)
	}
}

func TestVP8RoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, mtu := range []int{5, 17, 100, 1200, 1400} {
		p, err := NewVP8Packetizer(mtu, uint16(r.Uint32()))
		if err != nil {
			t.Fatal(err)
		}
		var c vp8Collector
		d := NewVP8Depacketizer(c.add, VP8Limits{})
		seq := uint16(r.Uint32())
		var sent [][]byte
		var ids []int
		for i := range 60 {
			n := []int{3, 50, 1199, 1200, 1201, 9000, 70000}[r.IntN(7)]
			var frame []byte
			if i%10 == 0 {
				frame = vp8Key(1+r.IntN(4096), 1+r.IntN(4096), max(n, 10))
			} else {
				frame = vp8Inter(n)
			}
			ids = append(ids, int(p.PictureID()))
			payloads, err := p.Packetize(frame)
			if err != nil {
				t.Fatal(err)
			}
			for j, pl := range payloads {
				if len(pl) > mtu {
					t.Fatalf("mtu %d: payload of %d", mtu, len(pl))
				}
				if err := d.Push(videoPkt(seq, uint32(i)*3000, j == len(payloads)-1, pl)); err != nil {
					t.Fatalf("mtu %d frame %d: %v", mtu, i, err)
				}
				seq++
			}
			sent = append(sent, frame)
		}
		if len(c.frames) != len(sent) {
			t.Fatalf("mtu %d: %d frames out, %d in", mtu, len(c.frames), len(sent))
		}
		for i, f := range c.frames {
			if !bytes.Equal(f.Data, sent[i]) || f.PictureID != ids[i] || f.Keyframe != (i%10 == 0) {
				t.Fatalf("mtu %d frame %d: %d bytes id %d key %v, want %d bytes id %d", mtu, i, len(f.Data), f.PictureID, f.Keyframe, len(sent[i]), ids[i])
			}
		}
	}
}

func TestVP8Allocs(t *testing.T) {
	frame := vp8Key(1280, 720, 20000)
	p, err := NewVP8Packetizer(1200, 0)
	if err != nil {
		t.Fatal(err)
	}
	frames := 0
	d := NewVP8Depacketizer(func(VP8Frame) { frames++ }, VP8Limits{})
	var pkt rtp.Packet
	seq, ts := uint16(0), uint32(0)
	run := func() {
		payloads, err := p.Packetize(frame)
		if err != nil {
			t.Fatal(err)
		}
		ts += 3000
		for i, pl := range payloads {
			pkt.SequenceNumber, pkt.Timestamp, pkt.Marker, pkt.Payload = seq, ts, i == len(payloads)-1, pl
			seq++
			if err := d.Push(&pkt); err != nil {
				t.Fatal(err)
			}
		}
	}
	run()
	if a := testing.AllocsPerRun(100, run); a != 0 {
		t.Errorf("%v allocations per frame, want 0", a)
	}
	if frames != 102 {
		t.Errorf("%d frames delivered, want 102", frames)
	}
}

func FuzzVP8Depacketize(f *testing.F) {
	f.Add(cat([]byte{1, 15, 0x90, 0x80, 0x80, 0x01}, vp8Key(320, 240, 11)))
	f.Add([]byte{0, 6, 0x10, 0x10, 0, 0, 0x9d, 0x01, 0, 6, 0x11, 0x2a, 0x40, 0x01, 0xf0, 0, 1, 2, 0x00, 0x01})
	f.Add([]byte{0, 4, 0x90, 0xf0, 0x81, 0x02, 3, 5, 0x10, 0x11, 0, 0, 0})
	const limit = 1 << 10
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewVP8Depacketizer(func(fr VP8Frame) {
			if len(fr.Data) == 0 || len(fr.Data) > limit {
				t.Fatalf("frame of %d bytes", len(fr.Data))
			}
			if fr.Keyframe && (fr.Width < 1 || fr.Width > 640 || fr.Height < 1 || fr.Height > 480) {
				t.Fatalf("keyframe %dx%d beyond limits", fr.Width, fr.Height)
			}
			if fr.PictureID < -1 || fr.PictureID > 0x7fff {
				t.Fatalf("PictureID %d", fr.PictureID)
			}
		}, VP8Limits{MaxFrameSize: limit, MaxWidth: 640, MaxHeight: 480})
		fuzzPackets(data, func(p *rtp.Packet) {
			if err := d.Push(p); err != nil && !errors.Is(err, ErrFrameLoss) && !errors.Is(err, ErrVP8Dimensions) {
				t.Fatalf("unexpected error kind: %v", err)
			}
		})
		if cap(d.buf) > limit {
			t.Fatalf("buffer grew to %d", cap(d.buf))
		}
	})
}

func BenchmarkVP8Depacketize(b *testing.B) {
	frame := vp8Key(1280, 720, 30000)
	p, err := NewVP8Packetizer(1200, 0)
	if err != nil {
		b.Fatal(err)
	}
	payloads, err := p.Packetize(frame)
	if err != nil {
		b.Fatal(err)
	}
	d := NewVP8Depacketizer(func(VP8Frame) {}, VP8Limits{})
	var pkt rtp.Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)) / int64(len(payloads)))
	seq := uint16(0)
	for i := 0; b.Loop(); i++ {
		j := i % len(payloads)
		pkt.SequenceNumber, pkt.Timestamp, pkt.Marker, pkt.Payload = seq, uint32(i/len(payloads)), j == len(payloads)-1, payloads[j]
		seq++
		if err := d.Push(&pkt); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/packet")
}

func BenchmarkVP8Packetize(b *testing.B) {
	frame := vp8Key(1280, 720, 30000)
	p, err := NewVP8Packetizer(1200, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	packets := 0
	for b.Loop() {
		payloads, err := p.Packetize(frame)
		if err != nil {
			b.Fatal(err)
		}
		packets += len(payloads)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(packets), "ns/packet")
}
