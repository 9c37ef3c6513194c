package media

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"vmrd/internal/codec"
	"vmrd/internal/metrics"
)

// maxPacket is the largest datagram we accept: one Ethernet MTU. Audio
// packets are far smaller (Opus at most 1275 bytes of payload, G.711 160
// bytes per 20 ms), so anything longer is fragmented junk or an attack.
const maxPacket = 1500

// Direction is OUR media direction, as written in our SDP answer (RFC 3264
// section 6.1): sendonly means we send and do not receive.
type Direction int

// Directions.
const (
	SendRecv Direction = iota
	SendOnly
	RecvOnly
	Inactive
)

func (d Direction) String() string {
	switch d {
	case SendRecv:
		return "sendrecv"
	case SendOnly:
		return "sendonly"
	case RecvOnly:
		return "recvonly"
	case Inactive:
		return "inactive"
	}
	return "unknown"
}

// Sends reports whether we send RTP in this direction.
func (d Direction) Sends() bool { return d == SendRecv || d == SendOnly }

// Receives reports whether we accept RTP in this direction.
func (d Direction) Receives() bool { return d == SendRecv || d == RecvOnly }

// AudioWriter takes decoded 48 kHz mono audio, usually a mixer input. Write
// is called from the session's receive goroutine and must not block or keep pcm.
type AudioWriter interface {
	Write(pcm []int16)
}

// SessionConfig is what a Session needs; see the field comments for defaults.
type SessionConfig struct {
	Ports           *Ports           // from the allocator; the session owns and closes them
	Remote          *net.UDPAddr     // from the SDP (c= and m= port); nil, 0.0.0.0 or port 0 means hold: nothing is sent
	RemoteRTCP      *net.UDPAddr     // nil with rtcp-mux (RFC 5761): RTCP goes from the RTP socket to the RTP peer
	Codec           codec.AudioCodec // the negotiated codec
	PayloadType     uint8            // its negotiated payload type
	DTMFPayloadType int              // telephone-event payload type, -1 if none
	DTMFClockRate   uint32           // telephone-event clock rate (default 8000)
	Direction       Direction        // our direction (default sendrecv)
	Sink            AudioWriter      // decoded audio; nil discards
	// InbandDTMF also looks for DTMF tones in the decoded audio, for
	// phones that send neither RFC 4733 events nor SIP INFO. It stops for
	// good once an RFC 4733 event arrives, so a phone that sends both is
	// not heard twice.
	InbandDTMF bool
	// OnDTMF and OnTimeout are called on the receive goroutine: they must
	// return quickly and must not call Close (hand it to another goroutine).
	OnDTMF       func(DTMFEvent) // one call per key press, at its end; may be nil
	OnTimeout    func()          // once, after NoRTPTimeout without RTP while we expect it
	NoRTPTimeout time.Duration   // default 30 s; negative disables the check
	RTCPInterval time.Duration   // mean RTCP report interval (default 5 s, RFC 3550 section 6.2)
	// SourceSilence is how long the locked SSRC or latched source must be
	// silent before another may take over (default 1 s).
	SourceSilence time.Duration
	JitterMin     time.Duration // default 20 ms
	JitterMax     time.Duration // default 200 ms
	// SRTP encrypts the leg (RFC 3711) with SDES keys (RFC 4568); nil is plain RTP.
	SRTP *SRTPConfig
	// NewDecoder makes decoders; nil uses Codec.NewDecoder. Tests inject fakes.
	NewDecoder func(codec.AudioCodec) (codec.AudioDecoder, error)
	Metrics    *metrics.Metrics // nil makes a private set
	Logger     *slog.Logger
}

// Update is the new state from a re-INVITE's offer/answer. Every field is
// taken as given (it replaces the old state); SSRC, sequence number and
// timestamp of what we send continue.
type Update struct {
	Remote          *net.UDPAddr
	RemoteRTCP      *net.UDPAddr
	Codec           codec.AudioCodec
	PayloadType     uint8
	DTMFPayloadType int
	Direction       Direction
	// SRTP is the keying after the re-INVITE; nil means plain RTP from now
	// on. The same suite and keys keep the running contexts (replay windows
	// and rollover counters); anything else starts new ones, and packets
	// still in flight under the old keys then fail authentication.
	SRTP *SRTPConfig
}

