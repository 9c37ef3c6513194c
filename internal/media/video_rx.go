package media

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"vmrd/internal/codec"
	"vmrd/internal/metrics"
)

// videoRxConfig is the receive side's view of the negotiated state; Update
// hands a new one over through VideoSession.pending.
type videoRxConfig struct {
	codec codec.VideoCodec
	pt    uint8
	dir   Direction
	hold  bool
	fb    VideoFeedback
	dec   codec.VideoDecoder
	srtp  *srtpRx
}

// keyframeLimiter spaces our keyframe requests (PLI/FIR) at least interval
// apart. A need that arises inside the interval stays pending and goes out
// when the interval ends, so a lost request is repeated while the loss lasts.
type keyframeLimiter struct {
	interval time.Duration
	last     time.Time
	sent     bool
	pending  bool
}

// due reports whether a pending request may go out now.
func (k *keyframeLimiter) due(now time.Time) bool {
	return k.pending && (!k.sent || now.Sub(k.last) >= k.interval)
}

func (k *keyframeLimiter) done(now time.Time) { k.sent, k.last, k.pending = true, now, false }

// deadline is when a pending request may go out.
func (k *keyframeLimiter) deadline() (time.Time, bool) {
	if !k.pending {
		return time.Time{}, false
	}
	if !k.sent {
		return time.Time{}, true
	}
	return k.last.Add(k.interval), true
}

// jitterEstimator is the interarrival jitter of RFC 3550 section 6.4.1
// (appendix A.8) in 90 kHz units, taken on the first packet of each frame:
// the packets of one frame share a timestamp but leave the sender spread
// out, which is pacing, not network jitter.
type jitterEstimator struct {
	base        time.Time
	valid       bool
	lastTS      uint32
	lastTransit uint32
	j16         int64 // jitter * 16
}

func (j *jitterEstimator) update(now time.Time, ts uint32) {
	if j.base.IsZero() {
		j.base = now
	}
	if j.valid && ts == j.lastTS {
		return
	}
	d := now.Sub(j.base)
	arrival := uint32(int64(d/time.Millisecond)*90 + int64(d%time.Millisecond)*90/int64(time.Millisecond))
	transit := arrival - ts
	if j.valid {
		diff := int64(int32(transit - j.lastTransit))
		if diff < 0 {
			diff = -diff
		}
		j.j16 += diff - (j.j16+8)>>4
	}
	j.valid, j.lastTS, j.lastTransit = true, ts, transit
}

func (j *jitterEstimator) value() uint32 { return uint32(j.j16 >> 4) }

func (j *jitterEstimator) duration() time.Duration {
	return time.Duration(j.value()) * time.Second / 90000
}

// videoReceiver is the state of the receive goroutine; nothing else touches
// it while that goroutine runs.
type videoReceiver struct {
	s       *VideoSession
	cfg     *videoRxConfig
	buf     [maxPacket + 1]byte // one spare byte detects oversize datagrams
	plain   [maxPacket]byte
	srtpHdr rtp.Header
	pkt     rtp.Packet // parsed inbound packet
	out     rtp.Packet // what the depacketizer gets
	ro      reorderBuffer
	deliver deliverFunc
	h264    *H264Depacketizer // one of the two, by codec
	vp8     *VP8Depacketizer
	now     time.Time // of the packet or tick being handled

	maxWait   time.Duration
	nackRetry time.Duration
	waitKey   bool // drop frames until a keyframe: the decoder's references are gone
	kf        keyframeLimiter
	firSeq    uint8
	lastNACK  time.Time
	nackSeqs  []uint16

	ssrcLocked bool
	ssrc       uint32
	lastSSRC   time.Time
	latched    netip.AddrPort
	lastLatch  time.Time
	stats      rxStats
	jit        jitterEstimator
	synced     reorderStats
	nextRTCP   time.Time
	fb         rtcpFeedback
}

