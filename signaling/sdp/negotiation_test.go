package sdp

import (
	"errors"
	"net"
	"strings"
	"testing"

	"vmrd/internal/codec"
)

var allPrefs = []codec.AudioCodec{codec.Opus, codec.G722, codec.PCMU, codec.PCMA}

const baresipOffer = "v=0\r\n" +
	"o=- 123 456 IN IP4 127.0.0.1\r\n" +
	"s=-\r\n" +
	"c=IN IP4 127.0.0.1\r\n" +
	"t=0 0\r\n" +
	"m=audio 5004 RTP/AVP 0 8 9 96 101\r\n" +
	"a=rtpmap:96 opus/48000/2\r\n" +
	"a=fmtp:96 stereo=1;sprop-stereo=1\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\n" +
	"a=sendrecv\r\n" +
	"m=video 5006 RTP/AVP 96 97\r\n" +
	"a=rtpmap:96 VP8/90000\r\n" +
	"a=rtpmap:97 H264/90000\r\n" +
	"a=sendrecv\r\n"

func TestNegotiate(t *testing.T) {
	tests := []struct {
		name     string
		offer    string
		prefs    []codec.AudioCodec
		wantErr  error
		codec    string
		pt       uint8
		dtmf     int
		dir      Direction
		mux      bool
		rtcpPort int
		hold     bool
	}{
		{name: "opus first by preference", offer: baresipOffer, prefs: allPrefs, codec: "opus", pt: 96, dtmf: 101, dir: SendRecv, rtcpPort: 5005},
		{name: "room prefers G722", offer: baresipOffer, prefs: []codec.AudioCodec{codec.G722, codec.PCMU}, codec: "G722", pt: 9, dtmf: 101, dir: SendRecv, rtcpPort: 5005},
		{name: "static PCMU without rtpmap", offer: strings.Replace(baresipOffer, "0 8 9 96 101", "0", 1), prefs: allPrefs, codec: "PCMU", pt: 0, dtmf: -1, dir: SendRecv, rtcpPort: 5005},
		{name: "no common codec", offer: strings.Replace(baresipOffer, "0 8 9 96 101", "18", 1), prefs: allPrefs, wantErr: ErrNoCommonCodec},
		{name: "hold sendonly", offer: strings.Replace(baresipOffer, "a=sendrecv\r\nm=video", "a=sendonly\r\nm=video", 1), prefs: allPrefs, codec: "opus", pt: 96, dtmf: 101, dir: RecvOnly, rtcpPort: 5005},
		{name: "inactive", offer: strings.Replace(baresipOffer, "a=sendrecv\r\nm=video", "a=inactive\r\nm=video", 1), prefs: allPrefs, codec: "opus", pt: 96, dtmf: 101, dir: Inactive, rtcpPort: 5005},
		{name: "old hold c=0.0.0.0", offer: strings.Replace(baresipOffer, "c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0", 1), prefs: allPrefs, codec: "opus", pt: 96, dtmf: 101, dir: RecvOnly, hold: true},
		{name: "rtcp-mux", offer: strings.Replace(baresipOffer, "a=sendrecv\r\nm=video", "a=rtcp-mux\r\na=sendrecv\r\nm=video", 1), prefs: allPrefs, codec: "opus", pt: 96, dtmf: 101, dir: SendRecv, mux: true},
		{name: "rtcp attribute", offer: strings.Replace(baresipOffer, "a=sendrecv\r\nm=video", "a=rtcp:6000\r\na=sendrecv\r\nm=video", 1), prefs: allPrefs, codec: "opus", pt: 96, dtmf: 101, dir: SendRecv, rtcpPort: 6000},
		{name: "srtp only", offer: strings.Replace(baresipOffer, "m=audio 5004 RTP/AVP", "m=audio 5004 RTP/SAVP", 1), prefs: allPrefs, wantErr: ErrUnsupportedTransport},
		{name: "audio refused with port 0", offer: strings.Replace(baresipOffer, "m=audio 5004", "m=audio 0", 1), prefs: allPrefs, wantErr: ErrNoAudio},
		{name: "video only", offer: "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 5006 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n", prefs: allPrefs, wantErr: ErrNoAudio},
		{name: "garbage", offer: "hello", prefs: allPrefs, wantErr: ErrMalformed},
		{name: "hostname in c=", offer: strings.Replace(baresipOffer, "c=IN IP4 127.0.0.1", "c=IN IP4 example.org", 1), prefs: allPrefs, wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Negotiate([]byte(tt.offer), tt.prefs)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Negotiate: %v", err)
			}
			a := n.Audio
			if a.Codec.Name != tt.codec || a.PayloadType != tt.pt || a.DTMFPayloadType != tt.dtmf {
				t.Errorf("codec %s pt %d dtmf %d, want %s %d %d", a.Codec.Name, a.PayloadType, a.DTMFPayloadType, tt.codec, tt.pt, tt.dtmf)
			}
			if a.Direction != tt.dir || a.RTCPMux != tt.mux || a.Hold != tt.hold {
				t.Errorf("dir %v mux %v hold %v, want %v %v %v", a.Direction, a.RTCPMux, a.Hold, tt.dir, tt.mux, tt.hold)
			}
			if tt.hold {
				if a.Remote != nil {
					t.Errorf("remote %v on hold, want nil", a.Remote)
				}
				return
			}
			if a.Remote == nil || a.Remote.Port != 5004 || !a.Remote.IP.Equal(net.IPv4(127, 0, 0, 1)) {
				t.Errorf("remote %v", a.Remote)
			}
			if tt.mux != (a.RemoteRTCP == nil) {
				t.Errorf("rtcp remote %v with mux %v", a.RemoteRTCP, tt.mux)
			}
			if !tt.mux && a.RemoteRTCP.Port != tt.rtcpPort {
				t.Errorf("rtcp port %d, want %d", a.RemoteRTCP.Port, tt.rtcpPort)
			}
		})
	}
}

