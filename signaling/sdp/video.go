package sdp

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"

	psdp "github.com/pion/sdp/v3"

	"vmrd/internal/codec"
)

// videoClockRate is the RTP clock of every video format we speak (RFC 6184
// section 8.1, RFC 7741 section 6.1).
const videoClockRate = 90000

// Receive limits we announce when VideoPrefs leaves them at 0.
const (
	DefaultVideoMaxFS  = 3600 // 1280x720 in 16x16 macroblocks
	DefaultVideoMaxFPS = 30
)

// VideoPrefs is what a room accepts for video on a SIP leg.
type VideoPrefs struct {
	// Codecs in the room's order of preference; empty refuses video.
	Codecs []codec.VideoCodec
	// MaxBitrate is the most we want to receive, in bits per second; our
	// SDP carries it as b=TIAS and b=AS. 0 leaves both out.
	MaxBitrate int
	// MaxFS is the largest picture we decode, in 16x16 macroblocks
	// (DefaultVideoMaxFS when 0); MaxFPS the highest frame rate
	// (DefaultVideoMaxFPS when 0). They set the H.264 level we announce
	// and max-fs/max-mbps/max-fr in our fmtp lines.
	MaxFS  int
	MaxFPS int
}

func (p VideoPrefs) maxFS() int {
	if p.MaxFS > 0 {
		return min(p.MaxFS, maxParam)
	}
	return DefaultVideoMaxFS
}

func (p VideoPrefs) maxFPS() int {
	if p.MaxFPS > 0 {
		return min(p.MaxFPS, 1000)
	}
	return DefaultVideoMaxFPS
}

// WithVideo takes one video stream as described by p (see Video), and puts
// one in our offers when Local.VideoPort is set. Without it, or with no
// codecs, every video stream is refused with port 0.
func WithVideo(p VideoPrefs) Option {
	p.Codecs = append([]codec.VideoCodec(nil), p.Codecs...)
	return func(o *options) { o.video = &p }
}

// Feedback is a set of RTCP feedback messages (RFC 4585 section 4.2, RFC
// 5104 section 7.1).
type Feedback struct {
	NACK  bool // "nack": generic NACK, retransmission requests
	PLI   bool // "nack pli": picture loss indication
	FIR   bool // "ccm fir": full intra request
	TMMBR bool // "ccm tmmbr": temporary maximum bitrate request
	REMB  bool // "goog-remb": receiver estimated maximum bitrate
}

// ourFeedback is what our media sessions send and act on. A TMMBR lowers
// the group's bitrate like a REMB and is answered with a TMMBN (RFC 5104
// section 4.2.2); Cisco and Poly endpoints use it instead of REMB.
var ourFeedback = Feedback{NACK: true, PLI: true, FIR: true, TMMBR: true, REMB: true}

func (f Feedback) and(g Feedback) Feedback {
	return Feedback{NACK: f.NACK && g.NACK, PLI: f.PLI && g.PLI, FIR: f.FIR && g.FIR,
		TMMBR: f.TMMBR && g.TMMBR, REMB: f.REMB && g.REMB}
}

// String lists the messages, e.g. "nack,pli,fir", or "none".
func (f Feedback) String() string {
	var s []string
	for _, x := range []struct {
		on   bool
		name string
	}{{f.NACK, "nack"}, {f.PLI, "pli"}, {f.FIR, "fir"}, {f.TMMBR, "tmmbr"}, {f.REMB, "remb"}} {
		if x.on {
			s = append(s, x.name)
		}
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ",")
}

// lines are the a=rtcp-fb values for pt ("*" for every format), in the
// order RFC 4585 section 4.2 and RFC 5104 section 7.1 name them.
func (f Feedback) lines(pt string) []string {
	var out []string
	if f.NACK {
		out = append(out, pt+" nack")
	}
	if f.PLI {
		out = append(out, pt+" nack pli")
	}
	if f.FIR {
		out = append(out, pt+" ccm fir")
	}
	if f.TMMBR {
		out = append(out, pt+" ccm tmmbr")
	}
	if f.REMB {
		out = append(out, pt+" goog-remb")
	}
	return out
}

