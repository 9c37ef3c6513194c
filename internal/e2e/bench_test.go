//go:build bench

// Load figures that `make bench` reports: they run for minutes and measure,
// so they stay out of `make test`.
package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestBenchCallRate finds the highest call setup/teardown rate against one
// room (sipp's built-in uac scenario, no media) that completes with no
// failed call, stepping the rate up until one fails.
func TestBenchCallRate(t *testing.T) {
	sipp := requireTool(t, "sipp", "sip-tester")
	cfg := defaultConfig()
	cfg.Log.Level = "warn"
	cfg.Media.RTPPorts = "20000-29999" // room for many calls in flight
	d := startDaemon(t, cfg)
	best := 0
	for _, rate := range []int{50, 100, 200, 400, 800, 1200, 1600} {
		calls := rate * 10 // ten seconds at this rate
		dir := t.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		start := time.Now()
		cmd := exec.CommandContext(ctx, sipp, "-sn", "uac", "-s", "1001",
			"-r", strconv.Itoa(rate), "-m", strconv.Itoa(calls), "-l", strconv.Itoa(rate*2),
			"-d", "0", "-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)),
			"-timeout", "60s", "-nostdin", "-trace_err", "-error_file", filepath.Join(dir, "err.log"),
			d.SIPAddr)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		cancel()
		elapsed := time.Since(start)
		answered := d.metric(t, `vmrd_calls_total{result="answered"}`)
		if err != nil {
			t.Logf("rate %d calls/s: FAILED (%v) after %v; sipp:\n%s", rate, err, elapsed.Round(time.Millisecond), tail(string(out), 15))
			break
		}
		best = rate
		t.Logf("rate %d calls/s: %d calls, none failed, %v (vmrd answered %v in total)", rate, calls, elapsed.Round(time.Millisecond), answered)
	}
	if best == 0 {
		t.Fatal("no rate completed without failed calls")
	}
	t.Logf("RESULT call setup/teardown rate with no failed calls: %d calls/s (target 100)", best)
}

// TestBenchMemoryPerLeg holds 100 audio calls open and reports the growth of
// vmrd's heap and resident memory per call. sipp's uac sends no RTP, so the
// legs are idle: this measures what a leg holds, not traffic.
func TestBenchMemoryPerLeg(t *testing.T) {
	sipp := requireTool(t, "sipp", "sip-tester")
	const legs = 100
	cfg := defaultConfig()
	cfg.Log.Level = "warn"
	cfg.SIP.NoRTPTimeout = "0s"
	cfg.Media.RTPPorts = "20000-20999"
	d := startDaemon(t, cfg)
	time.Sleep(time.Second) // let start-up garbage settle before the baseline
	heap0 := d.metric(t, "go_memstats_heap_inuse_bytes")
	rss0 := d.metric(t, "process_resident_memory_bytes")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, sipp, "-sn", "uac", "-s", "1001",
		"-r", "50", "-m", strconv.Itoa(legs), "-l", strconv.Itoa(legs),
		"-d", "600000", "-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)),
		"-nostdin", d.SIPAddr)
	cmd.Dir = t.TempDir()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	d.waitMetric(t, "vmrd_calls_active", 30*time.Second, "100 calls up", func(v float64) bool { return v >= legs })
	time.Sleep(2 * time.Second) // every leg's mixer input and RTCP timer running
	heap1 := d.metric(t, "go_memstats_heap_inuse_bytes")
	rss1 := d.metric(t, "process_resident_memory_bytes")
	perHeap := (heap1 - heap0) / legs
	perRSS := (rss1 - rss0) / legs
	t.Logf("RESULT memory per audio leg: heap %.0f KB, resident %.0f KB (target 256 KB)", perHeap/1024, perRSS/1024)
	if perHeap <= 0 {
		t.Fatalf("heap did not grow with %d legs (%v -> %v): the measurement is broken", legs, heap0, heap1)
	}
	fmt.Println()
}
