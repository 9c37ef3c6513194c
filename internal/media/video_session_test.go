package media

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"vmrd/internal/codec"
	"vmrd/internal/metrics"
)

// videoRecorder collects what the fake decoders were given.
type videoRecorder struct {
	mu     sync.Mutex
	aus    [][]byte
	fail   func(au []byte) bool
	closed atomic.Int64
	made   atomic.Int64
}

func (r *videoRecorder) got() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.aus)
}

// fakeVideoDecoder records each access unit and returns a tiny picture.
type fakeVideoDecoder struct {
	rec *videoRecorder
	pic codec.Frame
}

func (d *fakeVideoDecoder) Decode(au []byte) (*codec.Frame, error) {
	d.rec.mu.Lock()
	defer d.rec.mu.Unlock()
	if d.rec.fail != nil && d.rec.fail(au) {
		return nil, fmt.Errorf("%w: fake", codec.ErrCorrupt)
	}
	d.rec.aus = append(d.rec.aus, bytes.Clone(au))
	return &d.pic, nil
}

func (d *fakeVideoDecoder) Close() error { d.rec.closed.Add(1); return nil }

var _ codec.VideoDecoder = (*fakeVideoDecoder)(nil)

// frameCounter is a FrameWriter that counts pictures.
type frameCounter struct{ n atomic.Int64 }

func (c *frameCounter) WriteFrame(f *codec.Frame) {
	if f == nil || f.Width != 2 {
		panic("bad frame")
	}
	c.n.Add(1)
}

// fakeClock is a settable session clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// videoLeg is a video session plus the sockets that play the peer.
type videoLeg struct {
	s        *VideoSession
	peer     *net.UDPConn
	peerRTCP *net.UDPConn // nil with rtcp-mux
	rec      *videoRecorder
	sink     *frameCounter
	m        *metrics.Metrics
	kfReqs   atomic.Int64
	bitrates chan int
	srtp     *srtpPeer
	codec    videoTestCodec
	ssrc     uint32
	seq      uint16
	ts       uint32
}

const testVideoPT = 96

func newVideoLeg(t *testing.T, vc videoTestCodec, withRTCP bool, mutate func(*VideoSessionConfig)) *videoLeg {
	t.Helper()
	ports, err := testAllocator(t).Allocate(withRTCP)
	if err != nil {
		t.Fatal(err)
	}
	l := &videoLeg{peer: listenPeer(t), rec: &videoRecorder{}, sink: &frameCounter{}, m: metrics.New(),
		bitrates: make(chan int, 16), codec: vc, ssrc: 0x5eed0001, seq: 65530, ts: 90000}
	cfg := VideoSessionConfig{
		Ports:       ports,
		Remote:      l.peer.LocalAddr().(*net.UDPAddr),
		Codec:       vc.c,
		PayloadType: testVideoPT,
		Feedback:    VideoFeedback{PLI: true},
		NewDecoder: func(codec.VideoCodec) (codec.VideoDecoder, error) {
			l.rec.made.Add(1)
			return &fakeVideoDecoder{rec: l.rec, pic: codec.Frame{Width: 2, Height: 2}}, nil
		},
		Sink:              l.sink,
		OnKeyframeRequest: func() { l.kfReqs.Add(1) },
		OnBitrate:         func(bps int) { l.bitrates <- bps },
		RTCPInterval:      time.Hour,
		SourceSilence:     200 * time.Millisecond,
		Metrics:           l.m,
	}
	if withRTCP {
		l.peerRTCP = listenPeer(t)
		cfg.RemoteRTCP = l.peerRTCP.LocalAddr().(*net.UDPAddr)
	}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := NewVideoSession(cfg)
	if err != nil {
		ports.Close()
		t.Fatal(err)
	}
	l.s = s
	t.Cleanup(func() { s.Close() })
	return l
}

func (l *videoLeg) addr() *net.UDPAddr {
	return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: l.s.LocalPort()}
}

// frame packetizes one frame of the peer's stream into RTP packets.
func (l *videoLeg) frame(t *testing.T, key bool, tag byte) ([]byte, []*rtp.Packet) {
	t.Helper()
	data := l.codec.frame(key, tag)
	var pkts []*rtp.Packet
	payloads := l.codec.packetize(t, data)
	for i, p := range payloads {
		pkts = append(pkts, &rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: testVideoPT,
			SequenceNumber: l.seq, Timestamp: l.ts, SSRC: l.ssrc, Marker: i == len(payloads)-1}, Payload: bytes.Clone(p)})
		l.seq++
	}
	l.ts += 3000
	return data, pkts
}

func (l *videoLeg) send(t *testing.T, pkts ...*rtp.Packet) {
	t.Helper()
	for _, p := range pkts {
		var b []byte
		if l.srtp != nil {
			b = l.srtp.seal(t, p)
		} else {
			var err error
			if b, err = p.Marshal(); err != nil {
				t.Fatal(err)
			}
		}
		l.sendRaw(t, b)
	}
}

func (l *videoLeg) sendRaw(t *testing.T, b []byte) {
	t.Helper()
	if _, err := l.peer.WriteToUDP(b, l.addr()); err != nil {
		t.Fatal(err)
	}
}

