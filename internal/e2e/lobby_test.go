package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBaresipHostPIN: a real phone keys the host PIN as RFC 4733 events
// (baresip's sndcode through ctrl_tcp) and becomes host.
func TestBaresipHostPIN(t *testing.T) {
	requireDaemon(t)
	t.Parallel()
	const room = "5002"
	cfg := defaultConfig()
	cfg.Rooms = append(cfg.Rooms, pinRoom(t, room, "pin", false))
	d := startDaemon(t, cfg)
	p := startPhone(t, phoneConfig{Name: "host", Freq: 500, Codecs: "PCMU/8000/1", Dial: "sip:" + room + "@" + d.SIPAddr, Ctrl: true})
	p.waitLog(t, establishedRe, 10*time.Second)
	p.sendDTMF(t, hostPIN+"#")
	j := d.waitAudit(t, auditMatch{Event: "join", Room: room, Protocol: "sip"}, 1, 10*time.Second)[0]
	if j.Role != "host" {
		t.Errorf("baresip keyed the host PIN and joined as %q: %s", j.Role, j)
	}
	api := d.token(t, room, hostPIN, "Observer", "HOST")
	d.waitParticipant(t, room, api.Token, "the phone as host in the meeting", 5*time.Second, func(q participantInfo) bool {
		return q.UUID == j.Participant && q.Role == "host" && q.State == "in" && q.Protocol == "sip"
	})
	if fs := d.auditFind(t, auditMatch{Event: "pin_failure"}); len(fs) != 0 {
		t.Errorf("pin failures for a phone that keyed the right PIN:\n%s", auditText(fs))
	}
	p.hangup()
	p.wait(t, 10*time.Second)
	d.waitAudit(t, auditMatch{Event: "leave", Participant: j.Participant}, 1, 5*time.Second)
}

// Tones of the lobby test. The lobby plays a 440 Hz hold tone and hosts
// hear a 880/660 Hz knock, so the phones use other frequencies, none a
// harmonic or low-order product of the others or near a DTMF row/column
// pair.
const (
	lobbyToneHost  = 500.0  // H
	lobbyToneGuest = 1100.0 // G1, admitted first
	lobbyToneLate  = 700.0  // G2, waits in the lobby
)

var lobbyTones = []float64{lobbyToneHost, lobbyToneGuest, lobbyToneLate}

// Timing of the lobby test, in seconds.
const (
	waitingPrompt = 3.5 // the "please wait" prompt G2 hears first (about 3 s)
	lobbyWindow   = 4.0 // then G2 waits this long in the analysed window
	meetWindow    = 4.0 // everyone in the meeting
	mutedWindow   = 3.5 // G1 muted
	settle        = 1.0 // skipped after each change before analysing
	guard         = 0.3 // skipped before each change
)

// The lobby's hold tone: 440 Hz at -24 dBFS for 0.4 s every 4 s. A block
// inside a beep measures about -24 dBFS; PCMU and resampling cost little.
const (
	holdToneHz      = 440.0
	holdToneMinDBFS = -35.0
)

// peakLevel is the loudest level of freq over blocks of blockSec seconds.
func peakLevel(x []float64, rate int, freq, blockSec float64) float64 {
	block := int(blockSec * float64(rate))
	peak := -240.0
	for start := 0; start+block <= len(x); start += block / 2 {
		peak = max(peak, goertzelLevel(x[start:start+block], rate, freq))
	}
	return peak
}

// dumpClock maps wall-clock moments to offsets in a phone's decoded dump.
// baresip writes every decoded frame, so the dump ends when the phone hung
// up: the offset of a moment is the dump's length minus the time from that
// moment to the hang-up.
type dumpClock struct {
	audio  pcm
	hangup time.Time
}

func (c dumpClock) at(w time.Time) float64 {
	return c.audio.Duration() - c.hangup.Sub(w).Seconds()
}

// window analyses the audio between two wall-clock moments.
func (c dumpClock) window(from, to time.Time) toneReport {
	return analyseTones(c.audio.Slice(c.at(from), c.at(to)), c.audio.Rate, lobbyTones, blockSec)
}

