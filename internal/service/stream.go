package service

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vmrd/internal/codec"
	"vmrd/internal/config"
	"vmrd/internal/room"
	"vmrd/internal/stream"
	"vmrd/mixer/audio"
	"vmrd/mixer/video"
)

const (
	// streamID is the stream's place in the room's mixers; no participant
	// ID looks like it (they are numbers).
	streamID = "stream"
	// streamAudioFormat is raw 48 kHz mono PCM: the stream encodes AAC
	// itself, in 1024-sample frames the mixer's 20 ms ticks do not fit.
	streamAudioFormat = "L16/48000"
	// streamCodec names the stream's H.264 High profile encoder (libx264)
	// for the compositor's encoder factory.
	streamCodec codec.VideoCodec = "H264/high"
	// streamKeyframes: YouTube and Vimeo want a keyframe at least every 2 s.
	streamKeyframes = 2 * time.Second
)

// pcmEncoder is the stream's "encoder" in the audio mixer: it passes the
// mix on as little-endian 16-bit samples.
type pcmEncoder struct{}

func (pcmEncoder) Encode(pcm []int16, out []byte) (int, error) {
	if len(out) < 2*len(pcm) {
		return 0, codec.ErrShortBuffer
	}
	for i, v := range pcm {
		binary.LittleEndian.PutUint16(out[2*i:], uint16(v))
	}
	return 2 * len(pcm), nil
}

func (pcmEncoder) Close() error { return nil }

// audioEncoder makes the audio mixer's encoders: the codecs calls use, and
// raw PCM for streams.
func audioEncoder(format string) (codec.AudioEncoder, error) {
	if strings.EqualFold(format, streamAudioFormat) {
		return pcmEncoder{}, nil
	}
	return audio.CodecEncoder(format)
}

// streamKey reads a room's stream key from its file or environment
// variable. It never appears in errors or logs.
func streamKey(s *config.Stream) (string, error) {
	if s.KeyFile != "" {
		b, err := os.ReadFile(s.KeyFile)
		if err != nil {
			return "", fmt.Errorf("stream key_file: %w", err)
		}
		k := strings.TrimSpace(string(b))
		if k == "" {
			return "", fmt.Errorf("stream key_file %s is empty", s.KeyFile)
		}
		return k, nil
	}
	k := strings.TrimSpace(os.Getenv(s.KeyEnv))
	if k == "" {
		return "", fmt.Errorf("stream key_env %s is not set", s.KeyEnv)
	}
	return k, nil
}

// streamTotals are the counters of every stream, for metrics. Keyed by
// publisher: a stream stopped and started again is two publishers.
type streamTotals struct {
	mu       sync.Mutex
	active   map[*stream.Publisher]struct{}
	bytes    uint64 // of streams that ended
	frames   uint64
	dropped  uint64
	reconn   uint64
	failures atomic.Uint64
}

// newStreamer makes a large room's stream (room.Config.NewStreamer).
func (s *Service) newStreamer(rs room.Settings, am room.Mixer, vm room.VideoMixer, report func(room.StreamStatus)) (room.Streamer, error) {
	cfg := s.current()
	r, ok := cfg.Room(string(rs.Number))
	if !ok || r.Stream == nil {
		return nil, nil
	}
	a, ok := am.(mixerAdapter)
	if !ok {
		return nil, fmt.Errorf("room %s: audio mixer %T cannot carry a stream", rs.Number, am)
	}
	v, _ := vm.(*videoRoom) // nil with video off: the stream is audio only
	w, h, _ := config.ParseResolution(r.Stream.Resolution)
	return &streamLeg{number: rs.Number, conf: *r.Stream, w: w, h: h, audio: a.m, video: v, report: report,
		totals: s.streams, log: s.log.With("room", string(rs.Number), "component", "stream")}, nil
}

// streamLeg is a large room's stream: a send-only leg that hears the mix
// and sees the audience view, encoded to AAC and H.264 High and published
// over RTMP(S).
type streamLeg struct {
	number room.Number
	conf   config.Stream
	w, h   int
	audio  *audio.Mixer
	video  *videoRoom
	report func(room.StreamStatus)
	totals *streamTotals
	log    *slog.Logger

	mu  sync.Mutex
	pub *stream.Publisher // nil when stopped
	aac *codec.AACEncoder
	t0  time.Time
	// stopping waits for publishers being stopped in the background.
	stopping sync.WaitGroup

	// Owned by the audio mixer's goroutine while running.
	pcm        []int16
	audioStart time.Duration
	haveAudio  bool
	// Owned by the compositor's goroutine while running.
	videoStart time.Duration
	ts0        uint32
	tsLast     uint32
	tsHigh     int64
	haveVideo  bool
}

