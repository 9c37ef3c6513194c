package config

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestVideoConfigErrors(t *testing.T) {
	checkParseErrors(t, []parseErrorCase{
		{"unknown codec", "video: {codecs: [H263]}\n",
			`vmrd.yaml:4: video.codecs[0]: "H263" is not a video codec vmrd speaks; use H264 or VP8 (or codecs: [] for audio only)`},
		{"repeated codec", "video: {codecs: [vp8, VP8]}\n",
			"vmrd.yaml:4: video.codecs[1]: VP8 repeats video.codecs[0]; remove one"},
		{"resolution", "video: {resolution: 4096x2160}\n",
			`vmrd.yaml:4: video.resolution: "4096x2160" is not a resolution vmrd composes; use one of 1280x720, 1920x1080, 960x540, 640x360`},
		{"fps", "video: {fps: 120}\n",
			"vmrd.yaml:4: video.fps: 120 is out of range; use 5 to 60 (default 30)"},
		{"bitrate", "video: {bitrate_kbps: 20}\n",
			"vmrd.yaml:4: video.bitrate_kbps: 20 is out of range; use 128 to 8192 (default 1536)"},
		{"unknown layout", "video: {layout: \"3:3\"}\n",
			`vmrd.yaml:4: video.layout: "3:3" is not a layout; use one of 1:0, 1:7, 1:21, 2:21, 4:0, 9:0, 16:0, 25:0 (4+0 and 2x2 mean 4:0), or define it under video.layouts`},
		{"cell outside", "video: {layouts: [{name: side, cells: [{x: 0.6, y: 0, w: 0.5, h: 1}]}]}\n",
			"vmrd.yaml:4: video.layouts[0].cells[0]: cell (x 0.6, y 0, w 0.5, h 1) is not inside the canvas; use fractions so that 0 <= x, x+w <= 1, 0 <= y, y+h <= 1, and w, h >= 0.02"},
		{"no cells", "video: {layouts: [{name: side}]}\n",
			"vmrd.yaml:4: video.layouts[0].cells: 0 cells; a layout has 1 to 36"},
		{"builtin name", "video: {layouts: [{name: \"1:0\", cells: [{x: 0, y: 0, w: 1, h: 1}]}]}\n",
			`vmrd.yaml:4: video.layouts[0].name: "1:0" is a built-in layout; give yours another name`},
	})
}

func TestVideoConfigRoomValues(t *testing.T) {
	src := `sip: {listen: ["udp:127.0.0.1:5060"]}
media: {rtp_ports: "40000-40999"}
video:
  layout: "1:0"
  fps: 25
  layouts:
    - name: side-by-side
      cells: [{x: 0, y: 0.25, w: 0.5, h: 0.5, main: true}, {x: 0.5, y: 0.25, w: 0.5, h: 0.5}]
rooms:
  - {number: "1001"}
  - {number: "1002", layout: "4+0", resolution: 1920x1080, fps: 15}
  - {number: "1003", layout: side-by-side}
`
	cfg := mustParse(t, src)
	cases := []struct {
		room       string
		layout     string
		resolution string
		fps        int
	}{
		{"1001", "1:0", "1280x720", 25},
		{"1002", "4:0", "1920x1080", 15},
		{"1003", "side-by-side", "1280x720", 25},
	}
	for _, c := range cases {
		r, ok := cfg.Room(c.room)
		if !ok {
			t.Fatalf("room %s missing", c.room)
		}
		if r.Layout != c.layout || r.Resolution != c.resolution || r.FPS != c.fps {
			t.Errorf("room %s: layout %q resolution %q fps %d; want %q %q %d", c.room, r.Layout, r.Resolution, r.FPS, c.layout, c.resolution, c.fps)
		}
	}
	if !slices.Equal(cfg.Video.Codecs, KnownVideoCodecs()) {
		t.Errorf("codecs %v, want the default %v", cfg.Video.Codecs, KnownVideoCodecs())
	}
	_, err := Parse([]byte("sip: {listen: [\"udp:127.0.0.1:5060\"]}\nmedia: {rtp_ports: \"40000-40999\"}\nrooms: [{number: \"1001\", layout: \"5:5\", fps: 2}]\n"), "vmrd.yaml")
	for _, want := range []string{`vmrd.yaml:3: rooms[0].layout: "5:5" is not a layout`, "vmrd.yaml:3: rooms[0].fps: 2 is out of range"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad room video settings: error %v, want %q", err, want)
		}
	}
	off := mustParse(t, minimal+"video: {codecs: []}\n")
	if off.VideoEnabled() {
		t.Error("codecs: [] should turn video off")
	}
}

