package e2e

import (
	"bytes"
	"math/big"
	"net"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSIPEncryptionPolicy walks the SRTP policy table with raw INVITEs: what
// a room requires, allows or refuses, over TLS and over plain UDP, and with
// media.srtp_over_plain_sip.
func TestSIPEncryptionPolicy(t *testing.T) {
	requireDaemon(t)
	t.Parallel()
	cert := writeTestCert(t, t.TempDir(), "server")
	cfg := defaultConfig()
	cert.configure(&cfg)
	cfg.Rooms = []RoomConfig{
		{Number: "1001", Encryption: "required"},
		{Number: "1002", Encryption: "off"},
		{Number: "1004", Encryption: "preferred"},
	}
	d := startDaemon(t, cfg)
	plainCfg := defaultConfig()
	plainCfg.Media.SRTPOverPlainSIP = true
	plainCfg.Rooms = []RoomConfig{{Number: "1001", Encryption: "required"}}
	plain := startDaemon(t, plainCfg)

	tests := []struct {
		name      string
		d         *daemon
		transport string // "TLS" or "UDP"
		room      string
		savp      bool
		want      int
		// warning must appear in the Warning header (case-insensitive).
		warning string
	}{
		{name: "AVP to required over TLS", d: d, transport: "TLS", room: "1001", want: 488},
		{name: "SAVP to required over TLS", d: d, transport: "TLS", room: "1001", savp: true, want: 200},
		{name: "SAVP to off over TLS", d: d, transport: "TLS", room: "1002", want: 488, savp: true},
		{name: "AVP to off over TLS", d: d, transport: "TLS", room: "1002", want: 200},
		{name: "SAVP to preferred over TLS", d: d, transport: "TLS", room: "1004", savp: true, want: 200},
		{name: "SAVP to required over UDP", d: d, transport: "UDP", room: "1001", savp: true, want: 488, warning: "TLS"},
		{name: "AVP to required over UDP", d: d, transport: "UDP", room: "1001", want: 488, warning: "TLS"},
		{name: "SAVP to required over UDP with srtp_over_plain_sip", d: plain, transport: "UDP", room: "1001", savp: true, want: 200},
		{name: "AVP to required over UDP with srtp_over_plain_sip", d: plain, transport: "UDP", room: "1001", want: 488},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c *sipClient
			if tc.transport == "TLS" {
				c = dialSIPTLS(t, tc.d.TLSAddr)
			} else {
				c = dialSIPUDP(t, "127.0.0.1", tc.d.SIPAddr)
			}
			media := newMediaPort(t)
			offer := offerAVP(media.Port())
			if tc.savp {
				offer = offerSAVP(media.Port())
			}
			dl := c.newDialog(tc.room)
			res := dl.invite(t, offer, 10*time.Second)
			if res == nil {
				t.Fatalf("no final response to the INVITE; got:\n%s", rawMessages(c))
			}
			if res.Status != tc.want {
				t.Fatalf("INVITE answered %d %s (Warning %q), want %d", res.Status, res.Reason, res.header("Warning"), tc.want)
			}
			if tc.warning != "" && !strings.Contains(strings.ToLower(res.header("Warning")), strings.ToLower(tc.warning)) {
				t.Errorf("Warning %q does not mention %s", res.header("Warning"), tc.warning)
			}
			if res.Status == 200 {
				m := mediaLine(res.Body)
				crypto := cryptoLines(res.Body)
				if tc.savp {
					if !strings.Contains(m, "RTP/SAVP") {
						t.Errorf("answer's media line %q, want RTP/SAVP", m)
					}
					if len(crypto) != 1 {
						t.Errorf("answer has %d a=crypto lines, want exactly 1 (RFC 4568 6.1):\n%s", len(crypto), res.Body)
					} else if !strings.Contains(crypto[0], "AEAD_AES_128_GCM") && !strings.Contains(crypto[0], "AES_CM_128_HMAC_SHA1_80") {
						t.Errorf("answer's crypto %q is not one of the offered suites", redactKey(crypto[0]))
					}
				} else {
					if !strings.Contains(m, "RTP/AVP") || len(crypto) != 0 {
						t.Errorf("answer to a plain offer: media %q with %d crypto lines, want RTP/AVP and none", m, len(crypto))
					}
				}
				media.waitMore(t, 0, 5*time.Second, "media of the answered call")
				if bye := dl.bye(t); bye == nil || bye.Status != 200 {
					t.Errorf("BYE answered %v, want 200", statusOf(bye))
				}
			}
		})
	}
	d.waitMetric(t, "vmrd_calls_active", 5*time.Second, "all calls gone", func(v float64) bool { return v == 0 })
	plain.waitMetric(t, "vmrd_calls_active", 5*time.Second, "all calls gone", func(v float64) bool { return v == 0 })
}

