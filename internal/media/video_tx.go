package media

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"vmrd/internal/codec"
)

// Send history for NACK (RFC 4585 section 6.2.1, answered by plain
// retransmission with the original sequence number, no RTX).
const (
	historySlots = 512         // packets kept
	historyAge   = time.Second // older ones are not resent: the frame is long past
	// resendGap keeps one packet from being resent again when several
	// NACKs for it arrive in quick succession.
	resendGap = 10 * time.Millisecond
	// A token bucket bounds resends: a forged or looping NACK stream must
	// not turn us into an amplifier.
	resendBurst   = 256
	resendPerSec  = 1000
	writeTimeout  = 20 * time.Millisecond // a socket blocked longer than this drops packets
	deadlineSlack = 10 * time.Millisecond // renew the write deadline when less than this is left
)

// sentPacket is one wire packet (encrypted if SRTP) we sent.
type sentPacket struct {
	valid    bool
	seq      uint16
	at       time.Time
	resentAt time.Time
	b        []byte
}

type sendHistory struct {
	slots [historySlots]sentPacket
}

func (h *sendHistory) store(seq uint16, b []byte, now time.Time) {
	p := &h.slots[seq%historySlots]
	if p.b == nil {
		p.b = make([]byte, 0, maxPacket+srtpOverhead)
	}
	p.valid, p.seq, p.at, p.resentAt = true, seq, now, time.Time{}
	p.b = append(p.b[:0], b...)
}

func (h *sendHistory) get(seq uint16, now time.Time) *sentPacket {
	p := &h.slots[seq%historySlots]
	if !p.valid || p.seq != seq || now.Sub(p.at) > historyAge {
		return nil
	}
	return p
}

func (h *sendHistory) clear() {
	for i := range h.slots {
		h.slots[i].valid = false
	}
}

// videoTx is the send side, guarded by VideoSession.txMu.
type videoTx struct {
	closed          bool
	codec           codec.VideoCodec
	mode            H264PacketizationMode
	dir             Direction
	fb              VideoFeedback
	remote          netip.AddrPort // from SDP; invalid on hold
	remoteRTCP      netip.AddrPort // invalid with rtcp-mux
	latched         netip.AddrPort // where valid RTP comes from (RFC 4961)
	latchedRTCP     netip.AddrPort
	hdr             rtp.Header
	tsOffset        uint32 // RFC 3550 section 5.1: the initial timestamp is random
	srtp            *srtpTx
	srtpCfg         *SRTPConfig
	encHdr          rtp.Header
	buf             [maxPacket]byte
	enc             [maxPacket + srtpOverhead]byte
	hist            *sendHistory // nil without NACK
	packets, octets uint32
	sentSinceReport bool
	lastSendTS      uint32
	lastSendAt      time.Time
	rtpDeadline     time.Time // write deadline set on each socket
	rtcpDeadline    time.Time
	tokens          int
	tokensAt        time.Time
}

// rtpDst is where RTP goes now; invalid when nothing may be sent.
func (tx *videoTx) rtpDst() netip.AddrPort {
	if !tx.remote.IsValid() {
		return netip.AddrPort{}
	}
	if tx.latched.IsValid() {
		return tx.latched
	}
	return tx.remote
}

// rtcpDst picks the socket and address for RTCP: with rtcp-mux (RFC 5761)
// the RTP socket and peer, else the RTCP ones, preferring where the peer's
// reports come from.
func (s *VideoSession) rtcpDst() (*net.UDPConn, netip.AddrPort) {
	tx := &s.tx
	if !tx.remote.IsValid() {
		return nil, netip.AddrPort{}
	}
	if s.rtcpConn == nil || !tx.remoteRTCP.IsValid() {
		return s.rtpConn, tx.rtpDst()
	}
	if tx.latchedRTCP.IsValid() {
		return s.rtcpConn, tx.latchedRTCP
	}
	return s.rtcpConn, tx.remoteRTCP
}

