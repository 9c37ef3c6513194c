package stream

import (
	"bytes"
	"time"
)

// session muxes one connection's frames: FLV timestamps start at 0 with
// the first frame sent on the connection, video starts with a keyframe
// preceded by its sequence header, and audio and video go out in time
// order.
type session struct {
	p        *Publisher
	c        conn
	aq, vq   []*packet // waiting to be interleaved, each in pts order
	base     time.Duration
	haveBase bool
	last     [2]uint32 // last timestamp per medium, kept monotonic
	needKey  bool
	ascSent  bool
	sps, pps []byte // of the last AVC sequence header sent
	body     []byte // reused tag body
	avcc     []byte // reused length-prefixed access unit
}

func newSession(p *Publisher, c conn) *session {
	return &session{p: p, c: c, needKey: true,
		aq: make([]*packet, 0, p.cfg.QueueSize), vq: make([]*packet, 0, p.cfg.QueueSize)}
}

// release returns held packets to the free list, counting them dropped.
func (s *session) release() {
	for _, q := range [][]*packet{s.aq, s.vq} {
		for _, pk := range q {
			s.p.dropped.Add(1)
			s.p.free <- pk
		}
	}
	s.aq, s.vq = s.aq[:0], s.vq[:0]
}

func (s *session) sendAudioHeader() error {
	asc := s.p.asc.Load()
	if asc == nil || s.ascSent {
		return nil
	}
	s.body = appendAudioTag(s.body[:0], aacSequenceHeader, *asc)
	if err := s.c.WriteTag(tagAudio, 0, s.body); err != nil {
		return err
	}
	s.ascSent = true
	return nil
}

// push adds pk to its medium's line and sends whatever is ready.
func (s *session) push(pk *packet) error {
	if pk.kind == kindAudio {
		s.aq = append(s.aq, pk)
	} else {
		s.vq = append(s.vq, pk)
	}
	return s.drain(false)
}

// flush sends everything held.
func (s *session) flush() error { return s.drain(true) }

// drain sends held packets in pts order. A packet goes out when the other
// medium has something later queued, when the other medium is not part of
// the stream, when its own line spans more than maxSkew, or on flush.
func (s *session) drain(all bool) error {
	audioOn := s.p.asc.Load() != nil
	for len(s.aq) > 0 || len(s.vq) > 0 {
		var pk *packet
		switch {
		case len(s.aq) > 0 && len(s.vq) > 0:
			if s.aq[0].pts <= s.vq[0].pts {
				pk = s.aq[0]
				s.aq = shift(s.aq)
			} else {
				pk = s.vq[0]
				s.vq = shift(s.vq)
			}
		case len(s.aq) > 0:
			if !all && s.aq[len(s.aq)-1].pts-s.aq[0].pts <= maxSkew {
				return nil
			}
			pk = s.aq[0]
			s.aq = shift(s.aq)
		default:
			if !all && audioOn && s.vq[len(s.vq)-1].pts-s.vq[0].pts <= maxSkew {
				return nil
			}
			pk = s.vq[0]
			s.vq = shift(s.vq)
		}
		err := s.write(pk)
		s.p.free <- pk
		if err != nil {
			return err
		}
	}
	return nil
}

func shift(q []*packet) []*packet {
	n := copy(q, q[1:])
	q[n] = nil
	return q[:n]
}

// ms converts pts to the connection's FLV timestamp.
func (s *session) ms(k mediaKind, pts time.Duration) uint32 {
	if !s.haveBase {
		s.base, s.haveBase = pts, true
	}
	d := max(0, pts-s.base)
	t := max(uint32(d/time.Millisecond), s.last[k])
	s.last[k] = t
	return t
}

func (s *session) write(pk *packet) error {
	if pk.kind == kindAudio {
		if err := s.sendAudioHeader(); err != nil {
			return err
		}
		if !s.ascSent {
			s.p.dropped.Add(1)
			return nil
		}
		s.body = appendAudioTag(s.body[:0], aacRaw, pk.data)
		if err := s.c.WriteTag(tagAudio, s.ms(kindAudio, pk.pts), s.body); err != nil {
			return err
		}
		s.p.framesSent.Add(1)
		return nil
	}
	if s.needKey && !pk.key {
		s.p.dropped.Add(1)
		return nil
	}
	var sps, pps []byte
	s.avcc, sps, pps = appendAVCC(s.avcc[:0], pk.data)
	if len(s.avcc) == 0 {
		s.p.dropped.Add(1)
		return nil
	}
	if pk.key {
		if sps == nil || pps == nil {
			if s.sps == nil {
				// No parameter sets yet: a decoder could not start here.
				s.p.dropped.Add(1)
				return nil
			}
		} else if !bytes.Equal(sps, s.sps) || !bytes.Equal(pps, s.pps) {
			rec, err := avcConfigRecord(sps, pps)
			if err != nil {
				s.p.dropped.Add(1)
				return nil
			}
			s.body = appendVideoTag(s.body[:0], true, avcSequenceHeader, rec)
			if err := s.c.WriteTag(tagVideo, s.ms(kindVideo, pk.pts), s.body); err != nil {
				return err
			}
			s.sps, s.pps = append(s.sps[:0], sps...), append(s.pps[:0], pps...)
		}
		s.needKey = false
	}
	s.body = appendVideoTag(s.body[:0], pk.key, avcNALU, s.avcc)
	if err := s.c.WriteTag(tagVideo, s.ms(kindVideo, pk.pts), s.body); err != nil {
		return err
	}
	s.p.framesSent.Add(1)
	return nil
}
