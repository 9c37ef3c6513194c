package webrtc

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"vmrd/internal/codec"
	vmedia "vmrd/internal/media"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// YUV of the test colours (BT.601 studio range).
var (
	red   = [3]int{81, 90, 240}
	blue  = [3]int{41, 240, 110}
	green = [3]int{145, 54, 34}
)

// TestMediaBothWays: a pion browser joins by token; the room hears its
// tone and sees its colour, and the browser hears the room's tone and
// sees the room's colour, with VP8 and with H.264 (the room's first
// preferred codec that the browser offers).
func TestMediaBothWays(t *testing.T) {
	for _, vc := range []codec.VideoCodec{codec.VP8, codec.H264} {
		t.Run(string(vc), func(t *testing.T) { testMediaBothWays(t, vc) })
	}
}

func testMediaBothWays(t *testing.T, vc codec.VideoCodec) {
	prefs := []codec.VideoCodec{vc, codec.VP8}
	ts := newTestServer(t, Picture{Width: 1280, Height: 720, FPS: 25, Bitrate: 1_000_000, Codecs: prefs})
	m := ts.add("1001", "tok-a")
	b := newBrowser(t, dialWS(t, ts.url("1001")), vc)
	b.negotiate(t, "tok-a")
	b.send(t, 440, red)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	roomSide(t, m, vc, 1000, blue, stop, &wg)

	deadline := time.Now().Add(15 * time.Second)
	for {
		roomHears := m.pcm.last(9600)
		browserHears := b.pcm.last(9600)
		roomSees, browserSees := m.lastColor.Load(), b.color.Load()
		ok := roomHears != nil && browserHears != nil && roomSees != nil && browserSees != nil &&
			goertzel(roomHears, 440) > 0.5 && goertzel(browserHears, 1000) > 0.5 &&
			near(*roomSees, red, 12) && near(*browserSees, blue, 12)
		if ok {
			t.Logf("room hears 440 Hz at %.2f, browser hears 1000 Hz at %.2f; room sees %v, browser sees %v (frames %d / %d)",
				goertzel(roomHears, 440), goertzel(browserHears, 1000), *roomSees, *browserSees, m.frames.Load(), b.frames.Load())
			break
		}
		if time.Now().After(deadline) {
			var rs, bs [3]int
			if roomSees != nil {
				rs = *roomSees
			}
			if browserSees != nil {
				bs = *browserSees
			}
			t.Fatalf("media not both ways: room heard %d samples (440 Hz %.2f), browser heard %d (1000 Hz %.2f); room saw %d frames %v, browser %d frames %v",
				len(roomHears), goertzel(roomHears, 440), len(browserHears), goertzel(browserHears, 1000), m.frames.Load(), rs, b.frames.Load(), bs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	out := m.output()
	if out == nil || out.Codec != vc || out.Width != 1280 || out.Height != 720 || out.PacketizationMode != vmedia.H264ModeNonInterleaved {
		t.Fatalf("video output = %+v, want %s 1280x720", out, vc)
	}
	if got := ts.s.Stats(); got.LegsActive != 1 || got.Joins[joinAccepted] != 1 {
		t.Fatalf("stats = %+v, want one active leg and one accepted join", got)
	}

	// The room ends the participant: bye, then the connection closes and
	// the participant leaves.
	m.mu.Lock()
	leg := m.leg
	m.mu.Unlock()
	leg.Disconnect("disconnected by host")
	bye := b.ws.next(t, typeBye, 5*time.Second)
	if bye.Reason != "disconnected by host" {
		t.Fatalf("bye reason = %q", bye.Reason)
	}
	b.ws.waitClosed(t, 5*time.Second)
	select {
	case r := <-m.left:
		if r != "disconnected by host" {
			t.Fatalf("left with %q", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("participant did not leave")
	}
	waitFor(t, "no active legs", 5*time.Second, func() bool { return ts.s.Stats().LegsActive == 0 })
}

// TestICETCP: a browser that can only use TCP gets media through the
// ICE-TCP port (RFC 6544 passive candidates).
func TestICETCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	ts := newTestServer(t, Picture{}, func(c *Config) { c.TCPPort = port })
	m := ts.add("1001", "tok-t")
	b := newBrowser(t, dialWS(t, ts.url("1001")), codec.VP8, pion.NetworkTypeTCP4)
	b.negotiate(t, "tok-t")
	b.send(t, 440, red)
	waitFor(t, "the room hears the browser over TCP", 15*time.Second, func() bool {
		pcm := m.pcm.last(9600)
		return pcm != nil && goertzel(pcm, 440) > 0.5
	})
	var pair *pion.ICECandidatePair
	if sctp := b.pc.SCTP(); sctp != nil {
		pair, _ = sctp.Transport().ICETransport().GetSelectedCandidatePair()
	}
	for _, tr := range b.pc.GetTransceivers() {
		if pair == nil && tr.Sender() != nil {
			pair, _ = tr.Sender().Transport().ICETransport().GetSelectedCandidatePair()
		}
	}
	if pair == nil || pair.Remote.Protocol != pion.ICEProtocolTCP || int(pair.Remote.Port) != port {
		t.Fatalf("selected pair %v, want TCP to port %d", pair, port)
	}
}

// TestBrowserGoneLeaves: when the WebSocket closes, the participant leaves.
func TestBrowserGoneLeaves(t *testing.T) {
	ts := newTestServer(t, Picture{Width: 640, Height: 360, FPS: 25, Bitrate: 500_000, Codecs: []codec.VideoCodec{codec.VP8}})
	m := ts.add("1001", "tok-b")
	w := dialWS(t, ts.url("1001"))
	b := newBrowser(t, w, codec.VP8)
	b.negotiate(t, "tok-b")
	w.close()
	select {
	case <-m.left:
	case <-time.After(5 * time.Second):
		t.Fatal("participant did not leave after the WebSocket closed")
	}
}

// TestTokenEnded: when the participant's API session ends, the browser
// gets a bye.
func TestTokenEnded(t *testing.T) {
	ts := newTestServer(t, Picture{})
	m := ts.add("1001", "tok-c")
	w := dialWS(t, ts.url("1001"))
	w.send(t, map[string]string{"type": "join", "token": "tok-c"})
	w.next(t, typeConfig, 5*time.Second)
	close(m.done)
	if bye := w.next(t, typeBye, 5*time.Second); bye.Reason != "token ended" {
		t.Fatalf("bye = %+v", bye)
	}
	w.waitClosed(t, 5*time.Second)
}

// TestRefusals: each bad input gets an error message and a closed
// connection; nothing else happens to the room.
func TestRefusals(t *testing.T) {
	big := strings.Repeat("x", maxMessage+10)
	tests := []struct {
		name     string
		number   string
		draining bool
		send     func(t *testing.T, w *wsClient)
		want     string
	}{
		{name: "unknown token", number: "1001", send: join("nope"), want: "invalid token"},
		{name: "token of another room", number: "1002", send: join("good"), want: "invalid token"},
		{name: "offer before join", number: "1001", send: msg(`{"type":"offer","sdp":"v=0"}`), want: "the first message must be a join"},
		{name: "not json", number: "1001", send: msg(`{"type":`), want: "not a JSON message"},
		{name: "unknown type", number: "1001", send: msg(`{"type":"hello"}`), want: "unknown message type"},
		{name: "oversized", number: "1001", send: msg(`{"type":"join","token":"` + big + `"}`), want: "message too large"},
		{name: "binary", number: "1001", send: func(t *testing.T, w *wsClient) {
			if err := wsutil.WriteClientBinary(w.c, []byte("{}")); err != nil {
				t.Fatal(err)
			}
		}, want: "only text messages"},
		{name: "draining", number: "1001", draining: true, send: join("good"), want: "shutting down"},
		{name: "malformed sdp", number: "1001", send: then(join("good"), msg(`{"type":"offer","sdp":"not sdp at all"}`)), want: "malformed SDP"},
		{name: "no opus", number: "1001", send: then(join("good"), msg(`{"type":"offer","sdp":"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:0 PCMU/8000\r\n"}`)), want: "no Opus audio offered"},
		{name: "malformed candidate", number: "1001", send: then(join("good"), msg(`{"type":"candidate","candidate":{"candidate":5}}`)), want: "malformed candidate"},
		{name: "second join", number: "1001", send: then(join("good"), join("good")), want: "joined already"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, Picture{})
			m := ts.add("1001", "good")
			ts.drain.Store(tc.draining)
			w := dialWS(t, ts.url(tc.number))
			tc.send(t, w)
			e := w.next(t, typeError, 5*time.Second)
			if !strings.Contains(e.Message, tc.want) {
				t.Fatalf("error %q, want it to contain %q", e.Message, tc.want)
			}
			w.waitClosed(t, 5*time.Second)
			m.mu.Lock()
			attached := m.attached
			m.mu.Unlock()
			if attached {
				t.Fatal("the participant got media")
			}
		})
	}
}

func join(tok string) func(*testing.T, *wsClient) {
	return func(t *testing.T, w *wsClient) { w.send(t, map[string]string{"type": "join", "token": tok}) }
}

func msg(s string) func(*testing.T, *wsClient) {
	return func(t *testing.T, w *wsClient) {
		t.Helper()
		if err := wsutil.WriteClientText(w.c, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
}

func then(fs ...func(*testing.T, *wsClient)) func(*testing.T, *wsClient) {
	return func(t *testing.T, w *wsClient) {
		for _, f := range fs {
			f(t, w)
		}
	}
}

// TestJoinTimeout: a connection that never joins is closed with an error.
func TestJoinTimeout(t *testing.T) {
	ts := newTestServer(t, Picture{})
	ts.s.joinTimeout = 200 * time.Millisecond
	w := dialWS(t, ts.url("1001"))
	if e := w.next(t, typeError, 5*time.Second); e.Message != ErrJoinTimeout.Error() {
		t.Fatalf("error = %q", e.Message)
	}
	w.waitClosed(t, 5*time.Second)
}

// TestJoinFlood: connections beyond the per-source burst get 429 before
// any WebSocket is made.
func TestJoinFlood(t *testing.T) {
	ts := newTestServer(t, Picture{})
	url := strings.Replace(ts.url("1001"), "ws://", "http://", 1)
	limited := 0
	for range 80 {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited < 20 {
		t.Fatalf("%d of 80 requests limited, want at least 20 (burst 50)", limited)
	}
	if got := ts.s.Stats().Joins[joinLimited]; got != uint64(limited) {
		t.Fatalf("limited counter %d, want %d", got, limited)
	}
}

// TestPingAnswered: the server answers WebSocket pings (RFC 6455 5.5.2).
func TestPingAnswered(t *testing.T) {
	ts := newTestServer(t, Picture{})
	ts.add("1001", "good")
	ctx := t.Context()
	c, _, _, err := ws.Dial(ctx, ts.url("1001"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := wsutil.WriteClientMessage(c, ws.OpPing, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	msgs, err := wsutil.ReadServerMessage(c, nil)
	if err != nil || len(msgs) == 0 || msgs[0].OpCode != ws.OpPong || string(msgs[0].Payload) != "hi" {
		t.Fatalf("got %+v, %v; want a pong", msgs, err)
	}
}

func TestReorder(t *testing.T) {
	tests := []struct {
		name string
		in   []uint16
		want []uint16
	}{
		{"in order", []uint16{1, 2, 3}, []uint16{1, 2, 3}},
		{"swap", []uint16{1, 3, 2, 4}, []uint16{1, 2, 3, 4}},
		{"duplicate and late", []uint16{1, 2, 2, 1, 3}, []uint16{1, 2, 3}},
		{"wrap", []uint16{65534, 0, 65535, 1}, []uint16{65534, 65535, 0, 1}},
		// A jump counts once a second packet confirms it (RFC 3550 A.1).
		{"restart", []uint16{1, 2, 30000, 30001, 30002}, []uint16{1, 2, 30001, 30002}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []uint16
			r := vmedia.NewReorderer(reorderWait, func(p *rtp.Packet) { got = append(got, p.SequenceNumber) })
			now := time.Now()
			for _, s := range tc.in {
				r.Push(rtpPacket(s), now)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
	t.Run("gap given up", func(t *testing.T) {
		var got []uint16
		r := vmedia.NewReorderer(reorderWait, func(p *rtp.Packet) { got = append(got, p.SequenceNumber) })
		now := time.Now()
		r.Push(rtpPacket(1), now)
		r.Push(rtpPacket(3), now)
		r.Push(rtpPacket(4), now.Add(reorderWait+time.Millisecond))
		if len(got) != 3 || got[1] != 3 || got[2] != 4 {
			t.Fatalf("got %v, want [1 3 4] once the gap waited too long", got)
		}
	})
}

func TestReadOffer(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
	const audio = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n"
	tests := []struct {
		name  string
		sdp   string
		want  offer
		error bool
	}{
		{"opus only", head + audio, offer{true, -1, -1}, false},
		{"vp8", head + audio + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n", offer{true, 96, -1}, false},
		{"vp8 as firefox numbers it", head + audio + "m=video 9 UDP/TLS/RTP/SAVPF 120\r\na=rtpmap:120 VP8/90000\r\n", offer{true, 120, -1}, false},
		{"h264 mode 1 cb", head + audio + "m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n", offer{true, -1, 102}, false},
		{"h264 first usable", head + audio + "m=video 9 UDP/TLS/RTP/SAVPF 102 106 108\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=42001f\r\na=rtpmap:106 H264/90000\r\na=fmtp:106 packetization-mode=1;profile-level-id=42e01f\r\na=rtpmap:108 H264/90000\r\na=fmtp:108 packetization-mode=1;profile-level-id=42e01f\r\n", offer{true, -1, 106}, false},
		{"h264 mode 0", head + audio + "m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=0;profile-level-id=42e01f\r\n", offer{true, -1, -1}, false},
		{"h264 high", head + audio + "m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=rtpmap:102 H264/90000\r\na=fmtp:102 packetization-mode=1;profile-level-id=64001f\r\n", offer{true, -1, -1}, false},
		{"video port 0", head + audio + "m=video 0 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n", offer{true, -1, -1}, false},
		{"no opus", head + "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n", offer{}, true},
		{"garbage", "hello", offer{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readOffer(tc.sdp)
			if (err != nil) != tc.error {
				t.Fatalf("err = %v, want error %v", err, tc.error)
			}
			if err == nil && got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func waitFor(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
