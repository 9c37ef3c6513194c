package config

import (
	"strconv"
	"strings"
	"time"
)

// WebRTC is the webrtc: section: browsers joining rooms over WebRTC. The
// signaling WebSocket is served on http.listen; media uses one UDP port
// (and optionally one TCP port) for every browser. The media addresses are
// media.bind_ip, announced as media.public_ip behind a 1:1 NAT.
type WebRTC struct {
	// UDPPort is the one UDP port of all browser media (ICE UDP mux), e.g.
	// 10000; 0 (the default) leaves WebRTC off.
	UDPPort int `yaml:"udp_port"`
	// TCPPort, when set, adds ICE-TCP candidates on that port for
	// browsers whose networks block UDP; 0 leaves it off.
	TCPPort int `yaml:"tcp_port"`
	// ICEServers are the STUN and TURN servers handed to browsers.
	ICEServers []ICEServer `yaml:"ice_servers"`
	// IncludeLoopback offers 127.0.0.1 candidates: for tests on one host.
	IncludeLoopback bool `yaml:"include_loopback"`
}

// ICEServer is one STUN or TURN server as browsers take it. A TURN server
// has either a fixed username and credential, which every browser is
// handed, or a secret_file shared with the TURN server (coturn's
// use-auth-secret): each browser then gets its own credential that
// expires after credential_ttl, and the secret never leaves vmrd.
type ICEServer struct {
	URLs       []string `yaml:"urls"`
	Username   string   `yaml:"username"`
	Credential string   `yaml:"credential"`
	// SecretFile holds the shared secret (read at start).
	SecretFile string `yaml:"secret_file"`
	// CredentialTTL is how long a browser's credential is valid; 12h by
	// default, the longest a consultation plus its reconnects should need.
	CredentialTTL time.Duration `yaml:"credential_ttl"`
}

// DefaultTURNCredentialTTL is ICEServer.CredentialTTL when unset.
const DefaultTURNCredentialTTL = 12 * time.Hour

// WebRTCEnabled reports whether browsers may join with media.
func (c *Config) WebRTCEnabled() bool { return c.WebRTC.UDPPort > 0 && c.HTTP.Enabled() }

// checkWebRTC checks the webrtc: section.
func (c *Config) checkWebRTC(k *checker) {
	w := &c.WebRTC
	if w.UDPPort < 0 || w.UDPPort > 65535 {
		k.addf("webrtc.udp_port", "%d is not a port; use 1-65535, e.g. 10000, or 0 to leave WebRTC off", w.UDPPort)
	}
	if w.TCPPort < 0 || w.TCPPort > 65535 {
		k.addf("webrtc.tcp_port", "%d is not a port; use 1-65535, e.g. 10000, or 0 to leave ICE-TCP off", w.TCPPort)
	}
	if w.UDPPort <= 0 {
		if w.TCPPort > 0 {
			k.addf("webrtc.tcp_port", "needs webrtc.udp_port; set udp_port too, e.g. 10000")
		}
		return
	}
	if !c.HTTP.Enabled() {
		k.addf("webrtc.udp_port", "browsers join over http.listen, which is off; set http.listen or remove webrtc.udp_port")
	}
	if lo, hi, err := ParsePortRange(c.Media.RTPPorts); err == nil && w.UDPPort >= lo && w.UDPPort <= hi {
		k.addf("webrtc.udp_port", "%d is inside media.rtp_ports (%s); pick a port outside it, e.g. 10000", w.UDPPort, c.Media.RTPPorts)
	}
	for i, s := range w.ICEServers {
		key := "webrtc.ice_servers[" + strconv.Itoa(i) + "]"
		if len(s.URLs) == 0 {
			k.addf(key+".urls", "missing; list the server's URLs, e.g. urls: [\"stun:stun.example.org:3478\"]")
		}
		turn := false
		for j, u := range s.URLs {
			scheme, _, _ := strings.Cut(u, ":")
			switch strings.ToLower(scheme) {
			case "stun", "stuns":
			case "turn", "turns":
				turn = true
			default:
				k.addf(key+".urls["+strconv.Itoa(j)+"]", "%q is not a stun:, stuns:, turn: or turns: URL", u)
			}
		}
		fixed := s.Username != "" || s.Credential != ""
		switch {
		case s.SecretFile != "" && fixed:
			k.addf(key, "has both secret_file and username/credential; keep secret_file (each browser gets its own credential) or the fixed pair")
		case s.SecretFile != "" && !turn:
			k.addf(key+".secret_file", "is for TURN servers; this entry has no turn: or turns: URL")
		case turn && s.SecretFile == "" && (s.Username == "" || s.Credential == ""):
			k.addf(key, "a TURN server needs secret_file (the TURN server's static-auth-secret) or username and credential")
		}
		if s.CredentialTTL < 0 || (s.CredentialTTL > 0 && s.CredentialTTL < time.Minute) {
			k.addf(key+".credential_ttl", "%v is too short; use at least 1m, e.g. 12h", s.CredentialTTL)
		}
	}
}
