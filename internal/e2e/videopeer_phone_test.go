package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"image"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// videoPhoneOpts configures one baresip video phone.
type videoPhoneOpts struct {
	Name string
	// Video is the clip sent as the camera, e.g. from makeColourVideo.
	Video string
	// Width, Height and FPS are baresip's video_size and video_fps; zero
	// means 640x360 at 30. Make the clip the same size.
	Width, Height, FPS int
	// VideoCodecs is the account's video_codecs, e.g. "VP8" or "H264" (which
	// is always H.264 packetization mode 0, see the traps in
	// videopeer_test.go); empty offers VP8, H.264 mode 0 and 1, H.263,
	// MP4V-ES and H.265 in that order.
	VideoCodecs string
	// AudioCodecs is the account's audio_codecs, e.g. "opus/48000/2";
	// empty offers all.
	AudioCodecs string
	// Freq is the ausine tone sent as audio, Hz; zero means 440.
	Freq int
	// Silent sends silence instead of a tone, so that voice activity does
	// not reorder the layout (cells then follow the join order).
	Silent bool
	// Dial is the SIP URI dialed at start; empty waits for calls.
	Dial       string
	AutoAnswer bool
	// Seconds makes baresip quit after this long at the latest; zero
	// means 30.
	Seconds int
	// Verbose runs baresip with -v (it then logs e.g. avformat rewinds).
	Verbose bool
}

// videoPhone is a running baresip that sends a clip and lets the test read
// the picture it receives.
type videoPhone struct {
	*baresipProc
	opts     videoPhoneOpts
	CtrlPort int

	snaps atomic.Int32
}

// videoStatusLine is baresip's once-a-tick status line with video, noise in
// logs.
var videoStatusLine = regexp.MustCompile(`\[\d+:\d\d:\d\d\] audio=\d+/\d+ (?:video=\d+/\d+ )?\(bit/s\)(?: efps=[\d.]+/[\d.]+)?[ \t]*`)

var (
	// videoRxRe matches once the phone decodes the first received frame.
	videoRxRe = regexp.MustCompile(`video: receiving with resolution (\d+) x (\d+)`)
	// "Set video encoder: H264 packetization-mode=1 (500000 bit/s, 30.00 fps)"
	// and "Set video decoder: VP8 ".
	videoEncRe = regexp.MustCompile(`Set video encoder: ([^(\r\n]*)`)
	videoDecRe = regexp.MustCompile(`Set video decoder: ([^\r\n]*)`)
)

// startVideoPhone writes a config folder in a new temp dir and starts
// baresip with ctrl_tcp (for snapshots) and snapshot.so. Cleanup kills it if
// it still runs and prints its log when the test failed.
func startVideoPhone(t *testing.T, o videoPhoneOpts) *videoPhone {
	t.Helper()
	requireVideoTools(t, "baresip")
	for _, m := range []string{"avformat.so", "avcodec.so", "snapshot.so", "ctrl_tcp.so"} {
		if _, err := os.Stat(filepath.Join("/usr/lib/baresip/modules", m)); err != nil {
			t.Skipf("baresip module %s is missing (apt-get install -y --no-install-recommends baresip-ffmpeg)", m)
		}
	}
	if o.Video == "" {
		t.Fatal("startVideoPhone: opts.Video is empty (use makeColourVideo)")
	}
	if o.Width == 0 {
		o.Width, o.Height = 640, 360
	}
	if o.FPS == 0 {
		o.FPS = 30
	}
	if o.Freq == 0 {
		o.Freq = 440
	}
	if o.Seconds == 0 {
		o.Seconds = 30
	}
	p := &videoPhone{opts: o}
	dir := t.TempDir()
	audioSource := fmt.Sprintf("ausine,%d", o.Freq)
	if o.Silent {
		audioSource = "aufile," + makeSilence(t, dir, o.Seconds)
	}
	p.CtrlPort = freePort(t)
	rtpPorts := nextPhoneRTPRange()
	files := func(sipPort int) map[string]string {
		conf := fmt.Sprintf(`poll_method epoll
sip_listen 127.0.0.1:%d
net_interface 127.0.0.1
rtp_ports %s
audio_source %s
audio_player aufile,/dev/null
audio_alert aufile,/dev/null
ausrc_srate 48000
auplay_srate 48000
ausrc_channels 2
auplay_channels 2
video_source avformat,%s
video_display fakevideo,nil
video_size %dx%d
video_fps %d.00
ctrl_tcp_listen 127.0.0.1:%d
module_path /usr/lib/baresip/modules
module g711.so
module g722.so
module opus.so
module vp8.so
module avcodec.so
module avformat.so
module ausine.so
module aufile.so
module fakevideo.so
module snapshot.so
module ctrl_tcp.so
module_app account.so
module_app menu.so
`, sipPort, rtpPorts, audioSource, o.Video, o.Width, o.Height, o.FPS, p.CtrlPort)
		return map[string]string{"config": conf, "accounts": baresipAccount(o.AutoAnswer,
			[2]string{"audio_codecs", o.AudioCodecs}, [2]string{"video_codecs", o.VideoCodecs})}
	}
	args := baresipArgs(o.Seconds, o.Dial)
	if o.Verbose {
		args = append(args, "-v")
	}
	p.baresipProc = launchBaresip(t, o.Name, dir, args, files, p.Log)
	return p
}

