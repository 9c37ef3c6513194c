package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"vmrd/internal/room"
)

// PINs of the fake rooms; distinctive so a log search for them means something.
const (
	hostPIN  = "914357"
	guestPIN = "286041"
)

// checkLeaks fails the test if goroutines outlive it. Call it first: the
// cleanups registered after it run before it.
func checkLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// lockedBuffer is a log sink safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// harness is a ClientAPI over fake rooms 1001 and 1002, served by httptest.
type harness struct {
	t     *testing.T
	rooms *fakeRooms
	clock *fakeClock
	api   *ClientAPI
	srv   *httptest.Server
	logs  *lockedBuffer
}

func newHarness(t *testing.T, tweak ...func(*ClientConfig)) *harness {
	t.Helper()
	rooms := newFakeRooms("1001", "1002")
	for _, r := range rooms.rooms {
		r.hostPIN, r.guestPIN = hostPIN, guestPIN
	}
	h := &harness{t: t, rooms: rooms, clock: newFakeClock(), logs: &lockedBuffer{}}
	cfg := ClientConfig{
		Rooms:  rooms,
		Logger: slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Now:    h.clock.Now,
	}
	for _, f := range tweak {
		f(&cfg)
	}
	h.api = NewClientAPI(cfg)
	h.srv = httptest.NewServer(h.api.Handler())
	t.Cleanup(func() {
		h.api.Close()
		h.srv.Close()
	})
	return h
}

// response is one decoded API answer.
type response struct {
	code   int
	header http.Header
	raw    string
	status string
	result json.RawMessage
}

// do sends a request; headers alternate names and values.
func (h *harness) do(method, path, body string, headers ...string) response {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	// A bound on every request, so a handler that wrongly streams fails
	// the test instead of hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	out := response{code: res.StatusCode, header: res.Header, raw: string(b)}
	var env struct {
		Status string          `json:"status"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		h.t.Fatalf("%s %s: body is not JSON: %q", method, path, b)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		h.t.Fatalf("%s %s: content type %q", method, path, ct)
	}
	out.status, out.result = env.Status, env.Result
	return out
}

// want fails unless the response has this status code and, for failures,
// this message.
func (r response) want(t *testing.T, code int, msg string) response {
	t.Helper()
	if r.code != code {
		t.Fatalf("status %d, want %d: %s", r.code, code, r.raw)
	}
	if code == http.StatusOK {
		if r.status != "success" {
			t.Fatalf("status field %q: %s", r.status, r.raw)
		}
		return r
	}
	var got string
	if r.status != "failed" || json.Unmarshal(r.result, &got) != nil || got != msg {
		t.Fatalf("failure %s, want %q", r.raw, msg)
	}
	return r
}

// into decodes the result.
func (r response) into(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.result, v); err != nil {
		t.Fatalf("result %s: %v", r.result, err)
	}
}

func path(number, verb string) string { return ClientPrefix + number + "/" + verb }

// token gets a token for a room with a PIN.
func (h *harness) token(number, pin string) tokenResult {
	h.t.Helper()
	var tr tokenResult
	h.do("POST", path(number, "request_token"), `{"display_name":"Alice","pin":"`+pin+`"}`).want(h.t, 200, "").into(h.t, &tr)
	return tr
}

// sse is an open event stream.
type sse struct {
	t      *testing.T
	res    *http.Response
	rd     *bufio.Reader
	cancel context.CancelFunc
}

// events opens the event stream with a token in the header.
func (h *harness) events(number, tok string) *sse {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	req, _ := http.NewRequestWithContext(ctx, "GET", h.srv.URL+path(number, "events"), nil)
	req.Header.Set("token", tok)
	return h.openEvents(req, cancel)
}

func (h *harness) openEvents(req *http.Request, cancel context.CancelFunc) *sse {
	h.t.Helper()
	res, err := h.srv.Client().Do(req)
	if err != nil {
		cancel()
		h.t.Fatal(err)
	}
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		cancel()
		h.t.Fatalf("events: %d %s %s", res.StatusCode, res.Header.Get("Content-Type"), b)
	}
	s := &sse{t: h.t, res: res, rd: bufio.NewReader(res.Body), cancel: cancel}
	h.t.Cleanup(s.close)
	return s
}

func (s *sse) close() {
	s.cancel()
	s.res.Body.Close()
}

// next reads the next event, skipping comments unless comments is set; it
// returns name "" at the end of the stream.
func (s *sse) next(comments bool) (name, data string) {
	s.t.Helper()
	for {
		line, err := s.rd.ReadString('\n')
		if err != nil {
			if name != "" {
				s.t.Fatalf("stream ended inside event %q: %v", name, err)
			}
			return "", ""
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if name != "" || data != "" {
				return name, data
			}
		case strings.HasPrefix(line, ":"):
			if comments {
				return ":", strings.TrimSpace(line[1:])
			}
		case strings.HasPrefix(line, "event: "):
			name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		default:
			s.t.Fatalf("unexpected stream line %q", line)
		}
	}
}

// expect reads the next event and checks its name; it returns the data.
func (s *sse) expect(name string) string {
	s.t.Helper()
	got, data := s.next(false)
	if got != name {
		s.t.Fatalf("event %q (%s), want %q", got, data, name)
	}
	return data
}

// expectEnd checks the stream ends.
func (s *sse) expectEnd() {
	s.t.Helper()
	if name, data := s.next(false); name != "" {
		s.t.Fatalf("event %q (%s) after the end", name, data)
	}
}

// eventually polls cond until it holds or 5 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// lobbyGuest is a caller waiting in the lobby of room 1001.
var lobbyGuest = room.Info{ID: "sip1", DisplayName: "Bob", Role: "guest", State: "lobby", Protocol: "sip", Source: "192.0.2.7"}
