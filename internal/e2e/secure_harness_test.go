package e2e

// Helpers for the encryption, drain and flood tests: a test certificate, a
// small SIP client over UDP or TLS that writes raw requests and reads
// status lines, signals to the daemon, and tshark captures on loopback.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Test certificates.

// testCert is a self-signed ECDSA P-256 certificate for 127.0.0.1.
type testCert struct {
	CertFile string // certificate, PEM
	KeyFile  string // private key, PEM
	// Bundle holds certificate and key in one file, as baresip's
	// sip_certificate wants.
	Bundle string
	Serial *big.Int
}

// writeTestCert makes a new certificate with a random serial in dir, under
// names starting with name.
func writeTestCert(t *testing.T, dir, name string) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "vmrd e2e " + name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	c := testCert{
		CertFile: filepath.Join(dir, name+"-cert.pem"),
		KeyFile:  filepath.Join(dir, name+"-key.pem"),
		Bundle:   filepath.Join(dir, name+"-bundle.pem"),
		Serial:   serial,
	}
	for path, data := range map[string][]byte{c.CertFile: certPEM, c.KeyFile: keyPEM, c.Bundle: append(append([]byte{}, certPEM...), keyPEM...)} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// peerSerial connects to a TLS listener and returns the serial of the
// certificate it presents.
func peerSerial(addr string) (*big.Int, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	certs := c.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return nil, errors.New("no peer certificate")
	}
	return certs[0].SerialNumber, nil
}

// tlsConfig configures startDaemon with the certificate.
func (c testCert) configure(cfg *Config) {
	cfg.SIP.TLS.CertFile = c.CertFile
	cfg.SIP.TLS.KeyFile = c.KeyFile
}

// Signals and the daemon's exit.

// signal sends sig to the daemon. SIGTERM and SIGINT make the daemon exit
// by itself; the cleanup then does not count that as a failure, and the
// test checks the exit with waitExit.
func (d *daemon) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if sig == syscall.SIGTERM || sig == syscall.SIGINT {
		d.exitExpected.Store(true)
	}
	if err := d.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to vmrd: %v", sig, err)
	}
}

// waitExit waits for the daemon to exit and returns its exit code.
func (d *daemon) waitExit(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-d.done:
	case <-time.After(within):
		t.Fatalf("vmrd still running %v later", within)
	}
	if d.err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(d.err, &ee) {
		return ee.ExitCode()
	}
	t.Fatalf("vmrd: %v", d.err)
	return -1
}

