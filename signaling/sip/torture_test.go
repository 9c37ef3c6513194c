package sip

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"vmrd/internal/codec"
	"vmrd/internal/media"
	"vmrd/internal/room"
)

// The RFC 4475 (section 3) and RFC 5118 (section 4) torture messages, sent
// to a real Server over loopback UDP and TCP. testdata/torture holds the
// messages byte for byte as the RFCs give them; testdata/torture/README.md
// lists each one's section and verdict.

// tortureRoom is the room INVITEs are pointed at.
const tortureRoom = "1001"

// Adaptations a vector needs to be sent here. None changes what makes the
// message valid or invalid.
type adapt uint8

const (
	// toRoom puts the room number into the Request-URI's user part, so a
	// valid INVITE reaches call handling instead of 404.
	toRoom adapt = 1 << iota
	// fixLength sets Content-Length to the body's real length: RFC 5118
	// prints figures that do not match its own bodies.
	fixLength
	// endHeaders adds the empty line that ends the header section, which
	// RFC 4475's baddn and RFC 5118's 4.10 messages are printed without.
	endHeaders
)

type tortureVector struct {
	rfc     string // "4475" or "5118"
	section string
	name    string // file name without .dat
	valid   bool   // the RFC's verdict
	adapt   adapt
	// codes are the acceptable final responses; none means no response
	// at all (a response sent to a UAS, or garbage without a usable Via).
	codes []int
	// tcp overrides the expectation over TCP when framing changes it.
	tcp *tcpExpect
	// udpOnly: the vector is about datagrams (RFC 4475 3.1.1.8).
	udpOnly bool
}

type tcpExpect struct {
	codes []int
	// lost: the connection cannot carry a following message (no
	// trustworthy framing), so the next OPTIONS goes on a new one.
	lost bool
}

