package sdp

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	psdp "github.com/pion/sdp/v3"

	"vmrd/internal/codec"
)

var key30b = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xd4}, 30))

var (
	h264First = VideoPrefs{Codecs: []codec.VideoCodec{codec.H264, codec.VP8}, MaxBitrate: 2_000_000}
	vp8First  = VideoPrefs{Codecs: []codec.VideoCodec{codec.VP8, codec.H264}, MaxBitrate: 2_000_000}
	h264Only  = VideoPrefs{Codecs: []codec.VideoCodec{codec.H264}}
	vp8Only   = VideoPrefs{Codecs: []codec.VideoCodec{codec.VP8}}
	h264HD    = VideoPrefs{Codecs: []codec.VideoCodec{codec.H264}, MaxFS: 8160, MaxFPS: 30} // 1920x1088
)

var videoLocal = Local{IP: net.IPv4(127, 0, 0, 1), Port: 40000, VideoPort: 40002, SessionID: 3, Version: 1}

type videoWant struct {
	codec    codec.VideoCodec
	pt       uint8
	fmtp     string // our fmtp, exactly
	mode     int
	asym     bool
	fs, mbps int
	fr       int
	bitrate  int
	fb       Feedback
	peerFB   Feedback
	index    int
	dir      Direction
	mux      bool
	content  string
	remote   string
}

var (
	fbPLI     = Feedback{PLI: true}
	fbChrome  = Feedback{NACK: true, PLI: true, FIR: true, REMB: true}
	fbCiscoIn = Feedback{PLI: true, FIR: true, TMMBR: true}
)

