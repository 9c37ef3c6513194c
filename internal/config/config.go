// Package config holds vmrd's configuration: the schema, its defaults, a
// strict YAML decoder (unknown keys are errors) and validation whose messages
// name the file, the line, the key and the fix.
//
// The package never reads files or the environment: cmd and internal/service
// do, and hand the bytes to Parse.
package config

import (
	"log/slog"
	"time"
)

// Defaults and limits. The sample configs/vmrd.yaml and the reference in the
// README repeat these; a test keeps the sample loading.
const (
	DefaultNoRTPTimeout   = 30 * time.Second
	MinNoRTPTimeout       = 5 * time.Second
	DefaultSessionExpires = 1800 * time.Second
	DefaultMinSE          = 90 * time.Second
	// MinMinSE is the floor RFC 4028 (sections 4 and 5) puts under Min-SE.
	MinMinSE = 90 * time.Second

	DefaultBindIP    = "0.0.0.0"
	DefaultJitterMin = 20 * time.Millisecond
	DefaultJitterMax = 200 * time.Millisecond

	DefaultHTTPListen = "127.0.0.1:8080"

	DefaultLogLevel  = "info"
	DefaultLogFormat = "text"

	// DefaultMaxParticipants is also the most one room of today's bridge
	// holds; a future large room type raises the limit per room type.
	DefaultMaxParticipants = 100
	MaxParticipantsLimit   = 100

	DefaultDrainTimeout = 5 * time.Minute
	DefaultGracePeriod  = 60 * time.Second
	DefaultLanguage     = "nb"

	DefaultPINRoomFailures   = 20
	DefaultPINSourceFailures = 20
	DefaultPINWindow         = 10 * time.Minute
	DefaultPINBlock          = 10 * time.Minute
	DefaultPINHashes         = 1
	DefaultTokenTTL          = 120 * time.Second

	// MaxRoomNumberDigits bounds a room number: long enough for E.164 with
	// extensions, short enough to type on a keypad.
	MaxRoomNumberDigits = 32
)

// Config is vmrd's whole configuration. Parse returns it with defaults filled
// in and validated; treat it as read-only afterwards (it is shared between
// goroutines without locks).
type Config struct {
	SIP   SIP   `yaml:"sip"`
	Media Media `yaml:"media"`
	HTTP  HTTP  `yaml:"http"`
	Log   Log   `yaml:"log"`
	Audio Audio `yaml:"audio"`
	// Video is the compositor and the video codecs.
	Video Video `yaml:"video"`
	// Security holds the PIN brute-force limits.
	Security Security `yaml:"security"`
	// Audit is the append-only audit log.
	Audit Audit `yaml:"audit"`
	// API is the control API.
	API   API    `yaml:"api"`
	Rooms []Room `yaml:"rooms"`
	// WebRTC lets browsers join with media (webrtc.go).
	WebRTC WebRTC `yaml:"webrtc"`

	// pos maps key paths ("sip.listen[1]") to their line in the file.
	pos map[string]int
	// index maps a room number to its position in Rooms.
	index map[RoomNumber]int
}

// SIP is the sip: section.
type SIP struct {
	// Listen holds "TRANSPORT:ADDR:PORT" strings; see ParseListener.
	Listen []string `yaml:"listen"`
	// UserAgent goes into User-Agent and Server headers. Empty means the
	// caller fills in "vmrd/<version>".
	UserAgent string `yaml:"user_agent"`
	// NoRTPTimeout hangs up a call that sent no RTP for this long; 0 disables.
	NoRTPTimeout time.Duration `yaml:"no_rtp_timeout"`
	// SessionExpires is the session interval we ask for when the caller
	// supports session timers (RFC 4028 4).
	SessionExpires time.Duration `yaml:"session_expires"`
	// MinSE is the smallest session interval we accept (RFC 4028 5).
	MinSE time.Duration `yaml:"min_se"`
	// AnswerDelay rings (180 Ringing) this long before answering; 0 answers at once.
	AnswerDelay time.Duration `yaml:"answer_delay"`
	// TLS holds the certificate for tls: listeners, reloaded on SIGHUP.
	TLS SIPTLS `yaml:"tls"`
	// Limits protects the SIP listeners against floods and scanners.
	Limits SIPLimits `yaml:"limits"`
	// DrainTimeout is how long calls may go on after SIGTERM before they
	// are ended with BYE.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
}

