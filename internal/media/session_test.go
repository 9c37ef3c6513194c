package media

import (
	"bytes"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"vmrd/internal/codec"
	"vmrd/internal/metrics"
)

func tags(from, to int16) []int16 {
	var out []int16
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func waitFrames(t *testing.T, l *testLeg, want []int16) {
	t.Helper()
	eventually(t, "decoded frames", func() bool { return len(l.sink.got()) >= len(want) })
	if got := l.sink.got()[:len(want)]; !slices.Equal(got, want) {
		t.Fatalf("sink got %v, want %v", got, want)
	}
}

func TestSessionReceivesInOrder(t *testing.T) {
	l := newTestLeg(t, false, nil)
	for i := int16(1); i <= 10; i++ {
		l.sendPacket(t, nil, l.packet(i))
	}
	waitFrames(t, l, tags(1, 10))
	st := l.s.Stats()
	if st.PacketsIn != 10 || st.BytesIn != 20 || st.Lost != 0 || len(st.Invalid) != 0 {
		t.Fatalf("stats %+v", st)
	}
	if l.m.RTPPacketsIn.Load() != 10 {
		t.Fatalf("metrics RTPPacketsIn %d", l.m.RTPPacketsIn.Load())
	}
	want := "RTP(127.0.0.1:" + itoa(l.s.LocalPort()) + " <- " + l.peer.LocalAddr().String() +
		") -> Jitter(adaptive 20-200ms) -> PCMU/8000 -> 48kHz mono -> Sink(test)"
	if got := l.s.String(); got != want {
		t.Fatalf("String() = %q\nwant        %q", got, want)
	}
}

func itoa(i int) string { return (&net.UDPAddr{Port: i}).String()[1:] }

func TestSessionRealDecoder(t *testing.T) {
	l := newTestLeg(t, false, func(c *SessionConfig) { c.NewDecoder = nil })
	for range 5 {
		p := l.packet(0)
		p.Payload = bytes.Repeat([]byte{0xff}, 160) // µ-law silence
		l.sendPacket(t, nil, p)
	}
	eventually(t, "decoded frames", func() bool { return len(l.sink.got()) >= 5 })
	l.sink.mu.Lock()
	defer l.sink.mu.Unlock()
	for i, n := range l.sink.sizes[:5] {
		if n != codec.FrameSamples {
			t.Fatalf("frame %d has %d samples, want %d", i, n, codec.FrameSamples)
		}
	}
}

func TestSessionReorderAndLoss(t *testing.T) {
	l := newTestLeg(t, false, nil)
	p := make([]*rtp.Packet, 8)
	for i := range p {
		p[i] = l.packet(int16(i + 1))
	}
	// 5 is lost, 3/4 swapped, 7 duplicated.
	for _, i := range []int{1, 2, 4, 3, 6, 7, 7, 8} {
		l.sendPacket(t, nil, p[i-1])
	}
	waitFrames(t, l, []int16{1, 2, 3, 4, -1, 6, 7, 8})
	eventually(t, "stats", func() bool { return l.s.Stats().Lost == 1 })
	st := l.s.Stats()
	if st.Duplicate != 1 || st.Concealed < 1 || l.concealed.Load() < 1 {
		t.Fatalf("stats %+v, decoder concealed %d", st, l.concealed.Load())
	}
	if l.m.RTPPacketsLost.Load() != 1 {
		t.Fatalf("metrics lost %d", l.m.RTPPacketsLost.Load())
	}
}

func TestSessionDropsInvalid(t *testing.T) {
	l := newTestLeg(t, false, nil)
	l.sendPacket(t, nil, l.packet(1))
	waitFrames(t, l, []int16{1})

	// Each bad packet is followed by a good one, so the good ones prove the
	// session was not disturbed.
	stray := func(mutate func(*rtp.Packet)) *rtp.Packet {
		p := l.packet(0)
		l.seq-- // a stray packet does not belong to the stream
		l.ts -= 160
		mutate(p)
		return p
	}
	wrongSSRC := stray(func(p *rtp.Packet) { p.SSRC = 0xbad })
	wrongPT := stray(func(p *rtp.Packet) { p.PayloadType = 96 })
	otherSource := stray(func(*rtp.Packet) {})
	ext := []byte{0x90, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0x12, 0x34, 0xbe, 0xde, 0, 9, 1, 2} // extension longer than the packet
	pad := []byte{0xa0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0x12, 0x34, 1, 2, 50}               // padding longer than the payload
	oversize := append([]byte{0x80, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0x12, 0x34}, make([]byte, 1600)...)
	cases := []struct {
		name   string
		send   func()
		reason metrics.InvalidReason
	}{
		{"garbage", func() { l.sendRaw(t, nil, []byte("INVITE sip:x SIP/2.0")) }, metrics.InvalidMalformed},
		{"version 1", func() { l.sendRaw(t, nil, []byte{0x40, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0x12, 0x34, 1}) }, metrics.InvalidMalformed},
		{"short", func() { l.sendRaw(t, nil, []byte{0x80}) }, metrics.InvalidMalformed},
		{"bad extension", func() { l.sendRaw(t, nil, ext) }, metrics.InvalidMalformed},
		{"bad padding", func() { l.sendRaw(t, nil, pad) }, metrics.InvalidMalformed},
		{"bad rtcp", func() { l.sendRaw(t, nil, []byte{0x80, 200, 0, 40, 1, 2, 3, 4}) }, metrics.InvalidMalformed},
		{"oversize", func() { l.sendRaw(t, nil, oversize) }, metrics.InvalidOversize},
		{"wrong ssrc", func() { l.sendPacket(t, nil, wrongSSRC) }, metrics.InvalidSSRC},
		{"wrong payload type", func() { l.sendPacket(t, nil, wrongPT) }, metrics.InvalidPayloadType},
		{"other source", func() { l.sendPacket(t, listenPeer(t), otherSource) }, metrics.InvalidSource},
	}
	tag := int16(2)
	for _, c := range cases {
		before := l.m.RTPInvalidTotal(c.reason)
		c.send()
		l.sendPacket(t, nil, l.packet(tag))
		eventually(t, c.name+" counted", func() bool { return l.m.RTPInvalidTotal(c.reason) == before+1 })
		if got := l.s.Stats().Invalid[c.reason]; got != l.m.RTPInvalidTotal(c.reason) {
			t.Fatalf("%s: session counts %d, metrics %d", c.name, got, l.m.RTPInvalidTotal(c.reason))
		}
		tag++
	}
	// Every good packet was played, in order. (Concealed frames may appear
	// between them when the test's sends were slower than 20 ms.)
	eventually(t, "all good frames", func() bool { return slices.Contains(l.sink.got(), tag-1) })
	got := slices.DeleteFunc(l.sink.got(), func(v int16) bool { return v == -1 })
	if !slices.Equal(got, tags(1, tag-1)) {
		t.Fatalf("good frames %v", got)
	}
	if st := l.s.Stats(); st.PacketsIn != uint64(tag-1) || st.Lost != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSessionSymmetricRTP(t *testing.T) {
	sdp := listenPeer(t) // the address in the SDP: never answers
	l := newTestLeg(t, false, func(c *SessionConfig) { c.Remote = sdp.LocalAddr().(*net.UDPAddr) })

	// Before any inbound packet we send where the SDP says.
	l.s.WriteAudio([]byte{1, 2, 3})
	if _, from := readRTP(t, sdp); from.Port != l.s.LocalPort() {
		t.Fatalf("packet from port %d, want %d", from.Port, l.s.LocalPort())
	}
	// The caller's media comes from elsewhere (NAT): latch on it.
	l.sendPacket(t, l.peer, l.packet(1))
	waitFrames(t, l, []int16{1})
	l.s.WriteAudio([]byte{4, 5, 6})
	p, _ := readRTP(t, l.peer)
	if !bytes.Equal(p.Payload, []byte{4, 5, 6}) {
		t.Fatalf("latched peer got payload %v", p.Payload)
	}
	if !strings.Contains(l.s.String(), "<- "+l.peer.LocalAddr().String()) {
		t.Fatalf("String() %q does not show the latched source", l.s.String())
	}

	// A second source is ignored while the first is alive...
	other := listenPeer(t)
	l.sendPacket(t, l.peer, l.packet(2)) // keep the latched source fresh
	stray := l.packet(0)
	l.seq--
	l.ts -= 160
	l.sendPacket(t, other, stray)
	eventually(t, "foreign source counted", func() bool { return l.s.Stats().Invalid[metrics.InvalidSource] == 1 })
	// ...and taken after the first has been silent for SourceSilence.
	time.Sleep(300 * time.Millisecond)
	l.sendPacket(t, other, l.packet(3))
	eventually(t, "frame from the new source", func() bool { return slices.Contains(l.sink.got(), 3) })
	l.s.WriteAudio([]byte{7, 8, 9})
	if p, _ := readRTP(t, other); !bytes.Equal(p.Payload, []byte{7, 8, 9}) {
		t.Fatalf("re-latched peer got %v", p.Payload)
	}
}

func TestSessionSSRCSwitch(t *testing.T) {
	l := newTestLeg(t, false, nil)
	l.sendPacket(t, nil, l.packet(1))
	waitFrames(t, l, []int16{1})

	// A new SSRC while the old one is alive is refused.
	l.ssrc, l.seq, l.ts = 0x5678, 7, 999
	l.sendPacket(t, nil, l.packet(2))
	eventually(t, "ssrc drop", func() bool { return l.s.Stats().Invalid[metrics.InvalidSSRC] == 1 })

	// After the old SSRC is silent, the new one takes over with its own
	// sequence numbers and timestamps.
	time.Sleep(300 * time.Millisecond)
	for i := int16(3); i <= 5; i++ {
		l.sendPacket(t, nil, l.packet(i))
	}
	eventually(t, "new stream", func() bool { return slices.Contains(l.sink.got(), 5) })
	got := slices.DeleteFunc(l.sink.got(), func(v int16) bool { return v == -1 })
	if !slices.Equal(got, []int16{1, 3, 4, 5}) {
		t.Fatalf("frames %v", got)
	}
}

func TestSessionUpdateAcceptsNewSSRCAtOnce(t *testing.T) {
	l := newTestLeg(t, false, nil)
	l.sendPacket(t, nil, l.packet(1))
	waitFrames(t, l, []int16{1})

	// re-INVITE: new port on the phone, new SSRC, new codec and PT.
	phone2 := listenPeer(t)
	err := l.s.Update(Update{Remote: phone2.LocalAddr().(*net.UDPAddr), Codec: codec.PCMA, PayloadType: 8,
		DTMFPayloadType: -1, Direction: SendRecv})
	if err != nil {
		t.Fatal(err)
	}
	l.ssrc, l.seq, l.ts = 0x9999, 1, 1
	for i := int16(2); i <= 4; i++ {
		p := l.packet(i)
		p.PayloadType = 8
		l.sendPacket(t, phone2, p)
	}
	eventually(t, "frames after update", func() bool { return slices.Contains(l.sink.got(), 4) })
	if n := l.s.Stats().Invalid[metrics.InvalidSSRC]; n != 0 {
		t.Fatalf("%d packets dropped for SSRC after update", n)
	}
	if l.decClosed.Load() != 1 {
		t.Fatalf("old decoder closed %d times, want 1", l.decClosed.Load())
	}
	// Our stream continues: same SSRC, next sequence number, new PT.
	l.s.WriteAudio([]byte{1})
	l.s.WriteAudio([]byte{2})
	a, _ := readRTP(t, phone2)
	b, _ := readRTP(t, phone2)
	if a.PayloadType != 8 || b.SequenceNumber != a.SequenceNumber+1 || a.SSRC != b.SSRC {
		t.Fatalf("after update: %v / %v", a.Header, b.Header)
	}
	if !strings.Contains(l.s.String(), "PCMA/8000") {
		t.Fatalf("String() %q", l.s.String())
	}
}

func TestSessionWriteAudio(t *testing.T) {
	l := newTestLeg(t, false, nil)
	var got []*rtp.Packet
	for i := range 5 {
		l.s.WriteAudio([]byte{byte(i), 0xaa})
		p, _ := readRTP(t, l.peer)
		got = append(got, p)
	}
	for i, p := range got {
		if p.Version != 2 || p.PayloadType != 0 || p.SSRC != got[0].SSRC ||
			p.SequenceNumber != got[0].SequenceNumber+uint16(i) || p.Timestamp != got[0].Timestamp+uint32(160*i) ||
			p.Marker != (i == 0) || !bytes.Equal(p.Payload, []byte{byte(i), 0xaa}) {
			t.Fatalf("packet %d: %+v payload %v", i, p.Header, p.Payload)
		}
	}
	// A pause of the mixer: the next packet is marked and its timestamp
	// reflects the time that passed.
	time.Sleep(120 * time.Millisecond)
	l.s.WriteAudio([]byte{9})
	p, _ := readRTP(t, l.peer)
	if !p.Marker || p.SequenceNumber != got[4].SequenceNumber+1 || p.Timestamp-got[4].Timestamp < 160*5 {
		t.Fatalf("after a gap: %+v", p.Header)
	}
	if st := l.s.Stats(); st.PacketsOut != 6 || st.BytesOut != 11 || l.m.RTPPacketsOut.Load() != 6 {
		t.Fatalf("stats %+v", st)
	}
	allocs := testing.AllocsPerRun(100, func() { l.s.WriteAudio([]byte{1, 2, 3}) })
	if allocs != 0 {
		t.Fatalf("WriteAudio allocates %v times", allocs)
	}
}

func TestSessionHoldSendsNothing(t *testing.T) {
	tests := []struct {
		name   string
		remote *net.UDPAddr
		dir    Direction
	}{
		{"0.0.0.0", &net.UDPAddr{IP: net.IPv4zero, Port: 5004}, SendRecv},
		{"nil", nil, SendRecv},
		{"recvonly", nil, RecvOnly}, // remote filled below
		{"inactive", nil, Inactive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newTestLeg(t, false, func(c *SessionConfig) {
				c.Direction = tt.dir
				if tt.dir == SendRecv {
					c.Remote = tt.remote
				}
			})
			for range 3 {
				l.s.WriteAudio([]byte{1})
			}
			if n := l.s.Stats().PacketsOut; n != 0 {
				t.Fatalf("sent %d packets on hold", n)
			}
			if tt.dir != SendRecv {
				// Back to sendrecv: sending resumes with the marker bit.
				if err := l.s.Update(Update{Remote: l.peer.LocalAddr().(*net.UDPAddr), Codec: codec.PCMU,
					DTMFPayloadType: -1, Direction: SendRecv}); err != nil {
					t.Fatal(err)
				}
				l.s.WriteAudio([]byte{1})
				if p, _ := readRTP(t, l.peer); !p.Marker {
					t.Fatalf("first packet after hold not marked: %+v", p.Header)
				}
			}
		})
	}
}

func TestSessionRTCPMux(t *testing.T) {
	l := newTestLeg(t, false, func(c *SessionConfig) { c.RTCPInterval = 100 * time.Millisecond })
	for i := int16(1); i <= 3; i++ {
		l.sendPacket(t, nil, l.packet(i))
	}
	// The peer's sender report, muxed on the RTP port (RFC 5761).
	srNTP := uint64(0x1122334455667788)
	b, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.SenderReport{SSRC: l.ssrc, NTPTime: srNTP}})
	l.sendRaw(t, nil, b)
	eventually(t, "rtcp in", func() bool { return l.s.Stats().RTCPIn == 1 })
	l.s.WriteAudio([]byte{1})

	sr := readSR(t, l.peer, func(sr *rtcp.SenderReport) bool {
		return len(sr.Reports) == 1 && sr.Reports[0].LastSenderReport != 0
	})
	rr := sr.Reports[0]
	if rr.SSRC != l.ssrc || rr.LastSequenceNumber != uint32(l.seq-1) || rr.LastSenderReport != uint32(srNTP>>16) {
		t.Fatalf("reception report %+v", rr)
	}
	if sr.PacketCount != 1 || sr.OctetCount != 1 {
		t.Fatalf("sender info %+v", sr)
	}
	eventually(t, "rtcp out counted", func() bool { return l.m.RTCPPacketsOut.Load() > 0 })
	if n := jitterSamples(t, l.m); n == 0 {
		t.Fatal("jitter not observed into metrics at the report")
	}
	if l.s.Stats().Jitter < 0 {
		t.Fatalf("jitter %v", l.s.Stats().Jitter)
	}
	if l.m.RTCPPacketsIn.Load() != 1 {
		t.Fatalf("rtcp metrics in %d", l.m.RTCPPacketsIn.Load())
	}
}

