// Package service is vmrd's composition root: it builds every part from the
// configuration, starts them in order and stops them in reverse.
package service

import (
	"context"
	"crypto/tls"
	"net/netip"
	"slices"
	"time"

	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"vmrd/configs"
	"vmrd/internal/pin"

	"vmrd/internal/api"
	"vmrd/internal/codec"
	"vmrd/internal/config"
	"vmrd/internal/media"
	"vmrd/internal/metrics"
	"vmrd/internal/room"
	"vmrd/internal/stream"
	"vmrd/mixer/audio"
	"vmrd/signaling/sdp"
	sipsig "vmrd/signaling/sip"
	webrtcsig "vmrd/signaling/webrtc"
)

// Service is a running vmrd.
type Service struct {
	cfg      *config.Config
	log      *slog.Logger
	metrics  *metrics.Metrics
	rooms    *room.Manager
	sip      *sipsig.Server
	webrtc   *webrtcsig.Server // nil unless browsers may join with media
	http     *api.Server
	client   *api.ClientAPI
	audit    *auditLog
	pins     *pin.Verifier
	certs    *certStore
	verifier *verifier
	// live is the configuration rooms are built from; SIGHUP replaces it
	// (Reload). s.cfg stays the one the process started with: listeners,
	// ports and limits change only with a restart.
	live     atomic.Pointer[config.Config]
	video    *videoRooms
	streams  *streamTotals
	ready    atomic.Bool
	draining atomic.Bool
}

// New builds vmrd from a validated configuration. Nothing listens yet.
func New(cfg *config.Config, log *slog.Logger, version string) (*Service, error) {
	s := &Service{cfg: cfg, log: log, metrics: metrics.New()}
	s.live.Store(cfg)

	lo, hi := cfg.Media.PortRange()
	bind := net.ParseIP(cfg.Media.BindIP)
	ports, err := media.NewPortAllocator(bind, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("media ports: %w", err)
	}
	rules, err := pinRules(cfg)
	if err != nil {
		return nil, err
	}
	if s.audit, err = openAudit(cfg.Audit.Path, log); err != nil {
		return nil, err
	}
	var allow []netip.Prefix
	for _, a := range cfg.Security.PIN.AllowSources {
		if p, err := config.ParseSource(a); err == nil {
			allow = append(allow, p)
		}
	}
	s.pins = pin.NewVerifier(pin.Config{
		RoomFailures:        cfg.Security.PIN.RoomFailures,
		SourceFailures:      cfg.Security.PIN.SourceFailures,
		Window:              cfg.Security.PIN.Window,
		Block:               cfg.Security.PIN.Block,
		AllowList:           allow,
		MaxConcurrentHashes: cfg.Security.PIN.MaxConcurrentHashes,
		OnEvent:             s.audit.PIN,
	})
	s.metrics.Registry().MustRegister(pinCollector{s.pins})
	s.verifier = &verifier{v: s.pins}
	s.verifier.rules.Store(&rules)
	if s.video, err = newVideoRooms(cfg, log.With("component", "video")); err != nil {
		return nil, err
	}
	s.metrics.Registry().MustRegister(videoCollector{s.video})
	s.streams = &streamTotals{active: map[*stream.Publisher]struct{}{}}
	s.metrics.Registry().MustRegister(streamCollector{s.streams})
	s.rooms = room.NewManager(room.Config{
		Lookup:         s.lookupRoom,
		NewMixer:       s.newMixer,
		NewVideoMixer:  s.video.newMixer,
		NewStreamer:    s.newStreamer,
		Verifier:       s.verifier,
		UnknownAsDecoy: cfg.Security.UnknownRooms != "reject",
		Audit:          s.audit.Room,
		Metrics:        s.metrics,
		Logger:         log,
	})

	mediaIP := net.ParseIP(cfg.Media.PublicIP)
	if mediaIP == nil && bind != nil && !bind.IsUnspecified() {
		mediaIP = bind
	}
	ua := cfg.SIP.UserAgent
	if ua == "" {
		ua = "vmrd/" + version
	}
	var sipAllow []netip.Prefix
	for _, a := range cfg.SIP.Limits.AllowSources {
		if p, err := config.ParseSource(a); err == nil {
			sipAllow = append(sipAllow, p)
		}
	}
	l := cfg.SIP.Limits
	limits := &sipsig.Limits{
		InviteRate: l.InviteRate, InviteBurst: l.InviteBurst,
		OptionsRate: l.OptionsRate, OptionsBurst: l.OptionsBurst,
		RequestRate: l.RequestRate, RequestBurst: l.RequestBurst,
		CallsPerSource: l.CallsPerSource, Allow: sipAllow,
		DropUserAgents: slices.Clone(l.DropUserAgents),
	}
	var tlsConf *tls.Config
	if cfg.SIP.TLS.CertFile != "" {
		if s.certs, err = newCertStore(cfg.SIP.TLS.CertFile, cfg.SIP.TLS.KeyFile); err != nil {
			return nil, err
		}
		tlsConf = s.certs.config()
	}
	var listeners []sipsig.Listener
	for _, l := range cfg.SIP.Listeners() {
		listeners = append(listeners, sipsig.Listener{Transport: l.Transport, Addr: l.Addr})
	}
	var sipVideo *sipsig.VideoConfig
	if cfg.VideoEnabled() {
		sipVideo = &sipsig.VideoConfig{Prefs: s.video.sdpPrefs(), Room: s.video.roomPicture, Rooms: s.video}
	}
	s.sip, err = sipsig.New(sipsig.Config{
		Listeners:      listeners,
		UserAgent:      ua,
		Codecs:         s.roomCodecs,
		Rooms:          s.rooms,
		Prompt:         configs.Prompt,
		Ports:          ports,
		MediaIP:        mediaIP,
		SignalingIP:    net.ParseIP(cfg.Media.PublicIP),
		NoRTPTimeout:   cfg.SIP.NoRTPTimeout,
		SessionExpires: cfg.SIP.SessionExpires,
		MinSE:          cfg.SIP.MinSE,
		AnswerDelay:    cfg.SIP.AnswerDelay,
		Limits:         limits,
		TLS:            tlsConf,
		Encryption:     s.roomEncryption,
		SRTPOverPlain:  cfg.Media.SRTPOverPlainSIP,
		JitterMin:      cfg.Media.JitterMin,
		JitterMax:      cfg.Media.JitterMax,
		Video:          sipVideo,
		Metrics:        s.metrics,
		Logger:         log.With("component", "sip"),
	})
	if err != nil {
		return nil, err
	}
	if cfg.HTTP.Enabled() {
		s.client = api.NewClientAPI(api.ClientConfig{
			Rooms:    apiRooms{s.rooms},
			TokenTTL: cfg.API.TokenTTL,
			Draining: s.draining.Load,
			Logger:   log.With("component", "api"),
		})
		var media http.Handler
		if cfg.WebRTCEnabled() {
			if s.webrtc, err = s.newWebRTC(); err != nil {
				s.client.Close()
				_ = s.sip.Close()
				_ = s.rooms.Close()
				_ = s.audit.Close()
				return nil, fmt.Errorf("webrtc: %w", err)
			}
			media = s.webrtc
		}
		s.http = api.New(api.Config{
			Listen:   cfg.HTTP.Listen,
			Registry: s.metrics.Registry(),
			Ready:    s.ready.Load,
			Client:   s.client.Handler(),
			Media:    media,
			Logger:   log.With("component", "http"),
		})
	}
	return s, nil
}

