package config

import (
	"testing"
	"time"
)

func TestWebRTCConfigErrors(t *testing.T) {
	checkParseErrors(t, []parseErrorCase{
		{"udp port range", "webrtc: {udp_port: 70000}\n",
			"vmrd.yaml:4: webrtc.udp_port: 70000 is not a port; use 1-65535, e.g. 10000, or 0 to leave WebRTC off"},
		{"tcp without udp", "webrtc: {tcp_port: 10000}\n",
			"vmrd.yaml:4: webrtc.tcp_port: needs webrtc.udp_port; set udp_port too, e.g. 10000"},
		{"inside rtp ports", "webrtc: {udp_port: 40010}\n",
			`vmrd.yaml:4: webrtc.udp_port: 40010 is inside media.rtp_ports (40000-40999); pick a port outside it, e.g. 10000`},
		{"http off", "http: {listen: \"\"}\nwebrtc: {udp_port: 10000}\n",
			"vmrd.yaml:5: webrtc.udp_port: browsers join over http.listen, which is off; set http.listen or remove webrtc.udp_port"},
		{"no urls", "webrtc: {udp_port: 10000, ice_servers: [{username: u}]}\n",
			`vmrd.yaml:4: webrtc.ice_servers[0].urls: missing; list the server's URLs, e.g. urls: ["stun:stun.example.org:3478"]`},
		{"bad scheme", "webrtc: {udp_port: 10000, ice_servers: [{urls: [\"http://x\"]}]}\n",
			`vmrd.yaml:4: webrtc.ice_servers[0].urls[0]: "http://x" is not a stun:, stuns:, turn: or turns: URL`},
		{"turn without credential", "webrtc: {udp_port: 10000, ice_servers: [{urls: [\"turn:t.example.org:3478\"], username: u}]}\n",
			"vmrd.yaml:4: webrtc.ice_servers[0]: a TURN server needs secret_file (the TURN server's static-auth-secret) or username and credential"},
		{"secret and fixed credential", "webrtc: {udp_port: 10000, ice_servers: [{urls: [\"turn:t.example.org\"], secret_file: /s, username: u, credential: c}]}\n",
			"vmrd.yaml:4: webrtc.ice_servers[0]: has both secret_file and username/credential"},
		{"secret for stun", "webrtc: {udp_port: 10000, ice_servers: [{urls: [\"stun:s.example.org\"], secret_file: /s}]}\n",
			"vmrd.yaml:4: webrtc.ice_servers[0].secret_file: is for TURN servers"},
		{"short ttl", "webrtc: {udp_port: 10000, ice_servers: [{urls: [\"turn:t.example.org\"], secret_file: /s, credential_ttl: 10s}]}\n",
			"vmrd.yaml:4: webrtc.ice_servers[0].credential_ttl: 10s is too short; use at least 1m, e.g. 12h"},
		{"unknown key", "webrtc: {udp_port: 10000, stun: x}\n",
			"vmrd.yaml:4: webrtc.stun: unknown key"},
	})
}

func TestWebRTCConfigValues(t *testing.T) {
	cfg := mustParse(t, minimal+`webrtc:
  udp_port: 10000
  tcp_port: 10443
  include_loopback: true
  ice_servers:
    - {urls: ["stun:stun.example.org:3478"]}
    - {urls: ["turns:turn.example.org:443?transport=tcp"], username: vmrd, credential: s3cret}
    - {urls: ["turn:turn.example.org:3478"], secret_file: /etc/vmrd/turn-secret, credential_ttl: 2h}
`)
	w := cfg.WebRTC
	if !cfg.WebRTCEnabled() || w.UDPPort != 10000 || w.TCPPort != 10443 || !w.IncludeLoopback || len(w.ICEServers) != 3 ||
		w.ICEServers[2].SecretFile != "/etc/vmrd/turn-secret" || w.ICEServers[2].CredentialTTL != 2*time.Hour ||
		w.ICEServers[1].Username != "vmrd" || w.ICEServers[1].Credential != "s3cret" || w.ICEServers[0].URLs[0] != "stun:stun.example.org:3478" {
		t.Fatalf("webrtc = %+v", w)
	}
	if off := mustParse(t, minimal); off.WebRTCEnabled() {
		t.Fatal("WebRTC is on without webrtc.udp_port")
	}
}
