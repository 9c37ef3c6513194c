package metrics

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCollectorExportsAtomics(t *testing.T) {
	m := New()
	m.CallsActive.Add(2)
	m.CallEnded(CallBusy)
	m.CallEnded(CallBusy)
	m.RTPInvalid(InvalidSSRC)
	m.RTPPacketsIn.Add(5)
	m.CallEnded(CallResult(99)) // out of range: ignored, never a panic
	m.RTPInvalid(InvalidReason(-1))
	want := `
# HELP vmrd_calls_active Calls in progress.
# TYPE vmrd_calls_active gauge
vmrd_calls_active 2
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "vmrd_calls_active"); err != nil {
		t.Fatal(err)
	}
	if got := m.CallsTotal(CallBusy); got != 2 {
		t.Fatalf("busy %d", got)
	}
	if got := m.RTPInvalidTotal(InvalidSSRC); got != 1 {
		t.Fatalf("ssrc %d", got)
	}
	n, err := testutil.GatherAndCount(m.Registry(), "vmrd_calls_total", "vmrd_rtp_invalid_packets_total", "vmrd_rtp_packets_total")
	if err != nil {
		t.Fatal(err)
	}
	if n != int(numCallResults)+int(numInvalidReasons)+2 {
		t.Fatalf("%d series, want one per label value", n)
	}
	if CallCancelled.String() != "cancelled" || InvalidOversize.String() != "oversize" || CallResult(42).String() != "unknown" {
		t.Fatal("label names")
	}
}