// TestSIPTLSEdgeCases: garbage inside a good TLS session gets an encrypted
// 400; a plain TCP client on the TLS port harms nothing.
func TestSIPTLSEdgeCases(t *testing.T) {
	requireDaemon(t)
	t.Parallel()
	cert := writeTestCert(t, t.TempDir(), "server")
	cfg := defaultConfig()
	cert.configure(&cfg)
	d := startDaemon(t, cfg)

	t.Run("garbage over TLS gets 400", func(t *testing.T) {
		c := dialSIPTLS(t, d.TLSAddr)
		// Garbage with no Via has nowhere to be answered (guard.go drops
		// it, counted); garbage with one gets 400 (RFC 3261 8.2.6.1 copies
		// the Via), encrypted on the same connection.
		c.send("THIS IS NOT SIP\r\nX-Garbage: \x01\x02\r\n\r\n")
		id := randHex(8) + "@garbage"
		c.send("THIS IS NOT SIP EITHER\r\n" +
			"Via: SIP/2.0/TLS " + c.local + ";branch=z9hG4bK" + randHex(6) + "\r\n" +
			"From: <sip:e2e@127.0.0.1>;tag=" + randHex(4) + "\r\n" +
			"To: <sip:1001@127.0.0.1>\r\n" +
			"Call-ID: " + id + "\r\n" +
			"CSeq: 1 INVITE\r\n" +
			"Content-Length: 0\r\n\r\n")
		res := c.wait(5*time.Second, func(m *sipMsg) bool { return m.header("Call-ID") == id })
		if res == nil {
			t.Fatalf("no answer over TLS to garbage with a Via; got:\n%s", rawMessages(c))
		}
		if res.Status != 400 {
			t.Errorf("garbage over TLS answered %d %s, want 400", res.Status, res.Reason)
		}
		if len(c.messages()) != 1 {
			t.Errorf("want only the one 400, got:\n%s", rawMessages(c))
		}
		// The connection still serves good requests.
		opt := c.options()
		if res := c.finalFor(opt, "OPTIONS", 5*time.Second); res == nil || res.Status != 200 {
			t.Errorf("OPTIONS after the garbage on the same connection answered %v, want 200", statusOf(res))
		}
		if v := d.metric(t, "vmrd_sip_malformed_total"); v < 2 {
			t.Errorf("vmrd_sip_malformed_total = %v, want at least 2", v)
		}
	})

	t.Run("plain TCP on the TLS port", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", d.TLSAddr, 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		c := &sipClient{transport: "TCP", local: conn.LocalAddr().String(), remote: d.TLSAddr}
		dl := c.newDialog("1001")
		if _, err := conn.Write([]byte(dl.request("OPTIONS", 1, nil, ""))); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 4096)
		n, _ := conn.Read(buf) // an alert, or the connection closes
		if bytes.Contains(buf[:n], []byte("SIP/2.0")) {
			t.Errorf("the TLS port answered plain text: %q", buf[:n])
		}
		if !d.running() {
			t.Fatal("vmrd exited after a plain TCP client on its TLS port")
		}
		tc := dialSIPTLS(t, d.TLSAddr)
		id := tc.options()
		if res := tc.finalFor(id, "OPTIONS", 5*time.Second); res == nil || res.Status != 200 {
			t.Errorf("OPTIONS over TLS afterwards answered %v, want 200", statusOf(res))
		}
	})
}

