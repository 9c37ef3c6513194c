package config

import (
	"math"
	"slices"
	"strconv"
	"strings"
)

// Video defaults and limits.
const (
	DefaultResolution  = "1280x720"
	DefaultFPS         = 30
	DefaultBitrateKbps = 1536
	DefaultLayout      = "1:7"
	MinFPS, MaxFPS     = 5, 60
	MinBitrateKbps     = 128
	MaxBitrateKbps     = 8192
	// MaxLayoutCells bounds a layout: 25:0 is the largest built-in one.
	MaxLayoutCells = 36
)

// VideoCodec names a video codec as SDP spells it.
type VideoCodec string

// The video codecs vmrd speaks.
const (
	VideoH264 VideoCodec = "H264"
	VideoVP8  VideoCodec = "VP8"
)

// KnownVideoCodecs is every video codec in the default preference order:
// H.264 first because SIP room systems expect it and openh264 costs less
// per frame than libvpx.
func KnownVideoCodecs() []VideoCodec { return []VideoCodec{VideoH264, VideoVP8} }

// BuiltinLayouts are the layout names mixer/layout defines (a test keeps
// the two lists equal), plus the aliases users type for 4:0.
var BuiltinLayouts = []string{"1:0", "1:7", "1:21", "2:21", "4:0", "9:0", "16:0", "25:0"}

var layoutAliases = map[string]string{"4+0": "4:0", "2x2": "4:0"}

// Resolutions a room may compose at.
var resolutions = []string{"1280x720", "1920x1080", "960x540", "640x360"}

// Video is the video: section.
type Video struct {
	// Codecs is the preference, best first. An empty list (codecs: [])
	// turns video off: video streams are refused and calls are audio only.
	Codecs []VideoCodec `yaml:"codecs"`
	// Resolution of the composed picture: 1280x720 (default), 1920x1080,
	// 960x540 or 640x360.
	Resolution string `yaml:"resolution"`
	// FPS is the compositor's frame rate.
	FPS int `yaml:"fps"`
	// BitrateKbps is the target of each encoded stream; an endpoint's
	// b=AS/b=TIAS and REMB can only lower it.
	BitrateKbps int `yaml:"bitrate_kbps"`
	// Layout is the default layout of rooms.
	Layout string `yaml:"layout"`
	// Layouts defines more layouts next to the built-in ones.
	Layouts []LayoutDef `yaml:"layouts"`
}

// LayoutDef is a layout defined in the config.
type LayoutDef struct {
	Name  string       `yaml:"name"`
	Cells []LayoutCell `yaml:"cells"`
}

// LayoutCell is one cell in fractions of the canvas (0..1, from the top
// left). Main cells show the most recent speakers.
type LayoutCell struct {
	X    float64 `yaml:"x"`
	Y    float64 `yaml:"y"`
	W    float64 `yaml:"w"`
	H    float64 `yaml:"h"`
	Main bool    `yaml:"main"`
	// Fit shows the whole picture with bars; otherwise it is cropped to
	// fill the cell.
	Fit bool `yaml:"fit"`
}

// ParseResolution reads "WIDTHxHEIGHT".
func ParseResolution(s string) (w, h int, ok bool) {
	a, b, found := strings.Cut(s, "x")
	if !found {
		return 0, 0, false
	}
	w, err1 := strconv.Atoi(a)
	h, err2 := strconv.Atoi(b)
	return w, h, err1 == nil && err2 == nil && w > 0 && h > 0
}

// CanonicalLayout maps an alias ("4+0", "2x2") to its layout name.
func CanonicalLayout(name string) string {
	if c, ok := layoutAliases[name]; ok {
		return c
	}
	return name
}

// LayoutNames lists every layout a room may use: built-in and defined.
func (c *Config) LayoutNames() []string {
	names := slices.Clone(BuiltinLayouts)
	for _, l := range c.Video.Layouts {
		names = append(names, l.Name)
	}
	return names
}

// VideoEnabled reports whether calls may carry video.
func (c *Config) VideoEnabled() bool { return len(c.Video.Codecs) > 0 }

