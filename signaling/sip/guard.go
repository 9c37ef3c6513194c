package sip

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/emiago/sipgo/sip"

	"vmrd/internal/metrics"
)

// maxMessage bounds one SIP message (headers and body). SIP over UDP fits
// a datagram; over TCP nothing legitimate comes near this.
const maxMessage = 64 << 10

// guard sits between the sockets and sipgo's parser. It answers malformed
// requests with 400 (RFC 3261 8.2, 21.4.1) instead of dropping them
// silently, so a sender learns and stops retransmitting, and so that bad
// input never reaches call handling. Over TCP it also frames messages by
// Content-Length (RFC 3261 18.3) so one bad message does not cost the
// connection's good ones.
type guard struct {
	lim     *limiter // nil: no limits
	metrics *metrics.Metrics
	log     *slog.Logger
	ua      string
	parser  *sip.Parser

	udp        sync.Map // local addr string -> net.PacketConn
	tcp        sync.Map // remote addr string -> *guardConn
	logged     atomic.Int64
	dropLogged atomic.Int64
	streams    sync.Map // remote addr string -> *bytes.Buffer (TCP reassembly)
}

func newGuard(m *metrics.Metrics, log *slog.Logger, ua string) *guard {
	return &guard{metrics: m, log: log, ua: ua, parser: sip.NewParser()}
}

func (g *guard) addPacketConn(pc net.PacketConn) { g.udp.Store(pc.LocalAddr().String(), pc) }

// filter is sipgo's read filter: it returns the bytes to parse, or none.
func (g *guard) filter(p sip.TransportReadProps, data []byte) ([]byte, error) {
	if strings.EqualFold(p.Transport, "udp") {
		if len(bytes.Trim(data, "\r\n")) == 0 {
			return data, nil // keep-alive
		}
		req, reason := g.check(data)
		if reason != "" {
			g.reject(data, reason, func(b []byte) {
				if v, ok := g.udp.Load(p.LocalAddr.String()); ok && p.RemoteAddr != nil {
					_, _ = v.(net.PacketConn).WriteTo(b, p.RemoteAddr)
				}
			})
			return nil, nil
		}
		if g.drop(p.RemoteAddr, req) {
			return nil, nil
		}
		return data, nil
	}
	return g.stream(p, data)
}

// stream reassembles TCP data into whole messages and passes only valid ones.
func (g *guard) stream(p sip.TransportReadProps, data []byte) ([]byte, error) {
	key := p.RemoteAddr.String()
	v, _ := g.streams.LoadOrStore(key, &bytes.Buffer{})
	buf := v.(*bytes.Buffer)
	buf.Write(data)
	var out []byte
	for {
		b := buf.Bytes()
		// RFC 5626 3.5.1 keep-alives between messages.
		trimmed := bytes.TrimLeft(b, "\r\n")
		if len(trimmed) != len(b) {
			if len(trimmed) == 0 && len(b) >= 4 {
				out = append(out, b...) // sipgo answers the double-CRLF ping
			}
			buf.Next(len(b) - len(trimmed))
			b = trimmed
		}
		if len(b) == 0 {
			return out, nil
		}
		end := bytes.Index(b, []byte("\r\n\r\n"))
		if end < 0 {
			if len(b) > maxMessage {
				g.reject(b, "header section too large", g.tcpWriter(key))
				return nil, errors.New("sip message too large")
			}
			return out, nil
		}
		clen, err := contentLength(b[:end])
		if err != nil || clen > maxMessage {
			// No trustworthy framing: answer and drop the connection, the
			// only safe resync over a stream.
			g.reject(b[:end+4], "bad Content-Length", g.tcpWriter(key))
			return out, errors.New("bad content-length")
		}
		total := end + 4 + clen
		if len(b) < total {
			return out, nil
		}
		msg := b[:total]
		if req, reason := g.check(msg); reason != "" {
			g.reject(msg, reason, g.tcpWriter(key))
		} else if !g.drop(p.RemoteAddr, req) {
			out = append(out, msg...)
		}
		buf.Next(total)
	}
}

func (g *guard) tcpWriter(remote string) func([]byte) {
	return func(b []byte) {
		if v, ok := g.tcp.Load(remote); ok {
			_, _ = v.(*guardConn).Write(b)
		}
	}
}

// contentLength reads Content-Length (or l) from a header section; missing
// means an empty body.
func contentLength(head []byte) (int, error) {
	for _, line := range bytes.Split(head, []byte("\r\n"))[1:] {
		name, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		n := strings.TrimSpace(string(name))
		if strings.EqualFold(n, "Content-Length") || n == "l" {
			v, err := strconv.Atoi(strings.TrimSpace(string(val)))
			if err != nil || v < 0 {
				return 0, fmt.Errorf("content-length %q", val)
			}
			return v, nil
		}
	}
	return 0, nil
}

