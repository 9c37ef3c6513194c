//go:build bench

package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pion "github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"

	"vmrd/internal/codec"
)

// WebRTC figures for `make bench`: what a WebRTC leg costs the daemon next
// to a SIP leg carrying the same media, and how long a browser takes from
// opening the page to showing the meeting.

// legCostLegs is how many legs of one kind share the room in a run.
const legCostLegs = 4

// legClipKbps is the bitrate of the WebRTC clients' VP8 clips: baresip's
// default video_bitrate, so both kinds of leg bring the daemon about the
// same amount of VP8 to decode. The SIP run reads the phones' real rate
// from their logs and reports it next to this.
const legClipKbps = 500

// baresipVideoRateRe is "Set video encoder: VP8 (500000 bit/s, 30.00 fps)".
var baresipVideoRateRe = regexp.MustCompile(`Set video encoder: \S+[^(\r\n]*\((\d+) bit/s`)

// legCost is one run of TestBenchWebRTCLegCost.
type legCost struct {
	kind      string
	idleCPU   float64 // the daemon's share of one core with the room empty
	idleRSS   int64   // bytes
	cpu       float64 // with the legs
	encode    float64 // of which inside the video encoders (wall time share)
	rss       int64
	peers     float64 // the endpoints' CPU together (phones, or the test process with the pion clients)
	fps       float64 // composed frames encoded a second, all groups
	lateTicks float64
	keyframes float64 // keyframes encoded a second, all groups
	rxW, rxH  int
	inKbps    float64 // video each leg sends, kbit/s
	elapsed   time.Duration
	load      string
}

func (r legCost) perLeg() float64    { return (r.cpu - r.idleCPU) / legCostLegs }
func (r legCost) rssPerLeg() float64 { return float64(r.rss-r.idleRSS) / legCostLegs }

