package webrtc

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	pion "github.com/pion/webrtc/v4"

	"vmrd/internal/codec"
	"vmrd/internal/media"
)

// Media path constants.
const (
	// opusFrameTS is one 20 ms frame at 48 kHz, the mixer's frame.
	opusFrameTS = 960
	// maxConceal bounds the frames concealed for one gap; a longer gap is
	// an outage, not loss, and the mixer's input re-buffers instead.
	maxConceal = 3
	// pliInterval rate-limits our keyframe requests upstream.
	pliInterval = 500 * time.Millisecond
	// reorderWait is how long video packets wait behind a gap for a
	// retransmission (NACK); media.Reorderer holds at most 128.
	reorderWait = 150 * time.Millisecond
)

// readAudio decodes the browser's Opus into the participant's input.
func (l *leg) readAudio(t *pion.TrackRemote) {
	dec, err := codec.Opus.NewDecoder()
	if err != nil {
		l.log.Error("opus decoder", "err", err)
		return
	}
	defer dec.Close()
	pcm := make([]int16, 5760) // 120 ms, Opus's longest packet
	var last uint16
	started := false
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		in := l.input.Load()
		if in == nil {
			continue
		}
		if started {
			d := int16(pkt.SequenceNumber - last)
			if d <= 0 {
				continue // late or duplicate: its time has passed
			}
			for i := 1; i < int(d) && i <= maxConceal; i++ {
				if n, err := dec.Conceal(pcm); err == nil {
					in.in.Write(pcm[:n])
				}
			}
		}
		started, last = true, pkt.SequenceNumber
		n, err := dec.Decode(pkt.Payload, pcm)
		if err != nil {
			l.stats.audioBad.Add(1)
			continue
		}
		l.stats.audioIn.Add(1)
		in.in.Write(pcm[:n])
	}
}

// readVideo puts the browser's video packets in order, depacketizes,
// decodes and writes the pictures into the compositor. A broken frame or a
// decoder error asks the browser for a keyframe.
func (l *leg) readVideo(t *pion.TrackRemote) {
	var vc codec.VideoCodec
	switch mime := t.Codec().MimeType; {
	case strings.EqualFold(mime, pion.MimeTypeVP8):
		vc = codec.VP8
	case strings.EqualFold(mime, pion.MimeTypeH264):
		vc = codec.H264
	default:
		for {
			if _, _, err := t.ReadRTP(); err != nil {
				return
			}
		}
	}
	dec, err := codec.NewVideoDecoder(vc)
	if err != nil {
		l.log.Error("video decoder", "codec", string(vc), "err", err)
		return
	}
	defer dec.Close()
	decode := func(au []byte) {
		f, err := dec.Decode(au)
		switch {
		case err != nil:
			l.stats.videoBad.Add(1)
			l.requestKeyframe()
		case f == nil:
			l.requestKeyframe() // no keyframe yet
		default:
			l.stats.videoFrames.Add(1)
			if b := l.att.Load(); b != nil {
				b.a.WriteFrame(f)
			}
		}
	}
	var push func(*rtp.Packet) error
	if vc == codec.VP8 {
		d := media.NewVP8Depacketizer(func(f media.VP8Frame) { decode(f.Data) }, media.VP8Limits{})
		push = d.Push
	} else {
		d := media.NewH264Depacketizer(func(f media.H264Frame) { decode(f.Data) }, 0)
		push = d.Push
	}
	ro := media.NewReorderer(reorderWait, func(p *rtp.Packet) {
		if err := push(p); err != nil && errors.Is(err, media.ErrFrameLoss) {
			l.stats.videoLost.Add(1)
			l.requestKeyframe()
		}
	})
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		ro.Push(pkt, time.Now())
	}
}

// WriteAudio implements room.AudioSink: one 20 ms Opus frame of the
// participant's mix, from the mixer's tick. pion overwrites SSRC and
// payload type with the negotiated ones; sequence and timestamp are ours.
func (l *leg) WriteAudio(payload []byte) {
	if len(payload) == 0 {
		return
	}
	marker := !l.aOn // the first packet of a talkspurt (RFC 3551 section 4.1)
	l.aOn = true
	l.aSeq++
	l.aTS += opusFrameTS
	_ = l.audio.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, Marker: marker,
		SequenceNumber: l.aSeq, Timestamp: l.aTS}, Payload: payload})
}