func TestNegotiateVideo(t *testing.T) {
	tests := []struct {
		name    string
		offer   string
		prefs   *VideoPrefs // nil: no WithVideo
		want    *videoWant  // nil: video refused
		refused error       // Negotiation.VideoRefused
	}{
		{name: "baresip h264 mode 1 over mode 0", offer: baresipVideoOffer, prefs: &h264First, want: &videoWant{
			codec: codec.H264, pt: 98, fmtp: "profile-level-id=42e01f;packetization-mode=1", mode: 1, fs: 3600, mbps: 108000,
			fb: fbPLI, peerFB: fbPLI, index: 1, content: "main", remote: "127.0.0.1:20636"}},
		{name: "baresip vp8 by room order", offer: baresipVideoOffer, prefs: &vp8First, want: &videoWant{
			codec: codec.VP8, pt: 96, fmtp: "max-fs=3600;max-fr=30", fs: 3600, fb: fbPLI, peerFB: fbPLI, index: 1, content: "main",
			remote: "127.0.0.1:20636"}},
		{name: "baresip level kept, our 1080p receive limits added", offer: baresipVideoOffer, prefs: &h264HD, want: &videoWant{
			codec: codec.H264, pt: 98, fmtp: "profile-level-id=42e01f;packetization-mode=1;max-fs=8160;max-mbps=244800", mode: 1,
			fs: 3600, mbps: 108000, fb: fbPLI, peerFB: fbPLI, index: 1, content: "main", remote: "127.0.0.1:20636"}},
		{name: "chromium constrained baseline mode 1", offer: chromiumOffer, prefs: &h264First, want: &videoWant{
			codec: codec.H264, pt: 106, fmtp: "profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1", mode: 1,
			asym: true, fs: 3600, mbps: 108000, fb: fbChrome, peerFB: fbChrome, index: 1, mux: true, remote: "192.0.2.7:9"}},
		{name: "chromium vp8", offer: chromiumOffer, prefs: &vp8First, want: &videoWant{
			codec: codec.VP8, pt: 96, fmtp: "max-fs=3600;max-fr=30", fb: fbChrome, peerFB: fbChrome, index: 1, mux: true,
			remote: "192.0.2.7:9"}},
		{name: "chromium level asymmetry: we announce our own level", offer: chromiumOffer, prefs: &h264HD, want: &videoWant{
			codec: codec.H264, pt: 106, fmtp: "profile-level-id=42e028;packetization-mode=1;level-asymmetry-allowed=1", mode: 1,
			asym: true, fs: 3600, mbps: 108000, fb: fbChrome, peerFB: fbChrome, index: 1, mux: true, remote: "192.0.2.7:9"}},
		{name: "cisco main stream, explicit limits, tias", offer: ciscoOffer, prefs: &h264First, want: &videoWant{
			codec: codec.H264, pt: 126, fmtp: "profile-level-id=428016;packetization-mode=1;max-fs=3600;max-mbps=108000", mode: 1,
			fs: 8160, mbps: 245000, bitrate: 2496000, fb: fbCiscoIn, peerFB: fbCiscoIn, index: 1, content: "main",
			remote: "192.0.2.10:2328"}},
		{name: "cisco slides first, main unlabelled", offer: ciscoSlidesFirst, prefs: &h264First, want: &videoWant{
			codec: codec.H264, pt: 126, fmtp: "profile-level-id=428016;packetization-mode=1;max-fs=3600;max-mbps=108000", mode: 1,
			fs: 8160, mbps: 245000, bitrate: 2496000, fb: fbCiscoIn, peerFB: fbCiscoIn, index: 2, remote: "192.0.2.10:2328"}},
		{name: "cisco without a common codec", offer: ciscoOffer, prefs: &vp8Only, refused: ErrNoVideoCodec},
		{name: "high profile only: same profile answered", offer: highOnlyOffer, prefs: &h264First, want: &videoWant{
			codec: codec.H264, pt: 96, fmtp: "profile-level-id=64001f;packetization-mode=1", mode: 1, fs: 3600, mbps: 108000,
			fb: Feedback{NACK: true, PLI: true, REMB: true}, peerFB: Feedback{NACK: true, PLI: true, REMB: true}, index: 1,
			remote: "127.0.0.1:5006"}},
		{name: "packetization mode 2 only", offer: mode2Offer, prefs: &h264First, refused: ErrNoVideoCodec},
		{name: "intra-only profiles", offer: intraOnlyOffer, prefs: &h264First, refused: ErrNoVideoCodec},
		{name: "vp8 limits, b=AS, recvonly, rtcp-mux", offer: vp8LimitsOffer, prefs: &vp8First, want: &videoWant{
			codec: codec.VP8, pt: 96, fmtp: "max-fs=3600;max-fr=30", fs: 1200, fr: 15, bitrate: 800000,
			fb: Feedback{NACK: true, TMMBR: true}, peerFB: Feedback{NACK: true, TMMBR: true}, index: 1, dir: SendOnly, mux: true,
			remote: "127.0.0.1:5006"}},
		{name: "h264 without profile-level-id is baseline level 1", offer: vp8LimitsOffer, prefs: &h264Only, want: &videoWant{
			codec: codec.H264, pt: 97, fmtp: "profile-level-id=42000a;packetization-mode=0;max-fs=3600;max-mbps=108000",
			fs: 99, mbps: 1485, bitrate: 800000, index: 1, dir: SendOnly, mux: true, remote: "127.0.0.1:5006",
			peerFB: Feedback{}}},
		{name: "without WithVideo", offer: baresipVideoOffer},
		{name: "no video codecs", offer: baresipVideoOffer, prefs: &VideoPrefs{}},
		{name: "video offered with port 0", offer: strings.Replace(baresipVideoOffer, "m=video 20636", "m=video 0", 1), prefs: &h264First},
		{name: "only slides", offer: strings.Replace(ciscoOffer, "a=content:main", "a=content:slides", 1), prefs: &h264First},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []Option
			if tt.prefs != nil {
				opts = append(opts, WithVideo(*tt.prefs))
			}
			n, err := Negotiate([]byte(tt.offer), allPrefs, opts...)
			if err != nil {
				t.Fatalf("Negotiate: %v", err)
			}
			if !errors.Is(n.VideoRefused, tt.refused) || (tt.refused == nil) != (n.VideoRefused == nil) {
				t.Errorf("VideoRefused %v, want %v", n.VideoRefused, tt.refused)
			}
			ans, err := n.Answer(videoLocal)
			if err != nil {
				t.Fatal(err)
			}
			sd := parseSDP(t, ans)
			checkOrder(t, tt.offer, sd)
			if tt.want == nil {
				if n.Video != nil {
					t.Fatalf("video %v, want none", n.Video)
				}
				for i, md := range sd.MediaDescriptions {
					if md.MediaName.Media == "video" && md.MediaName.Port.Value != 0 {
						t.Errorf("m-line %d: video accepted with port %d", i, md.MediaName.Port.Value)
					}
				}
				return
			}
			v, w := n.Video, tt.want
			if v == nil {
				t.Fatalf("no video (refused: %v)", n.VideoRefused)
			}
			if v.Codec != w.codec || v.PayloadType != w.pt || v.ClockRate != 90000 || v.PacketizationMode != w.mode ||
				v.LevelAsymmetry != w.asym || v.Index != w.index || v.Content != w.content {
				t.Errorf("got %s mode %d asym %v index %d content %q", v, v.PacketizationMode, v.LevelAsymmetry, v.Index, v.Content)
			}
			if v.RecvMaxFS != w.fs || v.RecvMaxMBPS != w.mbps || v.RecvMaxFR != w.fr || v.MaxBitrate != w.bitrate {
				t.Errorf("limits fs %d mbps %d fr %d br %d, want %d %d %d %d", v.RecvMaxFS, v.RecvMaxMBPS, v.RecvMaxFR,
					v.MaxBitrate, w.fs, w.mbps, w.fr, w.bitrate)
			}
			if v.Feedback != w.fb || v.PeerFeedback != w.peerFB {
				t.Errorf("feedback %s peer %s, want %s %s", v.Feedback, v.PeerFeedback, w.fb, w.peerFB)
			}
			if v.Direction != w.dir || v.RTCPMux != w.mux || v.Remote.String() != w.remote || (v.RemoteRTCP == nil) != w.mux {
				t.Errorf("dir %v mux %v remote %v rtcp %v", v.Direction, v.RTCPMux, v.Remote, v.RemoteRTCP)
			}
			if v.SRTP != nil {
				t.Errorf("srtp %v on a plain offer", v.SRTP)
			}
			if w.codec == codec.H264 {
				if want := strings.Split(strings.TrimPrefix(w.fmtp, "profile-level-id="), ";")[0]; v.ProfileLevelID != want {
					t.Errorf("ProfileLevelID %q, want %q", v.ProfileLevelID, want)
				}
			} else if v.ProfileLevelID != "" {
				t.Errorf("ProfileLevelID %q for VP8", v.ProfileLevelID)
			}
			checkVideoAnswer(t, sd, w, h264First.MaxBitrate*boolInt(tt.prefs.MaxBitrate > 0))

			// Our answer, read as an offer by a vmrd with the same prefs,
			// gives the same format back.
			back, err := Negotiate(ans, allPrefs, WithVideo(*tt.prefs))
			if err != nil || back.Video == nil || back.Video.PayloadType != v.PayloadType || back.Video.Codec != v.Codec ||
				back.Video.PacketizationMode != v.PacketizationMode {
				t.Fatalf("answer re-negotiates to %v (%v, %v)", back.Video, err, back.VideoRefused)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func parseSDP(t *testing.T, body []byte) *psdp.SessionDescription {
	t.Helper()
	var sd psdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		t.Fatalf("SDP does not parse: %v\n%s", err, body)
	}
	return &sd
}

// checkOrder: an answer has the offer's m-lines, in its order (RFC 3264 6).
func checkOrder(t *testing.T, offer string, ans *psdp.SessionDescription) {
	t.Helper()
	off := parseSDP(t, []byte(offer))
	if len(off.MediaDescriptions) != len(ans.MediaDescriptions) {
		t.Fatalf("%d m-lines answer %d", len(ans.MediaDescriptions), len(off.MediaDescriptions))
	}
	for i, md := range off.MediaDescriptions {
		if ans.MediaDescriptions[i].MediaName.Media != md.MediaName.Media {
			t.Errorf("m-line %d is %s, offered %s", i, ans.MediaDescriptions[i].MediaName.Media, md.MediaName.Media)
		}
	}
}

func attrs(md *psdp.MediaDescription, key string) []string {
	var out []string
	for _, a := range md.Attributes {
		if a.Key == key {
			out = append(out, a.Value)
		}
	}
	return out
}

// checkVideoAnswer reads the answer back: the chosen stream at our port
// with one format, our fmtp, the feedback in force and our bandwidth;
// every other video stream refused.
func checkVideoAnswer(t *testing.T, sd *psdp.SessionDescription, w *videoWant, bitrate int) {
	t.Helper()
	for i, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "video" {
			continue
		}
		if i != w.index {
			if md.MediaName.Port.Value != 0 {
				t.Errorf("m-line %d: video port %d, want 0", i, md.MediaName.Port.Value)
			}
			continue
		}
		pt := strconv.Itoa(int(w.pt))
		if md.MediaName.Port.Value != videoLocal.VideoPort || !slices.Equal(md.MediaName.Formats, []string{pt}) {
			t.Errorf("video m-line %v", md.MediaName)
		}
		if got := attrs(md, "rtpmap"); !slices.Equal(got, []string{pt + " " + string(w.codec) + "/90000"}) {
			t.Errorf("rtpmap %q", got)
		}
		if got := attrs(md, "fmtp"); !slices.Equal(got, []string{pt + " " + w.fmtp}) {
			t.Errorf("fmtp %q, want %q", got, w.fmtp)
		}
		var fb []string
		for _, l := range w.fb.lines(pt) {
			fb = append(fb, l)
		}
		if got := attrs(md, "rtcp-fb"); !slices.Equal(got, fb) {
			t.Errorf("rtcp-fb %q, want %q", got, fb)
		}
		if w.fb.NACK && !slices.Contains(attrs(md, "rtcp-fb"), pt+" nack") {
			t.Errorf("generic nack missing")
		}
		var bw []string
		for _, b := range md.Bandwidth {
			bw = append(bw, b.Type+":"+strconv.FormatUint(b.Bandwidth, 10))
		}
		var wantBW []string
		if bitrate > 0 {
			wantBW = []string{"AS:" + strconv.Itoa((bitrate+bitrate/30+999)/1000), "TIAS:" + strconv.Itoa(bitrate)}
		}
		if !slices.Equal(bw, wantBW) {
			t.Errorf("bandwidth %q, want %q", bw, wantBW)
		}
		if _, mux := md.Attribute("rtcp-mux"); mux != w.mux {
			t.Errorf("rtcp-mux %v", mux)
		}
		if _, ok := md.Attribute(w.dir.String()); !ok {
			t.Errorf("direction %v missing", w.dir)
		}
		if got := attrs(md, "content"); w.content != "" && !slices.Equal(got, []string{w.content}) {
			t.Errorf("content %q", got)
		}
		if len(attrs(md, "crypto")) != 0 {
			t.Errorf("crypto on a plain stream")
		}
	}
}

func TestAnswerVideoPortZeroRefuses(t *testing.T) {
	n, err := Negotiate([]byte(baresipVideoOffer), allPrefs, WithVideo(h264First))
	if err != nil || n.Video == nil {
		t.Fatalf("%v %v", n, err)
	}
	l := videoLocal
	l.VideoPort = 0
	for _, tc := range []struct {
		name string
		n    func() *Negotiation
		l    Local
	}{
		{"no video port", func() *Negotiation { return n }, l},
		{"dropped", func() *Negotiation { c := *n; c.DropVideo(); return &c }, videoLocal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ans, err := tc.n().Answer(tc.l)
			if err != nil {
				t.Fatal(err)
			}
			sd := parseSDP(t, ans)
			if v := sd.MediaDescriptions[1]; v.MediaName.Media != "video" || v.MediaName.Port.Value != 0 || len(v.Attributes) != 0 {
				t.Fatalf("video not refused:\n%s", ans)
			}
		})
	}
}

