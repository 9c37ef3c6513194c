package e2e

// Browser tests: headless Chromium (Debian's /usr/bin/chromium) with a fake
// camera (a solid-colour y4m) and a fake microphone (a tone) joins rooms
// through vmrd's web page, driven by Playwright (internal/e2e/browser,
// installed with npm ci). Each browser is one `node driver.mjs` process
// that takes JSON commands on stdin and answers on stdout; the page's test
// hook (window.vmrdTest) hands back the received video frame as a PNG and
// the received audio's spectrum, which these tests judge with the same
// helpers as the baresip tests.
//
// Traps, for the next engineer:
//   - `npx playwright install` cannot download a browser here; the driver
//     uses playwright-core with executablePath /usr/bin/chromium.
//   - Playwright refuses --user-data-dir: launchPersistentContext takes a
//     new empty profile folder. It also adds --mute-audio, which mutes the
//     speakers but not Web Audio, so the analyser still hears the call.
//   - A lobby guest gets 403 "Waiting for the host to let you in" from
//     conference, participants and events: the page polls conference until
//     it answers 200 and only then opens the event stream and shows the
//     roster.
//   - Fake capture files loop; a y4m is raw video, so 320x180 at 15 fps for
//     two seconds (2.6 MB) is plenty for a solid colour.
//   - A steady tone is speech to the voice detector: the first one to
//     speak takes the front of the speaker list and keeps it, so a 4:0 view
//     still follows the join order when everyone sends a tone from the
//     start (mixer/layout/speaker.go).
//   - 440, 550 and 770 Hz are multiples of 110 Hz: Opus's faint
//     intermodulation of two lands on the third about 50 dB down, so "not
//     hearing one's own tone" is judged against the tones heard, not only
//     against the noise floor. The lobby's hold tone is 440 Hz: the lobby
//     test's host sends 660 Hz.
//   - net/http's ServeMux: the page must be mounted at a method-less "/";
//     "GET /" conflicts with the API's "/api/client/" and panics.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// browserDir is the Playwright driver's folder, relative to this package.
const browserDir = "browser"

// Tone thresholds for the browsers' received audio (Web Audio's dB, median
// over the samples): a tone heard stands well above the noise floor. A tone
// that must not be heard (one's own, mix-minus; a muted one) stays near the
// floor, or at least far below the weakest tone heard: 440, 550 and 770 Hz
// are all multiples of 110 Hz, so Opus's faint intermodulation of two of
// them lands on the third (3x440-550 = 770, 3x440-770 = 550) some 50 dB
// down.
const (
	browserHeardDB  = 20
	browserAbsentDB = 10
	browserBelowDB  = 30
)

// requireBrowser skips the test when Chromium, Node.js or the driver's
// node_modules are missing; it returns node's path.
func requireBrowser(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/usr/bin/chromium"); err != nil {
		t.Skip("chromium is not installed (apt-get install -y --no-install-recommends chromium)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed (Node.js 20 or newer with npm)")
	}
	// playwright-core needs Node.js 20; Debian 12's own nodejs is 18.
	out, err := exec.Command(node, "-p", "process.versions.node.split('.')[0]").Output()
	if major, _ := strconv.Atoi(strings.TrimSpace(string(out))); err != nil || major < 20 {
		t.Skipf("node %s is older than 20, which playwright-core needs", strings.TrimSpace(string(out)))
	}
	if _, err := os.Stat(filepath.Join(browserDir, "node_modules", "playwright-core", "package.json")); err != nil {
		t.Skip("playwright-core is not installed: run npm ci in internal/e2e/browser")
	}
	requireVideoTools(t, "ffmpeg")
	return node
}