func TestAnswerRefusesVideoAndKeepsOrder(t *testing.T) {
	n, err := Negotiate([]byte(baresipOffer), allPrefs)
	if err != nil {
		t.Fatal(err)
	}
	body, err := n.Answer(Local{IP: net.IPv4(127, 0, 0, 1), Port: 40000, SessionID: 7, Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	ans := string(body)
	for _, want := range []string{
		"m=audio 40000 RTP/AVP 96 101\r\n",
		"a=rtpmap:96 opus/48000/2\r\n",
		"a=rtpmap:101 telephone-event/8000\r\n",
		"a=sendrecv\r\n",
		"m=video 0 RTP/AVP 96\r\n",
		"c=IN IP4 127.0.0.1\r\n",
	} {
		if !strings.Contains(ans, want) {
			t.Errorf("answer lacks %q:\n%s", want, ans)
		}
	}
	if strings.Index(ans, "m=audio") > strings.Index(ans, "m=video") {
		t.Errorf("m-lines out of offer order:\n%s", ans)
	}
	// The answer must itself be valid SDP that negotiates to the same codec.
	back, err := Negotiate(body, allPrefs)
	if err != nil {
		t.Fatalf("answer does not parse: %v", err)
	}
	if back.Audio.Codec.Name != "opus" || back.Audio.PayloadType != 96 {
		t.Errorf("answer re-negotiates to %v/%d", back.Audio.Codec, back.Audio.PayloadType)
	}
}

func TestOfferAndAnswerRoundTrip(t *testing.T) {
	body, err := Offer(Local{IP: net.ParseIP("::1"), Port: 40002, SessionID: 1, Version: 1}, allPrefs, SendRecv)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "c=IN IP6 ::1") {
		t.Errorf("offer lacks IPv6 connection:\n%s", body)
	}
	// A peer that only speaks PCMA answers with it.
	peer, err := Negotiate(body, []codec.AudioCodec{codec.PCMA})
	if err != nil {
		t.Fatal(err)
	}
	ans, err := peer.Answer(Local{IP: net.ParseIP("::1"), Port: 5000, SessionID: 9, Version: 1})
	if err != nil {
		t.Fatal(err)
	}
	n, err := ParseAnswer(ans, allPrefs)
	if err != nil {
		t.Fatal(err)
	}
	if n.Audio.Codec.Name != "PCMA" || n.Audio.PayloadType != 8 || n.Audio.Remote.Port != 5000 {
		t.Errorf("got %v pt %d remote %v", n.Audio.Codec, n.Audio.PayloadType, n.Audio.Remote)
	}
}

func FuzzNegotiate(f *testing.F) {
	f.Add([]byte(baresipOffer))
	f.Add([]byte("v=0\r\nm=audio 1 RTP/AVP 0\r\n"))
	f.Add([]byte(baresipVideoOffer))
	f.Add([]byte(chromiumOffer))
	f.Add([]byte(ciscoOffer))
	f.Add([]byte(mode2Offer))
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := Negotiate(body, allPrefs, WithVideo(h264First), WithEncryption(EncryptionPreferred))
		if err != nil {
			return
		}
		ans, err := n.Answer(Local{IP: net.IPv4(127, 0, 0, 1), Port: 40000, VideoPort: 40002})
		if err != nil {
			t.Fatalf("negotiated offer gives no answer: %v", err)
		}
		if v := n.Video; v != nil {
			if v.Index == n.index || v.Codec != codec.H264 && v.Codec != codec.VP8 || v.PacketizationMode > 1 {
				t.Fatalf("video %v at m-line %d", v, v.Index)
			}
			// Our answer is SDP that a vmrd accepts with the same format.
			back, err := Negotiate(ans, allPrefs, WithVideo(h264First), WithEncryption(EncryptionPreferred))
			if err != nil || back.Video == nil || back.Video.PayloadType != v.PayloadType {
				t.Fatalf("answer does not negotiate back: %v %v\n%s", err, back, ans)
			}
		}
	})
}