func TestNegotiateVideoEncryption(t *testing.T) {
	savpAudio := strings.Replace(baresipVideoSAVP, "m=video 20636 RTP/SAVP", "m=video 20636 RTP/AVP", 1)
	savpAudio = strings.Replace(savpAudio, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"+key30b+"\r\n", "", 1)
	avpAudio := strings.Replace(baresipVideoSAVP, "m=audio 17994 RTP/SAVP", "m=audio 17994 RTP/AVP", 1)
	bestEffort := strings.Replace(baresipVideoSAVP, "m=video 20636 RTP/SAVP", "m=video 20636 RTP/AVP", 1)
	badVideoKey := strings.Replace(baresipVideoSAVP, key30b, key28, 1)
	tests := []struct {
		name       string
		offer      string
		policy     Policy
		err        error // of Negotiate
		refused    error // of the video stream
		videoSRTP  bool
		bestEffort bool
		proto      string
	}{
		{name: "required: both encrypted", offer: baresipVideoSAVP, policy: EncryptionRequired, videoSRTP: true, proto: "RTP/SAVP"},
		{name: "preferred: both encrypted", offer: baresipVideoSAVP, policy: EncryptionPreferred, videoSRTP: true, proto: "RTP/SAVP"},
		{name: "off: savp audio fails the call", offer: baresipVideoSAVP, policy: EncryptionOff, err: ErrUnsupportedTransport},
		{name: "off: savp video refused, audio kept", offer: avpAudio, policy: EncryptionOff, refused: ErrUnsupportedTransport},
		{name: "required: plain video refused", offer: savpAudio, policy: EncryptionRequired, refused: ErrEncryptionRequired},
		{name: "preferred: plain video stays plain", offer: savpAudio, policy: EncryptionPreferred, proto: "RTP/AVP"},
		{name: "preferred: best effort on avp video", offer: bestEffort, policy: EncryptionPreferred, videoSRTP: true, bestEffort: true, proto: "RTP/AVP"},
		{name: "required: best effort avp video refused", offer: bestEffort, policy: EncryptionRequired, refused: ErrEncryptionRequired},
		{name: "required: bad video key", offer: badVideoKey, policy: EncryptionRequired, refused: ErrNoCrypto},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Negotiate([]byte(tt.offer), allPrefs, WithEncryption(tt.policy), WithVideo(h264First))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.refused != nil {
				if n.Video != nil || !errors.Is(n.VideoRefused, tt.refused) {
					t.Fatalf("video %v refused %v, want refused with %v", n.Video, n.VideoRefused, tt.refused)
				}
				ans, err := n.Answer(videoLocal)
				if err != nil {
					t.Fatal(err)
				}
				if md := parseSDP(t, ans).MediaDescriptions[1]; md.MediaName.Port.Value != 0 || len(attrs(md, "crypto")) != 0 {
					t.Fatalf("refused video answered:\n%s", ans)
				}
				return
			}
			v := n.Video
			if v == nil {
				t.Fatalf("video refused: %v", n.VideoRefused)
			}
			ans, err := n.Answer(videoLocal)
			if err != nil {
				t.Fatal(err)
			}
			md := parseSDP(t, ans).MediaDescriptions[1]
			if got := strings.Join(md.MediaName.Protos, "/"); got != tt.proto {
				t.Errorf("video answered on %s, want %s", got, tt.proto)
			}
			cryptos := attrs(md, "crypto")
			if !tt.videoSRTP {
				if v.SRTP != nil || len(cryptos) != 0 {
					t.Fatalf("plain video expected: %v %q", v.SRTP, cryptos)
				}
				return
			}
			sp := v.SRTP
			if sp == nil || sp.Suite != SuiteAES128CMSHA1_80 || sp.Tag != 1 || sp.BestEffort != tt.bestEffort {
				t.Fatalf("video srtp %v", sp)
			}
			wantRemote, _ := base64.StdEncoding.DecodeString(key30b)
			if !bytes.Equal(sp.RemoteKey, wantRemote) {
				t.Error("video remote key is not the video line's")
			}
			if a := n.Audio.SRTP; a != nil && bytes.Equal(a.LocalKey, sp.LocalKey) {
				t.Error("audio and video share our key")
			}
			want := "1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.StdEncoding.EncodeToString(sp.LocalKey)
			if !slices.Equal(cryptos, []string{want}) {
				t.Errorf("video crypto %q", cryptos)
			}
		})
	}
}

