package media

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"vmrd/internal/codec"
	"vmrd/internal/metrics"
)

// padded gives a packet a realistic 160-byte payload, long enough for any
// SRTP tag, keeping the first two bytes (the fake decoder's tag).
func padded(p *rtp.Packet) *rtp.Packet {
	p.Payload = append(p.Payload, make([]byte, 158)...)
	return p
}

func fakeDecoderFactory(conceal, closed *atomicCounter) func(codec.AudioCodec) (codec.AudioDecoder, error) {
	return func(codec.AudioCodec) (codec.AudioDecoder, error) {
		return fakeDecoder{concealed: &conceal.Int64, closed: &closed.Int64}, nil
	}
}

var allSuites = []SRTPSuite{SRTPAES128CMSHA1_80, SRTPAES128CMSHA1_32, SRTPAEADAES128GCM, SRTPAEADAES256GCM}

func randKey(t testing.TB, s SRTPSuite) []byte {
	t.Helper()
	k := make([]byte, s.MasterLen())
	rand.Read(k)
	return k
}

// srtpPeer plays an SRTP phone with pion/srtp directly: it encrypts with
// the key the session decrypts with, and the other way round.
type srtpPeer struct {
	suite        SRTPSuite
	tx, txRTCP   *srtp.Context
	rx, rxRTCP   *srtp.Context
	cfg          *SRTPConfig // the session's view
	local, other []byte
}

func newSRTPPeer(t testing.TB, s SRTPSuite) *srtpPeer {
	t.Helper()
	p := &srtpPeer{suite: s, cfg: &SRTPConfig{Suite: s, LocalKey: randKey(t, s), RemoteKey: randKey(t, s)}}
	p.rekey(t, p.cfg)
	return p
}

