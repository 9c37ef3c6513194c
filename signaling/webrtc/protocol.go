package webrtc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	pion "github.com/pion/webrtc/v4"
)

// Limits of the signaling channel.
const (
	// maxMessage caps one WebSocket message (a browser's offer is 4-10 KB).
	maxMessage = 64 << 10
	// joinTimeout is how long a new connection may take to send its join.
	joinTimeout = 10 * time.Second
	// idleTimeout closes a signaling channel that sends nothing at all
	// (browsers answer our pings; see pingEvery).
	idleTimeout = 60 * time.Second
	pingEvery   = 20 * time.Second
	// writeTimeout bounds one write to a slow client.
	writeTimeout = 5 * time.Second
	// outQueue bounds the messages waiting for the writer; a client that
	// does not read is cut off when it fills.
	outQueue = 64
	// Message rate per connection: a burst covers an offer and a full
	// trickle of candidates.
	msgRate  = 20
	msgBurst = 100
	// maxDiscard is the largest oversized frame read away before the
	// error is sent.
	maxDiscard = 1 << 20
	// maxCandidate bounds one candidate line.
	maxCandidate = 1024
)

// Message types of the signaling protocol.
const (
	typeJoin      = "join"
	typeConfig    = "config"
	typeOffer     = "offer"
	typeAnswer    = "answer"
	typeCandidate = "candidate"
	typeError     = "error"
	typeBye       = "bye"
)

// message is one JSON text frame, either way.
type message struct {
	Type       string          `json:"type"`
	Token      string          `json:"token,omitempty"`
	SDP        string          `json:"sdp,omitempty"`
	Candidate  json.RawMessage `json:"candidate,omitempty"`
	Message    string          `json:"message,omitempty"`
	Reason     string          `json:"reason,omitempty"`
	ICEServers []ICEServer     `json:"iceServers,omitempty"`
}

// parseMessage decodes one client message and checks its shape.
func parseMessage(b []byte) (message, error) {
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%w: not a JSON message", ErrProtocol)
	}
	switch m.Type {
	case typeJoin:
		if m.Token == "" {
			return m, fmt.Errorf("%w: join without a token", ErrProtocol)
		}
	case typeOffer:
		if m.SDP == "" {
			return m, fmt.Errorf("%w: offer without sdp", ErrProtocol)
		}
	case typeCandidate:
		if len(m.Candidate) == 0 {
			return m, fmt.Errorf("%w: candidate message without candidate", ErrProtocol)
		}
	default:
		return m, fmt.Errorf("%w: unknown message type", ErrProtocol)
	}
	return m, nil
}

// parseCandidate reads a trickled candidate; nil means the end of the
// browser's candidates (RFC 8838 section 4.4: end-of-candidates).
func parseCandidate(raw json.RawMessage) (*pion.ICECandidateInit, error) {
	if string(raw) == "null" {
		return nil, nil
	}
	var c pion.ICECandidateInit
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("%w: malformed candidate", ErrProtocol)
	}
	if len(c.Candidate) > maxCandidate {
		return nil, fmt.Errorf("%w: candidate too long", ErrProtocol)
	}
	if c.Candidate == "" {
		return nil, nil // some browsers end with an empty candidate
	}
	return &c, nil
}

// wsConn is the server side of one signaling WebSocket (RFC 6455). One
// goroutine reads (read); writes go through a bounded queue to the writer
// goroutine, so pion's callbacks never block on a slow client.
type wsConn struct {
	c   net.Conn
	rd  *wsutil.Reader
	ctl wsutil.FrameHandlerFunc
	wmu sync.Mutex // orders frames from the writer and the control handler

	out     chan []byte
	closing chan struct{}
	once    sync.Once
	done    chan struct{} // the writer has finished
}

func newWSConn(c net.Conn) *wsConn {
	w := &wsConn{c: c, out: make(chan []byte, outQueue), closing: make(chan struct{}), done: make(chan struct{})}
	w.rd = &wsutil.Reader{Source: c, State: ws.StateServerSide, CheckUTF8: true, MaxFrameSize: maxMessage}
	w.ctl = wsutil.ControlFrameHandler(lockedWriter{w}, ws.StateServerSide)
	go w.writer()
	return w
}

type lockedWriter struct{ w *wsConn }

func (l lockedWriter) Write(p []byte) (int, error) {
	l.w.wmu.Lock()
	defer l.w.wmu.Unlock()
	_ = l.w.c.SetWriteDeadline(time.Now().Add(writeTimeout))
	return l.w.c.Write(p)
}

// read returns the next text message, answering pings and closes on the
// way. Oversized and binary messages are errors.
func (w *wsConn) read(deadline time.Time) ([]byte, error) {
	for {
		_ = w.c.SetReadDeadline(deadline)
		hdr, err := w.rd.NextFrame()
		if err != nil {
			if errors.Is(err, wsutil.ErrFrameTooLarge) {
				// Read a moderately large payload away, so that the
				// client gets our error instead of a reset connection.
				if hdr.Length <= maxDiscard {
					_ = w.c.SetReadDeadline(time.Now().Add(writeTimeout))
					_, _ = io.CopyN(io.Discard, w.c, hdr.Length)
				}
				return nil, ErrTooLarge
			}
			return nil, err
		}
		if hdr.OpCode.IsControl() {
			if err := w.ctl(hdr, w.rd); err != nil {
				return nil, err
			}
			continue
		}
		if hdr.OpCode != ws.OpText {
			_ = w.rd.Discard()
			return nil, fmt.Errorf("%w: only text messages", ErrProtocol)
		}
		b, err := io.ReadAll(io.LimitReader(w.rd, maxMessage+1))
		if err != nil {
			return nil, err
		}
		if len(b) > maxMessage {
			return nil, ErrTooLarge
		}
		return b, nil
	}
}

// send queues a message; false when the queue is full or closed (the
// connection is then cut).
func (w *wsConn) send(m message) bool {
	b, err := json.Marshal(m)
	if err != nil {
		return false
	}
	select {
	case <-w.closing:
		return false
	default:
	}
	select {
	case w.out <- b:
		return true
	default:
		w.close()
		return false
	}
}

// close sends what is queued, a close frame, and closes the socket. It
// does not wait; wait does.
func (w *wsConn) close() { w.once.Do(func() { close(w.closing) }) }

// wait waits for the writer to finish.
func (w *wsConn) wait() { <-w.done }

func (w *wsConn) writer() {
	defer close(w.done)
	defer w.c.Close()
	lw := lockedWriter{w}
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	for {
		select {
		case b := <-w.out:
			if err := wsutil.WriteServerText(lw, b); err != nil {
				return
			}
		case <-ping.C:
			if err := wsutil.WriteServerMessage(lw, ws.OpPing, nil); err != nil {
				return
			}
		case <-w.closing:
			for {
				select {
				case b := <-w.out:
					if err := wsutil.WriteServerText(lw, b); err != nil {
						return
					}
				default:
					_ = ws.WriteFrame(lw, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
					return
				}
			}
		}
	}
}
