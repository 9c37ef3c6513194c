// Package sip is vmrd's SIP user agent server on sipgo: it listens on UDP
// and TCP, turns an INVITE to sip:<number>@host into a join of room
// <number>, negotiates SDP, runs the dialog (ACK, BYE, CANCEL, re-INVITE,
// UPDATE, session timers) and binds the call's RTP session to the room.
package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"vmrd/internal/codec"
	"vmrd/internal/media"
	"vmrd/internal/metrics"
	"vmrd/internal/room"
	"vmrd/signaling/sdp"
)

// Listener is one transport and address to listen on.
type Listener struct {
	Transport string // "udp" or "tcp"
	Addr      string // host:port
}

// Rooms is what the SIP layer needs of the room manager.
type Rooms interface {
	Lookup(room.Number) (room.Settings, bool)
	// Exists reports whether a call to the number is answered (a room, or
	// a decoy that hides which numbers exist).
	Exists(room.Number) bool
	Join(context.Context, room.JoinRequest) (*room.Participant, error)
}

// Config builds a Server.
type Config struct {
	Listeners []Listener
	UserAgent string
	// Codecs returns a room's audio codec preference.
	Codecs func(room.Number) []codec.AudioCodec
	Rooms  Rooms
	Ports  *media.PortAllocator
	// Prompt returns a voice prompt as 48 kHz mono samples (for the
	// "room is full" message played as early media before 486).
	Prompt func(lang, name string) ([]int16, error)
	// MediaIP is written into SDP (media.public_ip, else the bind address,
	// else the address the call came in on).
	MediaIP net.IP
	// SignalingIP is written into Contact when the listener is a wildcard.
	SignalingIP    net.IP
	NoRTPTimeout   time.Duration
	SessionExpires time.Duration
	MinSE          time.Duration
	// AnswerDelay rings (180) this long before answering; 0 answers at once.
	AnswerDelay time.Duration
	// TLS serves tls: listeners; its GetCertificate lets the service swap
	// certificates on reload without restarting listeners.
	TLS *tls.Config
	// Encryption returns a room's SRTP policy (nil: off everywhere).
	Encryption func(room.Number) sdp.Policy
	// SRTPOverPlain allows SDES-SRTP on UDP and TCP calls, where the keys
	// travel in clear; otherwise only TLS calls get SRTP.
	SRTPOverPlain bool
	// Limits are the flood and scanner protections; nil applies none.
	Limits *Limits
	// Video carries calls' video; nil is audio only.
	Video *VideoConfig
	// JitterMin and JitterMax bound the adaptive jitter buffer (0: defaults).
	JitterMin, JitterMax time.Duration
	Metrics              *metrics.Metrics
	Logger               *slog.Logger
}

// Server is the SIP UAS.
type Server struct {
	cfg    Config
	log    *slog.Logger
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	client *sipgo.Client
	guard  *guard

	mu     sync.Mutex
	calls  map[string]*call // by dialog ID
	closed bool
	// draining: new calls and OPTIONS get 503 (a load balancer's probe
	// moves traffic away); calls in progress go on.
	draining atomic.Bool
	lim      *limiter

	listeners []func() error // closers
	contacts  map[string]sip.Uri
	wg        sync.WaitGroup
}

var sipgoGlobals sync.Once

// allowed is our Allow header: what a conferencing UAS handles.
const allowed = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO"

// New builds the server; Start listens.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "vmrd"
	}
	s := &Server{cfg: cfg, log: cfg.Logger, calls: map[string]*call{}, contacts: map[string]sip.Uri{}}
	// A response goes back on the transport its request came on, whatever
	// its size (RFC 3261 18.2.2); sipgo refuses UDP messages over its MTU
	// guess, so raise it to our own message bound (a process-wide setting).
	// sipgo's transports log through a package-wide logger: route it to
	// ours, demoted to debug like the rest of the library (first server wins).
	sipgoGlobals.Do(func() {
		sip.UDPMTUSize = maxMessage + 200
		sip.SetDefaultLogger(quiet(cfg.Logger))
	})
	s.guard = newGuard(cfg.Metrics, cfg.Logger, cfg.UserAgent)
	if cfg.Limits != nil {
		s.lim = newLimiter(*cfg.Limits)
		s.guard.lim = s.lim
	}
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(cfg.UserAgent),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerReadFilter(s.guard.filter)),
	)
	if err != nil {
		return nil, fmt.Errorf("sip user agent: %w", err)
	}
	// sipgo logs every unparseable datagram at error level with its
	// content; the guard answers those with 400 before sipgo sees them, so
	// sipgo's own logs go to debug.
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet(cfg.Logger)))
	if err != nil {
		return nil, fmt.Errorf("sip server: %w", err)
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientLogger(quiet(cfg.Logger)))
	if err != nil {
		return nil, fmt.Errorf("sip client: %w", err)
	}
	s.ua, s.srv, s.client = ua, srv, client
	srv.OnInvite(s.extensions(s.onInvite))
	srv.OnAck(s.onAck)
	srv.OnBye(s.extensions(s.onBye))
	srv.OnCancel(s.onCancel)
	srv.OnOptions(s.extensions(s.onOptions))
	srv.OnUpdate(s.extensions(s.onUpdate))
	srv.OnInfo(s.extensions(s.onInfo))
	srv.OnRegister(s.notAllowed)
	srv.OnNoRoute(s.noRoute)
	return s, nil
}