// sendRTCP sends a compound packet from the peer: RR first, as RFC 3550 asks.
func (l *videoLeg) sendRTCP(t *testing.T, pkts ...rtcp.Packet) {
	t.Helper()
	all := append([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: l.ssrc}}, pkts...)
	var b []byte
	if l.srtp != nil {
		b = l.srtp.sealRTCP(t, all...)
	} else {
		b = marshalRTCP(t, all...)
	}
	from, to := l.peer, l.addr()
	if l.peerRTCP != nil {
		from, to = l.peerRTCP, &net.UDPAddr{IP: to.IP, Port: to.Port + 1}
	}
	if _, err := from.WriteToUDP(b, to); err != nil {
		t.Fatal(err)
	}
}

// readRTCP reads the peer's RTCP socket until a packet matching want.
func (l *videoLeg) readRTCP(t *testing.T, want func(rtcp.Packet) bool) rtcp.Packet {
	t.Helper()
	c := l.peer
	if l.peerRTCP != nil {
		c = l.peerRTCP
	}
	for {
		b := readRaw(t, c, true)
		if l.srtp != nil {
			var err error
			if b, err = l.srtp.rxRTCP.DecryptRTCP(nil, b, nil); err != nil {
				t.Fatalf("srtcp from session: %v", err)
			}
		}
		pkts, err := rtcp.Unmarshal(b)
		if err != nil {
			t.Fatalf("bad rtcp from session: %v", err)
		}
		if _, ok := pkts[0].(*rtcp.ReceiverReport); !ok {
			if _, ok := pkts[0].(*rtcp.SenderReport); !ok {
				t.Fatalf("compound starts with %T", pkts[0])
			}
		}
		for _, p := range pkts {
			if want(p) {
				return p
			}
		}
	}
}

func (l *videoLeg) waitAUs(t *testing.T, want [][]byte) {
	t.Helper()
	eventually(t, fmt.Sprintf("%d decoded frames", len(want)), func() bool { return len(l.rec.got()) >= len(want) })
	got := l.rec.got()
	if len(got) != len(want) {
		t.Fatalf("decoded %d frames, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("frame %d differs: got %d bytes %x..., want %d bytes %x...", i, len(got[i]), head(got[i]), len(want[i]), head(want[i]))
		}
	}
}

func head(b []byte) []byte { return b[:min(len(b), 12)] }

func isPLI(p rtcp.Packet) bool { _, ok := p.(*rtcp.PictureLossIndication); return ok }
func isFIR(p rtcp.Packet) bool { _, ok := p.(*rtcp.FullIntraRequest); return ok }
func isNACK(p rtcp.Packet) bool {
	_, ok := p.(*rtcp.TransportLayerNack)
	return ok
}

// videoTestCodec makes frames and splits them the way a real sender would.
type videoTestCodec struct {
	name      string
	c         codec.VideoCodec
	frame     func(key bool, tag byte) []byte
	packetize func(t *testing.T, data []byte) [][]byte
}

// filler makes n bytes without two zeros in a row, so no start code appears.
func filler(tag byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i%250) + 1
	}
	b[0] = tag | 1
	return b
}

var vp8Test = videoTestCodec{
	name: "VP8", c: codec.VP8,
	frame: func(key bool, tag byte) []byte {
		if key {
			// RFC 6386 section 9.1: P=0, start code, 320x240.
			return append([]byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00}, filler(tag, 250)...)
		}
		return append([]byte{0x11, 0x02, 0x00}, filler(tag, 250)...)
	},
	packetize: func(t *testing.T, data []byte) [][]byte {
		p, err := NewVP8Packetizer(100, 1)
		if err != nil {
			t.Fatal(err)
		}
		out, err := p.Packetize(data)
		if err != nil {
			t.Fatal(err)
		}
		return out
	},
}

var h264Test = videoTestCodec{
	name: "H264", c: codec.H264,
	frame: func(key bool, tag byte) []byte {
		var au []byte
		if key {
			au = append(au, 0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0x8c, 0x8d) // SPS
			au = append(au, 0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80)             // PPS
			au = append(au, 0, 0, 0, 1, 0x65)                               // IDR slice
		} else {
			au = append(au, 0, 0, 0, 1, 0x41) // non-IDR slice
		}
		return append(au, filler(tag, 250)...)
	},
	packetize: func(t *testing.T, data []byte) [][]byte {
		p, err := NewH264Packetizer(100, H264ModeNonInterleaved, true)
		if err != nil {
			t.Fatal(err)
		}
		out, err := p.Packetize(data)
		if err != nil {
			t.Fatal(err)
		}
		return out
	},
}

var videoCodecs = []videoTestCodec{vp8Test, h264Test}

