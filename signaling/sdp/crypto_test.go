package sdp

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"

	psdp "github.com/pion/sdp/v3"

	"vmrd/internal/codec"
)

// Keys of the right lengths: 30 bytes for AES-CM, 28 and 44 for GCM.
var (
	key30 = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xa1}, 30))
	key28 = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xb2}, 28))
	key44 = base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xc3}, 44))
)

// baresipSAVP is what baresip 1.0 with mediaenc=srtp-mand offers: every
// suite, GCM-256 first, tags 1-4.
var baresipSAVP = "v=0\r\n" +
	"o=- 123 456 IN IP4 127.0.0.1\r\n" +
	"s=-\r\n" +
	"c=IN IP4 127.0.0.1\r\n" +
	"t=0 0\r\n" +
	"m=audio 5004 RTP/SAVP 0 8 9 96 101\r\n" +
	"a=rtpmap:96 opus/48000/2\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\n" +
	"a=crypto:1 AEAD_AES_256_GCM inline:" + key44 + "\r\n" +
	"a=crypto:2 AEAD_AES_128_GCM inline:" + key28 + "\r\n" +
	"a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "\r\n" +
	"a=crypto:4 AES_CM_128_HMAC_SHA1_32 inline:" + key30 + "\r\n" +
	"a=sendrecv\r\n" +
	"m=video 5006 RTP/SAVP 96\r\n" +
	"a=rtpmap:96 VP8/90000\r\n" +
	"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "\r\n"

func withCrypto(proto string, lines ...string) string {
	var b strings.Builder
	b.WriteString("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n")
	b.WriteString("m=audio 5004 " + proto + " 0 101\r\na=rtpmap:101 telephone-event/8000\r\n")
	for _, l := range lines {
		b.WriteString("a=crypto:" + l + "\r\n")
	}
	return b.String()
}

