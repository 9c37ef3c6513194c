package service

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"vmrd/internal/api"
	"vmrd/internal/config"
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
	servers, err := iceServers(w.ICEServers, time.Now)
	if err != nil {
		return nil, err
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
		ICEServersFor:   servers,
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

// iceServers returns what each browser is handed: the configured STUN and
// TURN servers, with a credential of its own for each TURN server that has
// a secret_file. Those follow the TURN REST scheme coturn implements as
// use-auth-secret (draft-uberti-behave-turn-rest-00 section 2.2): the
// username is the expiry time in Unix seconds, a colon and the
// participant, and the password is the base64 HMAC-SHA1 of the username
// under the shared secret. The TURN server checks it without asking vmrd,
// and a copied credential stops working when it expires.
func iceServers(list []config.ICEServer, now func() time.Time) (func(participant string) []webrtcsig.ICEServer, error) {
	type entry struct {
		server webrtcsig.ICEServer
		secret []byte
		ttl    time.Duration
	}
	var entries []entry
	for i, is := range list {
		e := entry{server: webrtcsig.ICEServer{URLs: is.URLs, Username: is.Username, Credential: is.Credential}}
		if is.SecretFile != "" {
			b, err := os.ReadFile(is.SecretFile)
			if err != nil {
				return nil, fmt.Errorf("webrtc.ice_servers[%d].secret_file: %w", i, err)
			}
			e.secret = []byte(strings.TrimSpace(string(b)))
			if len(e.secret) == 0 {
				return nil, fmt.Errorf("webrtc.ice_servers[%d].secret_file %s is empty", i, is.SecretFile)
			}
			e.ttl = cmp.Or(is.CredentialTTL, config.DefaultTURNCredentialTTL)
		}
		entries = append(entries, e)
	}
	return func(participant string) []webrtcsig.ICEServer {
		out := make([]webrtcsig.ICEServer, 0, len(entries))
		for _, e := range entries {
			s := e.server
			if e.secret != nil {
				s.Username, s.Credential = turnCredential(e.secret, now().Add(e.ttl), participant)
			}
			out = append(out, s)
		}
		return out
	}, nil
}

// turnCredential is one TURN REST credential valid until expiry.
func turnCredential(secret []byte, expiry time.Time, participant string) (username, credential string) {
	username = strconv.FormatInt(expiry.Unix(), 10) + ":" + participant
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return username, base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
