package media

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"go.uber.org/goleak"

	"vmrd/internal/codec"
	"vmrd/internal/metrics"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var (
	allocOnce sync.Once
	allocator *PortAllocator
)

func testAllocator(t testing.TB) *PortAllocator {
	t.Helper()
	allocOnce.Do(func() {
		a, err := NewPortAllocator(net.IPv4(127, 0, 0, 1), testPortMin+400, testPortMax)
		if err != nil {
			panic(err)
		}
		allocator = a
	})
	return allocator
}

// fakeDecoder "decodes" a payload into FrameSamples copies of its first two
// bytes, so a sink can tell which packet it got; concealment writes -1.
type fakeDecoder struct {
	concealed *atomic.Int64
	closed    *atomic.Int64
}

func (d fakeDecoder) Decode(p []byte, pcm []int16) (int, error) {
	v := int16(p[0])<<8 | int16(p[1%len(p)])
	if len(p) == 1 {
		v = int16(p[0])
	}
	for i := range codec.FrameSamples {
		pcm[i] = v
	}
	return codec.FrameSamples, nil
}

func (d fakeDecoder) Conceal(pcm []int16) (int, error) {
	d.concealed.Add(1)
	for i := range codec.FrameSamples {
		pcm[i] = -1
	}
	return codec.FrameSamples, nil
}

func (d fakeDecoder) Close() error { d.closed.Add(1); return nil }

// recordSink keeps the first sample of every frame written.
type recordSink struct {
	mu     sync.Mutex
	frames []int16
	sizes  []int
}

func (s *recordSink) Write(pcm []int16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frames = append(s.frames, pcm[0])
	s.sizes = append(s.sizes, len(pcm))
}

func (s *recordSink) got() []int16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int16(nil), s.frames...)
}

func (s *recordSink) String() string { return "Sink(test)" }

type nopSink struct{}

func (nopSink) Write([]int16) {}

// testLeg is a session plus the peer socket that plays the phone.
type testLeg struct {
	s         *Session
	peer      *net.UDPConn
	sink      *recordSink
	m         *metrics.Metrics
	concealed atomic.Int64
	decClosed atomic.Int64
	dtmf      chan DTMFEvent
	timeouts  atomic.Int64
	ssrc      uint32
	seq       uint16
	ts        uint32
}

func listenPeer(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newTestLeg(t testing.TB, withRTCP bool, mutate func(*SessionConfig)) *testLeg {
	t.Helper()
	ports, err := testAllocator(t).Allocate(withRTCP)
	if err != nil {
		t.Fatal(err)
	}
	l := &testLeg{peer: listenPeer(t), sink: &recordSink{}, m: metrics.New(),
		dtmf: make(chan DTMFEvent, 16), ssrc: 0x1234, seq: 1000, ts: 50000}
	cfg := SessionConfig{
		Ports:           ports,
		Remote:          l.peer.LocalAddr().(*net.UDPAddr),
		Codec:           codec.PCMU,
		PayloadType:     0,
		DTMFPayloadType: 101,
		Sink:            l.sink,
		OnDTMF:          func(e DTMFEvent) { l.dtmf <- e },
		OnTimeout:       func() { l.timeouts.Add(1) },
		NoRTPTimeout:    10 * time.Second,
		RTCPInterval:    time.Hour,
		SourceSilence:   200 * time.Millisecond,
		NewDecoder: func(codec.AudioCodec) (codec.AudioDecoder, error) {
			return fakeDecoder{concealed: &l.concealed, closed: &l.decClosed}, nil
		},
		Metrics: l.m,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := NewSession(cfg)
	if err != nil {
		ports.Close()
		t.Fatal(err)
	}
	l.s = s
	t.Cleanup(func() { s.Close() })
	s.Start()
	return l
}

func (l *testLeg) addr() *net.UDPAddr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: l.s.LocalPort()}
}

// packet builds the next RTP packet of the peer's stream with a payload
// tagged by tag (the fake decoder's output).
func (l *testLeg) packet(tag int16) *rtp.Packet {
	p := &rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: l.seq, Timestamp: l.ts, SSRC: l.ssrc},
		Payload: []byte{byte(tag >> 8), byte(tag)},
	}
	l.seq++
	l.ts += 160
	return p
}

func (l *testLeg) sendPacket(t testing.TB, from *net.UDPConn, p *rtp.Packet) {
	t.Helper()
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	l.sendRaw(t, from, b)
}

func (l *testLeg) sendRaw(t testing.TB, from *net.UDPConn, b []byte) {
	t.Helper()
	if from == nil {
		from = l.peer
	}
	if _, err := from.WriteToUDP(b, l.addr()); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// readRTP reads packets at c until one parses as RTP (skipping RTCP).
func readRTP(t testing.TB, c *net.UDPConn) (*rtp.Packet, *net.UDPAddr) {
	t.Helper()
	buf := make([]byte, 2000)
	for {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, from, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("reading RTP: %v", err)
		}
		if pt := buf[1] & 0x7f; pt >= 64 && pt <= 95 {
			continue
		}
		p := &rtp.Packet{}
		if err := p.Unmarshal(append([]byte(nil), buf[:n]...)); err != nil {
			t.Fatalf("bad RTP from session: %v", err)
		}
		return p, from
	}
}

type atomicCounter struct{ atomic.Int64 }
