package sdp

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	psdp "github.com/pion/sdp/v3"

	"vmrd/internal/codec"
	"vmrd/internal/media"
)

// Policy is a room's rule for SDES-SRTP (RFC 4568) on its SIP legs.
type Policy int

// Encryption policies.
const (
	// EncryptionOff: plain RTP only; RTP/SAVP streams are refused and
	// crypto lines on RTP/AVP are ignored.
	EncryptionOff Policy = iota
	// EncryptionPreferred: SRTP whenever the peer offers a usable crypto
	// line (on RTP/SAVP, or on RTP/AVP as "best effort" SRTP, which
	// baresip's mediaenc=srtp does), plain RTP otherwise.
	EncryptionPreferred
	// EncryptionRequired: only RTP/SAVP(F) with a usable crypto line.
	EncryptionRequired
)

var policyNames = [...]string{"off", "preferred", "required"}

func (p Policy) String() string {
	if p < 0 || int(p) >= len(policyNames) {
		return "unknown"
	}
	return policyNames[p]
}

// ParsePolicy reads a policy name from configuration: off, preferred or required.
func ParsePolicy(s string) (Policy, error) {
	for i, n := range policyNames {
		if strings.EqualFold(s, n) {
			return Policy(i), nil
		}
	}
	return EncryptionOff, fmt.Errorf("%w: %q (want off, preferred or required)", ErrUnknownPolicy, s)
}

// Suite is an SDES crypto suite; the media session uses the same type.
type Suite = media.SRTPSuite

// Crypto suites vmrd speaks (RFC 4568 section 6.2, RFC 7714 section 14.2).
const (
	SuiteAES128CMSHA1_80 = media.SRTPAES128CMSHA1_80
	SuiteAES128CMSHA1_32 = media.SRTPAES128CMSHA1_32
	SuiteAEADAES128GCM   = media.SRTPAEADAES128GCM
	SuiteAEADAES256GCM   = media.SRTPAEADAES256GCM
)

// DefaultSuites is our order of preference when we answer. AEAD first: a
// 128-bit tag that covers the header too, against 80 (or 32) bits of
// truncated HMAC, and one pass over the packet that AES-NI makes cheaper
// than counter mode plus SHA-1 (see BenchmarkSRTP in internal/media).
// AES-128 before AES-256: ample for the life of a call and the key every
// SDES implementation with GCM has. The 32-bit tag comes last (RFC 3711
// section 9.5 limits its use to where bandwidth matters more than forgery
// resistance). baresip 1.0 offers all four, GCM first, so it gets GCM.
var DefaultSuites = []Suite{SuiteAEADAES128GCM, SuiteAEADAES256GCM, SuiteAES128CMSHA1_80, SuiteAES128CMSHA1_32}

// MinKeyLifetime is the shortest key lifetime (RFC 4568 section 6.1, in
// packets) we accept. We never re-key during a call, so a key must outlive
// it: 2^24 packets is 93 hours of 20 ms audio (46 at 10 ms).
const MinKeyLifetime = 1 << 24

// SRTPParams is the negotiated SDES keying of the audio stream. The keys are
// master key || master salt. String, GoString and LogValue hide them; the
// SDP bodies carry them in clear, so never log those on an SRTP leg.
type SRTPParams struct {
	Suite Suite
	// Tag is the crypto attribute's tag (RFC 4568 section 4), the same in
	// offer and answer.
	Tag       int
	LocalKey  []byte // ours: we encrypt with it; it is in our SDP
	RemoteKey []byte // the peer's: we decrypt with it
	// RemoteMKI is the peer's MKI (RFC 3711 section 3.1), nil if none.
	RemoteMKI []byte
	// ReplayWindow is the peer's window size hint (WSH, RFC 4568 section
	// 6.3.6), 0 for our default.
	ReplayWindow uint
	// BestEffort: negotiated on RTP/AVP rather than RTP/SAVP.
	BestEffort bool
}

// Config is the media session's view of the keying; nil for nil.
func (p *SRTPParams) Config() *media.SRTPConfig {
	if p == nil {
		return nil
	}
	return &media.SRTPConfig{Suite: p.Suite, LocalKey: bytes.Clone(p.LocalKey), RemoteKey: bytes.Clone(p.RemoteKey),
		RemoteMKI: bytes.Clone(p.RemoteMKI), ReplayWindow: p.ReplayWindow}
}

// String names the suite and tag only.
func (p *SRTPParams) String() string {
	if p == nil {
		return "none"
	}
	return fmt.Sprintf("%s tag %d", p.Suite, p.Tag)
}

// GoString hides the keys from %#v too.
func (p *SRTPParams) GoString() string { return p.String() }

