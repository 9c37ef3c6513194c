package service

import (
	"fmt"
	"reflect"
	"strings"

	"vmrd/internal/config"
)

// Reload applies a new configuration without dropping calls (SIGHUP).
// What rooms are built from changes: rooms added, changed (applied to new
// joins; a meeting in progress goes on) and removed (no new callers; the
// meeting in progress ends when its last participant leaves), PINs,
// layouts, room resolutions and frame rates, audio codecs. The SIP TLS
// certificate is read again. Settings of listeners, ports and limits need
// a restart: Reload keeps the running ones and returns them as warnings.
// A configuration that cannot be applied is refused whole and the running
// one stays.
func (s *Service) Reload(next *config.Config) (warnings []string, err error) {
	if next == nil {
		next = s.current()
	}
	rules, err := pinRules(next)
	if err != nil {
		return nil, fmt.Errorf("reload refused: %w", err)
	}
	vc, err := newVideoConfig(next)
	if err != nil {
		return nil, fmt.Errorf("reload refused: %w", err)
	}
	warnings = restartOnly(s.cfg, next)
	if s.certs != nil {
		if err := s.certs.Reload(); err != nil {
			return warnings, fmt.Errorf("reload refused: %w", err)
		}
		s.log.Info("tls certificate reloaded", "cert", s.cfg.SIP.TLS.CertFile)
	}
	prev := s.current()
	added, changed, removed := roomChanges(prev, next)
	s.verifier.rules.Store(&rules)
	s.video.live.Store(vc)
	s.live.Store(next)
	s.log.Info("configuration reloaded", "rooms", len(next.Rooms),
		"added", strings.Join(added, ","), "changed", strings.Join(changed, ","), "removed", strings.Join(removed, ","))
	for _, w := range warnings {
		s.log.Warn("reload: " + w)
	}
	return warnings, nil
}

// current is the configuration rooms are built from now.
func (s *Service) current() *config.Config { return s.live.Load() }

// restartOnly lists the sections that changed but apply only after a
// restart (the running values stay).
func restartOnly(running, next *config.Config) []string {
	var out []string
	check := func(key string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			out = append(out, key+" changed: it takes effect after a restart")
		}
	}
	check("sip", running.SIP, next.SIP)
	check("media", running.Media, next.Media)
	check("http", running.HTTP, next.HTTP)
	check("log", running.Log, next.Log)
	check("security", running.Security, next.Security)
	check("audit", running.Audit, next.Audit)
	check("api", running.API, next.API)
	check("webrtc", running.WebRTC, next.WebRTC)
	check("video.codecs", running.Video.Codecs, next.Video.Codecs)
	check("video.bitrate_kbps", running.Video.BitrateKbps, next.Video.BitrateKbps)
	return out
}

// roomChanges names the rooms added, changed and removed.
func roomChanges(prev, next *config.Config) (added, changed, removed []string) {
	for i := range next.Rooms {
		r := &next.Rooms[i]
		old, ok := prev.Room(string(r.Number))
		switch {
		case !ok:
			added = append(added, string(r.Number))
		case !reflect.DeepEqual(*old, *r):
			changed = append(changed, string(r.Number))
		}
	}
	for i := range prev.Rooms {
		if _, ok := next.Room(string(prev.Rooms[i].Number)); !ok {
			removed = append(removed, string(prev.Rooms[i].Number))
		}
	}
	return added, changed, removed
}
