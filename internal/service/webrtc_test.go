package service

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vmrd/internal/config"
)

// TestICEServersTURNCredentials: fixed servers pass through as they are;
// a TURN server with a secret_file gets, per participant, a username that
// names the expiry and the participant and a password that depends on the
// secret, never the secret itself.
func TestICEServersTURNCredentials(t *testing.T) {
	dir := t.TempDir()
	secretPath := filepath.Join(dir, "turn-secret")
	if err := os.WriteFile(secretPath, []byte("s3cret-shared\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	list := []config.ICEServer{
		{URLs: []string{"stun:stun.example.org"}},
		{URLs: []string{"turns:fixed.example.org"}, Username: "u", Credential: "c"},
		{URLs: []string{"turn:turn.example.org"}, SecretFile: secretPath, CredentialTTL: time.Hour},
		{URLs: []string{"turn:other.example.org"}, SecretFile: secretPath},
	}
	forP, err := iceServers(list, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	a, b := forP("p1"), forP("p2")
	if len(a) != 4 || a[0].Username != "" || a[1].Username != "u" || a[1].Credential != "c" {
		t.Fatalf("servers %+v", a)
	}
	if want := "1800003600:p1"; a[2].Username != want {
		t.Errorf("username %q, want %q (expiry an hour on, then the participant)", a[2].Username, want)
	}
	if want := "1800043200:p1"; a[3].Username != want {
		t.Errorf("username %q, want %q (the default 12 h)", a[3].Username, want)
	}
	if a[2].Credential == "" || a[2].Credential == b[2].Credential || strings.Contains(a[2].Credential, "s3cret") {
		t.Errorf("credentials %q and %q: want distinct per participant, and not the secret", a[2].Credential, b[2].Credential)
	}
	// 20 bytes of HMAC-SHA1 in base64.
	if len(a[2].Credential) != 28 {
		t.Errorf("credential %q is not a base64 HMAC-SHA1", a[2].Credential)
	}

	for name, path := range map[string]string{"missing": filepath.Join(dir, "nope"), "empty": filepath.Join(dir, "empty")} {
		if name == "empty" {
			if err := os.WriteFile(path, []byte(" \n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		_, err := iceServers([]config.ICEServer{{URLs: []string{"turn:t"}, SecretFile: path}}, time.Now)
		if err == nil || !strings.Contains(err.Error(), "webrtc.ice_servers[0].secret_file") {
			t.Errorf("%s secret file: %v, want an error naming the key", name, err)
		}
	}
}