func TestSessionRTCPSeparatePort(t *testing.T) {
	rtcpPeer := listenPeer(t)
	l := newTestLeg(t, true, func(c *SessionConfig) {
		c.RTCPInterval = 100 * time.Millisecond
		c.RemoteRTCP = rtcpPeer.LocalAddr().(*net.UDPAddr)
	})
	l.sendPacket(t, nil, l.packet(1))
	l.s.WriteAudio([]byte{1})
	sr := readSR(t, rtcpPeer, func(sr *rtcp.SenderReport) bool { return len(sr.Reports) == 1 })
	if sr.Reports[0].SSRC != l.ssrc {
		t.Fatalf("report about %x, want %x", sr.Reports[0].SSRC, l.ssrc)
	}
	// Inbound RTCP on the RTCP port is parsed and counted; garbage is not.
	b, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: l.ssrc}, &rtcp.Goodbye{Sources: []uint32{l.ssrc}}})
	port := l.s.cfg.Ports.RTCP.LocalAddr().(*net.UDPAddr)
	rtcpPeer.WriteToUDP(b, port)
	rtcpPeer.WriteToUDP([]byte{0x80, 200, 0, 99}, port)
	eventually(t, "rtcp counted", func() bool {
		st := l.s.Stats()
		return st.RTCPIn == 1 && st.Invalid[metrics.InvalidMalformed] == 1
	})
}