func TestParseCrypto(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		err    error
		tag    int
		suite  Suite
		mki    []byte
		window uint
	}{
		{name: "aes cm 80", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30, tag: 1, suite: SuiteAES128CMSHA1_80},
		{name: "aes cm 32", line: "7 AES_CM_128_HMAC_SHA1_32 inline:" + key30, tag: 7, suite: SuiteAES128CMSHA1_32},
		{name: "gcm 128", line: "2 AEAD_AES_128_GCM inline:" + key28, tag: 2, suite: SuiteAEADAES128GCM},
		{name: "gcm 256", line: "3 AEAD_AES_256_GCM inline:" + key44, tag: 3, suite: SuiteAEADAES256GCM},
		{name: "suite in lower case", line: "1 aes_cm_128_hmac_sha1_80 inline:" + key30, tag: 1, suite: SuiteAES128CMSHA1_80},
		{name: "unpadded base64", line: "1 AEAD_AES_128_GCM inline:" + strings.TrimRight(key28, "="), tag: 1, suite: SuiteAEADAES128GCM},
		{name: "lifetime 2^31", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|2^31", tag: 1, suite: SuiteAES128CMSHA1_80},
		{name: "lifetime decimal", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|16777216", tag: 1, suite: SuiteAES128CMSHA1_80},
		{name: "lifetime 2^20 too short", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|2^20", err: errCryptoLifetime},
		{name: "lifetime 1000 too short", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|1000", err: errCryptoLifetime},
		{name: "lifetime garbage", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|2^x", err: errCryptoSyntax},
		{name: "lifetime and mki", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|2^31|1:4", tag: 1, suite: SuiteAES128CMSHA1_80, mki: []byte{0, 0, 0, 1}},
		{name: "mki only", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|258:2", tag: 1, suite: SuiteAES128CMSHA1_80, mki: []byte{1, 2}},
		{name: "mki too long for us", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|1:8", err: errCryptoMKI},
		{name: "mki value overflows length", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|256:1", err: errCryptoMKI},
		{name: "mki length 0", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|1:0", err: errCryptoSyntax},
		{name: "lifetime after mki", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|1:4|2^31", err: errCryptoSyntax},
		{name: "two keys", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|1:4;inline:" + key30 + "|2:4", err: errCryptoKeys},
		{name: "unknown suite", line: "1 F8_128_HMAC_SHA1_80 inline:" + key30, err: errCryptoSuite},
		{name: "aes 256 cm not offered by us", line: "1 AES_256_CM_HMAC_SHA1_80 inline:" + key44, err: errCryptoSuite},
		{name: "key too short", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key28, err: errCryptoKey},
		{name: "gcm key for cm suite", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key44, err: errCryptoKey},
		{name: "not base64", line: "1 AES_CM_128_HMAC_SHA1_80 inline:!!!!", err: errCryptoKey},
		{name: "no inline", line: "1 AES_CM_128_HMAC_SHA1_80 uri:" + key30, err: errCryptoSyntax},
		{name: "missing key", line: "1 AES_CM_128_HMAC_SHA1_80", err: errCryptoSyntax},
		{name: "tag not a number", line: "x AES_CM_128_HMAC_SHA1_80 inline:" + key30, err: errCryptoSyntax},
		{name: "tag negative", line: "-1 AES_CM_128_HMAC_SHA1_80 inline:" + key30, err: errCryptoSyntax},
		{name: "tag ten digits", line: "1234567890 AES_CM_128_HMAC_SHA1_80 inline:" + key30, err: errCryptoSyntax},
		{name: "kdr 0", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + " KDR=0", tag: 1, suite: SuiteAES128CMSHA1_80},
		{name: "kdr 1", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + " KDR=1", err: errCryptoParam},
		{name: "unencrypted srtp", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + " UNENCRYPTED_SRTP", err: errCryptoParam},
		{name: "unencrypted srtcp", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + " UNENCRYPTED_SRTCP", err: errCryptoParam},
		{name: "unauthenticated", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + " UNAUTHENTICATED_SRTP", err: errCryptoParam},
		{name: "fec order ignored", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + " FEC_ORDER=FEC_SRTP", tag: 1, suite: SuiteAES128CMSHA1_80},
		{name: "window hint", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + " WSH=256", tag: 1, suite: SuiteAES128CMSHA1_80, window: 256},
		{name: "window hint capped", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + " WSH=100000", tag: 1, suite: SuiteAES128CMSHA1_80, window: 1024},
		{name: "window hint below minimum", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + " WSH=10", tag: 1, suite: SuiteAES128CMSHA1_80},
		{name: "optional unknown param", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + " -FOO=1", tag: 1, suite: SuiteAES128CMSHA1_80},
		{name: "mandatory unknown param", line: "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + " FOO=1", err: errCryptoParam},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseCrypto(tt.line, DefaultSuites)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseCrypto: %v", err)
			}
			if c.tag != tt.tag || c.suite != tt.suite || !bytes.Equal(c.mki, tt.mki) || c.window != tt.window {
				t.Fatalf("got tag %d suite %v mki %v window %d", c.tag, c.suite, c.mki, c.window)
			}
			if len(c.key) != c.suite.MasterLen() {
				t.Fatalf("key length %d", len(c.key))
			}
		})
	}
}

func TestNegotiateEncryption(t *testing.T) {
	savpOnlyCM32 := withCrypto("RTP/SAVP", "5 AES_CM_128_HMAC_SHA1_32 inline:"+key30)
	twoStreams := withCrypto("RTP/AVP") + "m=audio 5008 RTP/SAVP 0\r\na=crypto:9 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "\r\n"
	tests := []struct {
		name       string
		offer      string
		opts       []Option
		err        error
		suite      Suite // 0: plain
		tag        int
		bestEffort bool
		port       int
		proto      string
	}{
		{name: "required takes gcm 128 from baresip", offer: baresipSAVP, opts: []Option{WithEncryption(EncryptionRequired)}, suite: SuiteAEADAES128GCM, tag: 2, proto: "RTP/SAVP"},
		{name: "preferred takes savp", offer: baresipSAVP, opts: []Option{WithEncryption(EncryptionPreferred)}, suite: SuiteAEADAES128GCM, tag: 2, proto: "RTP/SAVP"},
		{name: "off refuses savp", offer: baresipSAVP, err: ErrUnsupportedTransport},
		{name: "explicit off refuses savp", offer: baresipSAVP, opts: []Option{WithEncryption(EncryptionOff)}, err: ErrUnsupportedTransport},
		{name: "room suites order", offer: baresipSAVP, opts: []Option{WithEncryption(EncryptionRequired), WithSuites(SuiteAES128CMSHA1_80, SuiteAEADAES256GCM)}, suite: SuiteAES128CMSHA1_80, tag: 3, proto: "RTP/SAVP"},
		{name: "only the 32-bit tag offered", offer: savpOnlyCM32, opts: []Option{WithEncryption(EncryptionRequired)}, suite: SuiteAES128CMSHA1_32, tag: 5, proto: "RTP/SAVP"},
		{name: "32-bit tag not in room suites", offer: savpOnlyCM32, opts: []Option{WithEncryption(EncryptionRequired), WithSuites(SuiteAEADAES128GCM)}, err: ErrNoCrypto},
		{name: "required refuses plain", offer: baresipOffer, opts: []Option{WithEncryption(EncryptionRequired)}, err: ErrEncryptionRequired},
		{name: "required refuses best effort avp", offer: withCrypto("RTP/AVP", "1 AES_CM_128_HMAC_SHA1_80 inline:"+key30), opts: []Option{WithEncryption(EncryptionRequired)}, err: ErrEncryptionRequired},
		{name: "preferred takes plain", offer: baresipOffer, opts: []Option{WithEncryption(EncryptionPreferred)}, proto: "RTP/AVP"},
		{name: "preferred best effort on avp", offer: withCrypto("RTP/AVP", "1 AES_CM_128_HMAC_SHA1_80 inline:"+key30), opts: []Option{WithEncryption(EncryptionPreferred)}, suite: SuiteAES128CMSHA1_80, tag: 1, bestEffort: true, proto: "RTP/AVP"},
		{name: "preferred avp with unusable crypto is plain", offer: withCrypto("RTP/AVP", "1 AES_CM_128_HMAC_SHA1_80 inline:"+key30+" KDR=3"), opts: []Option{WithEncryption(EncryptionPreferred)}, proto: "RTP/AVP"},
		{name: "off ignores crypto on avp", offer: withCrypto("RTP/AVP", "1 AES_CM_128_HMAC_SHA1_80 inline:"+key30), proto: "RTP/AVP"},
		{name: "savpf", offer: withCrypto("RTP/SAVPF", "1 AEAD_AES_256_GCM inline:"+key44), opts: []Option{WithEncryption(EncryptionRequired)}, suite: SuiteAEADAES256GCM, tag: 1, proto: "RTP/SAVPF"},
		{name: "savp without crypto", offer: withCrypto("RTP/SAVP"), opts: []Option{WithEncryption(EncryptionRequired)}, err: ErrNoCrypto},
		{name: "savp with only bad lines", offer: withCrypto("RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:"+key30+"|2^10", "2 AES_CM_128_HMAC_SHA1_80 inline:short", "3 AES_CM_128_HMAC_SHA1_80 inline:"+key30+" UNENCRYPTED_SRTP"), opts: []Option{WithEncryption(EncryptionPreferred)}, err: ErrNoCrypto},
		{name: "bad lines skipped for a good one", offer: withCrypto("RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:"+key30+"|2^10", "2 AES_CM_128_HMAC_SHA1_80 inline:"+key30+"|2^31"), opts: []Option{WithEncryption(EncryptionRequired)}, suite: SuiteAES128CMSHA1_80, tag: 2, proto: "RTP/SAVP"},
		{name: "preferred picks the savp alternative", offer: twoStreams, opts: []Option{WithEncryption(EncryptionPreferred)}, suite: SuiteAES128CMSHA1_80, tag: 9, port: 5008, proto: "RTP/SAVP"},
		{name: "off picks the avp alternative", offer: twoStreams, proto: "RTP/AVP"},
		{name: "required picks the savp alternative", offer: twoStreams, opts: []Option{WithEncryption(EncryptionRequired)}, suite: SuiteAES128CMSHA1_80, tag: 9, port: 5008, proto: "RTP/SAVP"},
		{name: "unknown profile", offer: withCrypto("UDP/TLS/RTP/SAVPF", "1 AES_CM_128_HMAC_SHA1_80 inline:"+key30), opts: []Option{WithEncryption(EncryptionPreferred)}, err: ErrUnsupportedTransport},
	}
	local := Local{IP: net.IPv4(127, 0, 0, 1), Port: 40000, SessionID: 1, Version: 1}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Negotiate([]byte(tt.offer), allPrefs, tt.opts...)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Negotiate: %v", err)
			}
			port := tt.port
			if port == 0 {
				port = 5004
			}
			if n.Audio.Remote.Port != port {
				t.Errorf("stream at port %d, want %d", n.Audio.Remote.Port, port)
			}
			sp := n.Audio.SRTP
			ans, err := n.Answer(local)
			if err != nil {
				t.Fatal(err)
			}
			cryptos := cryptoValues(t, ans)
			if !strings.Contains(string(ans), "m=audio 40000 "+tt.proto+" ") {
				t.Errorf("answer's audio line is not %s:\n%s", tt.proto, ans)
			}
			if tt.suite == 0 {
				if sp != nil || len(cryptos) != 0 {
					t.Fatalf("plain expected, got %v and crypto lines %d", sp, len(cryptos))
				}
				return
			}
			if sp == nil || sp.Suite != tt.suite || sp.Tag != tt.tag || sp.BestEffort != tt.bestEffort {
				t.Fatalf("srtp %v best effort %v, want %v tag %d best effort %v", sp, sp != nil && sp.BestEffort, tt.suite, tt.tag, tt.bestEffort)
			}
			if len(sp.LocalKey) != tt.suite.MasterLen() || len(sp.RemoteKey) != tt.suite.MasterLen() {
				t.Fatalf("key lengths %d %d", len(sp.LocalKey), len(sp.RemoteKey))
			}
			if bytes.Equal(sp.LocalKey, sp.RemoteKey) {
				t.Fatal("our key echoes theirs")
			}
			want := fmt.Sprintf("%d %s inline:%s", tt.tag, tt.suite, base64.StdEncoding.EncodeToString(sp.LocalKey))
			if len(cryptos) != 1 || cryptos[0] != want {
				t.Fatalf("answer crypto lines %q, want [%q]", cryptos, want)
			}
			// The answer parses as a valid crypto line of our own suites.
			if c, err := parseCrypto(cryptos[0], DefaultSuites); err != nil || !bytes.Equal(c.key, sp.LocalKey) {
				t.Fatalf("answer crypto does not parse back: %v", err)
			}
		})
	}
}

// cryptoValues returns the a=crypto values of the first audio stream with a port.
func cryptoValues(t *testing.T, body []byte) []string {
	t.Helper()
	var sd psdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		t.Fatalf("answer does not parse: %v\n%s", err, body)
	}
	var out []string
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 {
			for _, a := range md.Attributes {
				if a.Key == "crypto" {
					t.Errorf("crypto line on a refused stream")
				}
			}
			continue
		}
		for _, a := range md.Attributes {
			if a.Key == "crypto" {
				out = append(out, a.Value)
			}
		}
	}
	return out
}

func TestAnswerKeysAreFresh(t *testing.T) {
	seen := map[string]bool{}
	for range 20 {
		n, err := Negotiate([]byte(baresipSAVP), allPrefs, WithEncryption(EncryptionRequired))
		if err != nil {
			t.Fatal(err)
		}
		k := string(n.Audio.SRTP.LocalKey)
		if seen[k] || bytes.Count(n.Audio.SRTP.LocalKey, []byte{0}) == len(k) {
			t.Fatal("answer key repeated or zero")
		}
		seen[k] = true
	}
}

func TestKeepLocalKey(t *testing.T) {
	first, err := Negotiate([]byte(baresipSAVP), allPrefs, WithEncryption(EncryptionRequired))
	if err != nil {
		t.Fatal(err)
	}
	// A re-INVITE on the same suite keeps our key; on another suite it cannot.
	again, err := Negotiate([]byte(baresipSAVP), allPrefs, WithEncryption(EncryptionRequired), KeepLocalKey(first.Audio.SRTP))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Audio.SRTP.LocalKey, first.Audio.SRTP.LocalKey) {
		t.Fatal("key changed on a same-suite re-INVITE")
	}
	other, err := Negotiate([]byte(baresipSAVP), allPrefs, WithEncryption(EncryptionRequired),
		WithSuites(SuiteAES128CMSHA1_80), KeepLocalKey(first.Audio.SRTP))
	if err != nil {
		t.Fatal(err)
	}
	if len(other.Audio.SRTP.LocalKey) != 30 {
		t.Fatalf("key of %d bytes for AES-CM", len(other.Audio.SRTP.LocalKey))
	}
}

func TestOfferAnswerRoundTripSRTP(t *testing.T) {
	for _, pol := range []Policy{EncryptionRequired, EncryptionPreferred} {
		t.Run(pol.String(), func(t *testing.T) {
			us := Local{IP: net.IPv4(127, 0, 0, 1), Port: 40002, SessionID: 1, Version: 1}
			offer, err := NewOffer(us, allPrefs, SendRecv, WithEncryption(pol))
			if err != nil {
				t.Fatal(err)
			}
			wantProto := map[Policy]string{EncryptionRequired: "RTP/SAVP", EncryptionPreferred: "RTP/AVP"}[pol]
			if !strings.Contains(string(offer.Body), "m=audio 40002 "+wantProto+" ") {
				t.Fatalf("offer:\n%s", offer.Body)
			}
			if got := strings.Count(string(offer.Body), "a=crypto:"); got != len(DefaultSuites) {
				t.Fatalf("%d crypto lines offered", got)
			}
			// The peer (another vmrd, required) answers.
			peer, err := Negotiate(offer.Body, []codec.AudioCodec{codec.PCMA}, WithEncryption(EncryptionPreferred))
			if err != nil {
				t.Fatal(err)
			}
			ans, err := peer.Answer(Local{IP: net.IPv4(127, 0, 0, 1), Port: 5000, SessionID: 9, Version: 1})
			if err != nil {
				t.Fatal(err)
			}
			n, err := offer.ParseAnswer(ans)
			if err != nil {
				t.Fatal(err)
			}
			ours, theirs := n.Audio.SRTP, peer.Audio.SRTP
			if ours == nil || theirs == nil || ours.Suite != SuiteAEADAES128GCM || ours.Tag != 1 || theirs.Tag != 1 {
				t.Fatalf("ours %v theirs %v", ours, theirs)
			}
			if !bytes.Equal(ours.LocalKey, theirs.RemoteKey) || !bytes.Equal(ours.RemoteKey, theirs.LocalKey) {
				t.Fatal("keys do not cross over")
			}
			if n.Audio.Codec.Name != "PCMA" || n.Audio.Remote.Port != 5000 {
				t.Fatalf("codec %v remote %v", n.Audio.Codec, n.Audio.Remote)
			}
			c := ours.Config()
			if c.Suite != ours.Suite || !bytes.Equal(c.LocalKey, ours.LocalKey) || !bytes.Equal(c.RemoteKey, ours.RemoteKey) {
				t.Fatal("Config() does not carry the keying")
			}
		})
	}
}

func TestParseAnswerSRTPFailures(t *testing.T) {
	us := Local{IP: net.IPv4(127, 0, 0, 1), Port: 40002, SessionID: 1, Version: 1}
	offer, err := NewOffer(us, allPrefs, SendRecv, WithEncryption(EncryptionRequired))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		answer string
		err    error
	}{
		{"plain answer", withCrypto("RTP/AVP"), ErrEncryptionRequired},
		{"no crypto", withCrypto("RTP/SAVP"), ErrNoCrypto},
		{"tag we did not offer", withCrypto("RTP/SAVP", "9 AEAD_AES_128_GCM inline:"+key28), ErrNoCrypto},
		{"suite changed under our tag", withCrypto("RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:"+key30), ErrNoCrypto},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := offer.ParseAnswer([]byte(tt.answer)); !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
		})
	}
	n, err := offer.ParseAnswer([]byte(withCrypto("RTP/SAVP", "3 AES_CM_128_HMAC_SHA1_80 inline:"+key30)))
	if err != nil || n.Audio.SRTP.Suite != SuiteAES128CMSHA1_80 || n.Audio.SRTP.Tag != 3 {
		t.Fatalf("tag 3 answer: %v %v", n, err)
	}
	// A plain offer (Offer, or NewOffer without policy) has no crypto lines.
	plain, err := Offer(us, allPrefs, SendRecv)
	if err != nil || strings.Contains(string(plain), "crypto") || !strings.Contains(string(plain), "RTP/AVP") {
		t.Fatalf("plain offer: %v\n%s", err, plain)
	}
}