func TestVideoSessionReceivesFrames(t *testing.T) {
	for _, vc := range videoCodecs {
		t.Run(vc.name, func(t *testing.T) {
			l := newVideoLeg(t, vc, false, nil)
			var want [][]byte
			npkts := 0
			for i := range 4 {
				data, pkts := l.frame(t, i == 0, byte(i))
				if len(pkts) < 3 {
					t.Fatalf("frame %d is %d packets; the test wants fragmentation", i, len(pkts))
				}
				want = append(want, data)
				npkts += len(pkts)
				l.send(t, pkts...)
			}
			l.waitAUs(t, want)
			eventually(t, "sink", func() bool { return l.sink.n.Load() == 4 })
			st := l.s.Stats()
			if st.PacketsIn != uint64(npkts) || st.FramesIn != 4 || st.KeyframesIn != 1 || st.FramesDecoded != 4 ||
				st.Lost != 0 || st.FramesBroken != 0 || len(st.Invalid) != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestVideoSessionReordersPackets(t *testing.T) {
	for _, vc := range videoCodecs {
		t.Run(vc.name, func(t *testing.T) {
			l := newVideoLeg(t, vc, false, func(c *VideoSessionConfig) { c.MaxDelay = 2 * time.Second })
			var want [][]byte
			var all []*rtp.Packet
			for i := range 3 {
				data, pkts := l.frame(t, i == 0, byte(i))
				want = append(want, data)
				all = append(all, pkts...)
			}
			// Swap neighbours inside the first frame and near the end, and
			// send the fifth packet three places late.
			all[1], all[2] = all[2], all[1]
			n := len(all)
			all[n-3], all[n-2] = all[n-2], all[n-3]
			fifth := all[4]
			copy(all[4:7], all[5:8])
			all[7] = fifth
			l.send(t, all...)
			l.waitAUs(t, want)
			st := l.s.Stats()
			if st.Reordered == 0 || st.Lost != 0 || st.FramesBroken != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestVideoSessionNACKRepairsLoss(t *testing.T) {
	for _, vc := range videoCodecs {
		t.Run(vc.name, func(t *testing.T) {
			l := newVideoLeg(t, vc, false, func(c *VideoSessionConfig) {
				c.Feedback = VideoFeedback{NACK: true, PLI: true}
				c.MaxDelay = 3 * time.Second // the repair must win, however slow the machine
			})
			key, kp := l.frame(t, true, 1)
			p1, pp1 := l.frame(t, false, 2)
			p2, pp2 := l.frame(t, false, 3)
			lost := pp1[1]
			l.send(t, kp...)
			l.send(t, pp1[0])
			l.send(t, pp1[2:]...)
			l.send(t, pp2...)
			n := l.readRTCP(t, isNACK).(*rtcp.TransportLayerNack)
			var asked []uint16
			for _, p := range n.Nacks {
				asked = append(asked, p.PacketList()...)
			}
			if !slices.Equal(asked, []uint16{lost.SequenceNumber}) || n.MediaSSRC != l.ssrc || n.SenderSSRC != l.s.SSRC() {
				t.Fatalf("NACK %v for media %x from %x, want seq %d", asked, n.MediaSSRC, n.SenderSSRC, lost.SequenceNumber)
			}
			l.send(t, lost)
			l.waitAUs(t, [][]byte{key, p1, p2})
			st := l.s.Stats()
			if st.Recovered != 1 || st.Lost != 0 || st.PLIOut != 0 || st.NACKsOut == 0 || st.FramesBroken != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestVideoSessionLossRequestsKeyframe(t *testing.T) {
	tests := []struct {
		name string
		fb   VideoFeedback
		want func(rtcp.Packet) bool
	}{
		{"PLI", VideoFeedback{PLI: true}, isPLI},
		{"FIR only", VideoFeedback{FIR: true}, isFIR},
		{"NACK unanswered then PLI", VideoFeedback{NACK: true, PLI: true, FIR: true}, isPLI},
		{"nothing negotiated sends PLI", VideoFeedback{}, isPLI},
	}
	for _, vc := range videoCodecs {
		for _, tc := range tests {
			t.Run(vc.name+"/"+tc.name, func(t *testing.T) {
				l := newVideoLeg(t, vc, false, func(c *VideoSessionConfig) {
					c.Feedback = tc.fb
					c.MaxDelay = 60 * time.Millisecond
				})
				key, kp := l.frame(t, true, 1)
				_, pp1 := l.frame(t, false, 2)
				_, pp2 := l.frame(t, false, 3)
				l.send(t, kp...)
				l.waitAUs(t, [][]byte{key})
				l.send(t, pp1[0])
				l.send(t, pp1[2:]...) // pp1[1] never comes
				l.send(t, pp2...)
				if tc.fb.NACK {
					l.readRTCP(t, isNACK)
				}
				req := l.readRTCP(t, tc.want)
				if fir, ok := req.(*rtcp.FullIntraRequest); ok {
					if len(fir.FIR) != 1 || fir.FIR[0].SSRC != l.ssrc || fir.FIR[0].SequenceNumber != 0 {
						t.Fatalf("FIR %+v", fir)
					}
				} else if pli := req.(*rtcp.PictureLossIndication); pli.MediaSSRC != l.ssrc || pli.SenderSSRC != l.s.SSRC() {
					t.Fatalf("PLI %+v", pli)
				}
				// The intact P frame after the loss is not decoded, nor the next.
				eventually(t, "P frame skipped", func() bool { return l.s.Stats().FramesSkipped >= 1 })
				_, pp3 := l.frame(t, false, 4)
				l.send(t, pp3...)
				eventually(t, "second P frame skipped", func() bool { return l.s.Stats().FramesSkipped >= 2 })
				if got := len(l.rec.got()); got != 1 {
					t.Fatalf("decoded %d frames while waiting for a keyframe", got)
				}
				key2, kp2 := l.frame(t, true, 5)
				p4, pp4 := l.frame(t, false, 6)
				l.send(t, kp2...)
				l.send(t, pp4...)
				l.waitAUs(t, [][]byte{key, key2, p4})
				st := l.s.Stats()
				if st.FramesBroken != 1 || st.Lost != 1 || st.PLIOut+st.FIROut == 0 {
					t.Fatalf("stats %+v", st)
				}
			})
		}
	}
}

func TestVideoSessionRepeatsFIRWithNewSequence(t *testing.T) {
	l := newVideoLeg(t, vp8Test, false, func(c *VideoSessionConfig) {
		c.Feedback = VideoFeedback{FIR: true}
		c.KeyframeRequestInterval = 20 * time.Millisecond
	})
	_, kp := l.frame(t, true, 1)
	_, pp := l.frame(t, false, 2)
	l.send(t, kp...)
	l.send(t, pp[1:]...) // a lost head: broken frame
	_, pp2 := l.frame(t, false, 3)
	l.send(t, pp2...) // skipped: keeps the request pending
	first := l.readRTCP(t, isFIR).(*rtcp.FullIntraRequest)
	l.send(t, func() []*rtp.Packet { _, p := l.frame(t, false, 4); return p }()...)
	second := l.readRTCP(t, isFIR).(*rtcp.FullIntraRequest)
	if first.FIR[0].SequenceNumber != 0 || second.FIR[0].SequenceNumber != 1 {
		t.Fatalf("FIR sequence numbers %d then %d", first.FIR[0].SequenceNumber, second.FIR[0].SequenceNumber)
	}
}

func TestVideoSessionDecoderErrorRequestsKeyframe(t *testing.T) {
	l := newVideoLeg(t, vp8Test, false, nil)
	l.rec.mu.Lock()
	l.rec.fail = func(au []byte) bool { return bytes.Contains(au, []byte{0xff}) }
	l.rec.mu.Unlock()
	key, kp := l.frame(t, true, 1)
	_, bad := l.frame(t, false, 0xfe) // filler bytes are 1-250 but the first, tag|1
	_, pp := l.frame(t, false, 2)
	key2, kp2 := l.frame(t, true, 3)
	l.send(t, kp...)
	l.send(t, bad...)
	l.readRTCP(t, isPLI)
	l.send(t, pp...)
	eventually(t, "P frame skipped", func() bool { return l.s.Stats().FramesSkipped == 1 })
	l.send(t, kp2...)
	l.waitAUs(t, [][]byte{key, key2})
	if st := l.s.Stats(); st.DecodeErrors != 1 || st.Invalid[metrics.InvalidDecode] != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestVideoSessionInboundFeedback(t *testing.T) {
	for _, mux := range []bool{true, false} {
		t.Run(fmt.Sprintf("rtcp-mux=%v", mux), func(t *testing.T) {
			l := newVideoLeg(t, vp8Test, !mux, nil)
			ours := l.s.SSRC()
			steps := []struct {
				name    string
				pkt     rtcp.Packet
				kf      int64
				bitrate int
			}{
				{"PLI", &rtcp.PictureLossIndication{SenderSSRC: l.ssrc, MediaSSRC: ours}, 1, 0},
				{"FIR 7", &rtcp.FullIntraRequest{SenderSSRC: l.ssrc, FIR: []rtcp.FIREntry{{SSRC: ours, SequenceNumber: 7}}}, 2, 0},
				{"FIR 7 repeated", &rtcp.FullIntraRequest{SenderSSRC: l.ssrc, FIR: []rtcp.FIREntry{{SSRC: ours, SequenceNumber: 7}}}, 2, 0},
				{"FIR for another SSRC", &rtcp.FullIntraRequest{SenderSSRC: l.ssrc, FIR: []rtcp.FIREntry{{SSRC: ours + 1, SequenceNumber: 9}}}, 2, 0},
				{"FIR 8", &rtcp.FullIntraRequest{SenderSSRC: l.ssrc, FIR: []rtcp.FIREntry{{SSRC: ours, SequenceNumber: 8}}}, 3, 0},
				{"REMB", &rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: l.ssrc, Bitrate: 1500000, SSRCs: []uint32{ours}}, 3, 1500000},
				{"TMMBR", tmmbr(l.ssrc, []tmmbEntry{{ssrc: ours, exp: 3, mantissa: 100000, overhead: 40}}), 3, 800000},
				// A REMB above the TMMBR does not lift it: each kind holds
				// until replaced by its own kind.
				{"REMB above the TMMBR", &rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: l.ssrc, Bitrate: 3000000, SSRCs: []uint32{ours}}, 3, 800000},
			}
			for i, st := range steps {
				l.sendRTCP(t, st.pkt)
				eventually(t, st.name+" handled", func() bool { return l.s.Stats().RTCPIn == uint64(i+1) })
				if got := l.kfReqs.Load(); got != st.kf {
					t.Fatalf("%s: %d keyframe requests, want %d", st.name, got, st.kf)
				}
				if st.bitrate != 0 {
					select {
					case got := <-l.bitrates:
						if got != st.bitrate {
							t.Fatalf("%s: bitrate %d, want %d", st.name, got, st.bitrate)
						}
					default:
						t.Fatalf("%s: OnBitrate not called", st.name)
					}
				}
			}
			var fb rtcpFeedback
			raw := l.readRTCP(t, func(p rtcp.Packet) bool {
				r, ok := p.(*rtcp.RawPacket)
				return ok && r.Header().Type == rtcp.TypeTransportSpecificFeedback && r.Header().Count == fmtTMMBN
			}).(*rtcp.RawPacket)
			if err := parseRTCPFeedback(*raw, ours, &fb); err != nil || fb.nTMMBN != 1 {
				t.Fatalf("TMMBN %x: %v", []byte(*raw), err)
			}
			if e := fb.tmmbn[0]; e.ssrc != l.ssrc || e.bitrate() != 800000 || e.overhead != 40 {
				t.Fatalf("TMMBN entry %+v", e)
			}
			st := l.s.Stats()
			if st.PLIIn != 1 || st.FIRIn != 2 || st.REMBIn != 2 || st.TMMBRIn != 1 || st.TMMBNOut != 1 || st.PeerBitrate != 800000 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestVideoSessionAnswersNACK(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		t.Run(fmt.Sprintf("srtp=%v", encrypted), func(t *testing.T) {
			var sp *srtpPeer
			if encrypted {
				sp = newSRTPPeer(t, SRTPAEADAES128GCM)
			}
			l := newVideoLeg(t, vp8Test, false, func(c *VideoSessionConfig) {
				c.Feedback = VideoFeedback{NACK: true, PLI: true}
				if sp != nil {
					c.SRTP = sp.cfg
				}
			})
			l.srtp = sp
			payloads := [][]byte{{1, 1, 1}, {2, 2}, {3}, {4, 4, 4, 4}, {5}}
			l.s.WriteVideo(payloads, 1000, true)
			var sent [][]byte
			var seqs []uint16
			for range payloads {
				b := readRaw(t, l.peer, false)
				var h rtp.Header
				if _, err := h.Unmarshal(b); err != nil {
					t.Fatal(err)
				}
				sent = append(sent, b)
				seqs = append(seqs, h.SequenceNumber)
			}
			l.sendRTCP(t, &rtcp.TransportLayerNack{SenderSSRC: l.ssrc, MediaSSRC: l.s.SSRC(),
				Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{seqs[1], seqs[3]})})
			for _, i := range []int{1, 3} {
				if got := readRaw(t, l.peer, false); !bytes.Equal(got, sent[i]) {
					t.Fatalf("resend of packet %d differs:\n%x\n%x", i, got, sent[i])
				}
			}
			// A NACK for something never sent is counted, not answered.
			l.sendRTCP(t, &rtcp.TransportLayerNack{SenderSSRC: l.ssrc, MediaSSRC: l.s.SSRC(),
				Nacks: []rtcp.NackPair{{PacketID: seqs[0] - 100}}})
			eventually(t, "nacks handled", func() bool { return l.s.Stats().NACKsIn == 2 })
			if st := l.s.Stats(); st.Resent != 2 || st.ResendMissed != 1 || st.PacketsOut != 5 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestVideoSessionWriteVideo(t *testing.T) {
	l := newVideoLeg(t, h264Test, false, func(c *VideoSessionConfig) { c.PayloadType = 109 })
	frames := []struct {
		payloads [][]byte
		ts       uint32
		key      bool
	}{
		{[][]byte{{0x7c, 0x85, 1}, {0x7c, 0x05, 2}, {0x7c, 0x45, 3}}, 1000, true},
		{[][]byte{{0x41, 4}}, 4000, false},
		{[][]byte{{0x7c, 0x81, 5}, {0x7c, 0x41, 6}}, 7000, false},
	}
	for _, f := range frames {
		l.s.WriteVideo(f.payloads, f.ts, f.key)
	}
	var first *rtp.Packet
	n := 0
	for fi, f := range frames {
		for i, want := range f.payloads {
			p, _ := readRTP(t, l.peer)
			if first == nil {
				first = p
			}
			if p.SSRC != l.s.SSRC() || p.PayloadType != 109 || p.SequenceNumber != first.SequenceNumber+uint16(n) {
				t.Fatalf("frame %d packet %d: header %v", fi, i, p.Header)
			}
			if p.Marker != (i == len(f.payloads)-1) {
				t.Fatalf("frame %d packet %d: marker %v", fi, i, p.Marker)
			}
			if p.Timestamp-first.Timestamp != f.ts-frames[0].ts {
				t.Fatalf("frame %d: timestamp %d, first %d", fi, p.Timestamp, first.Timestamp)
			}
			if !bytes.Equal(p.Payload, want) {
				t.Fatalf("payload %x, want %x", p.Payload, want)
			}
			n++
		}
	}
	l.s.WriteVideo([][]byte{{1}, make([]byte, maxPacket)}, 9000, false)
	l.s.WriteVideo([][]byte{{1}, {}}, 9000, false)
	st := l.s.Stats()
	if st.PacketsOut != 6 || st.FramesOut != 3 || st.KeyframesOut != 1 || st.FramesRefused != 2 || st.PacketsDropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestVideoSessionSRTPRoundTrip(t *testing.T) {
	for _, suite := range []SRTPSuite{SRTPAES128CMSHA1_80, SRTPAEADAES256GCM} {
		t.Run(suite.String(), func(t *testing.T) {
			sp := newSRTPPeer(t, suite)
			l := newVideoLeg(t, h264Test, false, func(c *VideoSessionConfig) { c.SRTP = sp.cfg })
			l.srtp = sp
			key, kp := l.frame(t, true, 1)
			p1, pp1 := l.frame(t, false, 2)
			l.send(t, kp...)
			l.send(t, pp1...)
			l.waitAUs(t, [][]byte{key, p1})

			l.s.WriteVideo([][]byte{{0x65, 1, 2, 3}}, 500, true)
			b := readRaw(t, l.peer, false)
			plain, err := sp.rx.DecryptRTP(nil, b, nil)
			if err != nil {
				t.Fatalf("decrypting our RTP: %v", err)
			}
			var p rtp.Packet
			if err := p.Unmarshal(plain); err != nil || !bytes.Equal(p.Payload, []byte{0x65, 1, 2, 3}) || !p.Marker {
				t.Fatalf("our packet %v %x: %v", p.Header, p.Payload, err)
			}

			l.sendRTCP(t, &rtcp.PictureLossIndication{SenderSSRC: l.ssrc, MediaSSRC: l.s.SSRC()})
			eventually(t, "SRTCP PLI", func() bool { return l.kfReqs.Load() == 1 })
			// Our keyframe request comes back as SRTCP that the peer opens.
			l.s.RequestKeyframe()
			l.readRTCP(t, isPLI)

			// Plain RTP on an SRTP leg is refused.
			_, pp2 := l.frame(t, false, 3)
			raw, _ := pp2[0].Marshal()
			l.sendRaw(t, raw)
			eventually(t, "auth failure counted", func() bool { return l.s.Stats().Invalid[metrics.InvalidAuth] == 1 })
			if st := l.s.Stats(); st.SRTP != suite {
				t.Fatalf("suite %v", st.SRTP)
			}
		})
	}
}

func TestVideoSessionDropsGarbage(t *testing.T) {
	l := newVideoLeg(t, vp8Test, false, nil)
	good := func() []byte {
		b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: testVideoPT, SSRC: 1}, Payload: []byte{0x10, 1}}).Marshal()
		return b
	}
	wrongPT := good()
	wrongPT[1] = 97
	csrcLie := good()
	csrcLie[0] |= 0x0f // 15 CSRCs that are not there
	tests := []struct {
		name   string
		b      []byte
		reason metrics.InvalidReason
	}{
		{"one byte", []byte{0x80}, metrics.InvalidMalformed},
		{"version 0", append([]byte{0x00}, good()[1:]...), metrics.InvalidMalformed},
		{"oversize", append(good(), make([]byte, maxPacket)...), metrics.InvalidOversize},
		{"wrong payload type", wrongPT, metrics.InvalidPayloadType},
		{"CSRC count beyond packet", csrcLie, metrics.InvalidMalformed},
		{"RTCP with broken length", []byte{0x80, 200, 0xff, 0xff, 0, 0, 0, 1}, metrics.InvalidMalformed},
	}
	want := map[metrics.InvalidReason]uint64{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l.sendRaw(t, tc.b)
			want[tc.reason]++
			eventually(t, "counted", func() bool { return l.s.Stats().Invalid[tc.reason] == want[tc.reason] })
		})
	}
	// Still alive and well.
	key, kp := l.frame(t, true, 1)
	l.send(t, kp...)
	l.waitAUs(t, [][]byte{key})
	if st := l.s.Stats(); st.PacketsIn != uint64(len(kp)) {
		t.Fatalf("stats %+v", st)
	}
}

func TestVideoSessionKeyframeRequestRateLimit(t *testing.T) {
	clk := &fakeClock{t: time.Unix(5000, 0)}
	l := newVideoLeg(t, vp8Test, false, func(c *VideoSessionConfig) { c.Clock = clk.Now })
	key, kp := l.frame(t, true, 1)
	l.send(t, kp...)
	l.waitAUs(t, [][]byte{key}) // the inbound SSRC is known now

	ask := func(n uint64) {
		t.Helper()
		l.s.RequestKeyframe()
		eventually(t, "ask seen", func() bool { return l.s.Stats().KeyframeAsks == n })
	}
	ask(1)
	pli := l.readRTCP(t, isPLI).(*rtcp.PictureLossIndication)
	if pli.MediaSSRC != l.ssrc {
		t.Fatalf("PLI for %x", pli.MediaSSRC)
	}
	for i := range uint64(4) {
		clk.Advance(100 * time.Millisecond) // 400 ms in all: still inside the interval
		ask(2 + i)
	}
	if got := l.s.Stats().PLIOut; got != 1 {
		t.Fatalf("%d PLIs within 500 ms", got)
	}
	clk.Advance(100 * time.Millisecond)
	ask(6)
	eventually(t, "second PLI", func() bool { return l.s.Stats().PLIOut == 2 })
	l.readRTCP(t, isPLI)
}

func TestVideoSessionUpdate(t *testing.T) {
	l := newVideoLeg(t, vp8Test, false, nil)
	key, kp := l.frame(t, true, 1)
	l.send(t, kp...)
	l.waitAUs(t, [][]byte{key})

	// Hold: nothing is sent.
	if err := l.s.Update(VideoUpdate{Codec: codec.VP8, PayloadType: testVideoPT, Direction: SendRecv}); err != nil {
		t.Fatal(err)
	}
	l.s.WriteVideo([][]byte{{1}}, 0, true)
	if st := l.s.Stats(); st.PacketsOut != 0 {
		t.Fatalf("sent on hold: %+v", st)
	}
	// Resume with H.264 on a new payload type and a new peer port.
	peer2 := listenPeer(t)
	if err := l.s.Update(VideoUpdate{Remote: peer2.LocalAddr().(*net.UDPAddr), Codec: codec.H264, PayloadType: 100,
		Feedback: VideoFeedback{PLI: true}}); err != nil {
		t.Fatal(err)
	}
	l.s.WriteVideo([][]byte{{0x65, 9}}, 0, true)
	if p, _ := readRTP(t, peer2); p.PayloadType != 100 || !p.Marker {
		t.Fatalf("after update: %v", p.Header)
	}
	l.peer, l.codec = peer2, h264Test
	l.ssrc++
	h, hp := l.frame(t, true, 2)
	for _, p := range hp {
		p.PayloadType = 100
	}
	l.send(t, hp...)
	l.waitAUs(t, [][]byte{key, h})
	if l.rec.made.Load() != 3 || l.rec.closed.Load() != 2 {
		t.Fatalf("decoders made %d closed %d", l.rec.made.Load(), l.rec.closed.Load())
	}
	if err := l.s.Update(VideoUpdate{Codec: "AV1"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad codec: %v", err)
	}
}

func TestVideoSessionConcurrentWriteUpdateClose(t *testing.T) {
	l := newVideoLeg(t, vp8Test, false, func(c *VideoSessionConfig) { c.Feedback = VideoFeedback{NACK: true} })
	sp := newSRTPPeer(t, SRTPAES128CMSHA1_80)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(2)
	go func() {
		defer wg.Done()
		for ts := uint32(0); ; ts += 3000 {
			select {
			case <-stop:
				return
			default:
			}
			l.s.WriteVideo([][]byte{{1, 2, 3}, {4, 5, 6}}, ts, ts%30000 == 0)
			l.s.RequestKeyframe()
		}
	}()
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			u := VideoUpdate{Remote: l.peer.LocalAddr().(*net.UDPAddr), Codec: codec.VP8, PayloadType: testVideoPT,
				Feedback: VideoFeedback{NACK: i%2 == 0}}
			if i%3 == 0 {
				u.SRTP = sp.cfg
			}
			if err := l.s.Update(u); err != nil && !errors.Is(err, ErrClosed) {
				t.Error(err)
				return
			}
		}
	}()
	eventually(t, "some traffic", func() bool { return l.s.Stats().PacketsOut > 20 })
	if err := l.s.Close(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	if err := l.s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if err := l.s.Update(VideoUpdate{Codec: codec.VP8}); !errors.Is(err, ErrClosed) {
		t.Fatalf("update after close: %v", err)
	}
	l.s.WriteVideo([][]byte{{1}}, 0, false) // no panic, nothing sent
	l.s.RequestKeyframe()
	if l.rec.made.Load() != l.rec.closed.Load() {
		t.Fatalf("decoders made %d closed %d", l.rec.made.Load(), l.rec.closed.Load())
	}
}

func TestNewVideoSessionErrors(t *testing.T) {
	dec := func(codec.VideoCodec) (codec.VideoDecoder, error) { return nil, errors.New("no") }
	tests := []struct {
		name string
		cfg  VideoSessionConfig
	}{
		{"no ports", VideoSessionConfig{Codec: codec.VP8}},
		{"unknown codec", VideoSessionConfig{Codec: "AV1"}},
		{"payload type", VideoSessionConfig{Codec: codec.VP8, PayloadType: 200}},
		{"bad srtp", VideoSessionConfig{Codec: codec.VP8, SRTP: &SRTPConfig{Suite: SRTPAEADAES128GCM}}},
		{"decoder fails", VideoSessionConfig{Codec: codec.VP8, NewDecoder: dec}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name != "no ports" {
				p, err := testAllocator(t).Allocate(false)
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				tc.cfg.Ports = p
			}
			if s, err := NewVideoSession(tc.cfg); err == nil {
				s.Close()
				t.Fatal("no error")
			}
		})
	}
}

func TestVideoSessionString(t *testing.T) {
	l := newVideoLeg(t, h264Test, false, func(c *VideoSessionConfig) {
		c.Feedback = VideoFeedback{NACK: true, PLI: true}
		c.PacketizationMode = H264ModeNonInterleaved
	})
	want := fmt.Sprintf("RTP(127.0.0.1:%d <- %s) -> Reorder(150ms, nack,pli) -> H264(packetization-mode=1) -> Decoder -> Sink",
		l.s.LocalPort(), l.peer.LocalAddr())
	if got := l.s.String(); got != want {
		t.Fatalf("String() = %q\nwant        %q", got, want)
	}
}

func TestVideoSessionReports(t *testing.T) {
	l := newVideoLeg(t, vp8Test, false, func(c *VideoSessionConfig) { c.RTCPInterval = 40 * time.Millisecond })
	_, kp := l.frame(t, true, 1)
	l.send(t, kp...)
	eventually(t, "packets in", func() bool { return l.s.Stats().PacketsIn == uint64(len(kp)) })
	l.s.WriteVideo([][]byte{{1, 2}, {3}}, 1000, true)
	sr := l.readRTCP(t, func(p rtcp.Packet) bool {
		sr, ok := p.(*rtcp.SenderReport)
		return ok && len(sr.Reports) == 1 && sr.Reports[0].LastSequenceNumber&0xffff == uint32(l.seq-1)
	}).(*rtcp.SenderReport)
	if sr.SSRC != l.s.SSRC() || sr.PacketCount != 2 || sr.OctetCount != 3 || sr.Reports[0].SSRC != l.ssrc || sr.Reports[0].TotalLost != 0 {
		t.Fatalf("SR %+v", sr)
	}
	// With nothing sent since, the next report is an RR.
	rr := l.readRTCP(t, func(p rtcp.Packet) bool { _, ok := p.(*rtcp.ReceiverReport); return ok }).(*rtcp.ReceiverReport)
	if rr.SSRC != l.s.SSRC() || len(rr.Reports) != 1 {
		t.Fatalf("RR %+v", rr)
	}
}

func BenchmarkVideoWriteVideo(b *testing.B) {
	for _, encrypted := range []bool{false, true} {
		b.Run(fmt.Sprintf("srtp=%v", encrypted), func(b *testing.B) {
			ports, err := testAllocator(b).Allocate(false)
			if err != nil {
				b.Fatal(err)
			}
			sink := listenPeer(b)
			cfg := VideoSessionConfig{Ports: ports, Remote: sink.LocalAddr().(*net.UDPAddr), Codec: codec.VP8,
				PayloadType: testVideoPT, Feedback: VideoFeedback{NACK: true, PLI: true}, RTCPInterval: time.Hour,
				NewDecoder: func(codec.VideoCodec) (codec.VideoDecoder, error) {
					return &fakeVideoDecoder{rec: &videoRecorder{}}, nil
				}}
			if encrypted {
				cfg.SRTP = newSRTPPeer(b, SRTPAEADAES128GCM).cfg
			}
			s, err := NewVideoSession(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			// Drain the sink so the socket never blocks.
			done := make(chan struct{})
			go func() {
				defer close(done)
				buf := make([]byte, 2000)
				for {
					if _, _, err := sink.ReadFromUDPAddrPort(buf); err != nil {
						return
					}
				}
			}()
			defer func() { sink.Close(); <-done }()
			payloads := make([][]byte, 8)
			for i := range payloads {
				payloads[i] = bytes.Repeat([]byte{byte(i)}, 1100)
			}
			for range historySlots { // warm the history's buffers
				s.WriteVideo(payloads, 0, false)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				s.WriteVideo(payloads, uint32(i)*3000, false)
			}
			b.ReportMetric(float64(b.N*len(payloads))/b.Elapsed().Seconds(), "packets/s")
		})
	}
}

func BenchmarkVideoReorderDepacketize(b *testing.B) {
	var l videoLeg
	l.codec, l.ssrc = h264Test, 1
	t := &testing.T{}
	var pkts []*rtp.Packet
	for i := range 30 {
		_, p := l.frame(t, i == 0, byte(i))
		pkts = append(pkts, p...)
	}
	frames := 0
	d := NewH264Depacketizer(func(H264Frame) { frames++ }, 0)
	var pkt rtp.Packet
	deliver := func(seq uint16, ts uint32, marker bool, payload []byte) {
		pkt.SequenceNumber, pkt.Timestamp, pkt.Marker, pkt.Payload = seq, ts, marker, payload
		_ = d.Push(&pkt)
	}
	var ro reorderBuffer
	now := time.Unix(1000, 0)
	n := len(pkts)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		// One pair in every eight packets arrives swapped.
		for j := range n {
			k := j
			switch {
			case j%8 == 2 && j+1 < n:
				k = j + 1
			case j%8 == 3:
				k = j - 1
			}
			p := pkts[k]
			ro.push(p.SequenceNumber+uint16(i*n), p.Timestamp+uint32(i*90000), p.Marker, p.Payload, now, 40*time.Millisecond, deliver)
		}
	}
	b.StopTimer()
	if frames < b.N*30-1 {
		b.Fatalf("%d frames out of %d", frames, b.N*30)
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "packets/s")
}

func TestVideoSessionDefaultDecoder(t *testing.T) {
	for _, vc := range videoCodecs {
		t.Run(vc.name, func(t *testing.T) {
			l := newVideoLeg(t, vc, false, func(c *VideoSessionConfig) { c.NewDecoder = nil })
			// The test bitstreams are not real video: the library must
			// refuse or tolerate them, never crash, and the session goes on.
			_, kp := l.frame(t, true, 1)
			_, pp := l.frame(t, false, 2)
			l.send(t, kp...)
			l.send(t, pp...)
			eventually(t, "frames through the decoder", func() bool {
				st := l.s.Stats()
				return st.FramesIn == 2 && (st.DecodeErrors > 0 || st.FramesSkipped == 0)
			})
		})
	}
}

// An endpoint that negotiated neither PLI nor FIR is asked out of band
// (the SIP layer's INFO picture_fast_update), not with RTCP.
func TestVideoSessionKeyframeOutOfBand(t *testing.T) {
	var asked atomic.Int32
	l := newVideoLeg(t, vp8Test, false, func(c *VideoSessionConfig) {
		c.Feedback = VideoFeedback{}
		c.RequestKeyframeOutOfBand = func() { asked.Add(1) }
	})
	key, kp := l.frame(t, true, 1)
	_, pp := l.frame(t, false, 2)
	l.send(t, kp...)
	l.waitAUs(t, [][]byte{key})
	l.send(t, pp[1:]...) // a lost head: a broken frame
	_, pp2 := l.frame(t, false, 3)
	l.send(t, pp2...)
	eventually(t, "out-of-band keyframe request", func() bool { return asked.Load() == 1 })
	if st := l.s.Stats(); st.PLIOut+st.FIROut != 0 {
		t.Fatalf("RTCP keyframe requests sent as well: %+v", st)
	}
}