// TestBenchWebRTCLegCost: the daemon's cost of a WebRTC leg against a SIP
// leg carrying the same media. Two runs of the real daemon, each with a
// 4:0 room of legCostLegs legs of one kind: baresip video phones over SIP
// (plain RTP), then pion clients over WebRTC (ICE, DTLS-SRTP, pion's
// interceptors). Every leg sends Opus (silence, so voice activity does not
// reorder the layout) and a moving VP8 640x360 picture at 30 fps, and
// receives its own composed 1280x720 VP8 view at 30 fps. The daemon's CPU
// (utime+stime from /proc) over ten seconds, once every leg receives video
// and after a warm-up, minus its CPU with the room empty, divided by the
// number of legs, is the cost of one leg; RSS likewise.
//
// What differs between the two kinds, and so what the ratio measures:
//   - transport: DTLS-SRTP (AES-128-CM-HMAC-SHA1-80 or AEAD-AES-128-GCM, what
//     pion negotiates) on every packet each way, against plain RTP; ICE
//     consent checks (STUN) every few seconds;
//   - pion's stack: its interceptor chain per packet (NACK generator and
//     responder, RTCP reports), its track read/write path and the Go-side
//     RTP packetization of the composed VP8, against the media package's
//     own sessions;
//   - the inbound VP8: the phones encode their clip live with libvpx at
//     their own rate, the clients send a clip pre-encoded at legClipKbps;
//     the measured rates are in the table.
//
// Both runs decode four 640x360 inputs and compose and encode four
// 1280x720 views, which dominates the total; the difference between the
// runs is the transport's. (The encoders' time is shown for context only:
// it is wall time, which preemption inflates, so it cannot be subtracted
// from CPU time.)
// The test fails only when the setup breaks, never on speed.
func TestBenchWebRTCLegCost(t *testing.T) {
	requireVideoTools(t, "baresip", "ffmpeg")
	hz := clockTicks(t)
	clipDir := t.TempDir()
	const phoneSeconds = 120
	var webm, ivf []string
	for i := range legCostLegs {
		webm = append(webm, makeMovingVideo(t, clipDir, i%len(movingSources), phoneSeconds+10, ".webm"))
		ivf = append(ivf, makeMovingIVF(t, clipDir, i%len(movingSources)))
	}
	var results []legCost
	for _, kind := range []string{"SIP", "WebRTC"} {
		t.Run(kind, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.Log.Level = "info" // debug logging is not what production pays for
			cfg.Video.Layout = "4:0"
			cfg.Video.Resolution = "1280x720"
			cfg.Video.FPS = 30
			cfg.Video.Codecs = []string{"VP8"}
			cfg.Rooms = []RoomConfig{{Number: "1001", Name: "Test room", Layout: "4:0"}}
			d := startDaemon(t, cfg)
			pid := d.cmd.Process.Pid
			r := legCost{kind: kind}

			// The daemon at rest, for the baseline.
			time.Sleep(time.Second)
			c0, s0 := procCPU(t, pid, hz), time.Now()
			time.Sleep(3 * time.Second)
			r.idleCPU = (procCPU(t, pid, hz) - c0).Seconds() / time.Since(s0).Seconds()
			r.idleRSS = procRSS(t, pid)

			// peerPIDs are the endpoints' processes; alive says whether
			// every leg is still up; received returns each leg's count of
			// received pictures (nil for the phones, whose log says it).
			var peerPIDs []int
			var alive func() error
			var received func() []int64
			switch kind {
			case "SIP":
				var phones []*videoPhone
				for i := range legCostLegs {
					phones = append(phones, startVideoPhone(t, videoPhoneOpts{
						Name: fmt.Sprintf("phone%d", i), Video: webm[i], VideoCodecs: "VP8", AudioCodecs: "opus/48000/2",
						Silent: true, Seconds: phoneSeconds, Dial: "sip:1001@" + d.SIPAddr,
					}))
					// One at a time: the views follow the join order.
					d.waitLogCount(t, videoStartedRe, i+1, 15*time.Second)
				}
				d.waitMetric(t, "vmrd_video_encoders_active", 10*time.Second, fmt.Sprintf("%d encoder groups", legCostLegs),
					func(v float64) bool { return v == legCostLegs })
				var rate float64
				for _, p := range phones {
					m := p.waitLog(t, videoRxRe, 20*time.Second)
					r.rxW, _ = strconv.Atoi(m[1])
					r.rxH, _ = strconv.Atoi(m[2])
					log := p.Log()
					if enc, dec := p.videoCodecs(); !strings.HasPrefix(enc, "VP8") || !strings.HasPrefix(dec, "VP8") {
						t.Fatalf("%s uses video encoder %q and decoder %q, want VP8", p.opts.Name, enc, dec)
					}
					if m := txCodecRe.FindStringSubmatch(log); m == nil || !strings.EqualFold(m[1], "opus") {
						t.Fatalf("%s does not send Opus: %v", p.opts.Name, m)
					}
					if m := baresipVideoRateRe.FindStringSubmatch(log); m != nil {
						v, _ := strconv.ParseFloat(m[1], 64)
						rate += v / 1000 / legCostLegs
					}
					waitLegView(t, p.opts.Name, 20*time.Second, func() image.Image { return p.snapshot(t) })
					peerPIDs = append(peerPIDs, p.cmd.Process.Pid)
				}
				r.inKbps = rate
				alive = func() error {
					for _, p := range phones {
						select {
						case <-p.done:
							return fmt.Errorf("%s exited: %v", p.opts.Name, p.err)
						default:
						}
					}
					return nil
				}
				defer func() {
					for _, p := range phones {
						p.hangup()
					}
					for _, p := range phones {
						p.wait(t, 15*time.Second)
					}
				}()
			case "WebRTC":
				var clients []*benchRTCClient
				for i := range legCostLegs {
					tok := d.token(t, "1001", "", fmt.Sprintf("pion%d", i), "GUEST")
					clients = append(clients, startBenchRTCClient(t, d, "1001", tok.Token, ivf[i]))
					d.waitMetric(t, "vmrd_webrtc_legs_active", 15*time.Second, fmt.Sprintf("%d WebRTC legs", i+1),
						func(v float64) bool { return v == float64(i+1) })
				}
				d.waitMetric(t, "vmrd_video_encoders_active", 10*time.Second, fmt.Sprintf("%d encoder groups", legCostLegs),
					func(v float64) bool { return v == legCostLegs })
				for i, c := range clients {
					waitClientFrames(t, c, 1, 20*time.Second)
					waitLegView(t, fmt.Sprintf("client %d", i), 20*time.Second, c.picture)
				}
				peerPIDs = []int{os.Getpid()} // the clients live in the test process
				received = func() []int64 {
					var n []int64
					for _, c := range clients {
						n = append(n, c.frames.Load())
					}
					return n
				}
				alive = func() error {
					for i, c := range clients {
						if s := c.pc.ConnectionState(); s != pion.PeerConnectionStateConnected {
							return fmt.Errorf("client %d is %s", i, s)
						}
					}
					return nil
				}
				defer func() {
					for _, c := range clients {
						c.close()
					}
				}()
				// The clients' send rate, measured over the warm-up.
				sent := func() (n int64) {
					for _, c := range clients {
						n += c.videoBytes.Load()
					}
					return n
				}
				sent0, rateStart := sent(), time.Now()
				time.Sleep(3 * time.Second)
				r.inKbps = float64(sent()-sent0) * 8 / 1000 / time.Since(rateStart).Seconds() / legCostLegs
				for _, c := range clients {
					c.mu.Lock()
					if f := c.frame; f != nil {
						r.rxW, r.rxH = f.Width, f.Height
					}
					c.mu.Unlock()
				}
			}
			// Let the encoders' rate control and the receivers' jitter
			// buffers settle: a warm-up before measuring, not a wait for a
			// condition (the WebRTC run spent it measuring its send rate).
			if kind == "SIP" {
				time.Sleep(3 * time.Second)
			}

			var rx0 []int64
			if received != nil {
				rx0 = received()
			}
			frames0, enc0 := d.metric(t, "vmrd_video_frames_encoded_total"), d.metric(t, "vmrd_video_encode_seconds_total")
			late0 := d.metric(t, "vmrd_video_late_ticks_total")
			kf0 := d.metric(t, "vmrd_video_keyframes_total")
			cpu0 := procCPU(t, pid, hz)
			peer0 := make([]time.Duration, len(peerPIDs))
			for i, p := range peerPIDs {
				peer0[i] = procCPU(t, p, hz)
			}
			start := time.Now()
			time.Sleep(10 * time.Second)
			cpu1 := procCPU(t, pid, hz)
			var peers time.Duration
			for i, p := range peerPIDs {
				peers += procCPU(t, p, hz) - peer0[i]
			}
			r.elapsed = time.Since(start)
			r.rss = procRSS(t, pid)
			frames1, enc1 := d.metric(t, "vmrd_video_frames_encoded_total"), d.metric(t, "vmrd_video_encode_seconds_total")
			r.lateTicks = d.metric(t, "vmrd_video_late_ticks_total") - late0
			kf1 := d.metric(t, "vmrd_video_keyframes_total")
			r.load = loadAverage()
			if err := alive(); err != nil {
				t.Fatalf("a leg ended during the measurement: %v", err)
			}
			if !d.running() {
				t.Fatal("vmrd exited during the measurement")
			}
			sec := r.elapsed.Seconds()
			r.cpu = (cpu1 - cpu0).Seconds() / sec
			r.encode = (enc1 - enc0) / sec
			r.peers = peers.Seconds() / sec
			r.fps = (frames1 - frames0) / sec
			r.keyframes = (kf1 - kf0) / sec
			if r.fps < legCostLegs*5 {
				t.Fatalf("the room encoded %.1f frames a second over %d groups: it is not running", r.fps, legCostLegs)
			}
			if received != nil {
				for i, n := range received() {
					if got := float64(n-rx0[i]) / sec; got < 5 {
						t.Fatalf("client %d decoded %.1f frames a second during the measurement: its view is not arriving", i, got)
					}
				}
			}
			if r.rxW == 0 {
				t.Fatal("no leg reported the size of the picture it receives")
			}
			results = append(results, r)
		})
	}
	if len(results) == 0 {
		return
	}
	mib := func(b float64) float64 { return b / (1 << 20) }
	var b strings.Builder
	fmt.Fprintf(&b, "\nleg cost: 4:0 room, %d legs of one kind per run, each sending Opus + VP8 640x360@30 and receiving its own VP8 1280x720@30 view\n", legCostLegs)
	fmt.Fprintf(&b, "(CPU as a share of one core, utime+stime over %.0f s; per leg = (vmrd - vmrd idle) / %d; RSS in MiB)\n",
		results[0].elapsed.Seconds(), legCostLegs)
	fmt.Fprintf(&b, "%-6s | %-7s | %-7s | %-7s | %-8s | %-8s | %-8s | %-8s | %-8s | %s\n",
		"kind", "idle", "vmrd", "enc.", "per leg", "RSS idle", "RSS", "RSS/leg", "peers", "fps out, keyframes/s, late ticks, rx size, in kbit/s a leg, load")
	for _, r := range results {
		fmt.Fprintf(&b, "%-6s | %5.1f %% | %5.1f %% | %5.1f %% | %6.2f %% | %8.1f | %8.1f | %8.2f | %6.1f %% | %.1f, %.1f, %.0f, %dx%d, %.0f, load %s\n",
			r.kind, 100*r.idleCPU, 100*r.cpu, 100*r.encode, 100*r.perLeg(),
			mib(float64(r.idleRSS)), mib(float64(r.rss)), mib(r.rssPerLeg()), 100*r.peers, r.fps, r.keyframes, r.lateTicks, r.rxW, r.rxH, r.inKbps, r.load)
	}
	b.WriteString("enc.: wall time inside the daemon's encoders (CPU time when nothing preempts them); peers: the four phones' CPU (SIP: each encodes its clip live\n")
	b.WriteString("and decodes its view) or the test process with the four pion clients (WebRTC: each sends a pre-encoded clip and decodes its view)\n")
	t.Log(b.String())
	for _, r := range results {
		t.Logf("RESULT webrtc leg cost %s: %.2f %% of one core a leg, %.2f MiB RSS a leg; vmrd %.1f %% with %d legs, %.1f %% idle, %.1f MiB RSS",
			r.kind, 100*r.perLeg(), mib(r.rssPerLeg()), 100*r.cpu, legCostLegs, 100*r.idleCPU, mib(float64(r.rss)))
	}
	if len(results) == 2 {
		s, w := results[0], results[1]
		t.Logf("RESULT webrtc leg cost ratio WebRTC/SIP: CPU %.2f, RSS %.2f; extra CPU a WebRTC leg %.2f %% of one core",
			w.perLeg()/s.perLeg(), w.rssPerLeg()/s.rssPerLeg(), 100*(w.perLeg()-s.perLeg()))
	}
}

