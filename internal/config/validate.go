package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"vmrd/internal/pin"
)

// Validate normalizes c and checks every rule. Normalizing means: log level
// and format in lower case, codec names in their canonical spelling, and the
// room defaults that depend on other keys (name, codecs) filled in. Parse
// calls it; call it yourself on a Config built in code. It returns nil or an
// *Error.
func (c *Config) Validate() error {
	probs := c.check("")
	if len(probs) == 0 {
		return nil
	}
	sortProblems(probs)
	return &Error{Problems: probs}
}

// checker collects problems with the line of the key they concern, or of its
// nearest parent present in the file.
type checker struct {
	file  string
	pos   map[string]int
	probs []Problem
}

func (k *checker) addf(key, format string, args ...any) {
	k.probs = append(k.probs, Problem{File: k.file, Line: k.line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (k *checker) line(key string) int {
	for {
		if l, ok := k.pos[key]; ok {
			return l
		}
		if key == "" {
			return 0
		}
		key = parentPath(key)
	}
}

func (c *Config) check(file string) []Problem {
	k := &checker{file: file, pos: c.pos}
	c.checkSIP(k)
	c.checkMedia(k)
	c.checkHTTP(k)
	c.checkLog(k)
	if c.Audio.Codecs == nil {
		c.Audio.Codecs = KnownCodecs() // a Config built in code
	}
	audioOK := checkCodecs(k, "audio.codecs", c.Audio.Codecs, "list at least one of "+knownCodecList())
	if c.Media.Encryption == "" {
		c.Media.Encryption = "required" // a Config built in code
	}
	if !validEncryption(c.Media.Encryption) {
		k.addf("media.encryption", "%q is not a policy; use required, preferred or off", c.Media.Encryption)
	}
	c.checkVideo(k)
	c.checkRooms(k, audioOK)
	c.checkSecurity(k)
	c.checkWebRTC(k)
	if c.API.TokenTTL < 10*time.Second || c.API.TokenTTL > 24*time.Hour {
		k.addf("api.token_ttl", "%s is out of range; use 10s to 24h (default 120s)", fmtDur(c.API.TokenTTL))
	}
	return k.probs
}

func (c *Config) checkSIP(k *checker) {
	s := &c.SIP
	switch {
	case s.Listen == nil:
		k.addf("sip.listen", `missing; add it under sip:, e.g. listen: ["udp:0.0.0.0:5060", "tcp:0.0.0.0:5060"]`)
	case len(s.Listen) == 0:
		k.addf("sip.listen", `empty list; add at least one address, e.g. ["udp:0.0.0.0:5060"]`)
	}
	seen := make(map[Listener]int)
	for i, raw := range s.Listen {
		key := "sip.listen[" + strconv.Itoa(i) + "]"
		l, err := ParseListener(raw)
		if err != nil {
			k.addf(key, "%s", err.Error())
			continue
		}
		if first, dup := seen[l]; dup {
			k.addf(key, "%q repeats sip.listen[%d]; remove one", raw, first)
			continue
		}
		seen[l] = i
		if l.Transport == TransportTLS && (s.TLS.CertFile == "" || s.TLS.KeyFile == "") {
			k.addf(key, "%q needs a certificate; set sip.tls.cert_file and sip.tls.key_file (PEM files)", raw)
		}
	}
	if strings.ContainsFunc(s.UserAgent, unicode.IsControl) {
		k.addf("sip.user_agent", "contains a control character (such as a line break); use printable text")
	}
	switch d := s.NoRTPTimeout; {
	case d < 0:
		k.addf("sip.no_rtp_timeout", "%s is negative; use at least %s, or 0 to never hang up on silence", fmtDur(d), fmtDur(MinNoRTPTimeout))
	case d > 0 && d < MinNoRTPTimeout:
		k.addf("sip.no_rtp_timeout", "%s is too short, calls would drop on brief network stalls; use at least %s, or 0 to disable", fmtDur(d), fmtDur(MinNoRTPTimeout))
	}
	if s.AnswerDelay < 0 || s.AnswerDelay > 30*time.Second {
		k.addf("sip.answer_delay", "%s is out of range; use 0 (answer at once) up to 30s", fmtDur(s.AnswerDelay))
	}
	if s.DrainTimeout < 0 || s.DrainTimeout > 24*time.Hour {
		k.addf("sip.drain_timeout", "%s is out of range; use 0 (end calls at once) up to 24h", fmtDur(s.DrainTimeout))
	}
	l := &s.Limits
	for _, r := range []struct {
		key   string
		rate  float64
		burst int
	}{{"invite", l.InviteRate, l.InviteBurst}, {"options", l.OptionsRate, l.OptionsBurst}, {"request", l.RequestRate, l.RequestBurst}} {
		if r.rate <= 0 || r.rate > 100000 {
			k.addf("sip.limits."+r.key+"_rate", "%g is out of range; use more than 0 and at most 100000 requests a second per source", r.rate)
		}
		if r.burst < 1 || r.burst > 100000 {
			k.addf("sip.limits."+r.key+"_burst", "%d is out of range; use 1 to 100000", r.burst)
		}
	}
	if l.CallsPerSource < 1 || l.CallsPerSource > 100000 {
		k.addf("sip.limits.calls_per_source", "%d is out of range; use 1 to 100000", l.CallsPerSource)
	}
	for i, a := range l.AllowSources {
		if _, err := ParseSource(a); err != nil {
			k.addf("sip.limits.allow_sources["+strconv.Itoa(i)+"]", "%q is not an address or CIDR prefix; write e.g. 10.0.0.0/8 or 192.0.2.7", a)
		}
	}
	minSEOK := checkWholeSeconds(k, "sip.min_se", s.MinSE)
	if minSEOK && s.MinSE < MinMinSE {
		k.addf("sip.min_se", "%s is below %s, the smallest Min-SE RFC 4028 allows; use %s or more", fmtDur(s.MinSE), fmtDur(MinMinSE), fmtDur(MinMinSE))
		minSEOK = false
	}
	if checkWholeSeconds(k, "sip.session_expires", s.SessionExpires) && minSEOK && s.SessionExpires < s.MinSE {
		k.addf("sip.session_expires", "%s is shorter than sip.min_se (%s); use at least %s", fmtDur(s.SessionExpires), fmtDur(s.MinSE), fmtDur(s.MinSE))
	}
}

// checkWholeSeconds checks a session timer value: Session-Expires and Min-SE
// carry whole seconds (RFC 4028 4 and 5).
func checkWholeSeconds(k *checker, key string, d time.Duration) bool {
	if d <= 0 {
		k.addf(key, "%s must be positive, e.g. %s", fmtDur(d), exampleFor(key))
		return false
	}
	if d%time.Second != 0 {
		k.addf(key, "%s is not a whole number of seconds, which SIP carries; e.g. %s", fmtDur(d), exampleFor(key))
		return false
	}
	return true
}

func exampleFor(key string) string {
	if key == "sip.min_se" {
		return "90s"
	}
	return "1800s"
}

func (c *Config) checkMedia(k *checker) {
	m := &c.Media
	if m.RTPPorts == "" {
		k.addf("media.rtp_ports", `missing; add it under media:, e.g. rtp_ports: "40000-40999"`)
	} else if _, _, err := ParsePortRange(m.RTPPorts); err != nil {
		k.addf("media.rtp_ports", "%s", err.Error())
	}
	if ip, err := netip.ParseAddr(m.BindIP); err != nil {
		k.addf("media.bind_ip", "%q is not an IP address; write an IPv4 or IPv6 address, e.g. 0.0.0.0 for all IPv4 addresses", m.BindIP)
	} else if ip.IsMulticast() {
		k.addf("media.bind_ip", "%s is a multicast address; write this host's address or 0.0.0.0", m.BindIP)
	}
	if m.PublicIP != "" {
		ip, err := netip.ParseAddr(m.PublicIP)
		switch {
		case err != nil:
			k.addf("media.public_ip", "%q is not an IP address; write the address callers reach this host at, or remove the key", m.PublicIP)
		case ip.IsUnspecified() || ip.IsMulticast():
			k.addf("media.public_ip", "%s cannot be written into SDP as where to send media; write the address callers reach this host at, or remove the key", m.PublicIP)
		}
	}
	jitterOK := true
	if m.JitterMin < 0 {
		k.addf("media.jitter_min", "%s is negative; use 0 or more, e.g. %s", fmtDur(m.JitterMin), fmtDur(DefaultJitterMin))
		jitterOK = false
	}
	if m.JitterMax < 0 {
		k.addf("media.jitter_max", "%s is negative; use 0 or more, e.g. %s", fmtDur(m.JitterMax), fmtDur(DefaultJitterMax))
		jitterOK = false
	}
	if jitterOK && m.JitterMin > m.JitterMax {
		k.addf("media.jitter_min", "%s is above media.jitter_max (%s); lower jitter_min or raise jitter_max", fmtDur(m.JitterMin), fmtDur(m.JitterMax))
	}
}

func (c *Config) checkHTTP(k *checker) {
	if c.HTTP.Listen == "" {
		return
	}
	if _, err := parseAddrPort(c.HTTP.Listen, "", "8080"); err != nil {
		k.addf("http.listen", "%q %s; or \"\" to turn HTTP off", c.HTTP.Listen, err.Error())
	}
}

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
)

func (c *Config) checkLog(k *checker) {
	l := &c.Log
	if lv := strings.ToLower(l.Level); slices.Contains(logLevels, lv) {
		l.Level = lv
	} else {
		k.addf("log.level", "%q is not a log level; use debug, info, warn or error", l.Level)
	}
	if f := strings.ToLower(l.Format); slices.Contains(logFormats, f) {
		l.Format = f
	} else {
		k.addf("log.format", "%q is not a log format; use text or json", l.Format)
	}
}

// checkCodecs normalizes the spelling of a codec list in place and checks it.
// It reports whether the list is usable.
func checkCodecs(k *checker, key string, codecs []Codec, emptyFix string) bool {
	if codecs == nil {
		return true // not set: the caller supplies a default
	}
	if len(codecs) == 0 {
		k.addf(key, "empty list; %s", emptyFix)
		return false
	}
	ok := true
	seen := make(map[Codec]int)
	for i, c := range codecs {
		ikey := key + "[" + strconv.Itoa(i) + "]"
		canon, known := canonicalCodec(c)
		if !known {
			// No "did you mean" here: codec names are short and close to
			// each other (g729 is one edit from G722 but a different codec).
			k.addf(ikey, "%q is not a codec vmrd speaks; use %s", c, knownCodecList())
			ok = false
			continue
		}
		codecs[i] = canon
		if first, dup := seen[canon]; dup {
			k.addf(ikey, "%s repeats %s[%d]; remove one", canon, key, first)
			ok = false
			continue
		}
		seen[canon] = i
	}
	return ok
}

// canonicalCodec matches a codec name without regard to case, and also
// accepts the dotted spelling "G.722".
func canonicalCodec(c Codec) (Codec, bool) {
	name := strings.ReplaceAll(string(c), ".", "")
	for _, known := range KnownCodecs() {
		if strings.EqualFold(name, string(known)) {
			return known, true
		}
	}
	return c, false
}

func knownCodecList() string {
	var names []string
	for _, c := range KnownCodecs() {
		names = append(names, string(c))
	}
	return orList(names)
}

func (c *Config) checkRooms(k *checker, audioOK bool) {
	if len(c.Rooms) == 0 {
		k.addf("rooms", `no rooms configured; add at least one under rooms:, e.g. - number: "1001"`)
	}
	c.index = make(map[RoomNumber]int, len(c.Rooms))
	for i := range c.Rooms {
		r := &c.Rooms[i]
		key := "rooms[" + strconv.Itoa(i) + "]"
		switch {
		case r.Number == "":
			k.addf(key+".number", `missing; every room needs a number, e.g. number: "1001"`)
		case !isDigits(string(r.Number)) || len(r.Number) > MaxRoomNumberDigits:
			k.addf(key+".number", "%q is not a room number; use 1 to %d digits and nothing else, e.g. \"1001\"", r.Number, MaxRoomNumberDigits)
		default:
			if first, dup := c.index[r.Number]; dup {
				k.addf(key+".number", "%q is already the number of rooms[%d] (line %d); give each room its own number",
					r.Number, first, k.line("rooms["+strconv.Itoa(first)+"]"))
			} else {
				c.index[r.Number] = i
			}
			if r.Name == "" {
				r.Name = "Room " + string(r.Number)
			}
		}
		if strings.ContainsFunc(r.Name, unicode.IsControl) {
			k.addf(key+".name", "contains a control character (such as a line break); use printable text")
		}
		if r.MaxParticipants < 1 || r.MaxParticipants > MaxParticipantsLimit {
			k.addf(key+".max_participants", "%d is out of range; use 1 to %d (the most one room holds)", r.MaxParticipants, MaxParticipantsLimit)
		}
		checkRoomAccess(k, key, r)
		c.checkRoomVideo(k, key, r)
		c.checkStream(k, key, r)
		if r.Codecs == nil {
			if audioOK {
				r.Codecs = slices.Clone(c.Audio.Codecs)
			}
			continue
		}
		checkCodecs(k, key+".codecs", r.Codecs, "list codecs, or remove the key to use audio.codecs")
	}
}

// fmtDur writes a duration the way the config does: "90s" rather than
// time.Duration's "1m30s", so a message quotes what the operator wrote.
func fmtDur(d time.Duration) string {
	if d != 0 && d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return d.String()
}

// checkRoomAccess checks a room's type, PINs, language and grace period.
func checkRoomAccess(k *checker, key string, r *Room) {
	if r.Type == "" {
		r.Type = RoomOpen // a Config built in code
	}
	if r.Language == "" {
		r.Language = DefaultLanguage
	}
	switch r.Type {
	case RoomOpen:
		if r.HostPIN != "" || r.GuestPIN != "" {
			k.addf(key+".type", "an open room has no PINs; set type: pin (or autolock), or remove host_pin and guest_pin")
		}
	case RoomPIN, RoomAutolock, RoomLarge:
		if r.HostPIN == "" {
			k.addf(key+".host_pin", "missing; a %s room needs a host PIN hash: run `vmrd hash-pin` and paste its output", r.Type)
		}
	default:
		k.addf(key+".type", "%q is not a room type; use open, pin, autolock or large", r.Type)
	}
	for _, f := range []struct{ key, val string }{{"host_pin", r.HostPIN}, {"guest_pin", r.GuestPIN}} {
		if f.val == "" {
			continue
		}
		if _, err := pin.ParseHash(f.val); err != nil {
			k.addf(key+"."+f.key, "%v (plain PINs are refused so that they never sit in a file)", err)
		}
	}
	if r.GuestPIN != "" && !r.GuestsAllowed {
		k.addf(key+".guest_pin", "a guest PIN with guests_allowed: false can never be used; remove one of them")
	}
	if r.GuestPIN != "" && r.GuestPIN == r.HostPIN {
		k.addf(key+".guest_pin", "is the same hash as host_pin; give guests their own PIN")
	}
	switch r.Language {
	case "nb", "en":
	default:
		k.addf(key+".language", "%q is not a prompt language; use nb (Norwegian bokmål) or en", r.Language)
	}
	if r.Encryption != "" && !validEncryption(r.Encryption) {
		k.addf(key+".encryption", "%q is not a policy; use required, preferred or off", r.Encryption)
	}
	if r.GracePeriod < 0 || r.GracePeriod > time.Hour {
		k.addf(key+".grace_period", "%s is out of range; use 0 (end at once) up to 1h", fmtDur(r.GracePeriod))
	}
}

func (c *Config) checkSecurity(k *checker) {
	p := &c.Security.PIN
	if p.RoomFailures < 1 || p.RoomFailures > 10000 {
		k.addf("security.pin.room_failures", "%d is out of range; use 1 to 10000 (default %d)", p.RoomFailures, DefaultPINRoomFailures)
	}
	if p.SourceFailures < 1 || p.SourceFailures > 10000 {
		k.addf("security.pin.source_failures", "%d is out of range; use 1 to 10000 (default %d)", p.SourceFailures, DefaultPINSourceFailures)
	}
	if p.Window < time.Second {
		k.addf("security.pin.window", "%s is too short; use at least 1s (default 10m)", fmtDur(p.Window))
	}
	if p.Block < time.Second {
		k.addf("security.pin.block", "%s is too short; use at least 1s (default 10m)", fmtDur(p.Block))
	}
	if p.MaxConcurrentHashes < 1 || p.MaxConcurrentHashes > 64 {
		k.addf("security.pin.max_concurrent_hashes", "%d is out of range; use 1 to 64 (default 1)", p.MaxConcurrentHashes)
	}
	for i, a := range p.AllowSources {
		if _, err := ParseSource(a); err != nil {
			k.addf("security.pin.allow_sources["+strconv.Itoa(i)+"]", "%q is not an address or CIDR prefix; write e.g. 10.0.0.0/8 or 192.0.2.7", a)
		}
	}
	switch c.Security.UnknownRooms {
	case "pin", "reject":
	default:
		k.addf("security.unknown_rooms", "%q is not a choice; use pin (answer like a PIN room, the default) or reject (404)", c.Security.UnknownRooms)
	}
}

// ParseSource reads an allow-list entry: an address or a CIDR prefix.
func ParseSource(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func validEncryption(s string) bool { return s == "required" || s == "preferred" || s == "off" }

// RoomEncryption is a room's effective SRTP policy: its own, else
// media.encryption.
func (c *Config) RoomEncryption(r *Room) string {
	if r.Encryption != "" {
		return r.Encryption
	}
	return c.Media.Encryption
}

// Warnings lists settings that are valid but leave something unusable:
// rooms that require encryption when no call could have it (SDES keys
// travel only over SIP TLS unless allowed otherwise). vmrd logs them at
// start; such calls get 488 with a Warning saying why.
func (c *Config) Warnings() []string {
	if c.Media.SRTPOverPlainSIP {
		return nil
	}
	for _, l := range c.SIP.Listeners() {
		if l.Transport == TransportTLS {
			return nil
		}
	}
	var out []string
	for i := range c.Rooms {
		if c.RoomEncryption(&c.Rooms[i]) == "required" {
			out = append(out, fmt.Sprintf("room %s requires encryption (media.encryption or its own), but there is no tls: listener: "+
				"its calls will get 488; add a tls: listener with sip.tls, set encryption: preferred, or set media.srtp_over_plain_sip: true", c.Rooms[i].Number))
		}
	}
	return out
}