// write sends one datagram with a short write deadline, so a socket whose
// buffer is full drops packets instead of stalling the caller. Called with
// txMu held.
func (s *VideoSession) write(conn *net.UDPConn, b []byte, dst netip.AddrPort) error {
	now := time.Now() // deadlines are wall-clock, whatever the session clock
	dl := &s.tx.rtpDeadline
	if conn != s.rtpConn {
		dl = &s.tx.rtcpDeadline
	}
	if dl.Sub(now) < deadlineSlack {
		*dl = now.Add(writeTimeout)
		_ = conn.SetWriteDeadline(*dl)
	}
	_, err := conn.WriteToUDPAddrPort(b, dst)
	return err
}

// WriteVideo sends one encoded frame: payloads are its RTP payloads in
// order, already packetized; the last gets the marker bit. timestamp is the
// frame's 90 kHz RTP time; the session adds its random offset, its SSRC,
// sequence numbers and payload type, and SRTP. It does not block on a full
// socket (the rest of the frame is dropped and counted; a NACK may still
// recover it) and is safe alongside Update and Close. Frames with an empty
// or oversize payload are refused whole.
func (s *VideoSession) WriteVideo(payloads [][]byte, timestamp uint32, keyframe bool) {
	if len(payloads) == 0 {
		return
	}
	for _, p := range payloads {
		if len(p) == 0 || len(p) > maxPayload {
			s.c.refused.Add(1)
			return
		}
	}
	now := s.now()
	s.txMu.Lock()
	defer s.txMu.Unlock()
	tx := &s.tx
	dst := tx.rtpDst()
	if tx.closed || !tx.dir.Sends() || !dst.IsValid() {
		return // hold: the stream resumes with the next frame
	}
	ts := timestamp + tx.tsOffset
	tx.hdr.Timestamp = ts
	var sent, bytes, dropped uint64
	failed := false
	for i, p := range payloads {
		tx.hdr.Marker = i == len(payloads)-1
		n, err := tx.hdr.MarshalTo(tx.buf[:])
		if err != nil {
			dropped++
			continue
		}
		n += copy(tx.buf[n:], p)
		out := tx.buf[:n]
		if tx.srtp != nil {
			if out, err = tx.srtp.rtp.EncryptRTP(tx.enc[:0], out, &tx.encHdr); err != nil {
				s.logOnce(&s.c.sendErrLogged, "srtp encrypt failed", "err", err)
				dropped++
				tx.hdr.SequenceNumber++
				continue
			}
		}
		// Kept even when the write fails: the peer will NACK it.
		if tx.hist != nil {
			tx.hist.store(tx.hdr.SequenceNumber, out, now)
		}
		tx.hdr.SequenceNumber++
		if failed {
			dropped++
			continue
		}
		if err := s.write(s.rtpConn, out, dst); err != nil {
			failed = true
			dropped++
			if !s.closing.Load() && !errors.Is(err, os.ErrDeadlineExceeded) {
				s.logOnce(&s.c.sendErrLogged, "video rtp send failed", "err", err)
			}
			continue
		}
		sent++
		bytes += uint64(len(p))
	}
	if dropped > 0 {
		s.c.dropped.Add(dropped)
		s.logOnce(&s.c.dropL, "dropping outbound video packets", "reason", "socket blocked or failed")
	}
	s.c.framesOut.Add(1)
	if keyframe {
		s.c.keyframesOut.Add(1)
	}
	s.c.packetsOut.Add(sent)
	s.c.bytesOut.Add(bytes)
	s.m.RTPPacketsOut.Add(sent)
	s.m.RTPBytesOut.Add(bytes)
	tx.packets += uint32(sent)
	tx.octets += uint32(bytes)
	if sent > 0 {
		tx.sentSinceReport = true
	}
	tx.lastSendTS, tx.lastSendAt = ts, now
}