// Video is the negotiated video stream of a leg.
type Video struct {
	Codec       codec.VideoCodec
	PayloadType uint8
	ClockRate   uint32 // always 90000
	// ProfileLevelID is the H.264 profile-level-id in OUR SDP for this
	// format (answer or offer), e.g. "42e01f"; empty for VP8. An answer
	// keeps the offer's profile (RFC 6184 section 8.2.2); we always send
	// constrained baseline, which decoders of every accepted profile take.
	ProfileLevelID string
	// PacketizationMode is the H.264 mode (RFC 6184 section 6.2): 0 is
	// single NAL units only, 1 adds STAP-A and FU-A.
	PacketizationMode int
	// LevelAsymmetry: both sides allow different levels per direction
	// (RFC 6184 section 8.1, level-asymmetry-allowed).
	LevelAsymmetry bool
	// RecvMaxFS, RecvMaxMBPS and RecvMaxFR are the PEER's receive limits,
	// which bound what we send: frame size in 16x16 macroblocks, H.264
	// macroblocks per second, VP8 frames per second. For H.264 they come
	// from the level in force and raised by max-fs/max-mbps (RFC 6184
	// section 8.1); for VP8 from max-fs/max-fr (RFC 7741 section 6.1).
	// 0 means no limit given. Use Fits to test a canvas.
	RecvMaxFS   int
	RecvMaxMBPS int
	RecvMaxFR   int
	// MaxBitrate is the most the peer wants to receive, in bits per
	// second: b=TIAS (RFC 3890) or else b=AS (RFC 4566, kbps), of the
	// video stream or else the session. 0: none given.
	MaxBitrate int
	// Feedback is the RTCP feedback in force: what the peer listed for
	// this format (or for "*") and we support.
	Feedback Feedback
	// PeerFeedback is everything the peer listed, TMMBR included.
	PeerFeedback Feedback
	// Remote, RemoteRTCP, RTCPMux, Direction, Hold and SRTP mean what they
	// mean in Audio; SRTP has its own keys (one crypto context per m-line).
	Remote     *net.UDPAddr
	RemoteRTCP *net.UDPAddr
	RTCPMux    bool
	Direction  Direction
	Hold       bool
	SRTP       *SRTPParams
	// Content is the stream's a=content (RFC 4796), "" without one.
	Content string
	// Index is the stream's m-line, counted from 0, in the offer (or answer).
	Index int

	fmtp    string // our fmtp for the format
	bitrate int    // our MaxBitrate for b= lines
}

// Fits reports whether the peer accepts width x height pictures at fps
// frames a second under its receive limits. H.264 also caps each side at
// sqrt(8 * max-fs) macroblocks (H.264 A.3.1).
func (v *Video) Fits(width, height, fps int) bool {
	mbw, mbh := (width+15)/16, (height+15)/16
	fs := mbw * mbh
	if v.RecvMaxFS > 0 {
		if fs > v.RecvMaxFS {
			return false
		}
		if v.Codec == codec.H264 {
			side := int(math.Sqrt(float64(8 * v.RecvMaxFS)))
			if mbw > side || mbh > side {
				return false
			}
		}
	}
	if v.RecvMaxMBPS > 0 && fs*fps > v.RecvMaxMBPS {
		return false
	}
	if v.RecvMaxFR > 0 && fps > v.RecvMaxFR {
		return false
	}
	return true
}

// String names the format and limits, never keys.
func (v *Video) String() string {
	if v == nil {
		return "none"
	}
	s := fmt.Sprintf("%s/%d pt %d", v.Codec, v.ClockRate, v.PayloadType)
	if v.Codec == codec.H264 {
		s += fmt.Sprintf(" %s mode %d", v.ProfileLevelID, v.PacketizationMode)
	}
	return s + fmt.Sprintf(" fs %d mbps %d fr %d br %d fb %s srtp %s", v.RecvMaxFS, v.RecvMaxMBPS,
		v.RecvMaxFR, v.MaxBitrate, v.Feedback, v.SRTP)
}

// maxParam caps numbers read from fmtp and b= lines so that products of
// two of them stay far from overflow.
const maxParam = 1 << 30

// errNoVideoYet marks "no candidate refused yet" inside selectStream.
var errNoVideoYet = fmt.Errorf("%w: no video stream", ErrNoVideoCodec)

