package sip

import (
	"errors"
	"fmt"
	"sync"

	"vmrd/internal/codec"
	"vmrd/internal/media"
	"vmrd/internal/room"
	"vmrd/mixer/video"
	"vmrd/signaling/sdp"
)

// VideoConfig is what calls need to carry video; a nil Config.Video means
// audio only (video streams are answered with port 0).
type VideoConfig struct {
	// Prefs are the codecs in preference order, our receive limits and the
	// bitrate cap written into SDP.
	Prefs sdp.VideoPrefs
	// Room returns a room's composed picture: canvas size, frame rate and
	// bitrate (bits per second).
	Room func(room.Number) VideoRoom
	// Rooms attaches calls to their rooms' compositors.
	Rooms VideoRooms
}

// VideoRoom is a room's picture as the SIP leg needs it.
type VideoRoom struct {
	Width, Height, FPS, Bitrate int
}

// VideoRooms connects a participant's video to its room's compositor
// (internal/service implements it).
type VideoRooms interface {
	AttachVideo(p *room.Participant, out video.Output) (VideoAttachment, error)
}

// VideoAttachment is a participant's place in the compositor.
type VideoAttachment interface {
	// WriteFrame takes a decoded picture from the participant.
	WriteFrame(f *codec.Frame)
	// ForceKeyframe asks the encoder whose pictures the participant
	// receives for a keyframe (the compositor rate-limits it).
	ForceKeyframe()
	// SetBitrate passes on the receiver's estimate (REMB, TMMBR).
	SetBitrate(bps int)
	// Detach leaves the compositor.
	Detach()
}

// videoLeg is a call's video stream: its RTP session and its attachment
// to the room's compositor. The session's receive goroutine calls
// WriteFrame; signaling starts, updates and stops it.
type videoLeg struct {
	c    *call
	sess *media.VideoSession

	mu  sync.Mutex
	att VideoAttachment
	neg *sdp.Video
}

// WriteFrame implements media.FrameWriter.
func (v *videoLeg) WriteFrame(f *codec.Frame) {
	v.mu.Lock()
	att := v.att
	v.mu.Unlock()
	if att != nil {
		att.WriteFrame(f)
	}
}

func (v *videoLeg) forceKeyframe() {
	v.mu.Lock()
	att := v.att
	v.mu.Unlock()
	if att != nil {
		att.ForceKeyframe()
	}
}

func (v *videoLeg) setBitrate(bps int) {
	v.mu.Lock()
	att := v.att
	v.mu.Unlock()
	if att != nil {
		att.SetBitrate(bps)
	}
}

// bitrateTiers are the encoder bitrates participants are rounded down
// to, so that endpoints with slightly different b=AS still share an
// encoder group.
var bitrateTiers = []int{128_000, 256_000, 384_000, 512_000, 768_000, 1_024_000, 1_536_000, 2_048_000, 3_072_000, 4_096_000, 6_144_000, 8_192_000}

func bitrateTier(bps int) int {
	t := bitrateTiers[0]
	for _, b := range bitrateTiers {
		if b <= bps {
			t = b
		}
	}
	return t
}

// pictureSizes are the 16:9 sizes we send, largest first; an endpoint
// gets the largest its SDP limits (level, max-fs, max-mbps) accept and no
// larger than the room's canvas.
var pictureSizes = [][2]int{{1920, 1080}, {1280, 720}, {960, 540}, {640, 360}, {480, 270}, {320, 180}}

// output is what the compositor must send this leg.
func (c *call) videoOutput(v *sdp.Video, sink video.Sink, requestKeyframe func()) video.Output {
	r := c.s.cfg.Video.Room(c.number)
	w, h := pictureSizes[len(pictureSizes)-1][0], pictureSizes[len(pictureSizes)-1][1]
	for _, sz := range pictureSizes {
		if sz[0] <= r.Width && sz[1] <= r.Height && v.Fits(sz[0], sz[1], r.FPS) {
			w, h = sz[0], sz[1]
			break
		}
	}
	bps := r.Bitrate
	if v.MaxBitrate > 0 && v.MaxBitrate < bps {
		bps = v.MaxBitrate
	}
	return video.Output{
		Codec: v.Codec, Width: w, Height: h, Bitrate: bitrateTier(bps),
		PacketizationMode: media.H264PacketizationMode(v.PacketizationMode),
		Sink:              sink, RequestKeyframe: requestKeyframe,
	}
}