// waitLegView takes pictures until the first three cells of a 4:0 view
// (the other legs, in join order) show pictures, not black: every leg's
// video reaches the compositor and the view reaches the leg.
func waitLegView(t *testing.T, who string, within time.Duration, picture func() image.Image) {
	t.Helper()
	black := color.RGBA{A: 0xff}
	deadline := time.Now().Add(within)
	for {
		img := picture()
		why := ""
		if img.Bounds().Empty() {
			why = "no picture"
		}
		for q := 0; q < 3 && why == ""; q++ {
			x0, y0 := float64(q%2)/2, float64(q/2)/2
			dark := 0
			for j := range 8 {
				for i := range 8 {
					if colourNear(sampleCell(img, x0+(float64(i)+0.5)/16, y0+(float64(j)+0.5)/16), black, colourTol) {
						dark++
					}
				}
			}
			if dark > 48 {
				why = fmt.Sprintf("cell %d is %d/64 black", q, dark)
			}
		}
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not see the other legs after %v: %s (%s)", who, within, why, describeColours(img))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// procRSS is a process's resident set, from /proc/PID/status (VmRSS).
func procRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read status of process %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v) // "123456 kB"
			if len(f) == 2 && f[1] == "kB" {
				if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return kb << 10
				}
			}
		}
	}
	t.Fatalf("no VmRSS in /proc/%d/status", pid)
	return 0
}

