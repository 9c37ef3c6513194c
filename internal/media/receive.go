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

// maxIdleWait bounds a blocking read so timers and a new hold state apply
// even when no packet and no frame is due.
const maxIdleWait = 250 * time.Millisecond

// receiver is the state of the receive goroutine; nothing else touches it
// after Start (Close touches it after that goroutine has ended).
type receiver struct {
	s        *Session
	cfg      *rxConfig
	jb       *JitterBuffer
	jbString string
	pkt      rtp.Packet
	buf      [maxPacket + 1]byte // one spare byte detects oversize datagrams
	srtpHdr  rtp.Header
	plain    [maxPacket]byte // decrypted SRTP
	pcm      [codec.MaxFrameSamples]int16

	ssrcLocked bool
	ssrc       uint32
	lastSSRC   time.Time
	latched    netip.AddrPort
	lastLatch  time.Time
	lastRTP    time.Time // last valid RTP, for the no-RTP timer
	timedOut   bool
	stats      rxStats
	dtmf       dtmfTracker
	events     [2]DTMFEvent
	inband     *InbandDetector // nil when off
	nextRTCP   time.Time
	synced     JitterStats
	deadline   time.Time
}

func newReceiver(s *Session, rc *rxConfig) *receiver {
	r := &receiver{s: s, cfg: rc}
	r.jb = NewJitterBuffer(JitterConfig{
		ClockRate: rc.codec.ClockRate, FrameTS: rc.codec.FrameTS,
		MinDelay: s.cfg.JitterMin, MaxDelay: s.cfg.JitterMax,
	})
	r.jbString = r.jb.String()
	r.dtmf.clockRate = s.cfg.DTMFClockRate
	if s.cfg.InbandDTMF {
		r.inband = NewInbandDetector(r.dtmfEvent)
	}
	return r
}

// dtmfEvent reports one key press from either source.
func (r *receiver) dtmfEvent(ev DTMFEvent) {
	s := r.s
	s.log.Debug("dtmf received", "source", ev.Source.String()) // never the digit: it may be part of a PIN
	if s.cfg.OnDTMF != nil {
		s.cfg.OnDTMF(ev)
	}
}

func (r *receiver) begin(now time.Time) {
	r.lastRTP = now
	// RFC 3550 section 6.2: the first report after half the interval.
	r.nextRTCP = now.Add(r.s.cfg.RTCPInterval / 2)
}

func (r *receiver) close() {
	if r.cfg.dec != nil {
		r.cfg.dec.Close()
		r.cfg.dec = nil
	}
}