func feedbackOf(v *sdp.Video) media.VideoFeedback {
	return media.VideoFeedback{NACK: v.Feedback.NACK, PLI: v.Feedback.PLI, FIR: v.Feedback.FIR,
		REMB: v.Feedback.REMB, TMMBR: v.Feedback.TMMBR}
}

// startVideo makes the video session for a negotiated stream and attaches
// it to the room's compositor. The call's video ports go to the session.
func (c *call) startVideo(v *sdp.Video) error {
	c.videoMu.Lock()
	defer c.videoMu.Unlock()
	return c.startVideoLocked(v)
}

// startVideoLocked is startVideo with c.videoMu held.
func (c *call) startVideoLocked(v *sdp.Video) error {
	if c.videoClosed {
		return errors.New("call ended")
	}
	c.mu.Lock()
	ports, p := c.vports, c.participant
	c.vports = nil
	c.mu.Unlock()
	if ports == nil {
		return errors.New("no video ports")
	}
	leg := &videoLeg{c: c, neg: v}
	sess, err := media.NewVideoSession(media.VideoSessionConfig{
		Ports:             ports,
		Remote:            v.Remote,
		RemoteRTCP:        v.RemoteRTCP,
		Direction:         v.Direction,
		SRTP:              v.SRTP.Config(),
		Codec:             v.Codec,
		PayloadType:       v.PayloadType,
		PacketizationMode: media.H264PacketizationMode(v.PacketizationMode),
		Feedback:          feedbackOf(v),
		NewDecoder:        codec.NewVideoDecoder,
		Sink:              leg,
		OnKeyframeRequest: leg.forceKeyframe,
		OnBitrate:         leg.setBitrate,
		// Endpoints without rtcp-fb pli/ccm fir (older room systems) take
		// RFC 5168 INFO instead.
		RequestKeyframeOutOfBand: c.askFastUpdate,
		Metrics:                  c.s.cfg.Metrics,
		Logger:                   c.log.With("stream", "video"),
	})
	if err != nil {
		ports.Close()
		return fmt.Errorf("video session: %w", err)
	}
	leg.sess = sess
	att, err := c.s.cfg.Video.Rooms.AttachVideo(p, c.videoOutput(v, sess, sess.RequestKeyframe))
	if err != nil {
		_ = sess.Close()
		return fmt.Errorf("attach video: %w", err)
	}
	leg.mu.Lock()
	leg.att = att
	leg.mu.Unlock()
	c.videoLeg.Store(leg)
	c.log.Info("video started", "codec", string(v.Codec), "pipeline", sess.String())
	return nil
}

