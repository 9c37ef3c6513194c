package media

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"vmrd/internal/codec"
	"vmrd/internal/metrics"
)

// idleSession makes a session whose receive path is driven by the test
// directly (no goroutine), with a fake or real decoder.
func idleSession(tb testing.TB, realDecoder bool) *Session {
	tb.Helper()
	ports, err := testAllocator(tb).Allocate(false)
	if err != nil {
		tb.Fatal(err)
	}
	var conceal, closed atomicCounter
	cfg := SessionConfig{
		Ports: ports, Codec: codec.PCMU, PayloadType: 0, DTMFPayloadType: 101,
		Sink: nopSink{}, Metrics: metrics.New(), RTCPInterval: time.Hour,
	}
	if !realDecoder {
		cfg.NewDecoder = func(codec.AudioCodec) (codec.AudioDecoder, error) {
			return fakeDecoder{concealed: &conceal.Int64, closed: &closed.Int64}, nil
		}
	}
	s, err := NewSession(cfg)
	if err != nil {
		ports.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

var testSource = netip.MustParseAddrPort("127.0.0.1:5004")

func marshal(tb testing.TB, p rtp.Packet) []byte {
	tb.Helper()
	b, err := p.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// FuzzReceive feeds arbitrary datagrams to the receive path between valid
// packets. It must never panic, and a valid stream must still play after
// any garbage.
func FuzzReceive(f *testing.F) {
	valid := marshal(f, rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: 1, Timestamp: 160, SSRC: 7}, Payload: make([]byte, 160)})
	sr, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.SenderReport{SSRC: 7, NTPTime: 1 << 40}})
	f.Add(valid)
	f.Add(sr)
	f.Add([]byte{0x80, 101, 0, 2, 0, 0, 0, 160, 0, 0, 0, 7, 1, 0x8a, 3, 0x20})
	f.Add([]byte{0x90, 0, 0, 3, 0, 0, 1, 0, 0, 0, 0, 7, 0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0, 1})
	f.Add([]byte{0xa0, 0, 0, 4, 0, 0, 1, 0, 0, 0, 0, 7, 1, 2, 3, 3})
	f.Add([]byte{0xbf, 0, 0, 5, 0, 0, 1, 0, 0, 0, 0, 7})
	f.Add([]byte{})
	s := idleSession(f, true)
	r := s.rx
	now := time.Unix(1000, 0)
	r.begin(now)
	seq := uint16(100)
	next := func(t *testing.T) []byte {
		seq++
		return marshal(t, rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 7},
			Payload: valid[12:]})
	}
	r.handle(next(&testing.T{}), testSource, now) // lock SSRC 7 and the source
	f.Fuzz(func(t *testing.T, data []byte) {
		now = now.Add(7 * time.Millisecond)
		r.handle(data, testSource, now)
		r.tick(now)
		before := s.c.packetsIn.Load()
		now = now.Add(7 * time.Millisecond)
		r.handle(next(t), testSource, now)
		r.tick(now)
		if s.c.packetsIn.Load() != before+1 {
			t.Fatalf("valid packet not accepted after %x", data)
		}
	})
}

func TestReceiveNoAllocs(t *testing.T) {
	s := idleSession(t, true)
	r := s.rx
	now := time.Unix(1000, 0)
	r.begin(now)
	buf := marshal(t, rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 7}, Payload: make([]byte, 160)})
	seq := uint16(0)
	step := func() {
		seq++
		buf[2], buf[3] = byte(seq>>8), byte(seq)
		ts := uint32(seq) * 160
		buf[4], buf[5], buf[6], buf[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
		now = now.Add(20 * time.Millisecond)
		r.handle(buf, testSource, now)
		r.tick(now)
	}
	for range 200 {
		step()
	}
	if a := testing.AllocsPerRun(1000, step); a != 0 {
		t.Fatalf("%v allocations per received packet", a)
	}
	if st := s.Stats(); st.PacketsIn != 200+1001 || st.Lost != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// BenchmarkReceive measures the per-packet cost of the receive path after
// the socket read: parse, checks, jitter buffer, decode. "fake" isolates this
// package's share; "pcmu" adds G.711 decoding and resampling to 48 kHz.
func BenchmarkReceive(b *testing.B) {
	for _, bc := range []struct {
		name string
		real bool
	}{{"fake", false}, {"pcmu", true}} {
		b.Run(bc.name, func(b *testing.B) {
			s := idleSession(b, bc.real)
			r := s.rx
			now := time.Unix(1000, 0)
			r.begin(now)
			buf := marshal(b, rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 7}, Payload: make([]byte, 160)})
			seq := uint16(0)
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				seq++
				buf[2], buf[3] = byte(seq>>8), byte(seq)
				ts := uint32(seq) * 160
				buf[4], buf[5], buf[6], buf[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
				now = now.Add(20 * time.Millisecond)
				r.handle(buf, testSource, now)
				r.tick(now)
			}
			b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N), "ns/packet")
			if s.Stats().Lost != 0 {
				b.Fatalf("stats %+v", s.Stats())
			}
		})
	}
}

// BenchmarkReceiveSocket includes the loopback socket and the goroutine
// wake-up: the peer sends one packet and waits until the session accepted it.
func BenchmarkReceiveSocket(b *testing.B) {
	l := newTestLeg(b, false, func(c *SessionConfig) { c.NewDecoder = nil; c.Sink = nopSink{} })
	buf := marshal(b, rtp.Packet{Header: rtp.Header{Version: 2, SSRC: l.ssrc}, Payload: make([]byte, 160)})
	to := l.addr()
	b.ReportAllocs()
	seq := uint16(0)
	for b.Loop() {
		seq++
		buf[2], buf[3] = byte(seq>>8), byte(seq)
		ts := uint32(seq) * 160
		buf[4], buf[5], buf[6], buf[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
		before := l.s.c.packetsIn.Load()
		if _, err := l.peer.WriteToUDP(buf, to); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(time.Second)
		for l.s.c.packetsIn.Load() == before {
			if time.Now().After(deadline) {
				b.Fatal("packet not received")
			}
			runtime.Gosched()
		}
	}
}