func pionContext(t testing.TB, s SRTPSuite, key []byte, opts ...srtp.ContextOption) *srtp.Context {
	t.Helper()
	kl := s.KeyLen()
	c, err := srtp.CreateContext(key[:kl], key[kl:], srtpProfiles[s], opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rekey makes the peer's contexts for the session keying c.
func (p *srtpPeer) rekey(t testing.TB, c *SRTPConfig) {
	t.Helper()
	p.cfg = c
	p.tx = pionContext(t, c.Suite, c.RemoteKey)
	p.txRTCP = pionContext(t, c.Suite, c.RemoteKey)
	p.rx = pionContext(t, c.Suite, c.LocalKey, srtp.SRTPReplayProtection(64))
	p.rxRTCP = pionContext(t, c.Suite, c.LocalKey)
}

func (p *srtpPeer) seal(t testing.TB, pkt *rtp.Packet) []byte {
	t.Helper()
	b, err := pkt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.tx.EncryptRTP(nil, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (p *srtpPeer) sealRTCP(t testing.TB, pkts ...rtcp.Packet) []byte {
	t.Helper()
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.txRTCP.EncryptRTCP(nil, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// readRaw reads the next datagram at c that is RTP (rtcp false) or RTCP.
func readRaw(t *testing.T, c *net.UDPConn, wantRTCP bool) []byte {
	t.Helper()
	buf := make([]byte, 2000)
	for {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("reading: %v", err)
		}
		pt := buf[1] & 0x7f
		if isRTCP := pt >= 64 && pt <= 95; isRTCP == wantRTCP {
			return append([]byte(nil), buf[:n]...)
		}
	}
}

func newSRTPLeg(t *testing.T, s SRTPSuite, withRTCP bool, mutate func(*SessionConfig)) (*testLeg, *srtpPeer) {
	t.Helper()
	p := newSRTPPeer(t, s)
	l := newTestLeg(t, withRTCP, func(c *SessionConfig) {
		c.SRTP = p.cfg
		if mutate != nil {
			mutate(c)
		}
	})
	return l, p
}

func TestSRTPLoopback(t *testing.T) {
	for _, suite := range allSuites {
		t.Run(suite.String(), func(t *testing.T) {
			l, p := newSRTPLeg(t, suite, false, nil)
			if !l.s.Encrypted() || l.s.Stats().SRTP != suite {
				t.Fatalf("Encrypted %v, Stats().SRTP %v", l.s.Encrypted(), l.s.Stats().SRTP)
			}
			// Inbound: the peer's SRTP is decrypted and decoded in order.
			for i := int16(1); i <= 5; i++ {
				l.sendRaw(t, nil, p.seal(t, l.packet(i)))
			}
			waitFrames(t, l, tags(1, 5))
			if st := l.s.Stats(); st.PacketsIn != 5 || st.BytesIn != 10 || len(st.Invalid) != 0 {
				t.Fatalf("stats %+v", st)
			}
			// Outbound: what goes on the wire is not the payload, and the
			// peer's own SRTP stack opens it.
			payload := bytes.Repeat([]byte("vmrd-plain-audio"), 10)
			l.s.WriteAudio(payload)
			wire := readRaw(t, l.peer, false)
			if bytes.Contains(wire, payload[:16]) {
				t.Fatal("plain payload on the wire")
			}
			tagLen := map[SRTPSuite]int{SRTPAES128CMSHA1_80: 10, SRTPAES128CMSHA1_32: 4, SRTPAEADAES128GCM: 16, SRTPAEADAES256GCM: 16}[suite]
			if len(wire) != 12+len(payload)+tagLen {
				t.Fatalf("wire length %d, want %d", len(wire), 12+len(payload)+tagLen)
			}
			var hdr rtp.Header
			plain, err := p.rx.DecryptRTP(nil, wire, &hdr)
			if err != nil {
				t.Fatalf("peer cannot decrypt: %v", err)
			}
			if !bytes.Equal(plain[12:], payload) || hdr.PayloadType != 0 {
				t.Fatalf("peer got pt %d payload %q", hdr.PayloadType, plain[12:])
			}
			want := "RTP(127.0.0.1:" + itoa(l.s.LocalPort()) + " <- " + l.peer.LocalAddr().String() +
				") -> SRTP(" + suite.String() + ") -> Jitter(adaptive 20-200ms) -> PCMU/8000 -> 48kHz mono -> Sink(test)"
			if got := l.s.String(); got != want {
				t.Fatalf("String() = %q\nwant        %q", got, want)
			}
		})
	}
}

func TestSRTPWrongKeyAndTampering(t *testing.T) {
	l, p := newSRTPLeg(t, SRTPAEADAES128GCM, false, nil)
	wrong := newSRTPPeer(t, SRTPAEADAES128GCM) // other keys
	const n = 5
	for i := int16(1); i <= n; i++ {
		l.sendRaw(t, nil, wrong.seal(t, l.packet(i)))
	}
	eventually(t, "auth failures counted", func() bool { return l.s.Stats().Invalid[metrics.InvalidAuth] == n })
	if got := l.m.RTPInvalidTotal(metrics.InvalidAuth); got != n {
		t.Fatalf("metrics auth failures %d, want %d", got, n)
	}
	// Plain RTP and a flipped bit are forgeries too.
	plain := l.packet(0)
	plain.Payload = make([]byte, 160)
	l.sendPacket(t, nil, plain)
	b := p.seal(t, l.packet(0))
	b[len(b)-1] ^= 1
	l.sendRaw(t, nil, b)
	eventually(t, "forgeries counted", func() bool { return l.s.Stats().Invalid[metrics.InvalidAuth] == n+2 })
	// Nothing reached the sink, nothing locked the source or SSRC: the
	// right key still plays at once.
	if got := l.sink.got(); len(got) != 0 {
		t.Fatalf("sink got %v from bad packets", got)
	}
	if st := l.s.Stats(); st.PacketsIn != 0 {
		t.Fatalf("bad packets accepted: %+v", st)
	}
	l.sendRaw(t, nil, p.seal(t, l.packet(42)))
	eventually(t, "good frame", func() bool { return slices.Contains(l.sink.got(), 42) })
	if got := slices.DeleteFunc(l.sink.got(), func(v int16) bool { return v == -1 }); !slices.Equal(got, []int16{42}) {
		t.Fatalf("sink got %v", got)
	}
}

func TestSRTPReplayDropped(t *testing.T) {
	l, p := newSRTPLeg(t, SRTPAES128CMSHA1_80, false, nil)
	first := p.seal(t, l.packet(1))
	l.sendRaw(t, nil, first)
	waitFrames(t, l, []int16{1})
	second := p.seal(t, l.packet(2))
	l.sendRaw(t, nil, second)
	l.sendRaw(t, nil, first)  // replayed
	l.sendRaw(t, nil, second) // replayed
	l.sendRaw(t, nil, p.seal(t, l.packet(3)))
	eventually(t, "replays counted", func() bool { return l.s.Stats().Invalid[metrics.InvalidReplay] == 2 })
	eventually(t, "frame 3", func() bool { return slices.Contains(l.sink.got(), 3) })
	st := l.s.Stats()
	if st.Invalid[metrics.InvalidAuth] != 0 || st.PacketsIn != 3 || st.Duplicate != 0 {
		t.Fatalf("stats %+v", st)
	}
	if l.m.RTPInvalidTotal(metrics.InvalidReplay) != 2 {
		t.Fatalf("metrics replay %d", l.m.RTPInvalidTotal(metrics.InvalidReplay))
	}
	if got := slices.DeleteFunc(l.sink.got(), func(v int16) bool { return v == -1 }); !slices.Equal(got, []int16{1, 2, 3}) {
		t.Fatalf("sink got %v", got)
	}
}

func TestSRTPRemoteMKI(t *testing.T) {
	mki := []byte{0, 0, 0, 7}
	p := newSRTPPeer(t, SRTPAES128CMSHA1_80)
	p.cfg.RemoteMKI = mki
	p.tx = pionContext(t, p.suite, p.cfg.RemoteKey, srtp.MasterKeyIndicator(mki))
	l := newTestLeg(t, false, func(c *SessionConfig) { c.SRTP = p.cfg })
	l.sendRaw(t, nil, p.seal(t, l.packet(1)))
	waitFrames(t, l, []int16{1})
	// A packet with another MKI is refused as unauthenticated.
	other := pionContext(t, p.suite, p.cfg.RemoteKey, srtp.MasterKeyIndicator([]byte{0, 0, 0, 8}))
	b, _ := l.packet(2).Marshal()
	b, _ = other.EncryptRTP(nil, b, nil)
	l.sendRaw(t, nil, b)
	eventually(t, "unknown mki counted", func() bool { return l.s.Stats().Invalid[metrics.InvalidAuth] == 1 })
}

func TestSRTCP(t *testing.T) {
	for _, sep := range []bool{false, true} {
		t.Run(fmt.Sprintf("separate port %v", sep), func(t *testing.T) {
			rtcpPeer := listenPeer(t)
			l, p := newSRTPLeg(t, SRTPAEADAES256GCM, sep, func(c *SessionConfig) {
				c.RTCPInterval = 100 * time.Millisecond
				if sep {
					c.RemoteRTCP = rtcpPeer.LocalAddr().(*net.UDPAddr)
				}
			})
			reader := l.peer
			rtcpTo := l.addr()
			if sep {
				reader = rtcpPeer
				rtcpTo = l.s.cfg.Ports.RTCP.LocalAddr().(*net.UDPAddr)
			}
			l.sendRaw(t, nil, p.seal(t, l.packet(1)))
			l.s.WriteAudio([]byte{1, 2, 3})
			// Our report is SRTCP: the CNAME is not readable on the wire,
			// and the peer's stack opens it.
			wire := readRaw(t, reader, true)
			if bytes.Contains(wire, []byte("vmrd-")) {
				t.Fatal("plain RTCP (CNAME visible) on an SRTP leg")
			}
			plain, err := p.rxRTCP.DecryptRTCP(nil, wire, nil)
			if err != nil {
				t.Fatalf("peer cannot decrypt SRTCP: %v", err)
			}
			pkts, err := rtcp.Unmarshal(plain)
			if err != nil || len(pkts) != 2 {
				t.Fatalf("compound %v, %v", pkts, err)
			}
			if sd, ok := pkts[1].(*rtcp.SourceDescription); !ok || !strings.HasPrefix(sd.Chunks[0].Items[0].Text, "vmrd-") {
				t.Fatalf("second packet %#v", pkts[1])
			}
			// Inbound: the peer's SRTCP is taken, plain RTCP is not.
			if _, err := rtcpPeer.WriteToUDP(p.sealRTCP(t, &rtcp.SenderReport{SSRC: l.ssrc, NTPTime: 1 << 40}), rtcpTo); err != nil {
				t.Fatal(err)
			}
			eventually(t, "srtcp in", func() bool { return l.s.Stats().RTCPIn == 1 })
			b, _ := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: l.ssrc, Reports: []rtcp.ReceptionReport{{SSRC: 1}}},
				&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: l.ssrc,
					Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "phone"}}}}}})
			rtcpPeer.WriteToUDP(b, rtcpTo)
			eventually(t, "plain rtcp refused", func() bool { return l.s.Stats().Invalid[metrics.InvalidAuth] == 1 })
			if l.s.Stats().RTCPIn != 1 {
				t.Fatalf("plain RTCP counted as received")
			}
		})
	}
}