// Stats are a session's counters.
type Stats struct {
	PacketsIn, BytesIn   uint64 // accepted RTP (bytes are payload bytes)
	PacketsOut, BytesOut uint64
	Lost                 uint64 // sequence numbers never received before their playout
	Late                 uint64 // arrived after their playout time and dropped
	Duplicate            uint64
	Concealed            uint64 // frames of loss concealment written to the sink
	Jitter               time.Duration
	RTCPIn, RTCPOut      uint64
	Invalid              map[metrics.InvalidReason]uint64 // dropped inbound packets by reason
	TimedOut             bool
	// SRTP is the suite in use, SRTPNone for plain RTP. Authentication
	// failures and replays are in Invalid (InvalidAuth, InvalidReplay).
	SRTP SRTPSuite
}

const numInvalid = int(metrics.InvalidReplay) + 1

// rxConfig is the receive side's view of the negotiated state. Update hands a
// new one to the receive goroutine through an atomic pointer.
type rxConfig struct {
	codec  codec.AudioCodec
	pt     uint8
	dtmfPT int
	dir    Direction
	hold   bool // no usable remote address
	dec    codec.AudioDecoder
	srtp   *srtpRx // nil for plain RTP
}

// txState is the send side, guarded by Session.sendMu.
type txState struct {
	closed          bool
	codec           codec.AudioCodec
	pt              uint8
	dir             Direction
	remote          netip.AddrPort // from SDP; invalid on hold
	remoteRTCP      netip.AddrPort // from SDP; invalid with rtcp-mux
	latched         netip.AddrPort // where valid RTP comes from (RFC 4961)
	latchedRTCP     netip.AddrPort
	hdr             rtp.Header
	marker          bool
	lastWrite       time.Time
	lastSendTS      uint32
	lastSendAt      time.Time
	packets         uint32
	octets          uint32
	sentSinceReport bool
	buf             [maxPacket]byte
	srtp            *srtpTx     // nil for plain RTP
	srtpCfg         *SRTPConfig // our copy of the keying, to spot an unchanged re-INVITE
	encHdr          rtp.Header
	enc             [maxPacket + srtpOverhead]byte
}

type counters struct {
	packetsIn, bytesIn, packetsOut, bytesOut atomic.Uint64
	lost, late, dup, concealed               atomic.Uint64
	jitterNs                                 atomic.Int64
	rtcpIn, rtcpOut                          atomic.Uint64
	invalid                                  [numInvalid]atomic.Uint64
	invalidLogged                            [numInvalid]atomic.Bool
	timedOut                                 atomic.Bool
	// Socket errors are logged once per session and direction.
	sendErrLogged, recvErrLogged, rtcpErrLogged atomic.Bool
}

// Session is one audio RTP/RTCP stream pair of one call leg. The receive
// goroutine owns the jitter buffer, decoder and receive statistics; the
// mixer's tick calls WriteAudio; Update and Close may come from signaling.
type Session struct {
	cfg      SessionConfig
	log      *slog.Logger
	m        *metrics.Metrics
	rtpConn  *net.UDPConn
	rtcpConn *net.UDPConn
	cname    string

	pending   atomic.Pointer[rxConfig] // from Update, taken by the receive goroutine
	srtcpIn   atomic.Pointer[srtpRx]   // decrypts inbound RTCP on either goroutine; nil for plain
	ssrcIn    atomic.Uint32            // locked inbound SSRC, for RTCP from the other goroutine
	inbandOff atomic.Bool              // in-band DTMF detection stopped (RFC 4733 seen)

	sendMu sync.Mutex
	tx     txState

	srMu sync.Mutex
	sr   lastSR

	rx *receiver

	startOnce, closeOnce sync.Once
	wg                   sync.WaitGroup
	closing              atomic.Bool
	closeErr             error

	c counters
}