func (c *Config) checkVideo(k *checker) {
	v := &c.Video
	if v.Codecs == nil {
		v.Codecs = KnownVideoCodecs() // a Config built in code
	}
	seen := map[VideoCodec]int{}
	for i, vc := range v.Codecs {
		key := "video.codecs[" + strconv.Itoa(i) + "]"
		var canon VideoCodec
		switch strings.ToUpper(string(vc)) {
		case "H264", "H.264", "AVC":
			canon = VideoH264
		case "VP8":
			canon = VideoVP8
		default:
			k.addf(key, "%q is not a video codec vmrd speaks; use H264 or VP8 (or codecs: [] for audio only)", vc)
			continue
		}
		v.Codecs[i] = canon
		if first, dup := seen[canon]; dup {
			k.addf(key, "%s repeats video.codecs[%d]; remove one", canon, first)
		}
		seen[canon] = i
	}
	if v.Resolution == "" {
		v.Resolution = DefaultResolution
	}
	checkResolution(k, "video.resolution", v.Resolution)
	if v.FPS == 0 {
		v.FPS = DefaultFPS
	}
	if v.FPS < MinFPS || v.FPS > MaxFPS {
		k.addf("video.fps", "%d is out of range; use %d to %d (default %d)", v.FPS, MinFPS, MaxFPS, DefaultFPS)
	}
	if v.BitrateKbps == 0 {
		v.BitrateKbps = DefaultBitrateKbps
	}
	if v.BitrateKbps < MinBitrateKbps || v.BitrateKbps > MaxBitrateKbps {
		k.addf("video.bitrate_kbps", "%d is out of range; use %d to %d (default %d)", v.BitrateKbps, MinBitrateKbps, MaxBitrateKbps, DefaultBitrateKbps)
	}
	names := map[string]int{}
	for _, b := range BuiltinLayouts {
		names[b] = -1
	}
	for i, l := range v.Layouts {
		key := "video.layouts[" + strconv.Itoa(i) + "]"
		switch first, dup := names[l.Name]; {
		case l.Name == "":
			k.addf(key+".name", `missing; name the layout, e.g. name: "2:2"`)
		case dup && first < 0:
			k.addf(key+".name", "%q is a built-in layout; give yours another name", l.Name)
		case dup:
			k.addf(key+".name", "%q is already the name of video.layouts[%d]; give each layout its own name", l.Name, first)
		case layoutAliases[l.Name] != "":
			k.addf(key+".name", "%q is an alias of the built-in %s; give yours another name", l.Name, layoutAliases[l.Name])
		default:
			names[l.Name] = i
		}
		checkCells(k, key, l.Cells)
	}
	if v.Layout == "" {
		v.Layout = DefaultLayout
	}
	v.Layout = CanonicalLayout(v.Layout)
	c.checkLayoutName(k, "video.layout", v.Layout)
}

func checkCells(k *checker, key string, cells []LayoutCell) {
	if len(cells) == 0 || len(cells) > MaxLayoutCells {
		k.addf(key+".cells", "%d cells; a layout has 1 to %d", len(cells), MaxLayoutCells)
		return
	}
	for j, cell := range cells {
		ckey := key + ".cells[" + strconv.Itoa(j) + "]"
		vals := []float64{cell.X, cell.Y, cell.W, cell.H}
		bad := slices.ContainsFunc(vals, func(f float64) bool { return math.IsNaN(f) || f < 0 || f > 1 })
		if bad || cell.W < 0.02 || cell.H < 0.02 || cell.X+cell.W > 1.0001 || cell.Y+cell.H > 1.0001 {
			k.addf(ckey, "cell (x %g, y %g, w %g, h %g) is not inside the canvas; use fractions so that 0 <= x, x+w <= 1, 0 <= y, y+h <= 1, and w, h >= 0.02",
				cell.X, cell.Y, cell.W, cell.H)
		}
	}
}

func checkResolution(k *checker, key, res string) {
	if !slices.Contains(resolutions, res) {
		k.addf(key, "%q is not a resolution vmrd composes; use one of %s", res, strings.Join(resolutions, ", "))
	}
}

func (c *Config) checkLayoutName(k *checker, key, name string) {
	if !slices.Contains(c.LayoutNames(), name) {
		k.addf(key, "%q is not a layout; use one of %s (4+0 and 2x2 mean 4:0), or define it under video.layouts",
			name, strings.Join(c.LayoutNames(), ", "))
	}
}

// checkRoomVideo fills a room's layout, resolution and frame rate from
// video: and checks them.
func (c *Config) checkRoomVideo(k *checker, key string, r *Room) {
	if r.Layout == "" {
		r.Layout = c.Video.Layout
	} else {
		r.Layout = CanonicalLayout(r.Layout)
		c.checkLayoutName(k, key+".layout", r.Layout)
	}
	if r.Resolution == "" {
		r.Resolution = c.Video.Resolution
	} else {
		checkResolution(k, key+".resolution", r.Resolution)
	}
	if r.FPS == 0 {
		r.FPS = c.Video.FPS
	} else if r.FPS < MinFPS || r.FPS > MaxFPS {
		k.addf(key+".fps", "%d is out of range; use %d to %d, or remove the key to use video.fps", r.FPS, MinFPS, MaxFPS)
	}
}
