//go:build soak

// The soak test that `make soak` runs: it holds calls and churns others for
// SOAK_DURATION (default 60s) and checks that the daemon's goroutines, file
// descriptors and memory stay flat. `make test` (and so CI) runs it for
// 40 s, without the race detector, whose memory would blur the figures;
// longer runs are `make soak`.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// soakSample is one scrape of the daemon's resource figures.
type soakSample struct {
	At           time.Duration // since the calls started
	Goroutines   float64
	FDs          float64
	HeapInuse    float64 // bytes
	RSS          float64 // bytes
	Calls        float64
	Participants float64
	Allocated    float64 // go_memstats_alloc_bytes_total
}

// soakSeries names one figure of a sample and how much it may grow from the
// first quarter after the warm-up to the last without being a trend: the
// larger of a fraction and an absolute margin, since small counts are noisy.
type soakSeries struct {
	Name     string
	Metric   string
	Get      func(soakSample) float64
	Rel      float64
	Abs      float64
	Unit     float64 // printed in multiples of this
	UnitName string
}

var soakSeriesList = []soakSeries{
	{Name: "goroutines", Metric: "go_goroutines", Get: func(s soakSample) float64 { return s.Goroutines }, Rel: 0.10, Abs: 20, Unit: 1},
	{Name: "fds", Metric: "process_open_fds", Get: func(s soakSample) float64 { return s.FDs }, Rel: 0.10, Abs: 8, Unit: 1},
	{Name: "heap", Metric: "go_memstats_heap_inuse_bytes", Get: func(s soakSample) float64 { return s.HeapInuse }, Rel: 0.10, Abs: 4 << 20, Unit: 1 << 20, UnitName: "MiB"},
	{Name: "rss", Metric: "process_resident_memory_bytes", Get: func(s soakSample) float64 { return s.RSS }, Rel: 0.10, Abs: 8 << 20, Unit: 1 << 20, UnitName: "MiB"},
}

