package media

import (
	"errors"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"vmrd/internal/metrics"
)

// maxFIRSenders bounds the FIR sequence memory; a peer has one or two SSRCs.
const maxFIRSenders = 16

// handleRTCP acts on one inbound compound RTCP packet from either socket.
// fb is the calling goroutine's scratch space.
func (s *VideoSession) handleRTCP(b []byte, from netip.AddrPort, now time.Time, ownSocket bool, fb *rtcpFeedback) {
	if len(b) > maxPacket {
		s.countInvalid(metrics.InvalidOversize, from)
		return
	}
	var perr error
	if x := s.srtcpIn.Load(); x != nil {
		// SRTCP authentication is mandatory (RFC 3711 section 3.4).
		reason, ok := x.decryptRTCP(b, func(plain []byte) { perr = parseRTCPFeedback(plain, s.ssrc, fb) })
		if !ok {
			s.countInvalid(reason, from)
			return
		}
	} else {
		perr = parseRTCPFeedback(b, s.ssrc, fb)
	}
	if perr != nil {
		s.countInvalid(metrics.InvalidMalformed, from)
		return
	}
	s.txMu.Lock()
	latched, remote, remoteRTCP := s.tx.latched, s.tx.remote, s.tx.remoteRTCP
	if s.srtcpIn.Load() == nil && latched.IsValid() &&
		from.Addr() != latched.Addr() && from.Addr() != remote.Addr() && from.Addr() != remoteRTCP.Addr() {
		// Plain RTCP can be forged by anyone who can reach the port; once
		// the peer's media source is known, take RTCP only from its host.
		s.txMu.Unlock()
		s.countInvalid(metrics.InvalidSource, from)
		return
	}
	if ownSocket {
		// Symmetric RTCP: answer where the peer's reports come from.
		s.tx.latchedRTCP = from
	}
	s.txMu.Unlock()

	if fb.sr {
		if locked := s.ssrcIn.Load(); locked == 0 || fb.srSSRC == locked {
			s.srMu.Lock()
			s.sr = lastSR{ssrc: fb.srSSRC, middle: uint32(fb.srNTP >> 16), arrival: now}
			s.srMu.Unlock()
		}
	}
	keyframe := false
	if fb.pli > 0 {
		s.c.pliIn.Add(uint64(fb.pli))
		s.m.VideoKeyframeAsksIn.Add(uint64(fb.pli))
		keyframe = true
	}
	if fb.nFIR > 0 && s.newFIR(fb.firs[:fb.nFIR]) {
		keyframe = true
	}
	if keyframe && s.cfg.OnKeyframeRequest != nil {
		s.cfg.OnKeyframeRequest()
	}
	if fb.nackP > 0 {
		s.c.nacksIn.Add(uint64(fb.nackP))
		if fb.nNACK > 0 {
			s.resend(fb.nacks[:fb.nNACK], now)
		}
	}
	if fb.remb >= 0 {
		s.c.rembIn.Add(1)
		s.bitrate(&s.c.rembBound, fb.remb)
	}
	if fb.nTMMB > 0 {
		s.c.tmmbrIn.Add(1)
		bound := fb.tmmbr[0].bitrate()
		for _, e := range fb.tmmbr[1:fb.nTMMB] {
			bound = min(bound, e.bitrate())
		}
		s.bitrate(&s.c.tmmbrBound, bound)
		// RFC 5104 section 4.2.2: answer with the bounding set; we accept
		// every request as it is, the owner of each tuple being the SSRC
		// that sent it (section 3.5.4.2).
		var entries [maxFeedbackTMMB]tmmbEntry
		for i := range fb.nTMMB {
			entries[i] = fb.tmmbr[i]
			entries[i].ssrc = fb.tmmbrSender[i]
		}
		if s.sendRTCP(now, false, nil, tmmbn(s.ssrc, entries[:fb.nTMMB])) {
			s.c.tmmbnOut.Add(1)
		}
	}
	if fb.bye {
		s.log.Debug("rtcp bye received")
	}
	// Counted last, so a test that sees the count also sees the effects.
	s.c.rtcpIn.Add(1)
	s.m.RTCPPacketsIn.Add(1)
}

// newFIR reports whether any entry is a new request: RFC 5104 section
// 4.3.1.2 says a repeated sequence number is a retransmission of a request
// already served.
func (s *VideoSession) newFIR(firs []firRequest) bool {
	s.firMu.Lock()
	defer s.firMu.Unlock()
	fresh := false
	for _, f := range firs {
		if last, ok := s.firSeen[f.sender]; ok && last == f.seq {
			continue
		}
		if len(s.firSeen) >= maxFIRSenders {
			clear(s.firSeen)
		}
		s.firSeen[f.sender] = f.seq
		s.c.firIn.Add(1)
		s.m.VideoKeyframeAsksIn.Add(1)
		fresh = true
	}
	return fresh
}

// bitrate records a peer's bound of one kind (REMB or TMMBR) and passes on
// the lower of the two kinds' latest bounds.
func (s *VideoSession) bitrate(slot *atomic.Int64, bps int) {
	if bps <= 0 {
		return // a zero bound would pause the stream (RFC 7728); we keep sending
	}
	slot.Store(int64(bps))
	bound := bps
	if b := int(s.c.rembBound.Load()); b > 0 {
		bound = min(bound, b)
	}
	if b := int(s.c.tmmbrBound.Load()); b > 0 {
		bound = min(bound, b)
	}
	s.c.peerBitrate.Store(int64(bound))
	if s.cfg.OnBitrate != nil {
		s.cfg.OnBitrate(bound)
	}
}

// rtcpLoop reads the separate RTCP socket (no rtcp-mux).
func (s *VideoSession) rtcpLoop() {
	defer s.wg.Done()
	buf := make([]byte, maxPacket+1)
	var fb rtcpFeedback
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
		if n < 8 || b[0]>>6 != 2 {
			s.countInvalid(metrics.InvalidMalformed, from)
			continue
		}
		s.handleRTCP(b, from, s.now(), true, &fb)
	}
}
