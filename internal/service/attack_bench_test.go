//go:build bench

package service

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vmrd/internal/config"
	"vmrd/internal/pin"
)

// TestBenchPINAttack measures what a PIN guessing attack does to legitimate
// callers: 1,000 wrong PINs a second through the control API, from 200
// source addresses, at the real room and at unknown numbers, while sipp
// places ordinary calls and records INVITE-to-200 times. The same calls
// without the attack, in the same run, are the baseline.
func TestBenchPINAttack(t *testing.T) {
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatal("sipp is not installed: apt-get install sip-tester")
	}
	hash, err := pin.Hash("246810")
	if err != nil {
		t.Fatal(err)
	}
	svc, sipPort, httpPort := startBenchService(t, fmt.Sprintf(`
  - number: "1001"
    type: pin
    host_pin: %q
`, hash))

	calls := func(name string) []float64 {
		dir := t.TempDir()
		cmd := exec.Command(sipp, "-sn", "uac", "-s", "1001", "-r", "4", "-m", "80", "-d", "0",
			"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(t)), "-nostdin", "-timeout", "60s",
			"-trace_rtt", "-rtt_freq", "1", fmt.Sprintf("127.0.0.1:%d", sipPort))
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: sipp failed: %v\n%s", name, err, out)
		}
		return readRTT(t, dir)
	}

	base := calls("baseline")

	ctx, stop := context.WithCancel(context.Background())
	var sent, refused, other, failed atomic.Int64
	var wg sync.WaitGroup
	const sources, perSecond = 200, 1000
	for i := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := &net.TCPAddr{IP: net.IPv4(127, 0, byte(1+i/250), byte(2+i%250))}
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				DialContext: (&net.Dialer{LocalAddr: src}).DialContext, MaxIdleConnsPerHost: 4}}
			tick := time.NewTicker(time.Second * sources / perSecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				number := "1001"
				if rand.IntN(2) == 0 {
					number = strconv.Itoa(2000 + rand.IntN(100000))
				}
				body := fmt.Sprintf(`{"display_name":"x","pin":"%06d"}`, rand.IntN(1000000))
				go func() {
					sent.Add(1)
					res, err := client.Post(fmt.Sprintf("http://127.0.0.1:%d/api/client/v2/conferences/%s/request_token", httpPort, number),
						"application/json", bytes.NewReader([]byte(body)))
					if err != nil {
						failed.Add(1)
						return
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if res.StatusCode == 403 {
						refused.Add(1)
					} else {
						other.Add(1)
					}
				}()
			}
		}()
	}
	time.Sleep(3 * time.Second) // the attack at full rate before measuring
	start := time.Now()
	under := calls("attack")
	elapsed := time.Since(start).Seconds()
	stop()
	wg.Wait()

	st := svc.pins.Stats()
	p := func(v []float64, q float64) float64 { return v[int(q*float64(len(v)-1))] }
	t.Logf("attack: %.0f attempts/s sent, %d refused with 403, %d other status, %d client errors (timeouts); limiter: %d hashed wrong, %d refused without hashing, %d room blocks, %d source blocks",
		float64(sent.Load())/(elapsed+3), refused.Load(), other.Load(), failed.Load(), st.Checks[pin.ResultBad], st.Checks[pin.ResultBlocked], st.RoomBlocks, st.SourceBlocks)
	t.Logf("RESULT INVITE-to-200, %d calls each: baseline p50 %.1f ms p99 %.1f ms; during the attack p50 %.1f ms p99 %.1f ms (p99 ratio %.2f)",
		len(base), p(base, .5), p(base, .99), p(under, .5), p(under, .99), p(under, .99)/p(base, .99))
}

// readRTT reads sipp's -trace_rtt CSV: response times in milliseconds.
func readRTT(t *testing.T, dir string) []float64 {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*_rtt.csv"))
	if len(files) != 1 {
		t.Fatalf("want one rtt file in %s, got %v", dir, files)
	}
	f, err := os.Open(files[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = ';'
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var out []float64
	for _, row := range rows[1:] {
		if len(row) < 3 {
			continue
		}
		if v, err := strconv.ParseFloat(row[2], 64); err == nil {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no response times in %s", files[0])
	}
	slices.Sort(out)
	return out
}

// startBenchService runs vmrd in this process on free loopback ports with
// the given rooms: YAML list entries, indented under rooms:.
func startBenchService(t *testing.T, rooms string) (svc *Service, sipPort, httpPort int) {
	t.Helper()
	sipPort, httpPort = freePort(t), freePort(t)
	yaml := fmt.Sprintf(`
sip:
  listen: ["udp:127.0.0.1:%d"]
media:
  rtp_ports: "20000-29999"
  bind_ip: 127.0.0.1
  encryption: preferred
http:
  listen: "127.0.0.1:%d"
log:
  level: error
rooms:%s`, sipPort, httpPort, rooms)
	cfg, err := config.Parse([]byte(yaml), "bench.yaml")
	if err != nil {
		t.Fatal(err)
	}
	svc, err = New(cfg, slog.New(slog.DiscardHandler), "bench")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	return svc, sipPort, httpPort
}

func freePort(t *testing.T) int {
	t.Helper()
	for range 50 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}
