package service

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"vmrd/internal/pin"
	"vmrd/internal/room"
)

// auditLog appends audit events to a file as JSON lines. The file is opened
// for appending only; vmrd never rewrites it. Events never carry a PIN.
type auditLog struct {
	mu  sync.Mutex
	f   *os.File
	log *slog.Logger
}

func openAudit(path string, log *slog.Logger) (*auditLog, error) {
	if path == "" {
		return &auditLog{log: log}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return &auditLog{f: f, log: log}, nil
}

// Room writes one room event.
func (a *auditLog) Room(e room.AuditEvent) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	a.write(e)
}

// PIN writes one event of the PIN limiter (failures are written by the
// room, which knows the participant; blocks come from here).
func (a *auditLog) PIN(e pin.Event) {
	if e.Kind == pin.EventPINFailure {
		return
	}
	a.log.Warn("PIN entry blocked", "event", string(e.Kind), "room", e.Room, "source", e.Source)
	a.write(room.AuditEvent{Time: e.Time, Kind: string(e.Kind), Room: room.Number(e.Room), Source: e.Source})
}

func (a *auditLog) write(v any) {
	if a.f == nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	b = append(b, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, err := a.f.Write(b); err != nil {
		a.log.Error("audit log write failed", "err", err)
	}
}

func (a *auditLog) Close() error {
	if a.f == nil {
		return nil
	}
	return a.f.Close()
}
