// Package e2e runs the real vmrd daemon and talks to it with real SIP peers
// (sipp and baresip) over loopback.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.yaml.in/yaml/v3"
)

// vmrdBin is the daemon built once by TestMain; empty when cmd/vmrd has no
// Go files yet. vmrdBuildErr is set when it has files but does not build.
var (
	vmrdBin      string
	vmrdBuildErr error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vmrd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: temp dir:", err)
		os.Exit(2)
	}
	vmrdBin, vmrdBuildErr = buildDaemon(dir)
	code := m.Run()
	_ = os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: leaked goroutines:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// moduleRoot is the directory holding go.mod, two levels above this package.
func moduleRoot() string {
	wd, err := os.Getwd()
	if err != nil {
		return "../.."
	}
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}

// buildDaemon builds ./cmd/vmrd into dir. A race-enabled test binary builds a
// race-enabled daemon, so `go test -race` also hunts races in the daemon.
func buildDaemon(dir string) (string, error) {
	root := moduleRoot()
	files, _ := filepath.Glob(filepath.Join(root, "cmd", "vmrd", "*.go"))
	if len(files) == 0 {
		return "", nil
	}
	bin := filepath.Join(dir, "vmrd")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/vmrd")
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return bin, nil
}

// requireDaemon fails when the daemon was not built or
// does not build.
func requireDaemon(t *testing.T) {
	t.Helper()
	if vmrdBuildErr != nil {
		t.Fatalf("vmrd does not build: %v", vmrdBuildErr)
	}
	if vmrdBin == "" {
		t.Fatal("cmd/vmrd was not built")
	}
}

// requireTool fails when a peer program is missing, naming its Debian package.
func requireTool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run make test (it installs the test peers), or apt-get install -y --no-install-recommends %s", name, debianPackage)
	}
	return p
}

// Ports. Every port handed out in this process is remembered, so parallel
// tests never get the same one even before it is bound.
var (
	portMu    sync.Mutex
	portsUsed = map[int]bool{}
)

// freePort returns a port free for both UDP and TCP on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for range 100 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		_ = u.Close()
		if err != nil || portsUsed[port] || port >= rtpBase {
			if l != nil {
				_ = l.Close()
			}
			continue
		}
		_ = l.Close()
		portsUsed[port] = true
		return port
	}
	t.Fatal("no free UDP+TCP port after 100 tries")
	return 0
}

// freePortPair returns a port p such that p and p+1 are both free for UDP
// and TCP (baresip listens for TLS on its SIP port plus one).
func freePortPair(t *testing.T) int {
	t.Helper()
	for range 100 {
		p := freePort(t)
		portMu.Lock()
		taken := portsUsed[p+1]
		portMu.Unlock()
		if taken || p+1 >= rtpBase {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+1)))
		if err != nil {
			continue
		}
		u, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+1)))
		_ = l.Close()
		if err != nil {
			continue
		}
		_ = u.Close()
		portMu.Lock()
		portsUsed[p+1] = true
		portMu.Unlock()
		return p
	}
	t.Fatal("no free pair of adjacent ports after 100 tries")
	return 0
}

// RTP port blocks for daemons, disjoint from the ephemeral ports freePort
// hands out (Linux picks those from 32768-60999 by default, hence the check
// port >= rtpBase above) and from baresip's and sipp's media ranges.
const (
	rtpBase      = 61000
	rtpBlockSize = 100
	rtpBlocks    = 40
)

var rtpBlock atomic.Int32

// nextRTPRange returns a "lo-hi" range of ports no other daemon of this
// process uses.
func nextRTPRange() string {
	b := int(rtpBlock.Add(1)-1) % rtpBlocks
	lo := rtpBase + b*rtpBlockSize
	return fmt.Sprintf("%d-%d", lo, lo+rtpBlockSize-1)
}

