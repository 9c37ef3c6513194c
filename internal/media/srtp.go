package media

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/pion/srtp/v3"
	"github.com/pion/transport/v5/replaydetector"

	"vmrd/internal/metrics"
)

// SRTPSuite is an SRTP crypto suite as named in SDES (RFC 4568 section 6.2,
// RFC 7714 section 14.2).
type SRTPSuite int

// The suites vmrd speaks. The zero value means plain RTP.
const (
	SRTPNone SRTPSuite = iota
	SRTPAES128CMSHA1_80
	SRTPAES128CMSHA1_32
	SRTPAEADAES128GCM
	SRTPAEADAES256GCM
	numSRTPSuites
)

var srtpSuiteNames = [numSRTPSuites]string{
	"none",
	"AES_CM_128_HMAC_SHA1_80",
	"AES_CM_128_HMAC_SHA1_32",
	"AEAD_AES_128_GCM",
	"AEAD_AES_256_GCM",
}

var srtpProfiles = [numSRTPSuites]srtp.ProtectionProfile{
	0,
	srtp.ProtectionProfileAes128CmHmacSha1_80,
	srtp.ProtectionProfileAes128CmHmacSha1_32,
	srtp.ProtectionProfileAeadAes128Gcm,
	srtp.ProtectionProfileAeadAes256Gcm,
}

// String is the suite's SDP name, e.g. "AEAD_AES_128_GCM".
func (s SRTPSuite) String() string {
	if s < 0 || s >= numSRTPSuites {
		return "unknown"
	}
	return srtpSuiteNames[s]
}

// ParseSRTPSuite looks a suite up by its SDP name.
func ParseSRTPSuite(name string) (SRTPSuite, bool) {
	for s := SRTPAES128CMSHA1_80; s < numSRTPSuites; s++ {
		if strings.EqualFold(name, srtpSuiteNames[s]) {
			return s, true
		}
	}
	return SRTPNone, false
}

// KeyLen is the master key length in bytes, SaltLen the master salt length:
// 16+14 for the AES-CM suites (RFC 3711 section 8.2), 16+12 and 32+12 for
// AES-GCM (RFC 7714 section 12). 0 for SRTPNone or an unknown suite.
func (s SRTPSuite) KeyLen() int {
	if s <= SRTPNone || s >= numSRTPSuites {
		return 0
	}
	n, _ := srtpProfiles[s].KeyLen()
	return n
}

// SaltLen: see KeyLen.
func (s SRTPSuite) SaltLen() int {
	if s <= SRTPNone || s >= numSRTPSuites {
		return 0
	}
	n, _ := srtpProfiles[s].SaltLen()
	return n
}

// MasterLen is the length of master key || salt, the bytes of an SDES
// "inline:" key (RFC 4568 section 6.1).
func (s SRTPSuite) MasterLen() int { return s.KeyLen() + s.SaltLen() }

// defaultReplayWindow is the replay window in packets; RFC 3711 section
// 3.3.2 asks for at least 64. 128 covers the jitter buffer's maximum reorder
// depth at 20 ms packets with room to spare.
const defaultReplayWindow = 128

// maxReplayWindow bounds a peer's WSH hint (RFC 4568 section 6.3.6).
const maxReplayWindow = 1024

// srtpOverhead is the most SRTP adds to a packet: a 16-byte GCM tag or a
// 10-byte HMAC tag, plus an MKI of up to 4 bytes and the SRTCP index.
const srtpOverhead = 32

// SRTPConfig keys one leg's SRTP: we encrypt with LocalKey, the peer with
// RemoteKey. Keys are master key || master salt of Suite's lengths. The
// session copies the keys; String, GoString and LogValue never show them.
type SRTPConfig struct {
	Suite     SRTPSuite
	LocalKey  []byte
	RemoteKey []byte
	// RemoteMKI is the master key identifier the peer puts in every packet
	// (RFC 3711 section 3.1), nil if it uses none. We send without an MKI.
	RemoteMKI []byte
	// ReplayWindow in packets; 0 means 128, at most 1024.
	ReplayWindow uint
}

// String names the suite only.
func (c *SRTPConfig) String() string {
	if c == nil {
		return "RTP"
	}
	return "SRTP(" + c.Suite.String() + ")"
}

// GoString hides the keys from %#v as well.
func (c *SRTPConfig) GoString() string { return c.String() }

