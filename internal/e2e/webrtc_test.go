package e2e

import (
	"context"
	"encoding/json"
	"image"
	"image/color"
	"math"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	pion "github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"vmrd/internal/codec"
	vmedia "vmrd/internal/media"
)

// TestWebRTCWithPhone: a pion client playing a browser joins room 1001 by
// request_token and the media WebSocket, next to a baresip phone, in a
// 4:0 room. The client sends green and a 550 Hz tone; it sees the phone's
// red in the first cell and its own green nowhere, and hears the phone's
// 440 Hz and not its own tone. The phone sees the client's green. When the
// client hangs up, its participant leaves and its token dies.
func TestWebRTCWithPhone(t *testing.T) {
	requireVideoTools(t, "baresip", "ffmpeg")
	cfg := defaultConfig()
	cfg.Video.Layout = "4:0"
	cfg.Video.FPS = 15
	cfg.Rooms = []RoomConfig{{Number: "1001", Name: "Test room", Layout: "4:0"}}
	d := startDaemon(t, cfg)

	ph := startVideoPhone(t, videoPhoneOpts{Name: "phone", Video: makeColourVideo(t, t.TempDir(), "phone", colourRed, 640, 360, 30, 60),
		VideoCodecs: "VP8", Freq: 440, Seconds: 60, Dial: "sip:1001@" + d.SIPAddr})
	d.waitLogCount(t, videoStartedRe, 1, 15*time.Second)
	ph.waitLog(t, videoRxRe, 15*time.Second)

	tok := d.token(t, "1001", "", "pion", "GUEST")
	c := startRTCClient(t, d, "1001", tok.Token, colourGreen, 550)
	d.waitMetric(t, "vmrd_webrtc_legs_active", 10*time.Second, "one WebRTC leg", func(v float64) bool { return v == 1 })
	d.waitParticipant(t, "1001", tok.Token, "the client with media", 10*time.Second, func(p participantInfo) bool {
		return p.DisplayName == "pion" && p.Protocol == "webrtc"
	})

	c.waitView(t, 20*time.Second, gridView([]*color.RGBA{&colourRed, nil, nil, nil}, colourGreen))
	waitView(t, ph, 20*time.Second, gridView([]*color.RGBA{&colourGreen, nil, nil, nil}, colourRed))
	c.waitHears(t, 15*time.Second, 440, 550)

	// The client hangs up: its participant leaves and its token ends.
	c.close()
	d.waitMetric(t, "vmrd_webrtc_legs_active", 10*time.Second, "no WebRTC legs", func(v float64) bool { return v == 0 })
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := d.apiDo(t, http.MethodGet, "1001", "participants", tok.Token, nil)
		if r.Code == http.StatusForbidden || r.Code == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the token still works after the client left: %d %s", r.Code, r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if v := d.metric(t, `vmrd_webrtc_joins_total{result="accepted"}`); v != 1 {
		t.Fatalf("accepted joins = %v, want 1", v)
	}
}

// rtcClient is a pion PeerConnection that plays a browser against the
// daemon's media WebSocket: Opus and VP8 only.
type rtcClient struct {
	pc   *pion.PeerConnection
	conn net.Conn
	wmu  sync.Mutex
	stop chan struct{}
	once sync.Once
	wg   sync.WaitGroup

	mu     sync.Mutex
	pcm    []float64 // what it hears, the last 2 s at 48 kHz
	frame  *codec.Frame
	frames atomic.Int64
}

func startRTCClient(t *testing.T, d *daemon, number, token string, col color.RGBA, freq float64) *rtcClient {
	t.Helper()
	return startRTCClientWith(t, d, number, token, false, func(c *rtcClient, audio, vid *pion.TrackLocalStaticSample) {
		c.sendMedia(t, audio, vid, col, freq)
	})
}