// makeMovingIVF writes moving source i as ten seconds of VP8 640x360 at
// 30 fps in an IVF file, at legClipKbps with a keyframe every second (a
// pre-encoded clip cannot answer a PLI: the next keyframe does).
func makeMovingIVF(t *testing.T, dir string, i int) string {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("moving%d.ivf", i))
	kbps := strconv.Itoa(legClipKbps) + "k"
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", movingSources[i],
		"-t", "10", "-pix_fmt", "yuv420p", "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "-8",
		"-b:v", kbps, "-minrate", kbps, "-maxrate", kbps, "-bufsize", kbps, "-g", "30", "-keyint_min", "30", "-f", "ivf", path}
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return path
}

// readIVF returns the VP8 frames of an IVF file.
func readIVF(t *testing.T, path string) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := ivfreader.NewWith(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var frames [][]byte
	for {
		f, _, err := r.ParseNextFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		frames = append(frames, f)
	}
	if len(frames) == 0 {
		t.Fatalf("%s holds no frames", path)
	}
	return frames
}

// benchRTCClient is webrtc_test.go's rtcClient sending other media: a
// moving picture at 30 fps from a clip, where startRTCClient sends a solid
// colour at 15 fps with its own encoder.
type benchRTCClient struct {
	*rtcClient
	videoBytes atomic.Int64 // VP8 payload sent
}