// LogValue hides the keys from slog.
func (c *SRTPConfig) LogValue() slog.Value {
	if c == nil {
		return slog.StringValue("none")
	}
	return slog.GroupValue(slog.String("suite", c.Suite.String()), slog.Bool("mki", len(c.RemoteMKI) > 0))
}

// MarshalJSON hides the keys from JSON encoders (slog's JSON handler on a
// struct holding the config).
func (c *SRTPConfig) MarshalJSON() ([]byte, error) {
	if c == nil {
		return []byte("null"), nil
	}
	return json.Marshal(struct {
		Suite string `json:"suite"`
		MKI   bool   `json:"mki"`
	}{c.Suite.String(), len(c.RemoteMKI) > 0})
}

// equal compares in constant time so a re-INVITE check leaks nothing
// about key bytes through timing.
func (c *SRTPConfig) equal(o *SRTPConfig) bool {
	if c == nil || o == nil {
		return c == o
	}
	return c.Suite == o.Suite && c.ReplayWindow == o.ReplayWindow &&
		subtle.ConstantTimeCompare(c.LocalKey, o.LocalKey) == 1 &&
		subtle.ConstantTimeCompare(c.RemoteKey, o.RemoteKey) == 1 &&
		bytes.Equal(c.RemoteMKI, o.RemoteMKI)
}

func (c *SRTPConfig) clone() *SRTPConfig {
	if c == nil {
		return nil
	}
	return &SRTPConfig{Suite: c.Suite, LocalKey: bytes.Clone(c.LocalKey), RemoteKey: bytes.Clone(c.RemoteKey),
		RemoteMKI: bytes.Clone(c.RemoteMKI), ReplayWindow: c.ReplayWindow}
}

// wipe overwrites the copied key bytes once the session no longer needs them.
func (c *SRTPConfig) wipe() {
	if c == nil {
		return
	}
	clear(c.LocalKey)
	clear(c.RemoteKey)
}

func (c *SRTPConfig) validate() error {
	if c.Suite <= SRTPNone || c.Suite >= numSRTPSuites {
		return fmt.Errorf("%w: unknown SRTP suite %d", ErrConfig, int(c.Suite))
	}
	n := c.Suite.MasterLen()
	if len(c.LocalKey) != n || len(c.RemoteKey) != n {
		// Lengths only: never the key bytes.
		return fmt.Errorf("%w: %s needs %d-byte keys, got local %d remote %d",
			ErrConfig, c.Suite, n, len(c.LocalKey), len(c.RemoteKey))
	}
	if len(c.RemoteMKI) > 4 {
		return fmt.Errorf("%w: MKI longer than 4 bytes", ErrConfig)
	}
	if c.ReplayWindow > maxReplayWindow {
		return fmt.Errorf("%w: replay window %d above %d", ErrConfig, c.ReplayWindow, maxReplayWindow)
	}
	return nil
}

// srtpTx encrypts what we send. Its RTP context is used under
// Session.sendMu, its RTCP context only by the receive goroutine (which
// sends the reports), so each pion context has one user at a time.
type srtpTx struct {
	suite SRTPSuite
	rtp   *srtp.Context
	rtcp  *srtp.Context
}

// srtpRx decrypts what the peer sends. The RTP context belongs to the
// receive goroutine; the RTCP context is reached from both the receive
// goroutine (rtcp-mux) and the RTCP goroutine, so it has a mutex.
type srtpRx struct {
	suite     SRTPSuite
	rtp       *srtp.Context
	rtpReplay bool // set by the replay detector when it rejects an index

	rtcpMu     sync.Mutex
	rtcp       *srtp.Context
	rtcpReplay bool
	rtcpBuf    [maxPacket + srtpOverhead]byte
}

// flagDetector wraps pion's sliding window and records a rejection, so a
// failed decrypt can be told apart as a replay (often just a duplicate the
// network made) rather than an authentication failure.
type flagDetector struct {
	inner replaydetector.ReplayDetector
	ca    replaydetector.CheckAccepter
	flag  *bool
}

func newFlagDetector(window uint, maxSeq uint64, flag *bool) replaydetector.ReplayDetector {
	d := &flagDetector{inner: replaydetector.New(window, maxSeq), flag: flag}
	d.ca, _ = d.inner.(replaydetector.CheckAccepter)
	if d.ca == nil {
		return &legacyFlagDetector{d}
	}
	return d
}

func (d *flagDetector) Check(seq uint64) (func() bool, bool) {
	accept, ok := d.inner.Check(seq)
	if !ok {
		*d.flag = true
	}
	return accept, ok
}

