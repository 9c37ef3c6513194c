package service

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vmrd/internal/codec"
	"vmrd/internal/config"
	"vmrd/internal/room"
	"vmrd/mixer/layout"
	"vmrd/mixer/video"
	"vmrd/signaling/sdp"
	sipsig "vmrd/signaling/sip"
)

// periodicKeyframes is the safety net for endpoints that never ask for a
// keyframe (no RTCP feedback, no SIP INFO): after a loss their picture
// repairs itself within this long. Endpoints that ask get one at once.
const periodicKeyframes = 10 * time.Second

// slateText is what a participant who is not in the meeting sees, in the
// room's language.
func slateText(s room.Slate, lang string) string {
	nb := lang != "en"
	switch {
	case s == room.SlatePIN && nb:
		return "Skriv inn PIN-koden"
	case s == room.SlatePIN:
		return "Enter the PIN"
	case s == room.SlateLobby && nb:
		return "Venter på at verten skal slippe deg inn"
	case s == room.SlateLobby:
		return "Waiting for the host to let you in"
	}
	return ""
}

// videoRooms builds and tracks the rooms' compositors.
type videoRooms struct {
	live atomic.Pointer[videoConfig] // replaced on reload
	// bitrate is video.bitrate_kbps from the start: it is in our SDP
	// (b=AS), so a reload cannot raise it under running endpoints.
	bitrate int
	log     *slog.Logger

	mu     sync.Mutex
	active map[*videoRoom]struct{}
	gone   video.Stats // counters of compositors that closed
}

// videoConfig is what rooms' compositors are built from.
type videoConfig struct {
	cfg     *config.Config
	layouts *layout.Set
}

func newVideoRooms(cfg *config.Config, log *slog.Logger) (*videoRooms, error) {
	vc, err := newVideoConfig(cfg)
	if err != nil {
		return nil, err
	}
	vr := &videoRooms{log: log, active: map[*videoRoom]struct{}{}, bitrate: cfg.Video.BitrateKbps * 1000}
	vr.live.Store(vc)
	return vr, nil
}

// newVideoConfig builds the layout set of a configuration.
func newVideoConfig(cfg *config.Config) (*videoConfig, error) {
	var extra []layout.Layout
	for _, l := range cfg.Video.Layouts {
		ll := layout.Layout{Name: l.Name}
		for _, c := range l.Cells {
			ll.Cells = append(ll.Cells, layout.Cell{X: c.X, Y: c.Y, W: c.W, H: c.H, Main: c.Main, Fit: c.Fit})
		}
		extra = append(extra, ll)
	}
	set, err := layout.NewSet(extra...)
	if err != nil {
		return nil, fmt.Errorf("video.layouts: %w", err)
	}
	return &videoConfig{cfg: cfg, layouts: set}, nil
}

// newEncoder makes an encoder group's encoder.
func newEncoder(c codec.VideoCodec, cfg codec.VideoEncoderConfig) (codec.VideoEncoder, error) {
	switch c {
	case codec.H264:
		return codec.NewH264Encoder(cfg)
	case streamCodec:
		return codec.NewH264HighEncoder(cfg)
	}
	return codec.NewVP8Encoder(cfg)
}

// roomPicture is a room's canvas, frame rate and bitrate.
func (vr *videoRooms) roomPicture(n room.Number) sipsig.VideoRoom {
	cfg := vr.live.Load().cfg
	res, fps := cfg.Video.Resolution, cfg.Video.FPS
	if r, ok := cfg.Room(string(n)); ok {
		res, fps = r.Resolution, r.FPS
	}
	w, h, ok := config.ParseResolution(res)
	if !ok {
		w, h = 1280, 720
	}
	return sipsig.VideoRoom{Width: w, Height: h, FPS: fps, Bitrate: vr.bitrate}
}

// sdpPrefs are the video codecs and limits written into SDP.
func (vr *videoRooms) sdpPrefs() sdp.VideoPrefs {
	cfg := vr.live.Load().cfg
	p := sdp.VideoPrefs{MaxBitrate: cfg.Video.BitrateKbps * 1000}
	for _, c := range cfg.Video.Codecs {
		p.Codecs = append(p.Codecs, codec.VideoCodec(c))
	}
	return p
}