// waitLog polls the daemon's log until it matches re.
func (d *daemon) waitLog(t *testing.T, re *regexp.Regexp, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		b, _ := os.ReadFile(d.LogPath)
		if m := re.Find(b); m != nil {
			return string(m)
		}
		if time.Now().After(deadline) {
			t.Fatalf("vmrd log did not match %q within %v", re, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A raw SIP client.

// sipMsg is one parsed SIP message.
type sipMsg struct {
	Request string // method of a request, "" for a response
	Status  int    // status of a response
	Reason  string
	Headers map[string][]string // lower-case names
	Body    string
	Raw     string
}

func (m *sipMsg) header(name string) string {
	if v := m.Headers[strings.ToLower(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (m *sipMsg) cseqMethod() string {
	f := strings.Fields(m.header("CSeq"))
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

// compactNames maps RFC 3261 7.3.3 compact header forms to full names.
var compactNames = map[string]string{"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length", "c": "content-type"}

// parseSIPHead parses a start line and header section (without the blank
// line).
func parseSIPHead(head string) (*sipMsg, error) {
	lines := strings.Split(head, "\r\n")
	m := &sipMsg{Headers: map[string][]string{}}
	start := lines[0]
	switch {
	case strings.HasPrefix(start, "SIP/2.0 "):
		rest := strings.TrimPrefix(start, "SIP/2.0 ")
		code, reason, _ := strings.Cut(rest, " ")
		n, err := strconv.Atoi(code)
		if err != nil {
			return nil, fmt.Errorf("bad status line %q", start)
		}
		m.Status, m.Reason = n, reason
	case strings.HasSuffix(start, " SIP/2.0"):
		m.Request, _, _ = strings.Cut(start, " ")
	default:
		return nil, fmt.Errorf("bad start line %q", start)
	}
	for _, l := range lines[1:] {
		name, value, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if full, ok := compactNames[name]; ok {
			name = full
		}
		m.Headers[name] = append(m.Headers[name], strings.TrimSpace(value))
	}
	return m, nil
}

func (m *sipMsg) contentLength() int {
	n, _ := strconv.Atoi(m.header("Content-Length"))
	return n
}

// sipClient sends requests over one UDP socket or one TLS connection and
// collects what comes back on a background reader. Requests the daemon
// sends (BYE) are answered 200 and kept for the test to look at.
type sipClient struct {
	t         *testing.T
	transport string // "UDP" or "TLS"
	local     string // host:port for Via and Contact
	remote    string // the daemon's SIP address
	udp       *net.UDPConn
	raddr     *net.UDPAddr
	tlsConn   *tls.Conn

	mu      sync.Mutex
	msgs    []*sipMsg
	changed chan struct{} // closed and replaced when msgs grows
	done    chan struct{}
	seq     int
}

// dialSIPUDP opens a UDP client bound to localIP (e.g. 127.0.0.2).
func dialSIPUDP(t *testing.T, localIP, remote string) *sipClient {
	t.Helper()
	raddr, err := net.ResolveUDPAddr("udp", remote)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(localIP)})
	if err != nil {
		t.Fatalf("udp client on %s: %v", localIP, err)
	}
	s := newSIPClient(t, "UDP", c.LocalAddr().String(), remote)
	s.udp, s.raddr = c, raddr
	go s.readUDP()
	t.Cleanup(s.close)
	return s
}

// dialSIPTLS connects over TLS without verifying the test certificate.
func dialSIPTLS(t *testing.T, remote string) *sipClient {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", remote, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("tls dial %s: %v", remote, err)
	}
	s := newSIPClient(t, "TLS", c.LocalAddr().String(), remote)
	s.tlsConn = c
	go s.readStream(c)
	t.Cleanup(s.close)
	return s
}

func newSIPClient(t *testing.T, transport, local, remote string) *sipClient {
	return &sipClient{t: t, transport: transport, local: local, remote: remote, changed: make(chan struct{}), done: make(chan struct{})}
}

func (s *sipClient) close() {
	if s.udp != nil {
		_ = s.udp.Close()
	}
	if s.tlsConn != nil {
		_ = s.tlsConn.Close()
	}
	<-s.done
}

func (s *sipClient) readUDP() {
	defer close(s.done)
	buf := make([]byte, 65536)
	for {
		n, _, err := s.udp.ReadFromUDP(buf)
		if err != nil {
			return
		}
		data := string(buf[:n])
		head, body, _ := strings.Cut(data, "\r\n\r\n")
		m, err := parseSIPHead(head)
		if err != nil {
			continue
		}
		m.Body, m.Raw = body, data
		s.got(m)
	}
}

func (s *sipClient) readStream(r io.Reader) {
	defer close(s.done)
	br := bufio.NewReader(r)
	for {
		var head strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\r\n" {
				if head.Len() == 0 {
					continue // keep-alive
				}
				break
			}
			head.WriteString(line)
		}
		m, err := parseSIPHead(strings.TrimRight(head.String(), "\r\n"))
		if err != nil {
			return
		}
		body := make([]byte, m.contentLength())
		if _, err := io.ReadFull(br, body); err != nil {
			return
		}
		m.Body, m.Raw = string(body), head.String()+"\r\n"+string(body)
		s.got(m)
	}
}

// got records a message; a request from the daemon gets 200 at once.
func (s *sipClient) got(m *sipMsg) {
	if m.Request != "" && m.Request != "ACK" {
		var sb strings.Builder
		sb.WriteString("SIP/2.0 200 OK\r\n")
		for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq"} {
			for _, v := range m.Headers[strings.ToLower(h)] {
				fmt.Fprintf(&sb, "%s: %s\r\n", h, v)
			}
		}
		sb.WriteString("Content-Length: 0\r\n\r\n")
		_ = s.write(sb.String())
	}
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *sipClient) write(msg string) error {
	if s.udp != nil {
		_, err := s.udp.WriteToUDP([]byte(msg), s.raddr)
		return err
	}
	_, err := s.tlsConn.Write([]byte(msg))
	return err
}

// send writes a message or fails the test.
func (s *sipClient) send(msg string) {
	s.t.Helper()
	if err := s.write(msg); err != nil {
		s.t.Fatalf("send over %s: %v", s.transport, err)
	}
}

// wait returns the first message (from index 0) matching ok, or nil after
// within.
func (s *sipClient) wait(within time.Duration, ok func(*sipMsg) bool) *sipMsg {
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		for _, m := range s.msgs {
			if ok(m) {
				s.mu.Unlock()
				return m
			}
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			return nil
		case <-s.done:
			// The connection is gone; one last look.
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, m := range s.msgs {
				if ok(m) {
					return m
				}
			}
			return nil
		}
	}
}

// messages returns what has arrived so far.
func (s *sipClient) messages() []*sipMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*sipMsg(nil), s.msgs...)
}

// finalFor waits for the final response to the request with callID and
// method.
func (s *sipClient) finalFor(callID, method string, within time.Duration) *sipMsg {
	return s.wait(within, func(m *sipMsg) bool {
		return m.Status >= 200 && m.header("Call-ID") == callID && m.cseqMethod() == method
	})
}

