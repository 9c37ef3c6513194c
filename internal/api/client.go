package api

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"vmrd/internal/config"
	"vmrd/internal/room"
)

// DefaultTokenTTL is how long a client API token lives unless refreshed.
const DefaultTokenTTL = 120 * time.Second

// ClientPrefix is where the client API's routes live.
const ClientPrefix = "/api/client/v2/conferences/"

// maxIDLen bounds room numbers and participant IDs taken from paths.
const maxIDLen = 128

// ClientConfig builds a ClientAPI.
type ClientConfig struct {
	Rooms Rooms
	// TokenTTL is the lifetime of a token; DefaultTokenTTL if zero.
	TokenTTL time.Duration
	Logger   *slog.Logger
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Draining, when it reports true, refuses new tokens with 503 while
	// existing sessions go on.
	Draining func() bool
}

// ClientAPI is the control API for hosts and guests, shaped like Pexip
// Infinity's client API (v2): a PIN buys a token, and the token, sent in a
// "token" header, authorises the room verbs and the event stream.
//
// The source address of a request is the peer's address (r.RemoteAddr).
// Behind a reverse proxy every client has the proxy's address; trusting a
// forwarded-for header is a setting to add with the proxy deployment.
type ClientAPI struct {
	rooms    Rooms
	draining func() bool
	ttl      time.Duration
	log      *slog.Logger
	now      func() time.Time
	mux      *http.ServeMux

	tokens tokens

	// keepAlive is the event stream's comment interval; sweepEvery the
	// expiry scan's. Tests shorten them.
	keepAlive  time.Duration
	sweepEvery time.Duration

	mu        sync.Mutex // guards closed and streams.Add
	closed    bool
	streams   sync.WaitGroup
	closing   chan struct{}
	closeOnce sync.Once
	sweepDone chan struct{}
}

// NewClientAPI builds the API and starts its token expiry scan; Close
// stops it.
func NewClientAPI(cfg ClientConfig) *ClientAPI {
	a := &ClientAPI{
		rooms:     cfg.Rooms,
		draining:  cfg.Draining,
		ttl:       cfg.TokenTTL,
		log:       cfg.Logger,
		now:       cfg.Now,
		keepAlive: 15 * time.Second,
		closing:   make(chan struct{}),
		sweepDone: make(chan struct{}),
	}
	if a.ttl <= 0 {
		a.ttl = DefaultTokenTTL
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.sweepEvery = min(max(a.ttl/4, 50*time.Millisecond), 5*time.Second)
	a.routes()
	go a.sweep()
	return a
}

// Handler serves the API's routes (all under ClientPrefix).
func (a *ClientAPI) Handler() http.Handler { return a.mux }

// Close ends every session (their participants leave), ends the event
// streams, stops the expiry scan and waits for them.
func (a *ClientAPI) Close() {
	a.closeOnce.Do(func() {
		a.mu.Lock()
		a.closed = true
		a.mu.Unlock()
		close(a.closing)
		a.leave(a.tokens.closeAll("server shutting down"))
		a.streams.Wait()
		<-a.sweepDone
	})
}

// sweep ends sessions whose tokens expired, so an abandoned client does
// not stay in the room.
func (a *ClientAPI) sweep() {
	defer close(a.sweepDone)
	t := time.NewTicker(a.sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-a.closing:
			return
		case <-t.C:
			a.expireNow()
		}
	}
}

// expireNow ends the expired sessions at the clock's present time.
func (a *ClientAPI) expireNow() {
	a.leave(a.tokens.expire(a.now()))
}

// leave makes ended sessions' participants leave their rooms.
func (a *ClientAPI) leave(ss []*session) {
	for _, s := range ss {
		a.log.Info("api participant leaves", "room", s.number, "participant", s.id, "reason", s.reason)
		s.actor.Leave(s.reason)
	}
}

// handlerFunc serves one authenticated verb and returns its result.
type handlerFunc func(r *http.Request, s *session, old tokenHash) (any, error)

