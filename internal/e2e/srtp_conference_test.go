package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSRTPConference: three baresip phones call a room that requires
// encryption over SIP TLS with SDES-SRTP; each hears the other two and not
// itself. tshark, capturing loopback meanwhile, is the oracle that nothing
// on the wire is readable: no SIP in the TLS stream, and RTP payloads that
// are neither G.711 sized nor G.711 like. A plain call over UDP to the same
// room is refused 488, read by tshark's SIP dissector.
func TestSRTPConference(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: three real phones for several seconds")
	}
	requireDaemon(t)
	requireTool(t, "tshark", "tshark")
	t.Parallel()
	cert := writeTestCert(t, t.TempDir(), "server")
	cfg := defaultConfig()
	cert.configure(&cfg)
	cfg.Media.RTPPorts = nextRTPRange()
	cfg.Rooms = []RoomConfig{{Number: "1001", Encryption: "required"}}
	d := startDaemon(t, cfg)
	_, tlsPort, _ := net.SplitHostPort(d.TLSAddr)

	capt := startCapture(t, fmt.Sprintf("udp portrange %s or tcp port %s", cfg.Media.RTPPorts, tlsPort))
	uri := "sip:1001@" + d.TLSAddr + ";transport=tls"
	phones := make([]*phone, len(toneFreqs))
	for i, f := range toneFreqs {
		phones[i] = startPhone(t, phoneConfig{
			Name: fmt.Sprintf("phone%d-%.0fHz", i+1, f), Freq: int(f), Codecs: "PCMU/8000/1", Dial: uri,
			TLSCert: cert.Bundle, MediaEnc: "srtp-mand",
		})
		phones[i].waitLog(t, establishedRe, 10*time.Second)
		want := float64(i + 1)
		d.waitMetric(t, "vmrd_participants", 10*time.Second, fmt.Sprintf("phone %d joining", i+1), func(v float64) bool { return v == want })
	}
	hold := time.Duration((listenWindow + trimEnd + 1.2) * float64(time.Second))
	for end := time.Now().Add(hold); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if v := d.metric(t, "vmrd_participants"); v != float64(len(phones)) {
			t.Fatalf("vmrd_participants dropped to %v during the conference", v)
		}
	}

	// Each SIP leg is encrypted, as the control API shows it.
	tok := d.token(t, "1001", "", "observer", "GUEST")
	var list []struct {
		Protocol   string `json:"protocol"`
		Encryption string `json:"encryption"`
	}
	if err := json.Unmarshal(d.apiOK(t, http.MethodGet, "1001", "participants", tok.Token, nil), &list); err != nil {
		t.Fatal(err)
	}
	sipLegs := 0
	for _, p := range list {
		if p.Protocol != "sip" {
			continue
		}
		sipLegs++
		if !strings.HasPrefix(p.Encryption, "srtp:") {
			t.Errorf("participants: a SIP leg shows encryption %q, want srtp:<suite>", p.Encryption)
		}
	}
	if sipLegs != len(phones) {
		t.Errorf("participants lists %d SIP legs, want %d: %+v", sipLegs, len(phones), list)
	}

	for _, p := range phones {
		p.hangup()
	}
	for _, p := range phones {
		p.wait(t, 10*time.Second)
	}
	d.waitMetric(t, "vmrd_calls_active", 5*time.Second, "every call ending", func(v float64) bool { return v == 0 })
	pcap := capt.stop(t)

	// Who hears whom, and what each phone negotiated.
	for i, p := range phones {
		if tx, rx := p.codecs(); tx != "PCMU" || rx != "PCMU" {
			t.Errorf("%s used tx %q rx %q, want PCMU", p.cfg.Name, tx, rx)
		}
		if !strings.Contains(p.Log(), "SRTP is Enabled (cryptosuite=") {
			t.Errorf("%s did not enable SRTP", p.cfg.Name)
		}
		r := analyseDump(t, p)
		t.Logf("%-14s sends %4.0f Hz, hears: %s", p.cfg.Name, toneFreqs[i], r)
		for _, pr := range checkHearing(r, othersThan(toneFreqs[i]), toneFreqs[i]) {
			t.Errorf("%s: %s", p.cfg.Name, pr)
		}
	}

	// The audit log's joins carry the encryption of each leg.
	joins := 0
	for _, e := range auditRaw(t, d) {
		if e["event"] != "join" || e["room"] != "1001" || e["protocol"] != "sip" {
			continue
		}
		joins++
		if enc, _ := e["encryption"].(string); !strings.HasPrefix(enc, "srtp:") {
			t.Errorf("audit join without srtp encryption: %v", e)
		}
	}
	if joins != len(phones) {
		t.Errorf("audit log has %d SIP joins of room 1001, want %d", joins, len(phones))
	}

	checkEncryptedCapture(t, pcap, cfg.Media.RTPPorts, len(phones))

	// A plain UDP call offering RTP/AVP: 488, as tshark reads it.
	plainCapt := startCapture(t, fmt.Sprintf("udp port %d", d.SIPPort))
	res := runSipp(t, context.Background(), d, sippRun{Scenario: "plain_to_required.xml", Service: "1001"})
	expectSippOK(t, "plain_to_required.xml", res)
	plainPcap := plainCapt.stop(t)
	var methods, codes []string
	for _, l := range tsharkFields(t, plainPcap, "-Y", "sip", "-T", "fields", "-E", "separator=,", "-e", "sip.Method", "-e", "sip.Status-Code") {
		m, c, _ := strings.Cut(l, ",")
		if m != "" {
			methods = append(methods, m)
		}
		if c != "" {
			codes = append(codes, c)
		}
	}
	t.Logf("plain call on the wire: methods %v, status codes %v", methods, codes)
	if !contains(methods, "INVITE") || !contains(codes, "488") || contains(codes, "200") {
		t.Errorf("plain call to the required room: methods %v, status codes %v; want an INVITE answered 488 and no 200", methods, codes)
	}
}