func newVideoReceiver(s *VideoSession, rc *videoRxConfig) *videoReceiver {
	r := &videoReceiver{s: s, cfg: rc, waitKey: true,
		kf: keyframeLimiter{interval: s.cfg.KeyframeRequestInterval}, nackSeqs: make([]uint16, 0, reorderSlots)}
	r.deliver = r.feed
	r.newDepacketizer()
	r.setDelays()
	return r
}

func (r *videoReceiver) setDelays() {
	r.maxWait = r.s.maxDelay(r.cfg.fb)
	r.nackRetry = min(max(r.maxWait/4, 20*time.Millisecond), 100*time.Millisecond)
}

func (r *videoReceiver) newDepacketizer() {
	r.h264, r.vp8 = nil, nil
	switch r.cfg.codec {
	case codec.H264:
		r.h264 = NewH264Depacketizer(r.onH264, r.s.cfg.MaxFrameBytes)
	default:
		r.vp8 = NewVP8Depacketizer(r.onVP8, VP8Limits{MaxFrameSize: r.s.cfg.MaxFrameBytes,
			MaxWidth: codec.MaxVideoDimension, MaxHeight: codec.MaxVideoDimension})
	}
}

func (r *videoReceiver) begin(now time.Time) {
	// RFC 3550 section 6.2: the first report after half the interval.
	r.nextRTCP = now.Add(r.s.cfg.RTCPInterval / 2)
}

func (r *videoReceiver) close() {
	if r.cfg.dec != nil {
		r.cfg.dec.Close()
		r.cfg.dec = nil
	}
}

func (r *videoReceiver) loop() {
	defer r.s.wg.Done()
	s := r.s
	for {
		now := s.now()
		wait := min(max(r.wakeAt(now).Sub(now), 0), maxIdleWait)
		_ = s.rtpConn.SetReadDeadline(time.Now().Add(wait))
		// Update and RequestKeyframe store their flag and then move the
		// deadline to now: checked after our own SetReadDeadline, neither
		// can be missed.
		if s.pending.Load() != nil || s.kfAsk.Load() {
			r.applyPending(now)
			r.tick(now)
			if s.closing.Load() {
				return
			}
			continue
		}
		n, from, err := s.rtpConn.ReadFromUDPAddrPort(r.buf[:])
		now = s.now()
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				s.logOnce(&s.c.recvErrLogged, "video rtp receive failed", "err", err)
				time.Sleep(time.Millisecond) // do not spin on a persistent error
			}
			r.applyPending(now)
			r.tick(now)
			continue
		}
		r.applyPending(now)
		r.handle(r.buf[:n], from, now)
		r.tick(now)
	}
}

// wakeAt is the earliest time something is due: a gap to give up, a NACK,
// a keyframe request, an RTCP report.
func (r *videoReceiver) wakeAt(now time.Time) time.Time {
	w := now.Add(maxIdleWait)
	if d, ok := r.ro.deadline(r.maxWait); ok && d.Before(w) {
		w = d
	}
	if r.cfg.fb.NACK && r.ssrcLocked {
		if _, next := r.ro.nackDue(now, r.nackRetry, false, nil); !next.IsZero() {
			if lim := r.lastNACK.Add(nackMinInterval); next.Before(lim) {
				next = lim
			}
			if next.Before(w) {
				w = next
			}
		}
	}
	if d, ok := r.kf.deadline(); ok && r.ssrcLocked && d.Before(w) {
		w = d
	}
	if r.nextRTCP.Before(w) {
		w = r.nextRTCP
	}
	return w
}