// newMixer starts the compositor of a room that became active.
func (vr *videoRooms) newMixer(rs room.Settings) (room.VideoMixer, error) {
	live := vr.live.Load()
	if !live.cfg.VideoEnabled() {
		return nil, nil
	}
	pic := vr.roomPicture(rs.Number)
	m, err := video.New(video.Config{
		Name: "room " + string(rs.Number), Width: pic.Width, Height: pic.Height, FPS: pic.FPS,
		Layout: rs.Layout, Layouts: live.layouts, NewEncoder: newEncoder,
		KeyframeInterval: periodicKeyframes,
		Logger:           vr.log.With("room", string(rs.Number), "component", "compositor"),
	})
	if err != nil {
		return nil, err
	}
	if err := m.Start(); err != nil {
		_ = m.Close()
		return nil, err
	}
	v := &videoRoom{vr: vr, m: m, lang: rs.Language, state: map[room.ParticipantID]videoState{}}
	vr.mu.Lock()
	vr.active[v] = struct{}{}
	vr.mu.Unlock()
	return v, nil
}

// stats sums the counters of every compositor, closed ones included.
func (vr *videoRooms) stats() video.Stats {
	vr.mu.Lock()
	defer vr.mu.Unlock()
	sum := vr.gone
	for v := range vr.active {
		addStats(&sum, v.m.Stats())
	}
	return sum
}

func addStats(sum *video.Stats, s video.Stats) {
	sum.Ticks += s.Ticks
	sum.LateTicks += s.LateTicks
	sum.Groups += s.Groups
	sum.EncodersActive += s.EncodersActive
	sum.FramesEncoded += s.FramesEncoded
	sum.EncodeTime += s.EncodeTime
	sum.EncoderDrops += s.EncoderDrops
	sum.EncodeErrors += s.EncodeErrors
	sum.KeyframesForced += s.KeyframesForced
	sum.KeyframesRequested += s.KeyframesRequested
	sum.FramesDropped += s.FramesDropped
	sum.MacroblocksCoded += s.MacroblocksCoded
	sum.MacroblocksSkipped += s.MacroblocksSkipped
}

// videoState is what the room said about a participant, kept for a leg
// that attaches its video afterwards.
type videoState struct {
	visible bool
	slate   room.Slate
	pin     int // cell + 1; 0 when not pinned
}

// videoRoom is one room's compositor as the room (room.VideoMixer) and
// the SIP legs (attach) see it.
type videoRoom struct {
	vr   *videoRooms
	m    *video.Mixer
	lang string

	// mu orders the room's state changes against attaches, so a leg never
	// starts with a stale slate.
	mu    sync.Mutex
	state map[room.ParticipantID]videoState
}

var _ room.VideoMixer = (*videoRoom)(nil)

func (v *videoRoom) SetVisible(id room.ParticipantID, visible bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	st := v.state[id]
	st.visible = visible
	v.state[id] = st
	_ = v.m.SetVisible(string(id), visible) // not attached yet: applied on attach
}

func (v *videoRoom) SetSlate(id room.ParticipantID, s room.Slate) {
	v.mu.Lock()
	defer v.mu.Unlock()
	st := v.state[id]
	st.slate = s
	v.state[id] = st
	_ = v.m.SetSlate(string(id), slateText(s, v.lang))
}

func (v *videoRoom) Pin(id room.ParticipantID, cell int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	st := v.state[id]
	st.pin = cell + 1
	v.state[id] = st
	_ = v.m.Pin(string(id), cell)
}

func (v *videoRoom) Unpin(id room.ParticipantID) {
	v.mu.Lock()
	defer v.mu.Unlock()
	st := v.state[id]
	st.pin = 0
	v.state[id] = st
	_ = v.m.Unpin(string(id))
}

