package e2e

import (
	"context"
	"testing"
	"time"
)

// TestSIPDialogs covers the offer/answer corners of a dialog: a codec
// change by re-INVITE and an INVITE without SDP, over UDP and TCP.
func TestSIPDialogs(t *testing.T) {
	requireDaemon(t)
	t.Parallel()
	d := startDaemon(t, defaultConfig())
	for _, tc := range []struct{ name, scenario, transport string }{
		{"codec change by re-INVITE over UDP", "codec_change.xml", "u1"},
		{"codec change by re-INVITE over TCP", "codec_change.xml", "t1"},
		{"delayed offer over UDP", "delayed_offer.xml", "u1"},
		{"delayed offer over TCP", "delayed_offer.xml", "t1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := runSipp(t, context.Background(), d, sippRun{Scenario: tc.scenario, Service: "1001", Transport: tc.transport})
			expectSippOK(t, tc.scenario, res)
		})
	}
	d.waitMetric(t, "vmrd_calls_active", 5*time.Second, "all calls gone", func(v float64) bool { return v == 0 })
	if v := d.metric(t, `vmrd_calls_total{result="answered"}`); v != 4 {
		t.Errorf(`vmrd_calls_total{result="answered"} = %v, want 4`, v)
	}
}

// TestSIPNoACK: a caller that never ACKs the 200 gets a BYE once 64*T1
// (32 s) has passed, and its room place is freed.
func TestSIPNoACK(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: waits out the 32 s ACK timer")
	}
	requireDaemon(t)
	t.Parallel()
	d := startDaemon(t, defaultConfig())
	res := runSipp(t, context.Background(), d, sippRun{Scenario: "no_ack.xml", Service: "1001", Timeout: 60 * time.Second})
	expectSippOK(t, "no_ack.xml", res)
	d.waitMetric(t, "vmrd_participants", 5*time.Second, "the un-ACKed caller gone", func(v float64) bool { return v == 0 })
}
