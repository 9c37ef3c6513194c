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
		data = normalizeHead(data)
		req, code, reason := g.check(data)
		if reason != "" {
			g.reject(data, code, reason, func(b []byte) {
				if v, ok := g.udp.Load(p.LocalAddr.String()); ok && p.RemoteAddr != nil {
					_, _ = v.(net.PacketConn).WriteTo(b, p.RemoteAddr)
				}
			})
			return nil, nil
		}
		if g.drop(p.RemoteAddr, req) {
			return nil, nil
		}
		if req != nil && needs2543Tag(req) {
			data = add2543Tag(data, req)
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
				g.reject(b, 400, "header section too large", g.tcpWriter(key))
				return nil, errors.New("sip message too large")
			}
			return out, nil
		}
		clen, found, err := contentLength(b[:end])
		if !found && !hasBody(b[:end]) {
			found = true // no body announced: an absent Content-Length is 0
		}
		if err != nil || clen > maxMessage || !found {
			// No trustworthy framing (RFC 3261 18.3 requires Content-Length
			// on streams): answer and drop the connection, the only safe
			// resync over a stream.
			reason := "bad Content-Length"
			if err == nil && !found {
				reason = "missing Content-Length, which a stream transport requires"
			}
			g.reject(b[:end+4], 400, reason, g.tcpWriter(key))
			return out, errors.New("bad content-length")
		}
		total := end + 4 + clen
		if len(b) < total {
			return out, nil
		}
		msg := normalizeHead(b[:total])
		if req, code, reason := g.check(msg); reason != "" {
			g.reject(msg, code, reason, g.tcpWriter(key))
		} else if !g.drop(p.RemoteAddr, req) {
			if req != nil && needs2543Tag(req) {
				msg = add2543Tag(msg, req)
			}
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

// contentLength reads Content-Length (or l) from a header section and
// whether it was there.
func contentLength(head []byte) (int, bool, error) {
	for _, line := range bytes.Split(head, []byte("\r\n"))[1:] {
		name, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		n := strings.TrimSpace(string(name))
		if strings.EqualFold(n, "Content-Length") || n == "l" {
			v, err := strconv.Atoi(strings.TrimSpace(string(val)))
			if err != nil || v < 0 {
				return 0, true, fmt.Errorf("content-length %q", val)
			}
			return v, true, nil
		}
	}
	return 0, false, nil
}

// check parses one message and returns why it is unacceptable, with the
// status to answer (400, or 505 for another SIP version, 416 for a URI
// scheme we do not speak), or "" and the request (nil for a response).
func (g *guard) check(data []byte) (*sip.Request, int, string) {
	if len(data) > maxMessage {
		return nil, 400, "message too large"
	}
	if code, reason := checkStartLine(data); reason != "" {
		return nil, code, reason
	}
	msg, err := g.parser.ParseSIP(data)
	if err != nil {
		return nil, 400, "unparseable: " + err.Error()
	}
	req, ok := msg.(*sip.Request)
	if !ok {
		return nil, 0, "" // responses go to sipgo's client transactions
	}
	// RFC 3261 8.1.1: the headers every request must have.
	switch {
	case req.Via() == nil:
		return nil, 400, "missing Via"
	case req.From() == nil:
		return nil, 400, "missing From"
	case req.To() == nil:
		return nil, 400, "missing To"
	case req.CallID() == nil || req.CallID().Value() == "":
		return nil, 400, "missing Call-ID"
	case req.CSeq() == nil:
		return nil, 400, "missing CSeq"
	case !strings.EqualFold(string(req.CSeq().MethodName), string(req.Method)):
		return nil, 400, "CSeq method does not match the request method"
	case len(req.Recipient.Headers) > 0:
		// RFC 3261 19.1.5: header parameters are not allowed in a Request-URI.
		return nil, 400, "header fields in the Request-URI"
	}
	for _, name := range []string{"Call-ID", "CSeq", "From", "To", "Max-Forwards", "Content-Length"} {
		if len(req.GetHeaders(name)) > 1 {
			return nil, 400, "more than one " + name + " header"
		}
	}
	if cl := req.ContentLength(); cl != nil && int(*cl) != len(req.Body()) {
		return nil, 400, "Content-Length does not match the body"
	}
	if badDisplayName(data) {
		return nil, 400, "display name must be quoted"
	}
	return req, 0, ""
}

// badDisplayName finds a From or To whose unquoted display name holds
// characters a token may not (RFC 3261 25.1: display-name = *(token LWS)
// / quoted-string), such as the comma of "Bell, Alexander".
func badDisplayName(data []byte) bool {
	end := bytes.Index(data, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(data)
	}
	for _, line := range bytes.Split(data[:end], []byte("\r\n"))[1:] {
		name, val, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(string(name))) {
		case "from", "f", "to", "t":
		default:
			continue
		}
		v := strings.TrimSpace(string(val))
		lt := strings.IndexByte(v, '<')
		if lt <= 0 || strings.HasPrefix(v, `"`) {
			continue
		}
		if strings.ContainsFunc(v[:lt], func(r rune) bool {
			return !(r == ' ' || r == '\t' || isTokenChar(r))
		}) {
			return true
		}
	}
	return false
}

func isTokenChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-.!%*_+`'~", r)
}

// checkStartLine reads a request line before the full parse, for the two
// errors with their own status: another SIP version (505, RFC 3261 8.2.2)
// and a Request-URI scheme we do not speak (416, RFC 3261 8.2.2.1).
func checkStartLine(data []byte) (int, string) {
	line, _, _ := bytes.Cut(data, []byte("\r\n"))
	parts := strings.Fields(string(line))
	if len(parts) != 3 || strings.HasPrefix(parts[0], "SIP/") {
		return 0, "" // a response, or malformed: the parser says why
	}
	if !strings.EqualFold(parts[2], "SIP/2.0") {
		if strings.HasPrefix(strings.ToUpper(parts[2]), "SIP/") {
			return 505, "SIP version not supported"
		}
		return 0, ""
	}
	scheme, _, ok := strings.Cut(parts[1], ":")
	if !ok || scheme == "" || strings.ContainsFunc(scheme, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')
	}) {
		return 0, "" // not a URI scheme at all (say "<sip:..."): the parser says 400
	}
	switch strings.ToLower(scheme) {
	case "sip", "sips", "tel":
		return 0, ""
	}
	return 416, "unsupported URI scheme"
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
func (g *guard) reject(data []byte, code int, reason string, write func([]byte)) {
	if g.metrics != nil {
		g.metrics.SIPMalformed.Add(1)
	}
	if g.logged.Add(1) <= 20 {
		// Logged a bounded number of times: a flood must not flood the log.
		g.log.Info("malformed sip message", "reason", reason, "bytes", len(data))
	}
	resp := badRequest(data, code, reason, g.ua)
	if resp != nil {
		write(resp)
	}
}

// badRequest builds a 400 from whatever header lines can be salvaged
// (RFC 3261 8.2.6.1: copy Via, From, To, Call-ID and CSeq). A response or
// a message without any Via gets no answer: there is nowhere to send it.
func badRequest(data []byte, code int, reason, ua string) []byte {
	end := bytes.Index(data, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(data)
	}
	lines := strings.Split(string(data[:end]), "\r\n")
	if len(lines) == 0 || strings.HasPrefix(lines[0], "SIP/") {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", code, statusText(code))
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
// It also strips the From tags invented for RFC 2543 peers (rfc2543.go).
func (c *guardConn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.Conn.Write(strip2543Tags(b)); err != nil {
		return 0, err
	}
	return len(b), nil
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

// hasBody reports whether a header section announces a body (a
// Content-Type), so that a missing Content-Length cannot mean "empty".
func hasBody(head []byte) bool {
	for _, line := range bytes.Split(head, []byte("\r\n"))[1:] {
		name, _, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		n := strings.TrimSpace(string(name))
		if strings.EqualFold(n, "Content-Type") || n == "c" {
			return true
		}
	}
	return false
}

func statusText(code int) string {
	switch code {
	case 416:
		return "Unsupported URI Scheme"
	case 505:
		return "Version Not Supported"
	default:
		return "Bad Request"
	}
}