func TestKeepVideoLocalKey(t *testing.T) {
	opts := []Option{WithEncryption(EncryptionRequired), WithVideo(h264First)}
	first, err := Negotiate([]byte(baresipVideoSAVP), allPrefs, opts...)
	if err != nil || first.Video == nil {
		t.Fatal(err)
	}
	again, err := Negotiate([]byte(baresipVideoSAVP), allPrefs, append(opts,
		KeepLocalKey(first.Audio.SRTP), KeepVideoLocalKey(first.Video.SRTP))...)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Video.SRTP.LocalKey, first.Video.SRTP.LocalKey) ||
		!bytes.Equal(again.Audio.SRTP.LocalKey, first.Audio.SRTP.LocalKey) {
		t.Fatal("key changed on a same-suite re-INVITE")
	}
	a1, _ := first.Answer(videoLocal)
	a2, _ := again.Answer(videoLocal)
	if !bytes.Equal(a1, a2) {
		t.Fatal("same offer, same keys, different answer: the SIP layer would bump the o= version")
	}
	fresh, err := Negotiate([]byte(baresipVideoSAVP), allPrefs, append(opts, KeepLocalKey(first.Audio.SRTP))...)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(fresh.Video.SRTP.LocalKey, first.Video.SRTP.LocalKey) {
		t.Fatal("video key kept without KeepVideoLocalKey")
	}
}