func TestSRTPUpdate(t *testing.T) {
	l, p := newSRTPLeg(t, SRTPAES128CMSHA1_80, false, nil)
	old := p.seal(t, l.packet(1))
	l.sendRaw(t, nil, old)
	waitFrames(t, l, []int16{1})
	upd := func(c *SRTPConfig) Update {
		return Update{Remote: l.peer.LocalAddr().(*net.UDPAddr), Codec: l.s.cfg.Codec, PayloadType: 0,
			DTMFPayloadType: 101, Direction: SendRecv, SRTP: c}
	}

	// Same keys (a re-INVITE for hold or codec): the contexts stay, so the
	// old packet is still a replay and not an authentication failure.
	same := *p.cfg
	same.LocalKey, same.RemoteKey = bytes.Clone(p.cfg.LocalKey), bytes.Clone(p.cfg.RemoteKey)
	if err := l.s.Update(upd(&same)); err != nil {
		t.Fatal(err)
	}
	l.sendRaw(t, nil, old)
	eventually(t, "replay after same-key update", func() bool { return l.s.Stats().Invalid[metrics.InvalidReplay] == 1 })

	// New suite and keys: the old key fails, the new one flows both ways.
	next := &SRTPConfig{Suite: SRTPAEADAES128GCM, LocalKey: randKey(t, SRTPAEADAES128GCM), RemoteKey: randKey(t, SRTPAEADAES128GCM)}
	if err := l.s.Update(upd(next)); err != nil {
		t.Fatal(err)
	}
	stale := p.seal(t, padded(l.packet(2)))
	p.rekey(t, next)
	l.sendRaw(t, nil, stale)
	eventually(t, "old key refused", func() bool { return l.s.Stats().Invalid[metrics.InvalidAuth] == 1 })
	l.sendRaw(t, nil, p.seal(t, l.packet(3)))
	eventually(t, "new key plays", func() bool { return slices.Contains(l.sink.got(), 3) })
	l.s.WriteAudio([]byte{9, 9, 9})
	if _, err := p.rx.DecryptRTP(nil, readRaw(t, l.peer, false), nil); err != nil {
		t.Fatalf("peer cannot decrypt after re-key: %v", err)
	}
	if !strings.Contains(l.s.String(), "SRTP(AEAD_AES_128_GCM)") {
		t.Fatalf("String() %q", l.s.String())
	}

	// Back to plain RTP.
	if err := l.s.Update(upd(nil)); err != nil {
		t.Fatal(err)
	}
	if l.s.Encrypted() || strings.Contains(l.s.String(), "SRTP") {
		t.Fatalf("still encrypted: %s", l.s.String())
	}
	l.sendPacket(t, nil, l.packet(4))
	eventually(t, "plain plays", func() bool { return slices.Contains(l.sink.got(), 4) })
	l.s.WriteAudio([]byte{5, 6, 7})
	if pk, _ := readRTP(t, l.peer); !bytes.Equal(pk.Payload, []byte{5, 6, 7}) {
		t.Fatalf("plain payload %v", pk.Payload)
	}

	// A bad keying is refused and changes nothing.
	if err := l.s.Update(upd(&SRTPConfig{Suite: SRTPAEADAES256GCM, LocalKey: []byte{1}, RemoteKey: []byte{2}})); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad keys: %v", err)
	}
	if l.s.Encrypted() {
		t.Fatal("failed update changed the keying")
	}
}

