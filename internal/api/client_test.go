package api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"vmrd/internal/room"
)

func TestRequestToken(t *testing.T) {
	checkLeaks(t)
	tests := []struct {
		name     string
		body     string
		headers  []string
		wantRole string
		wantName string
	}{
		{"host PIN in body", `{"display_name":"Alice","pin":"` + hostPIN + `"}`, nil, "HOST", "Alice"},
		{"guest PIN in body", `{"display_name":"Alice","pin":"` + guestPIN + `"}`, nil, "GUEST", "Alice"},
		{"PIN in header", `{"display_name":"Alice"}`, []string{"pin", hostPIN}, "HOST", "Alice"},
		{"body PIN wins over header", `{"display_name":"Alice","pin":"` + guestPIN + `"}`, []string{"pin", hostPIN}, "GUEST", "Alice"},
		{"name trimmed, unknown fields ignored", `{"display_name":"  Dr. Ås  ","pin":"` + hostPIN + `","call_tag":"x"}`, nil, "HOST", "Dr. Ås"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			var tr tokenResult
			h.do("POST", path("1001", "request_token"), tt.body, tt.headers...).want(t, 200, "").into(t, &tr)
			raw, err := base64.RawURLEncoding.DecodeString(tr.Token)
			if err != nil || len(raw) != 32 {
				t.Fatalf("token %q is not 256 bits of base64url (%v)", tr.Token, err)
			}
			a := h.rooms.actor(0)
			if tr.Role != tt.wantRole || tr.DisplayName != tt.wantName || tr.Expires != "120" || tr.ParticipantUUID != a.id {
				t.Fatalf("result %+v", tr)
			}
			if got := h.rooms.join(0); got != "1001 "+tt.wantName+" 127.0.0.1" {
				t.Fatalf("join recorded %q", got)
			}
		})
	}
}

func TestRequestTokenTTLConfigurable(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t, func(c *ClientConfig) { c.TokenTTL = 30 * time.Second })
	if tr := h.token("1001", hostPIN); tr.Expires != "30" {
		t.Fatalf("expires %q, want 30", tr.Expires)
	}
}

// A wrong PIN, an unknown room and a malformed room number must not be
// told apart by status, body or headers.
func TestRequestTokenRefusalsLookAlike(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	body := `{"display_name":"Eve","pin":"0000"}`
	cases := map[string]string{
		"wrong PIN":        "1001",
		"unknown room":     "9999",
		"over-long number": strings.Repeat("9", 200),
	}
	var first response
	var firstName string
	for name, number := range cases {
		r := h.do("POST", path(number, "request_token"), body).want(t, 403, "Invalid PIN")
		r.header.Del("Date")
		if first.raw == "" {
			first, firstName = r, name
			continue
		}
		if r.raw != first.raw || fmt.Sprint(r.header) != fmt.Sprint(first.header) {
			t.Fatalf("%s answers %q %v; %s answers %q %v", name, r.raw, r.header, firstName, first.raw, first.header)
		}
	}
	if got := h.api.tokens.len(); got != 0 {
		t.Fatalf("%d sessions after refusals", got)
	}
}

func TestRequestTokenBadRequests(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	p := path("1001", "request_token")
	tests := []struct {
		name     string
		method   string
		body     string
		ctype    string
		wantCode int
		wantMsg  string
	}{
		{"form body", "POST", "display_name=x&pin=1", "application/x-www-form-urlencoded", 415, "Request body must be application/json"},
		{"text body", "POST", `{"display_name":"x"}`, "text/plain", 415, "Request body must be application/json"},
		{"no content type", "POST", `{"display_name":"x"}`, "", 415, "Request body must be application/json"},
		{"broken JSON", "POST", `{"display_name":`, "application/json", 400, "bad request: invalid JSON body"},
		{"trailing data", "POST", `{"display_name":"x"} {}`, "application/json", 400, "bad request: invalid JSON body"},
		{"array body", "POST", `["x"]`, "application/json", 400, "bad request: invalid JSON body"},
		{"wrong field type", "POST", `{"display_name":7}`, "application/json", 400, "bad request: invalid JSON body"},
		{"no body", "POST", "", "", 400, "bad request: display_name is required"},
		{"blank name", "POST", `{"display_name":"   ","pin":"1"}`, "application/json", 400, "bad request: display_name is required"},
		{"control character", "POST", `{"display_name":"a\u0007b"}`, "application/json", 400, "bad request: display_name has control characters"},
		{"bidi override", "POST", `{"display_name":"\u202eevil"}`, "application/json", 400, "bad request: display_name has control characters"},
		{"long name", "POST", `{"display_name":"` + strings.Repeat("å", 101) + `"}`, "application/json", 400, "bad request: display_name is longer than 100 characters"},
		{"huge body", "POST", `{"display_name":"` + strings.Repeat("a", 20<<10) + `"}`, "application/json", 413, "Request body too large"},
		{"GET", "GET", "", "", 405, "Method not allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := h.do(tt.method, p, tt.body, "Content-Type", tt.ctype).want(t, tt.wantCode, tt.wantMsg)
			if tt.wantCode == 405 && r.header.Get("Allow") != "POST" {
				t.Fatalf("Allow %q", r.header.Get("Allow"))
			}
		})
	}
	if n := h.rooms.joinCount(); n != 0 {
		t.Fatalf("%d joins from bad requests", n)
	}
}