// Config is the daemon's YAML configuration, as much of it as the tests set.
type Config struct {
	SIP struct {
		Listen         []string `yaml:"listen"`
		NoRTPTimeout   string   `yaml:"no_rtp_timeout"`
		SessionExpires string   `yaml:"session_expires"`
		MinSE          string   `yaml:"min_se"`
		// AnswerDelay makes vmrd send 180 Ringing and wait before the 200
		// OK, so a CANCEL can deterministically arrive before the answer.
		AnswerDelay string `yaml:"answer_delay,omitempty"`
		// TLS, when CertFile is set, makes startDaemon add a tls: listener
		// on a port of its own (daemon.TLSAddr).
		TLS struct {
			CertFile string `yaml:"cert_file,omitempty"`
			KeyFile  string `yaml:"key_file,omitempty"`
		} `yaml:"tls,omitempty"`
		DrainTimeout string    `yaml:"drain_timeout,omitempty"`
		Limits       SIPLimits `yaml:"limits,omitempty"`
	} `yaml:"sip"`
	Media struct {
		RTPPorts string `yaml:"rtp_ports"`
		BindIP   string `yaml:"bind_ip"`
		// Encryption is the rooms' SRTP policy; the tests' plain phones
		// need preferred or off (the daemon's default is required).
		Encryption       string `yaml:"encryption,omitempty"`
		SRTPOverPlainSIP bool   `yaml:"srtp_over_plain_sip,omitempty"`
	} `yaml:"media"`
	HTTP struct {
		Listen string `yaml:"listen"`
	} `yaml:"http"`
	Log struct {
		Level  string `yaml:"level"`
		Format string `yaml:"format"`
	} `yaml:"log"`
	Audio struct {
		Codecs []string `yaml:"codecs"`
	} `yaml:"audio"`
	Video struct {
		// Codecs nil takes the daemon's default (H264, VP8); an empty
		// non-nil list turns video off.
		Codecs      []string `yaml:"codecs,omitempty"`
		Resolution  string   `yaml:"resolution,omitempty"`
		FPS         int      `yaml:"fps,omitempty"`
		BitrateKbps int      `yaml:"bitrate_kbps,omitempty"`
		Layout      string   `yaml:"layout,omitempty"`
	} `yaml:"video,omitempty"`
	Security SecurityConfig `yaml:"security,omitempty"`
	Audit    struct {
		// Path is filled in by startDaemon (a file in the daemon's folder)
		// when empty.
		Path string `yaml:"path,omitempty"`
	} `yaml:"audit"`
	API struct {
		TokenTTL string `yaml:"token_ttl,omitempty"`
	} `yaml:"api,omitempty"`
	Rooms []RoomConfig `yaml:"rooms"`
	// WebRTC: startDaemon picks a free UDP port and offers loopback
	// candidates unless the test set a port.
	WebRTC struct {
		UDPPort         int               `yaml:"udp_port,omitempty"`
		TCPPort         int               `yaml:"tcp_port,omitempty"`
		IncludeLoopback bool              `yaml:"include_loopback,omitempty"`
		ICEServers      []ICEServerConfig `yaml:"ice_servers,omitempty"`
	} `yaml:"webrtc,omitempty"`
}

// ICEServerConfig is one webrtc.ice_servers entry.
type ICEServerConfig struct {
	URLs       []string `yaml:"urls"`
	Username   string   `yaml:"username,omitempty"`
	Credential string   `yaml:"credential,omitempty"`
	SecretFile string   `yaml:"secret_file,omitempty"`
}

// SIPLimits is sip.limits:; zero values keep the daemon's defaults.
type SIPLimits struct {
	InviteRate     float64  `yaml:"invite_rate,omitempty"`
	InviteBurst    int      `yaml:"invite_burst,omitempty"`
	OptionsRate    float64  `yaml:"options_rate,omitempty"`
	OptionsBurst   int      `yaml:"options_burst,omitempty"`
	RequestRate    float64  `yaml:"request_rate,omitempty"`
	RequestBurst   int      `yaml:"request_burst,omitempty"`
	CallsPerSource int      `yaml:"calls_per_source,omitempty"`
	AllowSources   []string `yaml:"allow_sources,omitempty"`
	DropUserAgents []string `yaml:"drop_user_agents,omitempty"`
}

// SecurityConfig is the security: section.
type SecurityConfig struct {
	// UnknownRooms is "pin" (the daemon's default: a decoy PIN room) or
	// "reject" (404).
	UnknownRooms string    `yaml:"unknown_rooms,omitempty"`
	PIN          PINLimits `yaml:"pin,omitempty"`
}

// PINLimits is security.pin:.
type PINLimits struct {
	RoomFailures        int      `yaml:"room_failures,omitempty"`
	SourceFailures      int      `yaml:"source_failures,omitempty"`
	Window              string   `yaml:"window,omitempty"`
	Block               string   `yaml:"block,omitempty"`
	AllowSources        []string `yaml:"allow_sources,omitempty"`
	MaxConcurrentHashes int      `yaml:"max_concurrent_hashes,omitempty"`
}

