package room

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"vmrd/internal/metrics"
)

// Config builds a Manager.
type Config struct {
	// Lookup returns the settings of a configured room. It is called on
	// every join, so a reloaded configuration applies to new joins.
	Lookup func(Number) (Settings, bool)
	// NewMixer makes the audio mixer of a room when it becomes active.
	NewMixer func(Settings) (Mixer, error)
	// NewVideoMixer makes the compositor of a room; nil (or a nil result)
	// means audio only.
	NewVideoMixer func(Settings) (VideoMixer, error)
	// NewStreamer makes a large room's stream; it gets the room's mixers
	// (the stream hears and sees the meeting) and reports state changes
	// through report, from any goroutine. nil, or a nil result, means the
	// room does not stream.
	NewStreamer func(s Settings, audio Mixer, video VideoMixer, report func(StreamStatus)) (Streamer, error)
	// Verifier checks PINs. Required for rooms with PINs.
	Verifier Verifier
	// UnknownAsDecoy answers unknown numbers like a PIN room whose PIN is
	// never right (security.unknown_rooms: pin); otherwise they are refused
	// with ErrNoSuchRoom.
	UnknownAsDecoy bool
	// DecoyLanguage is the prompt language of decoy rooms.
	DecoyLanguage string
	// Audit receives audit events; may be nil. Called from room actors: it
	// must not block for long.
	Audit   func(AuditEvent)
	Metrics *metrics.Metrics // may be nil
	Logger  *slog.Logger
	// Clock and AfterFunc are for tests; nil uses the time package.
	Clock     func() time.Time
	AfterFunc func(time.Duration, func()) (stop func() bool)
}

// Timing of the voice menu.
const (
	maxPINTries    = 3                // RFC-less but universal: three tries a call
	ivrTimeout     = 2 * time.Minute  // no PIN at all by then: goodbye
	digitTimeout   = 10 * time.Second // a PIN without its '#' is taken after this
	commandTimeout = 3 * time.Second  // '*' or '#' waits this long for its second key
	leaveTimeout   = 15 * time.Second // a farewell prompt that never ends
	subscriberBuf  = 256
)

// Manager finds rooms by number and runs one actor per active room. A room
// is active while it has participants.
type Manager struct {
	cfg    Config
	log    *slog.Logger
	nextID atomic.Uint64

	mu     sync.Mutex
	rooms  map[Number]*Room
	closed bool
	wg     sync.WaitGroup
}

// NewManager makes a manager.
func NewManager(cfg Config) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.AfterFunc == nil {
		cfg.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	if cfg.DecoyLanguage == "" {
		cfg.DecoyLanguage = "nb"
	}
	return &Manager{cfg: cfg, log: cfg.Logger, rooms: map[Number]*Room{}}
}

// Lookup returns a configured room's settings.
func (m *Manager) Lookup(n Number) (Settings, bool) { return m.cfg.Lookup(n) }

// Exists reports whether a call to n is answered: a configured room, or any
// number when unknown numbers get a decoy.
func (m *Manager) Exists(n Number) bool {
	_, ok := m.cfg.Lookup(n)
	return ok || m.cfg.UnknownAsDecoy
}

func (m *Manager) newID() ParticipantID {
	return ParticipantID(strconv.FormatUint(m.nextID.Add(1), 10))
}

// settingsFor returns the settings a caller to n gets, a decoy for an
// unknown number when configured so.
func (m *Manager) settingsFor(n Number) (Settings, bool) {
	if s, ok := m.cfg.Lookup(n); ok {
		return s, true
	}
	if !m.cfg.UnknownAsDecoy {
		return Settings{}, false
	}
	return Settings{Number: n, Name: "Room " + string(n), MaxParticipants: 1, Type: PIN,
		Language: m.cfg.DecoyLanguage, Decoy: true}, true
}

// Join adds a caller to its room, starting the room's actor if the room
// was empty. Callers to a decoy each get a room of their own.
func (m *Manager) Join(ctx context.Context, req JoinRequest) (*Participant, error) {
	settings, ok := m.settingsFor(req.Number)
	if !ok {
		return nil, ErrNoSuchRoom
	}
	if req.Protocol == "" {
		req.Protocol = "sip"
	}
	for {
		r, err := m.active(settings)
		if err != nil {
			return nil, err
		}
		p, err := r.join(ctx, req, m.newID(), nil, settings)
		if errors.Is(err, errRoomStopping) {
			// The room emptied and stopped between our lookup and our
			// command; the next pass starts a new actor.
			continue
		}
		return p, err
	}
}