// startRTCClientWith is startRTCClient with the client's sender given:
// send starts streaming on the two tracks once the connection is set up.
// relay makes the client use only the TURN servers of the config message
// (ICE transport policy "relay"), as a browser behind a strict NAT or
// firewall ends up doing.
func startRTCClientWith(t *testing.T, d *daemon, number, token string, relay bool,
	send func(c *rtcClient, audio, vid *pion.TrackLocalStaticSample)) *rtcClient {
	t.Helper()
	// Join first: the config message holds the ICE servers.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, _, _, err := ws.Dial(ctx, "ws://"+d.HTTPAddr+"/api/client/v2/conferences/"+number+"/media")
	if err != nil {
		t.Fatalf("media websocket: %v", err)
	}
	c := &rtcClient{conn: conn, stop: make(chan struct{})}
	t.Cleanup(c.close)
	if err := c.send(map[string]string{"type": "join", "token": token}); err != nil {
		t.Fatal(err)
	}
	cfgMsg := c.read(t)
	if cfgMsg["type"] != "config" {
		t.Fatalf("after join: %v, want the config message", cfgMsg)
	}
	pcCfg := pion.Configuration{}
	if relay {
		pcCfg.ICETransportPolicy = pion.ICETransportPolicyRelay
		b, _ := json.Marshal(cfgMsg["iceServers"])
		if err := json.Unmarshal(b, &pcCfg.ICEServers); err != nil || len(pcCfg.ICEServers) == 0 {
			t.Fatalf("config message ICE servers %s: %v", b, err)
		}
	}
	me := &pion.MediaEngine{}
	for _, c := range []struct {
		p pion.RTPCodecParameters
		k pion.RTPCodecType
	}{
		{pion.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}}, pion.RTPCodecTypeAudio},
		{pion.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: pion.RTPCodecCapability{MimeType: pion.MimeTypeVP8, ClockRate: 90000,
			RTCPFeedback: []pion.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}}}}, pion.RTPCodecTypeVideo},
	} {
		if err := me.RegisterCodec(c.p, c.k); err != nil {
			t.Fatal(err)
		}
	}
	ir := &interceptor.Registry{}
	if err := pion.RegisterDefaultInterceptors(me, ir); err != nil {
		t.Fatal(err)
	}
	se := pion.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetNetworkTypes([]pion.NetworkType{pion.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	pc, err := pion.NewAPI(pion.WithMediaEngine(me), pion.WithInterceptorRegistry(ir), pion.WithSettingEngine(se)).
		NewPeerConnection(pcCfg)
	if err != nil {
		t.Fatal(err)
	}
	c.pc = pc
	audio, _ := pion.NewTrackLocalStaticSample(pion.RTPCodecCapability{MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "a", "pion")
	vid, _ := pion.NewTrackLocalStaticSample(pion.RTPCodecCapability{MimeType: pion.MimeTypeVP8, ClockRate: 90000}, "v", "pion")
	for _, tr := range []pion.TrackLocal{audio, vid} {
		s, err := pc.AddTrack(tr)
		if err != nil {
			t.Fatal(err)
		}
		c.goRun(func() {
			b := make([]byte, 1500)
			for {
				if _, _, err := s.Read(b); err != nil {
					return
				}
			}
		})
	}
	pc.OnTrack(func(tr *pion.TrackRemote, _ *pion.RTPReceiver) {
		if tr.Kind() == pion.RTPCodecTypeAudio {
			c.goRun(func() { c.readAudio(tr) })
		} else {
			c.goRun(func() { c.readVideo(tr) })
		}
	})
	pc.OnICECandidate(func(cand *pion.ICECandidate) {
		var v any
		if cand != nil {
			v = cand.ToJSON()
		}
		_ = c.send(map[string]any{"type": "candidate", "candidate": v})
	})

	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	if err := c.send(map[string]string{"type": "offer", "sdp": offer.SDP}); err != nil {
		t.Fatal(err)
	}
	var answer string
	for answer == "" {
		m := c.read(t)
		switch m["type"] {
		case "answer":
			answer, _ = m["sdp"].(string)
		case "candidate":
			c.addCandidate(m)
		default:
			t.Fatalf("waiting for the answer: %v", m)
		}
	}
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeAnswer, SDP: answer}); err != nil {
		t.Fatalf("answer: %v\n%s", err, answer)
	}
	c.goRun(func() {
		for {
			b, err := wsutil.ReadServerText(conn)
			if err != nil {
				return
			}
			var m map[string]any
			if json.Unmarshal(b, &m) == nil && m["type"] == "candidate" {
				c.addCandidate(m)
			}
		}
	})
	send(c, audio, vid)
	return c
}