// startBenchRTCClient joins room number with token over the media
// WebSocket and sends the IVF clip (looped) at 30 fps and Opus silence.
func startBenchRTCClient(t *testing.T, d *daemon, number, token, clip string) *benchRTCClient {
	t.Helper()
	frames := readIVF(t, clip)
	c := &benchRTCClient{}
	c.rtcClient = startRTCClientWith(t, d, number, token, false, func(rc *rtcClient, audio, vid *pion.TrackLocalStaticSample) {
		sendClip(t, rc, audio, vid, frames, &c.videoBytes)
	})
	return c
}

// sendClip streams the clip's frames at 30 fps, from the first again at
// the end (the clip starts with a keyframe), and Opus-encoded silence every
// 20 ms, as the phones do in the SIP run.
func sendClip(t *testing.T, c *rtcClient, audio, vid *pion.TrackLocalStaticSample, frames [][]byte, sent *atomic.Int64) {
	t.Helper()
	enc, err := codec.Opus.NewEncoder()
	if err != nil {
		t.Fatal(err)
	}
	c.goRun(func() {
		defer enc.Close()
		atick := time.NewTicker(20 * time.Millisecond)
		defer atick.Stop()
		vtick := time.NewTicker(time.Second / 30)
		defer vtick.Stop()
		out := make([]byte, 1500)
		pcm := make([]int16, 960)
		next := 0
		for {
			select {
			case <-c.stop:
				return
			case <-atick.C:
				if k, err := enc.Encode(pcm, out); err == nil {
					_ = audio.WriteSample(media.Sample{Data: slices.Clone(out[:k]), Duration: 20 * time.Millisecond})
				}
			case <-vtick.C:
				f := frames[next]
				next = (next + 1) % len(frames)
				if vid.WriteSample(media.Sample{Data: f, Duration: time.Second / 30}) == nil {
					sent.Add(int64(len(f)))
				}
			}
		}
	})
}