// applyPending switches to the configuration of the last Update.
func (r *videoReceiver) applyPending(now time.Time) {
	rc := r.s.pending.Swap(nil)
	if rc == nil {
		return
	}
	old := r.cfg
	r.cfg = rc
	if old.codec == rc.codec && old.dec != nil {
		// Same codec: keep the decoder and its reference pictures.
		rc.dec.Close()
		rc.dec = old.dec
	} else {
		if old.dec != nil {
			old.dec.Close()
		}
		r.ro.reset()
		r.newDepacketizer()
		r.waitKey = true
	}
	r.setDelays()
	// Phones often change SSRC and port on re-INVITE: take the next valid
	// source and SSRC at once.
	r.ssrcLocked = false
	r.latched = netip.AddrPort{}
	r.lastSSRC = now
}

// handle processes one datagram. It must survive any input.
func (r *videoReceiver) handle(b []byte, from netip.AddrPort, now time.Time) {
	s := r.s
	r.now = now
	if len(b) > maxPacket {
		s.countInvalid(metrics.InvalidOversize, from)
		return
	}
	if len(b) < 2 || b[0]>>6 != 2 {
		s.countInvalid(metrics.InvalidMalformed, from)
		return
	}
	// RFC 5761 section 4: RTCP packet types 200-223 read as RTP payload
	// types 72-95 with the marker bit; 64-95 are kept clear of RTP.
	if pt := b[1] & 0x7f; pt >= 64 && pt <= 95 {
		s.handleRTCP(b, from, now, false, &r.fb)
		return
	}
	if x := r.cfg.srtp; x != nil {
		// Authenticate first: latching must not follow forged packets
		// (RFC 3711 section 3.3).
		x.rtpReplay = false
		out, err := x.rtp.DecryptRTP(r.plain[:0], b, &r.srtpHdr)
		if err != nil {
			s.countInvalid(decryptReason(err, x.rtpReplay), from)
			return
		}
		b = out
	}
	pkt := &r.pkt
	if err := pkt.Unmarshal(b); err != nil {
		s.countInvalid(metrics.InvalidMalformed, from)
		return
	}
	if pkt.PayloadType != r.cfg.pt {
		s.countInvalid(metrics.InvalidPayloadType, from)
		return
	}
	if !r.cfg.dir.Receives() {
		return // RFC 3264 section 5.1: sendonly and inactive ignore media
	}
	// Symmetric RTP (RFC 4961): another source only after the latched one
	// has gone silent (a NAT rebinding).
	if r.latched.IsValid() && from != r.latched && now.Sub(r.lastLatch) < s.cfg.SourceSilence {
		s.countInvalid(metrics.InvalidSource, from)
		return
	}
	if r.ssrcLocked && pkt.SSRC != r.ssrc {
		if now.Sub(r.lastSSRC) < s.cfg.SourceSilence {
			s.countInvalid(metrics.InvalidSSRC, from)
			return
		}
		s.log.Info("inbound video ssrc changed", "old", r.ssrc, "new", pkt.SSRC)
		r.ssrcLocked = false
	}
	if !r.ssrcLocked {
		r.lockSSRC(pkt.SSRC)
	}
	if from != r.latched {
		r.latch(from)
	}
	r.lastSSRC, r.lastLatch = now, now
	r.stats.update(pkt.SequenceNumber)
	r.jit.update(now, pkt.Timestamp)
	s.c.packetsIn.Add(1)
	s.c.bytesIn.Add(uint64(len(pkt.Payload)))
	s.m.RTPPacketsIn.Add(1)
	s.m.RTPBytesIn.Add(uint64(len(pkt.Payload)))
	// Empty (padding-only) packets go through too: they hold sequence
	// numbers, and skipping them would look like loss.
	r.ro.push(pkt.SequenceNumber, pkt.Timestamp, pkt.Marker, pkt.Payload, now, r.maxWait, r.deliver)
}

func (r *videoReceiver) lockSSRC(ssrc uint32) {
	r.ssrc, r.ssrcLocked = ssrc, true
	r.s.ssrcIn.Store(ssrc)
	// A new stream: nothing of the old one's sequence or pictures applies.
	r.syncStats()
	r.ro.reset()
	r.synced = reorderStats{}
	r.ro.st = reorderStats{}
	r.newDepacketizer()
	r.waitKey = true
	r.stats.reset()
	r.jit = jitterEstimator{}
}