// RoomConfig is one entry of rooms:.
type RoomConfig struct {
	Number          string `yaml:"number"`
	Name            string `yaml:"name,omitempty"`
	MaxParticipants int    `yaml:"max_participants,omitempty"`
	// Type is open (default), pin or autolock.
	Type string `yaml:"type,omitempty"`
	// HostPIN and GuestPIN are hashes from hashPIN, never PINs.
	HostPIN  string `yaml:"host_pin,omitempty"`
	GuestPIN string `yaml:"guest_pin,omitempty"`
	// GuestsAllowed is nil for the daemon's default (true).
	GuestsAllowed *bool  `yaml:"guests_allowed,omitempty"`
	Language      string `yaml:"language,omitempty"`
	GracePeriod   string `yaml:"grace_period,omitempty"`
	// Encryption is required, preferred or off; empty takes
	// media.encryption.
	Encryption string `yaml:"encryption,omitempty"`
	Layout     string `yaml:"layout,omitempty"`
	// Stream is a large room's stream.
	Stream *StreamConfig `yaml:"stream,omitempty"`
}

// StreamConfig mirrors rooms[].stream.
type StreamConfig struct {
	URL         string `yaml:"url"`
	KeyFile     string `yaml:"key_file,omitempty"`
	KeyEnv      string `yaml:"key_env,omitempty"`
	Layout      string `yaml:"layout,omitempty"`
	Resolution  string `yaml:"resolution,omitempty"`
	BitrateKbps int    `yaml:"bitrate_kbps,omitempty"`
	AutoStart   bool   `yaml:"auto_start,omitempty"`
}

// defaultConfig is the configuration of the daemon contract; startDaemon
// fills in the addresses.
func defaultConfig() Config {
	var c Config
	c.SIP.NoRTPTimeout = "30s"
	c.SIP.SessionExpires = "1800s"
	c.SIP.MinSE = "90s"
	c.Media.BindIP = "127.0.0.1"
	c.Media.Encryption = "preferred"
	// Calls a test leaves up when it ends would otherwise hold the daemon's
	// exit for the default five-minute drain.
	c.SIP.DrainTimeout = "2s"
	c.Log.Level = "debug"
	c.Log.Format = "text"
	c.Audio.Codecs = []string{"opus", "G722", "PCMU", "PCMA"}
	c.Rooms = []RoomConfig{
		{Number: "1001", Name: "Test room"},
		{Number: "1003", MaxParticipants: 1},
	}
	return c
}

// daemon is one running vmrd.
type daemon struct {
	SIPPort int    // UDP and TCP
	SIPAddr string // 127.0.0.1:port
	// TLSAddr is the tls: listener's 127.0.0.1:port when the config has a
	// certificate, else empty.
	TLSAddr  string
	HTTPAddr string
	LogPath  string
	// AuditPath is the daemon's JSON-lines audit log.
	AuditPath string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // cmd.Wait's result, valid after done
	// exitExpected is set by signal (SIGTERM, SIGINT): the test itself
	// makes the daemon exit and checks how.
	exitExpected atomic.Bool
}