// outFrame is one encoded picture for the writer, copied out of the
// encoder group's buffers.
type outFrame struct {
	payloads [][]byte
	ts       uint32
}

// WriteVideo implements video.Sink: the compositor's RTP payloads of one
// picture. It never blocks the encoder group: when the writer lags, the
// picture is dropped and a keyframe asked for, so the browser's decoder
// recovers.
func (l *leg) WriteVideo(payloads [][]byte, ts uint32, _ bool) {
	var f *outFrame
	select {
	case f = <-l.vfree:
	default:
		f = &outFrame{} // the first frames of the leg; recycled from then on
	}
	f.ts = ts
	f.payloads = slices.Grow(f.payloads[:0], len(payloads))[:len(payloads)]
	for i, p := range payloads {
		f.payloads[i] = append(f.payloads[i][:0], p...) // buffers keep their capacity
	}
	select {
	case l.vq <- f:
	default:
		l.recycle(f)
		l.stats.videoOutDropped.Add(1)
		if b := l.att.Load(); b != nil {
			b.a.ForceKeyframe()
		}
	}
}

// recycle returns a frame's buffers for the next picture.
func (l *leg) recycle(f *outFrame) {
	select {
	case l.vfree <- f:
	default:
	}
}

// writeVideo sends the pictures as RTP with our own sequence numbers; the
// marker bit ends each picture (RFC 7741 section 4.1, RFC 6184 5.1).
func (l *leg) writeVideo() {
	seq := uint16(rand.Uint32())
	var pkt rtp.Packet // reused: pion copies what it sends
	for {
		select {
		case <-l.stop:
			return
		case f := <-l.vq:
			for i, p := range f.payloads {
				seq++
				pkt.Header = rtp.Header{Version: 2, Marker: i == len(f.payloads)-1, SequenceNumber: seq, Timestamp: f.ts}
				pkt.Payload = p
				_ = l.video.WriteRTP(&pkt)
			}
			l.recycle(f)
		}
	}
}

// requestKeyframe asks the browser for a keyframe; it never blocks.
func (l *leg) requestKeyframe() {
	select {
	case l.pli <- struct{}{}:
	default:
	}
}

// keyframeRequests sends PLI (RFC 4585 section 6.3.1) for the browser's
// video, at most one per pliInterval.
func (l *leg) keyframeRequests() {
	var last time.Time
	for {
		select {
		case <-l.stop:
			return
		case <-l.pli:
		}
		if wait := pliInterval - time.Since(last); wait > 0 {
			select {
			case <-l.stop:
				return
			case <-time.After(wait):
			}
		}
		ssrc := l.remoteVideo.Load()
		if ssrc == 0 {
			continue
		}
		last = time.Now()
		_ = l.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}})
	}
}

// onVideoFeedback forwards the browser's feedback on our video: PLI and
// FIR (RFC 5104 section 4.3.1) force a keyframe, REMB caps the bitrate.
func (l *leg) onVideoFeedback(pkts []rtcp.Packet) {
	b := l.att.Load()
	if b == nil {
		return
	}
	for _, p := range pkts {
		switch p := p.(type) {
		case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
			b.a.ForceKeyframe()
		case *rtcp.ReceiverEstimatedMaximumBitrate:
			b.a.SetBitrate(int(p.Bitrate))
		}
	}
}

// drainRTCP reads a sender's RTCP, which pion's interceptors (NACK
// responder, reports) need read; f sees each batch.
func (l *leg) drainRTCP(s *pion.RTPSender, f func([]rtcp.Packet)) {
	l.goRun(func() {
		b := make([]byte, 1500)
		for {
			n, _, err := s.Read(b)
			if err != nil {
				return
			}
			if f == nil {
				continue
			}
			if pkts, err := rtcp.Unmarshal(b[:n]); err == nil {
				f(pkts)
			}
		}
	})
}

// drainReceiverRTCP reads a receiver's RTCP (the browser's sender reports).
func (l *leg) drainReceiverRTCP(r *pion.RTPReceiver) {
	l.goRun(func() {
		b := make([]byte, 1500)
		for {
			if _, _, err := r.Read(b); err != nil {
				return
			}
		}
	})
}