var tortureVectors = []tortureVector{
	// RFC 4475 3.1.1: valid messages.
	// Folded lines and spaces around '=' (normalizeHead makes them
	// sipgo-readable); the To tag names a dialog vmrd never had: 481.
	{rfc: "4475", section: "3.1.1.1", name: "wsinv", valid: true, adapt: toRoom, codes: []int{481}},
	{rfc: "4475", section: "3.1.1.2", name: "intmeth", valid: true, codes: []int{501, 405}},
	// The escaped user part is what is tested, so it stays: no such room.
	{rfc: "4475", section: "3.1.1.3", name: "esc01", valid: true, codes: []int{404}},
	{rfc: "4475", section: "3.1.1.4", name: "escnull", valid: true, codes: []int{405}},
	// RE%47IST%45R is a method of its own, not REGISTER.
	{rfc: "4475", section: "3.1.1.5", name: "esc02", valid: true, codes: []int{501}},
	{rfc: "4475", section: "3.1.1.6", name: "lwsdisp", valid: true, codes: []int{200}},
	{rfc: "4475", section: "3.1.1.7", name: "longreq", valid: true, adapt: toRoom, codes: []int{200}},
	// Only the first message of the datagram counts; the INVITE after it
	// must get no answer.
	{rfc: "4475", section: "3.1.1.8", name: "dblreq", valid: true, codes: []int{405}, udpOnly: true},
	{rfc: "4475", section: "3.1.1.9", name: "semiuri", valid: true, codes: []int{200}},
	{rfc: "4475", section: "3.1.1.10", name: "transports", valid: true, codes: []int{200}},
	{rfc: "4475", section: "3.1.1.11", name: "mpart01", valid: true, codes: []int{405, 501}},
	{rfc: "4475", section: "3.1.1.12", name: "unreason", valid: true},
	{rfc: "4475", section: "3.1.1.13", name: "noreason", valid: true},

	// RFC 4475 3.1.2: invalid messages.
	{rfc: "4475", section: "3.1.2.1", name: "badinv01", adapt: toRoom, codes: []int{400}},
	// Over TCP the body never completes: nothing to answer yet, and the
	// stream is lost (RFC 3261 18.3).
	{rfc: "4475", section: "3.1.2.2", name: "clerr", adapt: toRoom, codes: []int{400}, tcp: &tcpExpect{lost: true}},
	{rfc: "4475", section: "3.1.2.3", name: "ncl", adapt: toRoom, codes: []int{400}, tcp: &tcpExpect{codes: []int{400}, lost: true}},
	{rfc: "4475", section: "3.1.2.4", name: "scalar02", codes: []int{400}},
	{rfc: "4475", section: "3.1.2.5", name: "scalarlg"},
	{rfc: "4475", section: "3.1.2.6", name: "quotbal", adapt: toRoom, codes: []int{400}},
	{rfc: "4475", section: "3.1.2.7", name: "ltgtruri", adapt: toRoom, codes: []int{400}},
	{rfc: "4475", section: "3.1.2.8", name: "lwsruri", adapt: toRoom, codes: []int{400}},
	{rfc: "4475", section: "3.1.2.9", name: "lwsstart", adapt: toRoom, codes: []int{400}},
	{rfc: "4475", section: "3.1.2.10", name: "trws", codes: []int{400}},
	{rfc: "4475", section: "3.1.2.11", name: "escruri", adapt: toRoom, codes: []int{400}},
	// The RFC lets an element that ignores Date accept the request.
	{rfc: "4475", section: "3.1.2.12", name: "baddate", adapt: toRoom, codes: []int{400, 200}},
	// vmrd refuses every REGISTER with 405 (it is not a registrar) before
	// reading its Contact; that refusal is as final as the 400 the RFC asks.
	{rfc: "4475", section: "3.1.2.13", name: "regbadct", codes: []int{400, 405}},
	{rfc: "4475", section: "3.1.2.14", name: "badaspec", codes: []int{400}},
	{rfc: "4475", section: "3.1.2.15", name: "baddn", adapt: endHeaders, codes: []int{400}},
	{rfc: "4475", section: "3.1.2.16", name: "badvers", codes: []int{505}},
	{rfc: "4475", section: "3.1.2.17", name: "mismatch01", codes: []int{400}},
	{rfc: "4475", section: "3.1.2.18", name: "mismatch02", codes: []int{400, 501}},
	{rfc: "4475", section: "3.1.2.19", name: "bigcode"},

	// RFC 4475 3.2: transaction layer.
	{rfc: "4475", section: "3.2.1", name: "badbranch", valid: true, codes: []int{200, 400}},

	// RFC 4475 3.3: application layer.
	{rfc: "4475", section: "3.3.1", name: "insuf", adapt: toRoom, codes: []int{400}},
	{rfc: "4475", section: "3.3.2", name: "unkscm", valid: true, codes: []int{416}},
	{rfc: "4475", section: "3.3.3", name: "novelsc", valid: true, codes: []int{416}},
	// A registrar would answer 400; vmrd is none.
	{rfc: "4475", section: "3.3.4", name: "unksm2", valid: true, codes: []int{405, 400}},
	{rfc: "4475", section: "3.3.5", name: "bext01", valid: true, codes: []int{420}},
	{rfc: "4475", section: "3.3.6", name: "invut", valid: true, adapt: toRoom, codes: []int{415}},
	{rfc: "4475", section: "3.3.7", name: "regaut01", valid: true, codes: []int{405, 401}},
	{rfc: "4475", section: "3.3.8", name: "multi01", adapt: toRoom, codes: []int{400}},
	{rfc: "4475", section: "3.3.9", name: "mcl01", codes: []int{400}, tcp: &tcpExpect{codes: []int{400}, lost: true}},
	{rfc: "4475", section: "3.3.10", name: "bcast", valid: true},
	// An endpoint treats Max-Forwards 0 as if it were positive.
	{rfc: "4475", section: "3.3.11", name: "zeromf", valid: true, codes: []int{200}},
	{rfc: "4475", section: "3.3.12", name: "cparam01", valid: true, codes: []int{405}},
	{rfc: "4475", section: "3.3.13", name: "cparam02", valid: true, codes: []int{405}},
	{rfc: "4475", section: "3.3.14", name: "regescrt", valid: true, codes: []int{405}},
	{rfc: "4475", section: "3.3.15", name: "sdp01", valid: true, adapt: toRoom, codes: []int{406}},

	// RFC 4475 3.4: backward compatibility.
	// No Content-Length: over a stream there is no framing (RFC 3261 18.3).
	// Over UDP the call is answered: the guard gives the tagless From a
	// tag sipgo can key, and strips it from what goes back (rfc2543.go).
	{rfc: "4475", section: "3.4.1", name: "inv2543", valid: true, adapt: toRoom, codes: []int{200}, tcp: &tcpExpect{codes: []int{400}, lost: true}},

	// RFC 5118 section 4, over IPv6.
	{rfc: "5118", section: "4.1", name: "ipv6-good", valid: true, codes: []int{405}},
	{rfc: "5118", section: "4.2", name: "ipv6-bad", codes: []int{400}},
	{rfc: "5118", section: "4.3", name: "port-ambiguous", valid: true, codes: []int{405}},
	{rfc: "5118", section: "4.4", name: "port-unambiguous", valid: true, codes: []int{405}},
	{rfc: "5118", section: "4.5", name: "via-received-param-with-delim", valid: true, codes: []int{481}},
	{rfc: "5118", section: "4.5", name: "via-received-param-no-delim", valid: true, codes: []int{200}},
	// G726-32 is all the offer has.
	{rfc: "5118", section: "4.6", name: "ipv6-in-sdp", valid: true, adapt: toRoom | fixLength, codes: []int{488}},
	{rfc: "5118", section: "4.7", name: "mult-ip-in-header", valid: true, codes: []int{481}},
	{rfc: "5118", section: "4.8", name: "mult-ip-in-sdp", valid: true, adapt: toRoom | fixLength, codes: []int{200}},
	{rfc: "5118", section: "4.9", name: "ipv4-mapped-ipv6", valid: true, adapt: toRoom | fixLength, codes: []int{488}},
	// The RFC asks parsers to be robust and accept the three-colon form;
	// refusing it as malformed is also defensible.
	{rfc: "5118", section: "4.10", name: "ipv6-bug-abnf-3-colons", adapt: endHeaders, codes: []int{200, 400}},
	{rfc: "5118", section: "4.10", name: "ipv6-correct-abnf-2-colons", valid: true, adapt: endHeaders, codes: []int{200}},
}