func (r *videoReceiver) latch(from netip.AddrPort) {
	s := r.s
	if r.latched.IsValid() {
		s.log.Info("video rtp source re-latched", "old", r.latched.String(), "new", from.String())
	}
	r.latched = from
	s.txMu.Lock()
	s.tx.latched = from
	s.txMu.Unlock()
}

// feed hands one in-order packet to the depacketizer.
func (r *videoReceiver) feed(seq uint16, ts uint32, marker bool, payload []byte) {
	p := &r.out
	p.SequenceNumber, p.Timestamp, p.Marker, p.Payload = seq, ts, marker, payload
	var err error
	if r.h264 != nil {
		err = r.h264.Push(p)
	} else {
		err = r.vp8.Push(p)
	}
	if err == nil {
		return
	}
	// A broken frame: the frames after it refer to it, so wait for a
	// keyframe and ask for one.
	r.s.c.broken.Add(1)
	r.s.m.VideoFramesBroken.Add(1)
	if !errors.Is(err, ErrFrameLoss) {
		r.s.countInvalid(metrics.InvalidDecode, r.latched) // a VP8 keyframe of absurd size
	}
	r.needKeyframe()
}

func (r *videoReceiver) onH264(f H264Frame) {
	// Parameter sets alone (some senders give them their own timestamp)
	// are passed even while waiting: the keyframe after them needs them.
	r.frame(f.Data, f.IDR, !f.IDR && (f.SPS || f.PPS))
}

func (r *videoReceiver) onVP8(f VP8Frame) { r.frame(f.Data, f.Keyframe, false) }

// frame decodes one complete frame, unless a keyframe is awaited.
func (r *videoReceiver) frame(au []byte, key, params bool) {
	s := r.s
	s.c.framesIn.Add(1)
	if key {
		s.c.keyframesIn.Add(1)
	}
	if r.waitKey && !key && !params {
		s.c.skipped.Add(1)
		r.needKeyframe()
		return
	}
	pic, err := r.cfg.dec.Decode(au)
	if err != nil {
		s.c.decodeErrors.Add(1)
		s.m.VideoDecodeErrors.Add(1)
		s.countInvalid(metrics.InvalidDecode, r.latched)
		r.needKeyframe()
		return
	}
	if key {
		r.waitKey = false
		r.kf.pending = false // any keyframe answers any request
	}
	if pic != nil && s.cfg.Sink != nil {
		s.cfg.Sink.WriteFrame(pic)
		s.c.decoded.Add(1)
		s.m.VideoFramesDecoded.Add(1)
	}
}

// needKeyframe stops decoding until a keyframe and asks for one.
func (r *videoReceiver) needKeyframe() {
	r.waitKey = true
	r.kf.pending = true
	r.requestKeyframe(r.now)
}

// requestKeyframe sends a pending request if the rate limit allows: PLI
// (RFC 4585 section 6.3.1), or FIR (RFC 5104 section 4.3.1) when the peer
// offered only that. Without either negotiated we ask out of band (SIP
// INFO) when the signaling can, else we still send PLI, which most
// endpoints honour.
func (r *videoReceiver) requestKeyframe(now time.Time) {
	if !r.ssrcLocked || !r.kf.due(now) {
		return
	}
	s := r.s
	r.kf.done(now)
	if oob := s.cfg.RequestKeyframeOutOfBand; oob != nil && !r.cfg.fb.PLI && !r.cfg.fb.FIR {
		oob()
		s.m.VideoKeyframeAsksOut.Add(1)
		return
	}
	if !r.cfg.fb.PLI && r.cfg.fb.FIR {
		// Section 4.3.1.2: a new request gets a new sequence number.
		fir := &rtcp.FullIntraRequest{SenderSSRC: s.ssrc, MediaSSRC: 0,
			FIR: []rtcp.FIREntry{{SSRC: r.ssrc, SequenceNumber: r.firSeq}}}
		r.firSeq++
		if s.sendRTCP(now, false, nil, fir) {
			s.c.firOut.Add(1)
			s.m.VideoKeyframeAsksOut.Add(1)
		}
		return
	}
	if s.sendRTCP(now, false, nil, &rtcp.PictureLossIndication{SenderSSRC: s.ssrc, MediaSSRC: r.ssrc}) {
		s.c.pliOut.Add(1)
		s.m.VideoKeyframeAsksOut.Add(1)
	}
}

