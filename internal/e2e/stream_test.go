package e2e

import (
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vmrd/internal/testpeers/nginxrtmp"
)

// TestLargeRoomStream: a large room streams its meeting to a real RTMP
// server (nginx-rtmp on loopback): it starts when the host joins, carries
// H.264 High and AAC at the configured size with keyframes at most 2 s
// apart, shows the room in its own layout, survives the server going away
// and coming back, and stops at the host's stop_stream. The key never
// appears in the daemon's log.
func TestLargeRoomStream(t *testing.T) {
	requireVideoTools(t, "baresip", "ffmpeg")
	nginxrtmp.Require(t)
	const key = "vmrd-e2e-s3cret-key"
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "stream.key")
	if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := nginxrtmp.FreePort(t)
	srv := nginxrtmp.Start(t, filepath.Join(dir, "nginx1"), port, 0, "", "")

	cfg := defaultConfig()
	cfg.Video.FPS = 15
	room := pinRoom(t, "5005", "large", true)
	room.Stream = &StreamConfig{URL: fmt.Sprintf("rtmp://127.0.0.1:%d/live", port), KeyFile: keyFile,
		Layout: "1:0", Resolution: "640x360", BitrateKbps: 800, AutoStart: true}
	cfg.Rooms = []RoomConfig{room}
	d := startDaemon(t, cfg)

	host := startVideoPhone(t, videoPhoneOpts{Name: "host", Video: makeColourVideo(t, t.TempDir(), "host", colourRed, 640, 360, 30, 60),
		VideoCodecs: "VP8", Freq: 440, Seconds: 60, Dial: "sip:5005@" + d.SIPAddr})
	d.waitLogCount(t, videoStartedRe, 1, 15*time.Second)
	host.waitLog(t, videoRxRe, 15*time.Second)
	host.sendDTMF(t, hostPIN+"#")
	d.waitMetric(t, "vmrd_streams_live", 15*time.Second, "the stream live after the host joined", func(v float64) bool { return v == 1 })
	ctl := d.token(t, "5005", hostPIN, "Control", "HOST")
	if c := d.conference(t, "5005", ctl.Token); c.Stream == nil || c.Stream.State != "live" {
		t.Fatalf("conference stream %+v, want live", c.Stream)
	}
	d.streamFor(t, 5*time.Second)

	// The server goes away and comes back on the same port: vmrd reconnects.
	srv.Kill()
	d.waitMetric(t, "vmrd_streams_live", 10*time.Second, "the stream noticing the server is gone", func(v float64) bool { return v == 0 })
	srv2 := nginxrtmp.Start(t, filepath.Join(dir, "nginx2"), port, 0, "", "")
	d.waitMetric(t, "vmrd_streams_live", 40*time.Second, "the stream back after the server returned", func(v float64) bool { return v == 1 })
	if v := d.metric(t, "vmrd_stream_reconnects_total"); v < 1 {
		t.Errorf("vmrd_stream_reconnects_total = %v, want at least 1", v)
	}
	d.streamFor(t, 4*time.Second)
	d.apiOK(t, "POST", "5005", "stop_stream", ctl.Token, nil)
	d.waitMetric(t, "vmrd_streams_active", 10*time.Second, "the stream stopped", func(v float64) bool { return v == 0 })
	srv2.Stop(t)

	for i, s := range []*nginxrtmp.Server{srv, srv2} {
		recs := s.Recordings(t)
		if len(recs) == 0 {
			t.Fatalf("server %d recorded nothing", i+1)
		}
		checkRecording(t, fmt.Sprintf("recording %d", i+1), recs[len(recs)-1], i == 0)
	}
	if b, err := os.ReadFile(d.LogPath); err != nil || strings.Contains(string(b), key) {
		t.Fatalf("the daemon's log holds the stream key (or cannot be read: %v)", err)
	}
}

// checkRecording checks one FLV the RTMP server recorded.
func checkRecording(t *testing.T, name, file string, full bool) {
	t.Helper()
	pr := nginxrtmp.Probe(t, file)
	var video, audio bool
	for _, s := range pr.Streams {
		switch s.CodecType {
		case "video":
			video = true
			if s.CodecName != "h264" || (s.Profile != "High" && s.Profile != "Main") || s.Width != 640 || s.Height != 360 {
				t.Errorf("%s: video %s %s %dx%d, want h264 High or Main 640x360", name, s.CodecName, s.Profile, s.Width, s.Height)
			}
		case "audio":
			audio = true
			if s.CodecName != "aac" || s.SampleRate != "48000" || s.Channels != 2 {
				t.Errorf("%s: audio %s %s Hz %d channels, want aac 48000 Hz stereo", name, s.CodecName, s.SampleRate, s.Channels)
			}
		}
	}
	if !video || !audio {
		t.Fatalf("%s: streams %+v, want video and audio", name, pr.Streams)
	}
	sum := nginxrtmp.Summarize(t, pr)
	if !sum.FirstVideoKey {
		t.Errorf("%s does not start with a keyframe", name)
	}
	if sum.MaxKeyGap > 2.1 {
		t.Errorf("%s: keyframes %.2f s apart, want at most 2 s", name, sum.MaxKeyGap)
	}
	if full && (sum.VideoDur < 3 || sum.AudioDur < 3) {
		t.Errorf("%s: %.1f s of video and %.1f s of audio, want the 5 s streamed", name, sum.VideoDur, sum.AudioDur)
	}
	// The audience view is 1:0: the host's red over the whole picture.
	img := lastFrame(t, file)
	for _, at := range [][2]float64{{0.2, 0.2}, {0.5, 0.5}, {0.8, 0.7}} {
		if got := sampleCell(img, at[0], at[1]); !colourNear(got, colourRed, colourTol) {
			t.Errorf("%s: at %v the picture is %v, want the host's red (1:0): %s", name, at, got, describeColours(img))
		}
	}
}

// lastFrame decodes the last video frame of a recording with ffmpeg.
func lastFrame(t *testing.T, file string) image.Image {
	t.Helper()
	out := filepath.Join(t.TempDir(), "last.png")
	cmd := exec.Command("ffmpeg", "-loglevel", "error", "-sseof", "-1", "-i", file, "-update", "1", "-frames:v", "100", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("decode %s: %v: %s", file, err, b)
	}
	img, err := readPNG(out)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// streamFor waits until the stream has sent about d of media: 15 video
// frames and 47 AAC frames a second. It waits on what was sent, not on
// the clock, so a slow machine still gets a recording that long.
func (d *daemon) streamFor(t *testing.T, dur time.Duration) {
	t.Helper()
	want := d.metric(t, "vmrd_stream_frames_total") + dur.Seconds()*(15+47)*0.9
	d.waitMetric(t, "vmrd_stream_frames_total", dur*4, fmt.Sprintf("%s of stream", dur), func(v float64) bool { return v >= want })
}
