package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"vmrd/internal/room"
)

// decode unmarshals an event's data.
func decode[T any](t *testing.T, data string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(data), &v); err != nil {
		t.Fatalf("event data %q: %v", data, err)
	}
	return v
}

func TestEventsInitialStateThenChangesUntilRelease(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	h.rooms.addParticipant("1001", lobbyGuest)
	host := h.token("1001", hostPIN)
	a := h.rooms.actor(0)
	s := h.events("1001", host.Token)
	if got := s.res.Header.Get("Cache-Control"); got != "no-store" {
		t.Fatalf("Cache-Control %q", got)
	}

	conf := decode[room.ConferenceInfo](t, s.expect("conference_update"))
	if conf.Number != "1001" || conf.Locked {
		t.Fatalf("initial conference %+v", conf)
	}
	s.expect("participant_sync_begin")
	if p := decode[room.Info](t, s.expect("participant_create")); p != lobbyGuest {
		t.Fatalf("first participant %+v", p)
	}
	if p := decode[room.Info](t, s.expect("participant_create")); p.ID != host.ParticipantUUID {
		t.Fatalf("second participant %+v", p)
	}
	s.expect("participant_sync_end")

	// Later changes, in order.
	eventually(t, "subscription", func() bool { return a.subCount() == 1 })
	admitted := lobbyGuest
	admitted.State = "in"
	h.rooms.publish("1001", room.Event{Type: room.ParticipantUpdate, Participant: &admitted})
	h.rooms.publish("1001", room.Event{Type: room.ConferenceUpdate, Conference: &room.ConferenceInfo{Number: "1001", Locked: true}})
	h.rooms.publish("1001", room.Event{Type: room.ConferenceUpdate}) // no payload: skipped
	h.rooms.publish("1001", room.Event{Type: room.ParticipantDelete, Participant: &admitted})
	if p := decode[room.Info](t, s.expect("participant_update")); p.State != "in" {
		t.Fatalf("update %+v", p)
	}
	if c := decode[room.ConferenceInfo](t, s.expect("conference_update")); !c.Locked {
		t.Fatalf("conference update %+v", c)
	}
	if p := decode[room.Info](t, s.expect("participant_delete")); p.ID != "sip1" {
		t.Fatalf("delete %+v", p)
	}

	// Release ends the stream with a disconnect event.
	h.do("POST", path("1001", "release_token"), "", "token", host.Token).want(t, 200, "")
	if d := decode[disconnectData](t, s.expect("disconnect")); d.Reason != "token released" {
		t.Fatalf("disconnect %+v", d)
	}
	s.expectEnd()
	eventually(t, "unsubscribe", func() bool { return a.subCount() == 0 })
}

func TestEventsHideSourcesFromGuests(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	h.rooms.addParticipant("1001", lobbyGuest)
	guest := h.token("1001", guestPIN)
	s := h.events("1001", guest.Token)
	s.expect("conference_update")
	s.expect("participant_sync_begin")
	if p := decode[room.Info](t, s.expect("participant_create")); p.ID != "sip1" || p.Source != "" {
		t.Fatalf("guest sees %+v", p)
	}
	s.expect("participant_create")
	s.expect("participant_sync_end")
	eventually(t, "subscription", func() bool { return h.rooms.actor(0).subCount() == 1 })
	h.rooms.publish("1001", room.Event{Type: room.ParticipantCreate, Participant: &room.Info{ID: "sip9", Source: "198.51.100.1"}})
	if data := s.expect("participant_create"); strings.Contains(data, "198.51.100.1") {
		t.Fatalf("guest sees a source: %s", data)
	}
}

// The stream ends when the room removes the participant, and the token
// dies with it.
func TestEventsEndWhenDisconnected(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	host := h.token("1001", hostPIN)
	// The token in the query, as a browser's EventSource sends it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	req, _ := http.NewRequestWithContext(ctx, "GET", h.srv.URL+path("1001", "events")+"?token="+host.Token, nil)
	s := h.openEvents(req, cancel)
	s.expect("conference_update")
	s.expect("participant_sync_begin")
	s.expect("participant_create")
	s.expect("participant_sync_end")
	h.rooms.actor(0).Leave("disconnected by host")
	if d := decode[disconnectData](t, s.expect("disconnect")); d.Reason != "disconnected" {
		t.Fatalf("disconnect %+v", d)
	}
	s.expectEnd()
	h.do("POST", path("1001", "lock"), "", "token", host.Token).want(t, 403, "Invalid token")
}