// testOutputDir is where a test's screenshots and frames go: a folder per
// test under $TEST_OUTPUT when set (kept), else a temp dir (removed).
func testOutputDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if base := os.Getenv("TEST_OUTPUT"); base != "" {
		dir = filepath.Join(base, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("browser screenshots and frames: %s", dir)
	return dir
}

// makeToneWAV writes a 48 kHz mono WAV of a sine at freq (ffmpeg's sine
// source: amplitude 1/8). Chromium loops the file.
func makeToneWAV(t *testing.T, dir string, freq, seconds int) string {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("tone-%d-%ds.wav", freq, seconds))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := path + ".part.wav"
	out, err := exec.Command("ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
		"-i", fmt.Sprintf("sine=frequency=%d:sample_rate=48000:duration=%d", freq, seconds), "-ac", "1", tmp).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg tone: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// pageURL is where the browsers open the web client: the daemon serves it
// at / on its HTTP address.
func pageURL(t *testing.T, d *daemon) string {
	t.Helper()
	code, body, err := httpGet(d.HTTPAddr, "/")
	if err != nil || code != http.StatusOK || !strings.Contains(string(body), `id="join-form"`) {
		t.Fatalf("the daemon does not serve the web page at /: %d %v", code, err)
	}
	return "http://" + d.HTTPAddr + "/"
}

// browserOpts configures one browser.
type browserOpts struct {
	Name   string
	Colour color.RGBA
	Freq   int
}

// browser is one running Chromium driven by driver.mjs.
type browser struct {
	t      *testing.T
	opts   browserOpts
	out    string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	done   chan struct{}
	mu     sync.Mutex
	stderr strings.Builder
	next   int
	frames int
}

// startBrowser makes the browser's camera clip and tone, starts the driver
// and waits until Chromium runs. Cleanup closes it (and kills it if need
// be); a failed test gets a screenshot and the page's console.
func startBrowser(t *testing.T, node, out, mediaDir string, o browserOpts) *browser {
	t.Helper()
	video := makeColourVideo(t, mediaDir, o.Name+".y4m", o.Colour, 320, 180, 15, 2)
	audio := makeToneWAV(t, mediaDir, o.Freq, 20)
	profile := t.TempDir()
	args, _ := json.Marshal(map[string]string{"video": video, "audio": audio, "profile": profile, "name": o.Name})
	b := &browser{t: t, opts: o, out: out, lines: make(chan string, 16), done: make(chan struct{})}
	b.cmd = exec.Command(node, "driver.mjs", string(args))
	b.cmd.Dir = browserDir
	b.cmd.SysProcAttr = orphanGuard()
	b.cmd.Stderr = &lockedWriter{mu: &b.mu, w: &b.stderr}
	stdout, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if b.stdin, err = b.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatalf("start browser %s: %v", o.Name, err)
	}
	go func() {
		defer close(b.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20) // frames come back as paths, but be generous
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "{") {
				b.lines <- line
			}
		}
	}()
	go func() {
		_ = b.cmd.Wait()
		close(b.done)
	}()
	t.Cleanup(b.close)
	if _, err := b.read(0, 30*time.Second); err != nil {
		t.Fatalf("browser %s did not start: %v\n%s", o.Name, err, b.stderrText())
	}
	return b
}

// lockedWriter serialises writes into a builder shared with readers.
type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (b *browser) stderrText() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return tail(b.stderr.String(), 40)
}

// driverReply is one answer line of driver.mjs.
type driverReply struct {
	ID     int             `json:"id"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error"`
}

// errBrowserGone: the driver exited or stopped answering.
var errBrowserGone = errors.New("browser driver exited")

func (b *browser) read(id int, within time.Duration) (json.RawMessage, error) {
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		select {
		case line, ok := <-b.lines:
			if !ok {
				return nil, errBrowserGone
			}
			var r driverReply
			if err := json.Unmarshal([]byte(line), &r); err != nil || r.ID != id {
				continue // an answer to a command that timed out
			}
			if !r.OK {
				return nil, errors.New(r.Error)
			}
			return r.Result, nil
		case <-timer.C:
			return nil, fmt.Errorf("no answer within %v", within)
		}
	}
}

// do sends one command and waits for its answer.
func (b *browser) do(cmd string, args any, within time.Duration) (json.RawMessage, error) {
	b.next++
	id := b.next
	line, err := json.Marshal(map[string]any{"id": id, "cmd": cmd, "args": args})
	if err != nil {
		return nil, err
	}
	if _, err := b.stdin.Write(append(line, '\n')); err != nil {
		return nil, fmt.Errorf("%w: %v", errBrowserGone, err)
	}
	return b.read(id, within)
}

// call is do for commands that must succeed.
func (b *browser) call(t *testing.T, cmd string, args any, within time.Duration, into any) {
	t.Helper()
	res, err := b.do(cmd, args, within)
	if err != nil {
		t.Fatalf("browser %s: %s: %v\n%s", b.opts.Name, cmd, err, b.stderrText())
	}
	if into != nil {
		if err := json.Unmarshal(res, into); err != nil {
			t.Fatalf("browser %s: %s: %v in %s", b.opts.Name, cmd, err, res)
		}
	}
}

