package sdp

import "strings"

// crlf turns a readable multi-line SDP into wire form.
func crlf(s string) string {
	return strings.ReplaceAll(strings.TrimLeft(s, "\n"), "\n", "\r\n")
}

// baresipVideoOffer is what baresip 1.0 (vp8, avcodec and avformat
// modules) sent in an INVITE here, keys aside.
var baresipVideoOffer = crlf(`
v=0
o=- 798915980 537957235 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
a=tool:baresip 1.0.0
m=audio 17994 RTP/AVP 0 8 9 96 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:9 G722/8000
a=rtpmap:96 opus/48000/2
a=fmtp:96 stereo=1;sprop-stereo=1
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
a=label:1
a=rtcp-rsize
a=ssrc:21821169 cname:sip:vmrdtest@127.0.0.1
a=minptime:20
a=ptime:20
m=video 20636 RTP/AVP 96 97 98 34 99 100
a=rtpmap:96 VP8/90000
a=fmtp:96 max-fs=3600
a=rtpmap:97 H264/90000
a=fmtp:97 packetization-mode=0;profile-level-id=42e01f
a=rtpmap:98 H264/90000
a=fmtp:98 packetization-mode=1;profile-level-id=42e01f
a=rtpmap:34 H263/90000
a=fmtp:34 CIF=1;CIF4=1
a=rtpmap:99 MP4V-ES/90000
a=fmtp:99 profile-level-id=3
a=rtpmap:100 H265/90000
a=fmtp:100 profile-id=1
a=sendrecv
a=label:2
a=rtcp-rsize
a=ssrc:3772239199 cname:sip:vmrdtest@127.0.0.1
a=framerate:30.00
a=rtcp-fb:* nack pli
a=content:main
`)

// baresipVideoSAVP is the same phone with mediaenc=srtp-mand: RTP/SAVP and
// one crypto line per stream, each with its own key.
var baresipVideoSAVP = strings.NewReplacer(
	"m=audio 17994 RTP/AVP", "m=audio 17994 RTP/SAVP",
	"m=video 20636 RTP/AVP", "m=video 20636 RTP/SAVP",
	"a=minptime:20", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"+key30+"\r\na=minptime:20",
	"a=framerate:30.00", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"+key30b+"\r\na=framerate:30.00",
).Replace(baresipVideoOffer)