// hostVerbs are the room-wide verbs only a host may use, with the call
// the fake records.
var hostVerbs = []struct{ verb, call string }{
	{"lock", "lock true"},
	{"unlock", "lock false"},
	{"muteguests", "muteguests true"},
	{"unmuteguests", "muteguests false"},
	{"disconnect", "end"},
	{"start_stream", "stream start"},
	{"stop_stream", "stream stop"},
}

func TestHostVerbs(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	host := h.token("1001", hostPIN)
	guest := h.token("1001", guestPIN)
	for _, v := range hostVerbs {
		t.Run(v.verb, func(t *testing.T) {
			var res bool
			h.do("POST", path("1001", v.verb), "", "token", host.Token).want(t, 200, "").into(t, &res)
			if !res {
				t.Fatal("result false")
			}
			if calls := h.rooms.actor(0).callLog(); calls[len(calls)-1] != v.call {
				t.Fatalf("calls %v, want last %q", calls, v.call)
			}
			h.do("POST", path("1001", v.verb), "", "token", guest.Token).want(t, 403, "Only a host may do this")
		})
	}
	// An empty JSON object is as good as no body.
	h.do("POST", path("1001", "lock"), "{}", "token", host.Token).want(t, 200, "")
	h.do("POST", path("1001", "lock"), "x", "token", host.Token, "Content-Type", "text/plain").want(t, 415, "Request body must be application/json")
	h.do("POST", path("1001", "lock"), "[", "token", host.Token).want(t, 400, "bad request: invalid JSON body")
	h.do("GET", path("1001", "lock"), "", "token", host.Token).want(t, 405, "Method not allowed")
}

func TestParticipantVerbs(t *testing.T) {
	checkLeaks(t)
	tests := []struct {
		name     string
		verb     string
		target   room.ParticipantID
		role     string // "host" or "guest" token
		wantCode int
		wantMsg  string
		wantCall string
	}{
		{"admit", "unlock", "sip1", "host", 200, "", "admit sip1"},
		{"reject", "reject", "sip1", "host", 200, "", "reject sip1"},
		{"mute", "mute", "sip1", "host", 200, "", "mute sip1 true"},
		{"unmute", "unmute", "sip1", "host", 200, "", "mute sip1 false"},
		{"disconnect", "disconnect", "sip1", "host", 200, "", "disconnect sip1"},
		{"spotlight on", "spotlighton", "sip2", "host", 200, "", "spotlight sip2 true"},
		{"spotlight off", "spotlightoff", "sip2", "host", 200, "", "spotlight sip2 false"},
		{"guest spotlights", "spotlighton", "sip2", "guest", 403, "Only a host may do this", "spotlight sip2 true"},
		{"admit one not waiting", "unlock", "sip2", "host", 409, "Participant is not waiting in the lobby", "admit sip2"},
		{"reject one not waiting", "reject", "sip2", "host", 409, "Participant is not waiting in the lobby", "reject sip2"},
		{"unknown participant", "mute", "nobody", "host", 404, "Participant not found", "mute nobody true"},
		{"unknown for disconnect", "disconnect", "nobody", "host", 404, "Participant not found", "disconnect nobody"},
		{"over-long id", "mute", room.ParticipantID(strings.Repeat("x", 200)), "host", 404, "Participant not found", ""},
		{"guest admits", "unlock", "sip1", "guest", 403, "Only a host may do this", "admit sip1"},
		{"guest mutes", "mute", "sip1", "guest", 403, "Only a host may do this", "mute sip1 true"},
		{"guest disconnects", "disconnect", "sip1", "guest", 403, "Only a host may do this", "disconnect sip1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.rooms.addParticipant("1001", lobbyGuest)
			h.rooms.addParticipant("1001", room.Info{ID: "sip2", DisplayName: "Carol", Role: "guest", State: "in", Protocol: "sip"})
			pin := hostPIN
			if tt.role == "guest" {
				pin = guestPIN
			}
			tok := h.token("1001", pin).Token
			h.do("POST", path("1001", "participants/"+string(tt.target)+"/"+tt.verb), "", "token", tok).want(t, tt.wantCode, tt.wantMsg)
			calls := h.rooms.actor(0).callLog()
			if tt.wantCall == "" {
				if len(calls) != 0 {
					t.Fatalf("calls %v, want none", calls)
				}
			} else if !slices.Contains(calls, tt.wantCall) {
				t.Fatalf("calls %v, want %q", calls, tt.wantCall)
			}
		})
	}
}