// JoinAPI checks a PIN and adds a control-only participant (protocol "api")
// with the role the PIN gives. An unknown room, a wrong PIN and a blocked
// room or source all give ErrBadPIN after the same work.
func (m *Manager) JoinAPI(ctx context.Context, number, pin, displayName, source string) (*Participant, error) {
	n := Number(number)
	settings, known := m.cfg.Lookup(n)
	role := Guest
	if !known || settings.Type != Open {
		if m.cfg.Verifier == nil {
			return nil, ErrBadPIN
		}
		if !known {
			settings = Settings{Number: n, Type: PIN, Decoy: true}
		}
		var err error
		role, err = m.cfg.Verifier.Verify(ctx, settings, source, pin)
		if err != nil {
			m.audit(AuditEvent{Kind: "pin_failure", Room: n, Source: source, Protocol: "api"})
			return nil, ErrBadPIN
		}
		if !known {
			return nil, ErrBadPIN // a verifier must never accept a decoy; be sure
		}
	}
	req := JoinRequest{Number: n, DisplayName: displayName, Source: source, Protocol: "api"}
	for {
		r, err := m.active(settings)
		if err != nil {
			return nil, err
		}
		p, err := r.join(ctx, req, m.newID(), &role, settings)
		if errors.Is(err, errRoomStopping) {
			continue
		}
		return p, err
	}
}

func (m *Manager) audit(e AuditEvent) {
	if m.cfg.Audit == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = m.cfg.Clock()
	}
	m.cfg.Audit(e)
}

// active returns the running actor of a room, starting one if needed.
func (m *Manager) active(s Settings) (*Room, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	key := s.Number
	if s.Decoy {
		key = Number(string(s.Number) + "/decoy/" + string(m.newID()))
	} else if r, ok := m.rooms[key]; ok && !r.stopping.Load() {
		return r, nil
	}
	mixer, err := m.cfg.NewMixer(s)
	if err != nil {
		return nil, fmt.Errorf("room %s: start mixer: %w", s.Number, err)
	}
	var video VideoMixer = noVideo{}
	// Decoys get a compositor too: a call to an unknown number must look
	// like one to a PIN room, video answer and PIN slate included.
	if m.cfg.NewVideoMixer != nil {
		v, err := m.cfg.NewVideoMixer(s)
		if err != nil {
			_ = mixer.Close()
			return nil, fmt.Errorf("room %s: start compositor: %w", s.Number, err)
		}
		if v != nil {
			video = v
		}
	}
	r := newRoom(s, mixer, video, m, m.log.With("room", string(s.Number)))
	if m.cfg.NewStreamer != nil && s.Type == Large && !s.Decoy {
		st, err := m.cfg.NewStreamer(s, mixer, video, r.streamReport)
		if err != nil {
			_ = video.Close()
			_ = mixer.Close()
			return nil, fmt.Errorf("room %s: stream: %w", s.Number, err)
		}
		r.streamer = st
	}
	m.rooms[key] = r
	if m.cfg.Metrics != nil && !s.Decoy {
		m.cfg.Metrics.RoomsActive.Add(1)
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		r.run()
		m.mu.Lock()
		if m.rooms[key] == r {
			delete(m.rooms, key)
		}
		m.mu.Unlock()
		if m.cfg.Metrics != nil && !s.Decoy {
			m.cfg.Metrics.RoomsActive.Add(-1)
		}
	}()
	return r, nil
}

// Snapshot lists the active (non-decoy) rooms and their participant counts.
func (m *Manager) Snapshot() map[Number]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[Number]int, len(m.rooms))
	for _, r := range m.rooms {
		if !r.decoy {
			out[r.number] = int(r.count.Load())
		}
	}
	return out
}

// Close disconnects every participant, stops every room and waits.
func (m *Manager) Close() error {
	m.mu.Lock()
	m.closed = true
	rooms := make([]*Room, 0, len(m.rooms))
	for _, r := range m.rooms {
		rooms = append(rooms, r)
	}
	m.mu.Unlock()
	for _, r := range rooms {
		r.shutdown()
	}
	m.wg.Wait()
	return nil
}
