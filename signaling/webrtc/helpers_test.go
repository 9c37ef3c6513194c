package webrtc

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"vmrd/internal/codec"
	vmedia "vmrd/internal/media"
	"vmrd/internal/room"
	"vmrd/mixer/video"
)

// fakeTokens is the control API side: tokens of members.
type fakeTokens struct {
	mu sync.Mutex
	m  map[string]*fakeMember
}

func (f *fakeTokens) Member(n room.Number, tok string) (Member, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.m[tok]
	if !ok || m.number != n {
		return nil, ErrBadToken
	}
	return m, nil
}

// fakeMember stands in for a room participant, its mixer input and its
// compositor attachment.
type fakeMember struct {
	number room.Number
	id     room.ParticipantID
	done   chan struct{}

	mu       sync.Mutex
	attached bool
	leg      room.Leg
	sink     room.AudioSink
	out      *video.Output
	left     chan string // the reason, once

	pcm       pcmBuffer
	frames    atomic.Int64
	lastColor atomic.Pointer[[3]int]
	keyframes atomic.Int64
	bitrate   atomic.Int64
}

func newFakeMember(n room.Number, id string) *fakeMember {
	return &fakeMember{number: n, id: room.ParticipantID(id), done: make(chan struct{}), left: make(chan string, 1)}
}

func (m *fakeMember) ID() room.ParticipantID { return m.id }
func (m *fakeMember) Done() <-chan struct{}  { return m.done }

func (m *fakeMember) AttachMedia(req room.MediaRequest) (room.AudioInput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.attached {
		return nil, room.ErrMediaAttached
	}
	if req.Protocol != "webrtc" || req.Encryption != "dtls-srtp" || req.AudioFormat != "opus/48000/2" {
		return nil, errors.New("unexpected media request")
	}
	m.attached, m.leg, m.sink = true, req.Leg, req.Sink
	return &m.pcm, nil
}

func (m *fakeMember) AttachVideo(out video.Output) (VideoAttachment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.out = &out
	return fakeAttachment{m}, nil
}

func (m *fakeMember) Leave(reason string) {
	select {
	case m.left <- reason:
	default:
	}
}

func (m *fakeMember) output() *video.Output {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.out
}

func (m *fakeMember) audioSink() room.AudioSink {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sink
}

type fakeAttachment struct{ m *fakeMember }

func (a fakeAttachment) WriteFrame(f *codec.Frame) {
	a.m.frames.Add(1)
	c := meanColor(f)
	a.m.lastColor.Store(&c)
}
func (a fakeAttachment) ForceKeyframe()     { a.m.keyframes.Add(1) }
func (a fakeAttachment) SetBitrate(bps int) { a.m.bitrate.Store(int64(bps)) }
func (a fakeAttachment) Detach()            {}

// pcmBuffer is an AudioInput keeping the last second.
type pcmBuffer struct {
	mu  sync.Mutex
	buf []int16
}

func (p *pcmBuffer) Write(pcm []int16) {
	p.mu.Lock()
	p.buf = append(p.buf, pcm...)
	if len(p.buf) > 48000 {
		p.buf = append(p.buf[:0], p.buf[len(p.buf)-48000:]...)
	}
	p.mu.Unlock()
}
func (p *pcmBuffer) SetMuted(bool) {}
func (p *pcmBuffer) last(n int) []int16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.buf) < n {
		return nil
	}
	return append([]int16(nil), p.buf[len(p.buf)-n:]...)
}

// meanColor is the average Y, U, V of a picture's centre.
func meanColor(f *codec.Frame) [3]int {
	var sy, su, sv, n, nc int
	for y := f.Height / 4; y < 3*f.Height/4; y++ {
		for x := f.Width / 4; x < 3*f.Width/4; x++ {
			sy += int(f.Y[y*f.StrideY+x])
			n++
		}
	}
	for y := f.Height / 8; y < 3*f.Height/8; y++ {
		for x := f.Width / 8; x < 3*f.Width/8; x++ {
			su += int(f.U[y*f.StrideUV+x])
			sv += int(f.V[y*f.StrideUV+x])
			nc++
		}
	}
	return [3]int{sy / max(n, 1), su / max(nc, 1), sv / max(nc, 1)}
}

func near(a, b [3]int, tol int) bool {
	for i := range a {
		if a[i]-b[i] > tol || b[i]-a[i] > tol {
			return false
		}
	}
	return true
}