func TestParticipantsAndConference(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	h.rooms.addParticipant("1001", lobbyGuest)
	host := h.token("1001", hostPIN)
	guest := h.token("1001", guestPIN)

	var list []room.Info
	h.do("GET", path("1001", "participants"), "", "token", host.Token).want(t, 200, "").into(t, &list)
	if len(list) != 3 || list[0] != lobbyGuest || list[1].ID != host.ParticipantUUID || list[1].Protocol != "api" || list[1].Source != "127.0.0.1" {
		t.Fatalf("host sees %+v", list)
	}
	var guestList []room.Info // fresh: decoding into list would keep its sources
	h.do("GET", path("1001", "participants"), "", "token", guest.Token).want(t, 200, "").into(t, &guestList)
	if len(guestList) != 3 || guestList[0].ID != "sip1" || guestList[0].Source != "" || guestList[1].Source != "" {
		t.Fatalf("guest sees sources: %+v", guestList)
	}
	// The JSON names, as clients see them.
	r := h.do("GET", path("1001", "participants"), "", "token", host.Token)
	for _, key := range []string{`"uuid":"sip1"`, `"display_name":"Bob"`, `"state":"lobby"`, `"is_muted":false`, `"protocol":"sip"`, `"connect_time"`} {
		if !strings.Contains(r.raw, key) {
			t.Fatalf("participants JSON lacks %s: %s", key, r.raw)
		}
	}

	h.do("POST", path("1001", "lock"), "", "token", host.Token).want(t, 200, "")
	var conf room.ConferenceInfo
	h.do("GET", path("1001", "conference"), "", "token", guest.Token).want(t, 200, "").into(t, &conf)
	if conf != (room.ConferenceInfo{Number: "1001", Name: "Room 1001", Locked: true, HostPresent: true}) {
		t.Fatalf("conference %+v", conf)
	}
	h.do("POST", path("1001", "participants"), "", "token", host.Token).want(t, 405, "Method not allowed")
}

func TestTokenChecks(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	tok := h.token("1001", hostPIN).Token
	tests := []struct {
		name    string
		number  string
		headers []string
	}{
		{"no token", "1001", nil},
		{"unknown token", "1001", []string{"token", strings.Repeat("A", 43)}},
		{"over-long token", "1001", []string{"token", strings.Repeat(tok, 4)}},
		{"token of another conference", "1002", []string{"token", tok}},
		{"token of an unknown conference", "9999", []string{"token", tok}},
		{"token in Authorization header", "1001", []string{"Authorization", "Bearer " + tok}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, verb := range []string{"lock", "refresh_token", "release_token"} {
				h.do("POST", path(tt.number, verb), "", tt.headers...).want(t, 403, "Invalid token")
			}
			h.do("GET", path(tt.number, "participants"), "", tt.headers...).want(t, 403, "Invalid token")
		})
	}
	if calls := h.rooms.actor(0).callLog(); len(calls) != 0 {
		t.Fatalf("rejected tokens reached the room: %v", calls)
	}
	// The token still works where it belongs.
	h.do("POST", path("1001", "lock"), "", "token", tok).want(t, 200, "")
}