// close ends the browser; on failure it first saves a screenshot and the
// page's console for the log.
func (b *browser) close() {
	t := b.t
	if t.Failed() {
		path := filepath.Join(b.out, b.opts.Name+"-at-failure.png")
		if _, err := b.do("screenshot", map[string]string{"path": path}, 10*time.Second); err == nil {
			t.Logf("browser %s at the failure: %s", b.opts.Name, path)
		}
		if res, err := b.do("console", nil, 5*time.Second); err == nil {
			var lines []string
			_ = json.Unmarshal(res, &lines)
			t.Logf("browser %s console:\n%s", b.opts.Name, strings.Join(lines, "\n"))
		}
		if st, err := b.do("state", nil, 5*time.Second); err == nil {
			t.Logf("browser %s state: %s", b.opts.Name, st)
		}
	}
	_, _ = b.do("close", nil, 10*time.Second)
	_ = b.stdin.Close()
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-b.done
	}
	// Drain, so the reader goroutine ends.
	for range b.lines {
	}
}

// pageState is window.vmrdTest.state().
type pageState struct {
	Phase             string            `json:"phase"`
	Role              string            `json:"role"`
	UUID              string            `json:"uuid"`
	Lang              string            `json:"lang"`
	Muted             bool              `json:"muted"`
	Refreshes         int               `json:"refreshes"`
	Error             string            `json:"error"`
	EndReason         string            `json:"endReason"`
	Conference        *conferenceInfo   `json:"conference"`
	Participants      []pageParticipant `json:"participants"`
	RosterVisible     bool              `json:"rosterVisible"`
	HostPanelVisible  bool              `json:"hostPanelVisible"`
	LobbyBannerVisble bool              `json:"lobbyBannerVisible"`
	Status            string            `json:"status"`
	Media             struct {
		WS            string `json:"ws"`
		ICE           string `json:"ice"`
		Connection    string `json:"connection"`
		Tracks        int    `json:"tracks"`
		Error         string `json:"error"`
		VideoWidth    int    `json:"videoWidth"`
		VideoHeight   int    `json:"videoHeight"`
		FramesDecoded int    `json:"framesDecoded"`
		Audio         bool   `json:"audio"`
	} `json:"media"`
}

// pageParticipant is one entry of the page's roster (the API's
// participant, as the event stream gave it).
type pageParticipant struct {
	participantInfo
	Spotlight int `json:"spotlight"`
}

func (s pageState) names(state string) []string {
	var out []string
	for _, p := range s.Participants {
		if state == "" || p.State == state {
			out = append(out, p.DisplayName)
		}
	}
	return out
}

func (s pageState) find(name string) (pageParticipant, bool) {
	for _, p := range s.Participants {
		if p.DisplayName == name {
			return p, true
		}
	}
	return pageParticipant{}, false
}

func (b *browser) state(t *testing.T) pageState {
	t.Helper()
	var s pageState
	b.call(t, "state", nil, 10*time.Second, &s)
	return s
}

