package media

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/pion/rtp"
)

func videoPkt(seq uint16, ts uint32, marker bool, payload []byte) *rtp.Packet {
	return &rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, Marker: marker},
		Payload: payload,
	}
}

// cat joins byte slices into a fresh one.
func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var sc = []byte{0, 0, 0, 1}

// h264Collector keeps copies of the frames a depacketizer delivers.
type h264Collector struct{ frames []H264Frame }

func (c *h264Collector) add(f H264Frame) {
	f.Data = bytes.Clone(f.Data)
	c.frames = append(c.frames, f)
}

// videoStep is one packet and the error Push must return for it.
type videoStep struct {
	pkt     *rtp.Packet
	wantErr error // nil: no error; otherwise errors.Is target
}

func runSteps(t *testing.T, push func(*rtp.Packet) error, steps []videoStep) {
	t.Helper()
	for i, s := range steps {
		err := push(s.pkt)
		switch {
		case s.wantErr == nil && err != nil:
			t.Fatalf("packet %d: unexpected error %v", i, err)
		case s.wantErr != nil && !errors.Is(err, s.wantErr):
			t.Fatalf("packet %d: error %v, want %v", i, err, s.wantErr)
		}
	}
}

func TestH264Depacketize(t *testing.T) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1f}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	idr := []byte{0x65, 0x88, 0x84, 0x00, 0x33}
	slice := []byte{0x41, 0x9a, 0x02}
	stap := cat([]byte{0x78, 0, 4}, sps, []byte{0, 4}, pps)
	fuStart := []byte{0x7c, 0x85, 0x88, 0x84}
	fuMid := []byte{0x7c, 0x05, 0x00}
	fuEnd := []byte{0x7c, 0x45, 0x33}
	tests := []struct {
		name   string
		steps  []videoStep
		want   [][]byte // frame data, Annex B
		wantTS []uint32
		idr    []bool
		params []bool // SPS and PPS both present
	}{
		{
			name:  "single NAL with marker",
			steps: []videoStep{{pkt: videoPkt(1, 90, true, slice)}},
			want:  [][]byte{cat(sc, slice)}, wantTS: []uint32{90}, idr: []bool{false}, params: []bool{false},
		},
		{
			name: "STAP-A then FU-A keyframe",
			steps: []videoStep{
				{pkt: videoPkt(1, 90, false, stap)},
				{pkt: videoPkt(2, 90, false, fuStart)},
				{pkt: videoPkt(3, 90, false, fuMid)},
				{pkt: videoPkt(4, 90, true, fuEnd)},
			},
			want:   [][]byte{cat(sc, sps, sc, pps, sc, idr)},
			wantTS: []uint32{90}, idr: []bool{true}, params: []bool{true},
		},
		{
			name: "timestamp change ends frame without marker",
			steps: []videoStep{
				{pkt: videoPkt(1, 90, false, slice)},
				{pkt: videoPkt(2, 180, false, slice)},
				{pkt: videoPkt(3, 180, true, idr)},
			},
			want:   [][]byte{cat(sc, slice), cat(sc, slice, sc, idr)},
			wantTS: []uint32{90, 180}, idr: []bool{false, true}, params: []bool{false, false},
		},
		{
			name: "timestamp change then single-packet frame emits both",
			steps: []videoStep{
				{pkt: videoPkt(1, 90, false, slice)},
				{pkt: videoPkt(2, 180, true, idr)},
			},
			want:   [][]byte{cat(sc, slice), cat(sc, idr)},
			wantTS: []uint32{90, 180}, idr: []bool{false, true}, params: []bool{false, false},
		},
		{
			name: "sequence gap inside frame breaks it, next frame is fine",
			steps: []videoStep{
				{pkt: videoPkt(1, 90, false, fuStart)},
				{pkt: videoPkt(3, 90, true, fuEnd), wantErr: ErrFrameLoss},
				{pkt: videoPkt(4, 180, true, slice)},
			},
			want: [][]byte{cat(sc, slice)}, wantTS: []uint32{180}, idr: []bool{false}, params: []bool{false},
		},
		{
			name: "gap before a new frame drops that frame, reported once",
			steps: []videoStep{
				{pkt: videoPkt(1, 90, true, slice)},
				{pkt: videoPkt(5, 180, false, slice), wantErr: ErrFrameLoss},
				{pkt: videoPkt(6, 180, true, slice)},
				{pkt: videoPkt(7, 270, true, idr)},
			},
			want: [][]byte{cat(sc, slice), cat(sc, idr)}, wantTS: []uint32{90, 270}, idr: []bool{false, true}, params: []bool{false, false},
		},
		{
			name: "gap across sequence wrap",
			steps: []videoStep{
				{pkt: videoPkt(65535, 90, false, slice)},
				{pkt: videoPkt(0, 90, true, slice)},
				{pkt: videoPkt(2, 180, true, slice), wantErr: ErrFrameLoss},
				{pkt: videoPkt(3, 270, true, slice)},
			},
			want: [][]byte{cat(sc, slice, sc, slice), cat(sc, slice)}, wantTS: []uint32{90, 270}, idr: []bool{false, false}, params: []bool{false, false},
		},
		{
			name: "duplicate packet ignored",
			steps: []videoStep{
				{pkt: videoPkt(1, 90, false, slice)},
				{pkt: videoPkt(1, 90, false, slice)},
				{pkt: videoPkt(2, 90, true, idr)},
			},
			want: [][]byte{cat(sc, slice, sc, idr)}, wantTS: []uint32{90}, idr: []bool{true}, params: []bool{false},
		},
		{
			name: "FU-A without start",
			steps: []videoStep{
				{pkt: videoPkt(1, 90, false, fuMid), wantErr: errFUNoStart},
				{pkt: videoPkt(2, 90, true, fuEnd)},
				{pkt: videoPkt(3, 180, true, slice)},
			},
			want: [][]byte{cat(sc, slice)}, wantTS: []uint32{180}, idr: []bool{false}, params: []bool{false},
		},
		{
			name: "FU-A missing end at marker",
			steps: []videoStep{
				{pkt: videoPkt(1, 90, false, fuStart)},
				{pkt: videoPkt(2, 90, true, fuMid), wantErr: errFUNoEnd},
				{pkt: videoPkt(3, 180, true, slice)},
			},
			want: [][]byte{cat(sc, slice)}, wantTS: []uint32{180}, idr: []bool{false}, params: []bool{false},
		},
		{
			name: "FU-A missing end at timestamp change",
			steps: []videoStep{
				{pkt: videoPkt(1, 90, false, fuStart)},
				{pkt: videoPkt(2, 180, true, slice), wantErr: errFUNoEnd},
			},
			want: [][]byte{cat(sc, slice)}, wantTS: []uint32{180}, idr: []bool{false}, params: []bool{false},
		},
		{
			name: "single NAL interrupts FU-A",
			steps: []videoStep{
				{pkt: videoPkt(1, 90, false, fuStart)},
				{pkt: videoPkt(2, 90, true, slice), wantErr: errFUNoEnd},
			},
		},
		{
			name: "second FU-A start before end",
			steps: []videoStep{
				{pkt: videoPkt(1, 90, false, fuStart)},
				{pkt: videoPkt(2, 90, true, fuStart), wantErr: errFUNoEnd},
			},
		},
		{
			name: "STAP-B rejected",
			steps: []videoStep{
				{pkt: videoPkt(1, 90, true, []byte{0x79, 0, 1, 0, 2, 0x67, 0x42}), wantErr: ErrH264Unsupported},
				{pkt: videoPkt(2, 180, true, slice)},
			},
			want: [][]byte{cat(sc, slice)}, wantTS: []uint32{180}, idr: []bool{false}, params: []bool{false},
		},
		{
			name:  "MTAP16 rejected",
			steps: []videoStep{{pkt: videoPkt(1, 90, true, []byte{0x7a, 0, 1}), wantErr: ErrH264Unsupported}},
		},
		{
			name:  "MTAP24 rejected",
			steps: []videoStep{{pkt: videoPkt(1, 90, true, []byte{0x7b, 0, 1}), wantErr: ErrH264Unsupported}},
		},
		{
			name:  "FU-B rejected",
			steps: []videoStep{{pkt: videoPkt(1, 90, true, []byte{0x7d, 0x85, 0, 1, 2}), wantErr: ErrH264Unsupported}},
		},
		{
			name:  "reserved type 0 rejected",
			steps: []videoStep{{pkt: videoPkt(1, 90, true, []byte{0x00, 1}), wantErr: ErrFrameLoss}},
		},
		{
			name:  "STAP-A size overruns",
			steps: []videoStep{{pkt: videoPkt(1, 90, true, []byte{0x78, 0, 9, 0x67, 0x42}), wantErr: ErrH264Malformed}},
		},
		{
			name:  "STAP-A zero size",
			steps: []videoStep{{pkt: videoPkt(1, 90, true, []byte{0x78, 0, 0}), wantErr: ErrH264Malformed}},
		},
		{
			name:  "STAP-A trailing byte",
			steps: []videoStep{{pkt: videoPkt(1, 90, true, []byte{0x78, 0, 1, 0x67, 0}), wantErr: ErrH264Malformed}},
		},
		{
			name:  "FU-A too short",
			steps: []videoStep{{pkt: videoPkt(1, 90, true, []byte{0x7c, 0x85}), wantErr: ErrH264Malformed}},
		},
		{
			name: "empty payload keeps frame",
			steps: []videoStep{
				{pkt: videoPkt(1, 90, false, slice)},
				{pkt: videoPkt(2, 90, false, nil)},
				{pkt: videoPkt(3, 90, true, slice)},
			},
			want: [][]byte{cat(sc, slice, sc, slice)}, wantTS: []uint32{90}, idr: []bool{false}, params: []bool{false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c h264Collector
			d := NewH264Depacketizer(c.add, 0)
			runSteps(t, d.Push, tt.steps)
			if len(c.frames) != len(tt.want) {
				t.Fatalf("got %d frames, want %d", len(c.frames), len(tt.want))
			}
			for i, f := range c.frames {
				if !bytes.Equal(f.Data, tt.want[i]) {
					t.Errorf("frame %d: data % x, want % x", i, f.Data, tt.want[i])
				}
				if f.Timestamp != tt.wantTS[i] || f.IDR != tt.idr[i] || (f.SPS && f.PPS) != tt.params[i] {
					t.Errorf("frame %d: ts %d idr %v sps %v pps %v, want ts %d idr %v params %v",
						i, f.Timestamp, f.IDR, f.SPS, f.PPS, tt.wantTS[i], tt.idr[i], tt.params[i])
				}
			}
		})
	}
}