// checkEncryptedCapture reads the capture of an SRTP conference.
func checkEncryptedCapture(t *testing.T, pcap, rtpPorts string, calls int) {
	t.Helper()
	raw, err := os.ReadFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	for _, plain := range []string{"INVITE sip:", "SIP/2.0 200", "a=crypto", "inline:", "m=audio"} {
		if bytes.Contains(raw, []byte(plain)) {
			t.Errorf("the capture holds %q in clear", plain)
		}
	}
	if n := len(tsharkFields(t, pcap, "-Y", "tls.handshake.type == 1", "-T", "fields", "-e", "frame.number")); n < calls {
		t.Errorf("tshark sees %d TLS ClientHellos, want at least %d", n, calls)
	}
	if n := len(tsharkFields(t, pcap, "-Y", "sip", "-T", "fields", "-e", "frame.number")); n != 0 {
		t.Errorf("tshark's SIP dissector reads %d SIP messages in the TLS capture, want 0", n)
	}

	lo, _, _ := strings.Cut(rtpPorts, "-")
	loPort, _ := strconv.Atoi(lo)
	hiPort := loPort + rtpBlockSize - 1
	lines := tsharkFields(t, pcap, "-d", "udp.port=="+rtpPorts+",rtp", "-Y", "rtp && rtp.p_type == 0",
		"-T", "fields", "-E", "separator=,", "-e", "udp.dstport", "-e", "rtp.payload")
	var toVMRD, fromVMRD []byte
	var packets, plainSized int
	for _, l := range lines {
		port, payloadHex, _ := strings.Cut(l, ",")
		payload, err := hex.DecodeString(strings.ReplaceAll(payloadHex, ":", ""))
		if err != nil {
			t.Fatalf("tshark payload %q: %v", payloadHex, err)
		}
		packets++
		// SRTP appends an authentication tag (RFC 3711 3.1, RFC 7714 8):
		// an encrypted 20 ms PCMU packet is longer than 160 bytes.
		if len(payload) == 160 {
			plainSized++
		}
		if p, _ := strconv.Atoi(port); p >= loPort && p <= hiPort {
			toVMRD = append(toVMRD, payload...)
		} else {
			fromVMRD = append(fromVMRD, payload...)
		}
	}
	const minBytes = 100 * 160 // two seconds of one call's audio
	for _, dir := range []struct {
		name string
		data []byte
	}{{"phones to vmrd", toVMRD}, {"vmrd to phones", fromVMRD}} {
		h := byteEntropy(dir.data)
		t.Logf("RTP payloads %s: %d bytes, entropy %.3f bits/byte", dir.name, len(dir.data), h)
		if len(dir.data) < minBytes {
			t.Errorf("RTP %s: only %d payload bytes captured, want at least %d", dir.name, len(dir.data), minBytes)
			continue
		}
		// G.711 tones and mixes stay far below 7.9 (TestByteEntropyOracle).
		if h < 7.9 {
			t.Errorf("RTP payloads %s have %.2f bits/byte of entropy, want >= 7.9 (ciphertext)", dir.name, h)
		}
	}
	if plainSized > 0 {
		t.Errorf("%d of %d PCMU RTP packets carry exactly 160 payload bytes, as plain 20 ms G.711 would", plainSized, packets)
	}

	// vmrd's own RTCP (SRTCP, RFC 3711 3.4): it leaves from the odd port
	// above each leg's RTP port, and in clear its SDES would carry vmrd's
	// CNAME ("vmrd-" and a random number). Encrypted, the name is nowhere.
	var rtcpFromVMRD int
	for _, l := range tsharkFields(t, pcap, "-Y", fmt.Sprintf("udp.srcport >= %d && udp.srcport <= %d", loPort, hiPort),
		"-T", "fields", "-e", "udp.srcport") {
		if p, err := strconv.Atoi(l); err == nil && p%2 == 1 {
			rtcpFromVMRD++
		}
	}
	t.Logf("RTCP from vmrd: %d packets, none with its CNAME in clear", rtcpFromVMRD)
	if rtcpFromVMRD == 0 {
		t.Error("tshark sees no RTCP from vmrd: nothing to check")
	}
	if bytes.Contains(raw, []byte("vmrd-")) {
		t.Error("vmrd's RTCP CNAME is in the capture in clear: its RTCP is not encrypted")
	}
}