// CheckSeq and Accept are pion's allocation-free path.
func (d *flagDetector) CheckSeq(seq uint64) replaydetector.Token {
	tok := d.ca.CheckSeq(seq)
	if !tok.Passed() {
		*d.flag = true
	}
	return tok
}

func (d *flagDetector) Accept(tok replaydetector.Token) bool { return d.ca.Accept(tok) }

// legacyFlagDetector hides CheckSeq when the inner detector lacks it.
type legacyFlagDetector struct{ d *flagDetector }

func (l *legacyFlagDetector) Check(seq uint64) (func() bool, bool) { return l.d.Check(seq) }

// Index limits of the replay detectors: a 48-bit SRTP packet index (RFC
// 3711 section 3.3.1) and a 31-bit SRTCP index (section 3.4).
const (
	maxSRTPIndex  = 1<<48 - 1
	maxSRTCPIndex = 1<<31 - 1
)

// newSRTP builds the four contexts of one keying: RTP and RTCP for each
// direction, each with its own state.
func newSRTP(c *SRTPConfig) (*srtpTx, *srtpRx, error) {
	if err := c.validate(); err != nil {
		return nil, nil, err
	}
	prof := srtpProfiles[c.Suite]
	kl := c.Suite.KeyLen()
	window := c.ReplayWindow
	if window == 0 {
		window = defaultReplayWindow
	}
	tx := &srtpTx{suite: c.Suite}
	rx := &srtpRx{suite: c.Suite}
	var err error
	lk, ls := c.LocalKey[:kl], c.LocalKey[kl:]
	rk, rs := c.RemoteKey[:kl], c.RemoteKey[kl:]
	if tx.rtp, err = srtp.CreateContext(lk, ls, prof); err != nil {
		return nil, nil, fmt.Errorf("%w: srtp context: %v", ErrConfig, err)
	}
	if tx.rtcp, err = srtp.CreateContext(lk, ls, prof); err != nil {
		return nil, nil, fmt.Errorf("%w: srtcp context: %v", ErrConfig, err)
	}
	rtpOpts := []srtp.ContextOption{srtp.SRTPReplayDetectorFactory(func() replaydetector.ReplayDetector {
		return newFlagDetector(window, maxSRTPIndex, &rx.rtpReplay)
	})}
	rtcpOpts := []srtp.ContextOption{srtp.SRTCPReplayDetectorFactory(func() replaydetector.ReplayDetector {
		return newFlagDetector(window, maxSRTCPIndex, &rx.rtcpReplay)
	})}
	if len(c.RemoteMKI) > 0 {
		rtpOpts = append(rtpOpts, srtp.MasterKeyIndicator(c.RemoteMKI))
		rtcpOpts = append(rtcpOpts, srtp.MasterKeyIndicator(c.RemoteMKI))
	}
	if rx.rtp, err = srtp.CreateContext(rk, rs, prof, rtpOpts...); err != nil {
		return nil, nil, fmt.Errorf("%w: srtp context: %v", ErrConfig, err)
	}
	if rx.rtcp, err = srtp.CreateContext(rk, rs, prof, rtcpOpts...); err != nil {
		return nil, nil, fmt.Errorf("%w: srtcp context: %v", ErrConfig, err)
	}
	return tx, rx, nil
}

// decryptReason classifies a failed decrypt. The replay check runs before
// authentication in pion, so a set flag means the index was the problem.
func decryptReason(err error, replay bool) metrics.InvalidReason {
	switch {
	case replay:
		return metrics.InvalidReplay
	case errors.Is(err, srtp.ErrFailedToVerifyAuthTag), errors.Is(err, srtp.ErrMKINotFound):
		return metrics.InvalidAuth
	}
	// Too short for a tag, or a header that does not parse.
	return metrics.InvalidMalformed
}

// decryptRTCP opens one SRTCP packet into the context's own buffer and
// passes the plain packet to use while the lock is held.
func (rx *srtpRx) decryptRTCP(b []byte, use func([]byte)) (metrics.InvalidReason, bool) {
	rx.rtcpMu.Lock()
	defer rx.rtcpMu.Unlock()
	rx.rtcpReplay = false
	out, err := rx.rtcp.DecryptRTCP(rx.rtcpBuf[:0], b, nil)
	if err != nil {
		return decryptReason(err, rx.rtcpReplay), false
	}
	use(out)
	return 0, true
}
