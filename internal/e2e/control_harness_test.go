package e2e

// Helpers for the host PIN, lobby and control tests: PIN hashes from the
// daemon, the audit log, the client control API and its event stream, DTMF
// from a baresip phone through ctrl_tcp, and a bare RTP peer.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// PINs of the tests. They are what callers key; the daemon's configuration
// only ever holds their hashes.
const (
	hostPIN  = "123456"
	guestPIN = "4321"
)

// pinHashes caches `vmrd hash-pin` output per PIN for the whole run.
var (
	pinHashMu sync.Mutex
	pinHashes = map[string]string{}
)

// hashPIN returns an argon2id hash of pin made by the daemon's own
// `vmrd hash-pin`, which reads the PIN from standard input.
func hashPIN(t *testing.T, pin string) string {
	t.Helper()
	requireDaemon(t)
	pinHashMu.Lock()
	defer pinHashMu.Unlock()
	if h, ok := pinHashes[pin]; ok {
		return h
	}
	cmd := exec.Command(vmrdBin, "hash-pin")
	cmd.Stdin = strings.NewReader(pin + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("vmrd hash-pin: %v\n%s", err, stderr.String())
	}
	h := strings.TrimSpace(string(out))
	if !strings.HasPrefix(h, "$argon2id$") {
		t.Fatalf("vmrd hash-pin printed %q, want an argon2id hash", h)
	}
	if strings.Contains(h, pin) {
		t.Fatalf("vmrd hash-pin output contains the PIN itself: %q", h)
	}
	pinHashes[pin] = h
	return h
}

// pinRoom is a room with the test host PIN and, if guest is set, the test
// guest PIN; lang "en" so its prompts are the English ones.
func pinRoom(t *testing.T, number, typ string, guest bool) RoomConfig {
	t.Helper()
	r := RoomConfig{Number: number, Type: typ, HostPIN: hashPIN(t, hostPIN), Language: "en"}
	if guest {
		r.GuestPIN = hashPIN(t, guestPIN)
	}
	return r
}

// Audit log.

// auditEvent is one line of the daemon's audit log.
type auditEvent struct {
	Time        time.Time `json:"time"`
	Event       string    `json:"event"`
	Room        string    `json:"room"`
	Participant string    `json:"participant"`
	Role        string    `json:"role"`
	Source      string    `json:"source"`
	Protocol    string    `json:"protocol"`
	Target      string    `json:"target"`
	Detail      string    `json:"detail"`
}

func (e auditEvent) String() string {
	b, _ := json.Marshal(e)
	return string(b)
}

// audit reads the audit log; every line must be one JSON object.
func (d *daemon) audit(t *testing.T) []auditEvent {
	t.Helper()
	b, err := os.ReadFile(d.AuditPath)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatalf("read audit log: %v", err)
	}
	var out []auditEvent
	for i, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		// A line being written may be cut short: only the last may fail.
		var e auditEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			if i == strings.Count(string(b), "\n") {
				break
			}
			t.Fatalf("audit log line %d is not JSON: %v\n%s", i+1, err, line)
		}
		out = append(out, e)
	}
	return out
}

// auditMatch selects audit events; empty fields match anything.
type auditMatch struct {
	Event, Room, Participant, Role, Protocol, Target string
}

func (m auditMatch) match(e auditEvent) bool {
	return (m.Event == "" || m.Event == e.Event) && (m.Room == "" || m.Room == e.Room) &&
		(m.Participant == "" || m.Participant == e.Participant) && (m.Role == "" || m.Role == e.Role) &&
		(m.Protocol == "" || m.Protocol == e.Protocol) && (m.Target == "" || m.Target == e.Target)
}

// auditFind returns the events matching m.
func (d *daemon) auditFind(t *testing.T, m auditMatch) []auditEvent {
	t.Helper()
	var out []auditEvent
	for _, e := range d.audit(t) {
		if m.match(e) {
			out = append(out, e)
		}
	}
	return out
}