// SIPTLS is the sip.tls: section.
type SIPTLS struct {
	// CertFile holds the certificate chain (PEM), KeyFile its private key.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// SIPLimits is the sip.limits: section. Rates are requests a second per
// source address, with a burst; requests over them are dropped unanswered
// (answering a flood would amplify it).
type SIPLimits struct {
	InviteRate     float64 `yaml:"invite_rate"`
	InviteBurst    int     `yaml:"invite_burst"`
	OptionsRate    float64 `yaml:"options_rate"`
	OptionsBurst   int     `yaml:"options_burst"`
	RequestRate    float64 `yaml:"request_rate"`
	RequestBurst   int     `yaml:"request_burst"`
	CallsPerSource int     `yaml:"calls_per_source"`
	// AllowSources are addresses or CIDR prefixes the limits do not apply to
	// (a trusted proxy or SBC in front of vmrd).
	AllowSources []string `yaml:"allow_sources"`
	// DropUserAgents: requests whose User-Agent contains one of these
	// (case-insensitive) are dropped unanswered: SIP scanners.
	DropUserAgents []string `yaml:"drop_user_agents"`
}

// Media is the media: section.
type Media struct {
	// RTPPorts is "MIN-MAX"; see ParsePortRange and PortRange.
	RTPPorts string `yaml:"rtp_ports"`
	// BindIP is the address RTP sockets bind to.
	BindIP string `yaml:"bind_ip"`
	// PublicIP, when set, is written into SDP instead of the bound address
	// (1:1 NAT).
	PublicIP  string        `yaml:"public_ip"`
	JitterMin time.Duration `yaml:"jitter_min"`
	JitterMax time.Duration `yaml:"jitter_max"`
	// Encryption is the default SRTP policy of rooms: required (the
	// default: healthcare calls are encrypted), preferred or off.
	Encryption string `yaml:"encryption"`
	// SRTPOverPlainSIP allows SDES-SRTP on calls signaled over UDP or TCP,
	// where the keys travel in clear; by default only TLS calls get SRTP.
	SRTPOverPlainSIP bool `yaml:"srtp_over_plain_sip"`
}

// HTTP is the http: section.
type HTTP struct {
	// Listen is "ADDR:PORT"; empty disables the HTTP server.
	Listen string `yaml:"listen"`
}

// Log is the log: section.
type Log struct {
	Level  string `yaml:"level"`  // debug, info, warn or error
	Format string `yaml:"format"` // text or json
}

// Audio is the audio: section.
type Audio struct {
	// Codecs is the default codec preference, best first.
	Codecs []Codec `yaml:"codecs"`
}

// Security is the security: section.
type Security struct {
	// PIN limits guessing of host and guest PINs.
	PIN PINLimits `yaml:"pin"`
	// UnknownRooms says how a call to a number no room has is treated:
	// "pin" (default) answers it like a PIN-protected room whose PIN is
	// never right, so numbers cannot be enumerated; "reject" answers 404.
	UnknownRooms string `yaml:"unknown_rooms"`
}

// PINLimits is the security.pin: section.
type PINLimits struct {
	RoomFailures   int           `yaml:"room_failures"`
	SourceFailures int           `yaml:"source_failures"`
	Window         time.Duration `yaml:"window"`
	Block          time.Duration `yaml:"block"`
	// AllowSources are addresses or CIDR prefixes never blocked per source.
	AllowSources []string `yaml:"allow_sources"`
	// MaxConcurrentHashes bounds the PIN hash computations running at once.
	MaxConcurrentHashes int `yaml:"max_concurrent_hashes"`
}

// Audit is the audit: section.
type Audit struct {
	// Path of the JSON-lines audit log; empty disables it.
	Path string `yaml:"path"`
}

// API is the api: section.
type API struct {
	// TokenTTL is how long a control API token lives unless refreshed.
	TokenTTL time.Duration `yaml:"token_ttl"`
}

// RoomType is how a room admits callers.
type RoomType string

// Room types.
const (
	RoomOpen     RoomType = "open"     // no PIN; everyone is a guest
	RoomPIN      RoomType = "pin"      // host PIN; guests allowed
	RoomAutolock RoomType = "autolock" // host PIN; locks when the first host joins
)

// RoomNumber is a room's number: digits only. It is what callers dial (the
// user part of the Request-URI) or type.
type RoomNumber string

// Room is one entry under rooms:.
type Room struct {
	Number RoomNumber `yaml:"number"`
	// Name defaults to "Room <number>".
	Name            string `yaml:"name"`
	MaxParticipants int    `yaml:"max_participants"`
	// Codecs overrides audio.codecs for this room; after Parse it always
	// holds the room's effective list.
	Codecs []Codec `yaml:"codecs"`
	// Type is open, pin or autolock.
	Type RoomType `yaml:"type"`
	// HostPIN and GuestPIN are argon2id hashes from `vmrd hash-pin`, never PINs.
	HostPIN  string `yaml:"host_pin"`
	GuestPIN string `yaml:"guest_pin"`
	// GuestsAllowed: guests may join (with the guest PIN if there is one).
	GuestsAllowed bool `yaml:"guests_allowed"`
	// Language of the room's prompts: nb or en.
	Language string `yaml:"language"`
	// GracePeriod is how long guests stay after the last host left.
	GracePeriod time.Duration `yaml:"grace_period"`
	// Encryption is the room's SRTP policy: required, preferred or off;
	// empty takes media.encryption.
	Encryption string `yaml:"encryption"`
	// Layout, Resolution and FPS override video.layout, video.resolution
	// and video.fps; after Parse they hold the room's effective values.
	Layout     string `yaml:"layout"`
	Resolution string `yaml:"resolution"`
	FPS        int    `yaml:"fps"`
	// Stream is a large room's stream to an RTMP server.
	Stream *Stream `yaml:"stream"`
}

// setDefaults prepares a room before its YAML entry is decoded onto it.
func (r *Room) setDefaults() {
	r.MaxParticipants = DefaultMaxParticipants
	r.Type = RoomOpen
	r.GuestsAllowed = true
	r.Language = DefaultLanguage
	r.GracePeriod = DefaultGracePeriod
}

// defaulter is implemented by list entries that have defaults of their own.
type defaulter interface{ setDefaults() }

var _ defaulter = (*Room)(nil)

// Codec names an audio codec in its canonical spelling.
type Codec string

// The audio codecs vmrd speaks.
const (
	CodecOpus Codec = "opus"
	CodecG722 Codec = "G722"
	CodecPCMU Codec = "PCMU"
	CodecPCMA Codec = "PCMA"
)

// KnownCodecs returns every codec vmrd speaks in the default preference order.
func KnownCodecs() []Codec {
	return []Codec{CodecOpus, CodecG722, CodecPCMU, CodecPCMA}
}

// Default returns a Config holding every default. It has no listeners, no
// port range and no rooms: those are required in the file.
func Default() *Config {
	return &Config{
		SIP: SIP{
			NoRTPTimeout:   DefaultNoRTPTimeout,
			SessionExpires: DefaultSessionExpires,
			MinSE:          DefaultMinSE,
			DrainTimeout:   DefaultDrainTimeout,
			Limits: SIPLimits{
				InviteRate: 5, InviteBurst: 20,
				OptionsRate: 10, OptionsBurst: 20,
				RequestRate: 50, RequestBurst: 200,
				CallsPerSource: 50,
				DropUserAgents: []string{"friendly-scanner", "sipcli", "sipvicious", "sip-scan", "sipsak", "pplsip", "VaxSIPUserAgent"},
			},
		},
		Media: Media{
			BindIP:     DefaultBindIP,
			JitterMin:  DefaultJitterMin,
			JitterMax:  DefaultJitterMax,
			Encryption: "required",
		},
		HTTP:  HTTP{Listen: DefaultHTTPListen},
		Log:   Log{Level: DefaultLogLevel, Format: DefaultLogFormat},
		Audio: Audio{Codecs: KnownCodecs()},
		Video: Video{Codecs: KnownVideoCodecs(), Resolution: DefaultResolution, FPS: DefaultFPS,
			BitrateKbps: DefaultBitrateKbps, Layout: DefaultLayout},
		Security: Security{
			PIN: PINLimits{
				RoomFailures:        DefaultPINRoomFailures,
				SourceFailures:      DefaultPINSourceFailures,
				Window:              DefaultPINWindow,
				Block:               DefaultPINBlock,
				MaxConcurrentHashes: DefaultPINHashes,
			},
			UnknownRooms: "pin",
		},
		API: API{TokenTTL: DefaultTokenTTL},
	}
}

// Room finds a room by its exact number. The caller normalizes what was
// dialled (strips a leading + and the like) first.
func (c *Config) Room(number string) (*Room, bool) {
	n := RoomNumber(number)
	if i, ok := c.index[n]; ok && i < len(c.Rooms) && c.Rooms[i].Number == n {
		return &c.Rooms[i], true
	}
	if c.index != nil && len(c.index) == len(c.Rooms) {
		return nil, false
	}
	// Hand-built or modified Config: no trustworthy index.
	for i := range c.Rooms {
		if c.Rooms[i].Number == n {
			return &c.Rooms[i], true
		}
	}
	return nil, false
}

// Listeners returns the parsed sip.listen entries, skipping any that do not
// parse (Validate reports those).
func (s SIP) Listeners() []Listener {
	out := make([]Listener, 0, len(s.Listen))
	for _, raw := range s.Listen {
		if l, err := ParseListener(raw); err == nil {
			out = append(out, l)
		}
	}
	return out
}

// PortRange returns media.rtp_ports as numbers, or 0, 0 if it does not parse
// (Validate reports that).
func (m Media) PortRange() (lo, hi int) {
	lo, hi, err := ParsePortRange(m.RTPPorts)
	if err != nil {
		return 0, 0
	}
	return lo, hi
}

// Enabled reports whether the HTTP server should run.
func (h HTTP) Enabled() bool { return h.Listen != "" }

// SlogLevel returns log.level for log/slog; unknown values give Info.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}
