package config

import (
	"net/url"
	"strings"
)

// Stream defaults.
const (
	DefaultStreamLayout      = "1:7"
	DefaultStreamBitrateKbps = 2500
	// MaxStreamKeyframeGap is what YouTube and Vimeo ask for.
	DefaultStreamResolution = "1280x720"
)

// Stream is a large room's stream: the meeting as the audience sees it,
// sent to an RTMP or RTMPS server (YouTube, Vimeo, any RTMP ingest).
type Stream struct {
	// URL is the ingest's application URL, rtmp:// or rtmps://, without
	// the stream key, e.g. rtmps://a.rtmps.youtube.com/live2.
	URL string `yaml:"url"`
	// KeyFile names a file holding the stream key (read at start and on
	// reload; keep it readable only by vmrd); KeyEnv an environment
	// variable holding it. One of the two; the key never appears in logs.
	KeyFile string `yaml:"key_file"`
	KeyEnv  string `yaml:"key_env"`
	// Layout of the audience view; nobody is left out of it.
	Layout string `yaml:"layout"`
	// Resolution and BitrateKbps of the H.264 picture sent.
	Resolution  string `yaml:"resolution"`
	BitrateKbps int    `yaml:"bitrate_kbps"`
	// AutoStart starts the stream when the first host joins; otherwise a
	// host starts it (control API start_stream, keypad *9).
	AutoStart bool `yaml:"auto_start"`
}

// RoomLarge: host PIN, guests are the speakers, and the meeting streams
// to an audience.
const RoomLarge RoomType = "large"

// checkStream checks a room's stream: large rooms must have one, other
// rooms may not.
func (c *Config) checkStream(k *checker, key string, r *Room) {
	skey := key + ".stream"
	if r.Type != RoomLarge {
		if r.Stream != nil {
			k.addf(skey, "only a large room streams; set type: large or remove stream")
		}
		return
	}
	if r.Stream == nil {
		k.addf(key+".type", "a large room needs a stream: add stream: {url: \"rtmps://...\", key_file: ...}")
		return
	}
	s := r.Stream
	u, err := url.Parse(s.URL)
	switch {
	case s.URL == "":
		k.addf(skey+".url", `missing; give the ingest URL, e.g. url: "rtmps://a.rtmps.youtube.com/live2"`)
	case err != nil || (u.Scheme != "rtmp" && u.Scheme != "rtmps") || u.Host == "":
		k.addf(skey+".url", "%q is not an rtmp:// or rtmps:// URL", redactURL(s.URL))
	case u.User != nil:
		k.addf(skey+".url", "must not hold a user or password; put the stream key in key_file or key_env")
	}
	switch {
	case s.KeyFile == "" && s.KeyEnv == "":
		k.addf(skey, "no stream key; set key_file (a file holding the key) or key_env (an environment variable)")
	case s.KeyFile != "" && s.KeyEnv != "":
		k.addf(skey+".key_env", "set key_file or key_env, not both")
	}
	if s.Layout == "" {
		s.Layout = DefaultStreamLayout
	}
	s.Layout = CanonicalLayout(s.Layout)
	c.checkLayoutName(k, skey+".layout", s.Layout)
	if s.Resolution == "" {
		s.Resolution = DefaultStreamResolution
	}
	checkResolution(k, skey+".resolution", s.Resolution)
	sw, sh, ok1 := ParseResolution(s.Resolution)
	rw, rh, ok2 := ParseResolution(r.Resolution)
	if ok1 && ok2 && (sw > rw || sh > rh) {
		k.addf(skey+".resolution", "%s is larger than the room's picture (%s), which the stream is made from; raise the room's resolution or lower the stream's", s.Resolution, r.Resolution)
	}
	if s.BitrateKbps == 0 {
		s.BitrateKbps = DefaultStreamBitrateKbps
	}
	if s.BitrateKbps < 500 || s.BitrateKbps > MaxBitrateKbps {
		k.addf(skey+".bitrate_kbps", "%d is out of range; use 500 to %d (default %d)", s.BitrateKbps, MaxBitrateKbps, DefaultStreamBitrateKbps)
	}
}

// redactURL keeps a URL's scheme and host for messages: a key pasted into
// the path must not end up in a log.
func redactURL(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		if j := strings.IndexAny(rest, "/?#"); j >= 0 {
			return s[:i+3] + rest[:j] + "/..."
		}
		return s
	}
	if len(s) > 12 {
		return s[:12] + "..."
	}
	return s
}
