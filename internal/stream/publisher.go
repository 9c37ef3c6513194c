package stream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config sets up a Publisher.
type Config struct {
	// URL is the ingest's application URL, rtmp://host[:port]/app or
	// rtmps://host[:port]/app, without the stream key.
	URL string
	// Key is the stream key (the RTMP stream name). It is a secret: it
	// never appears in logs, errors or states.
	Key    string
	Logger *slog.Logger
	// Now stamps state changes; time.Now when nil.
	Now func() time.Time
	// Backoff returns the wait before reconnect attempt n (1, 2, ...);
	// DefaultBackoff when nil.
	Backoff func(attempt int) time.Duration
	// MaxRetries consecutive failed attempts end in StateFailed; 0 retries
	// for ever.
	MaxRetries int
	// RootCAs verifies an rtmps:// server (the system pool when nil).
	RootCAs *x509.CertPool
	// InsecureSkipVerify turns off certificate checks: tests only.
	InsecureSkipVerify bool
	// QueueSize bounds the frames waiting to be sent (256 when 0, about
	// 3 s of 30 fps video with audio).
	QueueSize int
	// DialTimeout bounds connect, handshake and publish (10 s when 0);
	// WriteTimeout bounds one write (5 s when 0).
	DialTimeout, WriteTimeout time.Duration
	// OnState is called on every state change with the error that caused
	// it (nil for live, stopped). It runs on the publisher's goroutine and
	// must not block.
	OnState func(State, error)
	// OnNeedKeyframe asks the video encoder for a keyframe: after a
	// (re)connect and after video was dropped. It must not block.
	OnNeedKeyframe func()
}

// Stats counts what a Publisher did.
type Stats struct {
	BytesSent     uint64    // over all connections
	FramesSent    uint64    // audio and video
	FramesDropped uint64    // not connected, queue full, or waiting for a keyframe
	Reconnects    uint64    // connections re-established after a loss
	StateSince    time.Time // when the current state began (Config.Now)
}

