package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// notifyListener is systemd's side of the protocol: a unixgram socket that
// collects datagrams.
type notifyListener struct {
	conn *net.UnixConn
	name string // what goes into NOTIFY_SOCKET
}

func listenNotify(t *testing.T, abstract bool) *notifyListener {
	t.Helper()
	var name string
	if abstract {
		name = fmt.Sprintf("@vmrd-notify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	} else {
		// t.TempDir() can be longer than sun_path's 108 bytes.
		dir, err := os.MkdirTemp("", "vn")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		name = filepath.Join(dir, "notify")
	}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %s: %v", name, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &notifyListener{conn: c, name: name}
}

// next returns the next datagram, failing the test if none comes in time.
func (l *notifyListener) next(t *testing.T, within time.Duration) string {
	t.Helper()
	buf := make([]byte, 4096)
	_ = l.conn.SetReadDeadline(time.Now().Add(within))
	n, err := l.conn.Read(buf)
	if err != nil {
		t.Fatalf("no notification within %v: %v", within, err)
	}
	return string(buf[:n])
}

// drain discards the datagrams already queued.
func (l *notifyListener) drain() {
	buf := make([]byte, 4096)
	for {
		_ = l.conn.SetReadDeadline(time.Now().Add(time.Millisecond))
		if _, err := l.conn.Read(buf); err != nil {
			return
		}
	}
}

// none checks that no datagram arrives within d.
func (l *notifyListener) none(t *testing.T, d time.Duration) {
	t.Helper()
	buf := make([]byte, 4096)
	_ = l.conn.SetReadDeadline(time.Now().Add(d))
	if n, err := l.conn.Read(buf); err == nil {
		t.Fatalf("unexpected notification %q", buf[:n])
	}
}

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

var discard = slog.New(slog.DiscardHandler)

func TestNotifierMessages(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, abstract := range []bool{false, true} {
		name := "path socket"
		if abstract {
			name = "abstract socket"
		}
		t.Run(name, func(t *testing.T) {
			l := listenNotify(t, abstract)
			n := NewNotifier(envOf(map[string]string{"NOTIFY_SOCKET": l.name}), discard)
			if !n.Enabled() {
				t.Fatal("notifier with NOTIFY_SOCKET set is not enabled")
			}
			for _, tc := range []struct {
				name string
				call func() error
				want string
			}{
				{"ready", n.Ready, "READY=1"},
				{"stopping", n.Stopping, "STOPPING=1"},
				{"watchdog", n.Watchdog, "WATCHDOG=1"},
				{"status", func() error { return n.Status("draining: 3 calls") }, "STATUS=draining: 3 calls"},
				{"status newline cannot inject", func() error { return n.Status("a\nREADY=1") }, "STATUS=a READY=1"},
			} {
				if err := tc.call(); err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if got := l.next(t, 2*time.Second); got != tc.want {
					t.Errorf("%s sent %q, want %q", tc.name, got, tc.want)
				}
			}
			if err := n.Reloading(); err != nil {
				t.Fatal(err)
			}
			got := strings.Split(l.next(t, 2*time.Second), "\n")
			if len(got) != 2 || got[0] != "RELOADING=1" || !strings.HasPrefix(got[1], "MONOTONIC_USEC=") {
				t.Fatalf("reloading sent %q, want RELOADING=1 and MONOTONIC_USEC=", got)
			}
			us, err := strconv.ParseInt(strings.TrimPrefix(got[1], "MONOTONIC_USEC="), 10, 64)
			if err != nil || us <= 0 {
				t.Errorf("MONOTONIC_USEC %q is not a positive number", got[1])
			}
		})
	}
}

func TestNotifierOffWithoutSocket(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"unset", map[string]string{"WATCHDOG_USEC": "500000"}},
		{"not a unix address", map[string]string{"NOTIFY_SOCKET": "vsock:2:1234", "WATCHDOG_USEC": "500000"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := NewNotifier(envOf(tc.env), discard)
			if n.Enabled() || n.WatchdogTimeout() != 0 {
				t.Fatalf("enabled %v, watchdog %v; want off", n.Enabled(), n.WatchdogTimeout())
			}
			for _, f := range []func() error{n.Ready, n.Stopping, n.Reloading, n.Watchdog, func() error { return n.Status("x") }} {
				if err := f(); err != nil {
					t.Errorf("no-op notifier returned %v", err)
				}
			}
			called := false
			n.StartWatchdog(func(context.Context) error { called = true; return nil })()
			if called {
				t.Error("watchdog loop ran without a watchdog")
			}
		})
	}
}