// startDaemon writes cfg (with fresh ports), starts vmrd and waits until
// /readyz answers 200. Cleanup stops it with SIGTERM and reports a daemon
// that does not exit cleanly; on failure it prints the tail of its log.
func startDaemon(t *testing.T, cfg Config) *daemon {
	t.Helper()
	if cfg.WebRTC.UDPPort == 0 {
		cfg.WebRTC.UDPPort = freePort(t)
		cfg.WebRTC.IncludeLoopback = true
	}
	d := startDaemonEnv(t, cfg)
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-d.done:
			t.Fatalf("vmrd exited before it was ready: %v", d.err)
		default:
		}
		if code, _, err := httpGet(d.HTTPAddr, "/readyz"); err == nil && code == http.StatusOK {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("vmrd not ready after 15s (GET /readyz on %s)", d.HTTPAddr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startDaemonEnv is startDaemon with extra environment variables for the
// daemon, and without WebRTC unless cfg sets it; it does not wait for
// /readyz, the caller decides what to wait for.
func startDaemonEnv(t *testing.T, cfg Config, env ...string) *daemon {
	t.Helper()
	requireDaemon(t)
	dir := t.TempDir()
	d := &daemon{SIPPort: freePort(t), done: make(chan struct{})}
	d.SIPAddr = fmt.Sprintf("127.0.0.1:%d", d.SIPPort)
	d.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg.SIP.Listen = []string{"udp:" + d.SIPAddr, "tcp:" + d.SIPAddr}
	if cfg.SIP.TLS.CertFile != "" {
		d.TLSAddr = fmt.Sprintf("127.0.0.1:%d", freePort(t))
		cfg.SIP.Listen = append(cfg.SIP.Listen, "tls:"+d.TLSAddr)
	}
	cfg.HTTP.Listen = d.HTTPAddr
	if cfg.Media.RTPPorts == "" {
		cfg.Media.RTPPorts = nextRTPRange()
	}
	if cfg.Audit.Path == "" {
		cfg.Audit.Path = filepath.Join(dir, "audit.jsonl")
	}
	d.AuditPath = cfg.Audit.Path
	y, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatalf("marshal config: %v", err)
	}
	cfgPath := filepath.Join(dir, "vmrd.yaml")
	if err := os.WriteFile(cfgPath, y, 0o600); err != nil {
		t.Fatal(err)
	}
	d.LogPath = filepath.Join(dir, "vmrd.log")
	logf, err := os.Create(d.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(vmrdBin, "serve", "--config", cfgPath)
	if len(env) > 0 {
		// Later entries win: a NOTIFY_SOCKET of the test's own
		// environment (a test run under systemd) is replaced.
		d.cmd.Env = append(os.Environ(), env...)
	}
	d.cmd.Stdout = logf
	d.cmd.Stderr = logf
	d.cmd.SysProcAttr = orphanGuard()
	if err := d.cmd.Start(); err != nil {
		_ = logf.Close()
		t.Fatalf("start vmrd: %v", err)
	}
	go func() {
		d.err = d.cmd.Wait()
		_ = logf.Close()
		close(d.done)
	}()
	t.Cleanup(func() { d.stop(t, string(y)) })
	return d
}

// stop sends SIGTERM and waits; a daemon that needs SIGKILL, exits non-zero
// or reports a data race fails the test.
func (d *daemon) stop(t *testing.T, cfgText string) {
	t.Helper()
	select {
	case <-d.done:
		if !d.exitExpected.Load() {
			t.Errorf("vmrd exited during the test: %v", d.err)
		}
	default:
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
			if d.err != nil {
				t.Errorf("vmrd exited with %v after SIGTERM", d.err)
			}
		case <-time.After(10 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
			t.Errorf("vmrd did not exit within 10s of SIGTERM; killed")
		}
	}
	if log, err := os.ReadFile(d.LogPath); err == nil && bytes.Contains(log, []byte("WARNING: DATA RACE")) {
		t.Errorf("vmrd reported a data race")
	}
	if t.Failed() {
		t.Logf("vmrd config:\n%s", cfgText)
		t.Logf("vmrd log (%s), last 150 lines:\n%s", d.LogPath, tailFile(d.LogPath, 150))
	}
}

// orphanGuard makes the kernel kill a peer or daemon when the test binary
// dies without running its cleanups (a panic, a timeout, a closed pipe), so
// no process outlives the test run holding its ports.
func orphanGuard() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// running reports whether the daemon process is still alive.
func (d *daemon) running() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// httpClient does not keep idle connections, so no goroutines outlive a call.
var httpClient = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{DisableKeepAlives: true},
}

func httpGet(addr, path string) (int, []byte, error) {
	resp, err := httpClient.Get("http://" + addr + path)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// metric returns the value of one series from /metrics, e.g.
// metric(t, `vmrd_calls_total{result="answered"}`); a missing series is 0.
func (d *daemon) metric(t *testing.T, series string) float64 {
	t.Helper()
	code, body, err := httpGet(d.HTTPAddr, "/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	v, _ := parseMetric(body, series)
	return v
}

// parseMetric finds series (name plus its exact label set as printed by the
// Prometheus text format) in a scrape.
func parseMetric(body []byte, series string) (float64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		if !ok || name != series {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(value)[0], 64)
		return v, err == nil
	}
	return 0, false
}

// waitMetric polls series until ok(value) or the deadline.
func (d *daemon) waitMetric(t *testing.T, series string, within time.Duration, what string, ok func(float64) bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last float64
	for {
		last = d.metric(t, series)
		if ok(last) {
			return
		}
		if !d.running() {
			t.Fatalf("vmrd exited while waiting for %s", what)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s is %v after %v", what, series, last, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tailFile(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	return tail(string(b), lines)
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// sipp runs.

// sippRun describes one sipp client run of a scenario under testdata/sipp.
type sippRun struct {
	Scenario  string // file name under testdata/sipp
	Transport string // "u1" (UDP, default) or "t1" (TCP)
	Service   string // user part of the Request-URI, [service]
	Timeout   time.Duration
	Keys      map[string]string // extra [keyword]s
	Args      []string          // extra command line arguments
}

// sippResult is what a finished run left behind.
type sippResult struct {
	ExitCode int
	Stdout   string
	Errors   string // -trace_err log
	Messages string // -trace_msg log
}

// sippProc is a sipp run in progress.
type sippProc struct {
	cmd     *exec.Cmd
	out     *bytes.Buffer
	errPath string
	msgPath string
	cancel  context.CancelFunc
	once    sync.Once
	res     sippResult
	runErr  error
}

// startSipp starts a scenario (one call) against d on the test's goroutine;
// wait collects the result. Cleanup kills a run nobody waited for.
func startSipp(t *testing.T, ctx context.Context, d *daemon, r sippRun) *sippProc {
	t.Helper()
	requireTool(t, "sipp", "sip-tester")
	dir := t.TempDir()
	scenario, err := filepath.Abs(filepath.Join("testdata", "sipp", r.Scenario))
	if err != nil {
		t.Fatal(err)
	}
	if r.Transport == "" {
		r.Transport = "u1"
	}
	if r.Timeout == 0 {
		r.Timeout = 20 * time.Second
	}
	p := &sippProc{out: &bytes.Buffer{}, errPath: filepath.Join(dir, "errors.log"), msgPath: filepath.Join(dir, "messages.log")}
	args := []string{
		"-sf", scenario,
		"-m", "1",
		"-t", r.Transport,
		"-i", "127.0.0.1",
		"-p", strconv.Itoa(freePort(t)),
		"-mp", strconv.Itoa(sippMediaPort()),
		"-cp", strconv.Itoa(freePort(t)),
		"-timeout", fmt.Sprintf("%ds", int(r.Timeout.Seconds())),
		"-timeout_error",
		"-recv_timeout", "10000",
		"-nostdin",
		"-trace_err", "-error_file", p.errPath,
		"-trace_msg", "-message_file", p.msgPath,
	}
	if r.Service != "" {
		args = append(args, "-s", r.Service)
	}
	for k, v := range r.Keys {
		args = append(args, "-key", k, v)
	}
	args = append(args, r.Args...)
	args = append(args, d.SIPAddr)
	// sipp's own -timeout ends a stuck run; the context is the backstop.
	ctx, p.cancel = context.WithTimeout(ctx, r.Timeout+10*time.Second)
	p.cmd = exec.CommandContext(ctx, "sipp", args...)
	p.cmd.Dir = dir
	p.cmd.SysProcAttr = orphanGuard()
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		p.cancel()
		t.Fatalf("start sipp: %v", err)
	}
	t.Cleanup(func() { p.wait() })
	return p
}

// wait waits for sipp to exit and reads its logs. sipp's exit code is 0 only
// when the call went through the scenario without an unexpected message, a
// failed check or a timeout.
func (p *sippProc) wait() sippResult {
	p.once.Do(func() {
		err := p.cmd.Wait()
		p.cancel()
		p.res.Stdout = p.out.String()
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			p.res.ExitCode = ee.ExitCode()
		default:
			p.res.ExitCode = -1
			p.res.Errors = fmt.Sprintf("wait for sipp: %v\n", err)
		}
		if b, err := os.ReadFile(p.errPath); err == nil {
			p.res.Errors += string(b)
		}
		if b, err := os.ReadFile(p.msgPath); err == nil {
			p.res.Messages = string(b)
		}
	})
	return p.res
}

// runSipp runs a scenario to completion against d.
func runSipp(t *testing.T, ctx context.Context, d *daemon, r sippRun) sippResult {
	t.Helper()
	return startSipp(t, ctx, d, r).wait()
}

// expectSippOK fails the test with sipp's logs unless the run succeeded.
func expectSippOK(t *testing.T, name string, res sippResult) {
	t.Helper()
	if res.ExitCode == 0 {
		return
	}
	t.Errorf("sipp %s exited %d (0 = call passed the scenario)", name, res.ExitCode)
	t.Logf("sipp %s error log:\n%s", name, tail(res.Errors, 80))
	t.Logf("sipp %s messages:\n%s", name, tail(res.Messages, 120))
	t.Logf("sipp %s stdout (tail):\n%s", name, tail(res.Stdout, 30))
}

// sipp binds its media port and the next ones; each run gets its own block
// below the ephemeral range.
var sippMedia atomic.Int32

// Another test process on the machine counts from the same start, so a
// block whose ports are bound already is skipped.
func sippMediaPort() int {
	for range 500 {
		p := 30000 + int(sippMedia.Add(1)%500)*4
		if udpPortsFree(p, 4) {
			return p
		}
	}
	return 30000 + int(sippMedia.Add(1)%500)*4
}

// udpPortsFree reports whether n UDP ports from p can be bound on 127.0.0.1.
func udpPortsFree(p, n int) bool {
	var conns []net.PacketConn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for i := range n {
		c, err := net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p+i)))
		if err != nil {
			return false
		}
		conns = append(conns, c)
	}
	return true
}