// goertzel is the relative power of freq in pcm (48 kHz).
func goertzel(pcm []int16, freq float64) float64 {
	w := 2 * math.Pi * freq / 48000
	c := 2 * math.Cos(w)
	var s1, s2, energy float64
	for _, x := range pcm {
		v := float64(x)
		s := v + c*s1 - s2
		s2, s1 = s1, s
		energy += v * v
	}
	p := s1*s1 + s2*s2 - c*s1*s2
	if energy == 0 {
		return 0
	}
	return p / (energy * float64(len(pcm)) / 2)
}

// toneFrames returns an endless source of 20 ms frames of a sine.
func toneFrames(freq float64) func() []int16 {
	var n int
	return func() []int16 {
		f := make([]int16, 960)
		for i := range f {
			f[i] = int16(8000 * math.Sin(2*math.Pi*freq*float64(n)/48000))
			n++
		}
		return f
	}
}

// solid is a w x h picture of one colour.
func solid(w, h int, c [3]int) *codec.Frame {
	f := codec.NewFrame(w, h)
	f.Fill(byte(c[0]), byte(c[1]), byte(c[2]))
	return f
}

// testServer runs a Server behind httptest on loopback.
type testServer struct {
	s      *Server
	http   *httptest.Server
	tokens *fakeTokens
	drain  atomic.Bool
}

