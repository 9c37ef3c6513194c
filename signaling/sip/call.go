package sip

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"vmrd/internal/codec"
	"vmrd/internal/media"
	"vmrd/internal/metrics"
	"vmrd/internal/room"
	"vmrd/signaling/sdp"
)

// callState moves forward only.
type callState int32

const (
	stateEarly     callState = iota // INVITE received, no final response yet
	stateAnswered                   // 2xx sent, waiting for ACK
	stateConfirmed                  // ACK received (RFC 3261 13.3.1.4)
	stateEnded
)

func (s callState) String() string {
	return [...]string{"early", "answered", "confirmed", "ended"}[s]
}

// call is one SIP dialog with its media and its place in a room.
type call struct {
	s      *Server
	id     string // dialog ID
	log    *slog.Logger
	number room.Number
	prefs  []codec.AudioCodec
	invite *sip.Request // the initial INVITE, with our To tag
	state  atomic.Int32
	audio  *legAudio

	ports *media.Ports // owned until a session takes them
	// vports are the video stream's ports, owned until its session takes them.
	vports   *media.Ports
	videoLeg atomic.Pointer[videoLeg]
	// videoMu orders starting, updating and stopping the video leg (the
	// ACK, re-INVITE and call end run on different goroutines);
	// videoClosed: the call ended, no video starts any more.
	videoMu     sync.Mutex
	videoClosed bool
	// fastUpdateBusy: a picture_fast_update INFO of ours is in flight.
	fastUpdateBusy atomic.Bool

	mu          sync.Mutex
	neg         *sdp.Negotiation // the audio in force
	local       sdp.Local
	lastAnswer  []byte
	session     *media.Session
	participant *room.Participant
	timer       sessionTimer
	refresh     *time.Timer
	localCSeq   uint32
	remoteCSeq  uint32
	// awaiting is the CSeq of the INVITE whose 2xx waits for ACK, 0 if none.
	awaiting uint32
	acks     chan *sip.Request
	// pending is the offer our 2xx carried; the answer comes in the ACK.
	pending *sdp.PendingOffer
	policy  sdp.Policy // the room's encryption policy for this call

	endOnce   sync.Once
	hangingUp atomic.Bool // one BYE however many reasons to hang up meet

	infoMu      sync.Mutex
	infoPending map[uint32][]rune // INFO digits by CSeq, waiting for order
	infoTimer   *time.Timer
	done        chan struct{}
	release     func() // frees the per-source call slot; set once the call is registered
}

// legAudio connects the media session and the room's mixer, both of which
// exist before the other is wired.
type legAudio struct {
	session     atomic.Pointer[media.Session]
	participant atomic.Pointer[room.Participant]
}

// WriteAudio takes the mixer's encoded frame for this caller.
func (l *legAudio) WriteAudio(payload []byte) {
	if s := l.session.Load(); s != nil {
		s.WriteAudio(payload)
	}
}

// Write takes the caller's decoded audio.
func (l *legAudio) Write(pcm []int16) {
	if p := l.participant.Load(); p != nil {
		p.Input().Write(pcm)
	}
}

var _ room.AudioSink = (*legAudio)(nil)

func (c *call) String() string {
	return fmt.Sprintf("call(%s room %s %s)", c.invite.CallID().Value(), c.number, callState(c.state.Load()))
}