var _ room.Streamer = (*streamLeg)(nil)

// Start connects (in the background) and joins the room's mixers. A
// stream that failed (the ingest gave up on us) is replaced by a new one.
func (l *streamLeg) Start() error {
	l.mu.Lock()
	failed := l.pub != nil && (l.pub.State() == stream.StateFailed || l.pub.State() == stream.StateStopped)
	running := l.pub != nil
	l.mu.Unlock()
	if failed {
		l.Stop()
	} else if running {
		return nil
	}
	pub, err := l.start()
	if err != nil {
		return err
	}
	l.totals.add(pub)
	pub.Start()
	return nil
}

// start builds the publisher and joins the mixers.
func (l *streamLeg) start() (*stream.Publisher, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pub != nil {
		return nil, fmt.Errorf("stream of room %s is already running", l.number)
	}
	key, err := streamKey(&l.conf)
	if err != nil {
		l.totals.failures.Add(1)
		l.report(room.StreamStatus{State: "failed", Error: err.Error()})
		return nil, err
	}
	aac, err := codec.NewAACEncoder(codec.AACConfig{SampleRate: 48000, Channels: 2, Bitrate: 128000})
	if err != nil {
		return nil, err
	}
	report := l.report
	pub := stream.New(stream.Config{
		URL: l.conf.URL, Key: key, Logger: l.log,
		OnState: func(st stream.State, err error) {
			s := room.StreamStatus{State: st.String()}
			if err != nil {
				s.Error = err.Error()
			}
			if st == stream.StateFailed {
				l.totals.failures.Add(1)
			}
			report(s)
		},
		OnNeedKeyframe: l.forceKeyframe,
	})
	pub.SetAudioConfig(aac.AudioSpecificConfig())
	l.pub, l.aac, l.t0 = pub, aac, time.Now()
	l.haveAudio, l.haveVideo = false, false
	if _, err := l.audio.Add(streamID, streamAudioFormat, audio.SinkFunc(l.writeAudio)); err != nil {
		l.pub, l.aac = nil, nil
		_ = aac.Close()
		return nil, fmt.Errorf("stream audio: %w", err)
	}
	_ = l.audio.SetInMeeting(streamID, true)
	if l.video != nil {
		_, err := l.video.m.Add(streamID, "", video.Output{
			Codec: streamCodec, Width: l.w, Height: l.h, Bitrate: l.conf.BitrateKbps * 1000,
			Layout: l.conf.Layout, Raw: true, KeyframeInterval: streamKeyframes,
			Sink: video.SinkFunc(l.writeVideo),
		})
		if err != nil {
			_ = l.audio.Remove(streamID)
			l.pub, l.aac = nil, nil
			_ = aac.Close()
			return nil, fmt.Errorf("stream video: %w", err)
		}
	}
	return pub, nil
}

// Stop leaves the mixers and closes the connection in the background.
func (l *streamLeg) Stop() {
	l.mu.Lock()
	pub, aac := l.pub, l.aac
	l.pub, l.aac = nil, nil
	l.mu.Unlock()
	if pub == nil {
		return
	}
	// Removing waits for a running tick: after it no sink call comes.
	_ = l.audio.Remove(streamID)
	if l.video != nil {
		_ = l.video.m.Remove(streamID)
	}
	_ = aac.Close()
	// Closing the connection may wait for a write or dial timeout; the
	// room's actor does not wait for that, Close does.
	l.stopping.Add(1)
	go func() {
		defer l.stopping.Done()
		pub.Stop() // waits for the connection's goroutine
		l.totals.remove(pub)
	}()
}

// Close stops the stream and waits until its connection is closed; the
// room is ending.
func (l *streamLeg) Close() error {
	l.Stop()
	l.stopping.Wait()
	return nil
}

func (l *streamLeg) current() (*stream.Publisher, *codec.AACEncoder) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pub, l.aac
}

func (l *streamLeg) forceKeyframe() {
	if l.video != nil {
		_ = l.video.m.ForceKeyframe(streamID)
	}
}

