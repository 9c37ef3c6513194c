package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"vmrd/internal/room"
)

// writeWait bounds each write of an event stream, so a stalled client
// cannot hold the handler; it also lifts the server's whole-response
// WriteTimeout for the long-lived stream.
const writeWait = 10 * time.Second

// Stream-only event names, beside room.EventType's.
const (
	eventSyncBegin  = "participant_sync_begin" // before the initial participant list
	eventSyncEnd    = "participant_sync_end"   // after it
	eventDisconnect = "disconnect"             // last event: why the stream ends
)

// disconnectData is the data of the disconnect event.
type disconnectData struct {
	Reason string `json:"reason"`
}

// eventStream writes server-sent events (HTML Living Standard, "Server-sent
// events": "event:" and "data:" lines, a blank line ends an event, lines
// starting with ":" are comments).
type eventStream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (e *eventStream) deadline() {
	// Not every ResponseWriter supports deadlines (httptest's recorder);
	// the stream works without them.
	_ = e.rc.SetWriteDeadline(time.Now().Add(writeWait))
}

func (e *eventStream) send(name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	e.deadline()
	// json.Marshal output has no newlines, so one data line suffices.
	if _, err := fmt.Fprintf(e.w, "event: %s\ndata: %s\n\n", name, data); err != nil {
		return err
	}
	return e.rc.Flush()
}

func (e *eventStream) comment(text string) error {
	e.deadline()
	if _, err := fmt.Fprintf(e.w, ": %s\n\n", text); err != nil {
		return err
	}
	return e.rc.Flush()
}

// events streams the room's state and then its changes until the session
// ends (release, expiry, disconnection), the client goes or the API
// closes. The token comes in the "token" header or, for browsers'
// EventSource which cannot set headers, in the "token" query parameter.
func (a *ClientAPI) events(w http.ResponseWriter, r *http.Request) {
	tok := r.Header.Get("token")
	if tok == "" {
		tok = r.URL.Query().Get("token")
	}
	s, _, err := a.authenticate(r, tok)
	if err != nil {
		writeFailure(w, err)
		return
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		writeFailure(w, ErrShuttingDown)
		return
	}
	a.streams.Add(1)
	a.mu.Unlock()
	defer a.streams.Done()

	// Subscribe before reading the state so no change falls between the
	// two; a change may then show twice, which updates are made to bear.
	ch, cancel := s.actor.Subscribe()
	defer cancel()
	conf, err := s.actor.Conference()
	var list []room.Info
	if err == nil {
		list, err = s.actor.Participants()
		if errors.Is(err, room.ErrNotHost) {
			list, err = nil, nil // the room shows this role no roster
		}
	}
	if err != nil {
		if errors.Is(err, room.ErrGone) {
			a.tokens.end(s, "participant has left")
		}
		writeFailure(w, err)
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Accel-Buffering", "no") // a buffering proxy would hold events back
	w.WriteHeader(http.StatusOK)
	es := &eventStream{w: w, rc: http.NewResponseController(w)}
	log := a.log.With("room", s.number, "participant", s.id)
	log.Debug("api event stream open")
	reason, err := a.stream(r, es, s, ch, conf, list)
	if err != nil {
		log.Debug("api event stream write failed", "err", err)
		return
	}
	if reason != "" {
		_ = es.send(eventDisconnect, disconnectData{Reason: reason})
	}
	log.Debug("api event stream closed", "reason", reason)
}

// stream writes the initial state and then the events; it returns why the
// stream ended ("" if the client went) or a write error.
func (a *ClientAPI) stream(r *http.Request, es *eventStream, s *session, ch <-chan room.Event, conf room.ConferenceInfo, list []room.Info) (string, error) {
	if err := es.send(string(room.ConferenceUpdate), conf); err != nil {
		return "", err
	}
	if err := es.send(eventSyncBegin, struct{}{}); err != nil {
		return "", err
	}
	for _, p := range list {
		if err := es.send(string(room.ParticipantCreate), visible(s.role, p)); err != nil {
			return "", err
		}
	}
	if err := es.send(eventSyncEnd, struct{}{}); err != nil {
		return "", err
	}
	keep := time.NewTicker(a.keepAlive)
	defer keep.Stop()
	for {
		select {
		case <-r.Context().Done():
			return "", nil
		case <-s.done:
			return s.reason, nil
		case <-a.closing:
			return "server shutting down", nil
		case <-keep.C:
			if err := es.comment("keepalive"); err != nil {
				return "", err
			}
		case ev, ok := <-ch:
			if !ok {
				// The participant left the room (disconnected by a
				// host, meeting ended): the session ends with it.
				select {
				case <-s.done:
					return s.reason, nil
				default:
				}
				if a.tokens.end(s, "disconnected") {
					a.log.Info("api participant disconnected", "room", s.number, "participant", s.id)
				}
				return "disconnected", nil
			}
			if err := sendEvent(es, s.role, ev); err != nil {
				return "", err
			}
		}
	}
}

// sendEvent writes one room event; an event without its payload is
// skipped rather than sent as null.
func sendEvent(es *eventStream, role room.Role, ev room.Event) error {
	switch ev.Type {
	case room.ConferenceUpdate:
		if ev.Conference == nil {
			return nil
		}
		return es.send(string(ev.Type), ev.Conference)
	case room.ParticipantCreate, room.ParticipantUpdate, room.ParticipantDelete:
		if ev.Participant == nil {
			return nil
		}
		return es.send(string(ev.Type), visible(role, *ev.Participant))
	default:
		return nil
	}
}
