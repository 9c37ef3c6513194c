package service

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"

	"vmrd/configs"
	"vmrd/internal/api"
	"vmrd/internal/config"
	"vmrd/internal/pin"
	"vmrd/internal/room"
	"vmrd/mixer/audio"
)

// roomSettings maps a configured room to what the room logic needs.
func roomSettings(cfg *config.Config, r *config.Room) room.Settings {
	t := room.Open
	switch r.Type {
	case config.RoomPIN:
		t = room.PIN
	case config.RoomAutolock:
		t = room.Autolock
	case config.RoomLarge:
		t = room.Large
	}
	return room.Settings{Number: room.Number(r.Number), Name: r.Name, MaxParticipants: r.MaxParticipants,
		Type: t, Language: r.Language, GracePeriod: r.GracePeriod,
		Layout: r.Layout, Layouts: cfg.LayoutNames(),
		StreamAutoStart: r.Stream != nil && r.Stream.AutoStart}
}

// pinRules parses every room's PIN hashes once, at start.
func pinRules(cfg *config.Config) (map[room.Number]*pin.Rule, error) {
	rules := map[room.Number]*pin.Rule{}
	for i := range cfg.Rooms {
		r := &cfg.Rooms[i]
		if r.Type == config.RoomOpen {
			continue
		}
		rule := &pin.Rule{GuestsAllowed: r.GuestsAllowed}
		var err error
		if rule.Host, err = pin.ParseHash(r.HostPIN); err != nil {
			return nil, fmt.Errorf("room %s: host_pin: %w", r.Number, err)
		}
		if r.GuestPIN != "" {
			if rule.Guest, err = pin.ParseHash(r.GuestPIN); err != nil {
				return nil, fmt.Errorf("room %s: guest_pin: %w", r.Number, err)
			}
		}
		rules[room.Number(r.Number)] = rule
	}
	return rules, nil
}

// verifier lets the room check PINs with the pin package's limits.
type verifier struct {
	v     *pin.Verifier
	rules atomic.Pointer[map[room.Number]*pin.Rule] // replaced on reload
}

func (pv *verifier) Verify(ctx context.Context, s room.Settings, source, entered string) (room.Role, error) {
	var rule *pin.Rule
	if !s.Decoy {
		rule = (*pv.rules.Load())[s.Number]
	}
	role, err := pv.v.Check(ctx, string(s.Number), sourceAddr(source), entered, rule)
	if err != nil {
		return room.Guest, room.ErrBadPIN
	}
	switch role {
	case pin.Host:
		return room.Host, nil
	case pin.Guest:
		return room.Guest, nil
	default:
		return room.Guest, room.ErrBadPIN
	}
}

// sourceAddr reads the IP of "host:port" or a bare address.
func sourceAddr(s string) netip.Addr {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap()
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		s = host
	}
	a, _ := netip.ParseAddr(s)
	return a.Unmap()
}

// mixerAdapter lets the room drive the audio mixer through room.Mixer.
type mixerAdapter struct {
	m   *audio.Mixer
	log *slog.Logger
}

func (a mixerAdapter) Add(id room.ParticipantID, format string, sink room.AudioSink) (room.AudioInput, error) {
	return a.m.Add(string(id), format, sink)
}
func (a mixerAdapter) Remove(id room.ParticipantID) { _ = a.m.Remove(string(id)) }
func (a mixerAdapter) SetInMeeting(id room.ParticipantID, in bool) {
	_ = a.m.SetInMeeting(string(id), in)
}
func (a mixerAdapter) StopPlay(id room.ParticipantID) { _ = a.m.StopPlay(string(id)) }
func (a mixerAdapter) Close() error                   { return a.m.Close() }

func (a mixerAdapter) Play(id room.ParticipantID, lang string, prompts []room.Prompt, loop bool, done func()) {
	clips := make([][]int16, 0, len(prompts))
	for _, p := range prompts {
		clip, err := configs.Prompt(lang, string(p))
		if err != nil {
			a.log.Error("missing prompt", "prompt", string(p), "lang", lang, "err", err)
			continue
		}
		clips = append(clips, clip)
	}
	if err := a.m.Play(string(id), clips, loop, done); err != nil && done != nil {
		done() // the participant is gone: nothing will play
	}
}

// apiRooms lets the control API join rooms as a control-only participant.
type apiRooms struct{ m *room.Manager }

func (a apiRooms) JoinAPI(ctx context.Context, number, pin, displayName, source string) (api.Actor, error) {
	p, err := a.m.JoinAPI(ctx, number, pin, displayName, source)
	if err != nil {
		return nil, err
	}
	return p, nil
}

var _ api.Actor = (*room.Participant)(nil)