// chromiumOffer is Chromium's offer with ICE, DTLS and BUNDLE taken out
// (as a gateway in front of a SIP leg leaves it): plain RTP/AVPF.
var chromiumOffer = crlf(`
v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=msid-semantic: WMS stream
m=audio 9 RTP/AVPF 111 63 9 0 8 13 110 126
c=IN IP4 192.0.2.7
a=rtcp:9 IN IP4 0.0.0.0
a=mid:0
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level
a=sendrecv
a=msid:stream audio0
a=rtcp-mux
a=rtpmap:111 opus/48000/2
a=rtcp-fb:111 transport-cc
a=fmtp:111 minptime=10;useinbandfec=1
a=rtpmap:63 red/48000/2
a=fmtp:63 111/111
a=rtpmap:9 G722/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:13 CN/8000
a=rtpmap:110 telephone-event/48000
a=rtpmap:126 telephone-event/8000
a=ssrc:1001 cname:chromecname
m=video 9 RTP/AVPF 96 97 98 99 100 101 102 103 104 105 106 107 108 109 127 125 39 40 45 46 112 113 114
c=IN IP4 192.0.2.7
a=rtcp:9 IN IP4 0.0.0.0
a=mid:1
a=extmap:2 urn:ietf:params:rtp-hdrext:toffset
a=extmap:3 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time
a=extmap:4 urn:3gpp:video-orientation
a=sendrecv
a=msid:stream video0
a=rtcp-mux
a=rtcp-rsize
a=rtpmap:96 VP8/90000
a=rtcp-fb:96 goog-remb
a=rtcp-fb:96 transport-cc
a=rtcp-fb:96 ccm fir
a=rtcp-fb:96 nack
a=rtcp-fb:96 nack pli
a=rtpmap:97 rtx/90000
a=fmtp:97 apt=96
a=rtpmap:98 VP9/90000
a=rtcp-fb:98 goog-remb
a=rtcp-fb:98 transport-cc
a=rtcp-fb:98 ccm fir
a=rtcp-fb:98 nack
a=rtcp-fb:98 nack pli
a=fmtp:98 profile-id=0
a=rtpmap:99 rtx/90000
a=fmtp:99 apt=98
a=rtpmap:100 VP9/90000
a=rtcp-fb:100 goog-remb
a=rtcp-fb:100 transport-cc
a=rtcp-fb:100 ccm fir
a=rtcp-fb:100 nack
a=rtcp-fb:100 nack pli
a=fmtp:100 profile-id=2
a=rtpmap:101 rtx/90000
a=fmtp:101 apt=100
a=rtpmap:102 H264/90000
a=rtcp-fb:102 goog-remb
a=rtcp-fb:102 transport-cc
a=rtcp-fb:102 ccm fir
a=rtcp-fb:102 nack
a=rtcp-fb:102 nack pli
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f
a=rtpmap:103 rtx/90000
a=fmtp:103 apt=102
a=rtpmap:104 H264/90000
a=rtcp-fb:104 goog-remb
a=rtcp-fb:104 transport-cc
a=rtcp-fb:104 ccm fir
a=rtcp-fb:104 nack
a=rtcp-fb:104 nack pli
a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f
a=rtpmap:105 rtx/90000
a=fmtp:105 apt=104
a=rtpmap:106 H264/90000
a=rtcp-fb:106 goog-remb
a=rtcp-fb:106 transport-cc
a=rtcp-fb:106 ccm fir
a=rtcp-fb:106 nack
a=rtcp-fb:106 nack pli
a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f
a=rtpmap:107 rtx/90000
a=fmtp:107 apt=106
a=rtpmap:108 H264/90000
a=rtcp-fb:108 goog-remb
a=rtcp-fb:108 transport-cc
a=rtcp-fb:108 ccm fir
a=rtcp-fb:108 nack
a=rtcp-fb:108 nack pli
a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f
a=rtpmap:109 rtx/90000
a=fmtp:109 apt=108
a=rtpmap:127 H264/90000
a=rtcp-fb:127 goog-remb
a=rtcp-fb:127 transport-cc
a=rtcp-fb:127 ccm fir
a=rtcp-fb:127 nack
a=rtcp-fb:127 nack pli
a=fmtp:127 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f
a=rtpmap:125 rtx/90000
a=fmtp:125 apt=127
a=rtpmap:39 H264/90000
a=rtcp-fb:39 goog-remb
a=rtcp-fb:39 transport-cc
a=rtcp-fb:39 ccm fir
a=rtcp-fb:39 nack
a=rtcp-fb:39 nack pli
a=fmtp:39 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=4d001f
a=rtpmap:40 rtx/90000
a=fmtp:40 apt=39
a=rtpmap:45 AV1/90000
a=rtcp-fb:45 goog-remb
a=rtcp-fb:45 transport-cc
a=rtcp-fb:45 ccm fir
a=rtcp-fb:45 nack
a=rtcp-fb:45 nack pli
a=rtpmap:46 rtx/90000
a=fmtp:46 apt=45
a=rtpmap:112 red/90000
a=rtpmap:113 rtx/90000
a=fmtp:113 apt=112
a=rtpmap:114 ulpfec/90000
a=ssrc-group:FID 2002 2003
a=ssrc:2002 cname:chromecname
a=ssrc:2003 cname:chromecname
`)