// LogValue hides the keys from slog.
func (p *SRTPParams) LogValue() slog.Value {
	if p == nil {
		return slog.StringValue("none")
	}
	return slog.GroupValue(slog.String("suite", p.Suite.String()), slog.Int("tag", p.Tag),
		slog.Bool("best_effort", p.BestEffort))
}

// MarshalJSON hides the keys from encoders that do not ask LogValue (slog's
// JSON handler on a struct that holds SRTPParams, an API response).
func (p *SRTPParams) MarshalJSON() ([]byte, error) {
	if p == nil {
		return []byte("null"), nil
	}
	return json.Marshal(struct {
		Suite      string `json:"suite"`
		Tag        int    `json:"tag"`
		BestEffort bool   `json:"best_effort"`
	}{p.Suite.String(), p.Tag, p.BestEffort})
}

// Option changes how offers and answers treat encryption.
type Option func(*options)

type options struct {
	policy    Policy
	suites    []Suite
	prev      *SRTPParams
	prevVideo *SRTPParams
	video     *VideoPrefs
}

func newOptions(opts []Option) options {
	o := options{suites: DefaultSuites}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// WithEncryption sets the policy; the default is EncryptionOff.
func WithEncryption(p Policy) Option { return func(o *options) { o.policy = p } }

// WithSuites replaces DefaultSuites: the suites we accept and offer, most
// preferred first.
func WithSuites(s ...Suite) Option {
	return func(o *options) { o.suites = append([]Suite(nil), s...) }
}

// KeepLocalKey reuses our key from the call's current keying when a
// re-INVITE lands on the same suite, so our direction is not re-keyed for
// a mere hold or codec change. Without it every answer has a fresh key.
func KeepLocalKey(prev *SRTPParams) Option { return func(o *options) { o.prev = prev } }

// KeepVideoLocalKey is KeepLocalKey for the video stream, which has its
// own keying (RFC 4568 section 6.1: one crypto context per m-line).
func KeepVideoLocalKey(prev *SRTPParams) Option { return func(o *options) { o.prevVideo = prev } }

// Reasons a crypto line is skipped. They never contain key material.
var (
	errCryptoSyntax   = errors.New("crypto attribute syntax")
	errCryptoSuite    = errors.New("crypto suite not accepted")
	errCryptoKey      = errors.New("crypto key of the wrong length or encoding")
	errCryptoLifetime = errors.New("crypto key lifetime too short")
	errCryptoMKI      = errors.New("crypto MKI not supported")
	errCryptoKeys     = errors.New("several crypto keys in one line")
	errCryptoParam    = errors.New("crypto session parameter not supported")
)

// cryptoAttr is one parsed a=crypto line.
type cryptoAttr struct {
	tag    int
	suite  Suite
	key    []byte
	mki    []byte
	window uint
}

// parseCrypto reads "<tag> <suite> inline:<key||salt>[|lifetime][|MKI:len]
// [session params]" (RFC 4568 section 9.1 grammar, section 6 for SRTP).
// suites are the ones we accept.
func parseCrypto(v string, suites []Suite) (cryptoAttr, error) {
	var c cryptoAttr
	f := strings.Fields(v)
	if len(f) < 3 {
		return c, errCryptoSyntax
	}
	if len(f[0]) > 9 {
		return c, errCryptoSyntax
	}
	tag, err := strconv.Atoi(f[0])
	if err != nil || tag < 0 || f[0][0] == '+' || f[0][0] == '-' {
		return c, errCryptoSyntax
	}
	c.tag = tag
	s, ok := media.ParseSRTPSuite(f[1])
	if !ok || !accepted(s, suites) {
		return c, errCryptoSuite
	}
	c.suite = s
	// Several key-params need MKIs to tell them apart; we keep one key.
	if strings.Contains(f[2], ";") {
		return c, errCryptoKeys
	}
	method, info, ok := strings.Cut(f[2], ":")
	if !ok || !strings.EqualFold(method, "inline") {
		return c, errCryptoSyntax
	}
	parts := strings.Split(info, "|")
	if len(parts) > 3 {
		return c, errCryptoSyntax
	}
	c.key, err = decodeKey(parts[0], s.MasterLen())
	if err != nil {
		return c, err
	}
	for i, p := range parts[1:] {
		if mv, ml, isMKI := strings.Cut(p, ":"); isMKI {
			if c.mki, err = parseMKI(mv, ml); err != nil {
				return c, err
			}
			continue
		}
		// A lifetime must come before the MKI.
		if i > 0 || c.mki != nil {
			return c, errCryptoSyntax
		}
		if err := checkLifetime(p); err != nil {
			return c, err
		}
	}
	for _, sp := range f[3:] {
		if err := c.sessionParam(sp); err != nil {
			return c, err
		}
	}
	return c, nil
}

func accepted(s Suite, suites []Suite) bool {
	for _, x := range suites {
		if x == s {
			return true
		}
	}
	return false
}

// decodeKey accepts padded and unpadded base64 (RFC 4568 section 6.1 asks
// for padding; some phones drop it).
func decodeKey(s string, n int) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		k, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil || len(k) != n {
		return nil, errCryptoKey
	}
	return k, nil
}

