package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// TestSIPScenarios runs the sipp scenarios that need nothing but a room,
// one after another against one daemon.
func TestSIPScenarios(t *testing.T) {
	requireDaemon(t)
	t.Parallel()
	cfg := defaultConfig()
	// 404 for unknown numbers; the default, a decoy PIN room, is TestSIPPIN's.
	cfg.Security.UnknownRooms = "reject"
	d := startDaemon(t, cfg)
	tests := []struct {
		name      string
		scenario  string
		service   string
		transport string
	}{
		{name: "invite and bye over UDP", scenario: "invite_bye.xml", service: "1001", transport: "u1"},
		{name: "invite and bye over TCP", scenario: "invite_bye.xml", service: "1001", transport: "t1"},
		{name: "options over UDP", scenario: "options.xml", service: "1001", transport: "u1"},
		{name: "options over TCP", scenario: "options.xml", service: "1001", transport: "t1"},
		{name: "unknown room 404", scenario: "not_found.xml", service: "9999", transport: "u1"},
		{name: "no common codec 488", scenario: "no_codec.xml", service: "1001", transport: "u1"},
		{name: "hold and resume", scenario: "hold.xml", service: "1001", transport: "u1"},
		{name: "session timer refresh by re-INVITE", scenario: "session_timer.xml", service: "1001", transport: "u1"},
		{name: "session timer refresh by UPDATE", scenario: "session_timer_update.xml", service: "1001", transport: "u1"},
		{name: "session interval too small 422", scenario: "session_too_small.xml", service: "1001", transport: "u1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := runSipp(t, context.Background(), d, sippRun{Scenario: tc.scenario, Service: tc.service, Transport: tc.transport})
			expectSippOK(t, tc.scenario, res)
		})
	}
	d.waitMetric(t, "vmrd_participants", 5*time.Second, "all calls gone", func(v float64) bool { return v == 0 })
	d.waitMetric(t, "vmrd_calls_active", 5*time.Second, "all calls gone", func(v float64) bool { return v == 0 })
	// invite_bye twice, hold, session_timer, session_timer_update.
	if v := d.metric(t, `vmrd_calls_total{result="answered"}`); v != 5 {
		t.Errorf(`vmrd_calls_total{result="answered"} = %v, want 5`, v)
	}
	if v := d.metric(t, `vmrd_calls_total{result="not_found"}`); v != 1 {
		t.Errorf(`vmrd_calls_total{result="not_found"} = %v, want 1`, v)
	}
	if v := d.metric(t, `vmrd_calls_total{result="no_codec"}`); v != 1 {
		t.Errorf(`vmrd_calls_total{result="no_codec"} = %v, want 1`, v)
	}
}

// TestSIPRoomFull fills room 1003 (max_participants 1) with one held call;
// a second caller gets 486 with a Reason header, after an optional 183 whose
// early media tells why.
func TestSIPRoomFull(t *testing.T) {
	requireDaemon(t)
	t.Parallel()
	d := startDaemon(t, defaultConfig())
	held := startSipp(t, context.Background(), d, sippRun{Scenario: "held_call.xml", Service: "1003", Args: []string{"-d", "4000"}})
	d.waitMetric(t, "vmrd_participants", 10*time.Second, "the first call filling room 1003", func(v float64) bool { return v == 1 })
	res := runSipp(t, context.Background(), d, sippRun{Scenario: "busy.xml", Service: "1003"})
	expectSippOK(t, "busy.xml", res)
	expectSippOK(t, "held_call.xml", held.wait())
	if v := d.metric(t, `vmrd_calls_total{result="busy"}`); v != 1 {
		t.Errorf(`vmrd_calls_total{result="busy"} = %v, want 1`, v)
	}
}

// TestSIPCancel cancels an INVITE while the daemon is ringing, over UDP and
// TCP. answer_delay makes the daemon ring before it answers, so the CANCEL
// always wins; if the 200 came first sipp would see an unexpected message.
// The cancel goes to room 1003 (max_participants 1) and a normal call follows
// at once: a cancelled caller must not keep holding the room's only place.
func TestSIPCancel(t *testing.T) {
	requireDaemon(t)
	t.Parallel()
	cfg := defaultConfig()
	cfg.SIP.AnswerDelay = "3s"
	d := startDaemon(t, cfg)
	for _, transport := range []string{"u1", "t1"} {
		res := runSipp(t, context.Background(), d, sippRun{Scenario: "cancel.xml", Service: "1003", Transport: transport})
		expectSippOK(t, "cancel.xml over "+transport, res)
		res = runSipp(t, context.Background(), d, sippRun{Scenario: "invite_bye.xml", Service: "1003", Transport: transport})
		expectSippOK(t, "invite_bye.xml over "+transport+" right after a cancelled call", res)
	}
	d.waitMetric(t, `vmrd_calls_total{result="cancelled"}`, 10*time.Second, "two cancelled calls counted", func(v float64) bool { return v == 2 })
	d.waitMetric(t, "vmrd_participants", 10*time.Second, "no participants left", func(v float64) bool { return v == 0 })
}