func (c *rtcClient) goRun(f func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

func (c *rtcClient) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.conn == nil {
		return net.ErrClosed
	}
	return wsutil.WriteClientText(c.conn, b)
}

func (c *rtcClient) read(t *testing.T) map[string]any {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := wsutil.ReadServerText(c.conn)
	if err != nil {
		t.Fatalf("media websocket: %v", err)
	}
	_ = c.conn.SetReadDeadline(time.Time{})
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("media websocket sent %q: %v", b, err)
	}
	if m["type"] == "error" {
		t.Fatalf("media websocket refused: %v", m["message"])
	}
	return m
}

func (c *rtcClient) addCandidate(m map[string]any) {
	raw, err := json.Marshal(m["candidate"])
	if err != nil || string(raw) == "null" {
		return
	}
	var ci pion.ICECandidateInit
	if json.Unmarshal(raw, &ci) == nil {
		_ = c.pc.AddICECandidate(ci)
	}
}

func (c *rtcClient) close() {
	c.once.Do(func() {
		close(c.stop)
		c.wmu.Lock()
		if c.conn != nil {
			_ = c.conn.Close()
		}
		c.wmu.Unlock()
		if c.pc != nil {
			_ = c.pc.Close()
		}
		c.wg.Wait()
	})
}

// sendMedia streams a tone and a solid colour (BT.601 studio range, as
// ffmpeg makes the phones' clips) at 20 ms and 15 frames/s.
func (c *rtcClient) sendMedia(t *testing.T, audio, vid *pion.TrackLocalStaticSample, col color.RGBA, freq float64) {
	t.Helper()
	enc, err := codec.Opus.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	venc, err := codec.NewVP8Encoder(codec.VideoEncoderConfig{Width: 640, Height: 360, FPS: 15, Bitrate: 500_000, KeyframeInterval: 15})
	if err != nil {
		_ = enc.Close()
		t.Fatal(err)
	}
	pic := codec.NewFrame(640, 360)
	y, u, v := rgbToStudioYUV(col)
	pic.Fill(y, u, v)
	c.goRun(func() {
		defer enc.Close()
		defer venc.Close()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		out := make([]byte, 1500)
		pcm := make([]int16, 960)
		var n int
		lastVideo := time.Time{}
		for {
			select {
			case <-c.stop:
				return
			case <-tick.C:
			}
			for i := range pcm {
				pcm[i] = int16(8000 * math.Sin(2*math.Pi*freq*float64(n)/48000))
				n++
			}
			if k, err := enc.Encode(pcm, out); err == nil {
				_ = audio.WriteSample(media.Sample{Data: append([]byte(nil), out[:k]...), Duration: 20 * time.Millisecond})
			}
			if time.Since(lastVideo) >= 66*time.Millisecond {
				lastVideo = time.Now()
				if fr, _, err := venc.Encode(pic, false); err == nil && len(fr) > 0 {
					_ = vid.WriteSample(media.Sample{Data: append([]byte(nil), fr...), Duration: 66 * time.Millisecond})
				}
			}
		}
	})
}

func (c *rtcClient) readAudio(tr *pion.TrackRemote) {
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
		n, err := dec.Decode(p.Payload, pcm)
		if err != nil {
			continue
		}
		c.mu.Lock()
		for _, s := range pcm[:n] {
			c.pcm = append(c.pcm, float64(s)/32768)
		}
		if len(c.pcm) > 96000 {
			c.pcm = append(c.pcm[:0], c.pcm[len(c.pcm)-96000:]...)
		}
		c.mu.Unlock()
	}
}