func TestSRTPConfigErrorsAndSecrecy(t *testing.T) {
	good := &SRTPConfig{Suite: SRTPAES128CMSHA1_80, LocalKey: randKey(t, SRTPAES128CMSHA1_80), RemoteKey: randKey(t, SRTPAES128CMSHA1_80)}
	for _, tc := range []struct {
		name string
		cfg  SRTPConfig
	}{
		{"no suite", SRTPConfig{LocalKey: good.LocalKey, RemoteKey: good.RemoteKey}},
		{"short local key", SRTPConfig{Suite: SRTPAES128CMSHA1_80, LocalKey: good.LocalKey[:29], RemoteKey: good.RemoteKey}},
		{"gcm needs 28 bytes", SRTPConfig{Suite: SRTPAEADAES128GCM, LocalKey: good.LocalKey, RemoteKey: good.RemoteKey}},
		{"long mki", SRTPConfig{Suite: SRTPAES128CMSHA1_80, LocalKey: good.LocalKey, RemoteKey: good.RemoteKey, RemoteMKI: make([]byte, 5)}},
		{"huge window", SRTPConfig{Suite: SRTPAES128CMSHA1_80, LocalKey: good.LocalKey, RemoteKey: good.RemoteKey, ReplayWindow: 1 << 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ports, err := testAllocator(t).Allocate(false)
			if err != nil {
				t.Fatal(err)
			}
			defer ports.Close()
			cfg := tc.cfg
			_, err = NewSession(SessionConfig{Ports: ports, Codec: codec.PCMU, SRTP: &cfg})
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("err %v, want ErrConfig", err)
			}
			for _, k := range [][]byte{good.LocalKey, good.RemoteKey} {
				if strings.Contains(err.Error(), base64.StdEncoding.EncodeToString(k)) || strings.Contains(err.Error(), fmt.Sprintf("%x", k)) {
					t.Fatal("key in error message")
				}
			}
		})
	}
	// No printing path shows a key.
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "srtp", good)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "srtp", good, "update", Update{SRTP: good})
	out := fmt.Sprintf("%v %+v %#v %s", good, good, good, good) + logged.String() +
		fmt.Sprintf("%+v", SessionConfig{SRTP: good}) + fmt.Sprintf("%+v", Update{SRTP: good})
	for _, k := range [][]byte{good.LocalKey, good.RemoteKey} {
		for _, enc := range []string{base64.StdEncoding.EncodeToString(k), fmt.Sprintf("%x", k), fmt.Sprint(k), fmt.Sprintf("%v", k[:4])} {
			if strings.Contains(out, enc) {
				t.Fatalf("key material printed: %s", out)
			}
		}
	}
	if !strings.Contains(out, "SRTP(AES_CM_128_HMAC_SHA1_80)") || !strings.Contains(logged.String(), "suite=AES_CM_128_HMAC_SHA1_80") {
		t.Fatalf("suite not shown: %s", out)
	}
	// The session copied the keys: the caller may wipe its own.
	l := newTestLeg(t, false, func(c *SessionConfig) { c.SRTP = good.clone() })
	if l.s.tx.srtpCfg == good || &l.s.tx.srtpCfg.LocalKey[0] == &good.LocalKey[0] {
		t.Fatal("session shares the caller's key slice")
	}
}

