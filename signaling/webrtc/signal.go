package webrtc

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	pion "github.com/pion/webrtc/v4"

	"vmrd/internal/room"
)

// maxEarlyCandidates bounds candidates that arrive before the offer.
const maxEarlyCandidates = 32

// signal is one browser's signaling connection and, after its offer, its
// leg. run owns it; end may be called from any goroutine.
type signal struct {
	s      *Server
	ws     *wsConn
	number room.Number
	source string
	log    *slog.Logger
	rate   *bucket

	member Member
	leg    *leg
	early  []pion.ICECandidateInit

	mu      sync.Mutex
	ended   bool
	reason  string
	counted bool // the join result is counted
}

// end closes the signaling channel with a bye (the room or the service
// ended the leg) or without; run then releases everything. The first
// reason wins.
func (g *signal) end(reason string, bye bool) {
	g.mu.Lock()
	if g.ended {
		g.mu.Unlock()
		return
	}
	g.ended, g.reason = true, reason
	g.mu.Unlock()
	if bye {
		g.ws.send(message{Type: typeBye, Reason: reason})
	}
	g.ws.close()
}

// refuse sends an error and ends the connection.
func (g *signal) refuse(err error, result string) {
	g.countJoin(result)
	g.log.Info("webrtc refused", "err", err)
	g.ws.send(message{Type: typeError, Message: publicText(err)})
	g.end(err.Error(), false)
}

func (g *signal) countJoin(result string) {
	g.mu.Lock()
	first := !g.counted
	g.counted = true
	g.mu.Unlock()
	if first {
		g.s.count(result)
	}
}

// publicText is what the browser is told: the sentinel's text, never
// internal details.
func publicText(err error) string {
	for _, e := range []error{ErrBadToken, ErrDraining, ErrLimited, ErrTooLarge, ErrJoinTimeout,
		ErrBadOffer, ErrAlreadyConnected, ErrClosed, ErrProtocol} {
		if errors.Is(err, e) {
			if e == ErrProtocol || e == ErrBadOffer {
				return err.Error() // our own wording, no input echoed
			}
			return e.Error()
		}
	}
	return "internal error"
}

// run serves the connection until it ends, then releases the leg, the
// participant and the socket.
func (g *signal) run() {
	stop := make(chan struct{})
	var watch sync.WaitGroup
	defer func() {
		close(stop)
		watch.Wait()
		g.finish()
	}()
	if !g.join() {
		return
	}
	watch.Add(1)
	go func() {
		defer watch.Done()
		select {
		case <-g.member.Done():
			g.end("token ended", true)
		case <-stop:
		}
	}()
	for {
		b, err := g.ws.read(time.Now().Add(idleTimeout))
		if err != nil {
			g.readFailed(err)
			return
		}
		if !g.rate.allow(time.Now()) {
			g.refuse(ErrLimited, joinLimited)
			return
		}
		m, err := parseMessage(b)
		if err == nil {
			err = g.handle(m)
		}
		if err != nil {
			g.refuse(err, joinBadRequest)
			return
		}
	}
}

// readFailed ends the connection after a failed read.
func (g *signal) readFailed(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, ErrTooLarge), errors.Is(err, ErrProtocol):
		g.refuse(err, joinBadRequest)
	case errors.As(err, &ne) && ne.Timeout():
		g.end("signaling idle", false)
	default:
		g.end("browser closed the connection", false)
	}
}

// join waits for the join message and finds the token's participant.
func (g *signal) join() bool {
	b, err := g.ws.read(time.Now().Add(g.s.joinTimeout))
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			g.refuse(ErrJoinTimeout, joinBadRequest)
		} else if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrProtocol) {
			g.refuse(err, joinBadRequest)
		} else {
			g.countJoin(joinBadRequest)
			g.end("closed before join", false)
		}
		return false
	}
	m, err := parseMessage(b)
	if err == nil && m.Type != typeJoin {
		err = fmt.Errorf("%w: the first message must be a join", ErrProtocol)
	}
	if err != nil {
		g.refuse(err, joinBadRequest)
		return false
	}
	if d := g.s.cfg.Draining; d != nil && d() {
		g.refuse(ErrDraining, joinDraining)
		return false
	}
	mem, err := g.s.cfg.Tokens.Member(g.number, m.Token)
	if err != nil {
		g.refuse(fmt.Errorf("%w: %v", ErrBadToken, err), joinBadToken)
		return false
	}
	g.member = mem
	g.log = g.log.With("participant", string(mem.ID()))
	servers := g.s.cfg.ICEServers
	if f := g.s.cfg.ICEServersFor; f != nil {
		servers = f(string(mem.ID()))
	}
	if servers == nil {
		servers = []ICEServer{}
	}
	g.ws.send(message{Type: typeConfig, ICEServers: servers})
	return true
}

// handle serves one message after the join.
func (g *signal) handle(m message) error {
	switch m.Type {
	case typeOffer:
		if g.leg != nil {
			return fmt.Errorf("%w: one offer per connection (renegotiation is not supported)", ErrProtocol)
		}
		l, answer, err := newLeg(g, m.SDP)
		if err != nil {
			result := joinFailed
			if errors.Is(err, ErrBadOffer) {
				result = joinBadRequest
			}
			if errors.Is(err, ErrAlreadyConnected) || errors.Is(err, ErrBadToken) {
				result = joinBadToken
			}
			g.refuse(err, result)
			return nil
		}
		g.leg = l
		g.s.active.Add(1)
		g.countJoin(joinAccepted)
		g.ws.send(message{Type: typeAnswer, SDP: answer})
		for _, c := range g.early {
			if err := l.pc.AddICECandidate(c); err != nil {
				return fmt.Errorf("%w: candidate refused", ErrProtocol)
			}
		}
		g.early = nil
		return nil
	case typeCandidate:
		c, err := parseCandidate(m.Candidate)
		if err != nil {
			return err
		}
		if c == nil {
			return nil // end of candidates: pion needs no notice
		}
		if g.leg == nil {
			if len(g.early) >= maxEarlyCandidates {
				return fmt.Errorf("%w: too many candidates before the offer", ErrProtocol)
			}
			g.early = append(g.early, *c)
			return nil
		}
		if err := g.leg.pc.AddICECandidate(*c); err != nil {
			return fmt.Errorf("%w: candidate refused", ErrProtocol)
		}
		return nil
	case typeJoin:
		return fmt.Errorf("%w: joined already", ErrProtocol)
	}
	return fmt.Errorf("%w: unexpected message", ErrProtocol)
}

// finish releases what the connection holds, in order: the leg's media,
// the participant (and with it the API token), the socket.
func (g *signal) finish() {
	g.mu.Lock()
	g.ended = true
	reason := g.reason
	g.mu.Unlock()
	if reason == "" {
		reason = "connection closed"
	}
	// Leave first, so the room takes the video out with the participant
	// rather than showing a name tile for a moment (see the SIP call end).
	if g.member != nil {
		g.member.Leave(reason)
		g.log.Info("webrtc leg ended", "reason", reason)
	}
	if g.leg != nil {
		g.leg.close()
		g.s.active.Add(-1)
	}
	g.ws.close()
	g.ws.wait()
}

// candidateJSON is a local candidate as the browser's addIceCandidate
// takes it.
func candidateJSON(c *pion.ICECandidate) json.RawMessage {
	if c == nil {
		return json.RawMessage("null")
	}
	b, err := json.Marshal(c.ToJSON())
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}
