package service

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"vmrd/internal/config"
	"vmrd/internal/pin"
	"vmrd/internal/room"
)

func TestSourceAddr(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5060":      "127.0.0.1",
		"[2001:db8::1]:5061":  "2001:db8::1",
		"192.0.2.7":           "192.0.2.7",
		"[::ffff:10.0.0.1]:1": "10.0.0.1",
		"garbage":             "invalid IP",
	} {
		if got := sourceAddr(in).String(); got != want {
			t.Errorf("sourceAddr(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestAuditLogAppendsJSONLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	if err := os.WriteFile(path, []byte(`{"event":"earlier"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := openAudit(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a.Room(room.AuditEvent{Kind: "join", Room: "1001", Role: "host", Source: "127.0.0.1:5060"})
	a.PIN(pin.Event{Kind: pin.EventPINFailure, Room: "1001"}) // the room writes failures: not twice
	a.PIN(pin.Event{Kind: pin.EventRoomBlocked, Room: "1001"})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var kinds []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e struct{ Event string }
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		kinds = append(kinds, e.Event)
	}
	if want := []string{"earlier", "join", "room_blocked"}; len(kinds) != 3 || kinds[0] != want[0] || kinds[1] != want[1] || kinds[2] != want[2] {
		t.Fatalf("audit log events %v, want %v (appended, failures not doubled)", kinds, want)
	}
}

func TestVerifierAdapter(t *testing.T) {
	host, err := pin.Hash("123456")
	if err != nil {
		t.Fatal(err)
	}
	cfg := &config.Config{Rooms: []config.Room{{Number: "1001", Type: config.RoomAutolock, HostPIN: host, GuestsAllowed: true}}}
	rules, err := pinRules(cfg)
	if err != nil {
		t.Fatal(err)
	}
	v := &verifier{v: pin.NewVerifier(pin.Config{})}
	v.rules.Store(&rules)
	s := room.Settings{Number: "1001", Type: room.Autolock}
	for _, tc := range []struct {
		settings room.Settings
		entered  string
		role     room.Role
		err      error
	}{
		{s, "123456", room.Host, nil},
		{s, "", room.Guest, nil}, // '#' alone: no guest PIN, guests allowed
		{s, "654321", room.Guest, room.ErrBadPIN},
		{room.Settings{Number: "1001", Type: room.PIN, Decoy: true}, "123456", room.Guest, room.ErrBadPIN},
	} {
		role, err := v.Verify(context.Background(), tc.settings, "192.0.2.1:5060", tc.entered)
		if !errors.Is(err, tc.err) || (err == nil && role != tc.role) {
			t.Errorf("Verify(decoy=%v, %d digits) = %v, %v; want %v, %v", tc.settings.Decoy, len(tc.entered), role, err, tc.role, tc.err)
		}
	}
}

func TestRestartOnlyChanges(t *testing.T) {
	parse := func(extra string) *config.Config {
		t.Helper()
		cfg, err := config.Parse([]byte("sip: {listen: [\"udp:127.0.0.1:5060\"]}\nmedia: {rtp_ports: \"40000-40999\"}\nrooms: [{number: \"1001\"}]\n"+extra), "vmrd.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	base := parse("")
	cases := []struct {
		name  string
		extra string
		want  []string
	}{
		{"nothing", "", nil},
		{"rooms only", "video: {layout: \"4:0\"}\n", nil},
		{"log level", "log: {level: debug}\n", []string{"log changed: it takes effect after a restart"}},
		{"video codecs", "video: {codecs: [VP8]}\n", []string{"video.codecs changed: it takes effect after a restart"}},
		{"webrtc", "webrtc: {udp_port: 10000}\n", []string{"webrtc changed: it takes effect after a restart"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := restartOnly(base, parse(c.extra))
			if !slices.Equal(got, c.want) {
				t.Fatalf("restartOnly = %q, want %q", got, c.want)
			}
		})
	}
}