// ciscoOffer is shaped like a Cisco room system's: session b=AS, TIAS per
// stream, H.264 at a low level with max-mbps/max-fs raising it, a main
// video stream, a content (slides) stream and BFCP.
var ciscoOffer = crlf(`
v=0
o=tandberg 1 2 IN IP4 192.0.2.10
s=-
c=IN IP4 192.0.2.10
b=AS:6000
t=0 0
m=audio 2326 RTP/AVP 9 8 0 101
b=TIAS:64000
a=rtpmap:9 G722/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv
m=video 2328 RTP/AVP 97 126 34 31
b=TIAS:2496000
a=rtpmap:97 H264/90000
a=fmtp:97 profile-level-id=428016;max-br=5000;max-mbps=245000;max-fs=8160;max-smbps=245000;max-fps=6000
a=rtpmap:126 H264/90000
a=fmtp:126 profile-level-id=428016;packetization-mode=1;max-br=5000;max-mbps=245000;max-fs=8160;max-smbps=245000;max-fps=6000
a=rtpmap:34 H263/90000
a=fmtp:34 CIF4=1;CIF=1;QCIF=1
a=rtpmap:31 H261/90000
a=fmtp:31 CIF=1;QCIF=1
a=rtcp-fb:* nack pli
a=rtcp-fb:* ccm fir
a=rtcp-fb:* ccm tmmbr
a=label:11
a=content:main
a=sendrecv
m=video 2330 RTP/AVP 97 126 34 31
b=TIAS:2496000
a=rtpmap:97 H264/90000
a=fmtp:97 profile-level-id=428016;max-br=5000;max-mbps=245000;max-fs=8160;max-smbps=245000;max-fps=6000
a=rtpmap:126 H264/90000
a=fmtp:126 profile-level-id=428016;packetization-mode=1;max-br=5000;max-mbps=245000;max-fs=8160;max-smbps=245000;max-fps=6000
a=rtpmap:34 H263/90000
a=rtpmap:31 H261/90000
a=rtcp-fb:* nack pli
a=rtcp-fb:* ccm fir
a=label:12
a=content:slides
a=sendrecv
m=application 5070 TCP/BFCP *
a=setup:actpass
a=connection:new
a=floorctrl:c-s
a=confid:1
a=userid:2
a=floorid:2 mstrm:12
`)

// ciscoSlidesFirst puts the content stream before the main one and drops
// the content label of the main one.
var ciscoSlidesFirst = func() string {
	parts := strings.SplitAfter(ciscoOffer, "a=sendrecv\r\n")
	// parts: session+audio, main video, slides video, rest
	main := strings.Replace(parts[1], "a=content:main\r\n", "", 1)
	return parts[0] + parts[2] + main + parts[3]
}()

// videoOnlyWith is an offer with PCMU audio and one video stream of the
// given formats, for focused cases.
func videoOnlyWith(proto string, lines ...string) string {
	var b strings.Builder
	b.WriteString("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n")
	b.WriteString("m=audio 5004 RTP/AVP 0\r\na=sendrecv\r\n")
	b.WriteString("m=video 5006 " + proto + " 96 97\r\n")
	for _, l := range lines {
		b.WriteString(l + "\r\n")
	}
	return b.String()
}

var (
	highOnlyOffer = videoOnlyWith("RTP/AVP",
		"a=rtpmap:96 H264/90000", "a=fmtp:96 profile-level-id=640028;packetization-mode=1",
		"a=rtpmap:97 H264/90000", "a=fmtp:97 profile-level-id=640028;packetization-mode=0",
		"a=rtcp-fb:* nack", "a=rtcp-fb:* nack pli", "a=rtcp-fb:96 goog-remb")
	mode2Offer = videoOnlyWith("RTP/AVP",
		"a=rtpmap:96 H264/90000", "a=fmtp:96 profile-level-id=42e01f;packetization-mode=2",
		"a=rtpmap:97 H264/90000", "a=fmtp:97 profile-level-id=640c1f;packetization-mode=2")
	intraOnlyOffer = videoOnlyWith("RTP/AVP",
		"a=rtpmap:96 H264/90000", "a=fmtp:96 profile-level-id=7a1028;packetization-mode=1",
		"a=rtpmap:97 H264/90000", "a=fmtp:97 profile-level-id=2c0028;packetization-mode=1")
	vp8LimitsOffer = videoOnlyWith("RTP/AVPF",
		"b=AS:800", "a=rtpmap:96 VP8/90000", "a=fmtp:96 max-fs=1200;max-fr=15",
		"a=rtpmap:97 H264/90000", "a=rtcp-fb:96 ccm tmmbr", "a=rtcp-fb:96 nack", "a=rtcp-mux", "a=recvonly")
)