// waitState polls the page's state until check returns "" (ok) or the time
// is up; check says what is still wrong.
func (b *browser) waitState(t *testing.T, what string, within time.Duration, check func(pageState) string) pageState {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		s := b.state(t)
		why := check(s)
		if why == "" {
			return s
		}
		if time.Now().After(deadline) {
			b.screenshot(t, "timeout")
			t.Fatalf("browser %s: not %s after %v: %s", b.opts.Name, what, within, why)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// join opens the page, fills the form (in Norwegian unless lang says) and
// returns the state after the page has an answer.
func (b *browser) join(t *testing.T, page, room, pin, lang string) pageState {
	t.Helper()
	b.call(t, "goto", map[string]string{"url": page + "?room=" + url.QueryEscape(room)}, 20*time.Second, nil)
	var s pageState
	b.call(t, "join", map[string]string{"room": room, "name": b.opts.Name, "pin": pin, "lang": lang}, 30*time.Second, &s)
	return s
}

// screenshot saves the page into the output folder.
func (b *browser) screenshot(t *testing.T, label string) string {
	t.Helper()
	path := filepath.Join(b.out, fmt.Sprintf("%s-%s.png", b.opts.Name, label))
	if _, err := b.do("screenshot", map[string]string{"path": path}, 15*time.Second); err != nil {
		t.Logf("browser %s: screenshot: %v", b.opts.Name, err)
	}
	return path
}

// frame saves the received video's current frame as a PNG and decodes it;
// nil when the page has no video yet.
func (b *browser) frame(t *testing.T) image.Image {
	t.Helper()
	b.frames++
	path := filepath.Join(b.out, fmt.Sprintf("%s-recv-%03d.png", b.opts.Name, b.frames))
	var res *struct {
		Width, Height int
	}
	b.call(t, "frame", map[string]string{"path": path}, 15*time.Second, &res)
	if res == nil {
		return nil
	}
	img, err := readPNG(path)
	if err != nil {
		t.Fatalf("browser %s: %v", b.opts.Name, err)
	}
	return img
}

// waitFrame takes frames until check passes (see waitView).
func (b *browser) waitFrame(t *testing.T, what string, within time.Duration, check viewCheck) image.Image {
	t.Helper()
	deadline := time.Now().Add(within)
	why := "no video yet"
	for {
		if img := b.frame(t); img != nil {
			if why = check(img); why == "" {
				return img
			}
			if time.Now().After(deadline) {
				b.screenshot(t, "timeout")
				t.Fatalf("browser %s does not see %s after %v: %s\nits picture (%s): %s", b.opts.Name, what, within, why,
					img.Bounds().Size(), describeColours(img))
			}
		} else if time.Now().After(deadline) {
			b.screenshot(t, "timeout")
			t.Fatalf("browser %s does not see %s after %v: no received video", b.opts.Name, what, within)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// toneLevels is vmrdTest.tones(): median dB per frequency and the floor.
type toneLevels struct {
	OK      bool               `json:"ok"`
	Levels  map[string]float64 `json:"levels"`
	Floor   float64            `json:"floor"`
	Samples int                `json:"samples"`
}

func (l toneLevels) above(freq int) float64 { return l.Levels[fmt.Sprint(freq)] - l.Floor }

func (l toneLevels) String() string {
	var parts []string
	for f, v := range l.Levels {
		parts = append(parts, fmt.Sprintf("%s Hz %+.0f dB", f, v-l.Floor))
	}
	return fmt.Sprintf("[%s] over a floor of %.0f dB (%d samples)", strings.Join(parts, ", "), l.Floor, l.Samples)
}

// waitHearing samples the received audio (2 s at a time) until each of hear
// is at least browserHeardDB above the floor and each of silent at most
// browserAbsentDB above it or browserBelowDB below the weakest tone heard.
func (b *browser) waitHearing(t *testing.T, within time.Duration, hear, silent []int) toneLevels {
	t.Helper()
	freqs := append(append([]int{}, hear...), silent...)
	deadline := time.Now().Add(within)
	for {
		var l toneLevels
		b.call(t, "tones", map[string]any{"freqs": freqs, "ms": 2000}, 20*time.Second, &l)
		var problems []string
		if !l.OK {
			problems = append(problems, "no received audio")
		}
		weakest := 0.0
		for i, f := range hear {
			if l.above(f) < browserHeardDB {
				problems = append(problems, fmt.Sprintf("%d Hz is only %.0f dB above the floor", f, l.above(f)))
			}
			if i == 0 || l.above(f) < weakest {
				weakest = l.above(f)
			}
		}
		limit := float64(browserAbsentDB)
		if len(hear) > 0 {
			limit = max(limit, weakest-browserBelowDB)
		}
		for _, f := range silent {
			if l.above(f) > limit {
				problems = append(problems, fmt.Sprintf("%d Hz is heard (%.0f dB above the floor, limit %.0f dB)", f, l.above(f), limit))
			}
		}
		if len(problems) == 0 {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("browser %s (sending %d Hz) hears wrong after %v: %s; levels %v", b.opts.Name, b.opts.Freq, within,
				strings.Join(problems, "; "), l)
		}
	}
}

// waitMediaUp waits until the browser decodes received video.
func (b *browser) waitMediaUp(t *testing.T, within time.Duration) pageState {
	t.Helper()
	return b.waitState(t, "receiving video", within, func(s pageState) string {
		if s.Media.Connection != "connected" || s.Media.FramesDecoded == 0 || s.Media.VideoWidth == 0 || !s.Media.Audio {
			return fmt.Sprintf("media %+v", s.Media)
		}
		return ""
	})
}

// browserTest is what every browser test starts with.
type browserTest struct {
	node, out, media, page string
	d                      *daemon
}

func newBrowserTest(t *testing.T, cfg Config) *browserTest {
	t.Helper()
	node := requireBrowser(t)
	bt := &browserTest{node: node, out: testOutputDir(t), media: t.TempDir()}
	bt.d = startDaemon(t, cfg)
	bt.page = pageURL(t, bt.d)
	return bt
}

func (bt *browserTest) start(t *testing.T, name string, c color.RGBA, freq int) *browser {
	t.Helper()
	return startBrowser(t, bt.node, bt.out, bt.media, browserOpts{Name: name, Colour: c, Freq: freq})
}

// TestBrowserControl: the page's control side (it asserts nothing of the
// media): a wrong PIN is refused in the form; the host's page shows the
// host panel; a guest in a locked room waits behind the lobby banner and
// sees no roster; the host admits them with the lobby panel's button and
// the guest's page then lists everyone; the language toggle works.
func TestBrowserControl(t *testing.T) {
	cfg := defaultConfig()
	cfg.Rooms = []RoomConfig{pinRoom(t, "3003", "autolock", true)}
	bt := newBrowserTest(t, cfg)
	host := bt.start(t, "Vert", colourRed, 440)
	guest := bt.start(t, "Gjest", colourGreen, 550)

	s := guest.join(t, bt.page, "3003", "999999", "")
	if s.Phase != "form" || !strings.Contains(s.Error, "Feil PIN") {
		t.Fatalf("a wrong PIN: phase %q, error %q; want the form with the Norwegian wrong-PIN message", s.Phase, s.Error)
	}

	// The host joins from the keyboard alone: the fields follow each other
	// in tab order and Enter submits the form.
	host.call(t, "goto", map[string]string{"url": bt.page}, 20*time.Second, nil)
	host.call(t, "keys", map[string]any{"focus": "#room", "steps": []map[string]string{
		{"type": "3003"}, {"press": "Tab"}, {"type": "Vert"}, {"press": "Tab"}, {"type": hostPIN}, {"press": "Enter"},
	}}, 20*time.Second, nil)
	s = host.waitState(t, "in the meeting as host", 15*time.Second, func(s pageState) string {
		if s.Phase != "in" || s.Role != "host" {
			return fmt.Sprintf("phase %q role %q error %q", s.Phase, s.Role, s.Error)
		}
		return ""
	})
	host.waitState(t, "showing the host panel and a locked room", 10*time.Second, func(s pageState) string {
		if !s.HostPanelVisible || !s.RosterVisible || s.Conference == nil || !s.Conference.Locked {
			return fmt.Sprintf("host panel %v, roster %v, conference %+v", s.HostPanelVisible, s.RosterVisible, s.Conference)
		}
		return ""
	})
	host.screenshot(t, "host-joined")

	s = guest.join(t, bt.page, "3003", guestPIN, "en")
	if s.Phase != "lobby" || s.Lang != "en" {
		t.Fatalf("guest in a locked room: phase %q lang %q, want lobby/en", s.Phase, s.Lang)
	}
	guest.waitState(t, "waiting behind the lobby banner", 5*time.Second, func(s pageState) string {
		if !s.LobbyBannerVisble || s.RosterVisible || s.HostPanelVisible || len(s.Participants) != 0 {
			return fmt.Sprintf("banner %v, roster %v, host panel %v, participants %v", s.LobbyBannerVisble, s.RosterVisible, s.HostPanelVisible, s.names(""))
		}
		return ""
	})
	var text string
	guest.call(t, "visibleText", nil, 5*time.Second, &text)
	if !strings.Contains(text, "Waiting for the host to let you in") || strings.Contains(text, "Vert") {
		t.Fatalf("the waiting guest's page reads %q: want the English waiting text and no participant names", text)
	}
	guest.screenshot(t, "lobby")

	host.waitState(t, "listing the guest in the lobby", 10*time.Second, func(s pageState) string {
		if p, ok := s.find("Gjest"); !ok || p.State != "lobby" {
			return fmt.Sprintf("participants %+v", s.Participants)
		}
		return ""
	})
	host.screenshot(t, "guest-waiting")
	host.call(t, "click", map[string]string{"role": "button", "name": "Slipp inn: Gjest"}, 10*time.Second, nil)
	guest.waitState(t, "in the meeting with the roster", 15*time.Second, func(s pageState) string {
		if s.Phase != "in" || !s.RosterVisible || s.LobbyBannerVisble || len(s.names("in")) < 2 {
			return fmt.Sprintf("phase %q, roster %v, banner %v, in the meeting %v", s.Phase, s.RosterVisible, s.LobbyBannerVisble, s.names("in"))
		}
		if _, ok := s.find("Vert"); !ok {
			return fmt.Sprintf("the host is not listed: %v", s.names(""))
		}
		return ""
	})
	guest.call(t, "visibleText", nil, 5*time.Second, &text)
	if !strings.Contains(text, "Participants") || !strings.Contains(text, "Vert") || strings.Contains(text, "Host controls") {
		t.Fatalf("the admitted guest's page reads %q: want the English roster with the host, no host controls", text)
	}
	guest.screenshot(t, "admitted")

	// The host mutes all guests from the panel; the guest's page shows it.
	host.call(t, "click", map[string]string{"role": "button", "name": "Demp alle gjester"}, 10*time.Second, nil)
	guest.waitState(t, "muted by the host", 10*time.Second, func(s pageState) string {
		if !s.Muted {
			return "not muted"
		}
		return ""
	})
	// Leaving releases the token: the host's roster loses the guest.
	guest.call(t, "click", map[string]string{"role": "button", "name": "Leave the meeting"}, 10*time.Second, nil)
	host.waitState(t, "without the guest", 10*time.Second, func(s pageState) string {
		if _, ok := s.find("Gjest"); ok {
			return fmt.Sprintf("participants %v", s.names(""))
		}
		return ""
	})
}

// TestBrowserFourPartyLayout: a baresip phone (red, 440 Hz, VP8) and two
// browsers (green 550 Hz, blue 770 Hz) in a 4:0 room. Each browser sees the
// other two in the cells of their join order and itself nowhere, hears the
// other two tones and not its own, and lists everyone.
func TestBrowserFourPartyLayout(t *testing.T) {
	requireVideoTools(t, "baresip", "ffmpeg")
	cfg := defaultConfig()
	cfg.Video.Layout = "4:0"
	cfg.Video.FPS = 15
	cfg.Rooms = []RoomConfig{{Number: "1001", Name: "Test room", Layout: "4:0"}}
	bt := newBrowserTest(t, cfg)

	ph := startVideoPhone(t, videoPhoneOpts{Name: "phone", Video: makeColourVideo(t, bt.media, "phone", colourRed, 640, 360, 30, 60),
		VideoCodecs: "VP8", Freq: 440, Seconds: 90, Dial: "sip:1001@" + bt.d.SIPAddr})
	bt.d.waitLogCount(t, videoStartedRe, 1, 15*time.Second)
	ph.waitLog(t, videoRxRe, 15*time.Second)

	type member struct {
		b    *browser
		own  color.RGBA
		freq int
	}
	var members []member
	for _, m := range []struct {
		name string
		c    color.RGBA
		freq int
	}{{"Grønn", colourGreen, 550}, {"Blå", colourBlue, 770}} {
		b := bt.start(t, m.name, m.c, m.freq)
		if s := b.join(t, bt.page, "1001", "", ""); s.Phase != "in" {
			t.Fatalf("%s: phase %q after joining an open room, want in (error %q)", m.name, s.Phase, s.Error)
		}
		// One at a time, so that the join order is the order here.
		b.waitMediaUp(t, 30*time.Second)
		members = append(members, member{b, m.c, m.freq})
	}

	joined := []color.RGBA{colourRed, colourGreen, colourBlue}
	for i, m := range members {
		var cells []*color.RGBA
		for j := range joined {
			if j != i+1 {
				cells = append(cells, &joined[j])
			}
		}
		cells = append(cells, nil, nil)
		img := m.b.waitFrame(t, "the phone and the other browser in join order", 30*time.Second, gridView(cells, m.own))
		t.Logf("%s sees %s (%v)", m.b.opts.Name, describeColours(img), img.Bounds().Size())
		m.b.screenshot(t, "meeting")
	}
	for _, m := range members {
		var hear []int
		for _, f := range []int{440, 550, 770} {
			if f != m.freq {
				hear = append(hear, f)
			}
		}
		l := m.b.waitHearing(t, 20*time.Second, hear, []int{m.freq})
		t.Logf("%s hears %v", m.b.opts.Name, l)
		s := m.b.state(t)
		for _, name := range []string{"Grønn", "Blå"} {
			if _, ok := s.find(name); !ok || !s.RosterVisible {
				t.Errorf("%s's roster (visible %v) lacks %s: %v", m.b.opts.Name, s.RosterVisible, name, s.names(""))
			}
		}
		if len(s.names("in")) < 3 {
			t.Errorf("%s lists %v in the meeting, want the phone and both browsers", m.b.opts.Name, s.names("in"))
		}
	}
	// The phone sees both browsers too.
	waitView(t, ph, 20*time.Second, gridView([]*color.RGBA{&colourGreen, &colourBlue, nil, nil}, colourRed))
}

// TestBrowserLobbyAndMute: in an autolock room the host's browser (red,
// 660 Hz, as the lobby's hold tone is 440 Hz) unlocks and locks the room
// from its panel; a guest (green, 550 Hz) joins while it is open. A second
// guest (blue, 770 Hz) then waits in the lobby: its page shows the waiting
// text and no roster, and its video the slate with nothing of the meeting,
// until the host admits it from the lobby panel; it then sees and hears the
// meeting. Then the host mutes the first guest in its page, and the others
// stop hearing 550 Hz; spotlights the second guest in 1:0; disconnects the
// first guest and ends the meeting. Tokens live 10 s, so the pages' token
// refresh carries the whole test.
func TestBrowserLobbyAndMute(t *testing.T) {
	cfg := defaultConfig()
	cfg.Video.FPS = 15
	// The shortest token life: the pages refresh every 5 s, and a page
	// that did not would lose its session within the test.
	cfg.API.TokenTTL = "10s"
	room := pinRoom(t, "3003", "autolock", true)
	room.Layout = "4:0"
	cfg.Rooms = []RoomConfig{room}
	bt := newBrowserTest(t, cfg)
	host := bt.start(t, "Vert", colourRed, 660)
	first := bt.start(t, "Gjest1", colourGreen, 550)
	second := bt.start(t, "Gjest2", colourBlue, 770)

	if s := host.join(t, bt.page, "3003", hostPIN, ""); s.Phase != "in" || s.Role != "host" {
		t.Fatalf("host: phase %q role %q, want in/host (error %q)", s.Phase, s.Role, s.Error)
	}
	locked := func(want bool) func(pageState) string {
		return func(s pageState) string {
			if s.Conference == nil || s.Conference.Locked != want {
				return fmt.Sprintf("conference %+v", s.Conference)
			}
			return ""
		}
	}
	host.waitState(t, "locked by autolock", 10*time.Second, locked(true))
	host.call(t, "click", map[string]string{"role": "button", "name": "Lås opp møtet"}, 10*time.Second, nil)
	host.waitState(t, "unlocked", 10*time.Second, locked(false))
	host.waitMediaUp(t, 30*time.Second)

	if s := first.join(t, bt.page, "3003", guestPIN, ""); s.Phase != "in" {
		t.Fatalf("first guest in an unlocked room: phase %q, want in (error %q)", s.Phase, s.Error)
	}
	first.waitMediaUp(t, 30*time.Second)
	host.call(t, "click", map[string]string{"role": "button", "name": "Lås møtet"}, 10*time.Second, nil)
	host.waitState(t, "locked", 10*time.Second, locked(true))

	if s := second.join(t, bt.page, "3003", guestPIN, ""); s.Phase != "lobby" {
		t.Fatalf("second guest in a locked room: phase %q, want lobby (error %q)", s.Phase, s.Error)
	}
	second.waitState(t, "waiting behind the banner, without a roster", 5*time.Second, func(s pageState) string {
		if !s.LobbyBannerVisble || s.RosterVisible || len(s.Participants) != 0 {
			return fmt.Sprintf("banner %v, roster %v, participants %v", s.LobbyBannerVisble, s.RosterVisible, s.names(""))
		}
		return ""
	})
	second.waitMediaUp(t, 30*time.Second)
	second.waitFrame(t, "the lobby slate", 20*time.Second, slateView(colourRed, colourGreen))
	second.waitHearing(t, 10*time.Second, nil, []int{660, 550})
	second.screenshot(t, "lobby")
	// The meeting does not see the waiting guest.
	host.waitFrame(t, "the meeting without the waiting guest", 10*time.Second, gridView([]*color.RGBA{&colourGreen, nil, nil, nil}, colourRed))

	host.waitState(t, "listing the second guest in the lobby", 10*time.Second, func(s pageState) string {
		if p, ok := s.find("Gjest2"); !ok || p.State != "lobby" {
			return fmt.Sprintf("participants %+v", s.Participants)
		}
		return ""
	})
	host.screenshot(t, "lobby-panel")
	host.call(t, "click", map[string]string{"role": "button", "name": "Slipp inn: Gjest2"}, 10*time.Second, nil)
	second.waitState(t, "admitted", 15*time.Second, func(s pageState) string {
		if s.Phase != "in" || !s.RosterVisible || len(s.names("in")) < 3 {
			return fmt.Sprintf("phase %q, roster %v, in the meeting %v", s.Phase, s.RosterVisible, s.names("in"))
		}
		return ""
	})
	second.waitFrame(t, "the meeting", 20*time.Second, gridView([]*color.RGBA{&colourRed, &colourGreen, nil, nil}, colourBlue))
	second.waitHearing(t, 20*time.Second, []int{660, 550}, []int{770})
	host.waitHearing(t, 20*time.Second, []int{550, 770}, []int{660})
	second.screenshot(t, "admitted")

	// The host mutes the first guest in its roster.
	host.call(t, "click", map[string]string{"role": "button", "name": "Demp: Gjest1"}, 10*time.Second, nil)
	first.waitState(t, "shown as muted", 10*time.Second, func(s pageState) string {
		if !s.Muted {
			return "not muted"
		}
		return ""
	})
	host.waitHearing(t, 20*time.Second, []int{770}, []int{550, 660})
	second.waitHearing(t, 20*time.Second, []int{660}, []int{550, 770})
	host.screenshot(t, "muted")

	// Layout and spotlight from the panel: in 1:0 the spotlit second guest
	// fills the host's whole picture.
	host.call(t, "click", map[string]string{"role": "button", "name": "Fremhev: Gjest2"}, 10*time.Second, nil)
	host.call(t, "select", map[string]string{"label": "Skjermoppsett", "value": "1:0"}, 10*time.Second, nil)
	host.call(t, "click", map[string]string{"role": "button", "name": "Bytt oppsett"}, 10*time.Second, nil)
	host.waitState(t, "in 1:0 with the second guest spotlit", 10*time.Second, func(s pageState) string {
		p, _ := s.find("Gjest2")
		if s.Conference == nil || s.Conference.Layout != "1:0" || p.Spotlight == 0 {
			return fmt.Sprintf("conference %+v, Gjest2 %+v", s.Conference, p)
		}
		return ""
	})
	host.waitFrame(t, "the spotlit guest over the whole 1:0 picture", 15*time.Second, func(img image.Image) string {
		for _, at := range [][2]float64{{0.25, 0.25}, {0.75, 0.75}, {0.5, 0.5}} {
			if got := sampleCell(img, at[0], at[1]); !colourNear(got, colourBlue, colourTol) {
				return fmt.Sprintf("at %v the picture is %v, want the second guest's blue", at, got)
			}
		}
		return ""
	})
	host.screenshot(t, "spotlight")

	if s := host.state(t); s.Refreshes < 2 || s.Phase != "in" {
		t.Fatalf("the host's page refreshed its 10 s token %d times and is %q, want at least 2 refreshes and still in", s.Refreshes, s.Phase)
	}

	// Disconnect one guest, then end the meeting for everyone (the page
	// asks for confirmation; the driver accepts).
	ended := func(s pageState) string {
		if s.Phase != "ended" || s.RosterVisible {
			return fmt.Sprintf("phase %q, roster %v", s.Phase, s.RosterVisible)
		}
		return ""
	}
	host.call(t, "click", map[string]string{"role": "button", "name": "Koble fra: Gjest1"}, 10*time.Second, nil)
	first.waitState(t, "disconnected", 10*time.Second, ended)
	host.call(t, "click", map[string]string{"role": "button", "name": "Avslutt møtet for alle"}, 10*time.Second, nil)
	second.waitState(t, "out of the ended meeting", 10*time.Second, ended)
	host.waitState(t, "out of the ended meeting", 10*time.Second, ended)
	second.screenshot(t, "ended")
}