func (s *Service) lookupRoom(n room.Number) (room.Settings, bool) {
	cfg := s.current()
	r, ok := cfg.Room(string(n))
	if !ok {
		return room.Settings{}, false
	}
	return roomSettings(cfg, r), true
}

// roomEncryption is a room's SRTP policy. An unknown number gets what a
// PIN room gets, so that the decoy answers alike.
func (s *Service) roomEncryption(n room.Number) sdp.Policy {
	cfg := s.current()
	r, ok := cfg.Room(string(n))
	if !ok {
		r = &config.Room{Type: config.RoomPIN}
	}
	p, err := sdp.ParsePolicy(cfg.RoomEncryption(r))
	if err != nil {
		return sdp.EncryptionRequired // validated at start; never weaker by accident
	}
	return p
}

func (s *Service) roomCodecs(n room.Number) []codec.AudioCodec {
	cfg := s.current()
	r, ok := cfg.Room(string(n))
	names := cfg.Audio.Codecs
	if ok && len(r.Codecs) > 0 {
		names = r.Codecs
	}
	out := make([]codec.AudioCodec, 0, len(names))
	for _, name := range names {
		if c, ok := codec.LookupAudio(string(name), 0); ok {
			out = append(out, c)
		}
	}
	return out
}

// newMixer starts the audio mixer of a room that became active.
func (s *Service) newMixer(rs room.Settings) (room.Mixer, error) {
	m := audio.New(audio.Config{
		Name:       "room " + string(rs.Number),
		Metrics:    s.metrics,
		Logger:     s.log.With("room", string(rs.Number), "component", "mixer"),
		NewEncoder: audioEncoder,
	})
	if err := m.Start(); err != nil {
		return nil, err
	}
	return mixerAdapter{m: m, log: s.log.With("room", string(rs.Number))}, nil
}

// Start opens the listeners. If any fails, what started is stopped again.
func (s *Service) Start() error {
	if s.http != nil {
		if err := s.http.Start(); err != nil {
			return err
		}
	}
	if err := s.sip.Start(); err != nil {
		if s.http != nil {
			_ = s.http.Close()
		}
		return err
	}
	s.ready.Store(true)
	s.log.Info("vmrd ready", "rooms", len(s.cfg.Rooms))
	return nil
}

// Metrics exposes the registry owner (for tests).
func (s *Service) Metrics() *metrics.Metrics { return s.metrics }

// Drain stops taking new calls and control API participants (readyz turns
// 503, OPTIONS and INVITE get 503 with Retry-After) and waits until the
// calls in progress have ended or ctx ends. Close then ends what is left.
func (s *Service) Drain(ctx context.Context) {
	s.ready.Store(false)
	s.draining.Store(true)
	s.sip.Drain()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for s.sip.Calls() > 0 || s.webrtcLegs() > 0 {
		select {
		case <-ctx.Done():
			s.log.Info("drain deadline reached", "calls", s.sip.Calls(), "webrtc_legs", s.webrtcLegs())
			return
		case <-t.C:
		}
	}
	s.log.Info("drained: no calls left")
}

// webrtcLegs is the number of browsers with media.
func (s *Service) webrtcLegs() int64 {
	if s.webrtc == nil {
		return 0
	}
	return s.webrtc.Stats().LegsActive
}

// Close hangs up every call and stops everything, in reverse order of start.
func (s *Service) Close() error {
	s.ready.Store(false)
	var errs []error
	if s.webrtc != nil {
		errs = append(errs, s.webrtc.Close()) // browsers get a bye; their participants leave
	}
	if s.client != nil {
		s.client.Close() // ends event streams and removes API participants' sessions
	}
	errs = append(errs, s.sip.Close())
	errs = append(errs, s.rooms.Close())
	errs = append(errs, s.audit.Close())
	if s.http != nil {
		errs = append(errs, s.http.Close())
	}
	return errors.Join(errs...)
}