// TestSIPTLSCertificateReload replaces the certificate files during a call
// and sends SIGHUP: new connections see the new certificate, the call goes
// on; a broken file on the next SIGHUP is refused and the served
// certificate stays.
func TestSIPTLSCertificateReload(t *testing.T) {
	requireDaemon(t)
	t.Parallel()
	dir := t.TempDir()
	first := writeTestCert(t, dir, "first")
	cfg := defaultConfig()
	first.configure(&cfg)
	cfg.Rooms = []RoomConfig{{Number: "1001", Encryption: "required"}}
	d := startDaemon(t, cfg)

	if got, err := peerSerial(d.TLSAddr); err != nil || got.Cmp(first.Serial) != 0 {
		t.Fatalf("served certificate serial %v (%v), want %v", got, err, first.Serial)
	}
	c := dialSIPTLS(t, d.TLSAddr)
	media := newMediaPort(t)
	dl := c.newDialog("1001")
	res := dl.invite(t, offerSAVP(media.Port()), 10*time.Second)
	if res == nil || res.Status != 200 {
		t.Fatalf("SAVP call over TLS answered %v, want 200", statusOf(res))
	}
	media.waitMore(t, 0, 5*time.Second, "media before the reload")

	// Install a second certificate under the configured names.
	second := writeTestCert(t, dir, "second")
	copyFile(t, second.CertFile, first.CertFile)
	copyFile(t, second.KeyFile, first.KeyFile)
	d.signal(t, syscall.SIGHUP)
	d.waitLog(t, regexp.MustCompile(`tls certificate reloaded`), 5*time.Second)
	waitSerial(t, d.TLSAddr, second.Serial, 5*time.Second)

	n := media.packets()
	media.waitMore(t, n, 5*time.Second, "media after the reload")

	// A broken certificate file: refused, the second certificate stays.
	if err := os.WriteFile(first.CertFile, []byte("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d.signal(t, syscall.SIGHUP)
	line := d.waitLog(t, regexp.MustCompile(`.*reload refused.*`), 5*time.Second)
	if !strings.Contains(line, first.CertFile) {
		t.Errorf("the refusal does not name the file: %s", line)
	}
	if !d.running() {
		t.Fatal("vmrd exited on a broken certificate")
	}
	if got, err := peerSerial(d.TLSAddr); err != nil || got.Cmp(second.Serial) != 0 {
		t.Errorf("after the refused reload the served serial is %v (%v), want %v", got, err, second.Serial)
	}

	n = media.packets()
	media.waitMore(t, n, 5*time.Second, "media after the refused reload")
	if bye := dl.byeFromDaemon(0); bye != nil {
		t.Fatalf("vmrd ended the call during the reloads: %s", bye.Raw)
	}
	if bye := dl.bye(t); bye == nil || bye.Status != 200 {
		t.Errorf("BYE on the connection made before the reloads answered %v, want 200", statusOf(bye))
	}
}

// waitSerial polls new TLS connections until the served certificate has
// serial want.
func waitSerial(t *testing.T, addr string, want *big.Int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, err := peerSerial(addr)
		if err == nil && got.Cmp(want) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("served certificate serial %v (%v) after %v, want %v", got, err, within, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func statusOf(m *sipMsg) string {
	if m == nil {
		return "nothing"
	}
	return m.header("CSeq") + ": " + m.Raw[:strings.Index(m.Raw+"\r\n", "\r\n")]
}

// rawMessages prints what a client received, for failure messages.
func rawMessages(c *sipClient) string {
	var sb strings.Builder
	for _, m := range c.messages() {
		sb.WriteString(m.Raw)
		sb.WriteString("\n----\n")
	}
	return sb.String()
}

// redactKey hides the key of an a=crypto line in test output.
func redactKey(line string) string {
	if i := strings.Index(line, "inline:"); i >= 0 {
		return line[:i] + "inline:<key>"
	}
	return line
}