// tortureViaPorts are the ports the vectors' top Via names (none: 5060);
// over UDP responses go to the source address and the Via port (RFC 3261
// 18.2.2), so the client listens on each.
var tortureViaPorts = []int{5060, 5050, 6050, 19823}

// Each vector is answered (or not) within this.
const tortureDeadline = 5 * time.Second

func TestTortureVectorsComplete(t *testing.T) {
	counts := map[string]int{}
	seen := map[string]bool{}
	for _, v := range tortureVectors {
		counts[v.rfc]++
		if seen[v.name] {
			t.Errorf("%s listed twice", v.name)
		}
		seen[v.name] = true
		if _, err := os.Stat(tortureFile(v.name)); err != nil {
			t.Errorf("%s %s: %v", v.rfc, v.section, err)
		}
	}
	// RFC 4475 section 3 has 49 messages; RFC 5118 section 4 has 12.
	if counts["4475"] != 49 || counts["5118"] != 12 {
		t.Fatalf("vectors: %v, want 49 from RFC 4475 and 12 from RFC 5118", counts)
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "torture", "*.dat"))
	if len(files) != len(tortureVectors) {
		t.Fatalf("%d files, %d vectors", len(files), len(tortureVectors))
	}
}

func TestTorture(t *testing.T) {
	defer goleak.VerifyNone(t)
	env := startTorture(t)
	defer env.close(t)

	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			for i, v := range tortureVectors {
				if v.udpOnly && network == "tcp" {
					continue
				}
				t.Run(v.section+"_"+v.name, func(t *testing.T) {
					// A server of its own: many vectors share a branch and
					// sent-by, so one server would take them for
					// retransmissions of each other (RFC 3261 17.2.3).
					ip, host := net.IPv4(127, 0, 0, 99), "127.0.0.1"
					if v.rfc == "5118" {
						ip, host = net.IPv6loopback, "::1"
					}
					srv := env.start(t, host)
					defer srv.s.Close()
					msg := v.wire(t)
					var c tortureConn
					if network == "udp" {
						to, err := net.ResolveUDPAddr("udp", srv.udp)
						if err != nil {
							t.Fatal(err)
						}
						c = udpTo{udpClient: env.udp[ip.String()], to: to}
					} else {
						c = dialTorture(t, srv.tcp)
						defer c.close()
					}
					env.run(t, c, srv, v, network, msg, i)
				})
			}
		})
	}
}

func tortureFile(name string) string { return filepath.Join("testdata", "torture", name+".dat") }