// negotiateVideo takes the main video stream: a=content:main (RFC 4796),
// or else the first one not marked as slides, which a Cisco or Poly
// endpoint sends as its content channel. The others get port 0.
func negotiateVideo(sd *psdp.SessionDescription, vp VideoPrefs, policy Policy, answering bool,
	pick func(*psdp.MediaDescription) (*SRTPParams, error)) (*Video, error) {
	var main, rest []int
	for i, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "video" || md.MediaName.Port.Value == 0 {
			continue
		}
		switch c := contentOf(md); {
		case hasToken(c, "main"):
			main = append(main, i)
		case hasToken(c, "slides"):
		default:
			rest = append(rest, i)
		}
	}
	if len(main)+len(rest) == 0 {
		return nil, nil
	}
	v, sp, idx, err := selectStream(sd, append(main, rest...), policy, errNoVideoYet,
		func(md *psdp.MediaDescription) (Video, error) { return chooseVideo(sd, md, vp, answering) }, pick)
	if err != nil {
		return nil, err
	}
	v.SRTP, v.Index = sp, idx
	return &v, nil
}

func contentOf(md *psdp.MediaDescription) string {
	c, _ := md.Attribute("content")
	return strings.TrimSpace(c)
}

// hasToken looks for one value of a comma-separated a=content list.
func hasToken(list, tok string) bool {
	for _, t := range strings.Split(list, ",") {
		if strings.EqualFold(strings.TrimSpace(t), tok) {
			return true
		}
	}
	return false
}

// videoFormat is one offered video payload type we could use.
type videoFormat struct {
	pt     uint8
	codec  codec.VideoCodec
	params map[string]string
	pl     profileLevel // H.264
	mode   int          // H.264
	class  h264Class    // H.264
}

// videoFormats lists the offered H.264 and VP8 formats in offer order,
// without those we cannot use: other clock rates, H.264 packetization
// mode 2 (interleaved, RFC 6184 section 6.4) and profiles whose decoders
// need not take constrained baseline.
func videoFormats(md *psdp.MediaDescription) []videoFormat {
	fmtps := map[uint8]string{}
	for _, a := range md.Attributes {
		if a.Key != "fmtp" {
			continue
		}
		pt, rest, ok := strings.Cut(a.Value, " ")
		n, err := strconv.Atoi(pt)
		if !ok || err != nil || n < 0 || n > 127 {
			continue
		}
		fmtps[uint8(n)] = rest
	}
	var out []videoFormat
	for _, o := range payloadTypes(md) {
		if o.rate != videoClockRate {
			continue
		}
		f := videoFormat{pt: o.pt, params: parseFmtp(fmtps[o.pt])}
		switch {
		case strings.EqualFold(o.name, string(codec.VP8)):
			f.codec = codec.VP8
		case strings.EqualFold(o.name, string(codec.H264)):
			f.codec = codec.H264
			f.pl = defaultProfileLevel
			if s, ok := f.params["profile-level-id"]; ok {
				pl, ok := parseProfileLevelID(s)
				if !ok {
					continue
				}
				f.pl = pl
			}
			if s, ok := f.params["packetization-mode"]; ok {
				m, err := strconv.Atoi(s)
				if err != nil || m < 0 || m > 1 {
					continue
				}
				f.mode = m
			}
			if f.class = f.pl.class(); f.class == classUnsupported {
				continue
			}
		default:
			continue
		}
		out = append(out, f)
	}
	return out
}