func (a *ClientAPI) routes() {
	a.mux = http.NewServeMux()
	p := ClientPrefix + "{number}/"
	post, get := http.MethodPost, http.MethodGet
	a.mux.Handle(p+"request_token", only(post, http.HandlerFunc(a.requestToken)))
	a.mux.Handle(p+"refresh_token", only(post, a.verb("refresh_token", a.refreshToken)))
	a.mux.Handle(p+"release_token", only(post, a.verb("release_token", a.releaseToken)))
	a.mux.Handle(p+"lock", only(post, a.verb("lock", act(func(s *session) error { return s.actor.Lock(true) }))))
	a.mux.Handle(p+"unlock", only(post, a.verb("unlock", act(func(s *session) error { return s.actor.Lock(false) }))))
	a.mux.Handle(p+"muteguests", only(post, a.verb("muteguests", act(func(s *session) error { return s.actor.MuteGuests(true) }))))
	a.mux.Handle(p+"unmuteguests", only(post, a.verb("unmuteguests", act(func(s *session) error { return s.actor.MuteGuests(false) }))))
	a.mux.Handle(p+"disconnect", only(post, a.verb("disconnect", act(func(s *session) error { return s.actor.EndMeeting() }))))
	a.mux.Handle(p+"start_stream", only(post, a.verb("start_stream", act(func(s *session) error { return s.actor.StartStream() }))))
	a.mux.Handle(p+"stop_stream", only(post, a.verb("stop_stream", act(func(s *session) error { return s.actor.StopStream() }))))
	a.mux.Handle(p+"transform_layout", only(post, a.verbWithBody("transform_layout", func() any { return &layoutRequest{} }, a.transformLayout)))
	a.mux.Handle(p+"participants", only(get, a.verb("participants", a.participants)))
	a.mux.Handle(p+"conference", only(get, a.verb("conference", a.conference)))
	a.mux.Handle(p+"events", only(get, http.HandlerFunc(a.events)))
	pp := p + "participants/{uuid}/"
	a.mux.Handle(pp+"mute", only(post, a.verb("mute", target(func(s *session, id room.ParticipantID) error { return s.actor.SetMuted(id, true) }))))
	a.mux.Handle(pp+"unmute", only(post, a.verb("unmute", target(func(s *session, id room.ParticipantID) error { return s.actor.SetMuted(id, false) }))))
	a.mux.Handle(pp+"disconnect", only(post, a.verb("disconnect participant", target(func(s *session, id room.ParticipantID) error { return s.actor.Disconnect(id) }))))
	a.mux.Handle(pp+"unlock", only(post, a.verb("admit", target(func(s *session, id room.ParticipantID) error { return s.actor.Admit(id) }))))
	a.mux.Handle(pp+"spotlighton", only(post, a.verb("spotlight on", target(func(s *session, id room.ParticipantID) error { return s.actor.Spotlight(id, true) }))))
	a.mux.Handle(pp+"spotlightoff", only(post, a.verb("spotlight off", target(func(s *session, id room.ParticipantID) error { return s.actor.Spotlight(id, false) }))))
	a.mux.Handle(pp+"reject", only(post, a.verb("reject", target(func(s *session, id room.ParticipantID) error { return s.actor.Reject(id) }))))
	a.mux.HandleFunc("/api/client/", func(w http.ResponseWriter, _ *http.Request) { writeFailure(w, ErrNotFound) })
}