func TestRefreshToken(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	old := h.token("1001", hostPIN).Token
	h.clock.Advance(100 * time.Second)
	var fresh refreshResult
	h.do("POST", path("1001", "refresh_token"), "", "token", old).want(t, 200, "").into(t, &fresh)
	if fresh.Token == old || fresh.Expires != "120" || len(fresh.Token) != 43 {
		t.Fatalf("refresh %+v", fresh)
	}
	h.do("POST", path("1001", "lock"), "", "token", old).want(t, 403, "Invalid token")
	h.do("POST", path("1001", "refresh_token"), "", "token", old).want(t, 403, "Invalid token")

	// 200 s after the first token, 100 s after the refresh: still valid.
	h.clock.Advance(100 * time.Second)
	h.do("POST", path("1001", "lock"), "", "token", fresh.Token).want(t, 200, "")
	a := h.rooms.actor(0)
	if r := a.leftReason(); r != "" {
		t.Fatalf("left (%s) while the token was valid", r)
	}
	// 120 s after the refresh: expired, and the participant leaves.
	h.clock.Advance(20 * time.Second)
	h.do("POST", path("1001", "lock"), "", "token", fresh.Token).want(t, 403, "Invalid token")
	if r := a.leftReason(); r != "token expired" {
		t.Fatalf("leave reason %q", r)
	}
	h.do("POST", path("1001", "lock"), "", "token", fresh.Token).want(t, 403, "Invalid token")
	if got := a.callLog(); slices.Index(got, "leave token expired") != len(got)-1 || strings.Count(strings.Join(got, ","), "leave") != 1 {
		t.Fatalf("calls %v, want one leave last", got)
	}
}

func TestReleaseToken(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	tok := h.token("1001", hostPIN).Token
	var res bool
	h.do("POST", path("1001", "release_token"), "", "token", tok).want(t, 200, "").into(t, &res)
	if !res || h.rooms.actor(0).leftReason() != "token released" {
		t.Fatalf("result %v, left %q", res, h.rooms.actor(0).leftReason())
	}
	h.do("POST", path("1001", "lock"), "", "token", tok).want(t, 403, "Invalid token")
	h.do("POST", path("1001", "release_token"), "", "token", tok).want(t, 403, "Invalid token")
	if n := h.api.tokens.len(); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
}

// The expiry scan removes participants whose clients went away without
// releasing their tokens.
func TestExpiryScan(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t, func(c *ClientConfig) { c.TokenTTL = 100 * time.Millisecond })
	h.token("1001", hostPIN)
	h.token("1002", guestPIN)
	keep := h.token("1001", guestPIN)
	// The fake clock decides expiry; the scan runs on its real ticker.
	h.clock.Advance(60 * time.Millisecond)
	h.do("POST", path("1001", "refresh_token"), "", "token", keep.Token).want(t, 200, "")
	h.clock.Advance(60 * time.Millisecond)
	eventually(t, "expired participants leave", func() bool {
		return h.rooms.actor(0).leftReason() == "token expired" && h.rooms.actor(1).leftReason() == "token expired"
	})
	if r := h.rooms.actor(2).leftReason(); r != "" {
		t.Fatalf("refreshed participant left: %q", r)
	}
	if n := h.api.tokens.len(); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
}

// A participant removed by the room (a host disconnected it) loses its
// token at its next request.
func TestParticipantGone(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	tok := h.token("1001", hostPIN).Token
	h.rooms.actor(0).Leave("disconnected by host")
	h.do("POST", path("1001", "lock"), "", "token", tok).want(t, 403, "Participant has left")
	h.do("POST", path("1001", "lock"), "", "token", tok).want(t, 403, "Invalid token")
	if n := h.api.tokens.len(); n != 0 {
		t.Fatalf("%d sessions left", n)
	}
}

func TestUnknownPath(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	for _, p := range []string{"/api/client/v2/nope", path("1001", "nope"), path("1001", "participants/x/nope"), "/api/client/v1/conferences/1001/request_token"} {
		h.do("POST", p, "").want(t, 404, "Not found")
	}
}

