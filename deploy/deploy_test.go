// Package deploy holds no Go code: these tests check the systemd unit, the
// install script and the sample configuration that ship in this folder.
package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"vmrd/internal/config"
)

// unitKeys reads a unit file into section.key -> values (a key may repeat).
func unitKeys(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("%s: line %q is not KEY=VALUE", path, line)
			}
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	return out
}

// TestUnitSettings: the unit says what deploy/README.md promises.
func TestUnitSettings(t *testing.T) {
	u := unitKeys(t, "vmrd.service")
	for _, tc := range []struct{ key, want string }{
		{"Service.Type", "notify"},
		{"Service.NotifyAccess", "main"},
		{"Service.ExecReload", "/bin/kill -HUP $MAINPID"},
		{"Service.Restart", "on-failure"},
		{"Service.WatchdogSec", "30s"},
		{"Service.KillSignal", "SIGTERM"},
		{"Service.DynamicUser", "yes"},
		{"Service.StateDirectory", "vmrd"},
		{"Service.LogsDirectory", "vmrd"},
		{"Service.ConfigurationDirectory", "vmrd"},
		{"Service.ProtectSystem", "strict"},
		{"Service.ProtectHome", "yes"},
		{"Service.PrivateTmp", "yes"},
		{"Service.PrivateDevices", "yes"},
		{"Service.NoNewPrivileges", "yes"},
		{"Service.CapabilityBoundingSet", ""},
		{"Service.RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"},
		{"Service.SystemCallArchitectures", "native"},
		{"Service.LimitNOFILE", "65536"},
		{"Service.User", "vmrd"},
		{"Service.Group", "vmrd"},
		{"Service.ExecStart", "/usr/local/bin/vmrd serve --config /etc/vmrd/vmrd.yaml"},
		{"Install.WantedBy", "multi-user.target"},
	} {
		if got := u[tc.key]; len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s = %q, want exactly %q", tc.key, got, tc.want)
		}
	}
}

// TestStopTimeoutCoversDrain: systemd must not SIGKILL a drain in
// progress, for the default sip.drain_timeout and for the sample's.
func TestStopTimeoutCoversDrain(t *testing.T) {
	u := unitKeys(t, "vmrd.service")
	stop, err := time.ParseDuration(strings.ReplaceAll(u["Service.TimeoutStopSec"][0], "min", "m"))
	if err != nil {
		t.Fatalf("TimeoutStopSec %q: %v", u["Service.TimeoutStopSec"], err)
	}
	data, err := os.ReadFile("vmrd.yaml.example")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(data, "vmrd.yaml.example")
	if err != nil {
		t.Fatalf("the sample configuration does not load: %v", err)
	}
	const closeTime = 30 * time.Second // hang up what is left, stop listeners
	for name, drain := range map[string]time.Duration{"default": config.DefaultDrainTimeout, "sample": cfg.SIP.DrainTimeout} {
		if stop < drain+closeTime {
			t.Errorf("TimeoutStopSec %v is under the %s sip.drain_timeout %v + %v", stop, name, drain, closeTime)
		}
	}
	if cfg.Audit.Path != "/var/log/vmrd/audit.log" {
		t.Errorf("sample audit.path %q, want it in the unit's LogsDirectory: /var/log/vmrd/audit.log", cfg.Audit.Path)
	}
}

// verifyUnit copies unit text into a fresh directory as vmrd.service, with
// ExecStart pointing at an executable stub (systemd-analyze verify checks
// that the command exists), and returns what systemd-analyze verify says
// about it and whether it exited 0.
func verifyUnit(t *testing.T, unit string) (complaints []string, ok bool) {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian package systemd)")
	}
	dir := t.TempDir()
	stub := filepath.Join(dir, "vmrd")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit = strings.ReplaceAll(unit, "/usr/local/bin/vmrd", stub)
	path := filepath.Join(dir, "vmrd.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(analyze, "verify", "--man=no", path)
	// info and above: warnings about unknown keys and bad values are
	// printed at warning level, missing commands at error level.
	cmd.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=info", "SYSTEMD_LOG_COLOR=0")
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line == "" {
			continue
		}
		// Only what concerns our unit counts; systemd may talk about the
		// host (no running manager in a container) too.
		if strings.Contains(line, "vmrd") || strings.Contains(line, dir) {
			complaints = append(complaints, line)
		} else {
			t.Logf("systemd-analyze: %s", line)
		}
	}
	return complaints, err == nil
}

// TestUnitVerifies: systemd-analyze verify accepts the unit without a
// single warning.
func TestUnitVerifies(t *testing.T) {
	unit, err := os.ReadFile("vmrd.service")
	if err != nil {
		t.Fatal(err)
	}
	complaints, ok := verifyUnit(t, string(unit))
	if !ok || len(complaints) > 0 {
		t.Fatalf("systemd-analyze verify (exit ok: %v):\n%s", ok, strings.Join(complaints, "\n"))
	}
}