// resend answers a NACK: each packet still in the history is sent again
// as it was (RFC 4585 section 6.2.1 with plain retransmission).
func (s *VideoSession) resend(seqs []uint16, now time.Time) {
	s.txMu.Lock()
	defer s.txMu.Unlock()
	tx := &s.tx
	dst := tx.rtpDst()
	if tx.closed || tx.hist == nil || !tx.dir.Sends() || !dst.IsValid() {
		s.c.resendMissed.Add(uint64(len(seqs)))
		return
	}
	// Refill the token bucket.
	if tx.tokensAt.IsZero() {
		tx.tokens, tx.tokensAt = resendBurst, now
	} else if add := int(now.Sub(tx.tokensAt) * resendPerSec / time.Second); add > 0 {
		tx.tokens = min(resendBurst, tx.tokens+add)
		tx.tokensAt = now
	}
	var resent, missed uint64
	for _, seq := range seqs {
		p := tx.hist.get(seq, now)
		if p == nil || tx.tokens <= 0 {
			missed++
			continue
		}
		if !p.resentAt.IsZero() && now.Sub(p.resentAt) < resendGap {
			continue
		}
		if err := s.write(s.rtpConn, p.b, dst); err != nil {
			missed++
			continue
		}
		tx.tokens--
		p.resentAt = now
		resent++
	}
	s.c.resent.Add(resent)
	s.m.VideoResent.Add(resent)
	s.c.resendMissed.Add(missed)
}

// sendRTCP sends one compound packet (RFC 3550 section 6.1; RFC 4585
// section 3.1 puts feedback into compound packets too): an SR when report
// is set and we sent RTP since the last one, else an RR, then SDES with our
// CNAME, then fb. rr is our reception report, if any. It returns whether
// the packet went out.
func (s *VideoSession) sendRTCP(now time.Time, report bool, rr *rtcp.ReceptionReport, fb ...rtcp.Packet) bool {
	s.txMu.Lock()
	defer s.txMu.Unlock()
	tx := &s.tx
	if tx.closed {
		return false
	}
	conn, dst := s.rtcpDst()
	if !dst.IsValid() {
		return false
	}
	var reports []rtcp.ReceptionReport
	if rr != nil {
		reports = []rtcp.ReceptionReport{*rr}
	}
	pkts := make([]rtcp.Packet, 0, 2+len(fb))
	if report && tx.sentSinceReport {
		tx.sentSinceReport = false
		// RFC 3550 section 6.4.1: the RTP time that corresponds to the
		// NTP time, extrapolated from the last frame sent at 90 kHz.
		rtpTS := tx.lastSendTS + uint32(now.Sub(tx.lastSendAt)*90000/time.Second)
		pkts = append(pkts, &rtcp.SenderReport{SSRC: tx.hdr.SSRC, NTPTime: ntpTime(now), RTPTime: rtpTS,
			PacketCount: tx.packets, OctetCount: tx.octets, Reports: reports})
	} else {
		pkts = append(pkts, &rtcp.ReceiverReport{SSRC: tx.hdr.SSRC, Reports: reports})
	}
	pkts = append(pkts, &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{
		Source: tx.hdr.SSRC, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: s.cname}},
	}}})
	pkts = append(pkts, fb...)
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		s.logOnce(&s.c.rtcpErrLogged, "rtcp marshal failed", "err", err)
		return false
	}
	if tx.srtp != nil {
		// SRTCP (RFC 3711 section 3.4); its context is used under txMu only.
		if b, err = tx.srtp.rtcp.EncryptRTCP(nil, b, nil); err != nil {
			s.logOnce(&s.c.rtcpErrLogged, "srtcp encrypt failed", "err", err)
			return false
		}
	}
	if err := s.write(conn, b, dst); err != nil {
		if !s.closing.Load() {
			s.logOnce(&s.c.rtcpErrLogged, "rtcp send failed", "err", err)
		}
		return false
	}
	s.c.rtcpOut.Add(1)
	s.m.RTCPPacketsOut.Add(1)
	return true
}