// only answers other methods with a JSON 405.
func only(method string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method {
			w.Header().Set("Allow", method)
			writeFailure(w, ErrMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// act adapts a room verb without a target; its result is true.
func act(f func(*session) error) handlerFunc {
	return func(_ *http.Request, s *session, _ tokenHash) (any, error) {
		if err := f(s); err != nil {
			return nil, err
		}
		return true, nil
	}
}

// target adapts a room verb on the participant named in the path.
func target(f func(*session, room.ParticipantID) error) handlerFunc {
	return func(r *http.Request, s *session, _ tokenHash) (any, error) {
		id := r.PathValue("uuid")
		if id == "" || len(id) > maxIDLen {
			return nil, room.ErrNoSuchParticipant
		}
		if err := f(s, room.ParticipantID(id)); err != nil {
			return nil, err
		}
		return true, nil
	}
}

// verb authenticates the token, accepts an empty or JSON body (whose
// content the verbs ignore) and runs f.
func (a *ClientAPI) verb(name string, f handlerFunc) http.Handler {
	return a.verbWithBody(name, func() any { return &struct{}{} }, func(r *http.Request, s *session, old tokenHash, _ any) (any, error) {
		return f(r, s, old)
	})
}

// verbWithBody is verb for verbs that read their JSON body: newBody makes
// the value it is decoded into, which f then gets.
func (a *ClientAPI) verbWithBody(name string, newBody func() any, f func(*http.Request, *session, tokenHash, any) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, old, err := a.authenticate(r, r.Header.Get("token"))
		v := newBody()
		if err == nil {
			var body []byte
			if body, err = readBody(w, r); err == nil {
				err = decodeJSON(r.Header.Get("Content-Type"), body, v)
			}
		}
		var res any
		if err == nil {
			res, err = f(r, s, old, v)
		}
		if err != nil {
			if s != nil && errors.Is(err, room.ErrGone) {
				// The participant was disconnected from the room
				// side; its token dies with it.
				a.tokens.end(s, "participant has left")
			}
			code := writeFailure(w, err)
			a.logResult(r, s, name, code, err)
			return
		}
		writeSuccess(w, res)
		a.logResult(r, s, name, http.StatusOK, nil)
	})
}

// logResult logs a verb's outcome: host actions at info for the record,
// reads at debug. It never logs the token or the request body.
func (a *ClientAPI) logResult(r *http.Request, s *session, name string, code int, err error) {
	args := []any{"room", r.PathValue("number"), "action", name, "status", code}
	if s != nil {
		args = append(args, "participant", s.id, "role", s.role.String())
	}
	if id := r.PathValue("uuid"); id != "" {
		args = append(args, "target", id)
	}
	if err != nil {
		args = append(args, "err", err)
	}
	level := slog.LevelInfo
	if r.Method == http.MethodGet && err == nil {
		level = slog.LevelDebug
	}
	a.log.Log(r.Context(), level, "api request", args...)
}

// authenticate finds the live session of a token for the path's room. A
// token of another room is as invalid as an unknown one.
func (a *ClientAPI) authenticate(r *http.Request, tok string) (*session, tokenHash, error) {
	s, h, expired := a.tokens.lookup(tok, a.now())
	if expired {
		a.leave([]*session{s})
		return nil, h, ErrInvalidToken
	}
	if s == nil || string(s.number) != r.PathValue("number") {
		return nil, h, ErrInvalidToken
	}
	return s, h, nil
}

// tokenResult is the result of request_token.
type tokenResult struct {
	Token           string             `json:"token"`
	Expires         string             `json:"expires"` // seconds, a string as in Pexip's API
	ParticipantUUID room.ParticipantID `json:"participant_uuid"`
	Role            string             `json:"role"` // "HOST" or "GUEST"
	DisplayName     string             `json:"display_name"`
}

// refreshResult is the result of refresh_token.
type refreshResult struct {
	Token   string `json:"token"`
	Expires string `json:"expires"`
}

func (a *ClientAPI) expiresField() string {
	return strconv.Itoa(int(a.ttl / time.Second))
}

func (a *ClientAPI) requestToken(w http.ResponseWriter, r *http.Request) {
	number := r.PathValue("number")
	src := sourceOf(r)
	log := a.log.With("room", number, "source", src)
	body, err := readBody(w, r)
	var req tokenRequest
	if err == nil {
		req, err = parseTokenRequest(r.Header.Get("Content-Type"), body, r.Header.Get("pin"))
	}
	var actor Actor
	if err == nil && a.draining != nil && a.draining() {
		err = ErrShuttingDown // draining: no new participants
	}
	if err == nil {
		if number == "" || len(number) > maxIDLen {
			// Refused like a wrong PIN so that no room number stands out.
			err = room.ErrBadPIN
		} else {
			actor, err = a.rooms.JoinAPI(r.Context(), number, req.PIN, req.DisplayName, src)
		}
	}
	if err != nil {
		code := writeFailure(w, err)
		log.Info("api token refused", "status", code, "err", err)
		return
	}
	s := &session{number: room.Number(number), actor: actor, id: actor.ID(), role: actor.Role(), done: make(chan struct{})}
	tok, ok := a.tokens.issue(s, a.now().Add(a.ttl))
	if !ok {
		actor.Leave("server shutting down")
		writeFailure(w, ErrShuttingDown)
		return
	}
	writeSuccess(w, tokenResult{
		Token:           tok,
		Expires:         a.expiresField(),
		ParticipantUUID: s.id,
		Role:            strings.ToUpper(s.role.String()),
		DisplayName:     req.DisplayName,
	})
	log.Info("api token issued", "participant", s.id, "role", s.role.String())
}

func (a *ClientAPI) refreshToken(_ *http.Request, s *session, old tokenHash) (any, error) {
	tok, ok := a.tokens.refresh(s, old, a.now().Add(a.ttl))
	if !ok {
		return nil, ErrInvalidToken
	}
	return refreshResult{Token: tok, Expires: a.expiresField()}, nil
}

func (a *ClientAPI) releaseToken(_ *http.Request, s *session, _ tokenHash) (any, error) {
	if a.tokens.end(s, "token released") {
		a.leave([]*session{s})
	}
	return true, nil
}

func (a *ClientAPI) participants(_ *http.Request, s *session, _ tokenHash) (any, error) {
	list, err := s.actor.Participants()
	if err != nil {
		return nil, err
	}
	out := make([]room.Info, len(list))
	for i, p := range list {
		out[i] = visible(s.role, p)
	}
	return out, nil
}

func (a *ClientAPI) conference(_ *http.Request, s *session, _ tokenHash) (any, error) {
	return s.actor.Conference()
}

// visible is what a participant of role may see of another: guests do not
// see where others call from.
func visible(role room.Role, p room.Info) room.Info {
	if role != room.Host {
		p.Source = ""
	}
	return p
}

// sourceOf is the request's peer IP address.
func sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// layoutRequest is the body of transform_layout, as Pexip's client API
// has it: {"layout": "4:0"}. Aliases users type ("4+0", "2x2") are taken.
type layoutRequest struct {
	Layout string `json:"layout"`
}

func (a *ClientAPI) transformLayout(_ *http.Request, s *session, _ tokenHash, v any) (any, error) {
	req := v.(*layoutRequest)
	if req.Layout == "" || len(req.Layout) > 64 {
		return nil, fmt.Errorf("%w: give the layout, e.g. {\"layout\": \"4:0\"}", ErrBadRequest)
	}
	if err := s.actor.SetLayout(config.CanonicalLayout(req.Layout)); err != nil {
		return nil, err
	}
	return true, nil
}
