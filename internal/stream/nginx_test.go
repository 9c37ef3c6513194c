package stream

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const rtmpModule = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
const streamModule = "/usr/lib/nginx/modules/ngx_stream_module.so"

// nginxServer is an nginx with the RTMP module, recording every publish
// into its own file.
type nginxServer struct {
	dir, recDir string
	port        int
	tlsPort     int // 0 without the TLS front
	cmd         *exec.Cmd
	exited      chan struct{}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func requireNginx(t testing.TB, modules ...string) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
		if _, err := os.Stat(bin); err != nil {
			t.Skip("nginx not installed (apt-get install nginx libnginx-mod-rtmp)")
		}
	}
	for _, m := range append([]string{rtmpModule}, modules...) {
		if _, err := os.Stat(m); err != nil {
			t.Skipf("%s missing", m)
		}
	}
	return bin
}

// startNginx starts nginx in the foreground as a child process. A TLS front
// (nginx's stream module) is added when cert is not empty.
func startNginx(t testing.TB, dir string, port, tlsPort int, cert, key string) *nginxServer {
	t.Helper()
	mods := []string{}
	if cert != "" {
		mods = append(mods, streamModule)
	}
	bin := requireNginx(t, mods...)
	s := &nginxServer{dir: dir, recDir: filepath.Join(dir, "rec"), port: port, tlsPort: tlsPort}
	if err := os.MkdirAll(s.recDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var conf strings.Builder
	if os.Geteuid() == 0 {
		conf.WriteString("user root;\n")
	}
	fmt.Fprintf(&conf, "load_module %s;\n", rtmpModule)
	if cert != "" {
		fmt.Fprintf(&conf, "load_module %s;\n", streamModule)
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
`, dir, port, s.recDir)
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
	t.Cleanup(s.kill)
	waitListening(t, port, s)
	if tlsPort != 0 {
		waitListening(t, tlsPort, s)
	}
	return s
}

func waitListening(t testing.TB, port int, s *nginxServer) {
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
			log, _ := os.ReadFile(filepath.Join(s.dir, "error.log"))
			t.Fatalf("nginx exited:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx not listening on %d: %v", port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends nginx at once (SIGKILL), as a crash or a network cut would.
func (s *nginxServer) kill() {
	if s.cmd.Process != nil {
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// stop ends nginx gracefully so it closes its recordings.
func (s *nginxServer) stop(t testing.TB) {
	t.Helper()
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("nginx did not stop")
	}
}

// recordings lists the .flv files nginx wrote, oldest first.
func (s *nginxServer) recordings(t testing.TB) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(s.recDir, "*.flv"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// selfSigned writes a CA-less self-signed certificate for 127.0.0.1 and
// returns the paths and a pool that trusts it.
func selfSigned(t testing.TB, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vmrd test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	c, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(c)
	return certFile, keyFile, pool
}