// quiet demotes a library's logs to debug.
func quiet(l *slog.Logger) *slog.Logger {
	return slog.New(&levelCap{h: l.Handler()})
}

type levelCap struct{ h slog.Handler }

func (c *levelCap) Enabled(ctx context.Context, _ slog.Level) bool {
	return c.h.Enabled(ctx, slog.LevelDebug)
}
func (c *levelCap) Handle(ctx context.Context, r slog.Record) error {
	r.Level = slog.LevelDebug
	return c.h.Handle(ctx, r)
}
func (c *levelCap) WithAttrs(a []slog.Attr) slog.Handler { return &levelCap{h: c.h.WithAttrs(a)} }
func (c *levelCap) WithGroup(n string) slog.Handler      { return &levelCap{h: c.h.WithGroup(n)} }

// Start binds every listener; it fails (and closes what it bound) if any
// address cannot be bound, so nothing half-starts.
func (s *Server) Start() error {
	// Bind everything first, then serve: handlers read s.contacts without
	// a lock, so every contact must be recorded before the first request.
	var serve []func()
	for _, l := range s.cfg.Listeners {
		run, err := s.listen(l)
		if err != nil {
			s.closeListeners()
			return err
		}
		serve = append(serve, run)
	}
	for _, run := range serve {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			run()
		}()
	}
	return nil
}

// listen binds one listener and returns the call that serves it.
func (s *Server) listen(l Listener) (func(), error) {
	switch l.Transport {
	case "udp":
		pc, err := net.ListenPacket("udp", l.Addr)
		if err != nil {
			return nil, fmt.Errorf("sip listen udp %s: %w", l.Addr, err)
		}
		s.guard.addPacketConn(pc)
		s.addContact("udp", pc.LocalAddr())
		s.listeners = append(s.listeners, pc.Close)
		s.log.Info("sip listening", "transport", "udp", "addr", pc.LocalAddr().String())
		return func() { _ = s.srv.ServeUDP(packetConn2543{pc}) }, nil
	case "tcp":
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			return nil, fmt.Errorf("sip listen tcp %s: %w", l.Addr, err)
		}
		gl := s.guard.wrapListener(ln)
		s.addContact("tcp", ln.Addr())
		s.listeners = append(s.listeners, gl.Close)
		s.log.Info("sip listening", "transport", "tcp", "addr", ln.Addr().String())
		return func() { _ = s.srv.ServeTCP(gl) }, nil
	case "tls":
		if s.cfg.TLS == nil {
			return nil, fmt.Errorf("sip listen tls %s: no certificate configured", l.Addr)
		}
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			return nil, fmt.Errorf("sip listen tls %s: %w", l.Addr, err)
		}
		// The guard sits above TLS so that its 400s are encrypted too.
		gl := s.guard.wrapListener(tls.NewListener(ln, s.cfg.TLS))
		s.addContact("tls", ln.Addr())
		s.listeners = append(s.listeners, gl.Close)
		s.log.Info("sip listening", "transport", "tls", "addr", ln.Addr().String())
		return func() { _ = s.srv.ServeTLS(gl) }, nil
	default:
		return nil, fmt.Errorf("sip listen: transport %q not supported", l.Transport)
	}
}