// readVideo depacketizes (RFC 7741) and decodes what the daemon sends,
// keeping a copy of the latest picture.
func (c *rtcClient) readVideo(tr *pion.TrackRemote) {
	dec, err := codec.NewVideoDecoder(codec.VP8)
	if err != nil {
		return
	}
	defer dec.Close()
	d := vmedia.NewVP8Depacketizer(func(f vmedia.VP8Frame) {
		pic, err := dec.Decode(f.Data)
		if err != nil || pic == nil {
			return
		}
		cp := codec.NewFrame(pic.Width, pic.Height)
		if codec.Scale(cp, pic) != nil {
			return
		}
		c.frames.Add(1)
		c.mu.Lock()
		c.frame = cp
		c.mu.Unlock()
	}, vmedia.VP8Limits{})
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		_ = d.Push(p)
	}
}

// picture is the latest received picture as RGB.
func (c *rtcClient) picture() image.Image {
	c.mu.Lock()
	f := c.frame
	c.mu.Unlock()
	if f == nil {
		return image.NewRGBA(image.Rect(0, 0, 0, 0))
	}
	return studioYUVToImage(f)
}

func (c *rtcClient) waitView(t *testing.T, within time.Duration, check viewCheck) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		img := c.picture()
		why := check(img)
		if img.Bounds().Empty() {
			why = "no picture yet"
		}
		if why == "" {
			t.Logf("the client sees %dx%d: %s (%d frames)", img.Bounds().Dx(), img.Bounds().Dy(), describeColours(img), c.frames.Load())
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the WebRTC client does not see what it should after %s: %s (%d frames)", within, why, c.frames.Load())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitHears waits until the last second the client heard has the tone
// hear at least 20 dB above the tone own.
func (c *rtcClient) waitHears(t *testing.T, within time.Duration, hear, own float64) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		c.mu.Lock()
		var x []float64
		if len(c.pcm) >= 48000 {
			x = append(x, c.pcm[len(c.pcm)-48000:]...)
		}
		c.mu.Unlock()
		if x != nil {
			h, o := goertzelLevel(x, 48000, hear), goertzelLevel(x, 48000, own)
			if h > -40 && h-o > 20 {
				t.Logf("the client hears %.0f Hz at %.1f dBFS, its own %.0f Hz at %.1f dBFS", hear, h, own, o)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the client hears %.0f Hz at %.1f dBFS and its own %.0f Hz at %.1f dBFS; want the first above -40 and 20 dB over the second", hear, h, own, o)
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("the client heard less than a second within %s", within)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// rgbToStudioYUV converts with BT.601 in studio range (Y 16-235), as
// ffmpeg's default conversion does.
func rgbToStudioYUV(c color.RGBA) (y, u, v byte) {
	r, g, b := float64(c.R)/255, float64(c.G)/255, float64(c.B)/255
	clamp := func(x float64) byte { return byte(math.Max(0, math.Min(255, math.Round(x)))) }
	return clamp(16 + 65.481*r + 128.553*g + 24.966*b),
		clamp(128 - 37.797*r - 74.203*g + 112*b),
		clamp(128 + 112*r - 93.786*g - 18.214*b)
}

// studioYUVToImage converts an I420 picture in BT.601 studio range to RGB.
func studioYUVToImage(f *codec.Frame) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, f.Width, f.Height))
	clamp := func(x float64) uint8 { return uint8(math.Max(0, math.Min(255, math.Round(x)))) }
	for y := 0; y < f.Height; y++ {
		for x := 0; x < f.Width; x++ {
			Y := 1.164 * (float64(f.Y[y*f.StrideY+x]) - 16)
			U := float64(f.U[(y/2)*f.StrideUV+x/2]) - 128
			V := float64(f.V[(y/2)*f.StrideUV+x/2]) - 128
			i := img.PixOffset(x, y)
			img.Pix[i] = clamp(Y + 1.596*V)
			img.Pix[i+1] = clamp(Y - 0.392*U - 0.813*V)
			img.Pix[i+2] = clamp(Y + 2.017*U)
			img.Pix[i+3] = 255
		}
	}
	return img
}
