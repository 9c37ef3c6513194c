package webrtc

import (
	"sync"
	"time"
)

// bucket is a token bucket: rate tokens a second up to burst.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newBucket(rate float64, burst int, now time.Time) *bucket {
	return &bucket{rate: rate, burst: float64(burst), tokens: float64(burst), last: now}
}

func (b *bucket) allow(now time.Time) bool {
	b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// maxSources bounds the limiter's memory under a flood from many
// addresses: full buckets are forgotten first, then everything.
const maxSources = 10000

// sourceLimiter holds one bucket per source address.
type sourceLimiter struct {
	mu    sync.Mutex
	rate  float64
	burst int
	m     map[string]*bucket
}

func newSourceLimiter(rate float64, burst int) *sourceLimiter {
	return &sourceLimiter{rate: rate, burst: burst, m: map[string]*bucket{}}
}

func (l *sourceLimiter) allow(src string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.m[src]
	if !ok {
		if len(l.m) >= maxSources {
			l.prune(now)
		}
		b = newBucket(l.rate, l.burst, now)
		l.m[src] = b
	}
	return b.allow(now)
}

// prune forgets sources whose bucket has refilled; if that frees nothing,
// it forgets all (a flood from many addresses is limited elsewhere too).
func (l *sourceLimiter) prune(now time.Time) {
	for k, b := range l.m {
		if b.tokens+now.Sub(b.last).Seconds()*b.rate >= b.burst {
			delete(l.m, k)
		}
	}
	if len(l.m) >= maxSources {
		clear(l.m)
	}
}
