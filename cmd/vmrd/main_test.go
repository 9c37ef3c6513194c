package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckConfigExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("sip:\n  listn: [\"udp:127.0.0.1:5060\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"sample config is valid", []string{"check-config", "../../configs/vmrd.yaml"}, 0, "ok (3 rooms)", ""},
		{"invalid config names file and line", []string{"check-config", bad}, 1, "", "bad.yaml:2: sip.listn"},
		{"missing file", []string{"check-config", filepath.Join(dir, "nope.yaml")}, 2, "", "no such file"},
		{"no argument", []string{"check-config"}, 2, "", "usage"},
		{"version", []string{"version"}, 0, "vmrd dev", ""},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"serve without config", []string{"serve"}, 2, "", "--config FILE is required"},
		{"serve with invalid config", []string{"serve", "--config", bad}, 1, "", "did you mean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tt.args, &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.code, errb.String())
			}
			if !strings.Contains(out.String(), tt.stdout) || !strings.Contains(errb.String(), tt.stderr) {
				t.Fatalf("stdout %q stderr %q; want %q / %q", out.String(), errb.String(), tt.stdout, tt.stderr)
			}
		})
	}
}