func (s *Server) addContact(transport string, a net.Addr) {
	host, port, _ := net.SplitHostPort(a.String())
	ip := net.ParseIP(host)
	if ip == nil || ip.IsUnspecified() {
		if s.cfg.SignalingIP != nil {
			host = s.cfg.SignalingIP.String()
		}
	}
	u := sip.Uri{Scheme: "sip", User: "vmrd", Host: host}
	fmt.Sscan(port, &u.Port)
	if transport != "udp" {
		u.UriParams = sip.NewParams()
		u.UriParams.Add("transport", transport)
	}
	if _, ok := s.contacts[transport]; !ok {
		s.contacts[transport] = u
	}
}

// Addrs lists the bound listener addresses ("udp:127.0.0.1:5060").
func (s *Server) Addrs() []string {
	var out []string
	for t, u := range s.contacts {
		out = append(out, fmt.Sprintf("%s:%s", t, net.JoinHostPort(u.Host, fmt.Sprint(u.Port))))
	}
	return out
}

func (s *Server) contact(req *sip.Request) *sip.ContactHeader {
	t := strings.ToLower(req.Transport())
	u, ok := s.contacts[t]
	if !ok {
		for _, c := range s.contacts {
			u = c
			break
		}
	}
	if net.ParseIP(u.Host) == nil || net.ParseIP(u.Host).IsUnspecified() {
		// A wildcard listener and no configured address: use the host the
		// caller dialed if it is an address.
		if ip := net.ParseIP(req.Recipient.Host); ip != nil {
			u.Host = ip.String()
		}
	}
	return &sip.ContactHeader{Address: u}
}

func (s *Server) closeListeners() {
	for _, c := range s.listeners {
		_ = c()
	}
	s.listeners = nil
}

// Close hangs up every call, stops listening and waits.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	calls := make([]*call, 0, len(s.calls))
	for _, c := range s.calls {
		calls = append(calls, c)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.hangup("service shutting down")
		}()
	}
	wg.Wait()
	s.closeListeners()
	_ = s.client.Close()
	_ = s.srv.Close()
	_ = s.ua.Close()
	s.wg.Wait()
	return nil
}

// Calls is the number of dialogs in progress.
func (s *Server) Calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.calls)
}

func (s *Server) findCall(req *sip.Request) *call {
	id, err := dialogID(req)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[id]
}

func (s *Server) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string, headers ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip respond failed", "code", code, "err", err)
	}
}

// supportedExtensions are the option tags vmrd implements (RFC 3261 19.2).
var supportedExtensions = map[string]bool{"timer": true}

// extensions answers what a request demands that we cannot give: an
// extension in Require we do not support (420 with Unsupported, RFC 3261
// 8.2.2.3), or an INVITE whose Accept excludes the SDP we would answer
// with (406, RFC 3261 8.2.3 and 21.4.7).
func (s *Server) extensions(next func(*sip.Request, sip.ServerTransaction)) func(*sip.Request, sip.ServerTransaction) {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		var unsupported []string
		for _, h := range req.GetHeaders("Require") {
			for _, tag := range strings.Split(h.Value(), ",") {
				if tag = strings.TrimSpace(tag); tag != "" && !supportedExtensions[strings.ToLower(tag)] {
					unsupported = append(unsupported, tag)
				}
			}
		}
		if len(unsupported) > 0 {
			s.count()
			s.respond(req, tx, 420, "Bad Extension", sip.NewHeader("Unsupported", strings.Join(unsupported, ", ")))
			return
		}
		if req.IsInvite() && !acceptsSDP(req) {
			s.count()
			s.respond(req, tx, 406, "Not Acceptable", sip.NewHeader("Accept", "application/sdp"))
			return
		}
		next(req, tx)
	}
}

// acceptsSDP reads Accept: absent, or listing application/sdp or a wildcard.
func acceptsSDP(req *sip.Request) bool {
	hs := req.GetHeaders("Accept")
	if len(hs) == 0 {
		return true
	}
	for _, h := range hs {
		for _, t := range strings.Split(h.Value(), ",") {
			t, _, _ = strings.Cut(strings.TrimSpace(strings.ToLower(t)), ";")
			switch strings.TrimSpace(t) {
			case "application/sdp", "application/*", "*/*":
				return true
			}
		}
	}
	return false
}

// Drain stops taking new calls: from now on OPTIONS and initial INVITEs get
// 503 with Retry-After, so probes and callers go elsewhere, while calls in
// progress go on. Close ends them.
func (s *Server) Drain() {
	if !s.draining.Swap(true) {
		s.log.Info("draining: refusing new calls", "calls", s.Calls())
	}
}