// check parses one message and returns why it is unacceptable, or "" and
// the request (nil for a response).
func (g *guard) check(data []byte) (*sip.Request, string) {
	if len(data) > maxMessage {
		return nil, "message too large"
	}
	msg, err := g.parser.ParseSIP(data)
	if err != nil {
		return nil, "unparseable: " + err.Error()
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		return nil, "" // responses go to sipgo's client transactions
	}
	// RFC 3261 8.1.1: the headers every request must have.
	switch {
	case req.Via() == nil:
		return nil, "missing Via"
	case req.From() == nil:
		return nil, "missing From"
	case req.To() == nil:
		return nil, "missing To"
	case req.CallID() == nil || req.CallID().Value() == "":
		return nil, "missing Call-ID"
	case req.CSeq() == nil:
		return nil, "missing CSeq"
	case req.CSeq().MethodName != req.Method:
		return nil, "CSeq method does not match the request method"
	}
	if cl := req.ContentLength(); cl != nil && int(*cl) != len(req.Body()) {
		return nil, "Content-Length does not match the body"
	}
	return req, ""
}

// drop reports whether a well-formed request is dropped unanswered: from a
// scanner, or over its source's rate.
func (g *guard) drop(from net.Addr, req *sip.Request) bool {
	if req == nil || g.lim == nil {
		return false
	}
	if ua := req.GetHeader("User-Agent"); ua != nil && g.lim.scanner(ua.Value()) {
		if g.metrics != nil {
			g.metrics.SIPDroppedScanner.Add(1)
		}
		return true
	}
	if !g.lim.allow(addrOf(from), string(req.Method)) {
		if g.metrics != nil {
			g.metrics.SIPDroppedRate.Add(1)
		}
		if g.dropLogged.Add(1) == 1 {
			g.log.Warn("sip requests over a source's rate limit are being dropped", "source", from.String())
		}
		return true
	}
	return false
}

// addrOf reads the IP of a socket address.
func addrOf(a net.Addr) netip.Addr {
	if a == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// reject answers a malformed request with 400 when it is a request with
// enough of a Via to route a response, and counts it either way.
func (g *guard) reject(data []byte, reason string, write func([]byte)) {
	if g.metrics != nil {
		g.metrics.SIPMalformed.Add(1)
	}
	if g.logged.Add(1) <= 20 {
		// Logged a bounded number of times: a flood must not flood the log.
		g.log.Info("malformed sip message", "reason", reason, "bytes", len(data))
	}
	resp := badRequest(data, reason, g.ua)
	if resp != nil {
		write(resp)
	}
}

// badRequest builds a 400 from whatever header lines can be salvaged
// (RFC 3261 8.2.6.1: copy Via, From, To, Call-ID and CSeq). A response or
// a message without any Via gets no answer: there is nowhere to send it.
func badRequest(data []byte, reason, ua string) []byte {
	end := bytes.Index(data, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(data)
	}
	lines := strings.Split(string(data[:end]), "\r\n")
	if len(lines) == 0 || strings.HasPrefix(lines[0], "SIP/") {
		return nil
	}
	var b strings.Builder
	b.WriteString("SIP/2.0 400 Bad Request\r\n")
	haveVia := false
	for _, l := range lines[1:] {
		name, _, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "v":
			haveVia = true
			fallthrough
		case "from", "f", "to", "t", "call-id", "i", "cseq":
			b.WriteString(l)
			b.WriteString("\r\n")
		}
	}
	if !haveVia {
		return nil
	}
	reason = strings.Map(func(r rune) rune {
		if r < 0x20 || r == '"' || r > 0x7e {
			return ' '
		}
		return r
	}, reason)
	if len(reason) > 120 {
		reason = reason[:120]
	}
	fmt.Fprintf(&b, "Warning: 399 vmrd \"%s\"\r\nServer: %s\r\nContent-Length: 0\r\n\r\n", reason, ua)
	return []byte(b.String())
}

// wrapListener records accepted TCP connections so the guard can answer on them.
func (g *guard) wrapListener(ln net.Listener) net.Listener { return &guardListener{Listener: ln, g: g} }

type guardListener struct {
	net.Listener
	g *guard
}

func (l *guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	gc := &guardConn{Conn: c, g: l.g}
	l.g.tcp.Store(c.RemoteAddr().String(), gc)
	return gc, nil
}

type guardConn struct {
	net.Conn
	g    *guard
	wmu  sync.Mutex
	once sync.Once
}

// Write serializes our 400s with sipgo's own writes on the connection.
func (c *guardConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.Conn.Write(b)
}

func (c *guardConn) Close() error {
	c.once.Do(func() {
		key := c.RemoteAddr().String()
		c.g.tcp.Delete(key)
		c.g.streams.Delete(key)
	})
	return c.Conn.Close()
}

// sourceNetAddr turns sipgo's "host:port" source into a net.Addr.
func sourceNetAddr(s string) net.Addr {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil
	}
	return net.UDPAddrFromAddrPort(ap)
}