// auditRaw reads the audit log as generic JSON objects (the encryption
// field is not in auditEvent).
func auditRaw(t *testing.T, d *daemon) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(d.AuditPath)
	if err != nil {
		t.Fatalf("read audit log: %v", err)
	}
	var out []map[string]any
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("audit line is not JSON: %v\n%s", err, line)
		}
		out = append(out, e)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestByteEntropyOracle checks the oracle of TestSRTPConference: plain
// G.711 tones, mixes and silence are far below the 7.9 bits/byte threshold
// that random bytes (ciphertext) exceed.
func TestByteEntropyOracle(t *testing.T) {
	const rate, n = 8000, 8000 * 5
	tone := func(freqs ...float64) []byte {
		out := make([]byte, n)
		for i := range out {
			v := 0.0
			for _, f := range freqs {
				v += 0.3 * math.Sin(2*math.Pi*f*float64(i)/rate)
			}
			out[i] = linearToULaw(int16(v * 32767 / float64(len(freqs))))
		}
		return out
	}
	noise := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(r.Uint32())
	}
	silence := bytes.Repeat([]byte{0xff}, n)
	tests := []struct {
		name   string
		data   []byte
		crypto bool
	}{
		{name: "PCMU silence", data: silence},
		{name: "PCMU 440 Hz", data: tone(440)},
		{name: "PCMU mix of 660 and 990 Hz", data: tone(660, 990)},
		{name: "PCMU mix of three tones", data: tone(440, 660, 990)},
		{name: "random bytes", data: noise, crypto: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := byteEntropy(tc.data)
			t.Logf("%.3f bits/byte", h)
			if got := h >= 7.9; got != tc.crypto {
				t.Errorf("entropy %.3f: classified as ciphertext %v, want %v", h, got, tc.crypto)
			}
		})
	}
}