// checkLifetime reads "N" or "2^N" packets (RFC 4568 section 6.1).
func checkLifetime(s string) error {
	var n uint64
	if e, ok := strings.CutPrefix(s, "2^"); ok {
		x, err := strconv.ParseUint(e, 10, 8)
		if err != nil || x > 63 {
			return errCryptoSyntax
		}
		n = 1 << x
	} else {
		x, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return errCryptoSyntax
		}
		n = x
	}
	if n < MinKeyLifetime {
		return errCryptoLifetime
	}
	return nil
}

// parseMKI reads "value:length" (RFC 4568 section 6.1): length in bytes
// 1-128, the value an integer sent big-endian in that many bytes. We take
// lengths up to 4, the most any phone uses.
func parseMKI(value, length string) ([]byte, error) {
	l, err := strconv.Atoi(length)
	if err != nil || l < 1 || l > 128 {
		return nil, errCryptoSyntax
	}
	v, err := strconv.ParseUint(value, 10, 64)
	if err != nil {
		return nil, errCryptoSyntax
	}
	if l > 4 || v >= 1<<(8*uint(l)) {
		return nil, errCryptoMKI
	}
	mki := make([]byte, l)
	for i := l - 1; i >= 0; i-- {
		mki[i] = byte(v)
		v >>= 8
	}
	return mki, nil
}

// sessionParam applies one SRTP session parameter (RFC 4568 section 6.3).
// Anything that would weaken or change the transform makes us skip the
// line; FEC parameters are moot because we use no FEC; an unknown
// parameter is accepted only with the "-" prefix that marks it optional.
func (c *cryptoAttr) sessionParam(p string) error {
	name, val, _ := strings.Cut(p, "=")
	switch strings.ToUpper(name) {
	case "KDR":
		// Only a key derivation rate of 0 (derive once) is supported.
		if n, err := strconv.Atoi(val); err != nil || n != 0 {
			return errCryptoParam
		}
	case "UNENCRYPTED_SRTP", "UNENCRYPTED_SRTCP", "UNAUTHENTICATED_SRTP":
		return errCryptoParam
	case "FEC_ORDER", "FEC_KEY":
	case "WSH":
		n, err := strconv.Atoi(val)
		if err != nil || n < 0 {
			return errCryptoSyntax
		}
		// A hint: honoured between the RFC 3711 minimum of 64 and our cap.
		if n >= 64 {
			c.window = uint(min(n, 1024))
		}
	default:
		if !strings.HasPrefix(name, "-") {
			return errCryptoParam
		}
	}
	return nil
}

// cryptoLine formats our a=crypto value.
func cryptoLine(tag int, s Suite, key []byte) string {
	return strconv.Itoa(tag) + " " + s.String() + " inline:" + base64.StdEncoding.EncodeToString(key)
}

func newKey(s Suite) []byte {
	k := make([]byte, s.MasterLen())
	rand.Read(k) // never fails (crypto/rand, Go 1.24+)
	return k
}

// chooseCrypto picks, in our preference order, the first suite among the
// offer's usable crypto lines and makes our key for the answer.
func chooseCrypto(md *psdp.MediaDescription, o options) (*SRTPParams, error) {
	var lines []cryptoAttr
	var firstErr error
	n := 0
	for _, a := range md.Attributes {
		if a.Key != "crypto" {
			continue
		}
		n++
		c, err := parseCrypto(a.Value, o.suites)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		lines = append(lines, c)
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: no a=crypto line", ErrNoCrypto)
	}
	for _, want := range o.suites {
		for _, c := range lines {
			if c.suite != want {
				continue
			}
			p := &SRTPParams{Suite: c.suite, Tag: c.tag, RemoteKey: c.key, RemoteMKI: c.mki, ReplayWindow: c.window}
			if o.prev != nil && o.prev.Suite == c.suite && len(o.prev.LocalKey) == c.suite.MasterLen() {
				p.LocalKey = bytes.Clone(o.prev.LocalKey)
			} else {
				p.LocalKey = newKey(c.suite)
			}
			return p, nil
		}
	}
	return nil, fmt.Errorf("%w: %d crypto lines, none usable (first: %v)", ErrNoCrypto, n, firstErr)
}

// offeredKey is one crypto line of our own offer.
type offeredKey struct {
	tag   int
	suite Suite
	key   []byte
}