func TestOfferVideo(t *testing.T) {
	tests := []struct {
		name    string
		local   Local
		opts    []Option
		formats []string
		fmtps   []string
	}{
		{name: "vp8 then h264 modes 1 and 0", local: videoLocal, opts: []Option{WithVideo(vp8First)},
			formats: []string{"96", "97", "98"}, fmtps: []string{"96 max-fs=3600;max-fr=30",
				"97 profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1",
				"98 profile-level-id=42e01f;packetization-mode=0;level-asymmetry-allowed=1"}},
		{name: "h264 1080p", local: videoLocal, opts: []Option{WithVideo(h264HD)},
			formats: []string{"96", "97"}, fmtps: []string{
				"96 profile-level-id=42e028;packetization-mode=1;level-asymmetry-allowed=1",
				"97 profile-level-id=42e028;packetization-mode=0;level-asymmetry-allowed=1"}},
		{name: "no video port", local: Local{IP: videoLocal.IP, Port: 40000}, opts: []Option{WithVideo(vp8First)}},
		{name: "no WithVideo", local: videoLocal},
		{name: "no known codec", local: videoLocal, opts: []Option{WithVideo(VideoPrefs{Codecs: []codec.VideoCodec{"H263"}})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			po, err := NewOffer(tt.local, allPrefs, SendOnly, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			sd := parseSDP(t, po.Body)
			if tt.formats == nil {
				if len(sd.MediaDescriptions) != 1 {
					t.Fatalf("video offered:\n%s", po.Body)
				}
				return
			}
			if len(sd.MediaDescriptions) != 2 {
				t.Fatalf("%d m-lines:\n%s", len(sd.MediaDescriptions), po.Body)
			}
			md := sd.MediaDescriptions[1]
			if md.MediaName.Media != "video" || md.MediaName.Port.Value != 40002 || !slices.Equal(md.MediaName.Formats, tt.formats) {
				t.Errorf("m-line %v", md.MediaName)
			}
			if got := attrs(md, "fmtp"); !slices.Equal(got, tt.fmtps) {
				t.Errorf("fmtp %q", got)
			}
			if got := attrs(md, "rtcp-fb"); !slices.Equal(got, []string{"* nack", "* nack pli", "* ccm fir", "* ccm tmmbr", "* goog-remb"}) {
				t.Errorf("rtcp-fb %q", got)
			}
			if _, ok := md.Attribute("sendonly"); !ok {
				t.Error("direction missing")
			}
		})
	}
}

func TestOfferVideoRoundTrip(t *testing.T) {
	for _, pol := range []Policy{EncryptionOff, EncryptionPreferred, EncryptionRequired} {
		t.Run(pol.String(), func(t *testing.T) {
			offer, err := NewOffer(videoLocal, allPrefs, SendRecv, WithEncryption(pol), WithVideo(vp8First))
			if err != nil {
				t.Fatal(err)
			}
			if bw := parseSDP(t, offer.Body).MediaDescriptions[1].Bandwidth; len(bw) != 2 || bw[1].Type != "TIAS" || bw[1].Bandwidth != 2_000_000 {
				t.Errorf("offer bandwidth %v", bw)
			}
			// The peer, another vmrd that wants H.264 only, answers.
			peerLocal := Local{IP: net.IPv4(127, 0, 0, 2), Port: 5000, VideoPort: 5002, SessionID: 9, Version: 1}
			peer, err := Negotiate(offer.Body, allPrefs, WithEncryption(pol), WithVideo(VideoPrefs{
				Codecs: []codec.VideoCodec{codec.H264}, MaxBitrate: 512_000, MaxFS: 1620, MaxFPS: 25}))
			if err != nil || peer.Video == nil {
				t.Fatalf("peer: %v %v", err, peer.VideoRefused)
			}
			ans, err := peer.Answer(peerLocal)
			if err != nil {
				t.Fatal(err)
			}
			n, err := offer.ParseAnswer(ans)
			if err != nil {
				t.Fatal(err)
			}
			v := n.Video
			if v == nil {
				t.Fatalf("no video: %v\n%s", n.VideoRefused, ans)
			}
			// The peer announced level 3 (1620 MBs at 25 fps fit) and asymmetry.
			if v.Codec != codec.H264 || v.PayloadType != 97 || v.PacketizationMode != 1 || v.ProfileLevelID != "42e01f" ||
				!v.LevelAsymmetry || v.RecvMaxFS != 1620 || v.RecvMaxMBPS != 40500 || v.MaxBitrate != 512_000 ||
				v.Feedback != ourFeedback || v.Remote.String() != "127.0.0.2:5002" || v.Index != 1 {
				t.Fatalf("video %s asym %v remote %v", v, v.LevelAsymmetry, v.Remote)
			}
			if v.Fits(1280, 720, 30) || !v.Fits(640, 360, 25) {
				t.Errorf("Fits disagrees with level 3")
			}
			if pol == EncryptionOff {
				if v.SRTP != nil {
					t.Fatal("srtp without a policy")
				}
				return
			}
			ours, theirs := v.SRTP, peer.Video.SRTP
			if ours == nil || theirs == nil || !bytes.Equal(ours.LocalKey, theirs.RemoteKey) || !bytes.Equal(ours.RemoteKey, theirs.LocalKey) {
				t.Fatal("video keys do not cross over")
			}
			if bytes.Equal(ours.LocalKey, n.Audio.SRTP.LocalKey) {
				t.Fatal("audio and video share a key")
			}
		})
	}
}

func TestParseAnswerVideo(t *testing.T) {
	offer, err := NewOffer(videoLocal, allPrefs, SendRecv, WithVideo(vp8First))
	if err != nil {
		t.Fatal(err)
	}
	answer := func(video string) []byte {
		return []byte("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
			"m=audio 5004 RTP/AVP 0\r\na=sendrecv\r\n" + video)
	}
	tests := []struct {
		name    string
		answer  []byte
		pt      int // -1: no video
		fs      int
		mbps    int
		refused error
	}{
		{name: "baresip-like h264 level 3", answer: answer("m=video 20636 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n" +
			"a=fmtp:97 packetization-mode=1;profile-level-id=42e01e\r\na=rtcp-fb:* nack pli\r\n"), pt: 97, fs: 1620, mbps: 40500},
		{name: "vp8 with limits", answer: answer("m=video 20636 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\na=fmtp:96 max-fs=396\r\n"), pt: 96, fs: 396},
		{name: "video refused", answer: answer("m=video 0 RTP/AVP 96\r\n"), pt: -1},
		{name: "no video m-line", answer: answer(""), pt: -1},
		{name: "codec we never offered", answer: answer("m=video 20636 RTP/AVP 34\r\na=rtpmap:34 H263/90000\r\n"), pt: -1, refused: ErrNoVideoCodec},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := offer.ParseAnswer(tt.answer)
			if err != nil {
				t.Fatal(err)
			}
			if !errors.Is(n.VideoRefused, tt.refused) || (tt.refused == nil) != (n.VideoRefused == nil) {
				t.Errorf("refused %v, want %v", n.VideoRefused, tt.refused)
			}
			if tt.pt < 0 {
				if n.Video != nil {
					t.Fatalf("video %v", n.Video)
				}
				return
			}
			if n.Video == nil || int(n.Video.PayloadType) != tt.pt || n.Video.RecvMaxFS != tt.fs || n.Video.RecvMaxMBPS != tt.mbps {
				t.Fatalf("video %v", n.Video)
			}
		})
	}
	// An offer without video ignores a video stream in the answer.
	plain, err := NewOffer(videoLocal, allPrefs, SendRecv)
	if err != nil {
		t.Fatal(err)
	}
	n, err := plain.ParseAnswer(answer("m=video 20636 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n"))
	if err != nil || n.Video != nil {
		t.Fatalf("video %v err %v", n.Video, err)
	}
}

