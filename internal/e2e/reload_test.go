package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// rewriteConfig edits the running daemon's config file in place, keeping
// the addresses startDaemon gave it.
func (d *daemon) rewriteConfig(t *testing.T, edit func(*Config)) {
	t.Helper()
	path := filepath.Join(filepath.Dir(d.LogPath), "vmrd.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg Config
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("read back the config: %v", err)
	}
	edit(&cfg)
	if b, err = yaml.Marshal(cfg); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestConfigReload: SIGHUP applies a new room list without dropping the
// call in progress; a removed room takes no new callers while its meeting
// goes on; a broken file is refused with its line and the running rooms
// stay.
func TestConfigReload(t *testing.T) {
	requireDaemon(t)
	t.Parallel()
	cfg := defaultConfig()
	cfg.Security.UnknownRooms = "reject"
	cfg.Rooms = []RoomConfig{{Number: "1001"}}
	d := startDaemon(t, cfg)

	held := startSipp(t, context.Background(), d, sippRun{Scenario: "held_call.xml", Service: "1001", Args: []string{"-d", "9000"}})
	d.waitMetric(t, "vmrd_participants", 10*time.Second, "the held call in room 1001", func(v float64) bool { return v == 1 })

	d.rewriteConfig(t, func(c *Config) { c.Rooms = []RoomConfig{{Number: "1002", Name: "Added"}} })
	d.signal(t, syscall.SIGHUP)
	line := d.waitLog(t, regexp.MustCompile(`msg="configuration reloaded".*`), 5*time.Second)
	for _, want := range []string{"added=1002", "removed=1001"} {
		if !strings.Contains(line, want) {
			t.Errorf("reload log line lacks %q: %s", want, line)
		}
	}
	expectSippOK(t, "invite_bye.xml to the added room", runSipp(t, context.Background(), d, sippRun{Scenario: "invite_bye.xml", Service: "1002"}))
	expectSippOK(t, "not_found.xml to the removed room", runSipp(t, context.Background(), d, sippRun{Scenario: "not_found.xml", Service: "1001"}))
	if v := d.metric(t, "vmrd_participants"); v != 1 {
		t.Fatalf("vmrd_participants = %v after the reload, want the held call still there", v)
	}

	// A broken file: refused with file and line, the running rooms stay.
	path := filepath.Join(filepath.Dir(d.LogPath), "vmrd.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, []byte("bogus_key: 1\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	d.signal(t, syscall.SIGHUP)
	refused := d.waitLog(t, regexp.MustCompile(`.*reload refused.*`), 5*time.Second)
	if !strings.Contains(refused, "vmrd.yaml:") || !strings.Contains(refused, "bogus_key") {
		t.Errorf("the refusal does not say where and what: %s", refused)
	}
	expectSippOK(t, "invite_bye.xml after the refused reload", runSipp(t, context.Background(), d, sippRun{Scenario: "invite_bye.xml", Service: "1002"}))

	// The held call was never ended by vmrd: sipp hangs up itself at -d.
	expectSippOK(t, "held_call.xml", held.wait())
}