// TestLobbyIsolationAudio proves with audio that a caller in the lobby is
// isolated: in an autolock room, host H (500 Hz) and admitted guest G1
// (1100 Hz) talk while guest G2 (700 Hz) waits in the lobby. G2 must hear
// neither of them and they must not hear G2, each at least 20 dB below
// what is heard once the host has admitted G2 through the API. Then the
// host mutes G1 through the API: H stops hearing G1 within a second, while
// G1 still hears H.
func TestLobbyIsolationAudio(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: three real phones for about 25 seconds")
	}
	requireDaemon(t)
	t.Parallel()
	const room = "5001"
	cfg := defaultConfig()
	cfg.Rooms = append(cfg.Rooms, pinRoom(t, room, "autolock", false))
	d := startDaemon(t, cfg)
	uri := "sip:" + room + "@" + d.SIPAddr
	phoneAt := func(name string, f float64) *phone {
		p := startPhone(t, phoneConfig{Name: fmt.Sprintf("%s-%.0fHz", name, f), Freq: int(f), Codecs: "PCMU/8000/1", Dial: uri, Ctrl: true, Seconds: 120})
		p.waitLog(t, establishedRe, 10*time.Second)
		return p
	}

	// H becomes host: the autolock room locks.
	h := phoneAt("host", lobbyToneHost)
	h.sendDTMF(t, hostPIN+"#")
	hj := d.waitAudit(t, auditMatch{Event: "join", Room: room, Protocol: "sip"}, 1, 10*time.Second)[0]
	if hj.Role != "host" {
		t.Fatalf("H joined as %q, want host: %s", hj.Role, hj)
	}
	api := d.token(t, room, hostPIN, "Moderator", "HOST")
	if c := d.conference(t, room, api.Token); !c.Locked {
		t.Errorf("autolock room with a host is not locked: %+v", c)
	}
	lobbyGuest := func(p *phone, not string) participantInfo {
		t.Helper()
		p.sendDTMF(t, "#")
		return d.waitParticipant(t, room, api.Token, "a SIP guest in the lobby", 10*time.Second, func(q participantInfo) bool {
			return q.Protocol == "sip" && q.Role == "guest" && q.State == "lobby" && q.UUID != not
		})
	}
	admit := func(id string) {
		t.Helper()
		d.apiOK(t, http.MethodPost, room, "participants/"+id+"/unlock", api.Token, nil)
		d.waitParticipant(t, room, api.Token, "the admitted guest in the meeting", 5*time.Second, func(q participantInfo) bool {
			return q.UUID == id && q.State == "in"
		})
	}

	// G1 is admitted.
	g1 := phoneAt("guest1", lobbyToneGuest)
	g1p := lobbyGuest(g1, "")
	admit(g1p.UUID)

	// G2 waits in the lobby.
	g2 := phoneAt("guest2", lobbyToneLate)
	g2p := lobbyGuest(g2, g1p.UUID)
	tLobby := time.Now()
	time.Sleep(time.Duration((waitingPrompt + lobbyWindow + guard) * float64(time.Second)))
	if q := d.waitParticipant(t, room, api.Token, "G2", time.Second, func(q participantInfo) bool { return q.UUID == g2p.UUID }); q.State != "lobby" {
		t.Fatalf("G2 left the lobby without being admitted: %+v", q)
	}

	tAdmit := time.Now()
	admit(g2p.UUID)
	time.Sleep(time.Duration((settle + meetWindow + guard) * float64(time.Second)))

	tMute := time.Now()
	d.apiOK(t, http.MethodPost, room, "participants/"+g1p.UUID+"/mute", api.Token, nil)
	time.Sleep(time.Duration((settle + mutedWindow + guard) * float64(time.Second)))

	phones := []*phone{h, g1, g2}
	clocks := make([]dumpClock, len(phones))
	for i, p := range phones {
		clocks[i].hangup = time.Now()
		p.hangup()
	}
	for _, p := range phones {
		p.wait(t, 10*time.Second)
	}
	for i, p := range phones {
		if tx, rx := p.codecs(); tx != "PCMU" || rx != "PCMU" {
			t.Errorf("%s used tx %q rx %q, want PCMU", p.cfg.Name, tx, rx)
		}
		clocks[i].audio = p.decodedDump(t)
		// The dump must cover the call since before G2 waited, or the
		// mapping of moments to offsets is meaningless.
		if at := clocks[i].at(tLobby); at < 0 {
			t.Fatalf("%s: decoded dump is %.2fs, too short to reach back to G2's arrival in the lobby (offset %.2f)", p.cfg.Name, clocks[i].audio.Duration(), at)
		}
	}

	sec := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
	lobbyFrom, lobbyTo := tLobby.Add(sec(waitingPrompt)), tAdmit.Add(-sec(guard))
	meetFrom, meetTo := tAdmit.Add(sec(settle)), tMute.Add(-sec(guard))
	mutedFrom, mutedTo := tMute.Add(sec(settle)), clocks[0].hangup.Add(-sec(guard))

	var table strings.Builder
	failed := false
	fail := func(format string, args ...any) {
		failed = true
		t.Errorf(format, args...)
	}
	report := func(name, phase string, r toneReport) {
		fmt.Fprintf(&table, "%-15s %-8s %s\n", name, phase, r)
	}
	// absent checks that f, heard in the meeting (heard), is at least 20 dB
	// weaker in quiet.
	absent := func(who, when string, quiet, heard toneReport, f float64) {
		if diff := heard.Levels[f] - quiet.Levels[f]; diff < ownMarginDB {
			fail("%s heard %.0f Hz %s: %.1f dBFS, only %.1f dB below the %.1f dBFS it heard in the meeting (want >= %.0f dB)",
				who, f, when, quiet.Levels[f], diff, heard.Levels[f], ownMarginDB)
		}
	}
	hears := func(who, when string, r toneReport, hear []float64, own float64) {
		for _, pr := range checkHearing(r, hear, own) {
			fail("%s %s: %s", who, when, pr)
		}
	}

	hLobby, hMeet, hMuted := clocks[0].window(lobbyFrom, lobbyTo), clocks[0].window(meetFrom, meetTo), clocks[0].window(mutedFrom, mutedTo)
	g1Lobby, g1Meet, g1Muted := clocks[1].window(lobbyFrom, lobbyTo), clocks[1].window(meetFrom, meetTo), clocks[1].window(mutedFrom, mutedTo)
	g2Lobby, g2Meet := clocks[2].window(lobbyFrom, lobbyTo), clocks[2].window(meetFrom, meetTo)
	for _, row := range []struct {
		name, phase string
		r           toneReport
	}{
		{"H 500", "lobby", hLobby}, {"H 500", "meeting", hMeet}, {"H 500", "G1 muted", hMuted},
		{"G1 1100", "lobby", g1Lobby}, {"G1 1100", "meeting", g1Meet}, {"G1 1100", "G1 muted", g1Muted},
		{"G2 700", "lobby", g2Lobby}, {"G2 700", "meeting", g2Meet},
	} {
		report(row.name, row.phase, row.r)
	}

	// G2's lobby window holds the lobby's hold tone: the window really is
	// the time G2 waited (the mapping of moments to the dump is right) and
	// G2 was sent audio meanwhile, not nothing.
	if l := peakLevel(clocks[2].audio.Slice(clocks[2].at(lobbyFrom), clocks[2].at(lobbyTo)), clocks[2].audio.Rate, holdToneHz, blockSec); l < holdToneMinDBFS {
		fail("G2 did not hear the lobby's %.0f Hz hold tone while it waited: peak %.1f dBFS (want >= %.0f)", holdToneHz, l, holdToneMinDBFS)
	}
	// While G2 waits: H and G1 hear each other, G2 hears neither, and
	// nobody hears G2.
	hears("H", "while G2 waits", hLobby, []float64{lobbyToneGuest}, lobbyToneHost)
	hears("G1", "while G2 waits", g1Lobby, []float64{lobbyToneHost}, lobbyToneGuest)
	absent("G2", "in the lobby", g2Lobby, g2Meet, lobbyToneHost)
	absent("G2", "in the lobby", g2Lobby, g2Meet, lobbyToneGuest)
	absent("H", "from G2 in the lobby", hLobby, hMeet, lobbyToneLate)
	absent("G1", "from G2 in the lobby", g1Lobby, g1Meet, lobbyToneLate)

	// Once admitted, everyone hears everyone else and not themselves.
	hears("H", "in the meeting", hMeet, []float64{lobbyToneGuest, lobbyToneLate}, lobbyToneHost)
	hears("G1", "in the meeting", g1Meet, []float64{lobbyToneHost, lobbyToneLate}, lobbyToneGuest)
	hears("G2", "in the meeting", g2Meet, []float64{lobbyToneHost, lobbyToneGuest}, lobbyToneLate)

	// G1 muted: H no longer hears G1, and G1 still hears H and G2.
	absent("H", "from G1 after the mute", hMuted, hMeet, lobbyToneGuest)
	hears("H", "after G1's mute", hMuted, []float64{lobbyToneLate}, lobbyToneHost)
	hears("G1", "while muted", g1Muted, []float64{lobbyToneHost, lobbyToneLate}, lobbyToneGuest)

	if failed {
		t.Logf("tone levels (median over %.2fs blocks):\n%s", blockSec, table.String())
	} else {
		t.Logf("tone levels:\n%s", table.String())
	}
	d.waitAudit(t, auditMatch{Event: "admit", Room: room, Target: g2p.UUID}, 1, 5*time.Second)
	d.waitAudit(t, auditMatch{Event: "mute", Room: room, Target: g1p.UUID}, 1, 5*time.Second)
}