// readSR reads RTCP compounds at c until one has an SR accepted by ok, and
// checks that it carries our CNAME.
func readSR(t *testing.T, c *net.UDPConn, ok func(*rtcp.SenderReport) bool) *rtcp.SenderReport {
	t.Helper()
	buf := make([]byte, 2000)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.SetReadDeadline(deadline)
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("no sender report: %v", err)
		}
		if pt := buf[1] & 0x7f; pt < 64 || pt > 95 {
			continue // RTP
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			t.Fatalf("session sent bad RTCP: %v", err)
		}
		sr, isSR := pkts[0].(*rtcp.SenderReport)
		if !isSR || !ok(sr) {
			continue
		}
		sdes, isSDES := pkts[1].(*rtcp.SourceDescription)
		if !isSDES || sdes.Chunks[0].Source != sr.SSRC || !strings.HasPrefix(sdes.Chunks[0].Items[0].Text, "vmrd-") {
			t.Fatalf("compound without our CNAME: %v", pkts)
		}
		return sr
	}
}

func TestSessionNoRTPTimeout(t *testing.T) {
	l := newTestLeg(t, false, func(c *SessionConfig) { c.NoRTPTimeout = 150 * time.Millisecond })
	eventually(t, "timeout", func() bool { return l.timeouts.Load() == 1 })
	// It fires once, however long the silence lasts.
	time.Sleep(400 * time.Millisecond)
	if n := l.timeouts.Load(); n != 1 || !l.s.Stats().TimedOut {
		t.Fatalf("OnTimeout called %d times", n)
	}
}

