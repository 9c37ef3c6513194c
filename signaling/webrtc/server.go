// Package webrtc lets browsers join rooms: a WebSocket carries the
// signaling (a join by control API token, then offer/answer and trickled
// ICE candidates), and one pion PeerConnection per participant carries
// DTLS-SRTP media to and from the room's mixers.
package webrtc

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
	"github.com/pion/ice/v4"
	pion "github.com/pion/webrtc/v4"

	"vmrd/internal/codec"
	"vmrd/internal/room"
	"vmrd/mixer/video"
)

// Tokens finds the control API participant a join token names.
type Tokens interface {
	// Member returns the participant holding token in room number, or an
	// error wrapping ErrBadToken.
	Member(number room.Number, token string) (Member, error)
}

// Member is a control API participant that gets media from its leg.
type Member interface {
	ID() room.ParticipantID
	// AttachMedia makes it a media participant (room.Participant.AttachMedia).
	AttachMedia(req room.MediaRequest) (room.AudioInput, error)
	// AttachVideo puts its video into the room's compositor.
	AttachVideo(out video.Output) (VideoAttachment, error)
	// Done is closed when the participant's API session ends (token
	// released or expired, participant gone).
	Done() <-chan struct{}
	// Leave removes the participant from the room and ends its token.
	Leave(reason string)
}

// VideoAttachment is a participant's place in the room's compositor.
type VideoAttachment interface {
	WriteFrame(f *codec.Frame)
	ForceKeyframe()
	SetBitrate(bps int)
	Detach()
}

// Picture is what the room's compositor makes and which codecs it prefers.
type Picture struct {
	Width, Height, FPS, Bitrate int
	// Codecs in the room's order of preference; empty means no video.
	Codecs []codec.VideoCodec
}

// ICEServer is a STUN or TURN server handed to the browser.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// Config builds a Server.
type Config struct {
	Tokens Tokens
	// Picture is a room's video; nil means audio only.
	Picture func(room.Number) Picture
	// Draining reports whether new joins are refused.
	Draining func() bool
	// BindIP is the address of the ICE sockets; empty or unspecified
	// means every interface.
	BindIP string
	// UDPPort is the one UDP port of every peer's media (ICE UDP mux);
	// 0 takes an ephemeral port (tests).
	UDPPort int
	// TCPPort, when above 0, adds ICE-TCP (RFC 6544) passive candidates on
	// that port, for browsers behind firewalls that block UDP.
	TCPPort int
	// PublicIPs replace the host candidates' addresses (1:1 NAT).
	PublicIPs []string
	// ICEServers go to the browser in the config message.
	ICEServers []ICEServer
	// ICEServersFor, when set, gives them per participant instead (TURN
	// credentials of its own, see internal/service).
	ICEServersFor func(participant string) []ICEServer
	// IncludeLoopback offers loopback candidates (tests on one host).
	IncludeLoopback bool
	// JoinRate and JoinBurst bound new connections per source address.
	JoinRate  float64
	JoinBurst int
	Logger    *slog.Logger
}

// Stats are the server's counters.
type Stats struct {
	LegsActive int64
	// Joins by result: accepted, bad_token, draining, limited,
	// bad_request, failed.
	Joins map[string]uint64
}

// Join results (labels of the joins counter).
const (
	joinAccepted   = "accepted"
	joinBadToken   = "bad_token"
	joinDraining   = "draining"
	joinLimited    = "limited"
	joinBadRequest = "bad_request"
	joinFailed     = "failed"
)

var joinResults = []string{joinAccepted, joinBadToken, joinDraining, joinLimited, joinBadRequest, joinFailed}

// Server serves the media WebSocket and owns the ICE sockets.
type Server struct {
	cfg    Config
	log    *slog.Logger
	se     pion.SettingEngine
	udpMux ice.UDPMux
	tcpMux *ice.TCPMuxDefault
	tcpLn  net.Listener
	limit  *sourceLimiter
	// joinTimeout is joinTimeout; tests shorten it.
	joinTimeout time.Duration

	active atomic.Int64
	joins  map[string]*atomic.Uint64

	mu     sync.Mutex
	closed bool
	conns  map[*signal]struct{}
	wg     sync.WaitGroup
}

