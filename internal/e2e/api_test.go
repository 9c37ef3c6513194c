package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

// TestAPIControl drives the client control API over HTTP against a pin room
// with host and guest PINs, with a SIP caller in the room: tokens by PIN,
// the refusals that must look alike, roles, lock, mute, the participant
// list, the event stream and release.
func TestAPIControl(t *testing.T) {
	requireDaemon(t)
	t.Parallel()
	const room = "3001"
	cfg := defaultConfig()
	cfg.Rooms = append(cfg.Rooms, pinRoom(t, room, "pin", true))
	d := startDaemon(t, cfg)
	post, get := http.MethodPost, http.MethodGet

	// A wrong PIN and an unknown room get the very same answer, so room
	// numbers cannot be discovered through the API.
	wrong := d.requestToken(t, room, "000000", "Mallory")
	unknown := d.requestToken(t, "9999", hostPIN, "Mallory")
	for name, r := range map[string]apiResponse{"wrong PIN": wrong, "unknown room": unknown} {
		if r.Code != http.StatusForbidden || r.Status != "failed" {
			t.Errorf("request_token with a %s: %d %s, want 403 failed", name, r.Code, r.Body)
		}
	}
	if !bytes.Equal(wrong.Body, unknown.Body) {
		t.Errorf("a wrong PIN and an unknown room answer differently:\n%s\n%s", wrong.Body, unknown.Body)
	}
	var msg string
	if err := json.Unmarshal(wrong.Result, &msg); err != nil || msg != "Invalid PIN" {
		t.Errorf("wrong PIN result = %s, want \"Invalid PIN\"", wrong.Result)
	}

	host := d.token(t, room, hostPIN, "Host", "HOST")
	guest := d.token(t, room, guestPIN, "Guest", "GUEST")
	if host.Expires == "" || host.ParticipantUUID == guest.ParticipantUUID {
		t.Errorf("tokens: host %+v guest %+v", host, guest)
	}

	// A guest may not use host verbs.
	for _, verb := range []string{"lock", "muteguests", "disconnect", "participants/" + host.ParticipantUUID + "/mute"} {
		if r := d.apiDo(t, post, room, verb, guest.Token, nil); r.Code != http.StatusForbidden {
			t.Errorf("guest POST %s: %d %s, want 403", verb, r.Code, r.Body)
		}
	}
	if c := d.conference(t, room, host.Token); c.Locked || c.GuestsMuted || !c.HostPresent || c.Number != room {
		t.Errorf("conference after the guest's attempts: %+v, want unlocked, guests not muted, host present", c)
	}
	// A bad token is refused alike.
	if r := d.apiDo(t, get, room, "conference", "not-a-token", nil); r.Code != http.StatusForbidden {
		t.Errorf("GET conference with a made-up token: %d %s, want 403", r.Code, r.Body)
	}
	// A token is valid only for its own room.
	if r := d.apiDo(t, get, "1001", "conference", host.Token, nil); r.Code != http.StatusForbidden {
		t.Errorf("GET conference of room 1001 with room %s's token: %d %s, want 403", room, r.Code, r.Body)
	}

	ev := d.openEvents(t, room, host.Token)
	first := ev.waitFor(t, "conference_update", 5*time.Second, nil)
	if c := conferenceEvent(first.Data); c.Number != room {
		t.Errorf("first event: conference %+v, want room %s", c, room)
	}
	ev.waitFor(t, "participant_sync_end", 5*time.Second, nil)

	// A SIP caller joins with the host PIN (RFC 4733).
	sipp := startSipp(t, context.Background(), d, sippRun{Scenario: "pin_rfc4733.xml", Service: room, Args: []string{"-d", "10000"}, Timeout: 40 * time.Second})
	created := ev.waitFor(t, "participant_create", 10*time.Second, func(data string) bool { return participantEvent(data).Protocol == "sip" })
	sipID := participantEvent(created.Data).UUID
	ev.waitFor(t, "participant_update", 10*time.Second, func(data string) bool {
		p := participantEvent(data)
		return p.UUID == sipID && p.Role == "host" && p.State == "in"
	})

	list := d.participants(t, room, host.Token)
	want := map[string]participantInfo{
		sipID:                 {Role: "host", State: "in", Protocol: "sip"},
		host.ParticipantUUID:  {Role: "host", State: "in", Protocol: "api", DisplayName: "Host"},
		guest.ParticipantUUID: {Role: "guest", State: "in", Protocol: "api", DisplayName: "Guest"},
	}
	if len(list) != len(want) {
		t.Errorf("participants: %+v, want %d", list, len(want))
	}
	for _, p := range list {
		w, ok := want[p.UUID]
		if !ok {
			t.Errorf("unexpected participant %+v", p)
			continue
		}
		if p.Role != w.Role || p.State != w.State || p.Protocol != w.Protocol || (w.DisplayName != "" && p.DisplayName != w.DisplayName) {
			t.Errorf("participant %s = %+v, want %+v", p.UUID, p, w)
		}
		if p.UUID == sipID && p.Source == "" {
			t.Errorf("a host sees no source for the SIP caller: %+v", p)
		}
	}
	for _, p := range d.participants(t, room, guest.Token) {
		if p.Source != "" {
			t.Errorf("a guest sees where %s calls from: %+v", p.UUID, p)
		}
	}

	// Lock and unlock show in GET conference and in the event stream.
	d.apiOK(t, post, room, "lock", host.Token, nil)
	ev.waitFor(t, "conference_update", 5*time.Second, func(data string) bool { return conferenceEvent(data).Locked })
	if c := d.conference(t, room, host.Token); !c.Locked {
		t.Errorf("conference after lock: %+v, want locked", c)
	}
	d.apiOK(t, post, room, "unlock", host.Token, nil)
	ev.waitFor(t, "conference_update", 5*time.Second, func(data string) bool { return !conferenceEvent(data).Locked })
	if c := d.conference(t, room, host.Token); c.Locked {
		t.Errorf("conference after unlock: %+v, want unlocked", c)
	}

	// Mute and unmute the SIP caller.
	d.apiOK(t, post, room, "participants/"+sipID+"/mute", host.Token, nil)
	ev.waitFor(t, "participant_update", 5*time.Second, func(data string) bool {
		p := participantEvent(data)
		return p.UUID == sipID && p.Muted
	})
	d.apiOK(t, post, room, "participants/"+sipID+"/unmute", host.Token, nil)
	ev.waitFor(t, "participant_update", 5*time.Second, func(data string) bool {
		p := participantEvent(data)
		return p.UUID == sipID && !p.Muted
	})
	if r := d.apiDo(t, post, room, "participants/no-such-one/mute", host.Token, nil); r.Code != http.StatusNotFound {
		t.Errorf("mute an unknown participant: %d %s, want 404", r.Code, r.Body)
	}

	// refresh_token gives a token that works.
	var refreshed struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(d.apiOK(t, post, room, "refresh_token", guest.Token, nil), &refreshed); err != nil || refreshed.Token == "" {
		t.Fatalf("refresh_token: %v %+v", err, refreshed)
	}
	d.conference(t, room, refreshed.Token)

	// Releasing the guest's token removes the guest.
	d.apiOK(t, post, room, "release_token", refreshed.Token, nil)
	ev.waitFor(t, "participant_delete", 5*time.Second, func(data string) bool { return participantEvent(data).UUID == guest.ParticipantUUID })
	if r := d.apiDo(t, get, room, "conference", refreshed.Token, nil); r.Code != http.StatusForbidden {
		t.Errorf("GET conference with a released token: %d %s, want 403", r.Code, r.Body)
	}

	// The SIP caller hangs up after its hold time.
	expectSippOK(t, "pin_rfc4733.xml", sipp.wait())
	ev.waitFor(t, "participant_delete", 10*time.Second, func(data string) bool { return participantEvent(data).UUID == sipID })

	// Releasing the host's token ends its own stream.
	d.apiOK(t, post, room, "release_token", host.Token, nil)
	ev.waitFor(t, "disconnect", 5*time.Second, nil)
	d.waitMetric(t, "vmrd_participants", 5*time.Second, "the room empty", func(v float64) bool { return v == 0 })
	for _, m := range []auditMatch{
		{Event: "lock", Participant: host.ParticipantUUID, Protocol: "api"},
		{Event: "unlock", Participant: host.ParticipantUUID, Protocol: "api"},
		{Event: "mute", Participant: host.ParticipantUUID, Target: sipID},
		{Event: "join", Participant: sipID, Role: "host", Protocol: "sip"},
	} {
		if len(d.auditFind(t, m)) != 1 {
			t.Errorf("audit log has no single event %+v:\n%s", m, auditText(d.audit(t)))
		}
	}
}