// baresip phones.

// Phones get RTP port blocks of their own, never reused within a run. With
// one shared range every phone picked random ports from, a phone could bind
// a port that a finished call's peer (vmrd, or another phone) still sent
// RTP to for a moment; baresip plays a stream from any source, so a tone of
// another test leaked into what a phone heard.
const (
	phoneRTPBase   = 20000
	phoneRTPBlock  = 10
	phoneRTPBlocks = 1000 // up to 29999, below sipp's media ports
)

var phoneRTPNext atomic.Int32

// nextPhoneRTPRange returns a baresip rtp_ports value no other phone of this
// run uses.
func nextPhoneRTPRange() string {
	b := int(phoneRTPNext.Add(1)-1) % phoneRTPBlocks
	lo := phoneRTPBase + b*phoneRTPBlock
	return fmt.Sprintf("%d-%d", lo, lo+phoneRTPBlock-1)
}

// phoneConfig configures one baresip instance.
type phoneConfig struct {
	Name      string
	Freq      int    // ausine tone it sends, Hz
	Codecs    string // account audio_codecs, e.g. "G722/16000/1"; empty offers all
	Dial      string // SIP URI to dial at start; empty waits for calls
	AutoAnswr bool
	Seconds   int // -t: quits after this long at the latest
	// Ctrl loads ctrl_tcp, so the test can make the phone key DTMF
	// (phone.sendDTMF).
	Ctrl bool
	// TLSCert is a PEM file holding a certificate and its key: baresip then
	// also listens for SIP over TLS (on its SIP port plus one) and dials
	// sips-less TLS URIs (";transport=tls") without verifying the server.
	TLSCert string
	// MediaEnc is the account's mediaenc, e.g. "srtp-mand" (loads srtp.so).
	MediaEnc string
}