func TestKeysNeverPrinted(t *testing.T) {
	offer, err := NewOffer(Local{IP: net.IPv4(127, 0, 0, 1), Port: 1}, allPrefs, SendRecv, WithEncryption(EncryptionRequired))
	if err != nil {
		t.Fatal(err)
	}
	n, err := Negotiate([]byte(baresipSAVP), allPrefs, WithEncryption(EncryptionRequired))
	if err != nil {
		t.Fatal(err)
	}
	sp := n.Audio.SRTP
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("negotiated", "srtp", sp, "audio", n.Audio, "offer", offer)
	out := logged.String() + fmt.Sprintf("%v %+v %#v %s %v %+v %v", sp, sp, sp, sp, n.Audio, n.Audio, offer) + fmt.Sprintf("%#v", offer)
	for _, k := range [][]byte{sp.LocalKey, sp.RemoteKey, offer.keys[0].key} {
		for _, enc := range []string{base64.StdEncoding.EncodeToString(k), fmt.Sprintf("%x", k), fmt.Sprint(k[:6])[1:12]} {
			if strings.Contains(out, enc) {
				t.Fatalf("key material printed:\n%s", out)
			}
		}
	}
	if !strings.Contains(out, "AEAD_AES_128_GCM tag 2") {
		t.Fatalf("suite not shown:\n%s", out)
	}
	// Errors for bad crypto lines do not quote the line.
	_, err = Negotiate([]byte(withCrypto("RTP/SAVP", "1 AES_CM_128_HMAC_SHA1_80 inline:"+key30+"|2^10")), allPrefs, WithEncryption(EncryptionRequired))
	if !errors.Is(err, ErrNoCrypto) || strings.Contains(err.Error(), key30) {
		t.Fatalf("err %v", err)
	}
}

