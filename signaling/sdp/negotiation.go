// Package sdp does SDP offer/answer (RFC 3264) for vmrd's SIP legs: it picks
// one audio stream and codec from an offer by the room's preference, and
// with WithVideo one video stream, answers every other stream with port 0,
// and builds offers for delayed-offer calls and re-INVITEs.
package sdp

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	psdp "github.com/pion/sdp/v3"

	"vmrd/internal/codec"
	"vmrd/internal/media"
)

// Direction is a stream's direction attribute (RFC 3264 5.1, 6.1); the
// media session uses the same type for what it sends and receives.
type Direction = media.Direction

// Stream directions.
const (
	SendRecv = media.SendRecv
	SendOnly = media.SendOnly
	RecvOnly = media.RecvOnly
	Inactive = media.Inactive
)

// reverse is the answerer's direction for an offered one (RFC 3264 6.1).
func reverse(d Direction) Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	default:
		return d
	}
}

// Audio is the negotiated audio stream of a leg.
type Audio struct {
	Codec       codec.AudioCodec
	PayloadType uint8
	// DTMFPayloadType is the telephone-event payload type (RFC 4733), or -1.
	DTMFPayloadType int
	// DTMFClockRate is the telephone-event clock rate (0 without DTMF).
	DTMFClockRate uint32
	// Remote is where the peer wants our RTP; nil when the peer gave no
	// usable address (port 0 is not possible here: that stream is refused).
	Remote *net.UDPAddr
	// RemoteRTCP is where the peer wants RTCP; nil with rtcp-mux.
	RemoteRTCP *net.UDPAddr
	// RTCPMux: RTP and RTCP share one port (RFC 5761).
	RTCPMux bool
	// Direction is OUR direction: what we put in the answer.
	Direction Direction
	// Hold: the peer used the old c=0.0.0.0 way of putting us on hold (RFC 3264 8.4).
	Hold bool
	// SRTP is the SDES keying (RFC 4568) when the stream is encrypted, nil
	// for plain RTP. Hand SRTP.Config() to the media session.
	SRTP *SRTPParams
}

// Negotiation is an offer and the choices made for the answer.
type Negotiation struct {
	offer *psdp.SessionDescription
	Audio Audio
	// Video is the accepted video stream, nil when the SDP has none we take
	// (no WithVideo, no common codec, encryption policy, port 0).
	Video *Video
	// VideoRefused says why an offered video stream was not taken (wraps
	// ErrNoVideoCodec, ErrUnsupportedTransport, ErrEncryptionRequired or
	// ErrNoCrypto); nil when video was taken, not offered or not wanted.
	VideoRefused error
	// index of the accepted audio m-line in the offer
	index int
}

// DropVideo forgets the accepted video stream, for a caller that cannot
// take it after all (no port for it): the answer then refuses it.
func (n *Negotiation) DropVideo() { n.Video = nil }

// Local is what we announce about ourselves.
type Local struct {
	IP        net.IP // address in c= and o=
	Port      int    // our RTP port
	SessionID uint64 // o= sess-id, fixed for the call
	Version   uint64 // o= sess-version, incremented when the answer changes
	// VideoPort is our RTP port for video; 0 refuses video in answers and
	// leaves it out of offers.
	VideoPort int
}

// Negotiate parses an SDP offer and chooses the audio stream and codec, in
// the order of prefs (the room's preference). WithEncryption sets the SRTP
// policy (default EncryptionOff: RTP/SAVP is refused); the answer then
// carries one crypto line with a fresh key of ours. WithVideo also takes
// one video stream (see Video); without it every video stream is refused.
func Negotiate(body []byte, prefs []codec.AudioCodec, opts ...Option) (*Negotiation, error) {
	o := newOptions(opts)
	vo := o
	vo.prev = o.prevVideo
	return negotiate(body, prefs, o, true,
		func(md *psdp.MediaDescription) (*SRTPParams, error) { return chooseCrypto(md, o) },
		func(md *psdp.MediaDescription) (*SRTPParams, error) { return chooseCrypto(md, vo) })
}

