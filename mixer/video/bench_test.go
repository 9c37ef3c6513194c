package video

import (
	"fmt"
	"testing"

	"vmrd/internal/codec"
)

// nopEncoder stands in for a real encoder: a fixed 1000-byte access unit,
// so the benchmarks measure composition, packetization and fan-out.
type nopEncoder struct{ au []byte }

func (e *nopEncoder) Encode(*codec.Frame, bool) ([]byte, bool, error) { return e.au, false, nil }
func (e *nopEncoder) SetBitrate(int) error                            { return nil }
func (e *nopEncoder) Close() error                                    { return nil }

func newNopEncoder(codec.VideoCodec, codec.VideoEncoderConfig) (codec.VideoEncoder, error) {
	au := append([]byte{0, 0, 0, 1, 0x41}, make([]byte, 1000)...)
	for i := 5; i < len(au); i++ {
		au[i] = 0xaa
	}
	return &nopEncoder{au: au}, nil
}

type benchRoom struct {
	m      *Mixer
	clk    *clock
	ins    []*Input
	frames []*codec.Frame
}

func newBenchRoom(b *testing.B, lay string, n, inW, inH int) *benchRoom {
	b.Helper()
	clk := newClock()
	m, err := New(Config{Name: "bench", Layout: lay, NewEncoder: newNopEncoder, Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close() })
	r := &benchRoom{m: m, clk: clk}
	sink := SinkFunc(func([][]byte, uint32, bool) {})
	for i := range n {
		id := fmt.Sprint("p", i)
		in, err := m.Add(id, fmt.Sprint("Participant ", i), Output{Codec: codec.H264, PacketizationMode: 1, Sink: sink})
		if err != nil {
			b.Fatal(err)
		}
		if err := m.SetVisible(id, true); err != nil {
			b.Fatal(err)
		}
		r.ins = append(r.ins, in)
		r.frames = append(r.frames, solid(inW, inH, palette[i%len(palette)]))
	}
	return r
}

// step writes a new picture into every input (outside the timer: the
// receive goroutines do that in service) and ticks.
func (r *benchRoom) step(b *testing.B) {
	b.StopTimer()
	for i, in := range r.ins {
		in.WriteFrame(r.frames[i])
	}
	r.clk.Advance(r.m.period)
	b.StartTimer()
	r.m.Tick()
}

// BenchmarkTick4x720p: four participants sending 640x360 in 4:0 on a
// 1280x720 canvas: four distinct views, each with three pictures scaled
// up to 640x360 cells, labels, packetization; no real encoding.
func BenchmarkTick4x720p(b *testing.B) {
	b.ReportAllocs()
	r := newBenchRoom(b, "4:0", 4, 640, 360)
	for range 10 {
		r.step(b)
	}
	b.ResetTimer()
	for b.Loop() {
		r.step(b)
	}
	st := r.m.Stats()
	b.ReportMetric(float64(st.Groups), "groups")
}

// BenchmarkTick100in1x7: a hundred participants sending 320x180 in 1:7 on
// a 1280x720 canvas: nine views (the eight shown each without themselves,
// and everyone else's), every picture new every tick.
func BenchmarkTick100in1x7(b *testing.B) {
	b.ReportAllocs()
	r := newBenchRoom(b, "1:7", 100, 320, 180)
	for range 10 {
		r.step(b)
	}
	b.ResetTimer()
	for b.Loop() {
		r.step(b)
	}
	st := r.m.Stats()
	b.ReportMetric(float64(st.Groups), "groups")
}

// BenchmarkWriteFrame is the receive goroutine's cost per picture.
func BenchmarkWriteFrame(b *testing.B) {
	for _, size := range [][2]int{{640, 360}, {1280, 720}} {
		b.Run(fmt.Sprintf("%dx%d", size[0], size[1]), func(b *testing.B) {
			b.ReportAllocs()
			r := newBenchRoom(b, "4:0", 1, size[0], size[1])
			in, f := r.ins[0], r.frames[0]
			in.WriteFrame(f)
			in.WriteFrame(f)
			in.WriteFrame(f)
			for b.Loop() {
				in.WriteFrame(f)
			}
		})
	}
}