// sipDialog is the client side of one call attempt.
type sipDialog struct {
	c      *sipClient
	callID string
	from   string // From header value with our tag
	to     string // To header; with the daemon's tag after the answer
	uri    string
	cseq   int
	answer *sipMsg
	// inviteVia is the INVITE's Via: the ACK of a non-2xx answer belongs
	// to the INVITE's transaction and reuses it (RFC 3261 17.1.1.3).
	inviteVia string
}

// request builds a request of the dialog.
func (dl *sipDialog) request(method string, cseq int, extra []string, body string) string {
	c := dl.c
	c.seq++
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s %s SIP/2.0\r\n", method, dl.uri)
	via := fmt.Sprintf("SIP/2.0/%s %s;branch=z9hG4bK%s%d;rport", c.transport, c.local, randHex(6), c.seq)
	switch {
	case method == "INVITE":
		dl.inviteVia = via
	case method == "ACK" && dl.inviteVia != "":
		via = dl.inviteVia
	}
	fmt.Fprintf(&sb, "Via: %s\r\n", via)
	fmt.Fprintf(&sb, "From: %s\r\n", dl.from)
	fmt.Fprintf(&sb, "To: %s\r\n", dl.to)
	fmt.Fprintf(&sb, "Call-ID: %s\r\n", dl.callID)
	fmt.Fprintf(&sb, "CSeq: %d %s\r\n", cseq, method)
	fmt.Fprintf(&sb, "Contact: <sip:e2e@%s;transport=%s>\r\n", c.local, strings.ToLower(c.transport))
	sb.WriteString("Max-Forwards: 70\r\n")
	for _, h := range extra {
		sb.WriteString(h + "\r\n")
	}
	if body != "" {
		sb.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&sb, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return sb.String()
}

// newDialog starts a call attempt to room number.
func (s *sipClient) newDialog(number string) *sipDialog {
	host := s.remote
	uri := "sip:" + number + "@" + host
	if s.transport == "TLS" {
		uri += ";transport=tls"
	}
	return &sipDialog{
		c: s, callID: randHex(12) + "@e2e", uri: uri, cseq: 1,
		from: fmt.Sprintf("<sip:e2e@%s>;tag=%s", s.local, randHex(6)),
		to:   "<sip:" + number + "@" + host + ">",
	}
}

// invite sends the INVITE with sdp and returns the final response (nil
// when none came within the time).
func (dl *sipDialog) invite(t *testing.T, sdp string, within time.Duration, extra ...string) *sipMsg {
	t.Helper()
	dl.c.send(dl.request("INVITE", dl.cseq, extra, sdp))
	res := dl.c.finalFor(dl.callID, "INVITE", within)
	if res == nil {
		return nil
	}
	dl.ack(res)
	return res
}

// ack acknowledges the final response res to the INVITE.
func (dl *sipDialog) ack(res *sipMsg) {
	if res.Status >= 200 && res.Status < 300 {
		dl.to = res.header("To")
		dl.answer = res
	}
	// RFC 3261 17.1.1.3: a non-2xx final response is acknowledged by the
	// transaction; a 2xx by the dialog (13.2.2.4). Same To either way.
	ack := *dl
	ack.to = res.header("To")
	if res.Status < 300 {
		ack.inviteVia = ""
	}
	dl.c.send(ack.request("ACK", dl.cseq, nil, ""))
}

// bye hangs up and returns the final response to the BYE.
func (dl *sipDialog) bye(t *testing.T) *sipMsg {
	t.Helper()
	dl.cseq++
	dl.c.send(dl.request("BYE", dl.cseq, nil, ""))
	return dl.c.finalFor(dl.callID, "BYE", 5*time.Second)
}

// byeFromDaemon returns the BYE the daemon sent in this dialog, if any.
func (dl *sipDialog) byeFromDaemon(within time.Duration) *sipMsg {
	return dl.c.wait(within, func(m *sipMsg) bool { return m.Request == "BYE" && m.header("Call-ID") == dl.callID })
}

// options sends an out-of-dialog OPTIONS with extra headers.
func (s *sipClient) options(extra ...string) string {
	dl := s.newDialog("1001")
	s.send(dl.request("OPTIONS", 1, extra, ""))
	return dl.callID
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// SDP offers.

// offerAVP is a plain RTP PCMU offer for media on port.
func offerAVP(port int) string {
	return sdpOffer(port, "RTP/AVP", nil)
}

// offerSAVP is an RTP/SAVP PCMU offer with fresh keys for two suites
// (RFC 4568 6.1 allows several crypto lines; the answer picks one).
func offerSAVP(port int) string {
	key := func(n int) string {
		b := make([]byte, n)
		_, _ = rand.Read(b)
		return base64.StdEncoding.EncodeToString(b)
	}
	return sdpOffer(port, "RTP/SAVP", []string{
		"a=crypto:1 AEAD_AES_128_GCM inline:" + key(16+12),
		"a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:" + key(16+14),
	})
}

func sdpOffer(port int, proto string, attrs []string) string {
	lines := []string{
		"v=0",
		"o=e2e 1 1 IN IP4 127.0.0.1",
		"s=-",
		"c=IN IP4 127.0.0.1",
		"t=0 0",
		fmt.Sprintf("m=audio %d %s 0", port, proto),
		"a=rtpmap:0 PCMU/8000",
	}
	lines = append(lines, attrs...)
	lines = append(lines, "a=sendrecv")
	return strings.Join(lines, "\r\n") + "\r\n"
}

// cryptoLines lists the a=crypto lines of an SDP body.
func cryptoLines(sdp string) []string {
	var out []string
	for _, l := range strings.Split(sdp, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "a=crypto:") {
			out = append(out, l)
		}
	}
	return out
}

// mediaLine is the SDP body's first m= line.
func mediaLine(sdp string) string {
	for _, l := range strings.Split(sdp, "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "m=") {
			return l
		}
	}
	return ""
}