func TestH264DepacketizeFrameLimit(t *testing.T) {
	var c h264Collector
	d := NewH264Depacketizer(c.add, 100)
	big := make([]byte, 60)
	big[0] = 0x41
	if err := d.Push(videoPkt(1, 90, false, big)); err != nil {
		t.Fatal(err)
	}
	if err := d.Push(videoPkt(2, 90, false, big)); !errors.Is(err, ErrFrameTooLarge) || !errors.Is(err, ErrFrameLoss) {
		t.Fatalf("error %v, want ErrFrameTooLarge and ErrFrameLoss", err)
	}
	if err := d.Push(videoPkt(3, 90, true, big)); err != nil {
		t.Fatalf("rest of the broken frame: %v", err)
	}
	if err := d.Push(videoPkt(4, 180, true, big)); err != nil {
		t.Fatal(err)
	}
	if len(c.frames) != 1 || c.frames[0].Timestamp != 180 || len(c.frames[0].Data) != 64 {
		t.Fatalf("frames %+v, want one 64-byte frame at ts 180", c.frames)
	}
	if cap(d.buf) > 100 {
		t.Errorf("buffer grew to %d beyond the 100-byte limit", cap(d.buf))
	}
}

func TestH264Packetize(t *testing.T) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1f}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	idr := []byte{0x65, 1, 2, 3, 4, 5, 6, 7}
	tests := []struct {
		name      string
		mtu       int
		mode      H264PacketizationMode
		aggregate bool
		au        []byte
		want      [][]byte
		wantErr   error
	}{
		{
			name: "single NALs fit, 3-byte start codes and trailing zeros",
			mtu:  100, mode: H264ModeNonInterleaved,
			au:   cat([]byte{0, 0, 1}, sps, []byte{0, 0, 0, 0, 1}, pps, sc, idr, []byte{0}),
			want: [][]byte{sps, pps, idr},
		},
		{
			name: "STAP-A for SPS and PPS",
			mtu:  100, mode: H264ModeNonInterleaved, aggregate: true,
			au:   cat(sc, sps, sc, pps, sc, idr),
			want: [][]byte{cat([]byte{0x78, 0, 4}, sps, []byte{0, 4}, pps), idr},
		},
		{
			name: "STAP-A skipped when it does not fit",
			mtu:  10, mode: H264ModeNonInterleaved, aggregate: true,
			au:   cat(sc, sps, sc, pps),
			want: [][]byte{sps, pps},
		},
		{
			name: "FU-A split",
			mtu:  5, mode: H264ModeNonInterleaved,
			au:   cat(sc, idr),
			want: [][]byte{{0x7c, 0x85, 1, 2, 3}, {0x7c, 0x05, 4, 5, 6}, {0x7c, 0x45, 7}},
		},
		{
			name: "mode 0 fits",
			mtu:  8, mode: H264ModeSingleNAL, aggregate: true,
			au:   cat(sc, sps, sc, pps, sc, idr),
			want: [][]byte{sps, pps, idr},
		},
		{
			name: "mode 0 too large",
			mtu:  7, mode: H264ModeSingleNAL,
			au:      cat(sc, idr),
			wantErr: ErrNALTooLarge,
		},
		{
			name: "no start code",
			mtu:  100, mode: H264ModeNonInterleaved,
			au:      idr,
			wantErr: ErrNoNAL,
		},
		{
			name: "only start codes",
			mtu:  100, mode: H264ModeNonInterleaved,
			au:      cat(sc, sc),
			wantErr: ErrNoNAL,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewH264Packetizer(tt.mtu, tt.mode, tt.aggregate)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Packetize(tt.au)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d payloads % x, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				if !bytes.Equal(got[i], tt.want[i]) {
					t.Errorf("payload %d: % x, want % x", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestNewH264PacketizerErrors(t *testing.T) {
	if _, err := NewH264Packetizer(2, H264ModeNonInterleaved, false); !errors.Is(err, ErrMTU) {
		t.Errorf("mtu 2: %v, want ErrMTU", err)
	}
	if _, err := NewH264Packetizer(1200, 2, false); !errors.Is(err, ErrH264Unsupported) {
		t.Errorf("mode 2: %v, want ErrH264Unsupported", err)
	}
}

// randomAU builds an Annex B access unit of NAL units whose bodies hold no
// zero bytes, so no start code or trailing zero can appear inside them.
func randomAU(r *rand.Rand, nals, maxNAL int) ([]byte, []int) {
	var au []byte
	var types []int
	for range nals {
		typ := []byte{1, 5, 6, 7, 8}[r.IntN(5)]
		n := 1 + r.IntN(maxNAL)
		au = append(au, sc...)
		au = append(au, byte(r.IntN(4))<<5|typ)
		for range n - 1 {
			au = append(au, byte(1+r.IntN(255)))
		}
		types = append(types, int(typ))
	}
	return au, types
}

func TestH264RoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, mtu := range []int{3, 7, 100, 576, 1200, 1400} {
		for _, aggregate := range []bool{false, true} {
			p, err := NewH264Packetizer(mtu, H264ModeNonInterleaved, aggregate)
			if err != nil {
				t.Fatal(err)
			}
			var c h264Collector
			d := NewH264Depacketizer(c.add, 0)
			seq := uint16(r.Uint32())
			var sent [][]byte
			var types [][]int
			for i := range 40 {
				au, ty := randomAU(r, 1+r.IntN(5), []int{10, 300, 5000, 60000}[r.IntN(4)])
				payloads, err := p.Packetize(au)
				if err != nil {
					t.Fatalf("mtu %d: %v", mtu, err)
				}
				for j, pl := range payloads {
					if len(pl) > mtu {
						t.Fatalf("mtu %d: payload of %d bytes", mtu, len(pl))
					}
					if err := d.Push(videoPkt(seq, uint32(i)*3000, j == len(payloads)-1, pl)); err != nil {
						t.Fatalf("mtu %d frame %d: %v", mtu, i, err)
					}
					seq++
				}
				sent = append(sent, au)
				types = append(types, ty)
			}
			if len(c.frames) != len(sent) {
				t.Fatalf("mtu %d: %d frames out, %d in", mtu, len(c.frames), len(sent))
			}
			for i, f := range c.frames {
				if !bytes.Equal(f.Data, sent[i]) {
					t.Fatalf("mtu %d aggregate %v frame %d differs (%d vs %d bytes)", mtu, aggregate, i, len(f.Data), len(sent[i]))
				}
				if f.NALs != len(types[i]) || f.IDR != contains(types[i], 5) || f.SPS != contains(types[i], 7) || f.PPS != contains(types[i], 8) {
					t.Fatalf("frame %d flags %+v for types %v", i, f, types[i])
				}
			}
		}
	}
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestH264Allocs(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	au, _ := randomAU(r, 4, 3000)
	p, err := NewH264Packetizer(1200, H264ModeNonInterleaved, true)
	if err != nil {
		t.Fatal(err)
	}
	frames := 0
	d := NewH264Depacketizer(func(H264Frame) { frames++ }, 0)
	var pkt rtp.Packet
	seq, ts := uint16(0), uint32(0)
	run := func() {
		payloads, err := p.Packetize(au)
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
	run() // warm the buffers
	if a := testing.AllocsPerRun(100, run); a != 0 {
		t.Errorf("%v allocations per frame, want 0", a)
	}
	if frames != 102 {
		t.Errorf("%d frames delivered, want 102", frames)
	}
}

// fuzzPackets splits fuzz input into packets: per packet a flags byte (bit 0
// marker, bit 1 skip a sequence number, bit 2 advance the timestamp), a
// length byte and the payload.
func fuzzPackets(data []byte, fn func(*rtp.Packet)) {
	var pkt rtp.Packet
	seq, ts := uint16(100), uint32(0)
	for len(data) >= 2 {
		flags, n := data[0], int(data[1])
		data = data[2:]
		n = min(n, len(data))
		if flags&2 != 0 {
			seq++
		}
		if flags&4 != 0 {
			ts += 3000
		}
		pkt.SequenceNumber, pkt.Timestamp, pkt.Marker, pkt.Payload = seq, ts, flags&1 != 0, data[:n]
		data = data[n:]
		seq++
		fn(&pkt)
	}
}

func FuzzH264Depacketize(f *testing.F) {
	f.Add([]byte{1, 3, 0x41, 0x9a, 0x02})
	f.Add([]byte{0, 13, 0x78, 0, 4, 0x67, 0x42, 0xc0, 0x1f, 0, 4, 0x68, 0xce, 0x3c, 0x80, 0, 4, 0x7c, 0x85, 0x88, 0x84, 1, 3, 0x7c, 0x45, 0x33})
	f.Add([]byte{0, 4, 0x7c, 0x85, 0x88, 0x84, 6, 3, 0x7c, 0x45, 0x33, 5, 2, 0x65, 0x01})
	const limit = 1 << 10
	f.Fuzz(func(t *testing.T, data []byte) {
		d := NewH264Depacketizer(func(fr H264Frame) {
			if len(fr.Data) > limit || fr.NALs == 0 || !bytes.HasPrefix(fr.Data, sc) {
				t.Fatalf("bad frame: %d bytes, %d NALs", len(fr.Data), fr.NALs)
			}
		}, limit)
		fuzzPackets(data, func(p *rtp.Packet) {
			if err := d.Push(p); err != nil && !errors.Is(err, ErrFrameLoss) {
				t.Fatalf("error %v does not wrap ErrFrameLoss", err)
			}
		})
		if cap(d.buf) > limit {
			t.Fatalf("buffer grew to %d", cap(d.buf))
		}
	})
}

func BenchmarkH264Depacketize(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	au, _ := randomAU(r, 3, 20000)
	p, err := NewH264Packetizer(1200, H264ModeNonInterleaved, true)
	if err != nil {
		b.Fatal(err)
	}
	payloads, err := p.Packetize(au)
	if err != nil {
		b.Fatal(err)
	}
	d := NewH264Depacketizer(func(H264Frame) {}, 0)
	var pkt rtp.Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(au)) / int64(len(payloads)))
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

func BenchmarkH264Packetize(b *testing.B) {
	r := rand.New(rand.NewPCG(7, 8))
	au, _ := randomAU(r, 3, 20000)
	p, err := NewH264Packetizer(1200, H264ModeNonInterleaved, true)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(au)))
	packets := 0
	for b.Loop() {
		payloads, err := p.Packetize(au)
		if err != nil {
			b.Fatal(err)
		}
		packets += len(payloads)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(packets), "ns/packet")
}
