// Package nginxrtmp runs Debian's nginx with the RTMP module on loopback for
// tests: a real RTMP ingest that records every stream it receives to FLV.
package nginxrtmp

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// RTMPModule and StreamModule are Debian's nginx modules (libnginx-mod-rtmp,
// libnginx-mod-stream).
const RTMPModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
const StreamModule = "/usr/lib/nginx/modules/ngx_stream_module.so"

// Server is an nginx with the RTMP module, recording every publish
// into its own file.
type Server struct {
	Dir, RecDir string
	Port        int
	TLSPort     int // 0 without the TLS front
	cmd         *exec.Cmd
	exited      chan struct{}
}

func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func Require(t testing.TB, modules ...string) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
		if _, err := os.Stat(bin); err != nil {
			t.Skip("nginx not installed (apt-get install nginx libnginx-mod-rtmp)")
		}
	}
	for _, m := range append([]string{RTMPModule}, modules...) {
		if _, err := os.Stat(m); err != nil {
			t.Skipf("%s missing", m)
		}
	}
	return bin
}

// Start starts nginx in the foreground as a child process. A TLS front
// (nginx's stream module) is added when cert is not empty.
func Start(t testing.TB, dir string, port, tlsPort int, cert, key string) *Server {
	t.Helper()
	mods := []string{}
	if cert != "" {
		mods = append(mods, StreamModule)
	}
	bin := Require(t, mods...)
	s := &Server{Dir: dir, RecDir: filepath.Join(dir, "rec"), Port: port, TLSPort: tlsPort}
	if err := os.MkdirAll(s.RecDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var conf strings.Builder
	if os.Geteuid() == 0 {
		conf.WriteString("user root;\n")
	}
	fmt.Fprintf(&conf, "load_module %s;\n", RTMPModule)
	if cert != "" {
		fmt.Fprintf(&conf, "load_module %s;\n", StreamModule)
	}
	fmt.Fprintf(&conf, `master_process off;
daemon off;
error_log %[1]s/error.log info;
pid %[1]s/nginx.pid;
events { worker_connections 64; }
rtmp {
  server {
    listen 127.0.0.1:%[2]d;
    application live { live on; record all; record_path %[3]s; record_unique on; }
  }
}
`, dir, port, s.RecDir)
	if cert != "" {
		fmt.Fprintf(&conf, `stream {
  server {
    listen 127.0.0.1:%d ssl;
    ssl_certificate %s;
    ssl_certificate_key %s;
    proxy_pass 127.0.0.1:%d;
  }
}
`, tlsPort, cert, key, port)
	}
	cf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	s.cmd = exec.Command(bin, "-c", cf, "-p", dir, "-e", filepath.Join(dir, "error.log"))
	s.cmd.Stdout, s.cmd.Stderr = os.Stderr, os.Stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	s.exited = make(chan struct{})
	go func() { s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(s.Kill)
	waitListening(t, port, s)
	if tlsPort != 0 {
		waitListening(t, tlsPort, s)
	}
	return s
}

func waitListening(t testing.TB, port int, s *Server) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-s.exited:
			log, _ := os.ReadFile(filepath.Join(s.Dir, "error.log"))
			t.Fatalf("nginx exited:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx not listening on %d: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill ends nginx at once (SIGKILL), as a crash or a network cut would.
func (s *Server) Kill() {
	if s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// Stop ends nginx gracefully so it closes its recordings.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("nginx did not stop")
	}
}

// Recordings lists the .flv files nginx wrote, oldest first.
func (s *Server) Recordings(t testing.TB) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(s.RecDir, "*.flv"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Probing is what ffprobe says of a recording.
type Probing struct {
	Streams []struct {
		CodecType  string `json:"codec_type"`
		CodecName  string `json:"codec_name"`
		Profile    string `json:"profile"`
		Width      int    `json:"width"`
		Height     int    `json:"height"`
		SampleRate string `json:"sample_rate"`
		Channels   int    `json:"channels"`
	} `json:"streams"`
	Frames []struct {
		MediaType string `json:"media_type"`
		PTSTime   string `json:"pts_time"`
		KeyFrame  int    `json:"key_frame"`
	} `json:"frames"`
}

// Probe runs ffprobe on a recording.
func Probe(t *testing.T, file string) Probing {
	t.Helper()
	bin, err := exec.LookPath("ffprobe")
	if err != nil {
		t.Skip("ffprobe not installed")
	}
	out, err := exec.Command(bin, "-v", "error", "-show_streams", "-show_entries",
		"frame=media_type,pts_time,key_frame", "-of", "json", file).Output()
	if err != nil {
		t.Fatalf("ffprobe %s: %v", file, err)
	}
	var pr Probing
	if err := json.Unmarshal(out, &pr); err != nil {
		t.Fatal(err)
	}
	return pr
}

// Summary is what a recording holds, per medium.
type Summary struct {
	VideoPackets, AudioPackets int
	VideoDur, AudioDur         float64
	MaxKeyGap                  float64
	FirstVideoKey              bool
}

// Summarize counts a recording's packets, durations and keyframe gaps.
func Summarize(t *testing.T, pr Probing) Summary {
	t.Helper()
	var s Summary
	first := map[string]float64{}
	last := map[string]float64{}
	lastKey := -1.0
	for _, pk := range pr.Frames {
		ts, err := strconv.ParseFloat(pk.PTSTime, 64)
		if err != nil {
			continue
		}
		if _, ok := first[pk.MediaType]; !ok {
			first[pk.MediaType] = ts
			if pk.MediaType == "video" {
				s.FirstVideoKey = pk.KeyFrame == 1
			}
		}
		last[pk.MediaType] = ts
		switch pk.MediaType {
		case "video":
			s.VideoPackets++
			if pk.KeyFrame == 1 {
				if lastKey >= 0 {
					s.MaxKeyGap = max(s.MaxKeyGap, ts-lastKey)
				}
				lastKey = ts
			}
		case "audio":
			s.AudioPackets++
		}
	}
	s.VideoDur, s.AudioDur = last["video"]-first["video"], last["audio"]-first["audio"]
	return s
}