// NewSession validates cfg and prepares the session; Start starts receiving.
func NewSession(cfg SessionConfig) (*Session, error) {
	if cfg.Ports == nil || cfg.Ports.RTP == nil {
		return nil, fmt.Errorf("%w: no ports", ErrConfig)
	}
	if cfg.Codec.ClockRate == 0 || cfg.Codec.FrameTS == 0 {
		return nil, fmt.Errorf("%w: codec %q has no clock rate or frame size", ErrConfig, cfg.Codec.Name)
	}
	if cfg.PayloadType > 127 || cfg.DTMFPayloadType > 127 {
		return nil, fmt.Errorf("%w: payload type out of range", ErrConfig)
	}
	if cfg.DTMFClockRate == 0 {
		cfg.DTMFClockRate = 8000
	}
	if cfg.NoRTPTimeout == 0 {
		cfg.NoRTPTimeout = 30 * time.Second
	}
	if cfg.RTCPInterval <= 0 {
		cfg.RTCPInterval = 5 * time.Second
	}
	if cfg.SourceSilence <= 0 {
		cfg.SourceSilence = time.Second
	}
	if cfg.NewDecoder == nil {
		cfg.NewDecoder = codec.AudioCodec.NewDecoder
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var stx *srtpTx
	var srx *srtpRx
	if cfg.SRTP != nil {
		cfg.SRTP = cfg.SRTP.clone()
		var err error
		if stx, srx, err = newSRTP(cfg.SRTP); err != nil {
			return nil, err
		}
	}
	dec, err := cfg.NewDecoder(cfg.Codec)
	if err != nil {
		return nil, fmt.Errorf("media: decoder for %s: %w", cfg.Codec, err)
	}
	s := &Session{
		cfg:      cfg,
		m:        cfg.Metrics,
		rtpConn:  cfg.Ports.RTP,
		rtcpConn: cfg.Ports.RTCP,
		cname:    "vmrd-" + strconv.FormatUint(rand.Uint64(), 36),
	}
	s.log = cfg.Logger.With("rtp_port", s.LocalPort())
	remote, remoteRTCP := addrPort(cfg.Remote), addrPort(cfg.RemoteRTCP)
	s.tx = txState{
		codec: cfg.Codec, pt: cfg.PayloadType, dir: cfg.Direction,
		remote: remote, remoteRTCP: remoteRTCP, marker: true,
		hdr: rtp.Header{
			Version:        2,
			PayloadType:    cfg.PayloadType,
			SSRC:           rand.Uint32(),
			SequenceNumber: uint16(rand.Uint32()),
			Timestamp:      rand.Uint32(),
		},
		srtp: stx, srtpCfg: cfg.SRTP,
	}
	s.srtcpIn.Store(srx)
	rc := &rxConfig{codec: cfg.Codec, pt: cfg.PayloadType, dtmfPT: cfg.DTMFPayloadType,
		dir: cfg.Direction, hold: !remote.IsValid(), dec: dec, srtp: srx}
	s.rx = newReceiver(s, rc)
	return s, nil
}

// addrPort converts an SDP address; 0.0.0.0 (RFC 3264 section 8.4 hold),
// port 0 and nil give the invalid AddrPort.
func addrPort(a *net.UDPAddr) netip.AddrPort {
	if a == nil || a.Port <= 0 || a.Port > 65535 || a.IP == nil || a.IP.IsUnspecified() {
		return netip.AddrPort{}
	}
	ip, ok := netip.AddrFromSlice(a.IP)
	if !ok {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ip.Unmap(), uint16(a.Port))
}

// Start starts the receive goroutine(s). It is a no-op after Close.
func (s *Session) Start() {
	s.startOnce.Do(func() {
		if s.closing.Load() {
			return
		}
		now := time.Now()
		s.rx.begin(now)
		s.wg.Add(1)
		go s.rx.loop()
		if s.rtcpConn != nil {
			s.wg.Add(1)
			go s.rtcpLoop()
		}
	})
}

// Close stops the goroutines, waits for them, closes the sockets and the
// decoder. It is idempotent.
func (s *Session) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		s.startOnce.Do(func() {}) // a later Start must not start anything
		s.sendMu.Lock()
		s.tx.closed = true
		s.tx.srtpCfg.wipe()
		s.sendMu.Unlock()
		s.closeErr = s.cfg.Ports.Close()
		s.wg.Wait()
		s.rx.close()
		if p := s.pending.Swap(nil); p != nil && p.dec != nil {
			p.dec.Close()
		}
	})
	return s.closeErr
}

// LocalPort is the local RTP port.
func (s *Session) LocalPort() int { return s.rtpConn.LocalAddr().(*net.UDPAddr).Port }

