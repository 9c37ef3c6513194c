package e2e

import (
	"fmt"
	"image"
	"image/color"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rtpVideoStream is what an SDP file announces to ffmpeg: one video stream
// arriving at 127.0.0.1:Port (and RTCP at Port+1).
type rtpVideoStream struct {
	Port  int
	PT    int
	Codec string // rtpmap encoding name: "H264" or "VP8"
	Fmtp  string // e.g. "packetization-mode=1"; empty for none
}

// sdp renders the session description (RFC 8866).
func (s rtpVideoStream) sdp() string {
	var b strings.Builder
	b.WriteString("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=vmrd e2e\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n")
	fmt.Fprintf(&b, "m=video %d RTP/AVP %d\r\na=rtpmap:%d %s/90000\r\n", s.Port, s.PT, s.PT, s.Codec)
	if s.Fmtp != "" {
		fmt.Fprintf(&b, "a=fmtp:%d %s\r\n", s.PT, s.Fmtp)
	}
	b.WriteString("a=recvonly\r\n")
	return b.String()
}

// writeVideoSDP writes s as an SDP file in dir and returns its path.
func writeVideoSDP(t *testing.T, dir string, s rtpVideoStream) string {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("rx-%d.sdp", s.Port))
	if err := os.WriteFile(path, []byte(s.sdp()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// ffmpegProc is a running ffmpeg with its log in a file.
type ffmpegProc struct {
	name    string
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
	err     error
}

func startFFmpeg(t *testing.T, name, dir string, args ...string) *ffmpegProc {
	t.Helper()
	requireVideoTools(t, "ffmpeg")
	p := &ffmpegProc{name: name, LogPath: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	logf, err := os.Create(p.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command("ffmpeg", append([]string{"-hide_banner", "-nostdin"}, args...)...)
	p.cmd.Dir = dir
	p.cmd.SysProcAttr = orphanGuard()
	p.cmd.Stdout = logf
	p.cmd.Stderr = logf
	if err := p.cmd.Start(); err != nil {
		_ = logf.Close()
		t.Fatalf("start ffmpeg %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		_ = logf.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("ffmpeg %s: %s\nlog:\n%s", name, strings.Join(p.cmd.Args, " "), tailFile(p.LogPath, 40))
		}
	})
	return p
}

func (p *ffmpegProc) kill() {
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Log is ffmpeg's output so far.
func (p *ffmpegProc) Log() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// rtpReceiver is ffmpeg decoding one RTP video stream described by an SDP
// file into PNG frames.
type rtpReceiver struct {
	*ffmpegProc
	Dir string
}

// startRTPReceiver starts ffmpeg on the SDP file of s, decoding the first
// frames video frames to PNG, and returns once ffmpeg has bound s.Port, so
// a sender started afterwards loses nothing. Pick s.Port with
// freePortPair: ffmpeg also binds s.Port+1 for RTCP.
func startRTPReceiver(t *testing.T, s rtpVideoStream, frames int) *rtpReceiver {
	t.Helper()
	dir := t.TempDir()
	sdp := writeVideoSDP(t, dir, s)
	r := &rtpReceiver{Dir: dir}
	r.ffmpegProc = startFFmpeg(t, fmt.Sprintf("rx-%d", s.Port), dir,
		"-loglevel", "info", "-protocol_whitelist", "file,udp,rtp",
		"-i", sdp, "-frames:v", strconv.Itoa(frames), "-y", filepath.Join(dir, "frame%03d.png"))
	deadline := time.Now().Add(5 * time.Second)
	for !udpPortBound(s.Port) {
		select {
		case <-r.done:
			t.Fatalf("ffmpeg receiver exited (%v) before binding port %d:\n%s", r.err, s.Port, r.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ffmpeg receiver did not bind UDP port %d within 5s", s.Port)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r
}

// udpPortBound reports whether some socket of this machine is bound to UDP
// port, from /proc/net/udp; unlike a trial bind it cannot steal the port
// from the process being waited for.
func udpPortBound(port int) bool {
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return false
	}
	want := fmt.Sprintf(":%04X ", port)
	for _, l := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(l)
		if len(f) > 1 && strings.HasSuffix(f[1]+" ", want) {
			return true
		}
	}
	return false
}

// frames waits for ffmpeg to decode its frames and returns them in order.
func (r *rtpReceiver) frames(t *testing.T, within time.Duration) []image.Image {
	t.Helper()
	select {
	case <-r.done:
		if r.err != nil {
			t.Fatalf("ffmpeg receiver failed: %v\n%s", r.err, tailFile(r.LogPath, 30))
		}
	case <-time.After(within):
		r.kill()
		files, _ := filepath.Glob(filepath.Join(r.Dir, "frame*.png"))
		t.Fatalf("ffmpeg receiver decoded %d frames in %v, not all it was asked for", len(files), within)
	}
	files, _ := filepath.Glob(filepath.Join(r.Dir, "frame*.png"))
	if len(files) == 0 {
		t.Fatalf("ffmpeg receiver: %v", errNoFrames)
	}
	out := make([]image.Image, 0, len(files))
	for _, f := range files { // Glob sorts, and the names are zero padded
		img, err := readPNG(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, img)
	}
	return out
}

var ffmpegInputStreamRe = regexp.MustCompile(`Input #0[\s\S]*?Stream #0:0: Video: ([^,\r\n]+)`)

// streamInfo is ffmpeg's description of the received stream's codec, e.g.
// "h264 (High)" or "vp8".
func (r *rtpReceiver) streamInfo() string {
	if m := ffmpegInputStreamRe.FindStringSubmatch(r.Log()); m != nil {
		return strings.TrimSpace(m[1])
	}
	return ""
}

// rtpSenderOpts configures an ffmpeg that sends a solid colour as RTP.
type rtpSenderOpts struct {
	Addr string // "127.0.0.1:PORT"; RTCP goes to PORT+1
	// Codec is "H264" (libx264) or "VP8" (libvpx).
	Codec string
	// Profile is the H.264 profile, e.g. "high" or "baseline"; zero means
	// "high".
	Profile string
	PT      int // zero means 96
	Colour  color.RGBA
	// Width, Height and FPS: zero means 640x360 at 30.
	Width, Height, FPS int
	// Seconds the sender runs; zero means 20. Cleanup stops it earlier.
	Seconds int
}

// startRTPSender starts ffmpeg sending a solid colour, in real time, as RTP
// to o.Addr. H.264 repeats SPS and PPS before every keyframe (libx264's
// default when no global header is asked for), one per half second, so a
// receiver joining late starts within half a second.
func startRTPSender(t *testing.T, o rtpSenderOpts) *ffmpegProc {
	t.Helper()
	if o.PT == 0 {
		o.PT = 96
	}
	if o.Width == 0 {
		o.Width, o.Height = 640, 360
	}
	if o.FPS == 0 {
		o.FPS = 30
	}
	if o.Seconds == 0 {
		o.Seconds = 20
	}
	if o.Profile == "" {
		o.Profile = "high"
	}
	gop := strconv.Itoa(max(o.FPS/2, 1))
	args := []string{"-loglevel", "warning", "-re",
		"-f", "lavfi", "-i", fmt.Sprintf("color=c=%s:s=%dx%d:r=%d", hexColour(o.Colour), o.Width, o.Height, o.FPS),
		"-t", strconv.Itoa(o.Seconds), "-pix_fmt", "yuv420p"}
	switch strings.ToUpper(o.Codec) {
	case "H264":
		// Not -preset ultrafast: it turns off CABAC and 8x8 transforms,
		// and x264 then signals Constrained Baseline whatever -profile says.
		args = append(args, "-c:v", "libx264", "-profile:v", o.Profile, "-preset", "veryfast", "-tune", "zerolatency", "-g", gop)
	case "VP8":
		args = append(args, "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "500k", "-g", gop)
	default:
		t.Fatalf("startRTPSender: codec %q is not H264 or VP8", o.Codec)
	}
	args = append(args, "-payload_type", strconv.Itoa(o.PT), "-f", "rtp", "rtp://"+o.Addr)
	return startFFmpeg(t, "tx-"+strings.ReplaceAll(o.Addr, ":", "-"), t.TempDir(), args...)
}
