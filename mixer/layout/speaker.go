package layout

import "time"

// Speaker tracking defaults. The audio mixer's Speaking flag already needs
// 60 ms of voice to turn on and 500 ms of quiet to turn off; on top of it:
const (
	// DefaultActivate: a participant must speak for a second without a
	// break before they take the main cell, so a cough, a laugh or a
	// "yes" does not move the picture.
	DefaultActivate = time.Second
	// DefaultHold: once someone took the main cell, nobody else does for
	// two seconds, so two people talking over each other do not make the
	// layout flap between them several times a second.
	DefaultHold = 2 * time.Second
	// bridge: a quiet spell shorter than this does not break a run of
	// speech, for speaking flags without a hangover of their own.
	bridge = 300 * time.Millisecond
	// maxHistory bounds the remembered speakers; a layout shows at most
	// MaxCells of them.
	maxHistory = 2 * MaxCells
)

type speakerState struct {
	speaking  bool
	since     time.Time // start of the current run of speech
	lastVoice time.Time // last time seen speaking
}

// SpeakerTracker turns per-tick speaking flags into a stable order of
// recent speakers for Select. It is owned by one goroutine (the
// compositor's tick) and is not safe for concurrent use. Once every
// participant has been observed, Observe and Step do not allocate.
type SpeakerTracker[ID comparable] struct {
	activate, hold time.Duration
	state          map[ID]speakerState
	recent         []ID // most recent first
	promoted       time.Time
}

// NewSpeakerTracker returns a tracker; activate and hold of zero or less
// take DefaultActivate and DefaultHold.
func NewSpeakerTracker[ID comparable](activate, hold time.Duration) *SpeakerTracker[ID] {
	if activate <= 0 {
		activate = DefaultActivate
	}
	if hold <= 0 {
		hold = DefaultHold
	}
	return &SpeakerTracker[ID]{activate: activate, hold: hold, state: make(map[ID]speakerState)}
}

// Observe records whether id is speaking at now. Call it for every
// participant each tick, then Step.
func (t *SpeakerTracker[ID]) Observe(id ID, speaking bool, now time.Time) {
	s := t.state[id]
	switch {
	case speaking && !s.speaking:
		if s.lastVoice.IsZero() || now.Sub(s.lastVoice) > bridge {
			s.since = now
		}
		s.speaking = true
		s.lastVoice = now
	case speaking:
		s.lastVoice = now
	case s.speaking && now.Sub(s.lastVoice) > bridge:
		s.speaking = false
	}
	t.state[id] = s
}

// Step promotes at most one participant to the front of Recent: the one
// who has spoken longest without a break, once that is at least the
// activation time, and only when the last promotion is at least the hold
// time ago. It reports whether the order changed.
func (t *SpeakerTracker[ID]) Step(now time.Time) bool {
	if !t.promoted.IsZero() && now.Sub(t.promoted) < t.hold {
		return false
	}
	var best ID
	var bestSince time.Time
	found := false
	for id, s := range t.state {
		if !s.speaking || now.Sub(s.since) < t.activate {
			continue
		}
		// Ties go to the smaller run start; map order must not decide.
		if !found || s.since.Before(bestSince) {
			best, bestSince, found = id, s.since, true
		}
	}
	if !found || (len(t.recent) > 0 && t.recent[0] == best) {
		return false
	}
	t.toFront(best)
	t.promoted = now
	return true
}

func (t *SpeakerTracker[ID]) toFront(id ID) {
	i := 0
	for i < len(t.recent) && t.recent[i] != id {
		i++
	}
	if i == len(t.recent) {
		if len(t.recent) < maxHistory {
			var zero ID
			t.recent = append(t.recent, zero)
		} else {
			i = len(t.recent) - 1 // forget the least recent
		}
	}
	copy(t.recent[1:i+1], t.recent[:i])
	t.recent[0] = id
}

// Recent returns the speakers, most recent first. The slice is the
// tracker's own: valid until the next Step or Forget.
func (t *SpeakerTracker[ID]) Recent() []ID { return t.recent }

// Active returns the current speaker: the most recent one, while they are
// still speaking or stopped less than the hold time ago.
func (t *SpeakerTracker[ID]) Active(now time.Time) (ID, bool) {
	var zero ID
	if len(t.recent) == 0 {
		return zero, false
	}
	id := t.recent[0]
	s := t.state[id]
	if s.speaking || (!s.lastVoice.IsZero() && now.Sub(s.lastVoice) < t.hold) {
		return id, true
	}
	return zero, false
}

// Replace gives old's history and place among the recent speakers to id
// (the same participant under a new identity: its video arrived or ended).
func (t *SpeakerTracker[ID]) Replace(old, id ID) {
	if s, ok := t.state[old]; ok {
		delete(t.state, old)
		t.state[id] = s
	}
	for i, x := range t.recent {
		if x == old {
			t.recent[i] = id
		}
	}
}

// Forget drops a participant who left.
func (t *SpeakerTracker[ID]) Forget(id ID) {
	delete(t.state, id)
	for i, x := range t.recent {
		if x == id {
			t.recent = append(t.recent[:i], t.recent[i+1:]...)
			break
		}
	}
}