var (
	sdpV4    = regexp.MustCompile(`(?m)^(c=IN IP4 )192\.0\.2\.`)
	sdpV6    = regexp.MustCompile(`(?m)^(c=IN IP6 )(\S+)`)
	clHeader = regexp.MustCompile(`(?mi)^(Content-Length|l)([ \t]*:[ \t]*)(\d+)`)
)

// wire is the vector as sent: the file's bytes with the adaptations.
func (v tortureVector) wire(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(tortureFile(v.name))
	if err != nil {
		t.Fatal(err)
	}
	if v.adapt&toRoom != 0 {
		line, rest, _ := bytes.Cut(b, []byte("\r\n"))
		at := bytes.IndexByte(line, '@')
		colon := bytes.Index(line, []byte("sip:"))
		if at < 0 || colon < 0 || colon > at {
			t.Fatalf("no user part in %q", line)
		}
		line = slices.Concat(line[:colon+4], []byte(tortureRoom), line[at:])
		b = slices.Concat(line, []byte("\r\n"), rest)
	}
	// Media addresses: never send RTP off this machine. Replacements keep
	// each address's length, so Content-Length stays as true (or as false)
	// as the RFC wrote it.
	b = sdpV4.ReplaceAll(b, []byte("${1}127.0.0."))
	b = sdpV6.ReplaceAllFunc(b, func(m []byte) []byte {
		sub := sdpV6.FindSubmatch(m)
		return slices.Concat(sub[1], loopback6(len(sub[2])))
	})
	if v.adapt&endHeaders != 0 {
		b = append(b, "\r\n"...)
	}
	if v.adapt&fixLength != 0 {
		end := bytes.Index(b, []byte("\r\n\r\n"))
		n := len(b) - end - 4
		b = slices.Concat(clHeader.ReplaceAll(b[:end], []byte("${1}${2}"+strconv.Itoa(n))), b[end:])
	}
	return b
}

// loopback6 writes ::1 in n characters (n >= 3), or IPv4-mapped loopback.
func loopback6(n int) []byte {
	if n == len("::ffff:192.0.2.2") {
		return []byte("::ffff:127.0.0.1")
	}
	s := "::1"
	for len(s) < n {
		if len(s)+2 <= n {
			s = "0:" + s
		} else {
			s = strings.Replace(s, "::1", "::01", 1)
		}
	}
	return []byte(s)
}

// tortureServer is one vmrd SIP server and its addresses.
type tortureServer struct {
	s        *Server
	udp, tcp string
	host     string
}

type tortureEnv struct {
	rooms *room.Manager
	ports *media.PortAllocator
	udp   map[string]*udpClient
}

func startTorture(t *testing.T) *tortureEnv {
	t.Helper()
	rooms := room.NewManager(room.Config{
		Lookup: func(n room.Number) (room.Settings, bool) {
			if n != tortureRoom {
				return room.Settings{}, false
			}
			return room.Settings{Number: n, Name: "torture", MaxParticipants: 10, Type: room.Open, Language: "en"}, true
		},
		NewMixer: func(room.Settings) (room.Mixer, error) { return nopMixer{}, nil },
		Logger:   discard(),
	})
	ports, err := media.NewPortAllocator(net.IPv4(127, 0, 0, 1), 42000, 42199)
	if err != nil {
		t.Fatal(err)
	}
	env := &tortureEnv{rooms: rooms, ports: ports, udp: map[string]*udpClient{}}
	for _, ip := range []net.IP{net.IPv4(127, 0, 0, 99), net.IPv6loopback} {
		c, err := listenUDPClient(ip)
		if err != nil {
			env.close(t)
			t.Fatalf("client sockets on %s: %v", ip, err)
		}
		env.udp[ip.String()] = c
	}
	return env
}

