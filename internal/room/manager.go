package room

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"

	"vmrd/internal/metrics"
)

// Config builds a Manager.
type Config struct {
	// Lookup returns the settings of a configured room. It is called on
	// every join, so a reloaded configuration applies to new joins.
	Lookup func(Number) (Settings, bool)
	// NewMixer makes the audio mixer of a room when it becomes active.
	NewMixer func(Settings) (Mixer, error)
	Metrics  *metrics.Metrics // may be nil
	Logger   *slog.Logger
}

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
	return &Manager{cfg: cfg, log: cfg.Logger, rooms: map[Number]*Room{}}
}

// Lookup returns a configured room's settings.
func (m *Manager) Lookup(n Number) (Settings, bool) { return m.cfg.Lookup(n) }

// Join adds a caller to its room, starting the room's actor if the room
// was empty.
func (m *Manager) Join(ctx context.Context, req JoinRequest) (*Participant, error) {
	settings, ok := m.cfg.Lookup(req.Number)
	if !ok {
		return nil, ErrNoSuchRoom
	}
	for {
		r, err := m.active(settings)
		if err != nil {
			return nil, err
		}
		p, err := r.join(ctx, req, ParticipantID(strconv.FormatUint(m.nextID.Add(1), 10)))
		if errors.Is(err, errRoomStopping) {
			// The room emptied and stopped between our lookup and our
			// command; the next pass starts a new actor.
			continue
		}
		return p, err
	}
}

// active returns the running actor of a room, starting one if needed.
func (m *Manager) active(s Settings) (*Room, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if r, ok := m.rooms[s.Number]; ok && !r.stopping.Load() {
		return r, nil
	}
	mixer, err := m.cfg.NewMixer(s)
	if err != nil {
		return nil, fmt.Errorf("room %s: start mixer: %w", s.Number, err)
	}
	r := newRoom(s, mixer, m.cfg.Metrics, m.log.With("room", string(s.Number)))
	m.rooms[s.Number] = r
	if m.cfg.Metrics != nil {
		m.cfg.Metrics.RoomsActive.Add(1)
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		r.run()
		m.mu.Lock()
		if m.rooms[s.Number] == r {
			delete(m.rooms, s.Number)
		}
		m.mu.Unlock()
		if m.cfg.Metrics != nil {
			m.cfg.Metrics.RoomsActive.Add(-1)
		}
	}()
	return r, nil
}

// Snapshot lists the active rooms and their participant counts.
func (m *Manager) Snapshot() map[Number]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[Number]int, len(m.rooms))
	for n, r := range m.rooms {
		out[n] = int(r.count.Load())
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
