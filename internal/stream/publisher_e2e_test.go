package stream

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"vmrd/internal/testpeers/nginxrtmp"

	"vmrd/internal/codec"
)

// source encodes a moving picture (a solid colour with a white bar
// sliding across) and a 1 kHz tone, like a room's output.
type source struct {
	t        testing.TB
	w, h     int
	venc     codec.VideoEncoder
	aenc     *codec.AACEncoder
	frame    *codec.Frame
	n        int // video frames made
	samples  int // audio samples made
	forceKey atomic.Bool
}

const fps = 30

func newSource(t testing.TB, w, h, bitrate int) *source {
	t.Helper()
	venc, err := codec.NewH264HighEncoder(codec.VideoEncoderConfig{Width: w, Height: h, FPS: fps,
		Bitrate: bitrate, KeyframeInterval: 2 * fps})
	if err != nil {
		t.Fatalf("x264: %v", err)
	}
	aenc, err := codec.NewAACEncoder(codec.AACConfig{SampleRate: 48000, Channels: 2, Bitrate: 128000})
	if err != nil {
		t.Fatalf("aac: %v", err)
	}
	t.Cleanup(func() { venc.Close(); aenc.Close() })
	return &source{t: t, w: w, h: h, venc: venc, aenc: aenc, frame: codec.NewFrame(w, h)}
}

// next produces the next video frame and the audio up to its time, and
// hands them to p.
func (s *source) next(p *Publisher) {
	s.t.Helper()
	i := s.n
	s.frame.Fill(byte(60+(i/fps)%8*20), 90, 160) // a new colour every second
	bar := s.frame.Sub((i*8)%s.w, 0, 32, s.h)
	bar.Fill(235, 128, 128)
	au, key, err := s.venc.Encode(s.frame, s.forceKey.Swap(false))
	if err != nil {
		s.t.Fatalf("encode video: %v", err)
	}
	p.WriteVideo(au, time.Duration(i)*time.Second/fps, key)
	s.n++
	pcm := make([]int16, 960)
	for s.samples < s.n*48000/fps {
		for j := range pcm {
			pcm[j] = int16(8000 * math.Sin(2*math.Pi*1000*float64(s.samples+j)/48000))
		}
		s.samples += len(pcm)
		frames, err := s.aenc.Encode(pcm)
		if err != nil {
			s.t.Fatalf("encode audio: %v", err)
		}
		for _, f := range frames {
			p.WriteAudio(f.Data, time.Duration(f.PTS)*time.Second/48000)
		}
	}
}

// run feeds frames in real time for d.
func (s *source) run(p *Publisher, d time.Duration) {
	start := time.Now()
	first := s.n
	for time.Since(start) < d {
		s.next(p)
		if wait := time.Duration(s.n-first)*time.Second/fps - time.Since(start); wait > 0 {
			time.Sleep(wait)
		}
	}
}

