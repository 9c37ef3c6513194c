package e2e

import (
	"testing"
	"time"
)

// TestSIPFloodProtection: a burst of INVITEs from one address is answered
// only up to the per-source burst, the rest dropped unanswered, while
// another address still gets through; a scanner's User-Agent gets nothing.
func TestSIPFloodProtection(t *testing.T) {
	requireDaemon(t)
	t.Parallel()
	tests := []struct {
		name   string
		limits SIPLimits
		burst  int // the invite burst in force
		send   int
	}{
		{name: "configured rate 2 burst 3", limits: SIPLimits{InviteRate: 2, InviteBurst: 3}, burst: 3, send: 20},
		// The defaults (invite_rate 5, invite_burst 20), for when a
		// configured rate cannot be loaded.
		{name: "default limits", burst: 20, send: 40},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := defaultConfig()
			cfg.SIP.Limits = tc.limits
			floodCase(t, startDaemon(t, cfg), tc.burst, tc.send)
		})
	}
}

// floodCase sends n INVITEs at once from 127.0.0.1 against a per-source
// burst of burst, then checks another address and a scanner.
func floodCase(t *testing.T, d *daemon, burstLimit, burst int) {
	t.Helper()
	flood := dialSIPUDP(t, "127.0.0.1", d.SIPAddr)
	media := newMediaPort(t)
	dialogs := make([]*sipDialog, burst)
	for i := range dialogs {
		dialogs[i] = flood.newDialog("1001")
		flood.send(dialogs[i].request("INVITE", 1, nil, offerAVP(media.Port())))
	}
	// Wait until the answers stop coming: no new message for a second.
	for deadline, last := time.Now().Add(15*time.Second), -1; ; {
		n := len(flood.messages())
		if n == last || time.Now().After(deadline) {
			break
		}
		last = n
		time.Sleep(time.Second)
	}
	answered := 0
	for _, dl := range dialogs {
		answeredThis := false
		for _, m := range flood.messages() {
			if m.header("Call-ID") == dl.callID {
				answeredThis = true
			}
		}
		if !answeredThis {
			continue
		}
		answered++
		res := flood.finalFor(dl.callID, "INVITE", 5*time.Second)
		if res == nil || res.Status != 200 {
			t.Errorf("an INVITE within the burst answered %v, want 200", statusOf(res))
			continue
		}
		dl.ack(res)
		if bye := dl.bye(t); bye == nil || bye.Status != 200 {
			t.Errorf("BYE answered %v, want 200 (BYE is never rate limited)", statusOf(bye))
		}
	}
	// The burst takes milliseconds against a refill of a few a second:
	// burstLimit get through, one more only if the sender is slow.
	if answered < burstLimit || answered > burstLimit+1 {
		t.Errorf("%d of %d INVITEs from one address were answered, want %d (the burst), at most %d", answered, burst, burstLimit, burstLimit+1)
	}
	if v := d.metric(t, `vmrd_sip_dropped_total{reason="rate"}`); v != float64(burst-answered) {
		t.Errorf(`vmrd_sip_dropped_total{reason="rate"} = %v, want %d (the unanswered INVITEs)`, v, burst-answered)
	}

	// Another address is not held back by the first one's flood.
	other := dialSIPUDP(t, "127.0.0.2", d.SIPAddr)
	dl := other.newDialog("1001")
	res := dl.invite(t, offerAVP(media.Port()), 10*time.Second)
	if res == nil || res.Status != 200 {
		t.Fatalf("INVITE from 127.0.0.2 during the flood answered %v, want 200", statusOf(res))
	}
	if bye := dl.bye(t); bye == nil || bye.Status != 200 {
		t.Errorf("BYE from 127.0.0.2 answered %v, want 200", statusOf(bye))
	}

	// A scanner's OPTIONS is dropped; a normal OPTIONS sent after it from
	// the same address is answered, so the daemon did read both.
	scanner := dialSIPUDP(t, "127.0.0.3", d.SIPAddr)
	bad := scanner.options("User-Agent: friendly-scanner")
	good := scanner.options("User-Agent: e2e-phone")
	if res := scanner.finalFor(good, "OPTIONS", 5*time.Second); res == nil || res.Status != 200 {
		t.Fatalf("OPTIONS from a phone answered %v, want 200", statusOf(res))
	}
	d.waitMetric(t, `vmrd_sip_dropped_total{reason="scanner"}`, 5*time.Second, "the scanner's OPTIONS counted", func(v float64) bool { return v == 1 })
	if m := scanner.wait(500*time.Millisecond, func(m *sipMsg) bool { return m.header("Call-ID") == bad }); m != nil {
		t.Errorf("the friendly-scanner OPTIONS was answered: %s", statusOf(m))
	}
	d.waitMetric(t, "vmrd_calls_active", 5*time.Second, "all calls gone", func(v float64) bool { return v == 0 })
}