// TestSIPRemoteBye: a call that sends no RTP is hung up by the daemon after
// no_rtp_timeout; sipp must receive its BYE and answer 200.
func TestSIPRemoteBye(t *testing.T) {
	requireDaemon(t)
	t.Parallel()
	cfg := defaultConfig()
	cfg.SIP.NoRTPTimeout = "5s" // the least the config allows
	d := startDaemon(t, cfg)
	res := runSipp(t, context.Background(), d, sippRun{Scenario: "remote_bye.xml", Service: "1001", Timeout: 30 * time.Second})
	expectSippOK(t, "remote_bye.xml", res)
	d.waitMetric(t, "vmrd_participants", 5*time.Second, "the timed-out call gone", func(v float64) bool { return v == 0 })
}

// malformedInvite has no Call-ID, which RFC 3261 section 8.1.1 makes
// mandatory; the answer is 400 Bad Request (section 21.4.1), built from the
// Via, From, To and CSeq it does have.
func malformedInvite(transport string, local net.Addr, target string) string {
	return strings.Join([]string{
		"INVITE sip:1001@" + target + " SIP/2.0",
		fmt.Sprintf("Via: SIP/2.0/%s %s;branch=z9hG4bKmalformed%d;rport", transport, local, time.Now().UnixNano()),
		"From: <sip:bad@127.0.0.1>;tag=bad1",
		"To: <sip:1001@" + target + ">",
		"CSeq: 1 INVITE",
		"Max-Forwards: 70",
		"Contact: <sip:bad@" + local.String() + ">",
		"Content-Length: 0",
		"", "",
	}, "\r\n")
}

// TestSIPMalformed sends broken requests over UDP and TCP: a request without
// Call-ID gets 400, garbage is survived, and the daemon still answers
// OPTIONS afterwards on both transports.
func TestSIPMalformed(t *testing.T) {
	requireDaemon(t)
	t.Parallel()
	d := startDaemon(t, defaultConfig())

	t.Run("missing Call-ID over UDP", func(t *testing.T) {
		c, err := net.Dial("udp", d.SIPAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte(malformedInvite("UDP", c.LocalAddr(), d.SIPAddr))); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 65535)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no answer to an INVITE without Call-ID: %v", err)
		}
		if got := firstLine(string(buf[:n])); !strings.HasPrefix(got, "SIP/2.0 400") {
			t.Errorf("answer = %q, want SIP/2.0 400 ...\n%s", got, buf[:n])
		}
	})
	t.Run("missing Call-ID over TCP", func(t *testing.T) {
		c, err := net.Dial("tcp", d.SIPAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte(malformedInvite("TCP", c.LocalAddr(), d.SIPAddr))); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		got, err := bufio.NewReader(c).ReadString('\n')
		if err != nil {
			t.Fatalf("no answer to an INVITE without Call-ID: %v", err)
		}
		if !strings.HasPrefix(got, "SIP/2.0 400") {
			t.Errorf("answer = %q, want SIP/2.0 400 ...", strings.TrimSpace(got))
		}
	})
	t.Run("garbage over UDP and TCP", func(t *testing.T) {
		garbage := []string{"\x00\x01\x02 not sip\r\n\r\n", "INVITE\r\n\r\n", "SIP/2.0 200\r\n\r\n", strings.Repeat("A", 9000) + "\r\n\r\n"}
		for _, g := range garbage {
			u, err := net.Dial("udp", d.SIPAddr)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = u.Write([]byte(g))
			_ = u.Close()
			c, err := net.Dial("tcp", d.SIPAddr)
			if err != nil {
				t.Fatalf("TCP listener gone: %v", err)
			}
			_, _ = c.Write([]byte(g))
			_ = c.Close()
		}
		if !d.running() {
			t.Fatal("vmrd died on garbage")
		}
	})
	for _, transport := range []string{"u1", "t1"} {
		res := runSipp(t, context.Background(), d, sippRun{Scenario: "options.xml", Service: "1001", Transport: transport})
		expectSippOK(t, "options.xml over "+transport+" after malformed input", res)
	}
	if v := d.metric(t, "vmrd_sip_malformed_total"); v < 2 {
		t.Errorf("vmrd_sip_malformed_total = %v, want >= 2", v)
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}