func (r *receiver) loop() {
	defer r.s.wg.Done()
	s := r.s
	for {
		now := time.Now()
		if d := r.wakeAt(now); !d.Equal(r.deadline) {
			r.deadline = d
			_ = s.rtpConn.SetReadDeadline(d)
		}
		n, from, err := s.rtpConn.ReadFromUDPAddrPort(r.buf[:])
		now = time.Now()
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// Update may have set a deadline in the past to wake us.
				r.deadline = time.Time{}
			} else {
				s.logOnce(&s.c.recvErrLogged, "rtp receive failed", "err", err)
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

// wakeAt is the earliest time something is due: a frame, an RTCP report,
// the no-RTP timeout.
func (r *receiver) wakeAt(now time.Time) time.Time {
	w := now.Add(maxIdleWait)
	if d, ok := r.jb.Deadline(); ok && d.Before(w) {
		w = d
	}
	if r.nextRTCP.Before(w) {
		w = r.nextRTCP
	}
	if r.expecting() && !r.timedOut && r.s.cfg.NoRTPTimeout > 0 {
		if t := r.lastRTP.Add(r.s.cfg.NoRTPTimeout); t.Before(w) {
			w = t
		}
	}
	return w
}

// expecting says whether RTP should be arriving. The no-RTP timer runs only
// when we are sendrecv with a real remote address: when we are recvonly or
// inactive the peer has put us on hold (RFC 3264 section 8.4) and most phones
// then send nothing at all, and when we are sendonly the peer must not send.
// Only RTP restarts the timer, not RTCP: a phone that keeps sending reports
// but no audio is still broken for the conference.
func (r *receiver) expecting() bool { return r.cfg.dir == SendRecv && !r.cfg.hold }

// applyPending switches to the configuration of the last Update.
func (r *receiver) applyPending(now time.Time) {
	rc := r.s.pending.Swap(nil)
	if rc == nil {
		return
	}
	old := r.cfg
	r.cfg = rc
	if old.codec == rc.codec && old.dec != nil {
		// Same codec: keep the decoder and its history (Opus state,
		// concealment memory) for a seamless re-INVITE.
		rc.dec.Close()
		rc.dec = old.dec
	} else if old.dec != nil {
		old.dec.Close()
	}
	// A new decoder has no history: start the playout afresh. The same
	// codec keeps its jitter buffer so a plain re-INVITE is seamless.
	if old.codec != rc.codec {
		r.jb = NewJitterBuffer(JitterConfig{
			ClockRate: rc.codec.ClockRate, FrameTS: rc.codec.FrameTS,
			MinDelay: r.s.cfg.JitterMin, MaxDelay: r.s.cfg.JitterMax,
		})
		r.synced = JitterStats{}
	}
	// Phones often change SSRC and port on re-INVITE: accept the next valid
	// source and SSRC at once.
	r.ssrcLocked = false
	r.latched = netip.AddrPort{}
	// The hold timer restarts from now whatever the new direction.
	r.lastRTP = now
}

// handle processes one datagram. It must survive any input.
func (r *receiver) handle(b []byte, from netip.AddrPort, now time.Time) {
	s := r.s
	if len(b) > maxPacket {
		r.invalid(metrics.InvalidOversize, from)
		return
	}
	if len(b) < 2 || b[0]>>6 != 2 {
		r.invalid(metrics.InvalidMalformed, from)
		return
	}
	// RFC 5761 section 4: with rtcp-mux, packet types 64-95 in the second
	// byte (marker bit masked) are RTCP (SR=200 is 72 after masking).
	if pt := b[1] & 0x7f; pt >= 64 && pt <= 95 {
		s.handleRTCP(b, from, now, false)
		return
	}
	if x := r.cfg.srtp; x != nil {
		// Authenticate before anything else looks at the packet: the
		// source latching and SSRC locking below must not be steered by
		// packets an attacker could forge (RFC 3711 section 3.3).
		x.rtpReplay = false
		out, err := x.rtp.DecryptRTP(r.plain[:0], b, &r.srtpHdr)
		if err != nil {
			r.invalid(decryptReason(err, x.rtpReplay), from)
			return
		}
		b = out
	}
	pkt := &r.pkt
	if err := pkt.Unmarshal(b); err != nil {
		r.invalid(metrics.InvalidMalformed, from)
		return
	}
	pt := pkt.PayloadType
	isDTMF := r.cfg.dtmfPT >= 0 && int(pt) == r.cfg.dtmfPT
	if pt != r.cfg.pt && !isDTMF {
		r.invalid(metrics.InvalidPayloadType, from)
		return
	}
	if !r.cfg.dir.Receives() {
		// RFC 3264 section 5.1: a sendonly/inactive side ignores media.
		return
	}
	// Symmetric RTP (RFC 4961): a source other than the latched one is
	// accepted only after the latched one has gone silent (NAT rebinding).
	if r.latched.IsValid() && from != r.latched && now.Sub(r.lastLatch) < s.cfg.SourceSilence {
		r.invalid(metrics.InvalidSource, from)
		return
	}
	if r.ssrcLocked && pkt.SSRC != r.ssrc {
		if now.Sub(r.lastSSRC) < s.cfg.SourceSilence {
			r.invalid(metrics.InvalidSSRC, from)
			return
		}
		s.log.Info("inbound ssrc changed", "old", r.ssrc, "new", pkt.SSRC)
		r.ssrcLocked = false
	}
	if !r.ssrcLocked {
		r.lockSSRC(pkt.SSRC)
	}
	if from != r.latched {
		r.latch(from)
	}
	r.lastSSRC, r.lastLatch, r.lastRTP = now, now, now
	r.stats.update(pkt.SequenceNumber)
	s.c.packetsIn.Add(1)
	s.c.bytesIn.Add(uint64(len(pkt.Payload)))
	s.m.RTPPacketsIn.Add(1)
	s.m.RTPBytesIn.Add(uint64(len(pkt.Payload)))

	if isDTMF {
		r.jb.PushFiller(pkt.SequenceNumber, now)
		ev, err := ParseTelephoneEvent(pkt.Payload)
		if err != nil {
			r.invalid(metrics.InvalidMalformed, from)
			return
		}
		if r.inband != nil {
			// The phone uses RFC 4733: any tones still in its audio are
			// the same key presses (or their echo). The in-band detector
			// reports a press only at its end, while event packets start
			// with the press and skip the jitter buffer, so no in-band
			// press in progress can have been reported yet.
			r.inband = nil
			s.inbandOff.Store(true)
			s.log.Debug("rfc 4733 events received: in-band dtmf detection off")
		}
		n := r.dtmf.push(pkt.Timestamp, ev, &r.events)
		for i := range n {
			r.dtmfEvent(r.events[i])
		}
		return
	}
	if len(pkt.Payload) == 0 {
		return // keepalive (RFC 6263 section 4.6 style empty packet)
	}
	r.jb.Push(pkt.SequenceNumber, pkt.Timestamp, pkt.Marker, pkt.Payload, now)
}

func (r *receiver) lockSSRC(ssrc uint32) {
	r.ssrc, r.ssrcLocked = ssrc, true
	r.s.ssrcIn.Store(ssrc)
	r.jb.Reset()
	r.stats.reset()
	r.dtmf.reset()
	if r.inband != nil {
		r.inband.Reset()
	}
}

func (r *receiver) latch(from netip.AddrPort) {
	s := r.s
	if r.latched.IsValid() {
		s.log.Info("rtp source re-latched", "old", r.latched.String(), "new", from.String())
	}
	r.latched = from
	s.sendMu.Lock()
	s.tx.latched = from
	s.sendMu.Unlock()
}

func (r *receiver) invalid(reason metrics.InvalidReason, from netip.AddrPort) {
	s := r.s
	s.countInvalid(reason, from)
}

func (s *Session) countInvalid(reason metrics.InvalidReason, from netip.AddrPort) {
	s.m.RTPInvalid(reason)
	s.c.invalid[reason].Add(1)
	if s.c.invalidLogged[reason].CompareAndSwap(false, true) {
		s.log.Warn("dropping invalid inbound packets", "reason", reason.String(), "from", from.String())
	}
}

// tick releases due frames, sends RTCP and checks the no-RTP timer.
func (r *receiver) tick(now time.Time) {
	s := r.s
	for {
		f := r.jb.Pop(now)
		if f.Kind == FrameNone {
			break
		}
		r.output(f)
	}
	r.syncStats()
	if !r.expecting() {
		r.lastRTP = now // paused: a resumed call gets the full timeout
	} else if !r.timedOut && s.cfg.NoRTPTimeout > 0 && now.Sub(r.lastRTP) >= s.cfg.NoRTPTimeout {
		r.timedOut = true
		s.c.timedOut.Store(true)
		s.log.Warn("no rtp received", "for", s.cfg.NoRTPTimeout.String())
		if s.cfg.OnTimeout != nil {
			s.cfg.OnTimeout()
		}
	}
	if !now.Before(r.nextRTCP) {
		r.sendRTCP(now)
		// RFC 3550 section 6.3.1: randomize to 0.5-1.5 times the interval
		// so sessions started together do not report in step.
		iv := s.cfg.RTCPInterval
		r.nextRTCP = now.Add(iv/2 + rand.N(iv))
	}
}

func (r *receiver) output(f Frame) {
	s := r.s
	dec := r.cfg.dec
	var n int
	var err error
	switch f.Kind {
	case FramePacket:
		n, err = dec.Decode(f.Payload, r.pcm[:])
		if err != nil {
			s.countInvalid(metrics.InvalidDecode, r.latched)
			n, err = dec.Conceal(r.pcm[:])
		}
	case FrameConceal:
		n, err = dec.Conceal(r.pcm[:])
		s.c.concealed.Add(1)
		s.m.AudioConcealed.Add(1)
	}
	if err != nil || n <= 0 || n > len(r.pcm) {
		return
	}
	if r.inband != nil {
		r.inband.Write(r.pcm[:n])
	}
	if s.cfg.Sink != nil {
		s.cfg.Sink.Write(r.pcm[:n])
	}
}

// syncStats moves the jitter buffer's counters into the session and metrics.
func (r *receiver) syncStats() {
	s := r.s
	st := r.jb.Stats()
	if d := st.Lost - r.synced.Lost; d > 0 {
		s.c.lost.Add(d)
		s.m.RTPPacketsLost.Add(d)
	}
	if d := st.Late - r.synced.Late; d > 0 {
		s.c.late.Add(d)
		s.m.RTPPacketsLate.Add(d)
	}
	if d := st.Duplicate - r.synced.Duplicate; d > 0 {
		s.c.dup.Add(d)
	}
	r.synced = st
}

// sendRTCP sends a compound packet (RFC 3550 section 6.1): SR if we sent RTP
// since the last report, else RR, with one reception report about the
// inbound stream, then SDES with our CNAME.
func (r *receiver) sendRTCP(now time.Time) {
	s := r.s
	s.sendMu.Lock()
	tx := &s.tx
	ssrc := tx.hdr.SSRC
	dst, conn := tx.latchedRTCP, s.rtcpConn
	if conn == nil || !tx.remoteRTCP.IsValid() {
		// rtcp-mux (RFC 5761): from the RTP socket to the RTP peer.
		conn = s.rtpConn
		dst = tx.latched
		if !dst.IsValid() {
			dst = tx.remote
		}
	} else if !dst.IsValid() {
		dst = tx.remoteRTCP
	}
	if !tx.remote.IsValid() {
		dst = netip.AddrPort{} // hold: the peer gave no address
	}
	sender := tx.sentSinceReport
	tx.sentSinceReport = false
	stx := tx.srtp
	var sr rtcp.SenderReport
	if sender {
		rtpTS := tx.lastSendTS + uint32(now.Sub(tx.lastSendAt)*time.Duration(tx.codec.ClockRate)/time.Second)
		sr = rtcp.SenderReport{SSRC: ssrc, NTPTime: ntpTime(now), RTPTime: rtpTS,
			PacketCount: tx.packets, OctetCount: tx.octets}
	}
	s.sendMu.Unlock()
	if !dst.IsValid() {
		return
	}
	var reports []rtcp.ReceptionReport
	if r.ssrcLocked && r.stats.valid {
		s.srMu.Lock()
		last := s.sr
		s.srMu.Unlock()
		rr := rtcp.ReceptionReport{
			SSRC:               r.ssrc,
			FractionLost:       r.stats.fraction(),
			TotalLost:          uint32(r.stats.lost()) & 0xffffff,
			LastSequenceNumber: r.stats.extMax(),
			Jitter:             r.jb.Jitter(),
		}
		if last.ssrc == r.ssrc && !last.arrival.IsZero() {
			rr.LastSenderReport, rr.Delay = last.middle, last.dlsr(now)
		}
		reports = append(reports, rr)
		j := r.jb.JitterDuration()
		s.c.jitterNs.Store(int64(j))
		s.m.Jitter.Observe(j.Seconds())
	}
	var first rtcp.Packet
	if sender {
		sr.Reports = reports
		first = &sr
	} else {
		first = &rtcp.ReceiverReport{SSRC: ssrc, Reports: reports}
	}
	sdes := &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{
		Source: ssrc, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: s.cname}},
	}}}
	b, err := rtcp.Marshal([]rtcp.Packet{first, sdes})
	if err != nil {
		s.logOnce(&s.c.rtcpErrLogged, "rtcp marshal failed", "err", err)
		return
	}
	if stx != nil {
		// SRTCP (RFC 3711 section 3.4); only this goroutine uses stx.rtcp.
		if b, err = stx.rtcp.EncryptRTCP(nil, b, nil); err != nil {
			s.logOnce(&s.c.rtcpErrLogged, "srtcp encrypt failed", "err", err)
			return
		}
	}
	if _, err := conn.WriteToUDPAddrPort(b, dst); err != nil {
		if !s.closing.Load() {
			s.logOnce(&s.c.rtcpErrLogged, "rtcp send failed", "err", err)
		}
		return
	}
	s.c.rtcpOut.Add(1)
	s.m.RTCPPacketsOut.Add(1)
}