func TestSRTPSuiteNames(t *testing.T) {
	for _, s := range allSuites {
		got, ok := ParseSRTPSuite(strings.ToLower(s.String()))
		if !ok || got != s {
			t.Errorf("ParseSRTPSuite(%q) = %v %v", s, got, ok)
		}
	}
	if _, ok := ParseSRTPSuite("F8_128_HMAC_SHA1_80"); ok {
		t.Error("F8 accepted")
	}
	for s, want := range map[SRTPSuite]int{SRTPAES128CMSHA1_80: 30, SRTPAES128CMSHA1_32: 30, SRTPAEADAES128GCM: 28, SRTPAEADAES256GCM: 44, SRTPNone: 0, 99: 0} {
		if s.MasterLen() != want {
			t.Errorf("%v master length %d, want %d", s, s.MasterLen(), want)
		}
	}
}

// TestSRTPNoAllocs checks the per-packet paths once warm: WriteAudio with
// encryption and the receive path with decryption.
func TestSRTPNoAllocs(t *testing.T) {
	for _, suite := range allSuites {
		t.Run(suite.String(), func(t *testing.T) {
			p := newSRTPPeer(t, suite)
			s := idleSRTPSession(t, p.cfg)
			payload := make([]byte, 160)
			for range 50 {
				s.WriteAudio(payload)
			}
			if a := testing.AllocsPerRun(500, func() { s.WriteAudio(payload) }); a != 0 {
				t.Errorf("%v allocations per sent packet", a)
			}
			pkts := sealedStream(t, p, 1200)
			r := s.rx
			now := time.Unix(1000, 0)
			r.begin(now)
			i := 0
			step := func() {
				now = now.Add(20 * time.Millisecond)
				r.handle(pkts[i], testSource, now)
				r.tick(now)
				i++
			}
			for range 100 {
				step()
			}
			if a := testing.AllocsPerRun(1000, step); a != 0 {
				t.Errorf("%v allocations per received packet", a)
			}
			if st := s.Stats(); st.PacketsIn != 1101 || len(st.Invalid) != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// idleSRTPSession is idleSession with SRTP and a peer address to send to.
func idleSRTPSession(tb testing.TB, c *SRTPConfig) *Session {
	tb.Helper()
	ports, err := testAllocator(tb).Allocate(false)
	if err != nil {
		tb.Fatal(err)
	}
	peer := listenPeer(tb)
	var conceal, closed atomicCounter
	s, err := NewSession(SessionConfig{
		Ports: ports, Codec: codec.PCMU, PayloadType: 0, DTMFPayloadType: 101, Sink: nopSink{},
		Metrics: metrics.New(), RTCPInterval: time.Hour, Remote: peer.LocalAddr().(*net.UDPAddr), SRTP: c,
		NewDecoder: fakeDecoderFactory(&conceal, &closed),
	})
	if err != nil {
		ports.Close()
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// sealedStream encrypts n consecutive 20 ms PCMU packets of SSRC 7.
func sealedStream(tb testing.TB, p *srtpPeer, n int) [][]byte {
	tb.Helper()
	out := make([][]byte, n)
	for i := range out {
		seq := uint16(i + 1)
		out[i] = p.seal(tb, &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * 160, SSRC: 7},
			Payload: make([]byte, 160)})
	}
	return out
}

// BenchmarkSRTP measures encrypt and decrypt per 172-byte G.711 packet for
// each suite, with the contexts the session builds (replay window on).
func BenchmarkSRTP(b *testing.B) {
	for _, suite := range allSuites {
		cfg := &SRTPConfig{Suite: suite, LocalKey: randKey(b, suite), RemoteKey: randKey(b, suite)}
		plain, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SSRC: 7}, Payload: make([]byte, 160)}).Marshal()
		b.Run(suite.String()+"/encrypt", func(b *testing.B) {
			tx, _, err := newSRTP(cfg)
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]byte, 0, maxPacket+srtpOverhead)
			var hdr rtp.Header
			seq := uint16(0)
			b.ReportAllocs()
			b.SetBytes(int64(len(plain)))
			for b.Loop() {
				seq++
				plain[2], plain[3] = byte(seq>>8), byte(seq)
				if _, err := tx.rtp.EncryptRTP(dst, plain, &hdr); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(suite.String()+"/decrypt", func(b *testing.B) {
			// The peer encrypts with our remote key; batches are sealed
			// with the timer stopped so every packet has a fresh index.
			_, rx, err := newSRTP(cfg)
			if err != nil {
				b.Fatal(err)
			}
			peer := &srtpPeer{suite: suite}
			peer.tx = pionContext(b, suite, cfg.RemoteKey)
			const batch = 4096
			sealed := make([][]byte, batch)
			for i := range sealed {
				sealed[i] = make([]byte, 0, maxPacket+srtpOverhead)
			}
			dst := make([]byte, 0, maxPacket)
			var hdr rtp.Header
			seq := uint16(0)
			fill := func() {
				for i := range sealed {
					seq++
					plain[2], plain[3] = byte(seq>>8), byte(seq)
					sealed[i], _ = peer.tx.EncryptRTP(sealed[i][:0], plain, nil)
				}
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(plain)))
			done := 0
			b.ResetTimer()
			for done < b.N {
				b.StopTimer()
				fill()
				b.StartTimer()
				for i := 0; i < batch && done < b.N; i++ {
					if _, err := rx.rtp.DecryptRTP(dst, sealed[i], &hdr); err != nil {
						b.Fatal(err)
					}
					done++
				}
			}
		})
	}
}

// BenchmarkWriteAudioSRTP is the whole send path: header, encrypt, socket.
func BenchmarkWriteAudioSRTP(b *testing.B) {
	for _, suite := range append([]SRTPSuite{SRTPNone}, allSuites...) {
		b.Run(suite.String(), func(b *testing.B) {
			var cfg *SRTPConfig
			if suite != SRTPNone {
				cfg = &SRTPConfig{Suite: suite, LocalKey: randKey(b, suite), RemoteKey: randKey(b, suite)}
			}
			s := idleSRTPSession(b, cfg)
			payload := make([]byte, 160)
			b.ReportAllocs()
			for b.Loop() {
				s.WriteAudio(payload)
			}
		})
	}
}
