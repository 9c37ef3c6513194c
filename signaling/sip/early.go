package sip

import (
	"time"

	"github.com/emiago/sipgo/sip"

	"vmrd/internal/codec"
	"vmrd/internal/media"
	"vmrd/internal/room"
	"vmrd/signaling/sdp"
)

// earlyPrompt plays one prompt to a caller we are about to refuse, as early
// media (RFC 3960: 183 Session Progress with the SDP answer), so that a
// phone says "the room is full" before the 486. Without an offer there is
// no early media and it returns at once. It takes ownership of ports.
func (c *call) earlyPrompt(tx sip.ServerTransaction, neg *sdp.Negotiation, ports *media.Ports, prompt room.Prompt) {
	if neg == nil || neg.Audio.Remote == nil || c.s.cfg.Prompt == nil {
		ports.Close()
		return
	}
	lang := "nb"
	if st, ok := c.s.cfg.Rooms.Lookup(c.number); ok && st.Language != "" {
		lang = st.Language
	}
	clip, err := c.s.cfg.Prompt(lang, string(prompt))
	if err != nil {
		ports.Close()
		return
	}
	enc, err := neg.Audio.Codec.NewEncoder()
	if err != nil {
		ports.Close()
		return
	}
	defer enc.Close()
	sess, err := media.NewSession(media.SessionConfig{
		Ports: ports, Remote: neg.Audio.Remote, RemoteRTCP: neg.Audio.RemoteRTCP,
		Codec: neg.Audio.Codec, PayloadType: neg.Audio.PayloadType, DTMFPayloadType: -1,
		Direction: media.SendOnly, NoRTPTimeout: -1, SRTP: neg.Audio.SRTP.Config(),
		Metrics: c.s.cfg.Metrics, Logger: c.log,
	})
	if err != nil {
		ports.Close()
		return
	}
	defer sess.Close()
	body, err := neg.Answer(c.local)
	if err != nil {
		return
	}
	res := sip.NewResponseFromRequest(c.invite, 183, "Session Progress", body)
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(c.s.contact(c.invite))
	if err := tx.Respond(res); err != nil {
		return
	}
	sess.Start()
	frame := make([]int16, codec.FrameSamples)
	out := make([]byte, 1500)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for off := 0; off < len(clip); off += codec.FrameSamples {
		clear(frame)
		copy(frame, clip[off:])
		n, err := enc.Encode(frame, out)
		if err != nil {
			return
		}
		select {
		case <-tick.C:
		case <-tx.Done():
			return // CANCEL or transport gone
		}
		sess.WriteAudio(out[:n])
	}
}