// negotiate chooses the audio stream of an offer (or of an answer to our
// offer, answering false) and, with WithVideo, the video stream. pick and
// pickVideo find the SRTP keying of a stream.
func negotiate(body []byte, prefs []codec.AudioCodec, o options, answering bool,
	pick, pickVideo func(*psdp.MediaDescription) (*SRTPParams, error)) (*Negotiation, error) {
	var sd psdp.SessionDescription
	if err := sd.UnmarshalString(string(body)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var audio []int
	for i, md := range sd.MediaDescriptions {
		if md.MediaName.Media == "audio" && md.MediaName.Port.Value != 0 {
			audio = append(audio, i)
		}
	}
	a, sp, idx, err := selectStream(&sd, audio, o.policy, ErrNoAudio,
		func(md *psdp.MediaDescription) (Audio, error) { return chooseAudio(&sd, md, prefs) }, pick)
	if err != nil {
		return nil, err
	}
	a.SRTP = sp
	n := &Negotiation{offer: &sd, Audio: a, index: idx}
	if o.video != nil && len(o.video.Codecs) > 0 {
		n.Video, n.VideoRefused = negotiateVideo(&sd, *o.video, o.policy, answering, pickVideo)
	}
	return n, nil
}

// selectStream walks the candidate m-lines (indices into sd) and takes the
// first acceptable one under the encryption policy. Under
// EncryptionPreferred an encrypted stream wins over an earlier plain one,
// so an offer with an RTP/AVP stream and its RTP/SAVP alternative gets
// SRTP. none is the error when there is no candidate at all.
func selectStream[T any](sd *psdp.SessionDescription, indices []int, policy Policy, none error,
	choose func(*psdp.MediaDescription) (T, error),
	pick func(*psdp.MediaDescription) (*SRTPParams, error)) (T, *SRTPParams, int, error) {
	var zero T
	firstErr := none
	note := func(err error) {
		if firstErr == none {
			firstErr = err
		}
	}
	plainIndex := -1
	var plain T
	for _, i := range indices {
		md := sd.MediaDescriptions[i]
		prof := profileOf(md.MediaName.Protos)
		switch {
		case prof == profOther, prof == profSecure && policy == EncryptionOff:
			note(fmt.Errorf("%w: %s", ErrUnsupportedTransport, strings.Join(md.MediaName.Protos, "/")))
			continue
		case prof == profPlain && policy == EncryptionRequired:
			note(fmt.Errorf("%w: the offer has %s", ErrEncryptionRequired, strings.Join(md.MediaName.Protos, "/")))
			continue
		}
		v, err := choose(md)
		if err != nil {
			note(err)
			continue
		}
		if policy != EncryptionOff {
			sp, err := pick(md)
			if err == nil {
				sp.BestEffort = prof == profPlain
				return v, sp, i, nil
			}
			if prof == profSecure {
				note(err)
				continue
			}
			// RTP/AVP without a usable crypto line: plain, if nothing better comes.
		}
		if policy == EncryptionOff {
			return v, nil, i, nil
		}
		if plainIndex < 0 {
			plainIndex, plain = i, v
		}
	}
	if plainIndex >= 0 {
		return plain, nil, plainIndex, nil
	}
	return zero, nil, -1, firstErr
}

// endpoint is where and how a peer wants one stream.
type endpoint struct {
	remote, remoteRTCP *net.UDPAddr
	mux, hold          bool
	dir                Direction // ours
}

func endpointOf(sd *psdp.SessionDescription, md *psdp.MediaDescription) (endpoint, error) {
	var e endpoint
	ip, err := connectionIP(sd, md)
	if err != nil {
		return e, err
	}
	port := md.MediaName.Port.Value
	dir := direction(sd, md)
	if ip != nil && ip.IsUnspecified() {
		// RFC 3264 8.4: c=0.0.0.0 is the RFC 2543 way to say "do not send to me".
		e.hold = true
		ip = nil
		if dir == SendRecv {
			dir = SendOnly
		} else if dir == RecvOnly {
			dir = Inactive
		}
	}
	if ip != nil {
		e.remote = &net.UDPAddr{IP: ip, Port: port}
	}
	_, e.mux = md.Attribute("rtcp-mux")
	if !e.mux && ip != nil {
		e.remoteRTCP = &net.UDPAddr{IP: ip, Port: port + 1}
		if v, ok := md.Attribute("rtcp"); ok {
			// RFC 3605: a=rtcp:PORT [IN IP4 ADDR]
			f := strings.Fields(v)
			if len(f) > 0 {
				if p, err := strconv.Atoi(f[0]); err == nil && p > 0 && p < 65536 {
					e.remoteRTCP.Port = p
				}
			}
			if len(f) == 4 {
				if rip := net.ParseIP(f[3]); rip != nil {
					e.remoteRTCP.IP = rip
				}
			}
		}
	}
	e.dir = reverse(dir)
	return e, nil
}

func chooseAudio(sd *psdp.SessionDescription, md *psdp.MediaDescription, prefs []codec.AudioCodec) (Audio, error) {
	offered := payloadTypes(md)
	a := Audio{DTMFPayloadType: -1}
	found := false
	for _, want := range prefs {
		for _, o := range offered {
			if strings.EqualFold(o.name, want.Name) && o.rate == want.ClockRate {
				a.Codec, a.PayloadType, found = want, o.pt, true
				break
			}
		}
		if found {
			break
		}
	}
	if !found {
		return Audio{}, ErrNoCommonCodec
	}
	// telephone-event at the codec's clock rate first, any other rate next.
	for _, o := range offered {
		if strings.EqualFold(o.name, "telephone-event") {
			if o.rate == a.Codec.ClockRate {
				a.DTMFPayloadType, a.DTMFClockRate = int(o.pt), o.rate
				break
			}
			if a.DTMFPayloadType < 0 {
				a.DTMFPayloadType, a.DTMFClockRate = int(o.pt), o.rate
			}
		}
	}
	e, err := endpointOf(sd, md)
	if err != nil {
		return Audio{}, err
	}
	a.Remote, a.RemoteRTCP, a.RTCPMux, a.Hold, a.Direction = e.remote, e.remoteRTCP, e.mux, e.hold, e.dir
	return a, nil
}

type mediaProfile int

const (
	profOther  mediaProfile = iota
	profPlain               // RTP/AVP, RTP/AVPF
	profSecure              // RTP/SAVP, RTP/SAVPF (RFC 3711 section 12, RFC 5124)
)

func profileOf(protos []string) mediaProfile {
	switch strings.ToUpper(strings.Join(protos, "/")) {
	case "RTP/AVP", "RTP/AVPF":
		return profPlain
	case "RTP/SAVP", "RTP/SAVPF":
		return profSecure
	}
	return profOther
}

type offeredFormat struct {
	pt   uint8
	name string
	rate uint32
}

// payloadTypes lists the offered formats in offer order with their rtpmap,
// falling back to the static table of RFC 3551 for 0, 8 and 9.
func payloadTypes(md *psdp.MediaDescription) []offeredFormat {
	maps := map[uint8]offeredFormat{}
	for _, at := range md.Attributes {
		if at.Key != "rtpmap" {
			continue
		}
		// rtpmap:<pt> <name>/<rate>[/<channels>]
		sp := strings.IndexByte(at.Value, ' ')
		if sp < 0 {
			continue
		}
		pt, err := strconv.Atoi(at.Value[:sp])
		if err != nil || pt < 0 || pt > 127 {
			continue
		}
		enc := strings.Split(strings.TrimSpace(at.Value[sp+1:]), "/")
		if len(enc) < 2 {
			continue
		}
		rate, err := strconv.ParseUint(enc[1], 10, 32)
		if err != nil {
			continue
		}
		maps[uint8(pt)] = offeredFormat{pt: uint8(pt), name: enc[0], rate: uint32(rate)}
	}
	var out []offeredFormat
	for _, f := range md.MediaName.Formats {
		pt, err := strconv.Atoi(f)
		if err != nil || pt < 0 || pt > 127 {
			continue
		}
		if m, ok := maps[uint8(pt)]; ok {
			out = append(out, m)
			continue
		}
		switch pt {
		case 0:
			out = append(out, offeredFormat{0, "PCMU", 8000})
		case 8:
			out = append(out, offeredFormat{8, "PCMA", 8000})
		case 9:
			out = append(out, offeredFormat{9, "G722", 8000})
		}
	}
	return out
}

func connectionIP(sd *psdp.SessionDescription, md *psdp.MediaDescription) (net.IP, error) {
	ci := md.ConnectionInformation
	if ci == nil {
		ci = sd.ConnectionInformation
	}
	if ci == nil || ci.Address == nil {
		return nil, fmt.Errorf("%w: no connection address (c=) for %s", ErrMalformed, md.MediaName.Media)
	}
	host := ci.Address.Address
	ip := net.ParseIP(host)
	if ip == nil {
		// Hostnames in c= are legal but we do not resolve them on the call path.
		return nil, fmt.Errorf("%w: connection address %q is not an IP address", ErrMalformed, host)
	}
	return ip, nil
}

func direction(sd *psdp.SessionDescription, md *psdp.MediaDescription) Direction {
	if d, ok := directionOf(md.Attributes); ok {
		return d
	}
	if d, ok := directionOf(sd.Attributes); ok {
		return d
	}
	return SendRecv
}

func directionOf(attrs []psdp.Attribute) (Direction, bool) {
	for _, a := range attrs {
		switch a.Key {
		case "sendrecv":
			return SendRecv, true
		case "sendonly":
			return SendOnly, true
		case "recvonly":
			return RecvOnly, true
		case "inactive":
			return Inactive, true
		}
	}
	return SendRecv, false
}

// Answer builds the SDP answer: the chosen audio stream with one codec (and
// telephone-event), the chosen video stream when there is one and
// l.VideoPort is not 0, every other offered stream refused with port 0, in
// the offer's order (RFC 3264 6).
func (n *Negotiation) Answer(l Local) ([]byte, error) {
	sd := newSession(l)
	for i, om := range n.offer.MediaDescriptions {
		if n.Video != nil && i == n.Video.Index && l.VideoPort != 0 {
			sd.MediaDescriptions = append(sd.MediaDescriptions, n.Video.answerMedia(l, om))
			continue
		}
		if i != n.index {
			sd.MediaDescriptions = append(sd.MediaDescriptions, refused(om))
			continue
		}
		md := audioMedia(l, []codec.AudioCodec{n.Audio.Codec}, []uint8{n.Audio.PayloadType}, n.Audio.DTMFPayloadType, n.Audio.DTMFClockRate)
		md.MediaName.Protos = om.MediaName.Protos
		if sp := n.Audio.SRTP; sp != nil {
			// RFC 4568 section 7.1.2: exactly one crypto line, with the
			// offer's tag and suite and our own key.
			md.WithValueAttribute("crypto", cryptoLine(sp.Tag, sp.Suite, sp.LocalKey))
		}
		if n.Audio.RTCPMux {
			md.WithPropertyAttribute("rtcp-mux")
		}
		md.WithPropertyAttribute(n.Audio.Direction.String())
		sd.MediaDescriptions = append(sd.MediaDescriptions, md)
	}
	return sd.Marshal()
}

// Offer builds an SDP offer with every codec of prefs, for an INVITE that
// came without SDP (delayed offer, RFC 3261 13.2.1) or a re-INVITE without
// SDP. The answer comes back in the ACK; read it with ParseAnswer.
// For an encrypted offer use NewOffer, which keeps the keys for the answer.
func Offer(l Local, prefs []codec.AudioCodec, dir Direction) ([]byte, error) {
	p, err := NewOffer(l, prefs, dir)
	if err != nil {
		return nil, err
	}
	return p.Body, nil
}

// offerMedia is the audio stream of our offers: every codec of prefs,
// static payload types where they have one, then telephone-event.
func offerMedia(l Local, prefs []codec.AudioCodec) *psdp.MediaDescription {
	pts := make([]uint8, len(prefs))
	next := uint8(96)
	for i, c := range prefs {
		if c.StaticPT >= 0 {
			pts[i] = uint8(c.StaticPT)
			continue
		}
		pts[i] = next
		next++
	}
	return audioMedia(l, prefs, pts, int(next), 8000)
}

// ParseAnswer reads the answer to one of our plain offers (made with Offer
// from the same prefs). The peer must pick among what we offered. For an
// encrypted offer, or one with video, use PendingOffer.ParseAnswer.
func ParseAnswer(body []byte, prefs []codec.AudioCodec, opts ...Option) (*Negotiation, error) {
	o := newOptions(opts)
	// In an answer, the direction attribute is the peer's; ours is its reverse,
	// exactly as for an offer.
	return negotiate(body, prefs, o, false,
		func(md *psdp.MediaDescription) (*SRTPParams, error) { return chooseCrypto(md, o) },
		func(md *psdp.MediaDescription) (*SRTPParams, error) { return chooseCrypto(md, o) })
}

func newSession(l Local) *psdp.SessionDescription {
	ipType := "IP4"
	if l.IP.To4() == nil {
		ipType = "IP6"
	}
	return &psdp.SessionDescription{
		Version: 0,
		Origin: psdp.Origin{
			Username:       "vmrd",
			SessionID:      l.SessionID,
			SessionVersion: l.Version,
			NetworkType:    "IN",
			AddressType:    ipType,
			UnicastAddress: l.IP.String(),
		},
		SessionName: "vmrd",
		ConnectionInformation: &psdp.ConnectionInformation{
			NetworkType: "IN",
			AddressType: ipType,
			Address:     &psdp.Address{Address: l.IP.String()},
		},
		TimeDescriptions: []psdp.TimeDescription{{Timing: psdp.Timing{}}},
	}
}

func audioMedia(l Local, codecs []codec.AudioCodec, pts []uint8, dtmfPT int, dtmfRate uint32) *psdp.MediaDescription {
	md := &psdp.MediaDescription{
		MediaName: psdp.MediaName{
			Media:  "audio",
			Port:   psdp.RangedPort{Value: l.Port},
			Protos: []string{"RTP", "AVP"},
		},
	}
	for i, c := range codecs {
		pt := strconv.Itoa(int(pts[i]))
		md.MediaName.Formats = append(md.MediaName.Formats, pt)
		md.WithValueAttribute("rtpmap", pt+" "+c.String())
		if strings.EqualFold(c.Name, "opus") {
			// RFC 7587 7: we decode in-band FEC and prefer mono.
			md.WithValueAttribute("fmtp", pt+" minptime=10;useinbandfec=1")
		}
	}
	if dtmfPT >= 0 {
		pt := strconv.Itoa(dtmfPT)
		md.MediaName.Formats = append(md.MediaName.Formats, pt)
		md.WithValueAttribute("rtpmap", pt+" telephone-event/"+strconv.Itoa(int(dtmfRate)))
		md.WithValueAttribute("fmtp", pt+" 0-16")
	}
	md.WithValueAttribute("ptime", "20")
	return md
}

// refused mirrors an offered stream with port 0 (RFC 3264 6: a rejected
// stream keeps its media type and at least one format).
func refused(om *psdp.MediaDescription) *psdp.MediaDescription {
	formats := om.MediaName.Formats
	if len(formats) > 1 {
		formats = formats[:1]
	}
	return &psdp.MediaDescription{
		MediaName: psdp.MediaName{
			Media:   om.MediaName.Media,
			Port:    psdp.RangedPort{Value: 0},
			Protos:  om.MediaName.Protos,
			Formats: formats,
		},
	}
}