// makeSilence writes a WAV of silence (48 kHz stereo, as the phones' audio
// source runs) lasting the phone's whole run.
func makeSilence(t *testing.T, dir string, seconds int) string {
	t.Helper()
	path := filepath.Join(dir, "silence.wav")
	out, err := exec.Command("ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo",
		"-t", strconv.Itoa(seconds+5), "-c:a", "pcm_s16le", path).CombinedOutput()
	if err != nil {
		t.Fatalf("make silence: %v: %s", err, out)
	}
	return path
}

// sendDTMF keys digits as RFC 4733 events (ctrl_tcp's sndcode).
func (p *videoPhone) sendDTMF(t *testing.T, digits string) {
	t.Helper()
	p.command(t, "sndcode", digits)
}

// URI is the address to dial this phone at.
func (p *videoPhone) URI() string { return fmt.Sprintf("sip:tester@127.0.0.1:%d", p.SIPPort) }

// Log is the phone's log so far without the status-line noise.
func (p *videoPhone) Log() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return err.Error()
	}
	return videoStatusLine.ReplaceAllString(string(b), "")
}

// waitLog polls the phone's log until it matches re.
func (p *videoPhone) waitLog(t *testing.T, re *regexp.Regexp, within time.Duration) []string {
	t.Helper()
	return waitProcessLog(t, p.opts.Name, p.Log, p.done, func() error { return p.err }, re, within)
}

// command sends one ctrl_tcp command and fails the test unless baresip
// answers ok. ctrl_tcp may not listen yet right after start, so connecting
// is retried for a few seconds.
func (p *videoPhone) command(t *testing.T, command, params string) string {
	t.Helper()
	cmd, err := json.Marshal(map[string]string{"command": command, "params": params, "token": command})
	if err != nil {
		t.Fatal(err)
	}
	var reply []byte
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		reply, err = ctrlResponse(p.CtrlPort, cmd)
		if err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("baresip %s ctrl_tcp %s: %v", p.opts.Name, command, err)
	}
	var r struct {
		OK   bool   `json:"ok"`
		Data string `json:"data"`
	}
	if err := json.Unmarshal(reply, &r); err != nil || !r.OK {
		t.Fatalf("baresip %s ctrl_tcp %s answered %q", p.opts.Name, command, reply)
	}
	return r.Data
}

// ctrlResponse sends one netstring-framed command to baresip's ctrl_tcp and
// returns its response. ctrl_tcp also pushes events (CALL_RTPESTAB, ...) to
// every connected client, so a command sent while a call sets up may be
// answered by an event first: skip netstrings until one has
// "response":true.
func ctrlResponse(port int, cmd []byte) ([]byte, error) {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "%d:%s,", len(cmd), cmd); err != nil {
		return nil, err
	}
	br := bufio.NewReader(c)
	for {
		lenText, err := br.ReadString(':')
		if err != nil {
			return nil, fmt.Errorf("read netstring length: %w", err)
		}
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(lenText, ":")))
		if err != nil || n < 0 || n > 1<<20 {
			return nil, fmt.Errorf("bad netstring length %q", lenText)
		}
		buf := make([]byte, n+1)
		if _, err := io.ReadFull(br, buf); err != nil {
			return nil, fmt.Errorf("read netstring: %w", err)
		}
		if buf[n] != ',' {
			return nil, fmt.Errorf("netstring not terminated by ','")
		}
		var m struct {
			Response bool `json:"response"`
		}
		if json.Unmarshal(buf[:n], &m) == nil && m.Response {
			return buf[:n], nil
		}
	}
}

// snapshot returns the next frame the phone decodes from what it receives
// (in practice the latest one). It fails the test when no frame is decoded
// within 10 s. The PNG stays in the phone's folder as recv-NNN.png.
func (p *videoPhone) snapshot(t *testing.T) image.Image {
	t.Helper()
	img, _ := p.snapshotFile(t)
	return img
}

// snapshotFile is snapshot that also returns the PNG's path.
func (p *videoPhone) snapshotFile(t *testing.T) (image.Image, string) {
	t.Helper()
	path := filepath.Join(p.Dir, fmt.Sprintf("recv-%03d.png", p.snaps.Add(1)))
	p.command(t, "snapshot_recv", path)
	// The command answers at once; the file is complete when it is logged.
	p.waitLog(t, regexp.MustCompile(`png: wrote `+regexp.QuoteMeta(path)+`\b`), 10*time.Second)
	// baresip logs the line before the file is complete now and then:
	// read again until the PNG decodes.
	var img image.Image
	var err error
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if img, err = readPNG(path); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("baresip %s snapshot: %v", p.opts.Name, err)
	}
	return img, path
}

// videoCodecs returns the video encoder and decoder the call really uses, as
// baresip names them: "VP8" or "H264 packetization-mode=1".
func (p *videoPhone) videoCodecs() (enc, dec string) {
	log := p.Log()
	if m := videoEncRe.FindStringSubmatch(log); m != nil {
		enc = strings.TrimSpace(m[1])
	}
	if m := videoDecRe.FindStringSubmatch(log); m != nil {
		dec = strings.TrimSpace(m[1])
	}
	return enc, dec
}

// hangup asks baresip to stop; it hangs up its calls first.
func (p *videoPhone) hangup() { _ = p.cmd.Process.Signal(os.Interrupt) }

// wait waits for the process to exit.
func (p *videoPhone) wait(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("baresip %s exited with %v", p.opts.Name, p.err)
		}
	case <-time.After(within):
		t.Fatalf("baresip %s still running %v after hangup", p.opts.Name, within)
	}
}