func TestSessionNoRTPTimeoutDisabled(t *testing.T) {
	l := newTestLeg(t, false, func(c *SessionConfig) { c.NoRTPTimeout = -1 })
	if l.s.cfg.NoRTPTimeout >= 0 {
		t.Fatalf("disabled timeout replaced by %v", l.s.cfg.NoRTPTimeout)
	}
	// A negative timeout (sip.no_rtp_timeout: 0) never fires. The wait is
	// the point of the test (a negative), and well past the default
	// timer granularity of the receive loop.
	time.Sleep(400 * time.Millisecond)
	if n := l.timeouts.Load(); n != 0 || l.s.Stats().TimedOut {
		t.Fatalf("OnTimeout called %d times with the check disabled", n)
	}
}

func TestSessionNoRTPTimeoutPausedOnHold(t *testing.T) {
	l := newTestLeg(t, false, func(c *SessionConfig) {
		c.NoRTPTimeout = 150 * time.Millisecond
		c.Direction = Inactive
	})
	// Several timeouts long on hold: nothing. This wait is the point of
	// the test (a negative), not a guess at a delay.
	time.Sleep(600 * time.Millisecond)
	if n := l.timeouts.Load(); n != 0 {
		t.Fatalf("OnTimeout called %d times on hold", n)
	}
	if err := l.s.Update(Update{Remote: l.peer.LocalAddr().(*net.UDPAddr), Codec: codec.PCMU,
		DTMFPayloadType: -1, Direction: SendRecv}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	eventually(t, "timeout after resume", func() bool { return l.timeouts.Load() == 1 })
	if e := time.Since(start); e < 100*time.Millisecond {
		t.Fatalf("timeout %v after resume: the hold time was counted", e)
	}
}

func TestSessionDTMF(t *testing.T) {
	l := newTestLeg(t, false, nil)
	for i := int16(1); i <= 2; i++ {
		l.sendPacket(t, nil, l.packet(i))
	}
	evTS := l.ts
	send := func(end bool, dur uint16) {
		p := &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: l.seq, Timestamp: evTS, SSRC: l.ssrc},
			Payload: []byte{11, 10, byte(dur >> 8), byte(dur)}}
		if end {
			p.Payload[1] |= 0x80
		}
		l.seq++
		l.sendPacket(t, nil, p)
	}
	send(false, 160)
	send(false, 320)
	send(true, 800)
	send(true, 800)
	send(true, 800)
	l.ts += 800
	for i := int16(3); i <= 4; i++ {
		l.sendPacket(t, nil, l.packet(i))
	}
	select {
	case ev := <-l.dtmf:
		if ev != (DTMFEvent{Digit: '#', Duration: 100 * time.Millisecond, Source: DTMFRFC4733}) {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no DTMF event")
	}
	eventually(t, "audio after the event", func() bool { return slices.Contains(l.sink.got(), 4) })
	select {
	case ev := <-l.dtmf:
		t.Fatalf("second event %+v from retransmitted end packets", ev)
	default:
	}
	if st := l.s.Stats(); st.Lost != 0 {
		t.Fatalf("event packets counted as lost: %+v", st)
	}
}

