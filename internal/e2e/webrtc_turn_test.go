package e2e

import (
	"fmt"
	"image/color"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	pion "github.com/pion/webrtc/v4"
)

// coturn is a TURN server (Debian's coturn) on loopback that checks
// credentials with a shared secret (use-auth-secret, the TURN REST scheme).
type coturn struct {
	Port    int
	LogPath string
	cmd     *exec.Cmd
	done    chan struct{}
}

// turnRelayPorts are the relay ports of the test's TURN server, apart from
// every other range the tests use.
const turnRelayPorts = "30100-30199"

func startCoturn(t *testing.T, secret string) *coturn {
	t.Helper()
	bin := requireTool(t, "turnserver", "coturn")
	dir := t.TempDir()
	c := &coturn{Port: freePort(t), LogPath: filepath.Join(dir, "turnserver.log"), done: make(chan struct{})}
	lo, hi, _ := strings.Cut(turnRelayPorts, "-")
	out, err := os.Create(c.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	// -c /dev/null: nothing from /etc/turnserver.conf; loopback peers
	// allowed, as vmrd is on loopback too.
	c.cmd = exec.Command(bin, "-c", "/dev/null", "-n", "--no-cli", "--no-tls", "--no-dtls", "--simple-log", "--log-file=stdout",
		"--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", "--listening-port="+strconv.Itoa(c.Port),
		"--min-port="+lo, "--max-port="+hi, "--realm=vmrd.test", "--use-auth-secret", "--static-auth-secret="+secret,
		"--allow-loopback-peers", "--fingerprint", "--pidfile="+filepath.Join(dir, "turnserver.pid"),
		"--userdb="+filepath.Join(dir, "turndb"), "--verbose")
	c.cmd.Stdout, c.cmd.Stderr = out, out
	c.cmd.SysProcAttr = orphanGuard()
	if err := c.cmd.Start(); err != nil {
		_ = out.Close()
		t.Fatalf("start turnserver: %v", err)
	}
	go func() {
		_ = c.cmd.Wait()
		_ = out.Close()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Kill()
			<-c.done
		}
		if t.Failed() {
			t.Logf("turnserver log:\n%s", tailFile(c.LogPath, 60))
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !udpPortBound(c.Port) {
		select {
		case <-c.done:
			t.Fatalf("turnserver exited:\n%s", tailFile(c.LogPath, 40))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("turnserver did not bind 127.0.0.1:%d:\n%s", c.Port, tailFile(c.LogPath, 40))
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

func (c *coturn) Log() string {
	b, _ := os.ReadFile(c.LogPath)
	return string(b)
}

// TestWebRTCThroughTURN: vmrd hands each browser TURN credentials of its
// own, made from a secret it shares with the TURN server (secret_file);
// the secret itself never reaches the page. A pion client that may only
// use relayed candidates (a browser behind a strict firewall) joins beside
// a baresip phone through Debian's coturn, which accepts the credential,
// and the media flows both ways through the relay.
func TestWebRTCThroughTURN(t *testing.T) {
	requireVideoTools(t, "baresip", "ffmpeg")
	const secret = "turn-shared-s3cret"
	turn := startCoturn(t, secret)
	secretFile := filepath.Join(t.TempDir(), "turn-secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig()
	cfg.Video.Layout = "4:0"
	cfg.Video.FPS = 15
	cfg.WebRTC.ICEServers = []ICEServerConfig{{URLs: []string{fmt.Sprintf("turn:127.0.0.1:%d?transport=udp", turn.Port)}, SecretFile: secretFile}}
	d := startDaemon(t, cfg)

	ph := startVideoPhone(t, videoPhoneOpts{Name: "phone", Video: makeColourVideo(t, t.TempDir(), "phone", colourRed, 640, 360, 30, 60),
		VideoCodecs: "VP8", Freq: 440, Seconds: 60, Dial: "sip:1001@" + d.SIPAddr})
	d.waitLogCount(t, videoStartedRe, 1, 15*time.Second)

	tok := d.token(t, "1001", "", "relayed", "GUEST")
	c := startRTCClientWith(t, d, "1001", tok.Token, true, func(c *rtcClient, audio, vid *pion.TrackLocalStaticSample) {
		c.sendMedia(t, audio, vid, colourGreen, 550)
	})
	c.waitView(t, 20*time.Second, gridView([]*color.RGBA{&colourRed, nil, nil, nil}, colourGreen))
	waitView(t, ph, 20*time.Second, gridView([]*color.RGBA{&colourGreen, nil, nil, nil}, colourRed))
	c.waitHears(t, 15*time.Second, 440, 550)

	pair, err := c.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil || pair.Local.Typ != pion.ICECandidateTypeRelay {
		t.Fatalf("selected candidate pair %v (%v), want a relayed local candidate", pair, err)
	}
	// coturn saw the per-participant username: "<expiry>:<participant>".
	user := regexp.MustCompile(`user <(\d+):([^>]+)>`).FindStringSubmatch(turn.Log())
	if user == nil {
		t.Fatalf("coturn logged no authenticated user:\n%s", tailFile(turn.LogPath, 40))
	}
	if exp, _ := strconv.ParseInt(user[1], 10, 64); time.Until(time.Unix(exp, 0)) < 11*time.Hour {
		t.Errorf("the credential expires at %s, want about 12 h from now", time.Unix(exp, 0))
	}
	if log, _ := os.ReadFile(d.LogPath); strings.Contains(string(log), secret) {
		t.Error("the TURN secret is in vmrd's log")
	}
}