// start runs a server on host's loopback UDP and TCP.
func (e *tortureEnv) start(t *testing.T, host string) tortureServer {
	t.Helper()
	s, err := New(Config{
		Listeners: []Listener{{"udp", net.JoinHostPort(host, "0")}, {"tcp", net.JoinHostPort(host, "0")}},
		UserAgent: "vmrd-torture",
		Codecs:    func(room.Number) []codec.AudioCodec { return []codec.AudioCodec{codec.PCMU, codec.PCMA} },
		Rooms:     e.rooms,
		Ports:     e.ports,
		MinSE:     90 * time.Second, SessionExpires: 1800 * time.Second,
		Logger: tortureLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	ts := tortureServer{s: s, host: host}
	for _, a := range s.Addrs() {
		network, addr, _ := strings.Cut(a, ":")
		if network == "udp" {
			ts.udp = addr
		} else {
			ts.tcp = addr
		}
	}
	return ts
}

func (e *tortureEnv) close(t *testing.T) {
	t.Helper()
	for _, c := range e.udp {
		c.close()
	}
	_ = e.rooms.Close()
}

// tortureConn is the client side of one transport.
type tortureConn interface {
	send(b []byte) error
	// next returns the next message received, or nil at the deadline or
	// when the connection is gone.
	next(deadline time.Time) (*tortureRes, bool)
	via(branch string) string
	close()
}

type udpClient struct {
	ip     net.IP
	conns  []*net.UDPConn
	sender *net.UDPConn
	msgs   chan []byte
	wg     sync.WaitGroup
}

func listenUDPClient(ip net.IP) (*udpClient, error) {
	c := &udpClient{ip: ip, msgs: make(chan []byte, 64)}
	for _, p := range tortureViaPorts {
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: ip, Port: p})
		if err != nil {
			c.close()
			return nil, err
		}
		c.conns = append(c.conns, conn)
	}
	c.sender = c.conns[0]
	for _, conn := range c.conns {
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			buf := make([]byte, 65536)
			for {
				n, _, err := conn.ReadFromUDP(buf)
				if err != nil {
					return
				}
				c.msgs <- bytes.Clone(buf[:n])
			}
		}()
	}
	return c, nil
}

func (c udpTo) close() {}

func (c *udpClient) close() {
	for _, conn := range c.conns {
		_ = conn.Close()
	}
	c.wg.Wait()
}

func (c *udpClient) via(branch string) string {
	return fmt.Sprintf("SIP/2.0/UDP %s;branch=%s", net.JoinHostPort(c.ip.String(), "5060"), branch)
}

func (c *udpClient) next(deadline time.Time) (*tortureRes, bool) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		select {
		case b := <-c.msgs:
			if m := parseTortureRes(b); m != nil {
				return m, true
			}
		case <-timer.C:
			return nil, true
		}
	}
}

// udpClient sends to one server address at a time.
type udpTo struct {
	*udpClient
	to *net.UDPAddr
}

func (c udpTo) send(b []byte) error { _, err := c.sender.WriteToUDP(b, c.to); return err }

type tcpClient struct {
	conn net.Conn
	msgs chan *tortureRes
	done chan struct{}
}

func dialTorture(t *testing.T, addr string) *tcpClient {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &tcpClient{conn: conn, msgs: make(chan *tortureRes, 16), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		defer close(c.msgs)
		r := bufio.NewReader(conn)
		for {
			b, err := readFramed(r)
			if err != nil {
				return
			}
			if m := parseTortureRes(b); m != nil {
				c.msgs <- m
			}
		}
	}()
	return c
}

// readFramed reads one message from a stream, framed by Content-Length.
func readFramed(r *bufio.Reader) ([]byte, error) {
	var head bytes.Buffer
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		if head.Len() == 0 && strings.TrimSpace(line) == "" {
			continue
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
	}
	n, _, err := contentLength(bytes.TrimSuffix(head.Bytes(), []byte("\r\n\r\n")))
	if err != nil {
		return nil, err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	return append(head.Bytes(), body...), nil
}

func (c *tcpClient) send(b []byte) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(tortureDeadline))
	_, err := c.conn.Write(b)
	return err
}

func (c *tcpClient) next(deadline time.Time) (*tortureRes, bool) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case m, ok := <-c.msgs:
		return m, ok
	case <-timer.C:
		return nil, true
	}
}

func (c *tcpClient) via(branch string) string {
	return fmt.Sprintf("SIP/2.0/TCP %s;branch=%s", c.conn.LocalAddr().String(), branch)
}

func (c *tcpClient) close() {
	_ = c.conn.Close()
	<-c.done
}

// tortureRes is a response as far as the test reads it. Our own reader,
// not sipgo's parser: a 400 that echoes a vector's broken header (RFC 3261
// 8.2.6.1 copies them) must still be seen.
type tortureRes struct {
	code                      int
	reason                    string
	callID, from, to, contact string
	cseq                      uint32
	method                    string
}