// tick releases packets whose gap was given up, sends due NACKs, keyframe
// requests and reports.
func (r *videoReceiver) tick(now time.Time) {
	s := r.s
	r.now = now
	r.ro.release(now, r.maxWait, r.deliver)
	asked := s.kfAsk.Swap(false)
	if asked {
		r.kf.pending = true
	}
	r.requestKeyframe(now)
	if asked {
		s.c.asks.Add(1)
	}
	if r.cfg.fb.NACK && r.ssrcLocked && !now.Before(r.lastNACK.Add(nackMinInterval)) {
		r.sendNACKs(now)
	}
	r.syncStats()
	if !now.Before(r.nextRTCP) {
		r.report(now)
		// RFC 3550 section 6.3.1: randomize to 0.5-1.5 times the interval.
		iv := s.cfg.RTCPInterval
		r.nextRTCP = now.Add(iv/2 + rand.N(iv))
	}
}

// sendNACKs asks for the missing packets that are due (RFC 4585 section
// 6.2.1), all in one packet.
func (r *videoReceiver) sendNACKs(now time.Time) {
	seqs, _ := r.ro.nackDue(now, r.nackRetry, true, r.nackSeqs[:0])
	if len(seqs) == 0 {
		return
	}
	s := r.s
	r.lastNACK = now
	nack := &rtcp.TransportLayerNack{SenderSSRC: s.ssrc, MediaSSRC: r.ssrc, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}
	if s.sendRTCP(now, false, nil, nack) {
		s.c.nacksOut.Add(1)
		s.m.VideoNACKsOut.Add(1)
		s.c.nackedOut.Add(uint64(len(seqs)))
	}
}

// report sends the periodic SR or RR with our reception report.
func (r *videoReceiver) report(now time.Time) {
	s := r.s
	var rr *rtcp.ReceptionReport
	if r.ssrcLocked && r.stats.valid {
		s.srMu.Lock()
		last := s.sr
		s.srMu.Unlock()
		rr = &rtcp.ReceptionReport{
			SSRC:               r.ssrc,
			FractionLost:       r.stats.fraction(),
			TotalLost:          uint32(r.stats.lost()) & 0xffffff,
			LastSequenceNumber: r.stats.extMax(),
			Jitter:             r.jit.value(),
		}
		if last.ssrc == r.ssrc && !last.arrival.IsZero() {
			rr.LastSenderReport, rr.Delay = last.middle, last.dlsr(now)
		}
		j := r.jit.duration()
		s.c.jitterNs.Store(int64(j))
		s.m.Jitter.Observe(j.Seconds())
	}
	s.sendRTCP(now, true, rr)
}

// syncStats moves the reorder buffer's counters into the session.
func (r *videoReceiver) syncStats() {
	s, st := r.s, r.ro.st
	if d := st.lost - r.synced.lost; d > 0 {
		s.c.lost.Add(d)
		s.m.RTPPacketsLost.Add(d)
	}
	if d := st.late - r.synced.late; d > 0 {
		s.c.late.Add(d)
		s.m.RTPPacketsLate.Add(d)
	}
	s.c.dup.Add(st.dup - r.synced.dup)
	s.c.reordered.Add(st.reordered - r.synced.reordered)
	s.c.recovered.Add(st.recovered - r.synced.recovered)
	r.synced = st
}
