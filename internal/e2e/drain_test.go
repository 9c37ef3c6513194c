package e2e

import (
	"net/http"
	"regexp"
	"syscall"
	"testing"
	"time"
)

// heldCall is a call answered by the daemon, with its media port.
type heldCall struct {
	c     *sipClient
	dl    *sipDialog
	media *mediaPort
}

// holdCall places a plain call to room 1001 over UDP and waits for media.
func holdCall(t *testing.T, d *daemon) heldCall {
	t.Helper()
	h := heldCall{c: dialSIPUDP(t, "127.0.0.1", d.SIPAddr), media: newMediaPort(t)}
	h.dl = h.c.newDialog("1001")
	res := h.dl.invite(t, offerAVP(h.media.Port()), 10*time.Second)
	if res == nil || res.Status != 200 {
		t.Fatalf("call to room 1001 answered %v, want 200", statusOf(res))
	}
	h.media.waitMore(t, 0, 5*time.Second, "media of the held call")
	return h
}

// waitReady polls /readyz until it answers code.
func (d *daemon) waitReady(t *testing.T, code int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, _, err := httpGet(d.HTTPAddr, "/readyz")
		if err == nil && got == code {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz answered %d (%v) after %v, want %d", got, err, within, code)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDrain: after SIGTERM the daemon refuses everything new (readyz,
// OPTIONS, INVITE, control API) while the call in progress goes on; when
// that call hangs up the daemon exits 0 by itself.
func TestDrain(t *testing.T) {
	requireDaemon(t)
	t.Parallel()
	cfg := defaultConfig()
	cfg.SIP.DrainTimeout = "5m" // the call must outlast the checks below
	d := startDaemon(t, cfg)
	call := holdCall(t, d)

	d.signal(t, syscall.SIGTERM)
	d.waitReady(t, http.StatusServiceUnavailable, 5*time.Second)

	other := dialSIPUDP(t, "127.0.0.1", d.SIPAddr)
	opt := other.options()
	res := other.finalFor(opt, "OPTIONS", 5*time.Second)
	if res == nil || res.Status != 503 || res.header("Retry-After") == "" {
		t.Errorf("OPTIONS while draining answered %v with Retry-After %q, want 503 with Retry-After", statusOf(res), headerOf(res, "Retry-After"))
	}
	media := newMediaPort(t)
	res = other.newDialog("1001").invite(t, offerAVP(media.Port()), 5*time.Second)
	if res == nil || res.Status != 503 || res.header("Retry-After") == "" {
		t.Errorf("INVITE while draining answered %v with Retry-After %q, want 503 with Retry-After", statusOf(res), headerOf(res, "Retry-After"))
	}
	if r := d.requestToken(t, "1001", "", "late"); r.Code != http.StatusServiceUnavailable {
		t.Errorf("request_token while draining: %d %s, want 503", r.Code, r.Body)
	}
	if v := d.metric(t, `vmrd_calls_total{result="draining"}`); v != 1 {
		t.Errorf(`vmrd_calls_total{result="draining"} = %v, want 1`, v)
	}

	// The call in progress still has media both ways and was not ended.
	n := call.media.packets()
	call.media.waitMore(t, n+25, 5*time.Second, "media of the call in progress while draining")
	if v := d.metric(t, "vmrd_calls_active"); v != 1 {
		t.Errorf("vmrd_calls_active = %v while draining, want 1", v)
	}
	if bye := call.dl.byeFromDaemon(0); bye != nil {
		t.Fatalf("vmrd sent BYE to the call in progress while draining")
	}
	if !d.running() {
		t.Fatal("vmrd exited with a call in progress")
	}

	if bye := call.dl.bye(t); bye == nil || bye.Status != 200 {
		t.Errorf("BYE while draining answered %v, want 200", statusOf(bye))
	}
	if code := d.waitExit(t, 15*time.Second); code != 0 {
		t.Errorf("vmrd exited %d after its last call ended, want 0", code)
	}
	d.waitLog(t, regexp.MustCompile(`drained: no calls left`), time.Second)
}

// TestDrainTimeout: a call still up when sip.drain_timeout passes gets BYE
// from the daemon, which then exits 0.
func TestDrainTimeout(t *testing.T) {
	requireDaemon(t)
	t.Parallel()
	cfg := defaultConfig()
	cfg.SIP.DrainTimeout = "3s"
	d := startDaemon(t, cfg)
	call := holdCall(t, d)

	d.signal(t, syscall.SIGTERM)
	d.waitReady(t, http.StatusServiceUnavailable, 5*time.Second)
	// Within the drain timeout the call goes on.
	n := call.media.packets()
	call.media.waitMore(t, n+25, 5*time.Second, "media while draining")
	if bye := call.dl.byeFromDaemon(0); bye != nil {
		t.Fatalf("vmrd sent BYE before the drain timeout")
	}
	bye := call.dl.byeFromDaemon(15 * time.Second)
	if bye == nil {
		t.Fatalf("no BYE from vmrd after the 3s drain timeout; got:\n%s", rawMessages(call.c))
	}
	if code := d.waitExit(t, 15*time.Second); code != 0 {
		t.Errorf("vmrd exited %d after the drain timeout, want 0", code)
	}
	d.waitLog(t, regexp.MustCompile(`drain deadline reached`), time.Second)
}

// TestDrainSecondSignal: a second SIGTERM while draining exits at once,
// with status 1 and no BYE (main.go: "a second signal means now").
func TestDrainSecondSignal(t *testing.T) {
	requireDaemon(t)
	t.Parallel()
	cfg := defaultConfig()
	cfg.SIP.DrainTimeout = "5m"
	d := startDaemon(t, cfg)
	call := holdCall(t, d)

	d.signal(t, syscall.SIGTERM)
	d.waitReady(t, http.StatusServiceUnavailable, 5*time.Second)
	d.signal(t, syscall.SIGTERM)
	if code := d.waitExit(t, 10*time.Second); code != 1 {
		t.Errorf("vmrd exited %d after a second SIGTERM, want 1", code)
	}
	d.waitLog(t, regexp.MustCompile(`second signal: exiting at once`), time.Second)
	if bye := call.dl.byeFromDaemon(500 * time.Millisecond); bye != nil {
		t.Errorf("vmrd sent BYE on a second signal; it should exit at once")
	}
}

func headerOf(m *sipMsg, name string) string {
	if m == nil {
		return ""
	}
	return m.header(name)
}