func waitState(t testing.TB, p *Publisher, want State, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for p.State() != want {
		if time.Now().After(deadline) {
			t.Fatalf("state %v after %v, want %v (err %v)", p.State(), within, want, p.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func newTestPublisher(t *testing.T, url string, src *source, mod func(*Config)) *Publisher {
	t.Helper()
	cfg := Config{URL: url, Key: "s3cr3t-key", Logger: slog.New(slog.NewTextHandler(os.Stderr, nil)),
		Backoff:        func(int) time.Duration { return 200 * time.Millisecond },
		OnNeedKeyframe: func() { src.forceKey.Store(true) }}
	if mod != nil {
		mod(&cfg)
	}
	p := New(cfg)
	p.SetAudioConfig(src.aenc.AudioSpecificConfig())
	t.Cleanup(p.Stop)
	return p
}

func TestPublishToNginx(t *testing.T) {
	nginxrtmp.Require(t)
	dir := t.TempDir()
	srv := nginxrtmp.Start(t, dir, nginxrtmp.FreePort(t), 0, "", "")
	src := newSource(t, 1280, 720, 2_500_000)
	p := newTestPublisher(t, fmt.Sprintf("rtmp://127.0.0.1:%d/live", srv.Port), src, nil)
	p.Start()
	waitState(t, p, StateLive, 10*time.Second)
	src.run(p, 6*time.Second)
	p.Stop()
	if p.State() != StateStopped {
		t.Fatalf("state %v after Stop", p.State())
	}
	st := p.Stats()
	t.Logf("stats %+v", st)
	if st.FramesDropped > 2 || st.FramesSent < 400 || st.BytesSent < 50_000 {
		t.Fatalf("stats %+v", st)
	}
	srv.Stop(t)
	recs := srv.Recordings(t)
	if len(recs) != 1 {
		t.Fatalf("recordings %v, want one", recs)
	}
	if !strings.Contains(filepath.Base(recs[0]), "s3cr3t-key") {
		t.Fatalf("recording %s is not named after the stream key: published under the wrong name", recs[0])
	}
	pr := nginxrtmp.Probe(t, recs[0])
	var video, audio bool
	for _, s := range pr.Streams {
		switch s.CodecType {
		case "video":
			video = true
			if s.CodecName != "h264" || (s.Profile != "High" && s.Profile != "Main") || s.Width != 1280 || s.Height != 720 {
				t.Errorf("video stream %+v", s)
			}
		case "audio":
			audio = true
			if s.CodecName != "aac" || s.SampleRate != "48000" || s.Channels != 2 {
				t.Errorf("audio stream %+v", s)
			}
		}
	}
	if !video || !audio {
		t.Fatalf("streams %+v", pr.Streams)
	}
	sum := nginxrtmp.Summarize(t, pr)
	t.Logf("recording %+v", sum)
	if !sum.FirstVideoKey || sum.MaxKeyGap > 2.01 || sum.MaxKeyGap < 0.5 {
		t.Errorf("first video key %v, largest keyframe gap %.2f s", sum.FirstVideoKey, sum.MaxKeyGap)
	}
	if math.Abs(sum.VideoDur-6) > 0.5 || math.Abs(sum.AudioDur-6) > 0.5 || math.Abs(sum.VideoDur-sum.AudioDur) > 0.2 {
		t.Errorf("durations video %.2f s, audio %.2f s, want about 6", sum.VideoDur, sum.AudioDur)
	}
	if sum.VideoPackets < 170 || sum.AudioPackets < 270 {
		t.Errorf("packets video %d, audio %d", sum.VideoPackets, sum.AudioPackets)
	}
}

func TestReconnectAfterServerLoss(t *testing.T) {
	nginxrtmp.Require(t)
	dir := t.TempDir()
	port := nginxrtmp.FreePort(t)
	srv := nginxrtmp.Start(t, filepath.Join(dir, "a"), port, 0, "", "")
	src := newSource(t, 640, 360, 800_000)
	var mu sync.Mutex
	var states []State
	p := newTestPublisher(t, fmt.Sprintf("rtmp://127.0.0.1:%d/live", port), src, func(c *Config) {
		c.OnState = func(s State, err error) {
			if err != nil && strings.Contains(err.Error(), "s3cr3t-key") {
				t.Errorf("error text holds the key: %v", err)
			}
			mu.Lock()
			states = append(states, s)
			mu.Unlock()
		}
	})
	p.Start()
	waitState(t, p, StateLive, 10*time.Second)
	src.run(p, 2*time.Second)
	srv.Kill()
	// Keep publishing while the server is away; frames are dropped.
	deadline := time.Now().Add(10 * time.Second)
	for p.State() != StateRetrying {
		if time.Now().After(deadline) {
			t.Fatalf("state %v after the server died", p.State())
		}
		src.run(p, 100*time.Millisecond)
	}
	src.run(p, 2*time.Second)
	srv2 := nginxrtmp.Start(t, filepath.Join(dir, "b"), port, 0, "", "")
	for p.State() != StateLive {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("state %v, want live again (err %v)", p.State(), p.Err())
		}
		src.run(p, 100*time.Millisecond)
	}
	src.run(p, 2*time.Second)
	p.Stop()
	st := p.Stats()
	t.Logf("stats %+v", st)
	if st.Reconnects != 1 || st.FramesDropped == 0 {
		t.Errorf("stats %+v: want one reconnect and drops while away", st)
	}
	mu.Lock()
	got := fmt.Sprint(states)
	mu.Unlock()
	if !strings.Contains(got, "live retrying") || !strings.HasSuffix(got, "live stopped]") {
		t.Errorf("states %s, want ... live retrying ... live stopped", got)
	}
	if err := p.Err(); err != nil && strings.Contains(err.Error(), "s3cr3t-key") {
		t.Errorf("Err holds the key: %v", err)
	}
	srv2.Stop(t)
	recs := srv2.Recordings(t)
	if len(recs) != 1 {
		t.Fatalf("second server recordings %v", recs)
	}
	sum := nginxrtmp.Summarize(t, nginxrtmp.Probe(t, recs[0]))
	t.Logf("second recording %+v", sum)
	if !sum.FirstVideoKey || sum.VideoPackets < 40 || sum.AudioPackets < 60 {
		t.Errorf("second recording %+v: want video from a keyframe, and audio", sum)
	}
}

func TestPublishRTMPS(t *testing.T) {
	nginxrtmp.Require(t, nginxrtmp.StreamModule)
	dir := t.TempDir()
	cert, key, pool := selfSigned(t, dir)
	srv := nginxrtmp.Start(t, dir, nginxrtmp.FreePort(t), nginxrtmp.FreePort(t), cert, key)
	url := fmt.Sprintf("rtmps://127.0.0.1:%d/live", srv.TLSPort)

	t.Run("untrusted certificate", func(t *testing.T) {
		src := newSource(t, 320, 180, 200_000)
		p := newTestPublisher(t, url, src, func(c *Config) { c.MaxRetries = 1 })
		p.Start()
		waitState(t, p, StateFailed, 10*time.Second)
		if err := p.Err(); err == nil || !strings.Contains(err.Error(), "certificate") ||
			strings.Contains(err.Error(), "s3cr3t-key") {
			t.Fatalf("err %v, want a certificate error without the key", err)
		}
	})
	t.Run("trusted test CA", func(t *testing.T) {
		src := newSource(t, 320, 180, 200_000)
		p := newTestPublisher(t, url, src, func(c *Config) { c.RootCAs = pool })
		p.Start()
		waitState(t, p, StateLive, 10*time.Second)
		src.run(p, 2*time.Second)
		p.Stop()
		if st := p.Stats(); st.FramesSent < 100 {
			t.Fatalf("stats %+v", st)
		}
	})
	srv.Stop(t)
	recs := srv.Recordings(t)
	if len(recs) != 1 {
		t.Fatalf("recordings %v, want one (the trusted publish)", recs)
	}
	sum := nginxrtmp.Summarize(t, nginxrtmp.Probe(t, recs[0]))
	if !sum.FirstVideoKey || sum.VideoPackets < 50 || sum.AudioPackets < 80 {
		t.Errorf("recording %+v", sum)
	}
}