func TestParsePolicy(t *testing.T) {
	for _, p := range []Policy{EncryptionOff, EncryptionPreferred, EncryptionRequired} {
		if got, err := ParsePolicy(strings.ToUpper(p.String())); err != nil || got != p {
			t.Errorf("ParsePolicy(%q) = %v, %v", p, got, err)
		}
	}
	if _, err := ParsePolicy("mandatory"); !errors.Is(err, ErrUnknownPolicy) {
		t.Errorf("err %v", err)
	}
}

func FuzzParseCrypto(f *testing.F) {
	f.Add("1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|2^31|1:4 KDR=0 WSH=128")
	f.Add("2 AEAD_AES_128_GCM inline:" + key28)
	f.Add("3 AEAD_AES_256_GCM inline:" + key44 + "|1:1;inline:" + key44 + "|2:1")
	f.Add("1 AES_CM_128_HMAC_SHA1_32 inline:|||")
	f.Fuzz(func(t *testing.T, line string) {
		c, err := parseCrypto(line, DefaultSuites)
		if err != nil {
			return
		}
		if len(c.key) != c.suite.MasterLen() || len(c.mki) > 4 || c.window > 1024 {
			t.Fatalf("accepted %q as %+v", line, c)
		}
		// A line we accept survives our own formatting.
		back, err := parseCrypto(cryptoLine(c.tag, c.suite, c.key), DefaultSuites)
		if err != nil || !bytes.Equal(back.key, c.key) || back.tag != c.tag {
			t.Fatalf("round trip of %q: %v", line, err)
		}
	})
}