func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	s.count()
	if s.draining.Load() && toTag(req) == "" {
		s.respond(req, tx, 503, "Service Unavailable", sip.NewHeader("Retry-After", "60"))
		return
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", allowed))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	res.AppendHeader(sip.NewHeader("Supported", "timer"))
	if err := tx.Respond(res); err != nil {
		s.log.Debug("options respond failed", "err", err)
	}
}

func (s *Server) notAllowed(req *sip.Request, tx sip.ServerTransaction) {
	s.count()
	// RFC 3261 21.4.6: 405 carries Allow. vmrd is not a registrar.
	s.respond(req, tx, 405, "Method Not Allowed", sip.NewHeader("Allow", allowed))
}

func (s *Server) noRoute(req *sip.Request, tx sip.ServerTransaction) {
	s.count()
	if req.IsAck() {
		return
	}
	switch req.Method {
	case sip.SUBSCRIBE, sip.NOTIFY, sip.REFER, sip.MESSAGE, sip.PUBLISH, sip.PRACK:
		s.respond(req, tx, 405, "Method Not Allowed", sip.NewHeader("Allow", allowed))
	default:
		// RFC 3261 8.2.1: a method we do not know at all.
		s.respond(req, tx, 501, "Not Implemented", sip.NewHeader("Allow", allowed))
	}
}

func (s *Server) count() {
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.SIPRequests.Add(1)
	}
}

func (s *Server) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	// A CANCEL that matched a pending INVITE was answered by the
	// transaction layer (200, then 487 on the INVITE). One that reaches us
	// here matched nothing (RFC 3261 9.2).
	s.count()
	s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
}

func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) {
	s.count()
	if c := s.findCall(req); c != nil {
		c.ack(req)
	}
}

func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	s.count()
	c := s.findCall(req)
	if c == nil {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	s.respond(req, tx, 200, "OK")
	c.end("remote hangup")
}

func (s *Server) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	s.count()
	c := s.findCall(req)
	if c == nil {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	if len(req.Body()) == 0 {
		s.respond(req, tx, 200, "OK") // an empty INFO is a keep-alive
		return
	}
	if isMediaControl(ct) {
		fast, err := parseMediaControl(req.Body())
		if err != nil {
			s.respond(req, tx, 400, "Bad Request", warning(err))
			return
		}
		s.respond(req, tx, 200, "OK")
		if fast {
			c.pictureFastUpdate()
		}
		return
	}
	digits, err := parseInfoDTMF(ct, req.Body())
	switch {
	case errors.Is(err, errInfoUnsupported):
		s.respond(req, tx, 415, "Unsupported Media Type", sip.NewHeader("Accept", "application/dtmf-relay, application/dtmf, application/media_control+xml"))
		return
	case err != nil:
		s.respond(req, tx, 400, "Bad Request", warning(err))
		return
	}
	s.respond(req, tx, 200, "OK")
	c.infoDigits(req.CSeq().SeqNo, digits)
}

func (s *Server) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	s.count()
	c := s.findCall(req)
	if c == nil {
		s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	c.update(req, tx)
}

func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	s.count()
	if toTag(req) != "" {
		c := s.findCall(req)
		if c == nil {
			s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
			return
		}
		c.reinvite(req, tx)
		return
	}
	s.newCall(req, tx)
}

// roomNumber reads the room from the Request-URI: digits, with an
// optional leading + (E.164 style), any host part.
func roomNumber(u sip.Uri) (room.Number, error) {
	user := strings.TrimPrefix(u.User, "+")
	if user == "" || len(user) > 32 {
		return "", ErrNotRoomURI
	}
	for _, r := range user {
		if r < '0' || r > '9' {
			return "", ErrNotRoomURI
		}
	}
	return room.Number(user), nil
}

func (s *Server) register(c *call) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.calls[c.id] = c
	return true
}

func (s *Server) unregister(c *call) {
	s.mu.Lock()
	delete(s.calls, c.id)
	s.mu.Unlock()
}

func (s *Server) callResult(r metrics.CallResult) {
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.CallEnded(r)
	}
}

func resultFor(err error) metrics.CallResult {
	code, _ := status(err)
	switch code {
	case 404:
		return metrics.CallNotFound
	case 486:
		return metrics.CallBusy
	case 488:
		return metrics.CallNoCodec
	default:
		return metrics.CallFailed
	}
}

var errShuttingDown = errors.New("shutting down")
