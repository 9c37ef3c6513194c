package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
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
	c.checkRooms(k, audioOK)
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