// New binds the ICE sockets.
func New(cfg Config) (*Server, error) {
	if cfg.Tokens == nil {
		return nil, errors.New("webrtc: no Tokens")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.JoinRate <= 0 {
		cfg.JoinRate = 2
	}
	if cfg.JoinBurst <= 0 {
		cfg.JoinBurst = 20
	}
	s := &Server{cfg: cfg, log: cfg.Logger, conns: map[*signal]struct{}{},
		limit: newSourceLimiter(cfg.JoinRate, cfg.JoinBurst), joins: map[string]*atomic.Uint64{},
		joinTimeout: joinTimeout}
	for _, r := range joinResults {
		s.joins[r] = &atomic.Uint64{}
	}
	if err := s.listen(); err != nil {
		return nil, err
	}
	return s, nil
}

// listen opens the UDP mux and the ICE-TCP listener and prepares the
// setting engine every PeerConnection shares.
func (s *Server) listen() error {
	logs := pionLogs{s.log}
	bind := net.ParseIP(s.cfg.BindIP)
	if bind != nil && !bind.IsUnspecified() {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: bind, Port: s.cfg.UDPPort})
		if err != nil {
			return fmt.Errorf("webrtc udp port: %w", err)
		}
		s.udpMux = ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: conn, Logger: logs.NewLogger("udpmux")})
	} else {
		opts := []ice.UDPMuxFromPortOption{ice.UDPMuxFromPortWithNetworks(ice.NetworkTypeUDP4),
			ice.UDPMuxFromPortWithLogger(logs.NewLogger("udpmux"))}
		if s.cfg.IncludeLoopback {
			opts = append(opts, ice.UDPMuxFromPortWithLoopback())
		}
		m, err := ice.NewMultiUDPMuxFromPort(s.cfg.UDPPort, opts...)
		if err != nil {
			return fmt.Errorf("webrtc udp port: %w", err)
		}
		s.udpMux = m
	}
	se := pion.SettingEngine{LoggerFactory: logs}
	se.SetICEUDPMux(s.udpMux)
	networks := []pion.NetworkType{pion.NetworkTypeUDP4}
	if s.cfg.TCPPort > 0 {
		ip := bind
		if ip == nil {
			ip = net.IPv4zero
		}
		ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: ip, Port: s.cfg.TCPPort})
		if err != nil {
			_ = s.udpMux.Close()
			return fmt.Errorf("webrtc tcp port: %w", err)
		}
		s.tcpLn = ln
		// A write buffer makes a slow TCP peer drop packets instead of
		// blocking the writers (the mixers' ticks).
		s.tcpMux = ice.NewTCPMuxDefault(ice.TCPMuxParams{Listener: ln, Logger: logs.NewLogger("tcpmux"), ReadBufferSize: 32, WriteBufferSize: 4 << 20})
		se.SetICETCPMux(s.tcpMux)
		networks = append(networks, pion.NetworkTypeTCP4)
	}
	se.SetNetworkTypes(networks)
	se.DisableActiveTCP(true)
	se.SetIncludeLoopbackCandidate(s.cfg.IncludeLoopback)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if len(s.cfg.PublicIPs) > 0 {
		se.SetNAT1To1IPs(s.cfg.PublicIPs, pion.ICECandidateTypeHost)
	}
	// A browser that went away without a word is noticed within ~15 s.
	se.SetICETimeouts(5*time.Second, 15*time.Second, 2*time.Second)
	s.se = se
	s.log.Info("webrtc listening", "udp", s.udpAddrs(), "tcp", s.cfg.TCPPort)
	return nil
}

func (s *Server) udpAddrs() []string {
	var out []string
	for _, a := range s.udpMux.GetListenAddresses() {
		out = append(out, a.String())
	}
	return out
}

// UDPAddrs are the bound ICE UDP addresses.
func (s *Server) UDPAddrs() []string { return s.udpAddrs() }

// Stats returns the counters.
func (s *Server) Stats() Stats {
	st := Stats{LegsActive: s.active.Load(), Joins: map[string]uint64{}}
	for k, v := range s.joins {
		st.Joins[k] = v.Load()
	}
	return st
}

func (s *Server) count(result string) { s.joins[result].Add(1) }

// ServeHTTP upgrades GET .../conferences/{number}/media to the signaling
// WebSocket.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	number := r.PathValue("number")
	src := sourceOf(r)
	if !s.limit.allow(src, time.Now()) {
		s.count(joinLimited)
		http.Error(w, "too many requests", http.StatusTooManyRequests)
		return
	}
	if number == "" || len(number) > 128 {
		s.count(joinBadRequest)
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	up := ws.HTTPUpgrader{Timeout: writeTimeout}
	c, _, _, err := up.Upgrade(r, w)
	if err != nil {
		s.count(joinBadRequest)
		return // the upgrader answered with 400 or the like
	}
	// The HTTP server's deadlines belong to requests, not to this socket.
	_ = c.SetDeadline(time.Time{})
	sig := &signal{s: s, ws: newWSConn(c), number: room.Number(number), source: src,
		log: s.log.With("room", number, "source", src), rate: newBucket(msgRate, msgBurst, time.Now())}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		sig.ws.send(message{Type: typeError, Message: ErrClosed.Error()})
		sig.ws.close()
		sig.ws.wait()
		return
	}
	s.conns[sig] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		sig.run()
		s.mu.Lock()
		delete(s.conns, sig)
		s.mu.Unlock()
	}()
}

// Close ends every leg (the participants leave) and releases the ports.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	conns := make([]*signal, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.end("service shutting down", true)
	}
	s.wg.Wait()
	var errs []error
	errs = append(errs, s.udpMux.Close())
	if s.tcpMux != nil {
		errs = append(errs, s.tcpMux.Close())
	}
	return errors.Join(errs...)
}

// sourceOf is the request's peer IP address.
func sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
