package webrtc

import "testing"

// FuzzSignal: no client message, candidate or offer makes the parsers
// panic, and an accepted offer always has Opus.
func FuzzSignal(f *testing.F) {
	f.Add([]byte(`{"type":"join","token":"abc"}`))
	f.Add([]byte(`{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host","sdpMid":"0","sdpMLineIndex":0}}`))
	f.Add([]byte(`{"type":"candidate","candidate":null}`))
	f.Add([]byte(`{"type":"offer","sdp":"v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMessage(b)
		if err != nil {
			return
		}
		switch m.Type {
		case typeCandidate:
			_, _ = parseCandidate(m.Candidate)
		case typeOffer:
			if o, err := readOffer(m.SDP); err == nil && !o.opus {
				t.Fatalf("offer accepted without Opus: %q", m.SDP)
			}
		}
	})
}
