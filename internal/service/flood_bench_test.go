//go:build bench

package service

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// TestBenchINVITEFlood floods vmrd with 5,000 INVITEs a second from one
// source (sipp on 127.0.0.1) while legitimate callers from another source
// (127.0.0.2) place 4 calls a second (under the default per-source INVITE
// rate of 5/s); it reports their INVITE-to-200 times against a
// baseline without the flood, measured in the same run.
func TestBenchINVITEFlood(t *testing.T) {
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatal("sipp is not installed: apt-get install sip-tester")
	}
	svc, sipPort, _ := startBenchService(t, `
  - number: "1001"
`)
	target := fmt.Sprintf("127.0.0.1:%d", sipPort)

	legit := func(name string) []float64 {
		dir := t.TempDir()
		cmd := exec.Command(sipp, "-sn", "uac", "-s", "1001", "-r", "4", "-m", "80", "-d", "0",
			"-i", "127.0.0.2", "-p", strconv.Itoa(freePort(t)), "-nostdin", "-timeout", "90s",
			"-trace_rtt", "-rtt_freq", "1", target)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: legitimate calls failed: %v\n%s", name, err, out)
		}
		return readRTT(t, dir)
	}
	base := legit("baseline")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	flood := exec.CommandContext(ctx, sipp, "-sn", "uac", "-s", "1001", "-r", "5000", "-l", "100000",
		"-d", "0", "-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)), "-nostdin", "-timeout", "60s", target)
	flood.Dir = t.TempDir()
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	dropped0 := svc.metrics.SIPDroppedRate.Load()
	start := time.Now()
	under := legit("flood")
	elapsed := time.Since(start).Seconds()
	dropped := svc.metrics.SIPDroppedRate.Load() - dropped0
	cancel()
	_ = flood.Wait()

	p := func(v []float64, q float64) float64 { return v[int(q*float64(len(v)-1))] }
	t.Logf("flood: %.0f INVITEs/s dropped by the per-source limit while legitimate calls ran", float64(dropped)/elapsed)
	t.Logf("RESULT legitimate INVITE-to-200 under a 5,000/s INVITE flood from another source, %d calls each: baseline p50 %.1f ms p99 %.1f ms; during the flood p50 %.1f ms p99 %.1f ms (target p99 < 500 ms)",
		len(base), p(base, .5), p(base, .99), p(under, .5), p(under, .99))
	if p(under, .99) >= 500 {
		t.Errorf("p99 %.1f ms during the flood, target under 500 ms", p(under, .99))
	}
}