// handleRTCP parses one inbound compound RTCP packet from either socket.
func (s *Session) handleRTCP(b []byte, from netip.AddrPort, now time.Time, ownSocket bool) {
	if len(b) > maxPacket {
		s.countInvalid(metrics.InvalidOversize, from)
		return
	}
	var pkts []rtcp.Packet
	var err error
	if x := s.srtcpIn.Load(); x != nil {
		// SRTCP authentication is mandatory (RFC 3711 section 3.4):
		// plain RTCP on an SRTP leg is dropped like a forgery.
		reason, ok := x.decryptRTCP(b, func(plain []byte) { pkts, err = rtcp.Unmarshal(plain) })
		if !ok {
			s.countInvalid(reason, from)
			return
		}
	} else {
		pkts, err = rtcp.Unmarshal(b)
	}
	if err != nil {
		s.countInvalid(metrics.InvalidMalformed, from)
		return
	}
	s.c.rtcpIn.Add(1)
	s.m.RTCPPacketsIn.Add(1)
	sum := summarizeRTCP(pkts)
	if sum.sr != nil {
		locked := s.ssrcIn.Load()
		if locked == 0 || sum.sr.SSRC == locked {
			s.srMu.Lock()
			s.sr = lastSR{ssrc: sum.sr.SSRC, middle: uint32(sum.sr.NTPTime >> 16), arrival: now}
			s.srMu.Unlock()
		}
	}
	if ownSocket {
		// Symmetric RTCP: answer where the peer's reports come from.
		s.sendMu.Lock()
		s.tx.latchedRTCP = from
		s.sendMu.Unlock()
	}
	if sum.bye {
		s.log.Debug("rtcp bye received", "cname", sum.cname)
	}
}

// rtcpLoop reads the separate RTCP socket (no rtcp-mux).
func (s *Session) rtcpLoop() {
	defer s.wg.Done()
	buf := make([]byte, maxPacket+1)
	for {
		n, from, err := s.rtcpConn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			s.logOnce(&s.c.recvErrLogged, "rtcp receive failed", "err", err)
			time.Sleep(time.Millisecond)
			continue
		}
		b := buf[:n]
		if n < 2 || b[0]>>6 != 2 {
			s.countInvalid(metrics.InvalidMalformed, from)
			continue
		}
		s.handleRTCP(b, from, time.Now(), true)
	}
}
