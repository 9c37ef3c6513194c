package e2e

// ffmpeg as a SIP participant's camera and screen: a Go UAC (the sipClient
// of secure_harness_test.go) offers H.264 and audio, ffmpeg sends H.264
// High profile (what vmrd's own encoder never makes) and a second ffmpeg
// decodes what vmrd sends back. vmrd's symmetric RTP (RFC 4961) sends to
// where the stream comes from, and the two ffmpegs are two processes with
// two ports, so the stream goes through a videoRelay (video_loss_test.go)
// that gives both one address: the relay's back port is the SDP port.
//
//	ffmpeg tx -> front [videoRelay] back <-> vmrd
//	ffmpeg rx <- front

import (
	"fmt"
	"image/color"
	"math/rand/v2"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// H.264 syntax writer for fabricated parameter sets.

// bitWriter writes H.264 syntax elements: u(n) and ue(v) (H.264 section
// 7.2 and 9.1).
type bitWriter struct {
	b []byte
	n int // bits written
}

func (w *bitWriter) u(bits int, v uint32) {
	for i := bits - 1; i >= 0; i-- {
		if w.n%8 == 0 {
			w.b = append(w.b, 0)
		}
		if v>>uint(i)&1 != 0 {
			w.b[len(w.b)-1] |= 0x80 >> uint(w.n%8)
		}
		w.n++
	}
}

// ue is unsigned Exp-Golomb (section 9.1): leadingZeroBits zeros, then
// v+1 in leadingZeroBits+1 bits.
func (w *bitWriter) ue(v uint32) {
	x := uint64(v) + 1
	bits := 0
	for y := x; y > 1; y >>= 1 {
		bits++
	}
	w.u(bits, 0)
	for i := bits; i >= 0; i-- {
		w.u(1, uint32(x>>uint(i)&1))
	}
}

// nal ends the RBSP (rbsp_trailing_bits, section 7.3.2.11) and adds
// emulation prevention bytes (section 7.4.1) after the NAL header byte.
func (w *bitWriter) nal() []byte {
	w.u(1, 1)
	for w.n%8 != 0 {
		w.u(1, 0)
	}
	out := []byte{w.b[0]}
	zeros := 0
	for _, c := range w.b[1:] {
		if zeros >= 2 && c <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// fabricatedSPS is a Baseline sequence parameter set (section 7.3.2.1.1)
// declaring a frame of mbs x mbs macroblocks.
func fabricatedSPS(mbs uint32) []byte {
	w := &bitWriter{}
	w.u(8, 0x67) // nal_ref_idc 3, nal_unit_type 7
	w.u(8, 66)   // profile_idc: Baseline
	w.u(8, 0)    // constraint flags
	w.u(8, 51)   // level_idc 5.1
	w.ue(0)      // seq_parameter_set_id
	w.ue(0)      // log2_max_frame_num_minus4
	w.ue(0)      // pic_order_cnt_type
	w.ue(0)      // log2_max_pic_order_cnt_lsb_minus4
	w.ue(1)      // max_num_ref_frames
	w.u(1, 0)    // gaps_in_frame_num_value_allowed_flag
	w.ue(mbs - 1)
	w.ue(mbs - 1)
	w.u(1, 1) // frame_mbs_only_flag
	w.u(1, 1) // direct_8x8_inference_flag
	w.u(1, 0) // frame_cropping_flag
	w.u(1, 0) // vui_parameters_present_flag
	return w.nal()
}

// fabricatedPPS is a picture parameter set (section 7.3.2.2) for SPS 0.
func fabricatedPPS() []byte {
	w := &bitWriter{}
	w.u(8, 0x68)
	w.ue(0)   // pic_parameter_set_id
	w.ue(0)   // seq_parameter_set_id
	w.u(1, 0) // entropy_coding_mode_flag: CAVLC
	w.u(1, 0) // bottom_field_pic_order_in_frame_present_flag
	w.ue(0)   // num_slice_groups_minus1
	w.ue(0)   // num_ref_idx_l0_default_active_minus1
	w.ue(0)   // num_ref_idx_l1_default_active_minus1
	w.u(1, 0) // weighted_pred_flag
	w.u(2, 0) // weighted_bipred_idc
	w.ue(0)   // pic_init_qp_minus26 (se(v) 0 is ue(v) 0)
	w.ue(0)   // pic_init_qs_minus26
	w.ue(0)   // chroma_qp_index_offset
	w.u(1, 1) // deblocking_filter_control_present_flag
	w.u(1, 0) // constrained_intra_pred_flag
	w.u(1, 0) // redundant_pic_cnt_present_flag
	return w.nal()
}

// fabricatedIDR is an IDR slice (section 7.3.3) whose header is valid
// and whose macroblock data is noise: a decoder that accepted the SPS would
// allocate the whole frame here.
func fabricatedIDR(rng *rand.Rand) []byte {
	w := &bitWriter{}
	w.u(8, 0x65)
	w.ue(0)   // first_mb_in_slice
	w.ue(7)   // slice_type: I, all slices of the picture
	w.ue(0)   // pic_parameter_set_id
	w.u(4, 0) // frame_num
	w.ue(0)   // idr_pic_id
	w.u(4, 0) // pic_order_cnt_lsb
	w.u(1, 0) // no_output_of_prior_pics_flag
	w.u(1, 0) // long_term_reference_flag
	w.ue(0)   // slice_qp_delta
	w.ue(0)   // disable_deblocking_filter_idc
	for range 200 {
		w.u(8, uint32(rng.IntN(256)))
	}
	return w.nal()
}

// h264SPSProfile returns the profile_idc of the SPS in an H.264 RTP payload
// (RFC 6184 section 5.6 single NAL unit or 5.7.1 STAP-A), if it has one.
func h264SPSProfile(payload []byte) (uint8, bool) {
	if len(payload) < 2 {
		return 0, false
	}
	switch payload[0] & 0x1f {
	case 7:
		return payload[1], true
	case 24:
		for b := payload[1:]; len(b) >= 2; {
			n := int(b[0])<<8 | int(b[1])
			if n == 0 || 2+n > len(b) {
				return 0, false
			}
			if nal := b[2 : 2+n]; nal[0]&0x1f == 7 && len(nal) > 1 {
				return nal[1], true
			}
			b = b[2+n:]
		}
	}
	return 0, false
}

// rtpPayloadOf strips the RTP header (RFC 3550 section 5.1) of b.
func rtpPayloadOf(b []byte) []byte {
	if len(b) < 12 {
		return nil
	}
	h := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 && len(b) >= h+4 {
		h += 4 + 4*(int(b[h+2])<<8|int(b[h+3]))
	}
	if h > len(b) {
		return nil
	}
	return b[h:]
}

// Garbage.

// garbage is one datagram thrown at vmrd's video port.
type garbage struct {
	name string
	b    []byte
	// malformed and oversize: vmrd must count it under that reason of
	// vmrd_rtp_invalid_packets_total.
	malformed, oversize bool
}

func rtpPacket(pt uint8, seq uint16, ts, ssrc uint32, marker bool, payload []byte) []byte {
	b := make([]byte, 12, 12+len(payload))
	b[0], b[1] = 0x80, pt
	if marker {
		b[1] |= 0x80
	}
	putU16(b[2:], seq)
	putU32(b[4:], ts)
	putU32(b[8:], ssrc)
	return append(b, payload...)
}

// videoGarbage is a burst of broken datagrams, then broken and hostile
// H.264 in well-formed RTP packets of the negotiated payload type pt.
func videoGarbage(pt uint8, seed uint64) []garbage {
	rng := rand.New(rand.NewPCG(seed, 1))
	noise := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	const ssrc = 0x0badf00d
	hdr := func(first byte, n int) []byte {
		b := append([]byte{first, pt, 0, 1, 0, 0, 0, 1, 0x0b, 0xad, 0xf0, 0x0d}, noise(n)...)
		return b
	}
	gs := []garbage{
		{name: "empty datagram", b: []byte{}, malformed: true},
		{name: "one byte", b: []byte{0x80}, malformed: true},
		{name: "11-byte header", b: hdr(0x80, 0)[:11], malformed: true},
		{name: "version 0", b: append([]byte{0x00}, noise(99)...), malformed: true},
		{name: "15 CSRCs in 20 bytes", b: hdr(0x8f, 8), malformed: true},
		{name: "extension longer than the packet", b: append(hdr(0x90, 0), 0xbe, 0xde, 0xff, 0xff, 1, 2, 3, 4), malformed: true},
		{name: "padding longer than the payload", b: append(hdr(0xa0, 3), 200), malformed: true},
		{name: "RTCP sender report cut short", b: []byte{0x80, 200, 0x00, 0x40, 1, 2, 3, 4}, malformed: true},
		{name: "1600-byte datagram", b: rtpPacket(pt, 1, 0, ssrc, false, noise(1588)), oversize: true},
	}
	for i := range 40 {
		gs = append(gs, garbage{name: fmt.Sprintf("noise %d", i), b: noise(1 + rng.IntN(300))})
	}
	// Well-formed RTP, broken H.264 (RFC 6184 section 5): every packet
	// has the negotiated type, one SSRC and consecutive sequence numbers.
	seq, ts := uint16(100), uint32(9000)
	next := func(name string, marker bool, payload []byte) {
		gs = append(gs, garbage{name: name, b: rtpPacket(pt, seq, ts, ssrc, marker, payload)})
		seq++
		if marker {
			ts += 3000
		}
	}
	next("FU-A start without an end", false, append([]byte{0x7c, 0x85}, noise(500)...))
	next("FU-A middle of another frame", true, append([]byte{0x7c, 0x05}, noise(500)...))
	next("STAP-A with a NAL past its end", true, append([]byte{0x78, 0xff, 0xff}, noise(40)...))
	next("STAP-A with a zero-length NAL", true, []byte{0x78, 0, 0, 0, 2, 0x09, 0x10})
	next("reserved NAL type 0", true, append([]byte{0x00}, noise(30)...))
	next("reserved NAL type 30", true, append([]byte{0x1e}, noise(30)...))
	next("FU-B (mode 2 only)", true, append([]byte{0x7d, 0x85, 0, 1}, noise(30)...))
	next("empty payload", true, nil)
	// A frame of 16384 x 16384 (1024 x 1024 macroblocks): 400 MB of
	// YUV if a decoder believed it. Then 8192 x 8192, which FFmpeg's own
	// size check (av_image_check_size) lets through.
	for _, mbs := range []uint32{1024, 512} {
		next(fmt.Sprintf("SPS of %d x %d", 16*mbs, 16*mbs), false, fabricatedSPS(mbs))
		next("PPS", false, fabricatedPPS())
		next("IDR slice of noise", true, fabricatedIDR(rng))
	}
	return gs
}

// invalidReasons are the labels of vmrd_rtp_invalid_packets_total.
var invalidReasons = []string{"malformed", "ssrc", "oversize", "payload_type", "decode", "source", "auth", "replay"}

func (d *daemon) invalidCounts(t *testing.T) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, r := range invalidReasons {
		out[r] = d.metric(t, fmt.Sprintf(`vmrd_rtp_invalid_packets_total{reason=%q}`, r))
	}
	return out
}

// h264Offer offers PCMU audio on audioPort and H.264 High profile level
// 3.0 in packetization mode 1 on videoPort (RFC 6184 section 8.1): level
// 3.0 holds 640x360 at 30 frames a second but not 960x540, so vmrd sends
// 640x360.
func h264Offer(audioPort, videoPort int) string {
	return strings.Join([]string{
		"v=0",
		"o=e2e 1 1 IN IP4 127.0.0.1",
		"s=-",
		"c=IN IP4 127.0.0.1",
		"t=0 0",
		fmt.Sprintf("m=audio %d RTP/AVP 0", audioPort),
		"a=rtpmap:0 PCMU/8000",
		"a=sendrecv",
		fmt.Sprintf("m=video %d RTP/AVP 96", videoPort),
		"a=rtpmap:96 H264/90000",
		"a=fmtp:96 profile-level-id=64001e;packetization-mode=1",
		"a=rtcp-fb:96 nack pli",
		"a=sendrecv",
	}, "\r\n") + "\r\n"
}

func udpAddr(port int) *net.UDPAddr { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port} }

// pliPacket is an RTCP PLI (RFC 4585 section 6.3.1) about media.
func pliPacket(sender, media uint32) []byte {
	b := []byte{0x81, 206, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0}
	putU32(b[4:], sender)
	putU32(b[8:], media)
	return b
}

// TestVideoFFmpegHighProfile: an ffmpeg participant sending H.264 High
// profile and a baresip phone share a 4:0 room. Before ffmpeg's stream
// starts, its port gets garbage, truncated RTP and H.264 with absurd
// picture sizes; the room must shrug it off and count it. Then the phone
// must see ffmpeg's magenta (vmrd decoded High profile) in the first cell,
// and ffmpeg's receiver must see the phone's cyan there and never its own
// magenta.
func TestVideoFFmpegHighProfile(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: a 2-party video call of about 15 s")
	}
	requireVideoTools(t, "baresip", "ffmpeg")
	const fps = 15
	cfg := defaultConfig()
	cfg.Video.Layout = "4:0"
	cfg.Video.FPS = fps
	cfg.Video.Resolution = "640x360" // two encoders on two shared cores
	// The SIP leg sends no audio.
	cfg.SIP.NoRTPTimeout = "120s"
	d := startDaemon(t, cfg)

	clip := makeColourVideo(t, t.TempDir(), "cyan", colourCyan, 640, 360, 30, 60)
	ph := startVideoPhone(t, videoPhoneOpts{Name: "phone-cyan", Video: clip, VideoCodecs: "VP8",
		Silent: true, Seconds: 60, Dial: "sip:1001@" + d.SIPAddr})
	d.waitLogCount(t, videoStartedRe, 1, 15*time.Second)

	// The ffmpeg participant's call. The receiver's ports are fixed now,
	// so the relay knows where vmrd's video goes; ffmpeg binds them later.
	rl := startVideoRelay(t, 1)
	rxPort := freePortPair(t)
	rl.setCaller(udpAddr(rxPort), udpAddr(rxPort+1))
	var spsSeen, highSeen, otherProfile atomic.Int32
	rl.watchUp(func(b []byte) {
		if p, ok := h264SPSProfile(rtpPayloadOf(b)); ok {
			spsSeen.Add(1)
			if p == 100 {
				highSeen.Add(1)
			} else {
				otherProfile.Store(int32(p))
			}
		}
	})
	audio := newMediaPort(t)
	uac := dialSIPUDP(t, "127.0.0.1", d.SIPAddr)
	dl := uac.newDialog("1001")
	res := dl.invite(t, h264Offer(audio.Port(), rl.BackPort()), 10*time.Second)
	if res == nil || res.Status != 200 {
		t.Fatalf("INVITE with H.264 answered %v, want 200", statusOf(res))
	}
	ans, err := parseSDPMedia(res.Body, "video")
	if err != nil {
		t.Fatalf("vmrd's answer: %v\n%s", err, res.Body)
	}
	if len(ans.PTs) != 1 || !strings.EqualFold(ans.Rtpmap[ans.PTs[0]], "H264/90000") ||
		!strings.Contains(ans.Fmtp[ans.PTs[0]], "packetization-mode=1") {
		t.Fatalf("vmrd answered video %v %v %v, want one H.264 format in packetization mode 1\n%s", ans.PTs, ans.Rtpmap, ans.Fmtp, res.Body)
	}
	pt := ans.PTs[0]
	rl.setDaemon(ans.RTPAddr(), ans.RTCPAddr())
	d.waitLogCount(t, videoStartedRe, 2, 10*time.Second)

	// Garbage before any valid stream, from the address vmrd expects the
	// stream from.
	invalidBefore := d.invalidCounts(t)
	encodedBefore := d.metric(t, "vmrd_video_frames_encoded_total")
	var wantMalformed, wantOversize float64
	for _, g := range videoGarbage(uint8(pt), 7) {
		if err := rl.toDaemon(g.b, false); err != nil {
			t.Fatalf("send %s: %v", g.name, err)
		}
		if g.malformed {
			wantMalformed++
		}
		if g.oversize {
			wantOversize++
		}
	}
	d.waitMetric(t, `vmrd_rtp_invalid_packets_total{reason="malformed"}`, 5*time.Second, "the garbage counted",
		func(v float64) bool { return v >= invalidBefore["malformed"]+wantMalformed })
	d.waitMetric(t, `vmrd_rtp_invalid_packets_total{reason="oversize"}`, 5*time.Second, "the oversize datagram counted",
		func(v float64) bool { return v >= invalidBefore["oversize"]+wantOversize })

	// The real camera: magenta in High profile.
	startRTPSender(t, rtpSenderOpts{Addr: fmt.Sprintf("127.0.0.1:%d", rl.FrontPort()), Codec: "H264", Profile: "high",
		PT: pt, Colour: colourMagenta, Seconds: 60})
	waitPicture(t, ph, 20*time.Second, gridView([]*color.RGBA{&colourMagenta, nil, nil, nil}, colourCyan))
	if spsSeen.Load() == 0 || highSeen.Load() != spsSeen.Load() {
		t.Errorf("ffmpeg sent %d SPS, %d of them High profile (another: profile_idc %d); want all High",
			spsSeen.Load(), highSeen.Load(), otherProfile.Load())
	}
	invalidAfter := d.invalidCounts(t)
	var deltas []string
	for _, r := range invalidReasons {
		if v := invalidAfter[r] - invalidBefore[r]; v != 0 {
			deltas = append(deltas, fmt.Sprintf("%s +%.0f", r, v))
		}
	}
	t.Logf("vmrd_rtp_invalid_packets_total after the garbage: %s", strings.Join(deltas, ", "))

	// What vmrd sends the ffmpeg participant. The receiver starts late, so
	// it asks for a keyframe the way a phone would: PLI to vmrd's RTCP
	// port, repeated while it has not finished.
	const frames = 15
	rx := startRTPReceiver(t, rtpVideoStream{Port: rxPort, PT: pt, Codec: "H264", Fmtp: "packetization-mode=1"}, frames)
	deadline := time.Now().Add(20 * time.Second)
	for asked := 0; ; asked++ {
		if err := rl.toDaemon(pliPacket(0xe2e0e2e0, rl.ssrcFromDaemon()), true); err != nil {
			t.Fatalf("send PLI: %v", err)
		}
		select {
		case <-rx.done:
		case <-time.After(time.Second):
			if time.Now().Before(deadline) {
				continue
			}
		}
		t.Logf("receiver done after %d PLIs", asked+1)
		break
	}
	imgs := rx.frames(t, time.Second)
	t.Logf("ffmpeg receiver: %d frames of %q, %dx%d", len(imgs), rx.streamInfo(), imgs[0].Bounds().Dx(), imgs[0].Bounds().Dy())
	if len(imgs) != frames {
		t.Errorf("ffmpeg receiver decoded %d frames, want %d", len(imgs), frames)
	}
	for i, img := range imgs {
		if got := sampleCell(img, gridCentres[0][0], gridCentres[0][1]); !colourNear(got, colourCyan, colourTol) {
			t.Errorf("frame %d to ffmpeg: cell 0 is %v, want the phone's cyan (picture: %s)", i+1, got, describeColours(img))
		}
		for c := 1; c < 4; c++ {
			if got := sampleCell(img, gridCentres[c][0], gridCentres[c][1]); colourNear(got, colourCyan, colourTol) || colourNear(got, colourMagenta, colourTol) {
				t.Errorf("frame %d to ffmpeg: empty cell %d shows %v", i+1, c, got)
			}
		}
		if hits := findColour(img, colourMagenta, colourTol, 24); len(hits) > 0 {
			t.Errorf("frame %d to ffmpeg shows its own magenta at %d points, e.g. %v", i+1, len(hits), hits[0])
		}
	}

	// The room is still alive: the phone gets new pictures with ffmpeg in
	// them, and vmrd encoded frames after the garbage.
	waitPicture(t, ph, 10*time.Second, gridView([]*color.RGBA{&colourMagenta, nil, nil, nil}, colourCyan))
	if v := d.metric(t, "vmrd_video_frames_encoded_total"); v <= encodedBefore {
		t.Errorf("vmrd_video_frames_encoded_total did not grow after the garbage (%.0f -> %.0f)", encodedBefore, v)
	}
	if audio.packets() == 0 {
		t.Errorf("the ffmpeg participant got no audio from vmrd")
	}
	if r := dl.bye(t); r == nil || r.Status != 200 {
		t.Errorf("BYE answered %v, want 200", statusOf(r))
	}
	ph.hangup()
	ph.wait(t, 10*time.Second)
}
