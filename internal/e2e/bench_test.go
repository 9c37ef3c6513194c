//go:build bench

// Load figures that `make bench` reports: they run for minutes and measure,
// so they stay out of `make test`.
package e2e

import (
	"context"
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
	// sipp is a load generator: like a trusted proxy, it is exempt from the
	// per-source limits that would otherwise cap it at 5 INVITEs a second.
	cfg.SIP.Limits.AllowSources = []string{"127.0.0.0/8"}
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

// TestBenchMemoryPerLeg holds audio calls open and reports what each more
// call costs: the growth of vmrd's heap and resident memory from 50 to 150
// held calls (the slope, so start-up garbage and one-off caches drop out).
// sipp's uac sends no RTP, so the legs are idle: this measures what a leg
// holds, not traffic.
func TestBenchMemoryPerLeg(t *testing.T) {
	sipp := requireTool(t, "sipp", "sip-tester")
	cfg := defaultConfig()
	cfg.Log.Level = "warn"
	cfg.SIP.NoRTPTimeout = "0s"
	cfg.Media.RTPPorts = "20000-20999"
	cfg.SIP.Limits.AllowSources = []string{"127.0.0.0/8"}
	cfg.Rooms[0].MaxParticipants = 100
	cfg.Rooms = append(cfg.Rooms, RoomConfig{Number: "1002"})
	// A frequent GC makes the heap figure track live memory rather than
	// garbage. The daemon inherits the variable.
	t.Setenv("GOGC", "10")
	d := startDaemon(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hold := func(room string, n int) {
		cmd := exec.CommandContext(ctx, sipp, "-sn", "uac", "-s", room,
			"-r", "50", "-m", strconv.Itoa(n), "-l", strconv.Itoa(n),
			"-d", "600000", "-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)),
			"-nostdin", d.SIPAddr)
		cmd.Dir = t.TempDir()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
	sample := func(calls float64) (heap, rss float64) {
		d.waitMetric(t, "vmrd_calls_active", 30*time.Second, "calls up", func(v float64) bool { return v >= calls })
		time.Sleep(3 * time.Second) // every leg's mixer input and RTCP timer running, a few GCs
		return d.metric(t, "go_memstats_heap_inuse_bytes"), d.metric(t, "process_resident_memory_bytes")
	}
	hold("1001", 50)
	heap0, rss0 := sample(50)
	hold("1001", 50)
	hold("1002", 50)
	heap1, rss1 := sample(150)
	perHeap := (heap1 - heap0) / 100
	perRSS := (rss1 - rss0) / 100
	t.Logf("heap %.1f MB at 50 calls, %.1f MB at 150; resident %.1f MB, %.1f MB", heap0/1e6, heap1/1e6, rss0/1e6, rss1/1e6)
	t.Logf("RESULT memory per audio leg (slope from 50 to 150 held calls): heap %.0f KB, resident %.0f KB (target 256 KB)", perHeap/1024, perRSS/1024)
	if perHeap <= 0 {
		t.Fatalf("heap did not grow from 50 to 150 legs (%v -> %v): the measurement is broken", heap0, heap1)
	}
}
