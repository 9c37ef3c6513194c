package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// baresipProc is one running baresip, shared by the audio phones (phone)
// and the video phones (videoPhone).
type baresipProc struct {
	Dir     string
	LogPath string
	// SIPPort is where it listens for SIP over UDP and TCP; baresip always
	// listens for TLS on SIPPort+1 as well, with or without a certificate.
	SIPPort int

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// baresipAccount is the accounts file: the test's tester@127.0.0.1, never
// registering, answering calls itself when autoAnswer, with the account
// parameters given as name and value (empty values are left out).
func baresipAccount(autoAnswer bool, params ...[2]string) string {
	a := "<sip:tester@127.0.0.1>;regint=0"
	if autoAnswer {
		a += ";answermode=auto"
	}
	for _, p := range params {
		if p[1] != "" {
			a += ";" + p[0] + "=" + p[1]
		}
	}
	return a + "\n"
}

// baresipArgs quits after seconds and dials uri once ready (none if empty).
func baresipArgs(seconds int, uri string) []string {
	args := []string{"-t", strconv.Itoa(seconds)}
	if uri != "" {
		args = append(args, "-e", "/dial "+uri)
	}
	return args
}

// baresipInit matches the log line that ends baresip's start-up, either way.
var baresipInit = regexp.MustCompile(`baresip is ready\.|init failed`)

// launchBaresip starts baresip in dir on a SIP port whose successor is free
// too. files returns the config files for a given SIP port. The ports are
// checked free just before, but another process of the machine may bind one
// in between; baresip then fails at init with "Address already in use", and
// it is started again on fresh ports (at most three times). It returns once
// baresip is ready, so any "-e" command in args runs after this point.
// logf, when non-nil, prints the log at the end of a failed test.
func launchBaresip(t *testing.T, name, dir string, args []string, files func(sipPort int) map[string]string,
	logf func() string) *baresipProc {
	t.Helper()
	for attempt := 1; ; attempt++ {
		p := &baresipProc{Dir: dir, SIPPort: freePortPair(t), done: make(chan struct{})}
		for file, text := range files(p.SIPPort) {
			if err := os.WriteFile(filepath.Join(dir, file), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		p.LogPath = filepath.Join(dir, "baresip.log")
		out, err := os.Create(p.LogPath)
		if err != nil {
			t.Fatal(err)
		}
		p.cmd = exec.Command("baresip", append([]string{"-f", dir}, args...)...)
		p.cmd.Dir = dir
		p.cmd.SysProcAttr = orphanGuard()
		p.cmd.Stdout = out
		p.cmd.Stderr = out
		if err := p.cmd.Start(); err != nil {
			_ = out.Close()
			t.Fatalf("start baresip %s: %v", name, err)
		}
		done, cmd := p.done, p.cmd
		go func() {
			err := cmd.Wait()
			_ = out.Close()
			p.err = err
			close(done)
		}()
		readLog := func() string {
			b, _ := os.ReadFile(p.LogPath)
			return string(b)
		}
		m := waitProcessLog(t, name, readLog, p.done, func() error { return nil }, baresipInit, 15*time.Second)
		if m[0] != "init failed" {
			t.Cleanup(func() {
				select {
				case <-done:
				default:
					_ = cmd.Process.Kill()
					<-done
				}
				if t.Failed() && logf != nil {
					t.Logf("baresip %s config folder %s; log:\n%s", name, dir, logf())
				}
			})
			return p
		}
		<-done
		if log := readLog(); !strings.Contains(log, "Address already in use") || attempt == 3 {
			t.Fatalf("baresip %s failed to start (attempt %d):\n%s", name, attempt, log)
		}
		t.Logf("baresip %s: a port was taken between the check and the bind; starting again on others", name)
	}
}