// parseFmtp reads "k=v;k=v" (RFC 4566 section 6, format-specific
// parameters) with lower-case keys.
func parseFmtp(s string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Split(s, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		if k = strings.ToLower(strings.TrimSpace(k)); k != "" {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// intParam is a positive number parameter, 0 when absent or not one.
func intParam(m map[string]string, k string) int {
	n, err := strconv.Atoi(m[k])
	if err != nil || n <= 0 {
		return 0
	}
	return min(n, maxParam)
}

// pickFormat chooses by the room's codec order; among H.264 formats the
// profile closest to what we send wins, then mode 1 (it carries NAL units
// larger than a packet), then the offer's order.
func pickFormat(formats []videoFormat, prefs []codec.VideoCodec) (videoFormat, bool) {
	for _, want := range prefs {
		best, found := videoFormat{}, false
		for _, f := range formats {
			if f.codec != want {
				continue
			}
			if !found || f.class < best.class || f.class == best.class && f.mode > best.mode {
				best, found = f, true
			}
		}
		if found {
			return best, true
		}
	}
	return videoFormat{}, false
}

// chooseVideo picks the format of one video stream. answering: sd is an
// offer we answer; otherwise it is the answer to our offer.
func chooseVideo(sd *psdp.SessionDescription, md *psdp.MediaDescription, vp VideoPrefs, answering bool) (Video, error) {
	f, ok := pickFormat(videoFormats(md), vp.Codecs)
	if !ok {
		return Video{}, ErrNoVideoCodec
	}
	v := Video{Codec: f.codec, PayloadType: f.pt, ClockRate: videoClockRate, bitrate: max(vp.MaxBitrate, 0)}
	maxFS, fps := vp.maxFS(), vp.maxFPS()
	switch f.codec {
	case codec.VP8:
		// RFC 7741 section 6.1: both are the receiver's limits.
		v.RecvMaxFS, v.RecvMaxFR = intParam(f.params, "max-fs"), intParam(f.params, "max-fr")
		v.fmtp = fmt.Sprintf("max-fs=%d;max-fr=%d", maxFS, fps)
	case codec.H264:
		v.PacketizationMode = f.mode
		ours := levelFor(maxFS, fps)
		theirs := f.pl.levelIndex()
		asym := f.params["level-asymmetry-allowed"] == "1"
		// RFC 6184 section 8.2.2: without level-asymmetry-allowed on both
		// sides one level serves both directions, and the answer may only
		// lower it; with it, each side's level is what it receives.
		var local profileLevel
		peer := theirs
		if answering {
			v.LevelAsymmetry = asym
			lvl := ours
			if !asym {
				lvl = min(ours, theirs)
				peer = lvl
			}
			local = f.pl.withLevel(lvl)
		} else {
			// Our offer allows asymmetry; the answer's level is what the
			// peer receives either way.
			v.LevelAsymmetry = asym
			local = profileLevel{profile: 66, iop: 0xe0}.withLevel(ours)
		}
		v.ProfileLevelID = local.String()
		l := h264Levels[peer]
		v.RecvMaxFS = max(l.maxFS, intParam(f.params, "max-fs"))
		v.RecvMaxMBPS = max(l.maxMBPS, intParam(f.params, "max-mbps"))
		v.fmtp = h264Fmtp(local, f.mode, v.LevelAsymmetry || !answering, maxFS, fps)
	}
	v.PeerFeedback = feedbackFor(md, f.pt)
	v.Feedback = v.PeerFeedback.and(ourFeedback)
	v.MaxBitrate = bandwidthOf(md.Bandwidth)
	if v.MaxBitrate == 0 {
		v.MaxBitrate = bandwidthOf(sd.Bandwidth)
	}
	e, err := endpointOf(sd, md)
	if err != nil {
		return Video{}, err
	}
	v.Remote, v.RemoteRTCP, v.RTCPMux, v.Hold, v.Direction = e.remote, e.remoteRTCP, e.mux, e.hold, e.dir
	v.Content = contentOf(md)
	return v, nil
}

// h264Fmtp is our fmtp for an H.264 format. max-fs and max-mbps say what
// we decode beyond the level; RFC 6184 section 8.1 allows them only above
// the level's own limits.
func h264Fmtp(pl profileLevel, mode int, asym bool, maxFS, fps int) string {
	s := fmt.Sprintf("profile-level-id=%s;packetization-mode=%d", pl, mode)
	if asym {
		s += ";level-asymmetry-allowed=1"
	}
	l := h264Levels[pl.levelIndex()]
	if maxFS > l.maxFS {
		s += ";max-fs=" + strconv.Itoa(maxFS)
	}
	if maxFS*fps > l.maxMBPS {
		s += ";max-mbps=" + strconv.Itoa(maxFS*fps)
	}
	return s
}

// feedbackFor reads the a=rtcp-fb lines for pt and for "*" (RFC 4585
// section 4.2).
func feedbackFor(md *psdp.MediaDescription, pt uint8) Feedback {
	var f Feedback
	for _, a := range md.Attributes {
		if a.Key != "rtcp-fb" {
			continue
		}
		w := strings.Fields(strings.ToLower(a.Value))
		if len(w) < 2 {
			continue
		}
		if w[0] != "*" {
			if n, err := strconv.Atoi(w[0]); err != nil || n != int(pt) {
				continue
			}
		}
		param := ""
		if len(w) > 2 {
			param = w[2]
		}
		switch {
		case w[1] == "nack" && param == "":
			f.NACK = true
		case w[1] == "nack" && param == "pli":
			f.PLI = true
		case w[1] == "ccm" && param == "fir":
			f.FIR = true
		case w[1] == "ccm" && param == "tmmbr":
			f.TMMBR = true
		case w[1] == "goog-remb":
			f.REMB = true
		}
	}
	return f
}

// bandwidthOf reads b=TIAS (RFC 3890, bits per second) or else b=AS (RFC
// 4566 section 5.8, kilobits per second); 0 without either.
func bandwidthOf(bs []psdp.Bandwidth) int {
	tias, as := 0, 0
	for _, b := range bs {
		if b.Experimental {
			continue
		}
		switch strings.ToUpper(b.Type) {
		case "TIAS":
			tias = int(min(b.Bandwidth, maxParam))
		case "AS":
			as = int(min(b.Bandwidth, maxParam/1000)) * 1000
		}
	}
	if tias > 0 {
		return tias
	}
	return as
}

// addBandwidth puts our receive bitrate in b=AS and b=TIAS. AS counts
// IP/UDP/RTP headers and TIAS does not (RFC 3890 section 6.4): 40 bytes
// on a packet of about 1200 is 3.3 %.
func addBandwidth(md *psdp.MediaDescription, bps int) {
	if bps <= 0 {
		return
	}
	as := (bps + bps/30 + 999) / 1000
	md.Bandwidth = append(md.Bandwidth,
		psdp.Bandwidth{Type: "AS", Bandwidth: uint64(as)},
		psdp.Bandwidth{Type: "TIAS", Bandwidth: uint64(bps)})
}

// answerMedia is the answer's video stream: the chosen format alone, with
// our fmtp, the feedback in force, our bitrate, rtcp-mux if offered, the
// content label echoed (RFC 4796) and the reversed direction.
func (v *Video) answerMedia(l Local, om *psdp.MediaDescription) *psdp.MediaDescription {
	pt := strconv.Itoa(int(v.PayloadType))
	md := &psdp.MediaDescription{
		MediaName: psdp.MediaName{
			Media:   "video",
			Port:    psdp.RangedPort{Value: l.VideoPort},
			Protos:  om.MediaName.Protos,
			Formats: []string{pt},
		},
	}
	addBandwidth(md, v.bitrate)
	md.WithValueAttribute("rtpmap", pt+" "+string(v.Codec)+"/"+strconv.Itoa(videoClockRate))
	if v.fmtp != "" {
		md.WithValueAttribute("fmtp", pt+" "+v.fmtp)
	}
	for _, fb := range v.Feedback.lines(pt) {
		md.WithValueAttribute("rtcp-fb", fb)
	}
	if sp := v.SRTP; sp != nil {
		// RFC 4568 section 7.1.2, as for audio.
		md.WithValueAttribute("crypto", cryptoLine(sp.Tag, sp.Suite, sp.LocalKey))
	}
	if v.RTCPMux {
		md.WithPropertyAttribute("rtcp-mux")
	}
	if v.Content != "" {
		md.WithValueAttribute("content", v.Content)
	}
	md.WithPropertyAttribute(v.Direction.String())
	return md
}

// offerVideoMedia is the video stream of our offers: the codecs of p in
// order, H.264 as constrained baseline in mode 1 and then mode 0, the
// feedback we support for every format, and our bitrate; nil when p has
// no codec we know.
func offerVideoMedia(l Local, p VideoPrefs) *psdp.MediaDescription {
	md := &psdp.MediaDescription{
		MediaName: psdp.MediaName{
			Media:  "video",
			Port:   psdp.RangedPort{Value: l.VideoPort},
			Protos: []string{"RTP", "AVP"},
		},
	}
	addBandwidth(md, p.MaxBitrate)
	maxFS, fps := p.maxFS(), p.maxFPS()
	pl := profileLevel{profile: 66, iop: 0xe0}.withLevel(levelFor(maxFS, fps))
	next := 96
	add := func(c codec.VideoCodec, fmtp string) {
		pt := strconv.Itoa(next)
		next++
		md.MediaName.Formats = append(md.MediaName.Formats, pt)
		md.WithValueAttribute("rtpmap", pt+" "+string(c)+"/"+strconv.Itoa(videoClockRate))
		md.WithValueAttribute("fmtp", pt+" "+fmtp)
	}
	seen := map[codec.VideoCodec]bool{}
	for _, c := range p.Codecs {
		if seen[c] {
			continue
		}
		seen[c] = true
		switch c {
		case codec.VP8:
			add(c, fmt.Sprintf("max-fs=%d;max-fr=%d", maxFS, fps))
		case codec.H264:
			add(c, h264Fmtp(pl, 1, true, maxFS, fps))
			add(c, h264Fmtp(pl, 0, true, maxFS, fps))
		}
	}
	if len(md.MediaName.Formats) == 0 {
		return nil
	}
	for _, fb := range ourFeedback.lines("*") {
		md.WithValueAttribute("rtcp-fb", fb)
	}
	return md
}