func TestCloseEndsSessions(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	tok := h.token("1001", hostPIN).Token
	h.api.Close()
	if r := h.rooms.actor(0).leftReason(); r != "server shutting down" {
		t.Fatalf("leave reason %q", r)
	}
	h.do("POST", path("1001", "lock"), "", "token", tok).want(t, 403, "Invalid token")
	h.do("POST", path("1001", "request_token"), `{"display_name":"A","pin":"`+hostPIN+`"}`).want(t, 503, "Service unavailable")
	if r := h.rooms.actor(1).leftReason(); r != "server shutting down" {
		t.Fatalf("participant joined after close stays: %q", r)
	}
	h.api.Close() // idempotent
}

// Neither PINs nor tokens reach the log.
func TestNoSecretsInLogs(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	tr := h.token("1001", hostPIN)
	h.do("POST", path("1001", "request_token"), `{"display_name":"A"}`, "pin", guestPIN).want(t, 200, "")
	h.do("POST", path("1001", "request_token"), `{"display_name":"A","pin":"731902"}`).want(t, 403, "Invalid PIN")
	h.do("POST", path("1001", "lock"), "", "token", tr.Token).want(t, 200, "")
	h.do("POST", path("1002", "lock"), "", "token", tr.Token).want(t, 403, "Invalid token")
	var fresh refreshResult
	h.do("POST", path("1001", "refresh_token"), "", "token", tr.Token).want(t, 200, "").into(t, &fresh)
	h.do("POST", path("1001", "release_token"), "", "token", fresh.Token).want(t, 200, "")
	logs := h.logs.String()
	if !strings.Contains(logs, "api token issued") || !strings.Contains(logs, "api token refused") || !strings.Contains(logs, "action=lock") {
		t.Fatalf("expected log lines missing:\n%s", logs)
	}
	for _, secret := range []string{hostPIN, guestPIN, "731902", tr.Token, fresh.Token} {
		if strings.Contains(logs, secret) {
			t.Fatalf("log holds a secret %q:\n%s", secret, logs)
		}
	}
}

// Many clients at once, for the race detector: tokens issued, refreshed,
// used and released concurrently.
func TestConcurrentRequests(t *testing.T) {
	checkLeaks(t)
	h := newHarness(t)
	const clients, rounds = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Go(func() {
			number := []string{"1001", "1002"}[c%2]
			tok := h.token(number, hostPIN).Token
			for range rounds {
				for _, v := range []string{"lock", "unlock", "muteguests"} {
					if r := h.do("POST", path(number, v), "", "token", tok); r.code != 200 {
						errs <- fmt.Errorf("%s: %s", v, r.raw)
						return
					}
				}
				if r := h.do("GET", path(number, "participants"), "", "token", tok); r.code != 200 {
					errs <- fmt.Errorf("participants: %s", r.raw)
					return
				}
				var fresh refreshResult
				h.do("POST", path(number, "refresh_token"), "", "token", tok).into(t, &fresh)
				tok = fresh.Token
			}
			if r := h.do("POST", path(number, "release_token"), "", "token", tok); r.code != 200 {
				errs <- fmt.Errorf("release: %s", r.raw)
			}
		})
	}
	// Concurrent refreshes of one token: exactly one wins.
	tok := h.token("1001", hostPIN).Token
	var won sync.WaitGroup
	results := make(chan int, 4)
	for range 4 {
		won.Go(func() {
			results <- h.do("POST", path("1001", "refresh_token"), "", "token", tok).code
		})
	}
	won.Wait()
	wg.Wait()
	close(errs)
	close(results)
	for err := range errs {
		t.Error(err)
	}
	ok := 0
	for code := range results {
		if code == 200 {
			ok++
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent refreshes of one token succeeded, want 1", ok)
	}
	if n := h.api.tokens.len(); n != 1 {
		t.Fatalf("%d sessions, want 1", n)
	}
}