func TestFits(t *testing.T) {
	h264 := &Video{Codec: codec.H264, RecvMaxFS: 3600, RecvMaxMBPS: 108000}
	vp8 := &Video{Codec: codec.VP8, RecvMaxFS: 1200, RecvMaxFR: 15}
	tests := []struct {
		name string
		v    *Video
		w, h int
		fps  int
		want bool
	}{
		{"720p30 at level 3.1", h264, 1280, 720, 30, true},
		{"720p60 over max-mbps", h264, 1280, 720, 60, false},
		{"1080p over max-fs", h264, 1920, 1080, 15, false},
		{"a long thin picture over sqrt(8 max-fs)", h264, 16 * 170, 16 * 20, 10, false},
		{"vp8 within", vp8, 640, 480, 15, true},
		{"vp8 over max-fr", vp8, 640, 480, 30, false},
		{"vp8 over max-fs", vp8, 1280, 720, 15, false},
		{"no limits", &Video{Codec: codec.VP8}, 3840, 2160, 60, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.v.Fits(tt.w, tt.h, tt.fps); got != tt.want {
				t.Fatalf("Fits(%d, %d, %d) = %v", tt.w, tt.h, tt.fps, got)
			}
		})
	}
}

func TestProfileLevel(t *testing.T) {
	tests := []struct {
		id    string
		class h264Class
		level int // index into h264Levels
		to31  string
	}{
		{"42e01f", classConstrainedBaseline, 9, "42e01f"},
		{"42c015", classConstrainedBaseline, 6, "42c01f"},
		{"4240 0d", classUnsupported, -1, ""},
		{"42001f", classBaseline, 9, "42001f"},
		{"428016", classBaseline, 7, "42801f"},
		{"42f00b", classConstrainedBaseline, level1b, "42e01f"}, // level 1b: set3 at level 1.1
		{"42e00b", classConstrainedBaseline, 2, "42e01f"},
		{"4d801f", classConstrainedBaseline, 9, "4d801f"},
		{"4d001f", classDecodesCB, 9, "4d001f"},
		{"58c01e", classConstrainedBaseline, 8, "58c01f"},
		{"58801e", classBaseline, 8, "58801f"},
		{"58001e", classUnsupported, 8, ""},
		{"640028", classDecodesCB, 11, "64001f"},
		{"640009", classDecodesCB, level1b, "64001f"},
		{"640c34", classDecodesCB, 16, "640c1f"},
		{"6e1028", classUnsupported, 11, ""},
		{"7a0028", classDecodesCB, 11, "7a001f"},
		{"2c0028", classUnsupported, 11, ""},
		{"420023", classBaseline, 10, "42001f"}, // unknown level 3.5 counts as 3.2
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			pl, ok := parseProfileLevelID(tt.id)
			if tt.level < 0 {
				if ok {
					t.Fatalf("parsed %v", pl)
				}
				return
			}
			if !ok || pl.String() != tt.id {
				t.Fatalf("parse %q: %v %v", tt.id, pl, ok)
			}
			if pl.class() != tt.class || pl.levelIndex() != tt.level {
				t.Fatalf("class %d level %d", pl.class(), pl.levelIndex())
			}
			if tt.to31 != "" {
				if got := pl.withLevel(9).String(); got != tt.to31 {
					t.Fatalf("at level 3.1: %s, want %s", got, tt.to31)
				}
				if back := pl.withLevel(tt.level); back.levelIndex() != tt.level {
					t.Fatalf("withLevel(%d) reads back as %d", tt.level, back.levelIndex())
				}
			}
		})
	}
	if got := (profileLevel{profile: 66, iop: 0xe0, level: 31}).withLevel(level1b).String(); got != "42f00b" {
		t.Errorf("1b in baseline: %s", got)
	}
	if got := levelFor(3600, 30); h264Levels[got].idc != 31 {
		t.Errorf("720p30 needs level %d", h264Levels[got].idc)
	}
	if got := levelFor(1<<30, 1000); got != len(h264Levels)-1 {
		t.Errorf("huge canvas: level index %d", got)
	}
}