func TestParseResolution(t *testing.T) {
	for _, c := range []struct {
		in   string
		w, h int
		ok   bool
	}{{"1280x720", 1280, 720, true}, {"x720", 0, 0, false}, {"1280", 0, 0, false}, {"-1x5", 0, 0, false}} {
		w, h, ok := ParseResolution(c.in)
		if ok != c.ok || (ok && (w != c.w || h != c.h)) {
			t.Errorf("ParseResolution(%q) = %d, %d, %v", c.in, w, h, ok)
		}
	}
}

func TestStreamConfig(t *testing.T) {
	host := "$argon2id$v=19$m=19456,t=2,p=1$Zov/o8nLTxsQL3QslH2E7Q$AcyLlwyoQ64FhUeFg/jS02Ap8TONSP/5+1hksjnUw1E"
	head := "sip: {listen: [\"udp:127.0.0.1:5060\"]}\nmedia: {rtp_ports: \"40000-40999\"}\n"
	tests := []struct {
		name string
		room string
		want string // "" = valid
	}{
		{"valid", `{number: "5005", type: large, host_pin: "` + host + `", stream: {url: "rtmps://a.rtmps.youtube.com/live2", key_env: YT_KEY}}`, ""},
		{"no stream", `{number: "5005", type: large, host_pin: "` + host + `"}`, "rooms[0].type: a large room needs a stream"},
		{"stream on a pin room", `{number: "5005", type: pin, host_pin: "` + host + `", stream: {url: "rtmp://x/live", key_env: K}}`, "rooms[0].stream: only a large room streams"},
		{"bad scheme", `{number: "5005", type: large, host_pin: "` + host + `", stream: {url: "http://x/live/SECRETKEY", key_env: K}}`, `rooms[0].stream.url: "http://x/..." is not an rtmp:// or rtmps:// URL`},
		{"no key", `{number: "5005", type: large, host_pin: "` + host + `", stream: {url: "rtmp://x/live"}}`, "rooms[0].stream: no stream key"},
		{"both keys", `{number: "5005", type: large, host_pin: "` + host + `", stream: {url: "rtmp://x/live", key_env: K, key_file: /k}}`, "rooms[0].stream.key_env: set key_file or key_env, not both"},
		{"bad layout", `{number: "5005", type: large, host_pin: "` + host + `", stream: {url: "rtmp://x/live", key_env: K, layout: "3:3"}}`, `rooms[0].stream.layout: "3:3" is not a layout`},
		{"no host pin", `{number: "5005", type: large, stream: {url: "rtmp://x/live", key_env: K}}`, "rooms[0].host_pin: missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(head+"rooms: ["+tt.room+"]\n"), "vmrd.yaml")
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				s := cfg.Rooms[0].Stream
				if s.Layout != "1:7" || s.Resolution != "1280x720" || s.BitrateKbps != 2500 || s.AutoStart {
					t.Fatalf("stream defaults %+v", *s)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if strings.Contains(fmt.Sprint(err), "SECRETKEY") {
				t.Fatal("the error shows the URL's path, where keys get pasted")
			}
		})
	}
}

func TestStreamLargerThanRoom(t *testing.T) {
	host := "$argon2id$v=19$m=19456,t=2,p=1$Zov/o8nLTxsQL3QslH2E7Q$AcyLlwyoQ64FhUeFg/jS02Ap8TONSP/5+1hksjnUw1E"
	src := "sip: {listen: [\"udp:127.0.0.1:5060\"]}\nmedia: {rtp_ports: \"40000-40999\"}\nrooms: [{number: \"5005\", type: large, host_pin: \"" + host +
		"\", stream: {url: \"rtmp://x/live\", key_env: K, resolution: 1920x1080}}]\n"
	_, err := Parse([]byte(src), "vmrd.yaml")
	if want := "rooms[0].stream.resolution: 1920x1080 is larger than the room's picture (1280x720)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want %q", err, want)
	}
}