// mediaPort is a UDP socket that stands for a caller's RTP port and counts
// the packets that reach it.
type mediaPort struct {
	conn *net.UDPConn
	mu   sync.Mutex
	n    int
	from *net.UDPAddr
	done chan struct{}
}

func newMediaPort(t *testing.T) *mediaPort {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	m := &mediaPort{conn: c, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		buf := make([]byte, 2048)
		for {
			n, from, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if n >= 12 && buf[0]>>6 == 2 {
				m.mu.Lock()
				m.n++
				m.from = from
				m.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		_ = c.Close()
		<-m.done
	})
	return m
}

func (m *mediaPort) Port() int { return m.conn.LocalAddr().(*net.UDPAddr).Port }

func (m *mediaPort) packets() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n
}

// waitMore waits until more than n packets have arrived.
func (m *mediaPort) waitMore(t *testing.T, n int, within time.Duration, what string) int {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if got := m.packets(); got > n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no RTP from vmrd within %v (still %d packets)", what, within, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tshark.

// capture is a tshark capture on lo running in the background.
type capture struct {
	cmd    *exec.Cmd
	path   string
	stderr *bytes.Buffer
	done   chan struct{}
}

// startCapture captures packets matching the BPF filter into a pcapng file
// and returns once tshark says it is capturing.
func startCapture(t *testing.T, filter string) *capture {
	t.Helper()
	requireTool(t, "tshark", "tshark")
	c := &capture{path: filepath.Join(t.TempDir(), "capture.pcapng"), stderr: &bytes.Buffer{}, done: make(chan struct{})}
	c.cmd = exec.Command("tshark", "-i", "lo", "-n", "-q", "-f", filter, "-w", c.path)
	c.cmd.SysProcAttr = orphanGuard()
	pr, pw := io.Pipe()
	c.cmd.Stderr = pw
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start tshark: %v", err)
	}
	started := make(chan struct{})
	go func() {
		var once sync.Once
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			c.stderr.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "Capturing on") {
				once.Do(func() { close(started) })
			}
		}
	}()
	go func() {
		_ = c.cmd.Wait()
		_ = pw.Close()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	select {
	case <-started:
	case <-c.done:
		t.Fatalf("tshark exited before capturing (capturing on lo needs root or CAP_NET_RAW): %s", c.stderr.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("tshark did not start capturing within 15s: %s", c.stderr.String())
	}
	// dumpcap prints "Capturing on" as it opens the interface; give the
	// filter a moment to be attached before traffic starts.
	time.Sleep(300 * time.Millisecond)
	return c
}

// stop ends the capture cleanly (SIGINT lets tshark finish the file) and
// returns its path.
func (c *capture) stop(t *testing.T) string {
	t.Helper()
	// Let the last packets reach the file.
	time.Sleep(300 * time.Millisecond)
	_ = c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("tshark did not stop within 10s")
	}
	return c.path
}

// tsharkFields reads a capture with a display filter and prints fields, one
// line per packet.
func tsharkFields(t *testing.T, path string, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "tshark", append([]string{"-n", "-r", path}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark %v: %v\n%s", args, err, stderr.String())
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// byteEntropy is the Shannon entropy of data in bits per byte. Ciphertext
// is close to 8; G.711 speech or tones are far below (most samples use a
// few of the 256 codes).
func byteEntropy(data []byte) float64 {
	if len(data) == 0 {
		return 0
	}
	var hist [256]int
	for _, b := range data {
		hist[b]++
	}
	h := 0.0
	for _, n := range hist {
		if n > 0 {
			p := float64(n) / float64(len(data))
			h -= p * math.Log2(p)
		}
	}
	return h
}