// phone is a running baresip.
type phone struct {
	*baresipProc
	cfg     phoneConfig
	DumpDir string
	// CtrlPort is ctrl_tcp's port when phoneConfig.Ctrl is set.
	CtrlPort int
}

// baresip writes a status line with carriage returns many times a second;
// it is noise in logs.
var statusLine = regexp.MustCompile(`\[\d+:\d\d:\d\d\] audio=\d+/\d+ \(bit/s\)\s*`)

// startPhone writes a config folder and starts baresip. Cleanup kills it if
// it still runs and prints its log when the test failed.
func startPhone(t *testing.T, pc phoneConfig) *phone {
	t.Helper()
	requireTool(t, "baresip", "baresip-core")
	if pc.Seconds == 0 {
		pc.Seconds = 30
	}
	p := &phone{cfg: pc}
	dir := t.TempDir()
	p.DumpDir = filepath.Join(dir, "dump")
	if err := os.Mkdir(p.DumpDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if pc.Ctrl {
		p.CtrlPort = freePort(t)
	}
	rtpPorts := nextPhoneRTPRange()
	files := func(sipPort int) map[string]string {
		conf := fmt.Sprintf(`poll_method epoll
sip_listen 127.0.0.1:%d
net_interface 127.0.0.1
rtp_ports %s
audio_source ausine,%d
audio_player aufile,/dev/null
audio_alert aufile,/dev/null
ausrc_srate 48000
auplay_srate 48000
ausrc_channels 2
auplay_channels 2
snd_path %s
module_path /usr/lib/baresip/modules
module g711.so
module g722.so
module opus.so
module ausine.so
module aufile.so
module sndfile.so
module_app account.so
module_app menu.so
`, sipPort, rtpPorts, pc.Freq, p.DumpDir)
		if pc.TLSCert != "" {
			conf += fmt.Sprintf("sip_certificate %s\nsip_verify_server no\n", pc.TLSCert)
		}
		if pc.MediaEnc != "" {
			conf += "module srtp.so\n"
		}
		if pc.Ctrl {
			conf += fmt.Sprintf("module ctrl_tcp.so\nctrl_tcp_listen 127.0.0.1:%d\n", p.CtrlPort)
		}
		return map[string]string{"config": conf, "accounts": baresipAccount(pc.AutoAnswr,
			[2]string{"audio_codecs", pc.Codecs}, [2]string{"mediaenc", pc.MediaEnc})}
	}
	p.baresipProc = launchBaresip(t, pc.Name, dir, baresipArgs(pc.Seconds, pc.Dial), files, p.Log)
	return p
}

// Log is the phone's log so far without the status-line noise.
func (p *phone) Log() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return err.Error()
	}
	return statusLine.ReplaceAllString(string(b), "")
}

