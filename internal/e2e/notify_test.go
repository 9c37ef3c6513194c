package e2e

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// notifySocket plays systemd's side of sd_notify(3): a unixgram socket
// whose datagrams arrive, one message each, on msgs.
type notifySocket struct {
	path string
	conn *net.UnixConn
	msgs chan string
	wg   sync.WaitGroup
}

func listenNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	// Short: sun_path holds 108 bytes and t.TempDir() can be longer.
	dir, err := os.MkdirTemp("", "vmrdn")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	s := &notifySocket{path: filepath.Join(dir, "notify"), msgs: make(chan string, 1024)}
	s.conn, err = net.ListenUnixgram("unixgram", &net.UnixAddr{Name: s.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(s.msgs)
		buf := make([]byte, 4096)
		for {
			n, err := s.conn.Read(buf)
			if err != nil {
				return
			}
			select {
			case s.msgs <- string(buf[:n]):
			default: // a test that stopped reading: drop
			}
		}
	}()
	t.Cleanup(func() {
		_ = s.conn.Close()
		s.wg.Wait()
	})
	return s
}

// fields splits one notification into its VAR=VALUE assignments.
func notifyFields(msg string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(msg, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			out[k] = v
		}
	}
	return out
}

// waitFor reads notifications until one sets key=value, and returns the
// ones before it.
func (s *notifySocket) waitFor(t *testing.T, key, value string, within time.Duration) (before []map[string]string) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				t.Fatalf("notify socket closed while waiting for %s=%s", key, value)
			}
			f := notifyFields(m)
			if f[key] == value {
				return before
			}
			before = append(before, f)
		case <-deadline:
			t.Fatalf("no %s=%s within %v; got %v", key, value, within, before)
		}
	}
}

// TestSystemdNotify runs the daemon as systemd would with Type=notify and
// WatchdogSec=1s: READY=1 once /readyz is 200, WATCHDOG=1 every half
// second, RELOADING=1 then READY=1 around a SIGHUP certificate reload (the
// new certificate is served by the time READY=1 arrives), STOPPING=1 on
// SIGTERM, then a clean exit.
func TestSystemdNotify(t *testing.T) {
	requireDaemon(t)
	t.Parallel()
	sock := listenNotifySocket(t)
	dir := t.TempDir()
	cert := writeTestCert(t, dir, "first")
	cfg := defaultConfig()
	cert.configure(&cfg)
	d := startDaemonEnv(t, cfg, "NOTIFY_SOCKET="+sock.path, "WATCHDOG_USEC=500000", "WATCHDOG_PID=")

	before := sock.waitFor(t, "READY", "1", 20*time.Second)
	if code, _, err := httpGet(d.HTTPAddr, "/readyz"); err != nil || code != http.StatusOK {
		t.Fatalf("READY=1 arrived while /readyz answers %d (%v), want 200", code, err)
	}
	for _, f := range before {
		if f["WATCHDOG"] != "" {
			t.Errorf("WATCHDOG=1 before READY=1: %v", before)
		}
	}

	// The watchdog: WATCHDOG_USEC/2 = 250 ms apart; three in a row.
	for range 3 {
		sock.waitFor(t, "WATCHDOG", "1", 5*time.Second)
	}

	// Reload: a new certificate over the old files, then SIGHUP.
	second := writeTestCert(t, dir, "second")
	for src, dst := range map[string]string{second.CertFile: cert.CertFile, second.KeyFile: cert.KeyFile} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d.signal(t, syscall.SIGHUP)
	sock.waitFor(t, "RELOADING", "1", 10*time.Second)
	sock.waitFor(t, "READY", "1", 10*time.Second)
	serial, err := peerSerial(d.TLSAddr)
	if err != nil {
		t.Fatalf("TLS handshake after reload: %v", err)
	}
	if serial.Cmp(second.Serial) != 0 {
		t.Errorf("after READY=1 the TLS listener serves serial %v, want the reloaded %v", serial, second.Serial)
	}
	// Pings go on after a reload.
	sock.waitFor(t, "WATCHDOG", "1", 5*time.Second)

	d.signal(t, syscall.SIGTERM)
	sock.waitFor(t, "STOPPING", "1", 10*time.Second)
	if code := d.waitExit(t, 20*time.Second); code != 0 {
		t.Errorf("vmrd exited %d after SIGTERM, want 0", code)
	}
}

// TestSystemdNotifyForeignWatchdog: a WATCHDOG_PID naming another process
// (inherited from a parent) keeps the watchdog off; READY=1 still comes.
func TestSystemdNotifyForeignWatchdog(t *testing.T) {
	requireDaemon(t)
	t.Parallel()
	sock := listenNotifySocket(t)
	d := startDaemonEnv(t, defaultConfig(), "NOTIFY_SOCKET="+sock.path, "WATCHDOG_USEC=100000", "WATCHDOG_PID=1")
	sock.waitFor(t, "READY", "1", 20*time.Second)
	d.waitReady(t, http.StatusOK, 5*time.Second)
	// Ten would-be watchdog periods: nothing but status lines.
	deadline := time.After(time.Second)
	for {
		select {
		case m := <-sock.msgs:
			if notifyFields(m)["WATCHDOG"] != "" {
				t.Fatalf("WATCHDOG=1 sent although WATCHDOG_PID names another process: %q", m)
			}
			continue
		case <-deadline:
		}
		break
	}
}