// soakDuration reads SOAK_DURATION (a Go duration), 60s by default.
func soakDuration(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv("SOAK_DURATION")
	if v == "" {
		return 60 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 20*time.Second {
		t.Fatalf("SOAK_DURATION=%q: want a Go duration of at least 20s", v)
	}
	return d
}

// TestSoak runs, for SOAK_DURATION:
//   - room 1001: three baresip phones (PCMU, G.722, Opus) held for the whole
//     run, and a churn of sipp calls (one a second, each playing 7 s of PCMA
//     and hanging up after 7.5 s);
//   - room 1002: four Go RTP peers sending tones, held, and the same churn.
//
// Every few seconds it samples the daemon's goroutines, open files, heap and
// resident memory. After a warm-up the last quarter's means must not exceed
// the first quarter's by more than 10 % (or a small absolute margin), and once
// every call has ended goroutines and open files must return to what they
// were before the first call.
func TestSoak(t *testing.T) {
	sipp := requireTool(t, "sipp", "sip-tester")
	requireTool(t, "baresip", "baresip-core")
	dur := soakDuration(t)
	interval := min(max(dur/30, time.Second), 10*time.Second)
	const (
		churnRate = 1                       // calls a second, per room
		churnHold = 7500 * time.Millisecond // a little over the 7 s recording
	)
	// The churn reaches its steady number of calls after one hold time.
	warmup := max(dur/5, churnHold+5*time.Second)

	cfg := defaultConfig()
	cfg.Log.Level = "info"
	// Room for many calls at once, above the blocks nextRTPRange hands out.
	cfg.Media.RTPPorts = fmt.Sprintf("%d-%d", rtpBase+rtpBlocks*rtpBlockSize, rtpBase+rtpBlocks*rtpBlockSize+499)
	cfg.Rooms = []RoomConfig{{Number: "1001", Name: "Soak phones"}, {Number: "1002", Name: "Soak tones"}}
	d := startDaemon(t, cfg)

	scrape := func(at time.Duration) soakSample {
		return soakSample{
			At:           at,
			Goroutines:   d.metric(t, "go_goroutines"),
			FDs:          d.metric(t, "process_open_fds"),
			HeapInuse:    d.metric(t, "go_memstats_heap_inuse_bytes"),
			RSS:          d.metric(t, "process_resident_memory_bytes"),
			Calls:        d.metric(t, "vmrd_calls_active"),
			Participants: d.metric(t, "vmrd_participants"),
			Allocated:    d.metric(t, "go_memstats_alloc_bytes_total"),
		}
	}
	time.Sleep(time.Second) // start-up settles
	base := scrape(0)
	t.Logf("baseline before any call: %d goroutines, %d fds, heap %.1f MiB, rss %.1f MiB",
		int(base.Goroutines), int(base.FDs), base.HeapInuse/(1<<20), base.RSS/(1<<20))

	start := time.Now()
	end := start.Add(dur)

	// Held calls: four tone peers in 1002 through sipp, three phones in 1001.
	peers := make([]*mediaPeer, 4)
	freqs := []float64{440, 660, 990, 1320}
	var held []*sippProc
	for i := range peers {
		peers[i] = startMediaPeer(t, fmt.Sprintf("tone%d", i+1), freqs[i], uint32(0x50a40000+i))
		held = append(held, startSipp(t, context.Background(), d, sippRun{
			Scenario: "inband_offer.xml", Service: "1002", Timeout: dur + time.Minute,
			Keys: map[string]string{"rtp_port": strconv.Itoa(peers[i].Port())},
			Args: []string{"-d", strconv.Itoa(int((dur + 3*time.Second).Milliseconds()))},
		}))
	}
	var phones []*phone
	for i, cc := range codecCases {
		phones = append(phones, startPhone(t, phoneConfig{
			Name: "soak-" + cc.Name, Freq: int(toneFreqs[i]), Codecs: cc.Codecs,
			Dial: "sip:1001@" + d.SIPAddr, Seconds: int((dur + time.Minute).Seconds()),
		}))
	}
	for _, p := range phones {
		p.waitLog(t, establishedRe, 15*time.Second)
	}
	for _, p := range peers {
		p.waitFirst(t, 10*time.Second)
	}

	// Churn: one sipp per room, a call a second until the end of the run;
	// the last calls end one hold time after it, outside the samples.
	churnCalls := int(dur.Seconds()) * churnRate
	type churn struct {
		room string
		cmd  *exec.Cmd
		out  strings.Builder
		dir  string
		done chan struct{} // closed when sipp has exited; err is then set
		err  error
	}
	var churns []*churn
	scenario, err := filepath.Abs(filepath.Join("testdata", "sipp", "soak_call.xml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, room := range []string{"1001", "1002"} {
		c := &churn{room: room, dir: t.TempDir(), done: make(chan struct{})}
		c.cmd = exec.Command(sipp, "-sf", scenario, "-s", room,
			"-r", strconv.Itoa(churnRate), "-m", strconv.Itoa(churnCalls), "-l", strconv.Itoa(4*churnRate*int(churnHold.Seconds()+1)),
			"-d", strconv.Itoa(int(churnHold.Milliseconds())),
			"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)), "-mp", strconv.Itoa(sippMediaPort()),
			"-timeout", fmt.Sprintf("%ds", int((dur+time.Minute).Seconds())), "-timeout_error",
			"-recv_timeout", "10000", "-nostdin",
			"-trace_err", "-error_file", filepath.Join(c.dir, "errors.log"),
			"-trace_stat", "-stf", filepath.Join(c.dir, "stat.csv"),
			d.SIPAddr)
		c.cmd.Dir = c.dir
		c.cmd.Stdout = &c.out
		c.cmd.Stderr = &c.out
		c.cmd.SysProcAttr = orphanGuard()
		if err := c.cmd.Start(); err != nil {
			t.Fatalf("start sipp churn: %v", err)
		}
		go func() {
			c.err = c.cmd.Wait()
			close(c.done)
		}()
		t.Cleanup(func() {
			select {
			case <-c.done:
			default:
				_ = c.cmd.Process.Kill()
				<-c.done
			}
		})
		churns = append(churns, c)
	}

	// Sample until the end of the run.
	var samples []soakSample
	for next := start; time.Now().Before(end); next = next.Add(interval) {
		if w := time.Until(next); w > 0 {
			time.Sleep(w)
		}
		if !d.running() {
			t.Fatal("vmrd exited during the soak")
		}
		samples = append(samples, scrape(time.Since(start)))
	}

	// Before the held calls end: the tone peers still hear each other.
	for i, p := range peers {
		frames := p.heard(time.Now().Add(-3*time.Second), time.Now())
		for j, f := range freqs {
			if j == i {
				continue
			}
			if l := medianFrameLevel(frames, f); l < minAudibleDBFS {
				t.Errorf("%s hears %s at %.1f dBFS at the end of the soak, want >= %.0f", p.name, peers[j].name, l, minAudibleDBFS)
			}
		}
	}

	// Wind down: the churn finishes its calls, the held calls hang up.
	for _, c := range churns {
		select {
		case <-c.done:
		case <-time.After(churnHold + 30*time.Second):
			t.Errorf("sipp churn to %s still running %v after the soak", c.room, churnHold+30*time.Second)
		}
	}
	for _, p := range phones {
		p.hangup()
	}
	for _, p := range phones {
		p.wait(t, 10*time.Second)
	}
	for _, h := range held {
		expectSippOK(t, "inband_offer.xml (held)", h.wait())
	}
	for _, p := range peers {
		p.close()
	}
	d.waitMetric(t, "vmrd_calls_active", 30*time.Second, "every call ending", func(v float64) bool { return v == 0 })
	d.waitMetric(t, "vmrd_participants", 10*time.Second, "every participant leaving", func(v float64) bool { return v == 0 })

	// Goroutines and open files back to the baseline; allow the scrape's
	// own connection and goroutine.
	var after soakSample
	deadline := time.Now().Add(20 * time.Second)
	for {
		after = scrape(time.Since(start))
		if after.Goroutines <= base.Goroutines+3 && after.FDs <= base.FDs+2 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("20s after the last call: %v goroutines (baseline %v), %v open fds (baseline %v)",
				after.Goroutines, base.Goroutines, after.FDs, base.FDs)
			break
		}
		time.Sleep(500 * time.Millisecond)
	}

	// Churn outcome.
	answered := d.metric(t, `vmrd_calls_total{result="answered"}`)
	failed := d.metric(t, `vmrd_calls_total{result="failed"}`)
	for _, c := range churns {
		<-c.done
		err := c.err
		var ee *exec.ExitError
		if err != nil {
			code := -1
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
			errs, _ := os.ReadFile(filepath.Join(c.dir, "errors.log"))
			t.Errorf("sipp churn to room %s exited %d (0 = every call passed)\n%s\n%s", c.room, code, tail(string(errs), 40), tail(c.out.String(), 20))
		}
	}
	if failed > 0 {
		t.Errorf(`vmrd_calls_total{result="failed"} = %v, want 0`, failed)
	}
	wantCalls := float64(2*churnCalls + len(peers) + len(phones))
	if answered < wantCalls {
		t.Errorf("vmrd answered %v calls, want %v (%d churned per room, %d held)", answered, wantCalls, churnCalls, len(peers)+len(phones))
	}

	// The table and the trend check.
	var tb strings.Builder
	fmt.Fprintf(&tb, "%8s %6s %5s %9s %9s %6s %6s\n", "t", "gorout", "fds", "heap MiB", "rss MiB", "calls", "parts")
	row := func(label string, s soakSample) {
		fmt.Fprintf(&tb, "%8s %6.0f %5.0f %9.1f %9.1f %6.0f %6.0f\n", label, s.Goroutines, s.FDs, s.HeapInuse/(1<<20), s.RSS/(1<<20), s.Calls, s.Participants)
	}
	row("base", base)
	for _, s := range samples {
		label := s.At.Round(time.Second).String()
		if s.At < warmup {
			label += "*"
		}
		row(label, s)
	}
	row("after", after)
	t.Logf("samples every %v (* = warm-up, %v):\n%s", interval, warmup, tb.String())

	var steady []soakSample
	for _, s := range samples {
		if s.At >= warmup {
			steady = append(steady, s)
		}
	}
	if len(steady) < 8 {
		t.Fatalf("only %d samples after the warm-up: make SOAK_DURATION longer", len(steady))
	}
	q := len(steady) / 4
	var figures []string
	for _, sr := range soakSeriesList {
		first, last := meanOf(steady[:q], sr.Get), meanOf(steady[len(steady)-q:], sr.Get)
		allowed := math.Max(first*sr.Rel, sr.Abs)
		unit := func(v float64) string {
			if sr.UnitName == "" {
				return fmt.Sprintf("%.0f", v/sr.Unit)
			}
			return fmt.Sprintf("%.1f%s", v/sr.Unit, sr.UnitName)
		}
		figures = append(figures, fmt.Sprintf("%s %s->%s (base %s, after %s)", sr.Name, unit(first), unit(last), unit(sr.Get(base)), unit(sr.Get(after))))
		if last-first > allowed {
			t.Errorf("%s (%s) grew from a mean of %s in the first quarter after the warm-up to %s in the last, more than the %s allowed: a leak?",
				sr.Name, sr.Metric, unit(first), unit(last), unit(allowed))
		}
	}
	// The allocation rate is reported, not judged: garbage is not a leak,
	// but it is what the garbage collector and RSS pay for.
	span := steady[len(steady)-1].At - steady[0].At
	allocRate := (steady[len(steady)-1].Allocated - steady[0].Allocated) / span.Seconds() / (1 << 20)
	cmd := fmt.Sprintf("SOAK_DURATION=%v make soak", dur)
	t.Logf("RESULT soak %v: %s; allocations %.2f MiB/s; calls answered %.0f (churn %d/room at %d/s, %d held), failed %.0f; command: %s",
		dur, strings.Join(figures, "; "), allocRate, answered, churnCalls, churnRate, len(peers)+len(phones), failed, cmd)
}

func meanOf(s []soakSample, get func(soakSample) float64) float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	var sum float64
	for _, x := range s {
		sum += get(x)
	}
	return sum / float64(len(s))
}