func TestNotifierSendErrorWhenNobodyListens(t *testing.T) {
	dir, err := os.MkdirTemp("", "vn")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	n := NewNotifier(envOf(map[string]string{"NOTIFY_SOCKET": filepath.Join(dir, "gone")}), discard)
	if err := n.Ready(); err == nil {
		t.Fatal("READY=1 to a socket nobody listens on returned no error")
	}
}

func TestNotifierWatchdogEnv(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		name string
		env  map[string]string
		want time.Duration
	}{
		{"usec", map[string]string{"WATCHDOG_USEC": "30000000"}, 30 * time.Second},
		{"our pid", map[string]string{"WATCHDOG_USEC": "500000", "WATCHDOG_PID": pid}, 500 * time.Millisecond},
		{"another pid", map[string]string{"WATCHDOG_USEC": "500000", "WATCHDOG_PID": "1"}, 0},
		{"bad pid", map[string]string{"WATCHDOG_USEC": "500000", "WATCHDOG_PID": "x"}, 0},
		{"no usec", map[string]string{"WATCHDOG_PID": pid}, 0},
		{"zero usec", map[string]string{"WATCHDOG_USEC": "0"}, 0},
		{"bad usec", map[string]string{"WATCHDOG_USEC": "-5"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.env["NOTIFY_SOCKET"] = "@unused"
			if got := NewNotifier(envOf(tc.env), discard).WatchdogTimeout(); got != tc.want {
				t.Errorf("WatchdogTimeout() = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestNotifierWatchdogLoop: pings every half period while healthy, none
// while the health check fails or blocks, pings again after recovery, and
// stop ends the goroutine.
func TestNotifierWatchdogLoop(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	l := listenNotify(t, true)
	n := NewNotifier(envOf(map[string]string{"NOTIFY_SOCKET": l.name, "WATCHDOG_USEC": "100000"}), discard)

	const (
		ok = iota
		failing
		blocking
	)
	var mode atomic.Int32
	var checks atomic.Int32
	healthy := func(ctx context.Context) error {
		checks.Add(1)
		switch mode.Load() {
		case failing:
			return errors.New("room manager wedged")
		case blocking:
			<-ctx.Done() // a check that cannot finish must not ping
			return ctx.Err()
		}
		return nil
	}
	stop := n.StartWatchdog(healthy)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()

	for range 3 {
		if got := l.next(t, 2*time.Second); got != "WATCHDOG=1" {
			t.Fatalf("got %q, want WATCHDOG=1", got)
		}
	}
	for _, m := range []int32{failing, blocking} {
		mode.Store(m)
		// Checks counted after c0 read the new mode; a ping from the
		// last healthy check is queued before check c0+1 starts.
		c0 := checks.Load()
		waitChecks(t, &checks, c0+1)
		l.drain()
		deadline := time.Now().Add(5 * time.Second)
		for checks.Load() < c0+3 {
			if time.Now().After(deadline) {
				t.Fatalf("health checks stopped running (mode %d)", m)
			}
			l.none(t, 20*time.Millisecond)
		}
	}
	mode.Store(ok)
	if got := l.next(t, 2*time.Second); got != "WATCHDOG=1" {
		t.Fatalf("after recovery got %q, want WATCHDOG=1", got)
	}
	stop()
	stopped = true
	after := checks.Load()
	l.none(t, 200*time.Millisecond) // two periods
	if checks.Load() != after {
		t.Error("health checks went on after stop")
	}
}

func waitChecks(t *testing.T, checks *atomic.Int32, n int32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for checks.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("health check %d did not run", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestServiceHealthy: the watchdog's health check fails before Start and
// passes while the service runs and while it drains.
func TestServiceHealthy(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	svc := newTestService(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := svc.Healthy(ctx); err == nil {
		t.Fatal("Healthy before Start returned nil")
	}
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	if err := svc.Healthy(ctx); err != nil {
		t.Fatalf("Healthy while running: %v", err)
	}
	dctx, dcancel := context.WithCancel(context.Background())
	dcancel()
	svc.Drain(dctx)
	if err := svc.Healthy(ctx); err != nil {
		t.Fatalf("Healthy while draining: %v", err)
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
}
