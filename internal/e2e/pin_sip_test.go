package e2e

import (
	"context"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// Rooms of the PIN tests.
const (
	pinRoomNumber      = "2001" // type pin, host PIN, guests with '#' alone
	autolockRoomNumber = "2002" // type autolock, host PIN
)

// pinConfig is the daemon configuration of the PIN tests: a pin room and an
// autolock room, both without guest PIN, English prompts.
func pinConfig(t *testing.T) Config {
	t.Helper()
	cfg := defaultConfig()
	cfg.Rooms = append(cfg.Rooms,
		pinRoom(t, pinRoomNumber, "pin", false),
		pinRoom(t, autolockRoomNumber, "autolock", false))
	return cfg
}

// keyedDigitRe finds a keyed digit written to the daemon's log: a PIN must
// never reach a log, at any level (security model; the SIP layer already
// says so in its own debug line).
var keyedDigitRe = regexp.MustCompile(`\bdigits?=["']?[0-9*#]`)

// expectNoDigitsInLog fails when the daemon's log holds a keyed digit.
func expectNoDigitsInLog(t *testing.T, d *daemon) {
	t.Helper()
	b, err := os.ReadFile(d.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	if m := keyedDigitRe.FindAllIndex(b, 3); m != nil {
		for _, loc := range m {
			start := loc[0]
			for start > 0 && b[start-1] != '\n' {
				start--
			}
			end := loc[1]
			for end < len(b) && b[end] != '\n' {
				end++
			}
			t.Errorf("the daemon log holds a keyed digit (a PIN must never be logged): %s", b[start:end])
		}
	}
}

// TestSIPPIN covers PIN entry over SIP on one daemon, one call after the
// other: the host PIN as RFC 4733 events and as in-band tones, three wrong
// PINs by SIP INFO, '#' alone as a guest, and the decoy for an unknown room.
func TestSIPPIN(t *testing.T) {
	requireDaemon(t)
	t.Parallel()
	d := startDaemon(t, pinConfig(t))
	ctx := context.Background()
	idle := func(t *testing.T) {
		t.Helper()
		d.waitMetric(t, "vmrd_participants", 10*time.Second, "the room empty again", func(v float64) bool { return v == 0 })
	}

	t.Run("host PIN by RFC 4733 stays up", func(t *testing.T) {
		before := len(d.auditFind(t, auditMatch{Event: "join"}))
		proc := startSipp(t, ctx, d, sippRun{Scenario: "pin_rfc4733.xml", Service: pinRoomNumber, Args: []string{"-d", "5000"}})
		joins := d.waitAudit(t, auditMatch{Event: "join", Room: pinRoomNumber, Protocol: "sip"}, before+1, 10*time.Second)
		j := joins[len(joins)-1]
		if j.Role != "host" {
			t.Errorf("the caller who keyed the host PIN joined as %q, want host: %s", j.Role, j)
		}
		d.waitMetric(t, "vmrd_participants", 5*time.Second, "the host counted", func(v float64) bool { return v == 1 })
		// The call stays up for sipp's -d: a BYE from vmrd fails the run.
		expectSippOK(t, "pin_rfc4733.xml", proc.wait())
		if n := len(d.auditFind(t, auditMatch{Event: "pin_failure", Participant: j.Participant})); n != 0 {
			t.Errorf("%d pin_failure events for the host who keyed the right PIN", n)
		}
		d.waitAudit(t, auditMatch{Event: "leave", Participant: j.Participant}, 1, 5*time.Second)
		idle(t)
	})

	t.Run("host PIN by in-band tones without telephone-event", func(t *testing.T) {
		before := len(d.auditFind(t, auditMatch{Event: "join"}))
		peer := newRTPPeer(t)
		proc := startSipp(t, ctx, d, sippRun{
			Scenario: "inband_offer.xml", Service: pinRoomNumber,
			Keys: map[string]string{"rtp_port": strconv.Itoa(peer.Port())},
			Args: []string{"-d", "8000"},
		})
		peer.waitRemote(t, 10*time.Second)
		audio := make([]float64, 4000) // 0.5 s of silence first
		audio = append(audio, dtmfTones(t, 8000, hostPIN+"#", 0.1, 0.1)...)
		audio = append(audio, make([]float64, 8000)...)
		peer.sendPCMU(t, audio)
		joins := d.waitAudit(t, auditMatch{Event: "join", Room: pinRoomNumber, Protocol: "sip"}, before+1, 10*time.Second)
		if j := joins[len(joins)-1]; j.Role != "host" {
			t.Errorf("the caller who played the host PIN as tones joined as %q, want host: %s", j.Role, j)
		}
		expectSippOK(t, "inband_offer.xml", proc.wait())
		idle(t)
	})

	t.Run("three wrong PINs by SIP INFO end the call", func(t *testing.T) {
		before := d.auditFind(t, auditMatch{Event: "pin_failure", Room: pinRoomNumber})
		joinsBefore := len(d.auditFind(t, auditMatch{Event: "join"}))
		res := runSipp(t, ctx, d, sippRun{Scenario: "pin_wrong_info.xml", Service: pinRoomNumber, Timeout: 40 * time.Second})
		// The scenario ends only with vmrd's BYE after the third PIN.
		expectSippOK(t, "pin_wrong_info.xml", res)
		fails := d.waitAudit(t, auditMatch{Event: "pin_failure", Room: pinRoomNumber}, len(before)+3, 5*time.Second)
		fails = fails[len(before):]
		if len(fails) != 3 {
			t.Errorf("%d pin_failure events, want 3:\n%s", len(fails), auditText(fails))
		}
		for _, f := range fails[1:] {
			if f.Participant != fails[0].Participant {
				t.Errorf("pin_failure events name different participants:\n%s", auditText(fails))
			}
		}
		if n := len(d.auditFind(t, auditMatch{Event: "join"})); n != joinsBefore {
			t.Errorf("a caller with three wrong PINs joined: %d join events, want %d", n, joinsBefore)
		}
		idle(t)
	})

	t.Run("guest key alone waits in the lobby", func(t *testing.T) {
		// Autolock room: the guest comes first and waits for a host; the
		// arriving host locks the room, so the guest stays in the lobby
		// until admitted.
		joinsBefore := len(d.auditFind(t, auditMatch{Event: "join", Room: autolockRoomNumber}))
		proc := startSipp(t, ctx, d, sippRun{Scenario: "guest_until_bye.xml", Service: autolockRoomNumber, Timeout: 40 * time.Second})
		joins := d.waitAudit(t, auditMatch{Event: "join", Room: autolockRoomNumber, Protocol: "sip"}, joinsBefore+1, 10*time.Second)
		g := joins[len(joins)-1]
		if g.Role != "guest" {
			t.Errorf("the caller who keyed # alone joined as %q, want guest: %s", g.Role, g)
		}
		host := d.token(t, autolockRoomNumber, hostPIN, "Test host", "HOST")
		p := d.waitParticipant(t, autolockRoomNumber, host.Token, "the SIP guest", 5*time.Second, func(p participantInfo) bool { return p.UUID == g.Participant })
		if p.State != "lobby" || p.Role != "guest" || p.Protocol != "sip" {
			t.Errorf("the SIP guest is %+v, want role guest, state lobby, protocol sip", p)
		}
		if c := d.conference(t, autolockRoomNumber, host.Token); !c.Locked || !c.HostPresent {
			t.Errorf("autolock room with a host: conference %+v, want locked and host present", c)
		}
		// Still waiting a moment later: nobody let the guest in.
		time.Sleep(500 * time.Millisecond)
		p = d.waitParticipant(t, autolockRoomNumber, host.Token, "the SIP guest", time.Second, func(p participantInfo) bool { return p.UUID == g.Participant })
		if p.State != "lobby" {
			t.Errorf("the SIP guest left the lobby of a locked room without being admitted: %+v", p)
		}
		d.apiOK(t, http.MethodPost, autolockRoomNumber, "participants/"+g.Participant+"/unlock", host.Token, nil)
		d.waitParticipant(t, autolockRoomNumber, host.Token, "the admitted guest in the meeting", 5*time.Second, func(p participantInfo) bool {
			return p.UUID == g.Participant && p.State == "in"
		})
		d.waitAudit(t, auditMatch{Event: "admit", Room: autolockRoomNumber, Target: g.Participant}, 1, 5*time.Second)
		// Ending the meeting hangs the guest up: the scenario ends with BYE.
		d.apiOK(t, http.MethodPost, autolockRoomNumber, "disconnect", host.Token, nil)
		expectSippOK(t, "guest_until_bye.xml", proc.wait())
		idle(t)
	})

	t.Run("guest in a pin room is let in when a host arrives", func(t *testing.T) {
		joinsBefore := len(d.auditFind(t, auditMatch{Event: "join", Room: pinRoomNumber}))
		proc := startSipp(t, ctx, d, sippRun{Scenario: "guest_until_bye.xml", Service: pinRoomNumber, Timeout: 40 * time.Second})
		joins := d.waitAudit(t, auditMatch{Event: "join", Room: pinRoomNumber, Protocol: "sip"}, joinsBefore+1, 10*time.Second)
		g := joins[len(joins)-1]
		if g.Role != "guest" {
			t.Errorf("the caller who keyed # alone joined as %q, want guest: %s", g.Role, g)
		}
		host := d.token(t, pinRoomNumber, hostPIN, "Test host", "HOST")
		d.waitParticipant(t, pinRoomNumber, host.Token, "the waiting guest in the meeting once a host came", 5*time.Second, func(p participantInfo) bool {
			return p.UUID == g.Participant && p.State == "in" && p.Role == "guest"
		})
		d.apiOK(t, http.MethodPost, pinRoomNumber, "disconnect", host.Token, nil)
		expectSippOK(t, "guest_until_bye.xml", proc.wait())
		idle(t)
	})

	t.Run("unknown room is a decoy PIN room", func(t *testing.T) {
		before := len(d.auditFind(t, auditMatch{Event: "pin_failure", Room: "9999"}))
		proc := startSipp(t, ctx, d, sippRun{Scenario: "pin_wrong_info.xml", Service: "9999", Timeout: 40 * time.Second})
		done := make(chan sippResult, 1)
		go func() { done <- proc.wait() }()
		// The decoy must not show up as a participant anywhere.
		var res sippResult
	poll:
		for {
			select {
			case res = <-done:
				break poll
			case <-time.After(100 * time.Millisecond):
				if v := d.metric(t, "vmrd_participants"); v != 0 {
					t.Errorf("vmrd_participants = %v during a call to an unknown room, want 0", v)
				}
			}
		}
		expectSippOK(t, "pin_wrong_info.xml to an unknown room", res)
		d.waitAudit(t, auditMatch{Event: "pin_failure", Room: "9999"}, before+3, 5*time.Second)
		if n := len(d.auditFind(t, auditMatch{Event: "join", Room: "9999"})); n != 0 {
			t.Errorf("%d join events for the unknown room", n)
		}
	})

	expectNoDigitsInLog(t, d)
}

// TestSIPHostKeypad: a host who joined with the PIN by SIP INFO drives the
// room from the keypad; each command's effect shows in the event stream of
// an API host and in the audit log. *7 lock, *3 admit the waiting guest,
// *5 mute and unmute the guests, *6 mute oneself, *7 unlock, ## end the
// meeting (vmrd hangs up both callers).
func TestSIPHostKeypad(t *testing.T) {
	requireDaemon(t)
	t.Parallel()
	d := startDaemon(t, pinConfig(t))
	ctx := context.Background()
	room := pinRoomNumber
	api := d.token(t, room, hostPIN, "Observer", "HOST")
	ev := d.openEvents(t, room, api.Token)
	ev.waitFor(t, "participant_sync_end", 5*time.Second, nil)

	host := startSipp(t, ctx, d, sippRun{Scenario: "host_keypad.xml", Service: room, Timeout: 60 * time.Second})
	created := ev.waitFor(t, "participant_create", 10*time.Second, func(data string) bool { return participantEvent(data).Protocol == "sip" })
	hostID := participantEvent(created.Data).UUID
	ev.waitFor(t, "participant_update", 10*time.Second, func(data string) bool {
		p := participantEvent(data)
		return p.UUID == hostID && p.Role == "host" && p.State == "in"
	})
	ev.waitFor(t, "conference_update", 10*time.Second, func(data string) bool { return conferenceEvent(data).Locked })
	d.waitAudit(t, auditMatch{Event: "lock", Participant: hostID}, 1, 5*time.Second)

	// The room is locked: a guest now waits in the lobby.
	guest := startSipp(t, ctx, d, sippRun{Scenario: "guest_until_bye.xml", Service: room, Timeout: 60 * time.Second})
	created = ev.waitFor(t, "participant_create", 10*time.Second, func(data string) bool { return participantEvent(data).Protocol == "sip" })
	guestID := participantEvent(created.Data).UUID
	ev.waitFor(t, "participant_update", 10*time.Second, func(data string) bool {
		p := participantEvent(data)
		return p.UUID == guestID && p.State == "lobby"
	})
	// *3 admits the guest.
	ev.waitFor(t, "participant_update", 15*time.Second, func(data string) bool {
		p := participantEvent(data)
		return p.UUID == guestID && p.State == "in"
	})
	d.waitAudit(t, auditMatch{Event: "admit", Participant: hostID, Target: guestID}, 1, 5*time.Second)
	// *5 mutes the guests, *5 again unmutes them.
	ev.waitFor(t, "participant_update", 10*time.Second, func(data string) bool {
		p := participantEvent(data)
		return p.UUID == guestID && p.Muted
	})
	ev.waitFor(t, "conference_update", 5*time.Second, func(data string) bool { return conferenceEvent(data).GuestsMuted })
	ev.waitFor(t, "participant_update", 10*time.Second, func(data string) bool {
		p := participantEvent(data)
		return p.UUID == guestID && !p.Muted
	})
	ev.waitFor(t, "conference_update", 5*time.Second, func(data string) bool { return !conferenceEvent(data).GuestsMuted })
	// *6 mutes the host.
	ev.waitFor(t, "participant_update", 10*time.Second, func(data string) bool {
		p := participantEvent(data)
		return p.UUID == hostID && p.Muted
	})
	// *7 unlocks.
	ev.waitFor(t, "conference_update", 10*time.Second, func(data string) bool { return !conferenceEvent(data).Locked })
	// ## ends the meeting: vmrd hangs up both, the scenarios end with BYE.
	expectSippOK(t, "host_keypad.xml", host.wait())
	expectSippOK(t, "guest_until_bye.xml", guest.wait())
	for _, m := range []auditMatch{
		{Event: "mute_guests", Participant: hostID},
		{Event: "unmute_guests", Participant: hostID},
		{Event: "unlock", Participant: hostID},
		{Event: "end_meeting", Participant: hostID},
	} {
		d.waitAudit(t, m, 1, 5*time.Second)
	}
	d.waitMetric(t, "vmrd_participants", 10*time.Second, "everyone gone after ##", func(v float64) bool { return v == 0 })
}