// Update applies a re-INVITE. A new codec gets a new decoder (created here,
// so its error is returned); the receive goroutine switches to it before it
// looks at the next packet, resets the jitter buffer if the codec changed
// and accepts a new SSRC and source at once, since phones often change both
// on re-INVITE.
func (s *Session) Update(u Update) error {
	if u.Codec.ClockRate == 0 || u.Codec.FrameTS == 0 {
		return fmt.Errorf("%w: codec %q has no clock rate or frame size", ErrConfig, u.Codec.Name)
	}
	if u.PayloadType > 127 || u.DTMFPayloadType > 127 {
		return fmt.Errorf("%w: payload type out of range", ErrConfig)
	}
	if s.closing.Load() {
		return ErrClosed
	}
	if u.SRTP != nil {
		if err := u.SRTP.validate(); err != nil {
			return err
		}
	}
	dec, err := s.cfg.NewDecoder(u.Codec)
	if err != nil {
		return fmt.Errorf("media: decoder for %s: %w", u.Codec, err)
	}
	remote, remoteRTCP := addrPort(u.Remote), addrPort(u.RemoteRTCP)
	s.sendMu.Lock()
	if s.tx.closed {
		s.sendMu.Unlock()
		dec.Close()
		return ErrClosed
	}
	tx := &s.tx
	srx := s.srtcpIn.Load()
	rekeyed := !tx.srtpCfg.equal(u.SRTP)
	if rekeyed {
		// RFC 4568 section 7.1.4: new keys mean new cryptographic
		// contexts; rollover counters and replay windows start afresh.
		var stx *srtpTx
		srx = nil
		cfgCopy := u.SRTP.clone()
		if cfgCopy != nil {
			if stx, srx, err = newSRTP(cfgCopy); err != nil {
				s.sendMu.Unlock()
				dec.Close()
				return err
			}
		}
		tx.srtpCfg.wipe()
		tx.srtp, tx.srtpCfg = stx, cfgCopy
		s.srtcpIn.Store(srx)
	}
	if !tx.dir.Sends() && u.Direction.Sends() || tx.codec != u.Codec {
		tx.marker = true
	}
	tx.codec, tx.pt, tx.dir = u.Codec, u.PayloadType, u.Direction
	tx.hdr.PayloadType = u.PayloadType
	tx.remote, tx.remoteRTCP = remote, remoteRTCP
	tx.latched, tx.latchedRTCP = netip.AddrPort{}, netip.AddrPort{}
	s.sendMu.Unlock()

	rc := &rxConfig{codec: u.Codec, pt: u.PayloadType, dtmfPT: u.DTMFPayloadType,
		dir: u.Direction, hold: !remote.IsValid(), dec: dec, srtp: srx}
	if old := s.pending.Swap(rc); old != nil && old.dec != nil {
		old.dec.Close()
	}
	// Wake the receive goroutine so a new hold state applies to its timers now.
	_ = s.rtpConn.SetReadDeadline(time.Now())
	// Close may have run between the check above and the Swap; then it
	// may not have seen rc.
	if s.closing.Load() {
		if p := s.pending.Swap(nil); p != nil && p.dec != nil {
			p.dec.Close()
		}
	}
	s.log.Info("media session updated", "codec", u.Codec.String(), "pt", u.PayloadType,
		"direction", u.Direction.String(), "remote", remote.String(), "srtp", u.SRTP, "rekeyed", rekeyed)
	return nil
}

// WriteAudio sends one encoded 20 ms frame. The timestamp advances by the
// codec's frame size per call; when the mixer skipped frames (more than three
// frame times since the last call) the timestamp jumps by the elapsed time and
// the marker bit is set, as after silence suppression (RFC 3551 section 4.1).
// It never waits for the receive side and does not allocate.
func (s *Session) WriteAudio(payload []byte) {
	if len(payload) == 0 || len(payload) > maxPayload {
		return
	}
	now := time.Now()
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	tx := &s.tx
	if tx.closed {
		return
	}
	frameDur := time.Duration(tx.codec.FrameTS) * time.Second / time.Duration(tx.codec.ClockRate)
	if !tx.lastWrite.IsZero() {
		if gap := now.Sub(tx.lastWrite); gap > 3*frameDur {
			tx.hdr.Timestamp += uint32(gap/frameDur-1) * tx.codec.FrameTS
			tx.marker = true
		}
	}
	tx.lastWrite = now
	dst := tx.latched
	if !dst.IsValid() {
		dst = tx.remote
	}
	if !tx.dir.Sends() || !tx.remote.IsValid() || !dst.IsValid() {
		// Hold or a direction that forbids sending: keep time running so
		// the stream resumes with a consistent timestamp.
		tx.hdr.Timestamp += tx.codec.FrameTS
		tx.marker = true
		return
	}
	tx.hdr.Marker = tx.marker
	n, err := tx.hdr.MarshalTo(tx.buf[:])
	if err != nil {
		return
	}
	n += copy(tx.buf[n:], payload)
	out := tx.buf[:n]
	if tx.srtp != nil {
		// The header is parsed into a reused struct: no allocation.
		out, err = tx.srtp.rtp.EncryptRTP(tx.enc[:0], out, &tx.encHdr)
		if err != nil {
			s.logOnce(&s.c.sendErrLogged, "srtp encrypt failed", "err", err)
			return
		}
	}
	if _, err := s.rtpConn.WriteToUDPAddrPort(out, dst); err != nil {
		if !s.closing.Load() {
			s.logOnce(&s.c.sendErrLogged, "rtp send failed", "err", err)
		}
	} else {
		s.c.packetsOut.Add(1)
		s.c.bytesOut.Add(uint64(len(payload)))
		s.m.RTPPacketsOut.Add(1)
		s.m.RTPBytesOut.Add(uint64(len(payload)))
		tx.packets++
		tx.octets += uint32(len(payload))
		tx.sentSinceReport = true
	}
	tx.lastSendTS, tx.lastSendAt = tx.hdr.Timestamp, now
	tx.marker = false
	tx.hdr.SequenceNumber++
	tx.hdr.Timestamp += tx.codec.FrameTS
}