// parseTortureRes reads a response's status line and the headers the test
// needs; requests and garbage give nil.
func parseTortureRes(b []byte) *tortureRes {
	head, _, _ := bytes.Cut(b, []byte("\r\n\r\n"))
	lines := strings.Split(string(head), "\r\n")
	status, ok := strings.CutPrefix(lines[0], "SIP/2.0 ")
	if !ok {
		return nil
	}
	codeText, reason, _ := strings.Cut(status, " ")
	code, err := strconv.Atoi(codeText)
	if err != nil {
		return nil
	}
	r := &tortureRes{code: code, reason: reason}
	for _, l := range lines[1:] {
		name, val, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "call-id", "i":
			r.callID = val
		case "from", "f":
			r.from = val
		case "to", "t":
			r.to = val
		case "contact", "m":
			if _, b, ok := strings.Cut(val, "<"); ok {
				val, _, _ = strings.Cut(b, ">")
			}
			r.contact = val
		case "cseq":
			n, m, _ := strings.Cut(val, " ")
			seq, _ := strconv.ParseUint(n, 10, 32)
			r.cseq, r.method = uint32(seq), strings.TrimSpace(m)
		}
	}
	return r
}

// callIDsOf lists the vector's Call-IDs (RFC 4475 3.3.8 has two).
func callIDsOf(msg []byte) []string {
	head, _, _ := bytes.Cut(msg, []byte("\r\n\r\n"))
	var ids []string
	for _, l := range strings.Split(string(head), "\r\n")[1:] {
		name, val, ok := strings.Cut(l, ":")
		if n := strings.ToLower(strings.TrimSpace(name)); ok && (n == "call-id" || n == "i") {
			ids = append(ids, strings.TrimSpace(val))
		}
	}
	return ids
}

// run sends one vector and checks the outcome, then that the server still
// answers an OPTIONS (on the same connection where framing allows).
func (e *tortureEnv) run(t *testing.T, c tortureConn, srv tortureServer, v tortureVector, network string, msg []byte, n int) {
	codes, lost := v.codes, false
	if network == "tcp" && v.tcp != nil {
		codes, lost = v.tcp.codes, v.tcp.lost
	}
	// Forget what earlier vectors left behind (retransmissions).
	for m, _ := c.next(time.Now()); m != nil; m, _ = c.next(time.Now()) {
	}
	if err := c.send(msg); err != nil {
		t.Fatalf("send: %v", err)
	}
	ids := callIDsOf(msg)
	mine := func(r *tortureRes) bool { return len(ids) == 0 || r.callID == "" || slices.Contains(ids, r.callID) }
	probeID := fmt.Sprintf("torture-probe-%d-%s", n, network)
	first := 0
	if len(codes) > 0 {
		res := awaitFinal(c, time.Now().Add(tortureDeadline), mine)
		if res == nil {
			t.Fatalf("no final response within %v; want %v (RFC %s %s, valid=%v)", tortureDeadline, codes, v.rfc, v.section, v.valid)
		}
		first = res.code
		t.Logf("answered %d %s", res.code, res.reason)
		if !slices.Contains(codes, res.code) {
			t.Errorf("answered %d %q, want one of %v (RFC %s %s, valid=%v)", res.code, res.reason, codes, v.rfc, v.section, v.valid)
		}
		if res.code >= 200 && res.code < 300 && res.method == "INVITE" {
			hangUp(t, c, srv, res, n)
		}
	}
	if lost {
		c.close()
		fresh := dialTorture(t, srv.tcp)
		defer fresh.close()
		c = fresh
	}
	// The server must still answer; and nothing more may come for the vector.
	if err := c.send(tortureOptions(c, srv, probeID, n)); err != nil {
		t.Fatalf("send OPTIONS after the vector: %v", err)
	}
	deadline := time.Now().Add(tortureDeadline)
	for {
		res, open := c.next(deadline)
		if res == nil {
			if !open {
				t.Fatal("connection closed before the OPTIONS after the vector was answered")
			}
			t.Fatal("OPTIONS after the vector not answered: server stuck")
		}
		switch {
		case res.code < 200:
		case res.callID == probeID:
			if res.code != 200 {
				t.Errorf("OPTIONS after the vector: %d", res.code)
			}
			return
		case !mine(res) || res.code == first:
			// another vector's retransmission, or this one's
		case len(codes) == 0:
			t.Errorf("answered %d %q, want no response (RFC %s %s)", res.code, res.reason, v.rfc, v.section)
		default:
			t.Errorf("a second final response %d %q", res.code, res.reason)
		}
	}
}