// waitClientFrames polls until the client has decoded n pictures.
func waitClientFrames(t *testing.T, c *benchRTCClient, n int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for c.frames.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("the WebRTC client decoded %d pictures within %v, want %d (connection %s)", c.frames.Load(), within, n, c.pc.ConnectionState())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// firstFrame is one browser's way into the meeting, each time from the
// moment the test asks the page to load.
type firstFrame struct {
	load    time.Duration // the page's load event
	joined  time.Duration // the join form filled, sent and answered (phase "in")
	decoded time.Duration // the video element's first decoded frame
	colour  time.Duration // a frame showing the phone's colour read back
	poll    time.Duration // how long that last read took: the colour's resolution
	reads   int           // frames read back until one showed the colour
	w, h    int
}

// TestBenchPageToFirstFrame: how long a browser takes from opening vmrd's
// page to showing the meeting, on loopback. A baresip phone sends red into
// a 1:0 room; a fresh headless Chromium each time (new profile, empty
// cache) opens the page, fills the join form and presses Join as the
// driver does, then the test polls the page's state (cheap: the video
// element's decoded-frame count) until a frame is decoded and reads frames
// back until one is mostly the phone's red. The time from sending the
// navigation to the first such frame is the figure (target 2 s); the
// form-filling is automated, so it is milliseconds, not a person typing.
// Times are taken on the Go side around driver commands; the last step is
// as fine as one frame read (given as "poll").
// The test fails only when the setup breaks, never on speed.
func TestBenchPageToFirstFrame(t *testing.T) {
	requireVideoTools(t, "baresip", "ffmpeg")
	node := requireBrowser(t)
	const runs = 5
	cfg := defaultConfig()
	cfg.Log.Level = "info"
	cfg.Rooms = []RoomConfig{{Number: "1001", Name: "Test room", Layout: "1:0"}}
	d := startDaemon(t, cfg)
	page := pageURL(t, d)
	mediaDir, out := t.TempDir(), testOutputDir(t)

	ph := startVideoPhone(t, videoPhoneOpts{Name: "phone", Video: makeColourVideo(t, mediaDir, "phone", colourRed, 640, 360, 30, 300),
		VideoCodecs: "VP8", Silent: true, Seconds: 300, Dial: "sip:1001@" + d.SIPAddr})
	d.waitLogCount(t, videoStartedRe, 1, 15*time.Second)
	d.waitMetric(t, "vmrd_video_frames_decoded_total", 15*time.Second, "the phone's pictures decoded", func(v float64) bool { return v > 0 })

	var results []firstFrame
	for i := range runs {
		t.Run(fmt.Sprintf("run%d", i+1), func(t *testing.T) {
			b := startBrowser(t, node, out, mediaDir, browserOpts{Name: fmt.Sprintf("b%d", i+1), Colour: colourGreen, Freq: 550})
			results = append(results, measureFirstFrame(t, b, page))
		})
		// The browser closed with its subtest: its leg must be gone before
		// the next one comes, so every run meets the same room.
		d.waitMetric(t, "vmrd_webrtc_legs_active", 15*time.Second, "no WebRTC legs", func(v float64) bool { return v == 0 })
		select {
		case <-ph.done:
			t.Fatalf("the phone exited: %v", ph.err)
		default:
		}
	}
	if len(results) == 0 {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\npage to first frame: fresh headless Chromium, 1:0 room with one baresip phone sending red, loopback; ms from sending the navigation\n")
	fmt.Fprintf(&b, "%-4s | %-6s | %-6s | %-13s | %-12s | %-4s | %-5s | %s\n", "run", "load", "joined", "first decoded", "first colour", "poll", "reads", "picture")
	for i, r := range results {
		fmt.Fprintf(&b, "%-4d | %6d | %6d | %13d | %12d | %4d | %5d | %dx%d\n", i+1, r.load.Milliseconds(), r.joined.Milliseconds(),
			r.decoded.Milliseconds(), r.colour.Milliseconds(), r.poll.Milliseconds(), r.reads, r.w, r.h)
	}
	t.Log(b.String())
	stats := func(f func(firstFrame) time.Duration) (lo, med, hi time.Duration) {
		var v []time.Duration
		for _, r := range results {
			v = append(v, f(r))
		}
		slices.Sort(v)
		return v[0], v[len(v)/2], v[len(v)-1]
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }
	lo, med, hi := stats(func(r firstFrame) time.Duration { return r.colour })
	t.Logf("RESULT page to first frame (the phone's colour read back), %d runs: min %s, median %s, max %s (target 2000 ms)", len(results), ms(lo), ms(med), ms(hi))
	lo, med, hi = stats(func(r firstFrame) time.Duration { return r.decoded })
	t.Logf("RESULT page to first decoded frame, %d runs: min %s, median %s, max %s", len(results), ms(lo), ms(med), ms(hi))
	lo, med, hi = stats(func(r firstFrame) time.Duration { return r.joined - r.load })
	t.Logf("RESULT page join (form to phase in), %d runs: min %s, median %s, max %s", len(results), ms(lo), ms(med), ms(hi))
}

// measureFirstFrame opens the page in b, joins room 1001 and times the way
// to the first frame showing the phone's red.
func measureFirstFrame(t *testing.T, b *browser, page string) firstFrame {
	t.Helper()
	var r firstFrame
	start := time.Now()
	b.call(t, "goto", map[string]string{"url": page}, 20*time.Second, nil)
	r.load = time.Since(start)
	var s pageState
	b.call(t, "join", map[string]string{"room": "1001", "name": b.opts.Name, "pin": "", "lang": ""}, 30*time.Second, &s)
	r.joined = time.Since(start)
	if s.Phase != "in" {
		t.Fatalf("phase %q after joining an open room, want in (error %q)", s.Phase, s.Error)
	}
	deadline := start.Add(30 * time.Second)
	for {
		s = b.state(t)
		if s.Media.FramesDecoded > 0 && s.Media.VideoWidth > 0 {
			r.decoded = time.Since(start)
			break
		}
		if time.Now().After(deadline) {
			b.screenshot(t, "timeout")
			t.Fatalf("no decoded video 30 s after opening the page: media %+v", s.Media)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for {
		before := time.Now()
		img := b.frame(t)
		r.reads++
		if img != nil && redShare(img) >= 0.5 {
			r.colour = time.Since(start)
			r.poll = time.Since(before)
			r.w, r.h = img.Bounds().Dx(), img.Bounds().Dy()
			return r
		}
		if time.Now().After(deadline) {
			b.screenshot(t, "timeout")
			what := "no picture"
			if img != nil {
				what = describeColours(img)
			}
			t.Fatalf("no frame shows the phone's red 30 s after opening the page: %s", what)
		}
	}
}

// redShare is the share of a 16 x 16 grid of img near the phone's red.
func redShare(img image.Image) float64 {
	return float64(len(findColour(img, colourRed, colourTol, 16))) / 256
}