func newTestServer(t *testing.T, pic Picture, tweak ...func(*Config)) *testServer {
	t.Helper()
	ts := &testServer{tokens: &fakeTokens{m: map[string]*fakeMember{}}}
	cfg := Config{
		Tokens:          ts.tokens,
		Picture:         func(room.Number) Picture { return pic },
		Draining:        ts.drain.Load,
		BindIP:          "127.0.0.1",
		IncludeLoopback: true,
		ICEServers:      []ICEServer{{URLs: []string{"stun:127.0.0.1:3478"}}},
		JoinBurst:       50,
	}
	for _, f := range tweak {
		f(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts.s = s
	mux := http.NewServeMux()
	mux.Handle("GET /api/client/v2/conferences/{number}/media", s)
	ts.http = httptest.NewServer(mux)
	t.Cleanup(func() {
		ts.http.Close()
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return ts
}

func (ts *testServer) add(number, token string) *fakeMember {
	m := newFakeMember(room.Number(number), "p-"+token)
	ts.tokens.mu.Lock()
	ts.tokens.m[token] = m
	ts.tokens.mu.Unlock()
	return m
}

func (ts *testServer) url(number string) string {
	return "ws" + strings.TrimPrefix(ts.http.URL, "http") + "/api/client/v2/conferences/" + number + "/media"
}

// wsClient is the browser's signaling side.
type wsClient struct {
	wmu   sync.Mutex
	c     net.Conn
	msgs  chan message
	cands chan message // candidates apart, so that a browser can take them
	done  chan struct{}
}

func dialWS(t *testing.T, url string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, _, err := ws.Dial(ctx, url)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	w := &wsClient{c: c, msgs: make(chan message, 256), cands: make(chan message, 256), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer close(w.cands)
		defer close(w.msgs)
		for {
			b, err := wsutil.ReadServerText(c)
			if err != nil {
				return
			}
			var m message
			if json.Unmarshal(b, &m) != nil {
				continue
			}
			if m.Type == typeCandidate {
				w.cands <- m
			} else {
				w.msgs <- m
			}
		}
	}()
	t.Cleanup(w.close)
	return w
}

func (w *wsClient) close() {
	_ = w.c.Close()
	<-w.done
}

func (w *wsClient) send(t *testing.T, v any) {
	t.Helper()
	if err := w.sendRaw(v); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// sendRaw sends from any goroutine; frames of several goroutines do not
// interleave.
func (w *wsClient) sendRaw(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.wmu.Lock()
	defer w.wmu.Unlock()
	return wsutil.WriteClientText(w.c, b)
}

// next waits for the next message of type typ, skipping candidates.
func (w *wsClient) next(t *testing.T, typ string, within time.Duration) message {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case m, ok := <-w.msgs:
			if !ok {
				t.Fatalf("connection closed while waiting for %q", typ)
			}
			if m.Type == typ {
				return m
			}
			if m.Type != typeCandidate && m.Type != typeConfig {
				t.Fatalf("got %+v while waiting for %q", m, typ)
			}
		case <-deadline:
			t.Fatalf("no %q within %s", typ, within)
		}
	}
}

// waitClosed waits until the server closes the connection.
func (w *wsClient) waitClosed(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case <-w.done:
	case <-time.After(within):
		t.Fatalf("connection not closed within %s", within)
	}
}

// browser is a pion PeerConnection playing the browser: it sends an Opus
// tone and VP8 pictures of one colour, and decodes what it receives.
type browser struct {
	vc     codec.VideoCodec
	pc     *pion.PeerConnection
	ws     *wsClient
	audio  *pion.TrackLocalStaticSample
	video  *pion.TrackLocalStaticSample
	pcm    pcmBuffer
	frames atomic.Int64
	color  atomic.Pointer[[3]int]
	wg     sync.WaitGroup
	stop   chan struct{}
}

func newBrowser(t *testing.T, w *wsClient, vc codec.VideoCodec, networks ...pion.NetworkType) *browser {
	t.Helper()
	me := &pion.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		t.Fatal(err)
	}
	ir := &interceptor.Registry{}
	if err := pion.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	se := pion.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	if networks == nil {
		networks = []pion.NetworkType{pion.NetworkTypeUDP4}
	}
	se.SetNetworkTypes(networks)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	api := pion.NewAPI(pion.WithMediaEngine(me), pion.WithInterceptorRegistry(ir), pion.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{vc: vc, pc: pc, ws: w, stop: make(chan struct{})}
	b.audio, _ = pion.NewTrackLocalStaticSample(pion.RTPCodecCapability{MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "a", "b")
	vcap := pion.RTPCodecCapability{MimeType: pion.MimeTypeVP8, ClockRate: 90000}
	if vc == codec.H264 {
		vcap = pion.RTPCodecCapability{MimeType: pion.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}
	}
	b.video, _ = pion.NewTrackLocalStaticSample(vcap, "v", "b")
	for _, tr := range []pion.TrackLocal{b.audio, b.video} {
		s, err := pc.AddTrack(tr)
		if err != nil {
			t.Fatal(err)
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			buf := make([]byte, 1500)
			for {
				if _, _, err := s.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	pc.OnICECandidate(func(c *pion.ICECandidate) {
		if c == nil {
			_ = w.sendRaw(map[string]any{"type": "candidate", "candidate": nil})
			return
		}
		_ = w.sendRaw(map[string]any{"type": "candidate", "candidate": c.ToJSON()})
	})
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			if tr.Kind() == pion.RTPCodecTypeAudio {
				b.readAudio(tr)
			} else {
				b.readVideo(tr)
			}
		}()
	})
	t.Cleanup(b.close)
	return b
}

func (b *browser) close() {
	select {
	case <-b.stop:
		return
	default:
	}
	close(b.stop)
	_ = b.pc.Close()
	b.ws.close() // ends the candidate reader
	b.wg.Wait()
}

func (b *browser) readAudio(tr *pion.TrackRemote) {
	dec, err := codec.Opus.NewDecoder()
	if err != nil {
		return
	}
	defer dec.Close()
	pcm := make([]int16, 5760)
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		if n, err := dec.Decode(p.Payload, pcm); err == nil {
			b.pcm.Write(pcm[:n])
		}
	}
}

func (b *browser) readVideo(tr *pion.TrackRemote) {
	vc := codec.VP8
	if strings.EqualFold(tr.Codec().MimeType, pion.MimeTypeH264) {
		vc = codec.H264
	}
	dec, err := codec.NewVideoDecoder(vc)
	if err != nil {
		return
	}
	defer dec.Close()
	decode := func(au []byte) {
		if pic, err := dec.Decode(au); err == nil && pic != nil {
			b.frames.Add(1)
			c := meanColor(pic)
			b.color.Store(&c)
		}
	}
	var push func(*rtp.Packet) error
	if vc == codec.VP8 {
		push = vmedia.NewVP8Depacketizer(func(f vmedia.VP8Frame) { decode(f.Data) }, vmedia.VP8Limits{}).Push
	} else {
		push = vmedia.NewH264Depacketizer(func(f vmedia.H264Frame) { decode(f.Data) }, 0).Push
	}
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		_ = push(p)
	}
}

// newVideoEncoder makes a test encoder of vc.
func newVideoEncoder(t *testing.T, vc codec.VideoCodec, cfg codec.VideoEncoderConfig) codec.VideoEncoder {
	t.Helper()
	var enc codec.VideoEncoder
	var err error
	if vc == codec.H264 {
		enc, err = codec.NewH264Encoder(cfg)
	} else {
		enc, err = codec.NewVP8Encoder(cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// negotiate joins with token, offers and waits for the answer.
func (b *browser) negotiate(t *testing.T, token string) {
	t.Helper()
	b.ws.send(t, map[string]string{"type": "join", "token": token})
	cfg := b.ws.next(t, typeConfig, 5*time.Second)
	if len(cfg.ICEServers) != 1 || cfg.ICEServers[0].URLs[0] != "stun:127.0.0.1:3478" {
		t.Fatalf("config = %+v", cfg)
	}
	offer, err := b.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	b.ws.send(t, map[string]string{"type": "offer", "sdp": offer.SDP})
	ans := b.ws.next(t, typeAnswer, 10*time.Second)
	if err := b.pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: ans.SDP}); err != nil {
		t.Fatalf("answer: %v", err)
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for m := range b.ws.cands {
			c, err := parseCandidate(m.Candidate)
			if err == nil && c != nil {
				_ = b.pc.AddICECandidate(*c)
			}
		}
	}()
}

// send streams a tone and pictures of colour c until stop.
func (b *browser) send(t *testing.T, freq float64, c [3]int) {
	t.Helper()
	enc, err := codec.Opus.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	venc := newVideoEncoder(t, b.vc, codec.VideoEncoderConfig{Width: 320, Height: 180, FPS: 25, Bitrate: 300_000, KeyframeInterval: 25})
	pic := solid(320, 180, c)
	tone := toneFrames(freq)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		defer enc.Close()
		defer venc.Close()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		out := make([]byte, 1500)
		for i := 0; ; i++ {
			select {
			case <-b.stop:
				return
			case <-tick.C:
			}
			if n, err := enc.Encode(tone(), out); err == nil {
				_ = b.audio.WriteSample(media.Sample{Data: append([]byte(nil), out[:n]...), Duration: 20 * time.Millisecond})
			}
			if i%2 == 0 {
				if fr, _, err := venc.Encode(pic, i == 0); err == nil && len(fr) > 0 {
					_ = b.video.WriteSample(media.Sample{Data: append([]byte(nil), fr...), Duration: 40 * time.Millisecond})
				}
			}
		}
	}()
}

// roomSide plays the room's mixers towards a leg: Opus of a tone into
// the audio sink, and VP8 pictures of one colour into the video sink,
// keyframes when asked.
func roomSide(t *testing.T, m *fakeMember, vc codec.VideoCodec, freq float64, c [3]int, stop <-chan struct{}, wg *sync.WaitGroup) {
	t.Helper()
	enc, err := codec.Opus.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	venc := newVideoEncoder(t, vc, codec.VideoEncoderConfig{Width: 320, Height: 180, FPS: 25, Bitrate: 300_000, KeyframeInterval: 25})
	var packetize func([]byte) ([][]byte, error)
	if vc == codec.H264 {
		pk, err := vmedia.NewH264Packetizer(1200, vmedia.H264ModeNonInterleaved, true)
		if err != nil {
			t.Fatal(err)
		}
		packetize = pk.Packetize
	} else {
		pk, err := vmedia.NewVP8Packetizer(1200, 0)
		if err != nil {
			t.Fatal(err)
		}
		packetize = pk.Packetize
	}
	pic := solid(320, 180, c)
	tone := toneFrames(freq)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer enc.Close()
		defer venc.Close()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		out := make([]byte, 1500)
		var ts uint32
		seenKeys := int64(0)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if s := m.audioSink(); s != nil {
				if n, err := enc.Encode(tone(), out); err == nil {
					s.WriteAudio(out[:n])
				}
			}
			o := m.output()
			if o == nil || i%2 != 0 {
				continue
			}
			k := m.keyframes.Load()
			force := k != seenKeys || i == 0
			seenKeys = k
			fr, _, err := venc.Encode(pic, force)
			if err != nil || len(fr) == 0 {
				continue
			}
			ps, err := packetize(fr)
			if err != nil {
				continue
			}
			ts += 3600
			o.Sink.WriteVideo(ps, ts, force)
		}
	}()
}

// rtpPacket is a shorthand for reorder tests.
func rtpPacket(seq uint16) *rtp.Packet {
	return &rtp.Packet{Header: rtp.Header{SequenceNumber: seq}}
}