// awaitFinal returns the vector's first final response.
func awaitFinal(c tortureConn, deadline time.Time, mine func(*tortureRes) bool) *tortureRes {
	for {
		res, _ := c.next(deadline)
		if res == nil {
			return nil
		}
		if res.code >= 200 && mine(res) {
			return res
		}
	}
}

func tortureOptions(c tortureConn, srv tortureServer, callID string, n int) []byte {
	host := net.JoinHostPort(srv.host, "5060")
	return []byte("OPTIONS sip:" + tortureRoom + "@" + host + " SIP/2.0\r\n" +
		"Via: " + c.via(fmt.Sprintf("z9hG4bK-probe-%d", n)) + "\r\n" +
		"Max-Forwards: 70\r\n" +
		"From: <sip:probe@example.com>;tag=p" + strconv.Itoa(n) + "\r\n" +
		"To: <sip:" + tortureRoom + "@" + host + ">\r\n" +
		"Call-ID: " + callID + "\r\n" +
		"CSeq: 1 OPTIONS\r\n" +
		"Content-Length: 0\r\n\r\n")
}

// hangUp ACKs a 2xx to INVITE (RFC 3261 13.2.2.4) and ends the call with
// BYE, which must get 200.
func hangUp(t *testing.T, c tortureConn, srv tortureServer, res *tortureRes, n int) {
	t.Helper()
	target := "sip:" + tortureRoom + "@" + net.JoinHostPort(srv.host, "5060")
	if res.contact != "" {
		target = res.contact
	}
	req := func(method string, cseq uint32, branch string) []byte {
		return []byte(method + " " + target + " SIP/2.0\r\n" +
			"Via: " + c.via(branch) + "\r\n" +
			"Max-Forwards: 70\r\n" +
			"From: " + res.from + "\r\n" +
			"To: " + res.to + "\r\n" +
			"Call-ID: " + res.callID + "\r\n" +
			"CSeq: " + strconv.FormatUint(uint64(cseq), 10) + " " + method + "\r\n" +
			"Content-Length: 0\r\n\r\n")
	}
	if err := c.send(req("ACK", res.cseq, fmt.Sprintf("z9hG4bK-ack-%d", n))); err != nil {
		t.Fatalf("ACK: %v", err)
	}
	if err := c.send(req("BYE", res.cseq+1, fmt.Sprintf("z9hG4bK-bye-%d", n))); err != nil {
		t.Fatalf("BYE: %v", err)
	}
	deadline := time.Now().Add(tortureDeadline)
	for {
		r, _ := c.next(deadline)
		if r == nil {
			t.Fatal("BYE not answered")
		}
		if r.code < 200 || r.method != "BYE" {
			continue
		}
		if r.code != 200 {
			t.Errorf("BYE answered %d", r.code)
		}
		break
	}
	waitCalls(t, srv.s)
}

// waitCalls polls until the server has no call left.
func waitCalls(t *testing.T, s *Server) {
	t.Helper()
	deadline := time.Now().Add(tortureDeadline)
	for s.Calls() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls still up after BYE", s.Calls())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// nopMixer is a room mixer that mixes nothing.
type nopMixer struct{}

type nopInput struct{}

func (nopInput) Write([]int16) {}
func (nopInput) SetMuted(bool) {}

func (nopMixer) Add(room.ParticipantID, string, room.AudioSink) (room.AudioInput, error) {
	return nopInput{}, nil
}
func (nopMixer) Remove(room.ParticipantID)             {}
func (nopMixer) SetInMeeting(room.ParticipantID, bool) {}
func (nopMixer) Play(_ room.ParticipantID, _ string, _ []room.Prompt, _ bool, done func()) {
	if done != nil {
		go done() // as if the prompt ended at once, off the caller's goroutine
	}
}
func (nopMixer) StopPlay(room.ParticipantID) {}
func (nopMixer) Close() error                { return nil }

var (
	_ room.Mixer      = nopMixer{}
	_ room.AudioInput = nopInput{}
)

func tortureLogger() *slog.Logger {
	if os.Getenv("TORTURE_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return discard()
}