// updateVideo applies a re-INVITE's video: the stream is kept (a new
// codec or picture size re-attaches it with a new encoder group), started
// when it is new and we still have ports, or stopped when refused.
func (c *call) updateVideo(v *sdp.Video) error {
	c.videoMu.Lock()
	defer c.videoMu.Unlock()
	if c.videoClosed {
		return nil
	}
	leg := c.videoLeg.Load()
	switch {
	case leg == nil && v == nil:
		return nil
	case leg == nil:
		return c.startVideoLocked(v)
	case v == nil:
		c.stopVideoLocked()
		return nil
	}
	if err := leg.sess.Update(media.VideoUpdate{
		Remote: v.Remote, RemoteRTCP: v.RemoteRTCP, Direction: v.Direction,
		Codec: v.Codec, PayloadType: v.PayloadType,
		PacketizationMode: media.H264PacketizationMode(v.PacketizationMode),
		Feedback:          feedbackOf(v), SRTP: v.SRTP.Config(),
	}); err != nil {
		return err
	}
	leg.mu.Lock()
	old := leg.neg
	leg.neg = v
	leg.mu.Unlock()
	if old.Codec == v.Codec && old.PacketizationMode == v.PacketizationMode && old.MaxBitrate == v.MaxBitrate &&
		old.RecvMaxFS == v.RecvMaxFS && old.RecvMaxMBPS == v.RecvMaxMBPS {
		return nil
	}
	// The encoder group depends on codec, size and bitrate: attach anew.
	leg.mu.Lock()
	prev := leg.att
	leg.att = nil
	leg.mu.Unlock()
	if prev != nil {
		prev.Detach()
	}
	att, err := c.s.cfg.Video.Rooms.AttachVideo(c.participant, c.videoOutput(v, leg.sess, leg.sess.RequestKeyframe))
	if err != nil {
		return fmt.Errorf("attach video: %w", err)
	}
	leg.mu.Lock()
	leg.att = att
	leg.mu.Unlock()
	return nil
}

// stopVideo detaches the call's video and closes its session; the port
// pair goes with it, so later offers get video port 0.
func (c *call) stopVideo() {
	c.videoMu.Lock()
	defer c.videoMu.Unlock()
	c.stopVideoLocked()
}

// closeVideo stops the call's video for good: a start or update racing
// with the call's end finds it closed and starts nothing.
func (c *call) closeVideo() {
	c.videoMu.Lock()
	defer c.videoMu.Unlock()
	c.videoClosed = true
	c.stopVideoLocked()
}

// stopVideoLocked is stopVideo with c.videoMu held.
func (c *call) stopVideoLocked() {
	leg := c.videoLeg.Swap(nil)
	c.mu.Lock()
	ports := c.vports
	c.vports = nil
	c.local.VideoPort = 0
	c.mu.Unlock()
	if ports != nil {
		ports.Close()
	}
	if leg == nil {
		return
	}
	leg.mu.Lock()
	att := leg.att
	leg.att = nil
	leg.mu.Unlock()
	if att != nil {
		att.Detach()
	}
	_ = leg.sess.Close()
}

// videoOptions are the SDP options for video on this server: none when
// video is off.
func (s *Server) videoOptions() []sdp.Option {
	if s.cfg.Video == nil || len(s.cfg.Video.Prefs.Codecs) == 0 {
		return nil
	}
	return []sdp.Option{sdp.WithVideo(s.cfg.Video.Prefs)}
}

// videoPorts allocates the video stream's ports for an offer with video
// we accept, or for a delayed offer (we offer video then). Without ports
// the video is refused and the call goes on with audio.
func (s *Server) videoPorts(neg *sdp.Negotiation, log interface{ Warn(string, ...any) }) *media.Ports {
	if s.cfg.Video == nil || len(s.cfg.Video.Prefs.Codecs) == 0 || (neg != nil && neg.Video == nil) {
		return nil
	}
	withRTCP := neg == nil || !neg.Video.RTCPMux
	ports, err := s.cfg.Ports.Allocate(withRTCP)
	if err != nil {
		log.Warn("no RTP ports left for video; audio only", "err", err)
		if neg != nil {
			neg.DropVideo()
		}
		return nil
	}
	return ports
}

// startNegotiatedVideo starts the video of a first negotiation; a failure
// refuses the video stream in our answer and the call goes on with audio.
func (c *call) startNegotiatedVideo(neg *sdp.Negotiation) {
	if neg.VideoRefused != nil {
		c.log.Info("video refused", "reason", neg.VideoRefused)
	}
	if neg.Video == nil {
		c.stopVideo() // gives back the ports of an offer we made
		return
	}
	if err := c.startVideo(neg.Video); err != nil {
		c.log.Warn("video failed; audio only", "err", err)
		neg.DropVideo()
		c.stopVideo()
	}
}