// DefaultBackoff waits 1 s, 2 s, 4 s ... up to 30 s, each varied by up to
// 20% either way so that many rooms cut off together do not reconnect in
// step.
func DefaultBackoff(attempt int) time.Duration {
	d := 30 * time.Second
	if attempt <= 5 {
		d = time.Second << max(0, attempt-1)
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

type mediaKind uint8

const (
	kindAudio mediaKind = iota
	kindVideo
)

// packet is one queued frame; packets are recycled through the free list.
type packet struct {
	kind mediaKind
	key  bool
	pts  time.Duration
	data []byte
}

// maxSkew is how far one medium may run ahead of the other while the
// sender waits to interleave them by time; past it (the other medium
// stalled) frames go out anyway.
const maxSkew = 300 * time.Millisecond

// Publisher sends one live stream (H.264 + AAC) to an RTMP or RTMPS server
// and keeps it up across connection losses. WriteVideo and WriteAudio
// never block: frames are queued and dropped when the queue is full or the
// publisher is not live.
type Publisher struct {
	cfg  Config
	log  *slog.Logger
	u    *url.URL
	dial dialer

	state atomic.Int32
	mu    sync.Mutex // guards err, since, began
	err   error
	since time.Time
	began bool

	asc      atomic.Pointer[[]byte]
	waitKey  atomic.Bool // WriteVideo drops until a keyframe
	queue    chan *packet
	free     chan *packet
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	cancel   context.CancelFunc

	bytesSent, framesSent, dropped, reconnects atomic.Uint64
}

// New returns an idle publisher; Start connects it. A bad URL shows at
// Start as StateFailed.
func New(cfg Config) *Publisher {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 256
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 5 * time.Second
	}
	p := &Publisher{cfg: cfg, stop: make(chan struct{}), done: make(chan struct{}),
		queue: make(chan *packet, cfg.QueueSize)}
	// The sender holds up to a queue's worth while interleaving, so the
	// free list is twice the queue.
	p.free = make(chan *packet, 2*cfg.QueueSize)
	for range 2 * cfg.QueueSize {
		p.free <- &packet{}
	}
	p.log = cfg.Logger.With("stream", p.redactedURL())
	p.waitKey.Store(true)
	p.since = cfg.Now()
	p.dial = p.dialRTMP
	return p
}

// redactedURL is the URL as logs may show it (no user info, no key).
func (p *Publisher) redactedURL() string {
	u, err := url.Parse(p.cfg.URL)
	if err != nil {
		return "invalid"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return p.redact(u.String())
}

// redact removes the stream key from s, also in its escaped forms.
func (p *Publisher) redact(s string) string {
	k := p.cfg.Key
	if k == "" {
		return s
	}
	for _, form := range []string{k, url.PathEscape(k), url.QueryEscape(k)} {
		s = strings.ReplaceAll(s, form, "<key>")
	}
	return s
}

// scrub wraps err under sentinel with a text free of the key.
func (p *Publisher) scrub(sentinel, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sentinel) {
		return errors.New(p.redact(err.Error()))
	}
	return fmt.Errorf("%w: %s", sentinel, p.redact(err.Error()))
}

func (p *Publisher) dialRTMP(ctx context.Context) (conn, error) {
	var tc *tls.Config
	if p.u.Scheme == "rtmps" {
		tc = &tls.Config{RootCAs: p.cfg.RootCAs, InsecureSkipVerify: p.cfg.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	}
	c, err := dialRTMP(ctx, p.u, p.cfg.Key, tc, p.cfg.DialTimeout, p.cfg.WriteTimeout)
	if err != nil {
		return nil, err
	}
	if err := c.writeMetadata(p.asc.Load() != nil); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// State returns the current state.
func (p *Publisher) State() State { return State(p.state.Load()) }

// Err returns the error behind the last retrying or failed state, nil if
// none. Its text never holds the stream key.
func (p *Publisher) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Stats returns the counters.
func (p *Publisher) Stats() Stats {
	p.mu.Lock()
	since := p.since
	p.mu.Unlock()
	return Stats{BytesSent: p.bytesSent.Load(), FramesSent: p.framesSent.Load(),
		FramesDropped: p.dropped.Load(), Reconnects: p.reconnects.Load(), StateSince: since}
}

func (p *Publisher) setState(s State, err error) {
	if old := State(p.state.Swap(int32(s))); old == s && err == nil {
		return
	}
	p.mu.Lock()
	if err != nil || s == StateLive {
		p.err = err
	}
	p.since = p.cfg.Now()
	p.mu.Unlock()
	if err != nil {
		p.log.Warn("stream state", "state", s, "err", err)
	} else {
		p.log.Info("stream state", "state", s)
	}
	if p.cfg.OnState != nil {
		p.cfg.OnState(s, err)
	}
}

func (p *Publisher) needKeyframe() {
	if p.cfg.OnNeedKeyframe != nil {
		p.cfg.OnNeedKeyframe()
	}
}

// SetAudioConfig sets the AAC AudioSpecificConfig (codec.AACEncoder's);
// without it audio frames are dropped and the stream is video only. Set it
// before Start so the first connection announces audio.
func (p *Publisher) SetAudioConfig(asc []byte) {
	c := append([]byte(nil), asc...)
	p.asc.Store(&c)
}

// WriteVideo queues one H.264 access unit in Annex B form; key marks an
// IDR (with SPS and PPS in front, as codec's encoders emit them). It never
// blocks and copies au.
func (p *Publisher) WriteVideo(au []byte, pts time.Duration, key bool) {
	if p.State() != StateLive {
		p.dropped.Add(1)
		p.waitKey.Store(true)
		return
	}
	if !key && p.waitKey.Load() {
		// A decoder cannot use pictures after a gap until the next IDR.
		p.dropped.Add(1)
		return
	}
	if !p.enqueue(kindVideo, au, pts, key) {
		p.waitKey.Store(true)
		p.needKeyframe()
		return
	}
	if key {
		p.waitKey.Store(false)
	}
}

// WriteAudio queues one raw AAC frame. It never blocks and copies frame.
func (p *Publisher) WriteAudio(frame []byte, pts time.Duration) {
	if p.State() != StateLive || p.asc.Load() == nil {
		p.dropped.Add(1)
		return
	}
	p.enqueue(kindAudio, frame, pts, false)
}

func (p *Publisher) enqueue(k mediaKind, data []byte, pts time.Duration, key bool) bool {
	var pk *packet
	select {
	case pk = <-p.free:
	default:
		p.dropped.Add(1)
		return false
	}
	pk.kind, pk.pts, pk.key = k, pts, key
	pk.data = append(pk.data[:0], data...)
	select {
	case p.queue <- pk:
		return true
	default:
		p.free <- pk
		p.dropped.Add(1)
		return false
	}
}

// Start connects in the background; it does nothing after the first call.
func (p *Publisher) Start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.began {
		return
	}
	p.began = true
	u, err := url.Parse(p.cfg.URL)
	if err == nil && ((u.Scheme != "rtmp" && u.Scheme != "rtmps") || u.Host == "") {
		err = errors.New("want rtmp:// or rtmps:// with a host")
	}
	if err != nil {
		p.mu.Unlock()
		p.setState(StateFailed, p.scrub(ErrBadURL, err))
		p.mu.Lock()
		close(p.done)
		return
	}
	p.u = u
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.run(ctx)
}

// Stop sends what is queued (bounded by the write timeout), closes the
// connection and waits for the publisher's goroutine. Safe to call more
// than once, and before Start.
func (p *Publisher) Stop() {
	p.stopOnce.Do(func() {
		close(p.stop)
		p.mu.Lock()
		began := p.began
		p.began = true
		p.mu.Unlock()
		if !began {
			close(p.done)
		}
		<-p.done
		if p.cancel != nil {
			p.cancel()
		}
		if s := p.State(); s != StateFailed {
			p.setState(StateStopped, nil)
		}
	})
}

func (p *Publisher) stopped() bool {
	select {
	case <-p.stop:
		return true
	default:
		return false
	}
}

// run connects, sends, and reconnects with backoff until Stop.
func (p *Publisher) run(ctx context.Context) {
	defer close(p.done)
	p.setState(StateConnecting, nil)
	failures := 0
	everLive := false
	for {
		c, err := p.connect(ctx)
		if err == nil {
			if everLive {
				p.reconnects.Add(1)
			}
			everLive, failures = true, 0
			p.setState(StateLive, nil)
			p.needKeyframe()
			err = p.send(c)
			p.bytesSent.Add(c.BytesSent())
			c.Close()
			p.flushQueue()
			if err == nil { // stopped
				return
			}
			err = p.scrub(ErrSend, err)
		}
		if p.stopped() {
			return
		}
		failures++
		if p.cfg.MaxRetries > 0 && failures > p.cfg.MaxRetries {
			p.setState(StateFailed, fmt.Errorf("%w after %d attempts: %w", ErrGaveUp, failures, err))
			return
		}
		p.setState(StateRetrying, err)
		t := time.NewTimer(p.cfg.Backoff(failures))
		select {
		case <-p.stop:
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// connect dials once, giving up early on Stop.
func (p *Publisher) connect(ctx context.Context) (conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-p.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	c, err := p.dial(ctx)
	if err != nil {
		return nil, p.scrub(ErrConnect, err)
	}
	return c, nil
}

// flushQueue drops whatever was queued for a connection that is gone.
func (p *Publisher) flushQueue() {
	for {
		select {
		case pk := <-p.queue:
			p.dropped.Add(1)
			p.free <- pk
		default:
			return
		}
	}
}

// send runs one connection: it interleaves queued frames by time, turns
// them into FLV tags and writes them. It returns nil after Stop, or the
// error that ended the connection.
func (p *Publisher) send(c conn) error {
	s := newSession(p, c)
	defer s.release()
	if err := s.sendAudioHeader(); err != nil {
		return err
	}
	for {
		select {
		case <-p.stop:
			// Send what was queued before Stop, then end.
			for {
				select {
				case pk := <-p.queue:
					if err := s.push(pk); err != nil {
						return err
					}
				default:
					return s.flush()
				}
			}
		case <-c.Dead():
			return errors.New("server closed the connection")
		case pk := <-p.queue:
			if err := s.push(pk); err != nil {
				return err
			}
		}
	}
}