func TestEventsEndOnExpiry(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	host := h.token("1001", hostPIN)
	s := h.events("1001", host.Token)
	s.expect("conference_update")
	h.clock.Advance(2 * time.Minute)
	h.api.expireNow()
	s.expect("participant_sync_begin")
	s.expect("participant_create")
	s.expect("participant_sync_end")
	if d := decode[disconnectData](t, s.expect("disconnect")); d.Reason != "token expired" {
		t.Fatalf("disconnect %+v", d)
	}
	s.expectEnd()
	if r := h.rooms.actor(0).leftReason(); r != "token expired" {
		t.Fatalf("leave reason %q", r)
	}
}

// A refreshed token keeps the stream opened with the old one.
func TestEventsSurviveRefresh(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	host := h.token("1001", hostPIN)
	s := h.events("1001", host.Token)
	s.expect("conference_update")
	s.expect("participant_sync_begin")
	s.expect("participant_create")
	s.expect("participant_sync_end")
	h.do("POST", path("1001", "refresh_token"), "", "token", host.Token).want(t, 200, "")
	eventually(t, "subscription", func() bool { return h.rooms.actor(0).subCount() == 1 })
	h.rooms.publish("1001", room.Event{Type: room.ConferenceUpdate, Conference: &room.ConferenceInfo{Number: "1001", GuestsMuted: true}})
	if c := decode[room.ConferenceInfo](t, s.expect("conference_update")); !c.GuestsMuted {
		t.Fatalf("update %+v", c)
	}
}

func TestEventsKeepAlive(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	h.api.keepAlive = 5 * time.Millisecond // before any stream reads it
	host := h.token("1001", hostPIN)
	s := h.events("1001", host.Token)
	for {
		name, data := s.next(true)
		if name == ":" {
			if data != "keepalive" {
				t.Fatalf("comment %q", data)
			}
			break
		}
		if name == "" {
			t.Fatal("stream ended without a keep-alive")
		}
	}
}

func TestEventsEndOnClose(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	s1 := h.events("1001", h.token("1001", hostPIN).Token)
	s2 := h.events("1002", h.token("1002", guestPIN).Token)
	for _, s := range []*sse{s1, s2} {
		s.expect("conference_update")
	}
	h.api.Close() // returns only when both streams have ended
	for _, s := range []*sse{s1, s2} {
		s.expect("participant_sync_begin")
		s.expect("participant_create")
		s.expect("participant_sync_end")
		if d := decode[disconnectData](t, s.expect("disconnect")); d.Reason != "server shutting down" {
			t.Fatalf("disconnect %+v", d)
		}
		s.expectEnd()
	}
}

// A client that goes away ends its stream but not its session.
func TestEventsClientGoes(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	host := h.token("1001", hostPIN)
	a := h.rooms.actor(0)
	s := h.events("1001", host.Token)
	s.expect("conference_update")
	eventually(t, "subscription", func() bool { return a.subCount() == 1 })
	s.close()
	eventually(t, "unsubscribe", func() bool { return a.subCount() == 0 })
	if r := a.leftReason(); r != "" {
		t.Fatalf("left %q when the stream closed", r)
	}
	h.do("POST", path("1001", "lock"), "", "token", host.Token).want(t, 200, "")
}

func TestEventsRefused(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	host := h.token("1001", hostPIN)
	h.do("GET", path("1002", "events"), "", "token", host.Token).want(t, 403, "Invalid token")
	h.do("GET", path("1001", "events"), "").want(t, 403, "Invalid token")
	h.do("POST", path("1001", "events"), "", "token", host.Token).want(t, 405, "Method not allowed")
	h.rooms.actor(0).Leave("gone")
	h.do("GET", path("1001", "events"), "", "token", host.Token).want(t, 403, "Participant has left")
	h.do("GET", path("1001", "events"), "", "token", host.Token).want(t, 403, "Invalid token")
	if n := h.rooms.actor(0).subCount(); n != 0 {
		t.Fatalf("%d subscriptions left", n)
	}
}
