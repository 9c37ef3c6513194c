package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

// Errors of the systemd notification protocol.
var (
	// ErrNotifySocket: $NOTIFY_SOCKET is neither a path nor an abstract
	// socket name (systemd 254+ also knows vsock: addresses; 252 does not).
	ErrNotifySocket = errors.New("NOTIFY_SOCKET is not a unix socket path or @abstract name")
	// ErrUnhealthy: the health check failed, so no watchdog ping was sent.
	ErrUnhealthy = errors.New("service unhealthy")
)

// Notifier tells systemd about the service's life cycle with the
// sd_notify(3) protocol: newline-separated VAR=VALUE assignments in one
// datagram to the unix socket named by $NOTIFY_SOCKET. Every method is a
// no-op when the variable is unset (not started by systemd with
// Type=notify), so main calls them unconditionally.
//
// It is written here rather than taken from a library to keep vmrd free of
// another module for about a hundred lines of protocol.
type Notifier struct {
	addr     *net.UnixAddr // nil: notifications are off
	watchdog time.Duration // WatchdogSec as systemd passed it; 0: off
	log      *slog.Logger
	pid      int

	mu       sync.Mutex // serialises sends, so READY=1 never overtakes RELOADING=1
	badState bool       // a send failed: the next failure is not logged again
}

// NewNotifier reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID through
// getenv (os.Getenv in main). A watchdog meant for another process
// (WATCHDOG_PID set and not ours, e.g. inherited from a parent) is ignored,
// as sd_watchdog_enabled(3) does.
func NewNotifier(getenv func(string) string, log *slog.Logger) *Notifier {
	n := &Notifier{log: log.With("component", "systemd"), pid: os.Getpid()}
	sock := getenv("NOTIFY_SOCKET")
	switch {
	case sock == "":
		return n
	case strings.HasPrefix(sock, "/"), strings.HasPrefix(sock, "@"):
		// Go's net package maps a leading '@' to the abstract namespace
		// (unix(7)): the name's first byte becomes NUL.
		n.addr = &net.UnixAddr{Name: sock, Net: "unixgram"}
	default:
		n.log.Warn("systemd notifications off", "err", ErrNotifySocket, "notify_socket", sock)
		return n
	}
	if p := getenv("WATCHDOG_PID"); p != "" {
		if pid, err := strconv.Atoi(p); err != nil || pid != n.pid {
			return n
		}
	}
	if us, err := strconv.ParseUint(getenv("WATCHDOG_USEC"), 10, 63); err == nil && us > 0 {
		n.watchdog = time.Duration(us) * time.Microsecond
	}
	return n
}

// Enabled reports whether systemd listens for notifications.
func (n *Notifier) Enabled() bool { return n.addr != nil }

// WatchdogTimeout is systemd's WatchdogSec for this process; 0 when no
// watchdog is asked for (or notifications are off).
func (n *Notifier) WatchdogTimeout() time.Duration {
	if n.addr == nil {
		return 0
	}
	return n.watchdog
}

// Ready says start-up (or a reload) is complete: the listeners are open.
func (n *Notifier) Ready() error { return n.send("READY=1") }

// Stopping says the service is shutting down (draining); systemd then
// allows TimeoutStopSec for the exit.
func (n *Notifier) Stopping() error { return n.send("STOPPING=1") }

// Reloading says a reload has started; Ready must follow when it is done,
// whether it succeeded or not. MONOTONIC_USEC is what systemd 253+ wants
// with it (Type=notify-reload); systemd 252 ignores the field.
func (n *Notifier) Reloading() error {
	return n.send("RELOADING=1\nMONOTONIC_USEC=" + strconv.FormatInt(monotonicUsec(), 10))
}

// Status sets the one-line text systemctl status shows. Newlines would
// start a new assignment, so they become spaces.
func (n *Notifier) Status(text string) error {
	return n.send("STATUS=" + strings.NewReplacer("\n", " ", "\r", " ").Replace(text))
}

// Watchdog sends one keep-alive ping.
func (n *Notifier) Watchdog() error { return n.send("WATCHDOG=1") }

func (n *Notifier) send(msg string) error {
	if n.addr == nil {
		return nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	err := n.write(msg)
	switch {
	case err != nil && !n.badState:
		n.badState = true
		n.log.Warn("systemd notification failed", "err", err, "socket", n.addr.Name)
	case err == nil && n.badState:
		n.badState = false
		n.log.Info("systemd notifications work again")
	}
	return err
}

// write opens a fresh socket per message, as sd_notify does: nothing to
// keep open, and a systemd that re-created its socket is found again.
func (n *Notifier) write(msg string) error {
	c, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("systemd notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		return fmt.Errorf("systemd notify: %w", err)
	}
	return nil
}

// StartWatchdog pings systemd every half WatchdogTimeout, as
// sd_watchdog_enabled(3) advises, but only while healthy(ctx) returns nil
// within that half period. A service that is wedged (a deadlocked call
// table, a stuck room manager) thus stops pinging and systemd kills it with
// WatchdogSignal (SIGABRT: Go prints every goroutine's stack to the journal)
// and restarts it. A health check that ignores ctx and blocks stops the
// pings too, which is the point. The returned stop ends the loop and waits
// for it; it is a no-op when no watchdog is asked for.
func (n *Notifier) StartWatchdog(healthy func(context.Context) error) (stop func()) {
	period := n.WatchdogTimeout() / 2
	if period <= 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.watchdogLoop(ctx, period, healthy)
	}()
	return func() {
		cancel()
		<-done
	}
}

func (n *Notifier) watchdogLoop(ctx context.Context, period time.Duration, healthy func(context.Context) error) {
	t := time.NewTicker(period)
	defer t.Stop()
	wasHealthy := true
	for {
		err := n.checkAndPing(ctx, period, healthy)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, ErrUnhealthy) && wasHealthy:
			wasHealthy = false
			n.log.Error("health check failed: no watchdog ping; systemd restarts vmrd if this lasts", "err", err, "watchdog", n.watchdog)
		case err == nil && !wasHealthy:
			wasHealthy = true
			n.log.Info("health check passes again: watchdog pings resumed")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkAndPing runs one health check, bounded by period, and pings if it
// passed.
func (n *Notifier) checkAndPing(ctx context.Context, period time.Duration, healthy func(context.Context) error) error {
	hctx, cancel := context.WithTimeout(ctx, period)
	defer cancel()
	if err := healthy(hctx); err != nil {
		return fmt.Errorf("%w: %w", ErrUnhealthy, err)
	}
	return n.Watchdog()
}

// Healthy is the watchdog's health check: the service has started and not
// closed, and the SIP call table and the room manager answer within ctx
// (each takes its lock, so a deadlock there fails the check). The checks
// run on their own goroutine so that a wedged lock fails the check on time;
// that goroutine ends when the lock frees, or never, in which case systemd
// ends the process.
func (s *Service) Healthy(ctx context.Context) error {
	if !s.ready.Load() && !s.draining.Load() {
		return errors.New("not started")
	}
	done := make(chan struct{}, 1)
	go func() {
		_ = s.sip.Calls()
		_ = s.rooms.Snapshot()
		done <- struct{}{}
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sip server or room manager did not answer: %w", ctx.Err())
	}
}

// monotonicUsec is CLOCK_MONOTONIC in microseconds, the clock systemd
// compares MONOTONIC_USEC with. Go's time package does not expose its
// monotonic reading, hence the system call.
func monotonicUsec() int64 {
	var ts syscall.Timespec
	const clockMonotonic = 1
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		return 0
	}
	return ts.Nano() / 1e3
}