// waitLog polls the phone's log until it matches re.
func (p *phone) waitLog(t *testing.T, re *regexp.Regexp, within time.Duration) []string {
	t.Helper()
	return waitProcessLog(t, p.cfg.Name, p.Log, p.done, func() error { return p.err }, re, within)
}

// waitProcessLog polls a baresip's log (log) until it matches re; it fails
// the test when the process exits first (done closed; exitErr is then its
// Wait result) or within passes.
func waitProcessLog(t *testing.T, name string, log func() string, done <-chan struct{}, exitErr func() error,
	re *regexp.Regexp, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if m := re.FindStringSubmatch(log()); m != nil {
			return m
		}
		select {
		case <-done:
			if m := re.FindStringSubmatch(log()); m != nil {
				return m
			}
			t.Fatalf("baresip %s exited (%v) before its log matched %q", name, exitErr(), re)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("baresip %s: log did not match %q within %v", name, re, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// hangup asks baresip to stop (SIGINT hangs up its calls and closes the
// dump files cleanly).
func (p *phone) hangup() { _ = p.cmd.Process.Signal(os.Interrupt) }

// wait waits for the process to exit.
func (p *phone) wait(t *testing.T, within time.Duration) {
	t.Helper()
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("baresip %s exited with %v", p.cfg.Name, p.err)
		}
	case <-time.After(within):
		t.Fatalf("baresip %s still running %v after hangup", p.cfg.Name, within)
	}
}

// decodedDump reads the single dump-*-dec.wav of the phone's one call.
func (p *phone) decodedDump(t *testing.T) pcm {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(p.DumpDir, "dump-*-dec.wav"))
	if len(files) != 1 {
		t.Fatalf("baresip %s: want 1 decoded dump in %s, found %d", p.cfg.Name, p.DumpDir, len(files))
	}
	a, err := readWAV(files[0])
	if err != nil {
		t.Fatalf("baresip %s: %v", p.cfg.Name, err)
	}
	return a
}

// Codec names in baresip's log: "audio tx pipeline: ausine ---> sndfile ---> PCMU"
// and "audio: Set audio decoder: G722 16000Hz 1ch".
var (
	txCodecRe = regexp.MustCompile(`audio tx pipeline:.*---> (\S+)`)
	rxCodecRe = regexp.MustCompile(`audio: Set audio decoder: (\S+) `)
)

// codecs returns the encoder and decoder baresip really used.
func (p *phone) codecs() (tx, rx string) {
	log := p.Log()
	if m := txCodecRe.FindStringSubmatch(log); m != nil {
		tx = m[1]
	}
	if m := rxCodecRe.FindStringSubmatch(log); m != nil {
		rx = m[1]
	}
	return tx, rx
}