// newCall handles an initial INVITE (RFC 3261 13.3).
func (s *Server) newCall(req *sip.Request, tx sip.ServerTransaction) {
	log := s.log.With("call_id", req.CallID().Value(), "source", req.Source())
	fail := func(err error, extra ...sip.Header) {
		code, reason := status(err)
		log.Info("call refused", "code", code, "err", err)
		s.respond(req, tx, code, reason, extra...)
		s.callResult(resultFor(err))
	}
	if s.draining.Load() {
		log.Info("call refused: draining")
		s.respond(req, tx, 503, "Service Unavailable", sip.NewHeader("Retry-After", "60"))
		s.callResult(metrics.CallDraining)
		return
	}
	number, err := roomNumber(req.Recipient)
	if err != nil {
		fail(err)
		return
	}
	if !s.cfg.Rooms.Exists(number) {
		fail(room.ErrNoSuchRoom)
		return
	}
	log = log.With("room", string(number))
	timer, err := s.negotiateTimer(req, tx)
	if err != nil {
		log.Info("call refused", "err", err)
		s.callResult(resultFor(err))
		return
	}
	prefs := s.cfg.Codecs(number)
	policy, err := s.policy(number, req)
	if err != nil {
		fail(err, warning(err))
		return
	}
	var neg *sdp.Negotiation
	if body := req.Body(); len(body) > 0 {
		if ct := req.ContentType(); ct != nil && !strings.HasPrefix(strings.ToLower(ct.Value()), "application/sdp") {
			fail(ErrUnsupportedBody, sip.NewHeader("Accept", "application/sdp"))
			return
		}
		neg, err = sdp.Negotiate(body, prefs, append(s.videoOptions(), sdp.WithEncryption(policy))...)
		if err != nil {
			fail(err, warning(err))
			return
		}
	}
	src := addrOf(sourceNetAddr(req.Source()))
	if s.lim != nil && !s.lim.startCall(src) {
		log.Warn("call refused: too many calls from this address")
		s.respond(req, tx, 403, "Forbidden", sip.NewHeader("Warning", `399 vmrd "too many calls from this address"`))
		s.callResult(metrics.CallLimited)
		return
	}
	// The call slot is released by the call's end once the call exists;
	// until then by this deferred release.
	release := func() {
		if s.lim != nil {
			s.lim.endCall(src)
		}
	}
	owned := false
	defer func() {
		if !owned {
			release()
		}
	}()
	s.respond(req, tx, 100, "Trying")

	withRTCP := neg == nil || !neg.Audio.RTCPMux
	ports, err := s.cfg.Ports.Allocate(withRTCP)
	if err != nil {
		log.Warn("no RTP ports left", "err", err)
		fail(err)
		return
	}
	vports := s.videoPorts(neg, log)
	closePorts := func() {
		ports.Close()
		if vports != nil {
			vports.Close()
		}
	}
	inv := req.Clone()
	inv.To().Params.Add("tag", sip.GenerateTagN(16))
	id, err := dialogID(inv)
	if err != nil {
		closePorts()
		fail(fmt.Errorf("%w: %v", errBadHeader, err))
		return
	}
	c := &call{
		s: s, id: id, log: log, number: number, prefs: prefs, invite: inv,
		audio: &legAudio{}, ports: ports, neg: neg, timer: timer, policy: policy,
		remoteCSeq: req.CSeq().SeqNo, acks: make(chan *sip.Request, 4),
		localCSeq: randomCSeq(), done: make(chan struct{}),
		local:  sdp.Local{IP: s.mediaIP(req), Port: ports.RTPPort(), SessionID: uint64(randomCSeq()), Version: 1},
		vports: vports,
	}
	if vports != nil {
		c.local.VideoPort = vports.RTPPort()
	}
	if !s.register(c) {
		closePorts()
		fail(room.ErrClosed)
		return
	}
	c.release = release

	format := prefs[0].String()
	if neg != nil {
		format = neg.Audio.Codec.String()
	}
	p, err := s.cfg.Rooms.Join(context.Background(), room.JoinRequest{
		Number: number, DisplayName: displayName(req), Source: req.Source(),
		Leg: c, AudioFormat: format, Sink: c.audio,
		Encryption: encryptionOf(neg),
	})
	if err != nil {
		s.unregister(c)
		if vports != nil {
			vports.Close()
			// The early prompt's SDP must not offer the port just closed.
			c.local.VideoPort = 0
			if neg != nil {
				neg.DropVideo()
			}
		}
		if errors.Is(err, room.ErrRoomFull) {
			// Tell the caller why before refusing: the prompt as early media.
			c.earlyPrompt(tx, neg, ports, room.PromptRoomFull)
			log.Info("call refused", "code", 486, "err", err)
			res := sip.NewResponseFromRequest(c.invite, 486, "Busy Here", nil)
			res.AppendHeader(sip.NewHeader("Reason", `SIP;cause=486;text="Room is full"`))
			if rerr := tx.Respond(res); rerr != nil {
				log.Debug("respond failed", "err", rerr)
			}
			s.callResult(metrics.CallBusy)
		} else {
			ports.Close()
			fail(err)
		}
		return
	}
	c.participant = p
	c.audio.participant.Store(p)
	c.log = log.With("participant", string(p.ID()))
	owned = true // c.end releases the call slot from here on

	cancelled := make(chan struct{})
	var cancelOnce sync.Once
	if !tx.OnCancel(func(*sip.Request) { cancelOnce.Do(func() { close(cancelled) }) }) {
		cancelOnce.Do(func() { close(cancelled) })
	}
	if s.cfg.AnswerDelay > 0 {
		c.respond(req, tx, 180, "Ringing", nil)
		t := time.NewTimer(s.cfg.AnswerDelay)
		select {
		case <-t.C:
		case <-cancelled:
		case <-tx.Done():
		}
		t.Stop()
	}
	if isClosed(cancelled) || isDone(tx) {
		// CANCEL arrived: the transaction layer answered it and sent 487.
		c.log.Info("call cancelled before answer")
		s.callResult(metrics.CallCancelled)
		c.end("cancelled")
		return
	}

	var body []byte
	if neg != nil {
		if err := c.startMedia(neg); err != nil {
			c.log.Error("start media", "err", err)
			c.respond(req, tx, 500, "Server Internal Error", nil)
			s.callResult(metrics.CallFailed)
			c.end("media failed")
			return
		}
		c.startNegotiatedVideo(neg)
		c.mu.Lock()
		body, err = neg.Answer(c.local)
		c.mu.Unlock()
	} else {
		// Delayed offer (RFC 3261 13.2.1): we offer, the ACK answers.
		var po *sdp.PendingOffer
		if po, err = sdp.NewOffer(c.local, prefs, sdp.SendRecv, append(s.videoOptions(), sdp.WithEncryption(policy))...); err == nil {
			c.pending, body = po, po.Body
		}
	}
	if err != nil {
		c.log.Error("build sdp", "err", err)
		c.respond(req, tx, 500, "Server Internal Error", nil)
		s.callResult(metrics.CallFailed)
		c.end("sdp failed")
		return
	}
	c.lastAnswer = body
	c.state.Store(int32(stateAnswered))
	s.callResult(metrics.CallAnswered)
	if s.cfg.Metrics != nil {
		s.cfg.Metrics.CallsActive.Add(1)
	}
	c.log.Info("call answered", "codec", format, "transport", req.Transport(), "encryption", encryptionOf(neg))
	if !c.answerAndWaitAck(req, tx, body, req.CSeq().SeqNo) {
		c.hangup("no ACK")
		return
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func isDone(tx sip.ServerTransaction) bool {
	select {
	case <-tx.Done():
		return true
	default:
		return false
	}
}

func warning(err error) sip.Header {
	// RFC 3261 20.43: 399 is a miscellaneous warning; text for humans.
	text := strings.ReplaceAll(err.Error(), `"`, `'`)
	return sip.NewHeader("Warning", fmt.Sprintf(`399 vmrd "%s"`, text))
}

func displayName(req *sip.Request) string {
	if f := req.From(); f != nil {
		if f.DisplayName != "" {
			return f.DisplayName
		}
		return f.Address.User
	}
	return ""
}

func randomCSeq() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])>>2 + 1
}

