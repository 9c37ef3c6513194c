package api

import (
	"errors"
	"testing"
	"time"
)

// TestMediaSession: a media leg finds a token's participant; ending it
// makes the participant leave and kills the token; tokens of other rooms,
// unknown and expired tokens are refused alike.
func TestMediaSession(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	tr := h.token("1001", hostPIN)

	for _, tc := range []struct{ name, number, token string }{
		{"unknown token", "1001", "nope"},
		{"other room", "1002", tr.Token},
		{"empty", "1001", ""},
	} {
		if _, err := h.api.MediaSession(tc.number, tc.token); !errors.Is(err, ErrInvalidToken) {
			t.Fatalf("%s: err = %v, want ErrInvalidToken", tc.name, err)
		}
	}

	ms, err := h.api.MediaSession("1001", tr.Token)
	if err != nil {
		t.Fatal(err)
	}
	if ms.Actor.ID() != tr.ParticipantUUID {
		t.Fatalf("actor %s, want %s", ms.Actor.ID(), tr.ParticipantUUID)
	}
	select {
	case <-ms.Done:
		t.Fatal("session done before it ended")
	default:
	}
	ms.End("browser left")
	select {
	case <-ms.Done:
	case <-time.After(5 * time.Second):
		t.Fatal("session not done after End")
	}
	if got := h.rooms.actor(0).leftReason(); got != "browser left" {
		t.Fatalf("participant left with %q, want %q", got, "browser left")
	}
	h.do("GET", path("1001", "participants"), "", "token", tr.Token).want(t, 403, "Invalid token")
	ms.End("again") // idempotent

	// An expired token is refused and its participant leaves.
	tr2 := h.token("1001", guestPIN)
	h.clock.Advance(DefaultTokenTTL + time.Second)
	if _, err := h.api.MediaSession("1001", tr2.Token); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("expired token: err = %v", err)
	}
	if got := h.rooms.actor(1).leftReason(); got != "token expired" {
		t.Fatalf("expired participant left with %q", got)
	}
}
