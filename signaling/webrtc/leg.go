package webrtc

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	pion "github.com/pion/webrtc/v4"

	"vmrd/internal/codec"
	"vmrd/internal/media"
	"vmrd/internal/room"
	"vmrd/mixer/video"
)

// videoFeedback is the RTCP feedback we take for video (RFC 4585 NACK and
// PLI, RFC 5104 FIR, REMB). ConfigureNack adds nack and nack pli again;
// pion keeps each once.
var videoFeedback = []pion.RTCPFeedback{
	{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"},
}

// The codecs we register. Payload types are what browsers commonly use;
// an answer takes the offer's numbers anyway.
var (
	opusCodec = pion.RTPCodecParameters{PayloadType: 111, RTPCodecCapability: pion.RTPCodecCapability{
		MimeType: pion.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}}
	vp8Codec = pion.RTPCodecParameters{PayloadType: 96, RTPCodecCapability: pion.RTPCodecCapability{
		MimeType: pion.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: slices.Clone(videoFeedback)}}
	// Constrained Baseline, packetization-mode 1 (RFC 6184 section 8.1):
	// what every browser decodes and our encoder makes.
	h264Codec = pion.RTPCodecParameters{PayloadType: 102, RTPCodecCapability: pion.RTPCodecCapability{
		MimeType: pion.MimeTypeH264, ClockRate: 90000, RTCPFeedback: slices.Clone(videoFeedback),
		SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}}
)

// newAPI builds one PeerConnection's pion API: its own media engine and
// interceptor registry (NACK generator and responder, RTCP sender and
// receiver reports), sharing the server's ICE sockets.
func newAPI(se pion.SettingEngine) (*pion.API, error) {
	me := &pion.MediaEngine{}
	if err := me.RegisterCodec(opusCodec, pion.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	for _, c := range []pion.RTPCodecParameters{vp8Codec, h264Codec} {
		if err := me.RegisterCodec(c, pion.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
	}
	ir := &interceptor.Registry{}
	if err := pion.ConfigureNack(me, ir); err != nil {
		return nil, err
	}
	if err := pion.ConfigureRTCPReports(ir); err != nil {
		return nil, err
	}
	return pion.NewAPI(pion.WithMediaEngine(me), pion.WithInterceptorRegistry(ir), pion.WithSettingEngine(se)), nil
}

// offer is what we need to know of a browser's offer before pion sees it:
// whether it has Opus, and the payload types of VP8 and of H.264 that we
// can use (-1 when absent). Browsers number codecs differently (Firefox
// sends VP8 as 120), and H.264 comes in several profiles and modes.
type offer struct {
	opus          bool
	vp8PT, h264PT int
}

// readOffer checks the offer's SDP and notes the codecs of its first
// audio and first video section.
func readOffer(text string) (offer, error) {
	o := offer{vp8PT: -1, h264PT: -1}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(text); err != nil {
		return o, fmt.Errorf("%w: malformed SDP", ErrBadOffer)
	}
	seenAudio, seenVideo := false, false
	for _, md := range sd.MediaDescriptions {
		kind := md.MediaName.Media
		if md.MediaName.Port.Value == 0 || (kind == "audio" && seenAudio) || (kind == "video" && seenVideo) {
			continue
		}
		names, fmtp := map[string]string{}, map[string]string{}
		for _, a := range md.Attributes {
			pt, rest, ok := strings.Cut(a.Value, " ")
			if !ok {
				continue
			}
			switch a.Key {
			case "rtpmap":
				names[pt] = strings.ToUpper(rest)
			case "fmtp":
				fmtp[pt] = strings.ToLower(rest)
			}
		}
		// The format list is the offerer's order of preference (RFC 3264
		// section 5.1): the first usable of each codec wins.
		for _, f := range md.MediaName.Formats {
			name := names[f]
			pt, err := strconv.Atoi(f)
			if err != nil || pt < 0 || pt > 127 {
				continue
			}
			switch {
			case kind == "audio" && strings.HasPrefix(name, "OPUS/48000"):
				o.opus = true
			case kind == "video" && name == "VP8/90000" && o.vp8PT < 0:
				o.vp8PT = pt
			case kind == "video" && name == "H264/90000" && h264Usable(fmtp[f]) && o.h264PT < 0:
				o.h264PT = pt
			}
		}
		switch kind {
		case "audio":
			seenAudio = true
		case "video":
			seenVideo = true
		}
	}
	if !o.opus {
		return o, fmt.Errorf("%w: no Opus audio offered", ErrBadOffer)
	}
	return o, nil
}

// h264Usable: packetization-mode 1 and a profile-level-id whose profile
// matches ours (42e0, Constrained Baseline), as pion matches it.
func h264Usable(fmtp string) bool {
	mode1, profile := false, false
	for p := range strings.SplitSeq(fmtp, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch k {
		case "packetization-mode":
			mode1 = v == "1"
		case "profile-level-id":
			profile = len(v) == 6 && strings.HasPrefix(v, "42e0")
		}
	}
	return mode1 && profile
}

// chooseVideo is the room's first preferred codec that the offer has,
// with the offer's payload type: the answer must use the offerer's
// numbers (RFC 3264 section 6.1).
func chooseVideo(o offer, prefs []codec.VideoCodec) (codec.VideoCodec, pion.RTPCodecParameters, bool) {
	for _, c := range prefs {
		switch {
		case c == codec.VP8 && o.vp8PT >= 0:
			p := vp8Codec
			p.PayloadType = pion.PayloadType(o.vp8PT)
			return c, p, true
		case c == codec.H264 && o.h264PT >= 0:
			p := h264Codec
			p.PayloadType = pion.PayloadType(o.h264PT)
			return c, p, true
		}
	}
	return "", pion.RTPCodecParameters{}, false
}

// maxWidth and maxHeight bound what we send a browser: the picture the
// room makes, up to 720p.
const maxWidth, maxHeight = 1280, 720

// leg is one browser's PeerConnection and its place in the room: it is
// the participant's room.Leg, its audio sink and its video sink.
type leg struct {
	g   *signal
	log *slog.Logger
	pc  *pion.PeerConnection

	audio *pion.TrackLocalStaticRTP
	video *pion.TrackLocalStaticRTP // nil without video
	vc    codec.VideoCodec

	input atomic.Pointer[inputBox]
	att   atomic.Pointer[attBox]

	// audio out: owned by the mixer's goroutine (WriteAudio)
	aSeq uint16
	aTS  uint32
	aOn  bool

	vq          chan *outFrame // video out, to the writer goroutine
	vfree       chan *outFrame // frames the writer is done with, for reuse
	pli         chan struct{}  // a keyframe request upstream is wanted
	remoteVideo atomic.Uint32  // the browser's video SSRC

	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	done bool

	stats legStats
}

type inputBox struct{ in room.AudioInput }
type attBox struct{ a VideoAttachment }

// legStats are counted on the media paths and logged at the end.
type legStats struct {
	audioIn, audioBad, videoFrames, videoBad, videoLost, videoOutDropped atomic.Uint64
}

var (
	_ room.Leg       = (*leg)(nil)
	_ room.AudioSink = (*leg)(nil)
	_ video.Sink     = (*leg)(nil)
)

// newLeg answers a browser's offer: it makes the PeerConnection, gives the
// participant media and attaches its video to the room's compositor.
func newLeg(g *signal, offerSDP string) (*leg, string, error) {
	o, err := readOffer(offerSDP)
	if err != nil {
		return nil, "", err
	}
	var pic Picture
	if g.s.cfg.Picture != nil {
		pic = g.s.cfg.Picture(g.number)
	}
	vc, vparams, withVideo := chooseVideo(o, pic.Codecs)
	api, err := newAPI(g.s.se)
	if err != nil {
		return nil, "", fmt.Errorf("media engine: %w", err)
	}
	pc, err := api.NewPeerConnection(pion.Configuration{})
	if err != nil {
		return nil, "", fmt.Errorf("peer connection: %w", err)
	}
	l := &leg{g: g, log: g.log, pc: pc, vc: vc, vq: make(chan *outFrame, 4), vfree: make(chan *outFrame, 6), pli: make(chan struct{}, 1),
		stop: make(chan struct{}), aSeq: uint16(rand.Uint32()), aTS: rand.Uint32()} // RFC 3550 section 5.1: random starts
	ok := false
	defer func() {
		if !ok {
			l.close()
		}
	}()
	pc.OnICECandidate(func(c *pion.ICECandidate) {
		g.ws.send(message{Type: typeCandidate, Candidate: candidateJSON(c)})
	})
	pc.OnConnectionStateChange(func(st pion.PeerConnectionState) {
		l.log.Debug("webrtc connection state", "state", st.String())
		switch st {
		case pion.PeerConnectionStateConnected:
			l.log.Info("webrtc media connected")
			l.requestKeyframe()
		case pion.PeerConnectionStateFailed:
			g.end("media connection failed", true)
		}
	})
	pc.OnTrack(l.onTrack)
	if err := pc.SetRemoteDescription(pion.SessionDescription{Type: pion.SDPTypeOffer, SDP: offerSDP}); err != nil {
		return nil, "", fmt.Errorf("%w: %s", ErrBadOffer, "offer refused")
	}
	if l.audio, err = pion.NewTrackLocalStaticRTP(opusCodec.RTPCodecCapability, "audio", "vmrd"); err != nil {
		return nil, "", err
	}
	as, err := pc.AddTrack(l.audio)
	if err != nil {
		return nil, "", fmt.Errorf("%w: no audio section", ErrBadOffer)
	}
	l.drainRTCP(as, nil)
	if withVideo {
		if l.video, err = pion.NewTrackLocalStaticRTP(vparams.RTPCodecCapability, "video", "vmrd"); err != nil {
			return nil, "", err
		}
		vs, err := pc.AddTrack(l.video)
		if err != nil {
			return nil, "", fmt.Errorf("%w: no video section", ErrBadOffer)
		}
		for _, t := range pc.GetTransceivers() {
			if t.Sender() == vs {
				// Answer with the one codec we send and want to receive.
				if err := t.SetCodecPreferences([]pion.RTPCodecParameters{vparams}); err != nil {
					return nil, "", fmt.Errorf("video codec: %w", err)
				}
			}
		}
		l.drainRTCP(vs, l.onVideoFeedback)
	} else {
		for _, t := range pc.GetTransceivers() {
			if t.Kind() == pion.RTPCodecTypeVideo {
				_ = t.Stop() // answered with port 0
			}
		}
	}
	in, err := g.member.AttachMedia(room.MediaRequest{Protocol: "webrtc", Encryption: "dtls-srtp", Leg: l,
		AudioFormat: codec.Opus.String(), Sink: l})
	switch {
	case errors.Is(err, room.ErrMediaAttached):
		return nil, "", ErrAlreadyConnected
	case errors.Is(err, room.ErrGone):
		return nil, "", ErrBadToken
	case err != nil:
		return nil, "", fmt.Errorf("attach media: %w", err)
	}
	l.input.Store(&inputBox{in})
	if withVideo {
		w, h := min(pic.Width, maxWidth), min(pic.Height, maxHeight)
		if w <= 0 || h <= 0 {
			w, h = maxWidth, maxHeight
		}
		att, err := g.member.AttachVideo(video.Output{Codec: vc, Width: w, Height: h, Bitrate: pic.Bitrate,
			PacketizationMode: media.H264ModeNonInterleaved, MTU: 1200, Sink: l, RequestKeyframe: l.requestKeyframe})
		if err != nil {
			l.log.Warn("webrtc video not attached; audio only", "err", err)
		} else {
			l.att.Store(&attBox{att})
			l.goRun(l.writeVideo)
		}
	}
	l.goRun(l.keyframeRequests)
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return nil, "", fmt.Errorf("%w: no answer possible", ErrBadOffer)
	}
	if err := pc.SetLocalDescription(answer); err != nil {
		return nil, "", fmt.Errorf("set local description: %w", err)
	}
	ok = true
	l.log.Info("webrtc leg answered", "video", string(vc))
	return l, answer.SDP, nil
}

// goRun starts a goroutine that close waits for; false once closed.
func (l *leg) goRun(f func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return false
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		f()
	}()
	return true
}

// Disconnect implements room.Leg: the room ends the participant.
func (l *leg) Disconnect(reason string) { l.g.end(reason, true) }

// close detaches the video, closes the PeerConnection and waits for the
// leg's goroutines. The participant leaves afterwards (signal.finish).
func (l *leg) close() {
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		return
	}
	l.done = true
	close(l.stop)
	l.mu.Unlock()
	if b := l.att.Swap(nil); b != nil {
		b.a.Detach()
	}
	if err := l.pc.Close(); err != nil {
		l.log.Debug("webrtc close", "err", err)
	}
	l.wg.Wait()
	l.log.Info("webrtc media stats", "audio_in", l.stats.audioIn.Load(), "audio_bad", l.stats.audioBad.Load(),
		"video_frames", l.stats.videoFrames.Load(), "video_bad", l.stats.videoBad.Load(),
		"video_lost", l.stats.videoLost.Load(), "video_out_dropped", l.stats.videoOutDropped.Load())
}

// onTrack starts reading one of the browser's tracks.
func (l *leg) onTrack(t *pion.TrackRemote, r *pion.RTPReceiver) {
	switch t.Kind() {
	case pion.RTPCodecTypeAudio:
		if !strings.EqualFold(t.Codec().MimeType, pion.MimeTypeOpus) {
			return
		}
		l.goRun(func() { l.readAudio(t) })
	case pion.RTPCodecTypeVideo:
		l.remoteVideo.Store(uint32(t.SSRC()))
		l.goRun(func() { l.readVideo(t) })
	}
	l.drainReceiverRTCP(r)
}
