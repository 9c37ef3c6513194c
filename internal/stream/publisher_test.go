package stream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// tag is one FLV tag a fakeConn received.
type tag struct {
	typ      byte
	ms       uint32
	key, hdr bool // keyframe; sequence header
}

// fakeConn records tags instead of sending them.
type fakeConn struct {
	mu   sync.Mutex
	tags []tag
	dead chan struct{}
}

func newFakeConn() *fakeConn { return &fakeConn{dead: make(chan struct{})} }

func (f *fakeConn) WriteTag(typ byte, ms uint32, body []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tags = append(f.tags, tag{typ: typ, ms: ms, key: typ == tagVideo && body[0]>>4 == 1, hdr: body[1] == 0})
	return nil
}
func (f *fakeConn) Dead() <-chan struct{} { return f.dead }
func (f *fakeConn) BytesSent() uint64     { return 0 }
func (f *fakeConn) Close() error          { return nil }
func (f *fakeConn) snapshot() []tag {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]tag(nil), f.tags...)
}

var (
	testSPS = []byte{0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10}
	testPPS = []byte{0, 0, 0, 1, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0}
	testIDR = append(append(append([]byte{}, testSPS...), testPPS...), 0, 0, 0, 1, 0x65, 0x88, 0x84)
	testP   = []byte{0, 0, 0, 1, 0x41, 0x9a, 0x02}
)

func TestMuxOrder(t *testing.T) {
	fc := newFakeConn()
	keyAsks := 0
	p := New(Config{URL: "rtmp://127.0.0.1/live", Key: "k", OnNeedKeyframe: func() { keyAsks++ }})
	p.dial = func(context.Context) (conn, error) { return fc, nil }
	p.SetAudioConfig([]byte{0x11, 0x90})
	p.Start()
	waitState(t, p, StateLive, 5*time.Second)
	// Video is encoded late: each frame arrives after the audio of the
	// next 60 ms. An inter frame before the first keyframe is dropped.
	p.WriteVideo(testP, 0, false)
	a := 0
	for i := range 30 {
		vpts := time.Duration(i) * time.Second / 30
		for ; time.Duration(a)*1024*time.Second/48000 < vpts+60*time.Millisecond; a++ {
			p.WriteAudio([]byte{0x21, byte(a)}, time.Duration(a)*1024*time.Second/48000)
		}
		if i == 0 {
			p.WriteVideo(testIDR, vpts, true)
		} else {
			p.WriteVideo(testP, vpts, false)
		}
	}
	p.Stop()
	tags := fc.snapshot()
	if keyAsks != 1 {
		t.Errorf("asked for %d keyframes, want 1 (on going live)", keyAsks)
	}
	if len(tags) < 3 || tags[0] != (tag{typ: tagAudio, hdr: true}) {
		t.Fatalf("first tag %+v, want the AAC sequence header", tags[:min(3, len(tags))])
	}
	var last uint32
	firstVideo := -1
	videos, audios := 0, 0
	for i, tg := range tags[1:] {
		if tg.ms < last {
			t.Fatalf("tag %d at %d ms after one at %d ms: not interleaved by time\n%+v", i+1, tg.ms, last, tags)
		}
		last = tg.ms
		if tg.typ == tagVideo {
			if firstVideo < 0 {
				firstVideo = i + 1
			}
			if !tg.hdr {
				videos++
			}
		} else {
			audios++
		}
	}
	if firstVideo < 0 || !tags[firstVideo].hdr || !tags[firstVideo+1].key {
		t.Fatalf("video starts with %+v, want sequence header then keyframe", tags[firstVideo:firstVideo+2])
	}
	if videos != 30 || audios != a {
		t.Fatalf("sent %d video and %d audio frames, want 30 and %d", videos, audios, a)
	}
	if st := p.Stats(); st.FramesDropped != 1 {
		t.Fatalf("stats %+v, want the one inter frame before the keyframe dropped", st)
	}
}

func TestGivesUpAfterMaxRetries(t *testing.T) {
	var attempts []int
	var states []string
	p := New(Config{URL: "rtmp://127.0.0.1/live", Key: "hunter2", MaxRetries: 3,
		Backoff: func(n int) time.Duration { attempts = append(attempts, n); return time.Millisecond },
		OnState: func(s State, err error) { states = append(states, s.String()) }})
	p.dial = func(context.Context) (conn, error) {
		return nil, errors.New("publish of stream hunter2 refused")
	}
	p.Start()
	waitState(t, p, StateFailed, 5*time.Second)
	p.Stop()
	err := p.Err()
	if !errors.Is(err, ErrGaveUp) || !errors.Is(err, ErrConnect) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err %v: want ErrGaveUp wrapping ErrConnect, without the key", err)
	}
	if fmt.Sprint(attempts) != "[1 2 3]" {
		t.Fatalf("backoff attempts %v", attempts)
	}
	if got := strings.Join(states, " "); got != "connecting retrying retrying retrying failed" {
		t.Fatalf("states %s", got)
	}
}

func TestDefaultBackoff(t *testing.T) {
	for _, tc := range []struct {
		attempt int
		base    time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {3, 4 * time.Second}, {5, 16 * time.Second}, {6, 30 * time.Second}, {40, 30 * time.Second}} {
		t.Run(fmt.Sprint(tc.attempt), func(t *testing.T) {
			for range 50 {
				d := DefaultBackoff(tc.attempt)
				if d < tc.base*8/10 || d > tc.base*12/10 {
					t.Fatalf("attempt %d waits %v, want %v ±20%%", tc.attempt, d, tc.base)
				}
			}
		})
	}
}