// writeAudio takes 20 ms of the mix as little-endian PCM (audio mixer's
// goroutine) and publishes it as AAC.
func (l *streamLeg) writeAudio(b []byte) {
	pub, aac := l.current()
	if pub == nil {
		return
	}
	if !l.haveAudio {
		l.haveAudio, l.audioStart = true, time.Since(l.t0)
	}
	n := len(b) / 2
	if cap(l.pcm) < n {
		l.pcm = make([]int16, n)
	}
	l.pcm = l.pcm[:n]
	for i := range l.pcm {
		l.pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	frames, err := aac.Encode(l.pcm)
	if err != nil {
		return
	}
	for _, f := range frames {
		if f.PTS < 0 {
			continue // the encoder's priming frame
		}
		pub.WriteAudio(f.Data, l.audioStart+time.Duration(f.PTS)*time.Second/48000)
	}
}

// writeVideo takes one H.264 access unit of the audience view (the
// compositor's goroutine) and publishes it.
func (l *streamLeg) writeVideo(payloads [][]byte, ts uint32, key bool) {
	pub, _ := l.current()
	if pub == nil || len(payloads) != 1 {
		return
	}
	if !l.haveVideo {
		l.haveVideo, l.videoStart, l.ts0, l.tsLast, l.tsHigh = true, time.Since(l.t0), ts, ts, 0
	}
	if ts < l.tsLast && l.tsLast-ts > 1<<31 {
		l.tsHigh += 1 << 32 // the 90 kHz clock wrapped
	}
	l.tsLast = ts
	elapsed := l.tsHigh + int64(ts) - int64(l.ts0)
	pub.WriteVideo(payloads[0], l.videoStart+time.Duration(elapsed)*time.Second/90000, key)
}

func (t *streamTotals) add(p *stream.Publisher) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.active[p] = struct{}{}
}

func (t *streamTotals) remove(p *stream.Publisher) {
	st := p.Stats()
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.active, p)
	t.bytes += st.BytesSent
	t.frames += st.FramesSent
	t.dropped += st.FramesDropped
	t.reconn += st.Reconnects
}

// streamCollector exports the streams' counters at scrape time.
type streamCollector struct{ t *streamTotals }

var (
	descStreamsActive = prometheus.NewDesc("vmrd_streams_active", "Large rooms' streams running now (connecting, live or retrying).", nil, nil)
	descStreamsLive   = prometheus.NewDesc("vmrd_streams_live", "Streams connected and sending now.", nil, nil)
	descStreamBytes   = prometheus.NewDesc("vmrd_stream_bytes_total", "Bytes sent to stream ingests.", nil, nil)
	descStreamFrames  = prometheus.NewDesc("vmrd_stream_frames_total", "Audio and video frames sent to stream ingests.", nil, nil)
	descStreamDropped = prometheus.NewDesc("vmrd_stream_frames_dropped_total", "Frames dropped while a stream was not connected or its queue was full.", nil, nil)
	descStreamReconn  = prometheus.NewDesc("vmrd_stream_reconnects_total", "Stream connections made again after the ingest dropped them.", nil, nil)
	descStreamFails   = prometheus.NewDesc("vmrd_stream_failures_total", "Streams that could not start or gave up (bad key file, refused, unreachable).", nil, nil)
)

func (c streamCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descStreamsActive, descStreamsLive, descStreamBytes, descStreamFrames, descStreamDropped, descStreamReconn, descStreamFails} {
		ch <- d
	}
}

func (c streamCollector) Collect(ch chan<- prometheus.Metric) {
	t := c.t
	t.mu.Lock()
	pubs := make([]*stream.Publisher, 0, len(t.active))
	for p := range t.active {
		pubs = append(pubs, p)
	}
	bytes, frames, dropped, reconn := t.bytes, t.frames, t.dropped, t.reconn
	t.mu.Unlock()
	active, live := len(pubs), 0
	for _, pub := range pubs {
		st := pub.Stats()
		bytes += st.BytesSent
		frames += st.FramesSent
		dropped += st.FramesDropped
		reconn += st.Reconnects
		if pub.State() == stream.StateLive {
			live++
		}
	}
	ch <- prometheus.MustNewConstMetric(descStreamsActive, prometheus.GaugeValue, float64(active))
	ch <- prometheus.MustNewConstMetric(descStreamsLive, prometheus.GaugeValue, float64(live))
	ch <- prometheus.MustNewConstMetric(descStreamBytes, prometheus.CounterValue, float64(bytes))
	ch <- prometheus.MustNewConstMetric(descStreamFrames, prometheus.CounterValue, float64(frames))
	ch <- prometheus.MustNewConstMetric(descStreamDropped, prometheus.CounterValue, float64(dropped))
	ch <- prometheus.MustNewConstMetric(descStreamReconn, prometheus.CounterValue, float64(reconn))
	ch <- prometheus.MustNewConstMetric(descStreamFails, prometheus.CounterValue, float64(t.failures.Load()))
}