// waitAudit polls the audit log until n events match m and returns them.
func (d *daemon) waitAudit(t *testing.T, m auditMatch, n int, within time.Duration) []auditEvent {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		if got := d.auditFind(t, m); len(got) >= n {
			return got
		}
		if !d.running() {
			t.Fatalf("vmrd exited while waiting for audit event %+v", m)
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit log has %d events matching %+v after %v, want %d; log:\n%s",
				len(d.auditFind(t, m)), m, within, n, auditText(d.audit(t)))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func auditText(es []auditEvent) string {
	var sb strings.Builder
	for _, e := range es {
		sb.WriteString(e.String())
		sb.WriteByte('\n')
	}
	return sb.String()
}

// Client control API (/api/client/v2/conferences/{number}/...).

// apiResponse is a decoded API answer.
type apiResponse struct {
	Code   int
	Body   []byte
	Status string          `json:"status"`
	Result json.RawMessage `json:"result"`
}

// apiDo sends one API request; body (may be nil) is sent as JSON.
func (d *daemon) apiDo(t *testing.T, method, number, verb, token string, body any) apiResponse {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	url := "http://" + d.HTTPAddr + "/api/client/v2/conferences/" + number + "/" + verb
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("token", token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	r := apiResponse{Code: resp.StatusCode, Body: b}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s %s: %d with a body that is not JSON: %v\n%s", method, url, resp.StatusCode, err, b)
	}
	return r
}

// apiOK sends a request that must succeed and returns its result.
func (d *daemon) apiOK(t *testing.T, method, number, verb, token string, body any) json.RawMessage {
	t.Helper()
	r := d.apiDo(t, method, number, verb, token, body)
	if r.Code != http.StatusOK || r.Status != "success" {
		t.Fatalf("%s %s/%s: %d %s, want 200 success", method, number, verb, r.Code, r.Body)
	}
	return r.Result
}

// tokenResult is request_token's result.
type tokenResult struct {
	Token           string `json:"token"`
	Expires         string `json:"expires"`
	ParticipantUUID string `json:"participant_uuid"`
	Role            string `json:"role"`
	DisplayName     string `json:"display_name"`
}

// requestToken asks for a token with pin; it returns the raw answer.
func (d *daemon) requestToken(t *testing.T, number, pin, name string) apiResponse {
	t.Helper()
	return d.apiDo(t, http.MethodPost, number, "request_token", "", map[string]string{"display_name": name, "pin": pin})
}

// token asks for a token that must be granted with role.
func (d *daemon) token(t *testing.T, number, pin, name, role string) tokenResult {
	t.Helper()
	r := d.requestToken(t, number, pin, name)
	if r.Code != http.StatusOK {
		t.Fatalf("request_token for room %s as %s: %d %s", number, name, r.Code, r.Body)
	}
	var tr tokenResult
	if err := json.Unmarshal(r.Result, &tr); err != nil {
		t.Fatalf("request_token result: %v\n%s", err, r.Body)
	}
	if tr.Token == "" || tr.ParticipantUUID == "" || tr.Role != role {
		t.Fatalf("request_token for room %s as %s: result %s, want a token with role %s", number, name, r.Result, role)
	}
	t.Cleanup(func() {
		// Best effort: the participant may already be gone.
		if d.running() {
			_ = d.apiDoQuiet(http.MethodPost, number, "release_token", tr.Token)
		}
	})
	return tr
}

// apiDoQuiet sends a request and ignores the answer (for cleanups).
func (d *daemon) apiDoQuiet(method, number, verb, token string) error {
	req, err := http.NewRequest(method, "http://"+d.HTTPAddr+"/api/client/v2/conferences/"+number+"/"+verb, nil)
	if err != nil {
		return err
	}
	req.Header.Set("token", token)
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// participantInfo is one entry of the participants list and of
// participant_* events.
type participantInfo struct {
	UUID        string `json:"uuid"`
	DisplayName string `json:"display_name"`
	Role        string `json:"role"`
	State       string `json:"state"`
	Muted       bool   `json:"is_muted"`
	Protocol    string `json:"protocol"`
	Source      string `json:"source"`
}

// conferenceInfo is GET conference's result and conference_update's data.
type conferenceInfo struct {
	Number      string `json:"number"`
	Name        string `json:"name"`
	Locked      bool   `json:"locked"`
	GuestsMuted bool   `json:"guests_muted"`
	HostPresent bool   `json:"host_present"`
	Layout      string `json:"layout"`
	Stream      *struct {
		State string `json:"state"`
		Error string `json:"error"`
	} `json:"stream"`
}

func (d *daemon) participants(t *testing.T, number, token string) []participantInfo {
	t.Helper()
	var list []participantInfo
	res := d.apiOK(t, http.MethodGet, number, "participants", token, nil)
	if err := json.Unmarshal(res, &list); err != nil {
		t.Fatalf("participants: %v\n%s", err, res)
	}
	return list
}

func (d *daemon) conference(t *testing.T, number, token string) conferenceInfo {
	t.Helper()
	var c conferenceInfo
	res := d.apiOK(t, http.MethodGet, number, "conference", token, nil)
	if err := json.Unmarshal(res, &c); err != nil {
		t.Fatalf("conference: %v\n%s", err, res)
	}
	return c
}

// waitParticipant polls the participants list until one matches ok.
func (d *daemon) waitParticipant(t *testing.T, number, token, what string, within time.Duration, ok func(participantInfo) bool) participantInfo {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		list := d.participants(t, number, token)
		for _, p := range list {
			if ok(p) {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no participant %s after %v; participants: %+v", what, within, list)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sseEvent is one server-sent event.
type sseEvent struct {
	Name string
	Data string
}

// eventStream reads a conference's event stream in the background.
type eventStream struct {
	events chan sseEvent
	cancel context.CancelFunc
	done   chan struct{}
	all    []sseEvent // what next has returned so far
}

// openEvents opens the event stream with token; cleanup closes it.
func (d *daemon) openEvents(t *testing.T, number, token string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+d.HTTPAddr+"/api/client/v2/conferences/"+number+"/events", nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	req.Header.Set("token", token)
	// No client timeout: the stream lives as long as the test wants it.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("open event stream: %v", err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		t.Fatalf("event stream: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	s := &eventStream{events: make(chan sseEvent, 1024), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer close(s.events)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Name != "" || ev.Data != "" {
					select {
					case s.events <- ev:
					case <-ctx.Done():
						return
					}
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
			case strings.HasPrefix(line, "event:"):
				ev.Name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				ev.Data += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
			}
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *eventStream) close() {
	s.cancel()
	<-s.done
}

// waitFor reads events until one named name satisfies ok (nil: any) and
// returns it.
func (s *eventStream) waitFor(t *testing.T, name string, within time.Duration, ok func(data string) bool) sseEvent {
	t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	for {
		select {
		case ev, open := <-s.events:
			if !open {
				t.Fatalf("event stream ended while waiting for %s; events so far:\n%s", name, s.history())
			}
			s.all = append(s.all, ev)
			if ev.Name == name && (ok == nil || ok(ev.Data)) {
				return ev
			}
		case <-timer.C:
			t.Fatalf("no %s event within %v; events so far:\n%s", name, within, s.history())
		}
	}
}

func (s *eventStream) history() string {
	var sb strings.Builder
	for _, ev := range s.all {
		fmt.Fprintf(&sb, "%s %s\n", ev.Name, ev.Data)
	}
	return sb.String()
}

// participantEvent decodes a participant_* event's data.
func participantEvent(data string) participantInfo {
	var p participantInfo
	_ = json.Unmarshal([]byte(data), &p)
	return p
}

// conferenceEvent decodes a conference_update event's data.
func conferenceEvent(data string) conferenceInfo {
	var c conferenceInfo
	_ = json.Unmarshal([]byte(data), &c)
	return c
}

// baresip ctrl_tcp.

// sendDTMF makes the phone key digits as RFC 4733 events, through ctrl_tcp's
// netstring-framed JSON command "sndcode".
func (p *phone) sendDTMF(t *testing.T, digits string) {
	t.Helper()
	if p.CtrlPort == 0 {
		t.Fatalf("baresip %s was started without ctrl_tcp", p.cfg.Name)
	}
	cmd, err := json.Marshal(map[string]string{"command": "sndcode", "params": digits, "token": "dtmf"})
	if err != nil {
		t.Fatal(err)
	}
	var reply []byte
	deadline := time.Now().Add(5 * time.Second)
	for {
		reply, err = ctrlCommand(p.CtrlPort, cmd)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond) // ctrl_tcp may not listen yet
	}
	if err != nil {
		t.Fatalf("baresip %s ctrl_tcp sndcode: %v", p.cfg.Name, err)
	}
	var r struct {
		OK   bool   `json:"ok"`
		Data string `json:"data"`
	}
	if err := json.Unmarshal(reply, &r); err != nil || !r.OK {
		t.Fatalf("baresip %s ctrl_tcp sndcode answered %q", p.cfg.Name, reply)
	}
}

// ctrlCommand sends one netstring ("LEN:DATA,") and returns baresip's
// answer, skipping the events ctrl_tcp pushes to every client.
func ctrlCommand(port int, cmd []byte) ([]byte, error) { return ctrlResponse(port, cmd) }

// A bare RTP peer: sipp does the signaling with an SDP naming this peer's
// port, and the test sends the media.

// rtpPeer is a UDP socket that sends PCMU (payload type 0) RTP.
type rtpPeer struct {
	conn   *net.UDPConn
	remote *net.UDPAddr
	seq    uint16
	ts     uint32
	ssrc   uint32
}

func newRTPPeer(t *testing.T) *rtpPeer {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &rtpPeer{conn: c, seq: 1000, ts: 160000, ssrc: 0x5eed1234}
}

// Port is the local port to put into the SDP.
func (p *rtpPeer) Port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

// waitRemote waits for the daemon's first RTP packet (it sends prompts at
// once) and sends to where it came from: symmetric RTP.
func (p *rtpPeer) waitRemote(t *testing.T, within time.Duration) {
	t.Helper()
	_ = p.conn.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 2048)
	n, from, err := p.conn.ReadFromUDP(buf)
	if err != nil {
		t.Fatalf("no RTP from vmrd within %v: %v", within, err)
	}
	if n < 12 || buf[0]>>6 != 2 {
		t.Fatalf("first packet from vmrd is not RTP (%d bytes)", n)
	}
	p.remote = from
}

// sendPCMU sends 8 kHz samples as 20 ms PCMU packets in real time.
func (p *rtpPeer) sendPCMU(t *testing.T, samples []float64) {
	t.Helper()
	const frame = 160
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	pkt := make([]byte, 12+frame)
	for off := 0; off < len(samples); off += frame {
		pkt[0] = 0x80
		pkt[1] = 0 // PCMU
		putU16(pkt[2:], p.seq)
		putU32(pkt[4:], p.ts)
		putU32(pkt[8:], p.ssrc)
		for i := range frame {
			v := 0.0
			if off+i < len(samples) {
				v = samples[off+i]
			}
			pkt[12+i] = linearToULaw(int16(math.Round(math.Max(-1, math.Min(1, v)) * 32767)))
		}
		if _, err := p.conn.WriteToUDP(pkt, p.remote); err != nil {
			t.Fatalf("send RTP: %v", err)
		}
		p.seq++
		p.ts += frame
		<-tick.C
	}
}

func putU16(b []byte, v uint16) { b[0], b[1] = byte(v>>8), byte(v) }
func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

// linearToULaw is the G.711 mu-law encoder (ITU-T G.711, bias 0x84).
func linearToULaw(s int16) byte {
	const bias, clip = 0x84, 32635
	v := int(s)
	sign := 0
	if v < 0 {
		v = -v
		sign = 0x80
	}
	if v > clip {
		v = clip
	}
	v += bias
	exp := 7
	for mask := 0x4000; v&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (v >> (exp + 3)) & 0x0f
	return ^byte(sign | exp<<4 | mant)
}

// dtmfFreqs are the row and column frequencies of each key (ITU-T Q.23).
var dtmfFreqs = map[rune][2]float64{
	'1': {697, 1209}, '2': {697, 1336}, '3': {697, 1477},
	'4': {770, 1209}, '5': {770, 1336}, '6': {770, 1477},
	'7': {852, 1209}, '8': {852, 1336}, '9': {852, 1477},
	'*': {941, 1209}, '0': {941, 1336}, '#': {941, 1477},
}

// dtmfTones renders keys as in-band DTMF at rate: each key's two tones for
// on seconds at about -10 dBFS each, then off seconds of silence (Q.24
// asks receivers to take 40 ms or more; phones send 70-100 ms).
func dtmfTones(t *testing.T, rate int, keys string, on, off float64) []float64 {
	t.Helper()
	amp := math.Pow(10, -10.0/20)
	var out []float64
	for _, k := range keys {
		f, ok := dtmfFreqs[k]
		if !ok {
			t.Fatalf("no DTMF tones for key %q", k)
		}
		n := int(on * float64(rate))
		for i := range n {
			x := float64(i) / float64(rate)
			out = append(out, amp*(math.Sin(2*math.Pi*f[0]*x)+math.Sin(2*math.Pi*f[1]*x)))
		}
		out = append(out, make([]float64, int(off*float64(rate)))...)
	}
	return out
}