// mediaIP is the address we announce in SDP.
func (s *Server) mediaIP(req *sip.Request) net.IP {
	if s.cfg.MediaIP != nil && !s.cfg.MediaIP.IsUnspecified() {
		return s.cfg.MediaIP
	}
	if ip := net.ParseIP(s.contact(req).Address.Host); ip != nil && !ip.IsUnspecified() {
		return ip
	}
	return net.IPv4(127, 0, 0, 1)
}

// respond answers a request of this dialog: every response carries our
// tag, Contact, Allow and Supported; 2xx to INVITE/UPDATE carry the timer.
func (c *call) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string, body []byte) *sip.Response {
	r := req
	if req == c.invite || toTag(req) == "" {
		r = c.invite // the initial INVITE: responses take our To tag
	}
	res := sip.NewResponseFromRequest(r, code, reason, body)
	// NewResponseFromRequest builds Via from r; for the initial INVITE r is
	// our clone, so the Via (and so the destination) are the request's.
	if code > 100 {
		res.AppendHeader(c.s.contact(req))
		res.AppendHeader(sip.NewHeader("Allow", allowed))
		res.AppendHeader(sip.NewHeader("Supported", "timer"))
	}
	if code >= 200 && code < 300 && (req.IsInvite() || req.Method == sip.UPDATE) && c.timer.interval > 0 {
		res.AppendHeader(c.timer.header())
		if c.timer.require {
			res.AppendHeader(sip.NewHeader("Require", "timer"))
		}
	}
	if len(body) > 0 {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	if err := tx.Respond(res); err != nil {
		c.log.Debug("respond failed", "code", code, "err", err)
	}
	return res
}

// answerAndWaitAck sends a 2xx to an INVITE and retransmits it until the
// ACK comes (RFC 3261 13.3.1.4: T1 doubling up to T2, for 64*T1; over a
// reliable transport only once). It reports whether the ACK came.
func (c *call) answerAndWaitAck(req *sip.Request, tx sip.ServerTransaction, body []byte, cseq uint32) bool {
	c.mu.Lock()
	c.awaiting = cseq
	c.mu.Unlock()
	res := c.respond(req, tx, 200, "OK", body)
	reliable := sip.IsReliable(req.Transport())
	interval := sip.T1
	retransmit := time.NewTimer(interval)
	defer retransmit.Stop()
	giveUp := time.NewTimer(64 * sip.T1)
	defer giveUp.Stop()
	for {
		select {
		case ack := <-c.acks:
			if ack.CSeq().SeqNo != cseq {
				continue
			}
			return c.acked(ack)
		case ack := <-tx.Acks():
			// A non-compliant peer that reused the INVITE's branch.
			if ack != nil {
				return c.acked(ack)
			}
		case <-retransmit.C:
			if !reliable {
				if err := tx.Respond(res); err != nil {
					c.log.Debug("2xx retransmit failed", "err", err)
				}
				interval = min(2*interval, sip.T2)
			}
			retransmit.Reset(interval)
		case <-giveUp.C:
			c.log.Warn("no ACK for 2xx", "cseq", cseq)
			return false
		case <-c.done:
			return false
		}
	}
}

// ack routes an ACK to the INVITE waiting for it.
func (c *call) ack(req *sip.Request) {
	select {
	case c.acks <- req:
	default:
	}
}

// acked confirms the dialog after an ACK; an offer in our 2xx is answered here.
func (c *call) acked(ack *sip.Request) bool {
	c.mu.Lock()
	c.awaiting = 0
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	if pending != nil {
		neg, err := pending.ParseAnswer(ack.Body())
		if err != nil {
			c.log.Info("answer in ACK unusable", "err", err)
			c.state.Store(int32(stateConfirmed))
			c.hangup("no usable answer in ACK")
			return true
		}
		if err := c.applyNegotiation(neg); err != nil {
			c.log.Error("apply answer", "err", err)
			c.state.Store(int32(stateConfirmed))
			c.hangup("media failed")
			return true
		}
	}
	if c.state.CompareAndSwap(int32(stateAnswered), int32(stateConfirmed)) {
		c.log.Debug("dialog confirmed")
	}
	c.armTimer()
	return true
}

// startMedia makes and starts the RTP session for the first negotiation.
func (c *call) startMedia(neg *sdp.Negotiation) error {
	onTimeout := func() { go c.hangup("no RTP") }
	noRTP := c.s.cfg.NoRTPTimeout
	if noRTP <= 0 {
		onTimeout, noRTP = nil, -1 // sip.no_rtp_timeout: 0 disables the check
	}
	sess, err := media.NewSession(media.SessionConfig{
		Ports:           c.ports,
		Remote:          neg.Audio.Remote,
		RemoteRTCP:      neg.Audio.RemoteRTCP,
		Codec:           neg.Audio.Codec,
		PayloadType:     neg.Audio.PayloadType,
		DTMFPayloadType: neg.Audio.DTMFPayloadType,
		DTMFClockRate:   neg.Audio.DTMFClockRate,
		Direction:       neg.Audio.Direction,
		SRTP:            neg.Audio.SRTP.Config(),
		JitterMin:       c.s.cfg.JitterMin,
		JitterMax:       c.s.cfg.JitterMax,
		Sink:            c.audio,
		InbandDTMF:      true,
		OnDTMF:          func(e media.DTMFEvent) { c.digit(e.Digit, e.Source.String()) },
		OnTimeout:       onTimeout,
		NoRTPTimeout:    noRTP,
		Metrics:         c.s.cfg.Metrics,
		Logger:          c.log,
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.ports = nil // the session owns them now
	c.session = sess
	c.neg = neg
	c.mu.Unlock()
	c.audio.session.Store(sess)
	sess.Start()
	c.log.Debug("media started", "pipeline", sess.String())
	return nil
}

// applyNegotiation starts media for a first answer, or updates the
// running session after a re-INVITE or UPDATE.
func (c *call) applyNegotiation(neg *sdp.Negotiation) error {
	c.mu.Lock()
	sess, old := c.session, c.neg
	c.mu.Unlock()
	if sess == nil {
		if old == nil || old.Audio.Codec != neg.Audio.Codec {
			if _, err := c.participant.SetAudioFormat(neg.Audio.Codec.String(), c.audio); err != nil {
				return err
			}
		}
		if err := c.startMedia(neg); err != nil {
			return err
		}
		c.startNegotiatedVideo(neg)
		return nil
	}
	if old.Audio.Codec != neg.Audio.Codec {
		if _, err := c.participant.SetAudioFormat(neg.Audio.Codec.String(), c.audio); err != nil {
			return err
		}
	}
	if err := sess.Update(media.Update{
		Remote:          neg.Audio.Remote,
		RemoteRTCP:      neg.Audio.RemoteRTCP,
		Codec:           neg.Audio.Codec,
		PayloadType:     neg.Audio.PayloadType,
		DTMFPayloadType: neg.Audio.DTMFPayloadType,
		Direction:       neg.Audio.Direction,
		SRTP:            neg.Audio.SRTP.Config(),
	}); err != nil {
		return err
	}
	c.mu.Lock()
	c.neg = neg
	c.mu.Unlock()
	if err := c.updateVideo(neg.Video); err != nil {
		// Audio goes on; the caller loses the picture until the next offer.
		c.log.Warn("video update failed; going on without video", "err", err)
		c.stopVideo()
	}
	c.log.Info("media updated", "codec", neg.Audio.Codec.String(), "direction", neg.Audio.Direction.String(), "encryption", encryptionOf(neg))
	return nil
}

// checkCSeq enforces RFC 3261 12.2.2: in-dialog requests must have rising CSeq.
func (c *call) checkCSeq(req *sip.Request, tx sip.ServerTransaction) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := req.CSeq().SeqNo
	if n <= c.remoteCSeq {
		go c.s.respond(req, tx, 500, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return false
	}
	c.remoteCSeq = n
	return true
}

// reinvite handles an INVITE inside the dialog: hold and resume, codec
// change, address change, session refresh (RFC 3261 14.2, RFC 4028).
func (c *call) reinvite(req *sip.Request, tx sip.ServerTransaction) {
	if callState(c.state.Load()) == stateEnded {
		c.s.respond(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	c.mu.Lock()
	pending := c.awaiting != 0
	c.mu.Unlock()
	if pending {
		// RFC 3261 14.2: an INVITE while one is still in progress gets 500 with Retry-After.
		c.s.respond(req, tx, 500, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return
	}
	if !c.checkCSeq(req, tx) {
		return
	}
	timer, body, ok := c.renegotiate(req, tx)
	if !ok {
		return
	}
	if body == nil {
		// No offer: we offer our current session, the ACK answers.
		c.mu.Lock()
		dir := sdp.SendRecv
		if c.neg != nil {
			dir = c.neg.Audio.Direction
		}
		c.local.Version++
		local := c.local
		c.mu.Unlock()
		po, err := sdp.NewOffer(local, c.prefs, dir, append(c.s.videoOptions(), sdp.WithEncryption(c.policy))...)
		if err != nil {
			c.s.respond(req, tx, 500, "Server Internal Error")
			return
		}
		c.mu.Lock()
		c.pending = po
		c.mu.Unlock()
		body = po.Body
	}
	c.mu.Lock()
	c.timer = timer
	c.mu.Unlock()
	if !c.answerAndWaitAck(req, tx, body, req.CSeq().SeqNo) {
		c.hangup("no ACK to re-INVITE")
	}
}

// renegotiate applies an in-dialog INVITE's or UPDATE's session timer and
// offer, if it has one, and returns the timer and our answer (nil without
// an offer). On failure it has answered the request and the session is as
// it was (RFC 3261 14.2).
func (c *call) renegotiate(req *sip.Request, tx sip.ServerTransaction) (sessionTimer, []byte, bool) {
	timer, err := c.s.negotiateTimer(req, tx)
	if err != nil {
		return timer, nil, false
	}
	if len(req.Body()) == 0 {
		return timer, nil, true
	}
	c.mu.Lock()
	var prevKey, prevVideoKey *sdp.SRTPParams
	if c.neg != nil {
		prevKey = c.neg.Audio.SRTP
		if c.neg.Video != nil {
			prevVideoKey = c.neg.Video.SRTP
		}
	}
	videoPort := c.local.VideoPort
	c.mu.Unlock()
	opts := append(c.s.videoOptions(), sdp.WithEncryption(c.policy), sdp.KeepLocalKey(prevKey), sdp.KeepVideoLocalKey(prevVideoKey))
	neg, err := sdp.Negotiate(req.Body(), c.prefs, opts...)
	if err != nil {
		code, reason := status(err)
		c.s.respond(req, tx, code, reason, warning(err))
		return timer, nil, false
	}
	if videoPort == 0 {
		// Video was refused or has ended on this call: it stays refused.
		neg.DropVideo()
	}
	if err := c.applyNegotiation(neg); err != nil {
		c.log.Error("media update", "method", req.Method, "err", err)
		c.s.respond(req, tx, 500, "Server Internal Error")
		return timer, nil, false
	}
	body, err := c.answerFor(neg)
	if err != nil {
		c.s.respond(req, tx, 500, "Server Internal Error")
		return timer, nil, false
	}
	return timer, body, true
}

// answerFor builds the answer to a new offer, raising the o= version only
// when the answer changed (RFC 3264 8).
func (c *call) answerFor(neg *sdp.Negotiation) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	body, err := neg.Answer(c.local)
	if err != nil {
		return nil, err
	}
	if string(body) != string(c.lastAnswer) {
		c.local.Version++
		if body, err = neg.Answer(c.local); err != nil {
			return nil, err
		}
		c.lastAnswer = body
	}
	return body, nil
}

// update handles UPDATE (RFC 3311): a session refresh, with or without a new offer.
func (c *call) update(req *sip.Request, tx sip.ServerTransaction) {
	if !c.checkCSeq(req, tx) {
		return
	}
	timer, body, ok := c.renegotiate(req, tx)
	if !ok {
		return
	}
	c.mu.Lock()
	c.timer = timer
	c.mu.Unlock()
	c.respond(req, tx, 200, "OK", body)
	c.armTimer()
}

// armTimer (re)starts the session timer after a 2xx to INVITE or UPDATE.
func (c *call) armTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refresh != nil {
		c.refresh.Stop()
		c.refresh = nil
	}
	t := c.timer
	if t.interval <= 0 || callState(c.state.Load()) == stateEnded {
		return
	}
	if t.refresher == "uac" {
		c.refresh = time.AfterFunc(t.expiryDelay(), func() {
			c.log.Info("session timer expired without refresh", "interval", t.interval)
			c.hangup("session timer expired")
		})
		return
	}
	// We are the refresher: refresh at half the interval (RFC 4028 10).
	c.refresh = time.AfterFunc(t.interval/2, c.refreshSession)
}

// refreshSession sends our session refresh: UPDATE when the peer allows
// it, else a re-INVITE with our current SDP.
func (c *call) refreshSession() {
	method := sip.INVITE
	if allow := c.invite.GetHeader("Allow"); allow != nil && strings.Contains(strings.ToUpper(allow.Value()), "UPDATE") {
		method = sip.UPDATE
	}
	req := c.newRequest(method)
	req.AppendHeader(c.timer.header())
	req.AppendHeader(sip.NewHeader("Supported", "timer"))
	if method == sip.INVITE {
		c.mu.Lock()
		body := c.lastAnswer
		c.mu.Unlock()
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 32*time.Second)
	defer cancel()
	res, err := c.do(ctx, req)
	if err != nil || res.StatusCode >= 300 {
		code := 0
		if res != nil {
			code = res.StatusCode
		}
		c.log.Info("session refresh failed", "method", method, "code", code, "err", err)
		if code == 408 || code == 481 || err != nil {
			c.hangup("session refresh failed")
			return
		}
	}
	if method == sip.INVITE && res != nil && res.StatusCode < 300 {
		ack := c.newRequest(sip.ACK)
		ack.CSeq().SeqNo = req.CSeq().SeqNo
		if err := c.s.client.WriteRequest(ack, sipgo.ClientRequestAddVia); err != nil {
			c.log.Debug("ACK for refresh failed", "err", err)
		}
	}
	c.armTimer()
}

// newRequest builds a request inside the dialog from our side (RFC 3261 12.2.1.1).
func (c *call) newRequest(method sip.RequestMethod) *sip.Request {
	target := c.invite.Recipient
	if ct := c.invite.Contact(); ct != nil {
		target = ct.Address
	}
	req := sip.NewRequest(method, target)
	from := c.invite.To().AsFrom()
	to := c.invite.From().AsTo()
	callID := sip.CallIDHeader(c.invite.CallID().Value())
	c.mu.Lock()
	if method != sip.ACK {
		c.localCSeq++
	}
	seq := c.localCSeq
	c.mu.Unlock()
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&from)
	req.AppendHeader(&to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	req.AppendHeader(&maxFwd)
	rrs := c.invite.GetHeaders("Record-Route")
	for _, rr := range rrs {
		req.AppendHeader(sip.NewHeader("Route", rr.Value()))
	}
	req.AppendHeader(c.s.contact(c.invite))
	req.SetTransport(c.invite.Transport())
	if len(rrs) == 0 {
		// Send where the INVITE came from: the same TCP connection, and
		// through the caller's NAT binding (RFC 3581 spirit).
		req.SetDestination(c.invite.Source())
	}
	return req
}

// do sends a request in the dialog and waits for its final response.
func (c *call) do(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	tx, err := c.s.client.TransactionRequest(ctx, req, sipgo.ClientRequestAddVia)
	if err != nil {
		return nil, err
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			return nil, tx.Err()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// infoSettle is how long INFO digits wait for INFOs with a lower CSeq.
// sipgo handles each request on its own goroutine, so INFOs sent back to
// back (one per key, as sipp and some gateways do) can reach us out of
// order; a PIN must not. Keys pressed by hand are far slower than this.
const infoSettle = 40 * time.Millisecond

// infoDigits queues the digits of one INFO and hands the queue to the room
// in CSeq order once no INFO has come for infoSettle.
func (c *call) infoDigits(cseq uint32, digits []rune) {
	c.infoMu.Lock()
	defer c.infoMu.Unlock()
	if c.infoPending == nil {
		c.infoPending = map[uint32][]rune{}
	}
	c.infoPending[cseq] = append(c.infoPending[cseq], digits...)
	if c.infoTimer == nil {
		c.infoTimer = time.AfterFunc(infoSettle, c.flushInfo)
	} else {
		c.infoTimer.Reset(infoSettle)
	}
}

func (c *call) flushInfo() {
	c.infoMu.Lock()
	seqs := make([]uint32, 0, len(c.infoPending))
	for n := range c.infoPending {
		seqs = append(seqs, n)
	}
	slices.Sort(seqs)
	var digits []rune
	for _, n := range seqs {
		digits = append(digits, c.infoPending[n]...)
	}
	clear(c.infoPending)
	c.infoTimer = nil
	c.infoMu.Unlock()
	for _, d := range digits {
		c.digit(d, "info")
	}
}

// digit hands a key press to the room. It runs on the media or signaling
// path and never blocks.
func (c *call) digit(d rune, source string) {
	c.log.Debug("dtmf", "source", source) // never the digit: it may be part of a PIN
	if p := c.audio.participant.Load(); p != nil {
		p.Digit(d)
	}
}

// Disconnect implements room.Leg: the room asks us to hang up.
func (c *call) Disconnect(reason string) { go c.hangup(reason) }

var _ room.Leg = (*call)(nil)

// hangup ends the call from our side with BYE (RFC 3261 15.1.1).
func (c *call) hangup(reason string) {
	st := callState(c.state.Load())
	if st == stateEnded || !c.hangingUp.CompareAndSwap(false, true) {
		return // ended, or another hangup (room, timer, shutdown) is sending the BYE
	}
	if st >= stateAnswered {
		bye := c.newRequest(sip.BYE)
		bye.AppendHeader(sip.NewHeader("Reason", fmt.Sprintf(`SIP;text="%s"`, reason)))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := c.do(ctx, bye)
		cancel()
		if err != nil {
			c.log.Debug("BYE not answered", "err", err)
		} else if res.StatusCode >= 300 {
			c.log.Debug("BYE refused", "code", res.StatusCode)
		}
	}
	c.end(reason)
}

// end releases everything the call holds. It is idempotent.
func (c *call) end(reason string) {
	c.endOnce.Do(func() {
		if c.release != nil {
			c.release()
		}
		prev := callState(c.state.Swap(int32(stateEnded)))
		close(c.done)
		c.s.unregister(c)
		c.infoMu.Lock()
		if c.infoTimer != nil {
			c.infoTimer.Stop() // keys of an ended call go nowhere
		}
		c.infoMu.Unlock()
		c.mu.Lock()
		if c.refresh != nil {
			c.refresh.Stop()
		}
		sess, ports, p := c.session, c.ports, c.participant
		c.mu.Unlock()
		// Leave first: the room then takes the video out with the
		// participant, instead of the video ending alone and the room
		// showing a name tile for a moment.
		if p != nil {
			p.Leave(reason)
		}
		c.closeVideo()
		c.audio.session.Store(nil)
		if sess != nil {
			_ = sess.Close()
		} else if ports != nil {
			ports.Close()
		}
		if prev >= stateAnswered && c.s.cfg.Metrics != nil {
			c.s.cfg.Metrics.CallsActive.Add(-1)
		}
		c.log.Info("call ended", "reason", reason)
	})
}

// policy is the encryption policy for a call to number: the room's, where
// SDES keys only travel over TLS unless configured otherwise (RFC 4568 8.3:
// the keys are in the SDP). A room that requires encryption refuses a call
// that cannot have it.
func (s *Server) policy(number room.Number, req *sip.Request) (sdp.Policy, error) {
	p := sdp.EncryptionOff
	if s.cfg.Encryption != nil {
		p = s.cfg.Encryption(number)
	}
	if p == sdp.EncryptionOff || s.cfg.SRTPOverPlain || strings.EqualFold(req.Transport(), "TLS") {
		return p, nil
	}
	if p == sdp.EncryptionRequired {
		return p, fmt.Errorf("%w: this room needs SRTP, which needs SIP over TLS", sdp.ErrEncryptionRequired)
	}
	return sdp.EncryptionOff, nil
}

// encryptionOf names a leg's media encryption for logs, the API and audit.
func encryptionOf(neg *sdp.Negotiation) string {
	if neg == nil || neg.Audio.SRTP == nil {
		return "none"
	}
	return "srtp:" + neg.Audio.SRTP.Suite.String()
}