// TestUnitVerifyCatchesMistakes: the check above can fail.
func TestUnitVerifyCatchesMistakes(t *testing.T) {
	good, err := os.ReadFile("vmrd.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"unknown key", "WatchdogSec=30s", "WatchdogSec=30s\nWatchDogSecs=30s", "Unknown key"},
		{"bad value", "ProtectSystem=strict", "ProtectSystem=very", "protect system value"},
		{"missing binary", "ExecReload=/bin/kill", "ExecReload=/nonexistent/kill", "not executable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := strings.Replace(string(good), tc.from, tc.to, 1)
			if bad == string(good) {
				t.Fatalf("%q is not in the unit", tc.from)
			}
			complaints, ok := verifyUnit(t, bad)
			if ok && len(complaints) == 0 {
				t.Fatal("systemd-analyze verify accepted a broken unit without a word")
			}
			if !strings.Contains(strings.Join(complaints, "\n"), tc.want) {
				t.Errorf("complaints %q do not mention %q", complaints, tc.want)
			}
		})
	}
}

func runInstall(t *testing.T, root, bin string) string {
	t.Helper()
	cmd := exec.Command("sh", "install.sh", bin)
	cmd.Env = append(os.Environ(), "DESTDIR="+root)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	return string(out)
}

// TestInstallLaysOutFiles: install.sh into a staging root installs the
// binary, unit, docs and a config, and a second run keeps an edited config.
func TestInstallLaysOutFiles(t *testing.T) {
	root := t.TempDir()
	bin := filepath.Join(t.TempDir(), "vmrd")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho v1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := runInstall(t, root, bin)
	if !strings.Contains(out, "systemctl skipped") {
		t.Errorf("install.sh into a staging root ran systemctl? output:\n%s", out)
	}
	sample, err := os.ReadFile("vmrd.yaml.example")
	if err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile("vmrd.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		mode os.FileMode
		same []byte
	}{
		{"usr/local/bin/vmrd", 0o755, []byte("#!/bin/sh\necho v1\n")},
		{"etc/systemd/system/vmrd.service", 0o644, unit},
		{"etc/vmrd/vmrd.yaml", 0o640, sample},
		{"usr/local/lib/sysusers.d/vmrd.conf", 0o644, nil},
		{"usr/local/share/doc/vmrd/README.md", 0o644, nil},
		{"usr/local/share/doc/vmrd/grafana-dashboard.json", 0o644, nil},
		{"etc/vmrd", 0o755 | os.ModeDir, nil},
	} {
		fi, err := os.Stat(filepath.Join(root, tc.path))
		if err != nil {
			t.Errorf("%s not installed: %v", tc.path, err)
			continue
		}
		if fi.Mode() != tc.mode {
			t.Errorf("%s mode %v, want %v", tc.path, fi.Mode(), tc.mode)
		}
		if tc.same != nil {
			if got, _ := os.ReadFile(filepath.Join(root, tc.path)); !bytes.Equal(got, tc.same) {
				t.Errorf("%s differs from its source", tc.path)
			}
		}
	}

	// Again, with an edited config and a new binary: the config stays.
	cfgPath := filepath.Join(root, "etc/vmrd/vmrd.yaml")
	edited := []byte("# edited by the operator\n")
	if err := os.WriteFile(cfgPath, edited, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\necho v2\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out = runInstall(t, root, bin)
	if got, _ := os.ReadFile(cfgPath); !bytes.Equal(got, edited) {
		t.Errorf("a second install replaced the edited config; output:\n%s", out)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "usr/local/bin/vmrd")); !bytes.Contains(got, []byte("v2")) {
		t.Error("a second install did not replace the binary")
	}
}

func TestInstallRefusesMissingBinary(t *testing.T) {
	cmd := exec.Command("sh", "install.sh", filepath.Join(t.TempDir(), "nope"))
	cmd.Env = append(os.Environ(), "DESTDIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "make build") {
		t.Fatalf("install.sh with no binary: err %v, output %q; want a failure naming make build", err, out)
	}
}

// TestSysusersMakesUser: systemd-sysusers accepts vmrd.sysusers and makes
// the vmrd user and group the unit runs as.
func TestSysusersMakesUser(t *testing.T) {
	sysusers, err := exec.LookPath("systemd-sysusers")
	if err != nil {
		t.Skip("systemd-sysusers is not installed (Debian package systemd)")
	}
	root := t.TempDir()
	conf := filepath.Join(root, "usr/lib/sysusers.d/vmrd.conf")
	if err := os.MkdirAll(filepath.Dir(conf), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("vmrd.sysusers")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sysusers, "--root="+root).CombinedOutput(); err != nil {
		t.Fatalf("systemd-sysusers: %v\n%s", err, out)
	}
	for _, f := range []string{"etc/passwd", "etc/group"} {
		b, _ := os.ReadFile(filepath.Join(root, f))
		if !bytes.HasPrefix(b, []byte("vmrd:")) && !bytes.Contains(b, []byte("\nvmrd:")) {
			t.Errorf("%s has no vmrd entry:\n%s", f, b)
		}
	}
}
