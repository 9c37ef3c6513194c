package service

import (
	"fmt"
	"net"

	"github.com/prometheus/client_golang/prometheus"

	"vmrd/internal/api"
	"vmrd/internal/room"
	"vmrd/mixer/video"
	webrtcsig "vmrd/signaling/webrtc"
)

// newWebRTC builds the browsers' media endpoint from the configuration:
// one UDP port (and optionally ICE-TCP) on media.bind_ip, announced as
// media.public_ip.
func (s *Service) newWebRTC() (*webrtcsig.Server, error) {
	cfg := s.cfg
	w := cfg.WebRTC
	var servers []webrtcsig.ICEServer
	for _, is := range w.ICEServers {
		servers = append(servers, webrtcsig.ICEServer{URLs: is.URLs, Username: is.Username, Credential: is.Credential})
	}
	var public []string
	if ip := net.ParseIP(cfg.Media.PublicIP); ip != nil {
		public = []string{ip.String()}
	}
	srv, err := webrtcsig.New(webrtcsig.Config{
		Tokens:          webrtcTokens{client: s.client, video: s.video},
		Picture:         s.webrtcPicture,
		Draining:        s.draining.Load,
		BindIP:          cfg.Media.BindIP,
		UDPPort:         w.UDPPort,
		TCPPort:         w.TCPPort,
		PublicIPs:       public,
		ICEServers:      servers,
		IncludeLoopback: w.IncludeLoopback,
		Logger:          s.log.With("component", "webrtc"),
	})
	if err != nil {
		return nil, err
	}
	s.metrics.Registry().MustRegister(webrtcCollector{srv})
	return srv, nil
}

// webrtcPicture is a room's video as a browser's leg needs it.
func (s *Service) webrtcPicture(n room.Number) webrtcsig.Picture {
	if !s.cfg.VideoEnabled() {
		return webrtcsig.Picture{}
	}
	r := s.video.roomPicture(n)
	return webrtcsig.Picture{Width: r.Width, Height: r.Height, FPS: r.FPS, Bitrate: r.Bitrate,
		Codecs: s.video.sdpPrefs().Codecs}
}

// webrtcTokens finds the API participant of a browser's join token.
type webrtcTokens struct {
	client *api.ClientAPI
	video  *videoRooms
}

func (t webrtcTokens) Member(number room.Number, token string) (webrtcsig.Member, error) {
	ms, err := t.client.MediaSession(string(number), token)
	if err != nil {
		return nil, err
	}
	p, ok := ms.Actor.(*room.Participant)
	if !ok {
		return nil, fmt.Errorf("%w: not a room participant", webrtcsig.ErrBadToken)
	}
	return &webrtcMember{p: p, ms: ms, video: t.video}, nil
}

// webrtcMember is an API participant that a browser gives media.
type webrtcMember struct {
	p     *room.Participant
	ms    api.MediaSession
	video *videoRooms
}

func (m *webrtcMember) ID() room.ParticipantID { return m.p.ID() }
func (m *webrtcMember) AttachMedia(req room.MediaRequest) (room.AudioInput, error) {
	return m.p.AttachMedia(req)
}
func (m *webrtcMember) AttachVideo(out video.Output) (webrtcsig.VideoAttachment, error) {
	a, err := m.video.AttachVideo(m.p, out)
	if err != nil {
		return nil, err
	}
	return a, nil
}
func (m *webrtcMember) Done() <-chan struct{} { return m.ms.Done }

// Leave ends the token's session: the participant leaves, and its token
// dies with the leg.
func (m *webrtcMember) Leave(reason string) { m.ms.End(reason) }

// webrtcCollector exports the browsers' legs and joins at scrape time.
type webrtcCollector struct{ s *webrtcsig.Server }

var (
	descWebRTCLegs  = prometheus.NewDesc("vmrd_webrtc_legs_active", "Browser (WebRTC) legs with media now.", nil, nil)
	descWebRTCJoins = prometheus.NewDesc("vmrd_webrtc_joins_total", "Browser media joins by result: accepted, bad_token, draining, limited, bad_request, failed.", []string{"result"}, nil)
)

func (c webrtcCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descWebRTCLegs
	ch <- descWebRTCJoins
}

func (c webrtcCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Stats()
	ch <- prometheus.MustNewConstMetric(descWebRTCLegs, prometheus.GaugeValue, float64(st.LegsActive))
	for result, n := range st.Joins {
		ch <- prometheus.MustNewConstMetric(descWebRTCJoins, prometheus.CounterValue, float64(n), result)
	}
}