// matchAnswerCrypto finds the answer's crypto line among the ones we
// offered: same tag and suite (RFC 4568 section 7.1.3).
func matchAnswerCrypto(md *psdp.MediaDescription, offered []offeredKey, o options) (*SRTPParams, error) {
	n := 0
	for _, a := range md.Attributes {
		if a.Key != "crypto" {
			continue
		}
		n++
		c, err := parseCrypto(a.Value, o.suites)
		if err != nil {
			continue
		}
		for _, k := range offered {
			if k.tag == c.tag && k.suite == c.suite {
				return &SRTPParams{Suite: c.suite, Tag: c.tag, LocalKey: bytes.Clone(k.key),
					RemoteKey: c.key, RemoteMKI: c.mki, ReplayWindow: c.window}, nil
			}
		}
	}
	if n == 0 {
		return nil, fmt.Errorf("%w: no a=crypto line in the answer", ErrNoCrypto)
	}
	return nil, fmt.Errorf("%w: the answer's crypto line matches none we offered", ErrNoCrypto)
}

// PendingOffer is an offer we sent (delayed offer, RFC 3261 13.2.1, or a
// re-INVITE without SDP) and the keys in it, kept to read the answer.
type PendingOffer struct {
	// Body is the SDP to send. With encryption it holds our keys in
	// clear: send it only over TLS and never log it.
	Body      []byte
	prefs     []codec.AudioCodec
	o         options
	keys      []offeredKey
	videoKeys []offeredKey
	video     bool // the offer has a video stream
}

// NewOffer builds an offer with every codec of prefs. With
// WithEncryption(EncryptionRequired) the audio stream is RTP/SAVP with one
// crypto line per suite (tags 1, 2, ... in preference order, each with a
// fresh key); with EncryptionPreferred it is RTP/AVP with the same crypto
// lines, best-effort SRTP that a plain phone simply ignores; with
// EncryptionOff it is what Offer builds. With WithVideo and l.VideoPort
// set, a video stream follows in the same direction, with its own keys.
func NewOffer(l Local, prefs []codec.AudioCodec, dir Direction, opts ...Option) (*PendingOffer, error) {
	o := newOptions(opts)
	p := &PendingOffer{prefs: prefs, o: o}
	sd := newSession(l)
	md := offerMedia(l, prefs)
	p.keys = offerKeys(md, o)
	md.WithPropertyAttribute(dir.String())
	sd.MediaDescriptions = append(sd.MediaDescriptions, md)
	if o.video != nil && l.VideoPort != 0 {
		if vmd := offerVideoMedia(l, *o.video); vmd != nil {
			p.videoKeys = offerKeys(vmd, o)
			p.video = true
			vmd.WithPropertyAttribute(dir.String())
			sd.MediaDescriptions = append(sd.MediaDescriptions, vmd)
		}
	}
	body, err := sd.Marshal()
	if err != nil {
		return nil, err
	}
	p.Body = body
	return p, nil
}

// ParseAnswer reads the peer's answer to this offer under the offer's
// policy: with EncryptionRequired an answer without a matching crypto line
// fails.
func (p *PendingOffer) ParseAnswer(body []byte) (*Negotiation, error) {
	o := p.o
	if !p.video {
		// A video stream in the answer to an offer without one is not ours.
		o.video = nil
	}
	return negotiate(body, p.prefs, o, false,
		func(md *psdp.MediaDescription) (*SRTPParams, error) { return matchAnswerCrypto(md, p.keys, p.o) },
		func(md *psdp.MediaDescription) (*SRTPParams, error) { return matchAnswerCrypto(md, p.videoKeys, p.o) })
}

// offerKeys adds one crypto line per suite to an offered stream (tags 1,
// 2, ... in preference order, each with a fresh key) and makes it RTP/SAVP
// under EncryptionRequired.
func offerKeys(md *psdp.MediaDescription, o options) []offeredKey {
	if o.policy == EncryptionOff {
		return nil
	}
	if o.policy == EncryptionRequired {
		md.MediaName.Protos = []string{"RTP", "SAVP"}
	}
	keys := make([]offeredKey, 0, len(o.suites))
	for i, s := range o.suites {
		k := offeredKey{tag: i + 1, suite: s, key: newKey(s)}
		keys = append(keys, k)
		md.WithValueAttribute("crypto", cryptoLine(k.tag, k.suite, k.key))
	}
	return keys
}

// String hides the keys.
func (p *PendingOffer) String() string {
	return fmt.Sprintf("offer(%s, %d crypto lines, video %v)", p.o.policy, len(p.keys)+len(p.videoKeys), p.video)
}

// GoString hides the keys from %#v too.
func (p *PendingOffer) GoString() string { return p.String() }

// MarshalJSON hides the body, which holds our keys.
func (p *PendingOffer) MarshalJSON() ([]byte, error) { return json.Marshal(p.String()) }