func (v *videoRoom) SetLayout(name string) error {
	if err := v.m.SetLayout(name); err != nil {
		return fmt.Errorf("%w: %v", room.ErrBadLayout, err)
	}
	return nil
}

func (v *videoRoom) Remove(id room.ParticipantID) {
	v.mu.Lock()
	defer v.mu.Unlock()
	delete(v.state, id)
	_ = v.m.Remove(string(id))
}

// Tile implements room.VideoMixer: a participant with audio and, so far,
// no video is shown as a tile with its name.
func (v *videoRoom) Tile(p *room.Participant) {
	id := string(p.ID())
	v.mu.Lock()
	defer v.mu.Unlock()
	if _, ok := v.m.Input(id); ok || p.Left() {
		return // its video or its tile is there already, or it left
	}
	if _, err := v.m.Add(id, p.DisplayName(), video.Output{}); err == nil {
		v.apply(p)
	}
}

// apply gives a participant's compositor input the state the room gave it
// so far, and its voice activity. Called with v.mu held.
func (v *videoRoom) apply(p *room.Participant) {
	id := string(p.ID())
	st := v.state[p.ID()]
	_ = v.m.SetSlate(id, slateText(st.slate, v.lang))
	_ = v.m.SetVisible(id, st.visible)
	if st.pin > 0 {
		_ = v.m.Pin(id, st.pin-1)
	}
	_ = v.m.SetSpeaking(id, func() bool {
		s, ok := p.Input().(speaker)
		return ok && s.Speaking()
	})
}

func (v *videoRoom) Close() error {
	err := v.m.Close()
	v.vr.mu.Lock()
	delete(v.vr.active, v)
	addStats(&v.vr.gone, v.m.Stats())
	v.vr.gone.Groups, v.vr.gone.EncodersActive = 0, 0 // gauges: nothing of a closed room is active
	v.vr.mu.Unlock()
	return err
}

// speaker is the audio mixer's voice activity, where the input has it.
type speaker interface{ Speaking() bool }

// attach adds a participant's video to the compositor (in the place of
// its name tile, if it has one) with the state the room gave it so far.
func (v *videoRoom) attach(p *room.Participant, out video.Output) (*videoAttachment, error) {
	id := string(p.ID())
	v.mu.Lock()
	defer v.mu.Unlock()
	in, err := v.m.Add(id, p.DisplayName(), out)
	if err != nil {
		return nil, err
	}
	v.apply(p)
	if p.Left() {
		// The room removed the participant while we attached.
		_ = v.m.Remove(id)
		return nil, room.ErrGone
	}
	return &videoAttachment{v: v, p: p, id: id, in: in}, nil
}

// AttachVideo implements sipsig.VideoRooms.
func (vr *videoRooms) AttachVideo(p *room.Participant, out video.Output) (sipsig.VideoAttachment, error) {
	v, ok := p.Video().(*videoRoom)
	if !ok {
		return nil, fmt.Errorf("room %s has no compositor", p.Room())
	}
	return v.attach(p, out)
}

// videoAttachment is one leg's place in its room's compositor.
type videoAttachment struct {
	v  *videoRoom
	p  *room.Participant
	id string
	in *video.Input
}

func (a *videoAttachment) WriteFrame(f *codec.Frame) { a.in.WriteFrame(f) }
func (a *videoAttachment) ForceKeyframe()            { _ = a.v.m.ForceKeyframe(a.id) }
func (a *videoAttachment) SetBitrate(bps int)        { _ = a.v.m.SetBitrate(a.id, bps) }

// Detach takes the leg's video out of the compositor. A participant still
// in the room (its video ended, its audio goes on) turns back into its name
// tile in the same cell; the room's own Remove, when the participant
// leaves, takes that. Calls that end leave the room first, so that nobody
// sees a tile flash up for a caller hanging up.
func (a *videoAttachment) Detach() {
	v := a.v
	v.mu.Lock()
	defer v.mu.Unlock()
	if in, ok := v.m.Input(a.id); !ok || in != a.in {
		return // removed already
	}
	if _, known := v.state[a.p.ID()]; known && !a.p.Left() && a.p.Input() != nil {
		_ = v.m.ToTile(a.id) // same cell, same state
		return
	}
	_ = v.m.Remove(a.id)
}