func TestSessionCloseIdempotent(t *testing.T) {
	l := newTestLeg(t, true, nil)
	l.sendPacket(t, nil, l.packet(1))
	waitFrames(t, l, []int16{1})
	if err := l.s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	l.s.Start()
	l.s.WriteAudio([]byte{1})
	if err := l.s.Update(Update{Codec: codec.PCMU}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Update after Close: %v", err)
	}
	if l.decClosed.Load() != 1 {
		t.Fatalf("decoder closed %d times", l.decClosed.Load())
	}
	// The ports are free again.
	c, err := net.ListenUDP("udp", l.addr())
	if err != nil {
		t.Fatalf("port still bound after Close: %v", err)
	}
	c.Close()
}

func TestNewSessionErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  SessionConfig
	}{
		{"no ports", SessionConfig{Codec: codec.PCMU}},
		{"no codec", SessionConfig{Ports: &Ports{RTP: &net.UDPConn{}}}},
		{"bad pt", SessionConfig{Ports: &Ports{RTP: &net.UDPConn{}}, Codec: codec.PCMU, PayloadType: 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewSession(tt.cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("err %v, want ErrConfig", err)
			}
		})
	}
}

func jitterSamples(t *testing.T, m *metrics.Metrics) uint64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "vmrd_rtp_jitter_seconds" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}
