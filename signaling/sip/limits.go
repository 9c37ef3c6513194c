package sip

import (
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Limits protects the listeners against floods and scanners. Requests over
// a rate are dropped unanswered: answering a flood would amplify it.
type Limits struct {
	InviteRate, OptionsRate, RequestRate    float64 // per second per source
	InviteBurst, OptionsBurst, RequestBurst int
	// CallsPerSource caps dialogs in progress from one address.
	CallsPerSource int
	// Allow lists sources the limits do not apply to (a trusted proxy).
	Allow []netip.Prefix
	// DropUserAgents are scanner User-Agent substrings, lower case.
	DropUserAgents []string
}

// maxSources bounds the per-source table: a flood with spoofed sources
// cannot grow it without bound. Beyond it, idle entries are swept.
const maxSources = 65536

type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) take(now time.Time, rate float64, burst int) bool {
	if b.last.IsZero() {
		b.tokens = float64(burst)
	} else {
		b.tokens = min(float64(burst), b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

type sourceState struct {
	invite, options, other bucket
	calls                  int
	seen                   time.Time
}

// limiter keeps the per-source token buckets and call counts.
type limiter struct {
	cfg Limits
	now func() time.Time

	mu      sync.Mutex
	sources map[netip.Addr]*sourceState
}

func newLimiter(cfg Limits) *limiter {
	for i, ua := range cfg.DropUserAgents {
		cfg.DropUserAgents[i] = strings.ToLower(ua)
	}
	return &limiter{cfg: cfg, now: time.Now, sources: map[netip.Addr]*sourceState{}}
}

func (l *limiter) exempt(a netip.Addr) bool {
	for _, p := range l.cfg.Allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// scanner reports whether a User-Agent belongs to a known SIP scanner.
func (l *limiter) scanner(ua string) bool {
	if ua == "" {
		return false
	}
	ua = strings.ToLower(ua)
	for _, s := range l.cfg.DropUserAgents {
		if s != "" && strings.Contains(ua, s) {
			return true
		}
	}
	return false
}

// state returns a source's entry; l.mu is held.
func (l *limiter) state(a netip.Addr, now time.Time) *sourceState {
	s := l.sources[a]
	if s == nil {
		if len(l.sources) >= maxSources {
			l.sweep(now)
		}
		s = &sourceState{}
		l.sources[a] = s
	}
	s.seen = now
	return s
}

// sweep forgets sources idle for a minute that hold no call; if that frees
// too little (a spoofed flood), it forgets every idle one.
func (l *limiter) sweep(now time.Time) {
	for a, s := range l.sources {
		if s.calls == 0 && now.Sub(s.seen) > time.Minute {
			delete(l.sources, a)
		}
	}
	if len(l.sources) >= maxSources {
		for a, s := range l.sources {
			if s.calls == 0 {
				delete(l.sources, a)
			}
		}
	}
}

// allow takes one request of method from a source and reports whether it
// is within the rate.
func (l *limiter) allow(a netip.Addr, method string) bool {
	if !a.IsValid() || l.exempt(a) {
		return true
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.state(a, now)
	switch method {
	case "INVITE":
		return s.invite.take(now, l.cfg.InviteRate, l.cfg.InviteBurst)
	case "OPTIONS":
		return s.options.take(now, l.cfg.OptionsRate, l.cfg.OptionsBurst)
	case "ACK", "BYE", "CANCEL":
		// Ending or completing calls is never throttled: a caller must
		// always be able to hang up.
		return true
	default:
		return s.other.take(now, l.cfg.RequestRate, l.cfg.RequestBurst)
	}
}

// startCall counts a call from a source; false when the source is at its cap.
func (l *limiter) startCall(a netip.Addr) bool {
	if !a.IsValid() || l.exempt(a) || l.cfg.CallsPerSource <= 0 {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.state(a, l.now())
	if s.calls >= l.cfg.CallsPerSource {
		return false
	}
	s.calls++
	return true
}

// endCall releases a call counted by startCall.
func (l *limiter) endCall(a netip.Addr) {
	if !a.IsValid() || l.exempt(a) || l.cfg.CallsPerSource <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.sources[a]; s != nil && s.calls > 0 {
		s.calls--
	}
}
