package api

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"vmrd/internal/metrics"
)

func TestHealthReadyMetrics(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := metrics.New()
	m.CallEnded(metrics.CallNotFound)
	var ready atomic.Bool
	s := New(Config{Listen: "127.0.0.1:0", Registry: m.Registry(), Ready: ready.Load, Logger: slog.New(slog.DiscardHandler)})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	get := func(path string) (int, string) {
		t.Helper()
		res, err := http.Get("http://" + s.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("healthz %d", code)
	}
	if code, _ := get("/readyz"); code != 503 {
		t.Fatalf("readyz before ready: %d, want 503", code)
	}
	ready.Store(true)
	if code, _ := get("/readyz"); code != 200 {
		t.Fatalf("readyz when ready: %d", code)
	}
	code, body := get("/metrics")
	if code != 200 || !strings.Contains(body, `vmrd_calls_total{result="not_found"} 1`) || !strings.Contains(body, "vmrd_mixer_tick_seconds_bucket") {
		t.Fatalf("metrics %d:\n%s", code, body)
	}
	if code, _ := get("/nope"); code != 404 {
		t.Fatalf("unknown path %d", code)
	}
}
