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

// FrameWriter takes decoded pictures, usually a participant's latest-frame
// slot. WriteFrame is called on the session's receive goroutine; it must
// return quickly and must not keep f (copy it).
type FrameWriter interface {
	WriteFrame(f *codec.Frame)
}

// VideoFeedback is the RTCP feedback the peer accepted in SDP (rtcp-fb,
// RFC 4585 section 4.2; ccm fir and tmmbr, RFC 5104 section 7.1). It
// decides what we send; whatever feedback arrives is acted on anyway.
type VideoFeedback struct {
	NACK  bool // generic NACK: we ask for lost packets and keep a send history for theirs
	PLI   bool // nack pli
	FIR   bool // ccm fir: used for keyframe requests when PLI is not offered
	REMB  bool // goog-remb
	TMMBR bool // ccm tmmbr
}

// String lists the enabled messages, e.g. "nack,pli,fir"; "none" when empty.
func (f VideoFeedback) String() string {
	var parts []string
	for _, x := range []struct {
		on   bool
		name string
	}{{f.NACK, "nack"}, {f.PLI, "pli"}, {f.FIR, "fir"}, {f.REMB, "remb"}, {f.TMMBR, "tmmbr"}} {
		if x.on {
			parts = append(parts, x.name)
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ",")
}

// Defaults of VideoSessionConfig.
const (
	// DefaultVideoReorderDelay is how long a gap is waited for without NACK.
	DefaultVideoReorderDelay = 40 * time.Millisecond
	// DefaultVideoNACKDelay is how long a gap is waited for with NACK: room
	// for three requests and their retransmissions on a typical WAN path.
	DefaultVideoNACKDelay = 150 * time.Millisecond
	// DefaultKeyframeRequestInterval rate-limits our PLI/FIR.
	DefaultKeyframeRequestInterval = 500 * time.Millisecond
	// DefaultVideoRTCPInterval is the mean report interval for video.
	DefaultVideoRTCPInterval = time.Second
)

// newDefaultVideoDecoder makes decoders when the config names no factory.
var newDefaultVideoDecoder = codec.NewVideoDecoder

// VideoSessionConfig is what a VideoSession needs.
type VideoSessionConfig struct {
	Ports      *Ports       // the session owns and closes them
	Remote     *net.UDPAddr // nil, 0.0.0.0 or port 0: hold, nothing is sent
	RemoteRTCP *net.UDPAddr // nil with rtcp-mux (RFC 5761)
	Direction  Direction    // ours, as in our SDP answer (default sendrecv)
	// SRTP keys the leg (RFC 3711, SDES keys of RFC 4568); nil is plain RTP.
	SRTP              *SRTPConfig
	Codec             codec.VideoCodec // H264 or VP8
	PayloadType       uint8
	PacketizationMode H264PacketizationMode // H.264 only; informational, inbound accepts modes 0 and 1
	Feedback          VideoFeedback
	// NewDecoder makes the decoder; nil uses codec.NewVideoDecoder.
	NewDecoder func(codec.VideoCodec) (codec.VideoDecoder, error)
	Sink       FrameWriter // decoded pictures; nil discards (frames are still decoded)
	// OnKeyframeRequest is called when the peer sends PLI or a new FIR;
	// OnBitrate when it sends REMB or TMMBR (bits per second, > 0). Both
	// run on a receive goroutine: return quickly, do not call Close. The
	// caller rate-limits keyframes.
	OnKeyframeRequest func()
	OnBitrate         func(bps int)
	// RequestKeyframeOutOfBand asks the peer for a keyframe by other means
	// than RTCP (SIP INFO picture_fast_update, RFC 5168) when the peer
	// negotiated neither PLI nor FIR; nil sends PLI anyway. It is rate
	// limited like PLI, runs on the receive goroutine and must not block.
	RequestKeyframeOutOfBand func()
	MaxFrameBytes            int // largest assembled frame; 0 = DefaultMaxVideoFrame
	// MaxDelay is how long a missing packet holds up the ones behind it
	// before its frame is given up: 0 = DefaultVideoReorderDelay, or
	// DefaultVideoNACKDelay when Feedback.NACK is on.
	MaxDelay                time.Duration
	KeyframeRequestInterval time.Duration // 0 = DefaultKeyframeRequestInterval
	RTCPInterval            time.Duration // 0 = DefaultVideoRTCPInterval
	SourceSilence           time.Duration // before another SSRC or source may take over (default 1 s)
	Metrics                 *metrics.Metrics
	Logger                  *slog.Logger
	// Clock is the time source for timers and rate limits; nil is
	// time.Now. Tests inject a controllable one.
	Clock func() time.Time
}

// VideoUpdate is the state after a re-INVITE; every field replaces the old
// one. Our SSRC, sequence numbers and timestamp offset continue.
type VideoUpdate struct {
	Remote            *net.UDPAddr
	RemoteRTCP        *net.UDPAddr
	Direction         Direction
	Codec             codec.VideoCodec
	PayloadType       uint8
	PacketizationMode H264PacketizationMode
	Feedback          VideoFeedback
	SRTP              *SRTPConfig // nil: plain RTP from now on; same keys keep the running contexts
}

// VideoStats are a video session's counters.
type VideoStats struct {
	PacketsIn, BytesIn   uint64 // accepted RTP (payload bytes)
	PacketsOut, BytesOut uint64 // sent RTP, resends excluded
	Lost                 uint64 // sequence numbers given up (never arrived in time)
	Late                 uint64 // arrived after being given up, or duplicates of delivered ones
	Duplicate            uint64 // duplicates of held packets
	Reordered            uint64 // arrived out of order and were put back in place
	Recovered            uint64 // arrived after we NACKed them
	FramesIn             uint64 // complete frames out of the depacketizer
	KeyframesIn          uint64
	FramesDecoded        uint64 // pictures handed to the sink
	FramesBroken         uint64 // frames dropped for loss or bad payloads
	FramesSkipped        uint64 // intact frames not decoded while waiting for a keyframe
	DecodeErrors         uint64
	FramesOut            uint64
	KeyframesOut         uint64
	PacketsDropped       uint64 // outbound packets not sent: socket would block or failed
	FramesRefused        uint64 // outbound frames refused: empty or oversize payloads
	NACKsIn              uint64 // NACK packets about our stream
	Resent               uint64 // packets resent for them
	ResendMissed         uint64 // NACKed packets no longer (or never) in the history, or over budget
	NACKsOut             uint64 // NACK packets we sent
	NACKedOut            uint64 // sequence numbers asked for in them
	PLIIn, FIRIn         uint64 // FIR counts new requests only
	PLIOut, FIROut       uint64
	KeyframeAsks         uint64 // RequestKeyframe calls seen by the receive goroutine
	REMBIn, TMMBRIn      uint64
	TMMBNOut             uint64
	PeerBitrate          int // last REMB/TMMBR bound, bits per second; 0 if none
	RTCPIn, RTCPOut      uint64
	Jitter               time.Duration
	Invalid              map[metrics.InvalidReason]uint64
	SRTP                 SRTPSuite
}

type videoCounters struct {
	packetsIn, bytesIn, packetsOut, bytesOut          atomic.Uint64
	lost, late, dup, reordered, recovered             atomic.Uint64
	framesIn, keyframesIn, decoded, broken, skipped   atomic.Uint64
	decodeErrors, framesOut, keyframesOut, dropped    atomic.Uint64
	refused, nacksIn, resent, resendMissed            atomic.Uint64
	nacksOut, nackedOut, pliIn, firIn, pliOut, firOut atomic.Uint64
	asks, rembIn, tmmbrIn, tmmbnOut, rtcpIn, rtcpOut  atomic.Uint64
	peerBitrate, jitterNs                             atomic.Int64
	// rembBound and tmmbrBound are the last bound of each kind, 0 if none:
	// a peer may send both, and each holds until replaced by its own kind.
	rembBound, tmmbrBound                              atomic.Int64
	invalid                                            [numInvalid]atomic.Uint64
	invalidLogged                                      [numInvalid]atomic.Bool
	sendErrLogged, recvErrLogged, rtcpErrLogged, dropL atomic.Bool
}

// VideoSession is the video RTP/RTCP stream pair of one call leg. Its
// receive goroutine reorders, repairs (NACK), depacketizes and decodes
// what the peer sends; the mixer's encoder goroutine calls WriteVideo;
// Update and Close may come from signaling.
type VideoSession struct {
	cfg      VideoSessionConfig
	log      *slog.Logger
	m        *metrics.Metrics
	now      func() time.Time
	rtpConn  *net.UDPConn
	rtcpConn *net.UDPConn
	cname    string
	ssrc     uint32 // ours, fixed for the session

	pending atomic.Pointer[videoRxConfig] // from Update, taken by the receive goroutine
	srtcpIn atomic.Pointer[srtpRx]        // nil for plain RTP
	ssrcIn  atomic.Uint32                 // locked inbound SSRC, for RTCP on the other goroutine
	kfAsk   atomic.Bool                   // RequestKeyframe happened

	txMu sync.Mutex // guards tx and every socket write
	tx   videoTx

	srMu sync.Mutex
	sr   lastSR

	firMu   sync.Mutex
	firSeen map[uint32]uint8 // last FIR sequence number per requesting SSRC

	rx *videoReceiver

	closeOnce sync.Once
	wg        sync.WaitGroup
	closing   atomic.Bool
	closeErr  error

	c videoCounters
}

func validVideoCodec(c codec.VideoCodec) bool { return c == codec.H264 || c == codec.VP8 }

// NewVideoSession validates cfg, creates the decoder and starts the receive
// goroutine(s). Close stops them.
func NewVideoSession(cfg VideoSessionConfig) (*VideoSession, error) {
	if cfg.Ports == nil || cfg.Ports.RTP == nil {
		return nil, fmt.Errorf("%w: no ports", ErrConfig)
	}
	if !validVideoCodec(cfg.Codec) {
		return nil, fmt.Errorf("%w: video codec %q", ErrConfig, cfg.Codec)
	}
	if cfg.PayloadType > 127 {
		return nil, fmt.Errorf("%w: payload type out of range", ErrConfig)
	}
	if cfg.MaxFrameBytes <= 0 {
		cfg.MaxFrameBytes = DefaultMaxVideoFrame
	}
	if cfg.KeyframeRequestInterval <= 0 {
		cfg.KeyframeRequestInterval = DefaultKeyframeRequestInterval
	}
	if cfg.RTCPInterval <= 0 {
		cfg.RTCPInterval = DefaultVideoRTCPInterval
	}
	if cfg.SourceSilence <= 0 {
		cfg.SourceSilence = time.Second
	}
	if cfg.NewDecoder == nil {
		cfg.NewDecoder = newDefaultVideoDecoder
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
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
		return nil, fmt.Errorf("media: video decoder for %s: %w", cfg.Codec, err)
	}
	s := &VideoSession{
		cfg: cfg, m: cfg.Metrics, now: cfg.Clock,
		rtpConn: cfg.Ports.RTP, rtcpConn: cfg.Ports.RTCP,
		cname:   "vmrd-" + strconv.FormatUint(rand.Uint64(), 36),
		ssrc:    rand.Uint32(),
		firSeen: make(map[uint32]uint8),
	}
	// Keyframes arrive as bursts of 50-200 packets while the goroutine may
	// be decoding: ask for a deep socket buffer (the kernel caps it).
	_ = s.rtpConn.SetReadBuffer(1 << 20)
	s.log = cfg.Logger.With("rtp_port", s.LocalPort(), "media", "video")
	remote, remoteRTCP := addrPort(cfg.Remote), addrPort(cfg.RemoteRTCP)
	s.tx = videoTx{
		codec: cfg.Codec, mode: cfg.PacketizationMode, dir: cfg.Direction, fb: cfg.Feedback,
		remote: remote, remoteRTCP: remoteRTCP,
		hdr: rtp.Header{
			Version:        2,
			PayloadType:    cfg.PayloadType,
			SSRC:           s.ssrc,
			SequenceNumber: uint16(rand.Uint32()),
		},
		tsOffset: rand.Uint32(),
		srtp:     stx, srtpCfg: cfg.SRTP,
	}
	if cfg.Feedback.NACK {
		s.tx.hist = new(sendHistory)
	}
	s.srtcpIn.Store(srx)
	rc := &videoRxConfig{codec: cfg.Codec, pt: cfg.PayloadType, dir: cfg.Direction,
		hold: !remote.IsValid(), fb: cfg.Feedback, dec: dec, srtp: srx}
	s.rx = newVideoReceiver(s, rc)
	s.rx.begin(s.now())
	s.m.VideoDecodersActive.Add(1)
	s.wg.Add(1)
	go s.rx.loop()
	if s.rtcpConn != nil {
		s.wg.Add(1)
		go s.rtcpLoop()
	}
	return s, nil
}

// Close stops the goroutines, waits for them, closes the sockets and the
// decoder. It is idempotent and safe alongside WriteVideo and Update.
func (s *VideoSession) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		s.m.VideoDecodersActive.Add(-1)
		s.txMu.Lock()
		s.tx.closed = true
		s.tx.srtpCfg.wipe()
		s.txMu.Unlock()
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
func (s *VideoSession) LocalPort() int { return s.rtpConn.LocalAddr().(*net.UDPAddr).Port }

// SSRC is the SSRC of what we send (for a=ssrc in SDP, if wanted).
func (s *VideoSession) SSRC() uint32 { return s.ssrc }

// RequestKeyframe asks the peer for a keyframe (PLI, or FIR when only that
// was negotiated), for example after a layout change. It never blocks; the
// receive goroutine sends the request within the rate limit, which it
// shares with its own loss-driven requests.
func (s *VideoSession) RequestKeyframe() {
	if s.closing.Load() {
		return
	}
	s.kfAsk.Store(true)
	// Wake the receive goroutine (it checks kfAsk after setting its own
	// deadline and before reading, so this wake-up cannot be lost).
	_ = s.rtpConn.SetReadDeadline(time.Now())
}

// Update applies a re-INVITE. A new decoder is created here so its error is
// returned; the receive goroutine switches before its next packet, keeps
// the old decoder when the codec is unchanged, and accepts a new SSRC and
// source at once, since phones often change both on re-INVITE.
func (s *VideoSession) Update(u VideoUpdate) error {
	if !validVideoCodec(u.Codec) {
		return fmt.Errorf("%w: video codec %q", ErrConfig, u.Codec)
	}
	if u.PayloadType > 127 {
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
		return fmt.Errorf("media: video decoder for %s: %w", u.Codec, err)
	}
	remote, remoteRTCP := addrPort(u.Remote), addrPort(u.RemoteRTCP)
	s.txMu.Lock()
	tx := &s.tx
	if tx.closed {
		s.txMu.Unlock()
		dec.Close()
		return ErrClosed
	}
	srx := s.srtcpIn.Load()
	rekeyed := !tx.srtpCfg.equal(u.SRTP)
	if rekeyed {
		// RFC 4568 section 7.1.4: new keys, new cryptographic contexts.
		var stx *srtpTx
		srx = nil
		cfgCopy := u.SRTP.clone()
		if cfgCopy != nil {
			if stx, srx, err = newSRTP(cfgCopy); err != nil {
				s.txMu.Unlock()
				dec.Close()
				return err
			}
		}
		tx.srtpCfg.wipe()
		tx.srtp, tx.srtpCfg = stx, cfgCopy
		s.srtcpIn.Store(srx)
		// Stored packets are protected with the old keys; the peer could
		// not authenticate a resend of them.
		if tx.hist != nil {
			tx.hist.clear()
		}
	}
	tx.codec, tx.mode, tx.dir = u.Codec, u.PacketizationMode, u.Direction
	tx.hdr.PayloadType = u.PayloadType
	tx.remote, tx.remoteRTCP = remote, remoteRTCP
	tx.latched, tx.latchedRTCP = netip.AddrPort{}, netip.AddrPort{}
	switch {
	case u.Feedback.NACK && tx.hist == nil:
		tx.hist = new(sendHistory)
	case !u.Feedback.NACK:
		tx.hist = nil
	}
	tx.fb = u.Feedback
	s.txMu.Unlock()

	rc := &videoRxConfig{codec: u.Codec, pt: u.PayloadType, dir: u.Direction,
		hold: !remote.IsValid(), fb: u.Feedback, dec: dec, srtp: srx}
	if old := s.pending.Swap(rc); old != nil && old.dec != nil {
		old.dec.Close()
	}
	_ = s.rtpConn.SetReadDeadline(time.Now())
	// Close may have run between the check above and the Swap.
	if s.closing.Load() {
		if p := s.pending.Swap(nil); p != nil && p.dec != nil {
			p.dec.Close()
		}
	}
	s.log.Info("video session updated", "codec", string(u.Codec), "pt", u.PayloadType,
		"direction", u.Direction.String(), "remote", remote.String(), "srtp", u.SRTP,
		"rekeyed", rekeyed, "feedback", u.Feedback.String())
	return nil
}

// Stats returns a snapshot of the counters.
func (s *VideoSession) Stats() VideoStats {
	c := &s.c
	st := VideoStats{
		PacketsIn: c.packetsIn.Load(), BytesIn: c.bytesIn.Load(),
		PacketsOut: c.packetsOut.Load(), BytesOut: c.bytesOut.Load(),
		Lost: c.lost.Load(), Late: c.late.Load(), Duplicate: c.dup.Load(),
		Reordered: c.reordered.Load(), Recovered: c.recovered.Load(),
		FramesIn: c.framesIn.Load(), KeyframesIn: c.keyframesIn.Load(), FramesDecoded: c.decoded.Load(),
		FramesBroken: c.broken.Load(), FramesSkipped: c.skipped.Load(), DecodeErrors: c.decodeErrors.Load(),
		FramesOut: c.framesOut.Load(), KeyframesOut: c.keyframesOut.Load(),
		PacketsDropped: c.dropped.Load(), FramesRefused: c.refused.Load(),
		NACKsIn: c.nacksIn.Load(), Resent: c.resent.Load(), ResendMissed: c.resendMissed.Load(),
		NACKsOut: c.nacksOut.Load(), NACKedOut: c.nackedOut.Load(),
		PLIIn: c.pliIn.Load(), FIRIn: c.firIn.Load(), PLIOut: c.pliOut.Load(), FIROut: c.firOut.Load(),
		KeyframeAsks: c.asks.Load(), REMBIn: c.rembIn.Load(), TMMBRIn: c.tmmbrIn.Load(), TMMBNOut: c.tmmbnOut.Load(),
		PeerBitrate: int(c.peerBitrate.Load()),
		RTCPIn:      c.rtcpIn.Load(), RTCPOut: c.rtcpOut.Load(),
		Jitter:  time.Duration(c.jitterNs.Load()),
		Invalid: make(map[metrics.InvalidReason]uint64),
		SRTP:    s.SRTPSuite(),
	}
	for r := range numInvalid {
		if v := c.invalid[r].Load(); v > 0 {
			st.Invalid[metrics.InvalidReason(r)] = v
		}
	}
	return st
}

// SRTPSuite is the suite protecting the leg now, SRTPNone for plain RTP.
func (s *VideoSession) SRTPSuite() SRTPSuite {
	s.txMu.Lock()
	defer s.txMu.Unlock()
	if s.tx.srtp == nil {
		return SRTPNone
	}
	return s.tx.srtp.suite
}

// String describes the receive pipeline, e.g.
// "RTP(127.0.0.1:40002 <- 127.0.0.1:5004) -> SRTP(AEAD_AES_128_GCM) -> Reorder(150ms, nack,pli) -> H264(packetization-mode=1) -> Decoder -> Sink".
func (s *VideoSession) String() string {
	s.txMu.Lock()
	peer := s.tx.latched
	if !peer.IsValid() {
		peer = s.tx.remote
	}
	c, mode, dir, fb := s.tx.codec, s.tx.mode, s.tx.dir, s.tx.fb
	suite := SRTPNone
	if s.tx.srtp != nil {
		suite = s.tx.srtp.suite
	}
	s.txMu.Unlock()
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
	fmt.Fprintf(&b, " -> Reorder(%s, %s) -> %s", s.maxDelay(fb).String(), fb.String(), string(c))
	if c == codec.H264 {
		b.WriteString("(" + mode.String() + ")")
	}
	b.WriteString(" -> Decoder")
	if st, ok := s.cfg.Sink.(fmt.Stringer); ok {
		b.WriteString(" -> " + st.String())
	} else if s.cfg.Sink != nil {
		b.WriteString(" -> Sink")
	}
	return b.String()
}

// maxDelay is how long a gap holds up the packets behind it.
func (s *VideoSession) maxDelay(fb VideoFeedback) time.Duration {
	switch {
	case s.cfg.MaxDelay > 0:
		return s.cfg.MaxDelay
	case fb.NACK:
		return DefaultVideoNACKDelay
	}
	return DefaultVideoReorderDelay
}

func (s *VideoSession) logOnce(flag *atomic.Bool, msg string, args ...any) {
	if flag.CompareAndSwap(false, true) {
		s.log.Warn(msg, args...)
	}
}

func (s *VideoSession) countInvalid(reason metrics.InvalidReason, from fmt.Stringer) {
	s.m.RTPInvalid(reason)
	s.c.invalid[reason].Add(1)
	if s.c.invalidLogged[reason].CompareAndSwap(false, true) {
		s.log.Warn("dropping invalid inbound video packets", "reason", reason.String(), "from", from.String())
	}
}