// TestPINBruteForce: with security.pin.room_failures 5, five wrong PINs block
// the room: the right host PIN is then refused with the very same answer,
// over the API and from a SIP keypad, while other rooms are not affected.
func TestPINBruteForce(t *testing.T) {
	requireDaemon(t)
	t.Parallel()
	const room, other = "4001", "4002"
	cfg := defaultConfig()
	cfg.Rooms = append(cfg.Rooms, pinRoom(t, room, "pin", false), pinRoom(t, other, "pin", false))
	cfg.Security.PIN = PINLimits{RoomFailures: 5, SourceFailures: 1000, Window: "1m", Block: "1m"}
	d := startDaemon(t, cfg)

	ref := d.requestToken(t, "9999", hostPIN, "Mallory")
	if ref.Code != http.StatusForbidden {
		t.Fatalf("request_token for an unknown room: %d %s, want 403", ref.Code, ref.Body)
	}
	for i := range 5 {
		r := d.requestToken(t, room, "99999"+string(rune('0'+i)), "Mallory")
		if r.Code != http.StatusForbidden || !bytes.Equal(r.Body, ref.Body) {
			t.Errorf("wrong PIN %d: %d %s, want the unknown room's 403 %s", i+1, r.Code, r.Body, ref.Body)
		}
	}
	d.waitAudit(t, auditMatch{Event: "room_blocked", Room: room}, 1, 5*time.Second)
	r := d.requestToken(t, room, hostPIN, "Host")
	if r.Code != http.StatusForbidden || !bytes.Equal(r.Body, ref.Body) {
		t.Errorf("the right host PIN while the room is blocked: %d %s, want the same 403 %s", r.Code, r.Body, ref.Body)
	}
	d.waitMetric(t, `vmrd_pin_blocked{scope="room"}`, 5*time.Second, "the blocked room counted", func(v float64) bool { return v == 1 })

	// Another room is not blocked.
	d.token(t, other, hostPIN, "Host elsewhere", "HOST")

	// A SIP caller keying the right PIN is not let in either; the call
	// stays up (one wrong try of three), so the scenario passes.
	before := len(d.auditFind(t, auditMatch{Event: "pin_failure", Room: room, Protocol: "sip"}))
	res := runSipp(t, context.Background(), d, sippRun{Scenario: "pin_rfc4733.xml", Service: room, Args: []string{"-d", "2000"}})
	expectSippOK(t, "pin_rfc4733.xml while blocked", res)
	d.waitAudit(t, auditMatch{Event: "pin_failure", Room: room, Protocol: "sip"}, before+1, 5*time.Second)
	if js := d.auditFind(t, auditMatch{Event: "join", Room: room}); len(js) != 0 {
		t.Errorf("someone joined the blocked room:\n%s", auditText(js))
	}
}
