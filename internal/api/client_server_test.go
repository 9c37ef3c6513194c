package api

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"vmrd/internal/metrics"
)

// The server mounts the client API; closing the API first ends the event
// streams so the server's shutdown does not wait for them.
func TestServerMountsClientAPI(t *testing.T) {
	checkLeaks(t)
	rooms := newFakeRooms("1001")
	client := NewClientAPI(ClientConfig{Rooms: rooms})
	s := New(Config{Listen: "127.0.0.1:0", Registry: metrics.New().Registry(), Client: client.Handler(), Logger: slog.New(slog.DiscardHandler)})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	base := "http://" + s.Addr() + ClientPrefix + "1001/"
	res, err := http.Post(base+"request_token", "application/json", strings.NewReader(`{"display_name":"Ops","pin":"1234"}`))
	if err != nil {
		t.Fatal(err)
	}
	var tr tokenResult
	err = json.NewDecoder(res.Body).Decode(&envelope{Result: &tr})
	res.Body.Close()
	if err != nil || res.StatusCode != 200 || tr.Role != "HOST" || tr.Token == "" {
		t.Fatalf("request_token %d %+v %v", res.StatusCode, tr, err)
	}

	req, _ := http.NewRequest("GET", base+"events", nil)
	req.Header.Set("token", tr.Token)
	ev, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Body.Close()
	if ev.StatusCode != 200 {
		t.Fatalf("events %d", ev.StatusCode)
	}
	client.Close()
	rest, _ := io.ReadAll(ev.Body)
	if !strings.Contains(string(rest), "event: disconnect\ndata: {\"reason\":\"server shutting down\"}") {
		t.Fatalf("stream tail %q", rest)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	http.DefaultClient.CloseIdleConnections()
}