func (s *Session) logOnce(flag *atomic.Bool, msg string, args ...any) {
	if flag.CompareAndSwap(false, true) {
		s.log.Warn(msg, args...)
	}
}

// Stats returns a snapshot of the counters.
func (s *Session) Stats() Stats {
	st := Stats{
		PacketsIn: s.c.packetsIn.Load(), BytesIn: s.c.bytesIn.Load(),
		PacketsOut: s.c.packetsOut.Load(), BytesOut: s.c.bytesOut.Load(),
		Lost: s.c.lost.Load(), Late: s.c.late.Load(), Duplicate: s.c.dup.Load(),
		Concealed: s.c.concealed.Load(), Jitter: time.Duration(s.c.jitterNs.Load()),
		RTCPIn: s.c.rtcpIn.Load(), RTCPOut: s.c.rtcpOut.Load(),
		Invalid:  make(map[metrics.InvalidReason]uint64, numInvalid),
		TimedOut: s.c.timedOut.Load(),
		SRTP:     s.SRTPSuite(),
	}
	for r := range numInvalid {
		if v := s.c.invalid[r].Load(); v > 0 {
			st.Invalid[metrics.InvalidReason(r)] = v
		}
	}
	return st
}

// String describes the receive pipeline, e.g.
// "RTP(127.0.0.1:40002 <- 127.0.0.1:5004) -> SRTP(AEAD_AES_128_GCM) -> Jitter(adaptive 20-200ms) -> opus/48000/2 -> 48kHz mono"
// (no SRTP stage for plain RTP).
func (s *Session) String() string {
	s.sendMu.Lock()
	peer := s.tx.latched
	if !peer.IsValid() {
		peer = s.tx.remote
	}
	c, dir := s.tx.codec, s.tx.dir
	suite := SRTPNone
	if s.tx.srtp != nil {
		suite = s.tx.srtp.suite
	}
	s.sendMu.Unlock()
	var b strings.Builder
	from := "hold"
	if peer.IsValid() {
		from = peer.String()
	}
	fmt.Fprintf(&b, "RTP(%s <- %s", s.rtpConn.LocalAddr(), from)
	if dir != SendRecv {
		b.WriteString(" " + dir.String())
	}
	b.WriteString(")")
	if suite != SRTPNone {
		b.WriteString(" -> SRTP(" + suite.String() + ")")
	}
	fmt.Fprintf(&b, " -> %s -> %s -> 48kHz mono", s.rx.jbString, c)
	if s.cfg.InbandDTMF && !s.inbandOff.Load() {
		b.WriteString(" -> DTMF(in-band)")
	}
	if st, ok := s.cfg.Sink.(fmt.Stringer); ok {
		b.WriteString(" -> " + st.String())
	}
	return b.String()
}

// SRTPSuite is the suite protecting the leg now, SRTPNone for plain RTP.
func (s *Session) SRTPSuite() SRTPSuite {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	if s.tx.srtp == nil {
		return SRTPNone
	}
	return s.tx.srtp.suite
}

// Encrypted reports whether the leg's media is SRTP now.
func (s *Session) Encrypted() bool { return s.SRTPSuite() != SRTPNone }