func TestStatusOf(t *testing.T) {
	tests := []struct {
		err      error
		wantCode int
		wantMsg  string
	}{
		{room.ErrBadPIN, 403, "Invalid PIN"},
		{fmt.Errorf("room 1001: %w", room.ErrNoSuchRoom), 403, "Invalid PIN"},
		{ErrInvalidToken, 403, "Invalid token"},
		{room.ErrNotHost, 403, "Only a host may do this"},
		{room.ErrGone, 403, "Participant has left"},
		{room.ErrRoomFull, 403, "Conference is full"},
		{fmt.Errorf("x: %w", room.ErrNoSuchParticipant), 404, "Participant not found"},
		{room.ErrNotWaiting, 409, "Participant is not waiting in the lobby"},
		{room.ErrNotAdmitted, 403, "Waiting for the host to let you in"},
		{fmt.Errorf("%w: display_name is required", ErrBadRequest), 400, "bad request: display_name is required"},
		{ErrUnsupportedMediaType, 415, "Request body must be application/json"},
		{ErrBodyTooLarge, 413, "Request body too large"},
		{ErrNotFound, 404, "Not found"},
		{ErrMethodNotAllowed, 405, "Method not allowed"},
		{room.ErrClosed, 503, "Service unavailable"},
		{ErrShuttingDown, 503, "Service unavailable"},
		{errors.New("database on fire"), 500, "Internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.err.Error(), func(t *testing.T) {
			code, msg := statusOf(tt.err)
			if code != tt.wantCode || msg != tt.wantMsg {
				t.Fatalf("statusOf = %d %q, want %d %q", code, msg, tt.wantCode, tt.wantMsg)
			}
			if code == http.StatusInternalServerError && strings.Contains(msg, "fire") {
				t.Fatal("internal error text leaks to clients")
			}
		})
	}
}

// A refresh presenting a token that was already replaced fails, even when
// it authenticated before the replacement (two refreshes racing).
func TestTokensRefreshStale(t *testing.T) {
	var ts tokens
	now := time.Unix(1700000000, 0)
	s := &session{number: "1001", done: make(chan struct{})}
	tok, ok := ts.issue(s, now.Add(time.Minute))
	if !ok {
		t.Fatal("issue refused")
	}
	got, h, expired := ts.lookup(tok, now)
	if got != s || expired {
		t.Fatalf("lookup %v %v", got, expired)
	}
	fresh, ok := ts.refresh(s, h, now.Add(2*time.Minute))
	if !ok || fresh == tok {
		t.Fatalf("first refresh %v", ok)
	}
	if _, ok := ts.refresh(s, h, now.Add(2*time.Minute)); ok {
		t.Fatal("second refresh with the replaced token succeeded")
	}
	if got, _, _ := ts.lookup(tok, now); got != nil {
		t.Fatal("replaced token still valid")
	}
	if got, _, expired := ts.lookup(fresh, now.Add(2*time.Minute)); got != s || !expired {
		t.Fatalf("at its expiry the fresh token gives %v, expired %v", got, expired)
	}
	if ts.len() != 0 {
		t.Fatal("expired session kept")
	}
	select {
	case <-s.done:
	default:
		t.Fatal("expired session not ended")
	}
}

func TestTransformLayout(t *testing.T) {
	checkLeaks(t)
	tests := []struct {
		name     string
		body     string
		role     string
		wantCode int
		wantMsg  string
		wantCall string
	}{
		{"canonical name", `{"layout": "4:0"}`, "host", 200, "", "layout 4:0"},
		{"alias 4+0", `{"layout": "4+0"}`, "host", 200, "", "layout 4:0"},
		{"alias 2x2", `{"layout": "2x2"}`, "host", 200, "", "layout 4:0"},
		{"unknown layout", `{"layout": "3:3"}`, "host", 400, "Unknown layout", "layout 3:3"},
		{"no layout", `{}`, "host", 400, `bad request: give the layout, e.g. {"layout": "4:0"}`, ""},
		{"guest", `{"layout": "1:7"}`, "guest", 403, "Only a host may do this", "layout 1:7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			pin := hostPIN
			if tt.role == "guest" {
				pin = guestPIN
			}
			tok := h.token("1001", pin).Token
			h.do("POST", path("1001", "transform_layout"), tt.body, "token", tok).want(t, tt.wantCode, tt.wantMsg)
			calls := h.rooms.actor(0).callLog()
			last := ""
			if len(calls) > 0 {
				last = calls[len(calls)-1]
			}
			if tt.wantCall != "" && last != tt.wantCall {
				t.Fatalf("calls %v, want last %q", calls, tt.wantCall)
			}
			if tt.wantCall == "" && strings.HasPrefix(last, "layout") {
				t.Fatalf("calls %v: the room was asked for a bad request", calls)
			}
		})
	}
}