// videoCollector exports the compositors' counters at scrape time.
type videoCollector struct{ vr *videoRooms }

var (
	descVideoEncoders   = prometheus.NewDesc("vmrd_video_encoders_active", "Video encoders running now (one per encoder group).", nil, nil)
	descVideoFrames     = prometheus.NewDesc("vmrd_video_frames_encoded_total", "Composed frames encoded.", nil, nil)
	descVideoEncodeSecs = prometheus.NewDesc("vmrd_video_encode_seconds_total", "Time spent encoding composed frames; divided by vmrd_video_frames_encoded_total it is the mean encode time.", nil, nil)
	descVideoKeyframes  = prometheus.NewDesc("vmrd_video_keyframes_total", "Keyframes: forced on our encoders (receivers asked, members joined) and requested from senders (PLI/FIR upstream).", []string{"direction"}, nil)
	descVideoDropped    = prometheus.NewDesc("vmrd_video_frames_dropped_total", "Frames dropped: input pictures replaced before use, frames our encoders' rate control skipped.", []string{"reason"}, nil)
	descVideoErrors     = prometheus.NewDesc("vmrd_video_encode_errors_total", "Failed encodes, encoder creations and packetizations.", nil, nil)
	descVideoLateTicks  = prometheus.NewDesc("vmrd_video_late_ticks_total", "Compositor ticks that started more than half a frame late (overload).", nil, nil)
	descVideoTicks      = prometheus.NewDesc("vmrd_video_ticks_total", "Compositor ticks; per room the rate is the room's frame rate.", nil, nil)
	descVideoMBs        = prometheus.NewDesc("vmrd_video_macroblocks_total", "16x16 macroblocks of VP8 frames: coded, or skipped because that part of the canvas did not change.", []string{"state"}, nil)
)

func (c videoCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descVideoEncoders, descVideoFrames, descVideoEncodeSecs, descVideoKeyframes,
		descVideoDropped, descVideoErrors, descVideoLateTicks, descVideoTicks, descVideoMBs} {
		ch <- d
	}
}

func (c videoCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.vr.stats()
	ch <- prometheus.MustNewConstMetric(descVideoEncoders, prometheus.GaugeValue, float64(s.EncodersActive))
	ch <- prometheus.MustNewConstMetric(descVideoFrames, prometheus.CounterValue, float64(s.FramesEncoded))
	ch <- prometheus.MustNewConstMetric(descVideoEncodeSecs, prometheus.CounterValue, s.EncodeTime.Seconds())
	ch <- prometheus.MustNewConstMetric(descVideoKeyframes, prometheus.CounterValue, float64(s.KeyframesForced), "sent")
	ch <- prometheus.MustNewConstMetric(descVideoKeyframes, prometheus.CounterValue, float64(s.KeyframesRequested), "asked")
	ch <- prometheus.MustNewConstMetric(descVideoDropped, prometheus.CounterValue, float64(s.FramesDropped), "input_replaced")
	ch <- prometheus.MustNewConstMetric(descVideoDropped, prometheus.CounterValue, float64(s.EncoderDrops), "encoder_skipped")
	ch <- prometheus.MustNewConstMetric(descVideoErrors, prometheus.CounterValue, float64(s.EncodeErrors))
	ch <- prometheus.MustNewConstMetric(descVideoLateTicks, prometheus.CounterValue, float64(s.LateTicks))
	ch <- prometheus.MustNewConstMetric(descVideoTicks, prometheus.CounterValue, float64(s.Ticks))
	ch <- prometheus.MustNewConstMetric(descVideoMBs, prometheus.CounterValue, float64(s.MacroblocksCoded), "coded")
	ch <- prometheus.MustNewConstMetric(descVideoMBs, prometheus.CounterValue, float64(s.MacroblocksSkipped), "skipped")
}
