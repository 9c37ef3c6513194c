package e2e

// Video test peers: coloured test clips, baresip video phones whose received
// picture the test can read, and ffmpeg RTP senders and receivers. They are
// validated peer to peer, without vmrd, in videopeer_validate_test.go.
//
// Traps found on Debian 12 (baresip 1.0.0, FFmpeg 5.1), for the next engineer:
//
//   - Camera: video_source avformat,FILE.webm plays a VP8 webm and rewinds it
//     at the end ("avformat: rewind stream" with -v), but it sleeps a second
//     before each rewind: the peer then gets no frame for over a second and a
//     snapshot waits that long. A short clip thus makes a stuttering camera;
//     use one longer than the test (a solid-colour 640x360 VP8 webm is
//     ~2 KB/s). A y4m also plays but is raw (10 MB per second at 640x360).
//     An MP4 source crashes baresip 1.0.
//   - libvpx with a positive -cpu-used adapts its speed and can encode a
//     60 s clip in 50 s of wall time; makeColourVideo encodes one second
//     with -cpu-used -8 and repeats it with -stream_loop and -c copy (0.2 s).
//   - The fakevideo source draws fixed colour bars, never a solid colour, so
//     it is useless for who-sees-whom.
//   - Received picture: load snapshot.so (a video filter) plus any display
//     (fakevideo,nil works headless). The ctrl_tcp command
//     {"command":"snapshot_recv","params":"/abs/path.png"} writes the NEXT
//     decoded frame to exactly that path and logs "png: wrote PATH"; the
//     command answers ok at once, even when no frame ever arrives, so wait for
//     the log line (the file is complete then), never for the file. Plain
//     "snapshot" writes snapshot-recv-<time>.png in the working directory.
//   - ctrl_tcp pushes events ({"event":true,"type":"CALL_RTPESTAB",...}) to
//     every connected client, so the first netstring read after a command
//     can be an event, not the answer: read until "response":true
//     (ctrlResponse). control_harness_test.go's ctrlCommand reads only one.
//   - Colours come back from the YUV round trip a little off: 0xff0000 sent
//     is about (236,14,16) received. Compare with a tolerance (40 is safe).
//   - With video, baresip's status line reads "... video=N/N (bit/s)
//     efps=..."; harness_test.go's statusLine does not strip it.
//   - H.264 packetization mode: avcodec registers two codecs both named
//     "H264" (offered as mode 0 first, then mode 1). The account parameter
//     ;video_codecs=H264 matches by name only and always picks mode 0; the
//     answerer follows the offer's order, so two baresips always agree on
//     mode 0. To force mode 1, the offerer offers everything and
//     startSDPFilter (a small SIP relay) strips every video format but H.264
//     mode 1 from the INVITE, so the answer can only name mode 1.
//   - Audio and video share rtp_ports; a block of 10 (nextPhoneRTPRange) is
//     enough for both streams with their RTCP.
//   - ffmpeg's libx264 exists in Debian's ffmpeg. -profile:v high only caps
//     the profile: with -preset ultrafast (no CABAC, no 8x8 transform) x264
//     signals Constrained Baseline anyway; -preset veryfast gives real High
//     (the receiver's log says "h264 (High)"). Over RTP libx264 repeats
//     SPS/PPS before every keyframe, so a receiver joining late decodes from
//     the next keyframe (after "non-existing PPS" errors) and its SDP needs
//     no sprop-parameter-sets. The receiver binds the SDP's port and the next
//     one (RTCP): pick a port pair, and start it before the sender
//     (startRTPReceiver returns once ffmpeg holds the port, seen in
//     /proc/net/udp; a trial bind could steal the port).
//   - ffmpeg's colour "green" is 0x008000: always give colours in hex.

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/png" // snapshots and ffmpeg frames are PNG
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// requireVideoTools skips the test when a program it needs is missing; the
// video tests run only where the peers are installed.
func requireVideoTools(t *testing.T, names ...string) {
	t.Helper()
	packages := map[string]string{"baresip": "baresip-core baresip-ffmpeg", "ffmpeg": "ffmpeg"}
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			t.Skipf("%s is not installed (apt-get install -y --no-install-recommends %s)", n, packages[n])
		}
	}
}

// Common test colours, all fully saturated so the YUV round trip keeps them
// far apart.
var (
	colourRed     = color.RGBA{R: 0xff, A: 0xff}
	colourGreen   = color.RGBA{G: 0xff, A: 0xff}
	colourBlue    = color.RGBA{B: 0xff, A: 0xff}
	colourYellow  = color.RGBA{R: 0xff, G: 0xff, A: 0xff}
	colourMagenta = color.RGBA{R: 0xff, B: 0xff, A: 0xff}
	colourCyan    = color.RGBA{G: 0xff, B: 0xff, A: 0xff}
)

// colourTol is the per-channel tolerance that survives an encode/decode
// round trip of a solid colour (measured error about 20).
const colourTol = 40

// hexColour is the colour as ffmpeg's lavfi wants it.
func hexColour(c color.RGBA) string { return fmt.Sprintf("0x%02x%02x%02x", c.R, c.G, c.B) }

// colourFiles serialises the making of one file, so parallel tests sharing a
// folder make each clip once.
var colourFiles sync.Map // path -> *colourFile

type colourFile struct {
	once sync.Once
	err  error
}

// makeColourVideo writes a clip of one solid colour into dir and returns its
// path. The name's extension picks the container: ".y4m" gives raw YUV (big),
// anything else a VP8 webm (tiny: 640x360 for 60 s is 110 KB). baresip's
// avformat source loops a clip but sends nothing for a second at every
// rewind, so make it outlast the test (60 s is cheap). A clip of the same
// name and parameters already in dir is reused, so tests sharing a folder
// make it once.
func makeColourVideo(t *testing.T, dir, name string, rgb color.RGBA, w, h, fps, seconds int) string {
	t.Helper()
	requireVideoTools(t, "ffmpeg")
	ext := filepath.Ext(name)
	if ext == "" {
		ext = ".webm"
	}
	base := strings.TrimSuffix(name, filepath.Ext(name))
	path := filepath.Join(dir, fmt.Sprintf("%s-%s-%dx%d-%dfps-%ds%s", base, hexColour(rgb)[2:], w, h, fps, seconds, ext))
	v, _ := colourFiles.LoadOrStore(path, &colourFile{})
	f := v.(*colourFile)
	f.once.Do(func() { f.err = encodeColourVideo(path, ext, rgb, w, h, fps, seconds) })
	if f.err != nil {
		t.Fatalf("make colour video: %v", f.err)
	}
	return path
}

// encodeColourVideo writes the clip through a temporary name, so a reader
// never sees half a file.
func encodeColourVideo(path, ext string, rgb color.RGBA, w, h, fps, seconds int) error {
	run := func(args ...string) error {
		args = append([]string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}, args...)
		if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ffmpeg %s: %w\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	src := fmt.Sprintf("color=c=%s:s=%dx%d:r=%d", hexColour(rgb), w, h, fps)
	tmp := path + ".part" + ext
	if ext == ".y4m" {
		if err := run("-f", "lavfi", "-i", src, "-t", strconv.Itoa(seconds), "-pix_fmt", "yuv420p", tmp); err != nil {
			return err
		}
		return os.Rename(tmp, path)
	}
	// One second is encoded and then repeated without re-encoding: 60 s at
	// 640x360 take 0.2 s instead of 1-50 s (libvpx's speed varies wildly).
	// The second starts with a keyframe, so every repetition does.
	one := path + ".one.webm"
	if err := run("-f", "lavfi", "-i", src, "-t", "1", "-pix_fmt", "yuv420p",
		"-c:v", "libvpx", "-b:v", "100k", "-deadline", "realtime", "-cpu-used", "-8", "-g", strconv.Itoa(fps), one); err != nil {
		return err
	}
	defer os.Remove(one)
	if err := run("-stream_loop", strconv.Itoa(max(seconds-1, 0)), "-i", one, "-c", "copy", "-t", strconv.Itoa(seconds), tmp); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// readPNG decodes an image file.
func readPNG(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return img, nil
}

// Picture analysis.

// sampleCell averages a small square patch (about 1/40 of the shorter side)
// centred at the fractional position (fx, fy) of img, 0 <= fx, fy <= 1. The
// average hides single-pixel codec noise; the patch is small enough to stay
// inside one tile of a layout.
func sampleCell(img image.Image, fx, fy float64) color.RGBA {
	b := img.Bounds()
	if b.Empty() {
		return color.RGBA{}
	}
	cx := b.Min.X + int(fx*float64(b.Dx()-1)+0.5)
	cy := b.Min.Y + int(fy*float64(b.Dy()-1)+0.5)
	r := min(b.Dx(), b.Dy()) / 80
	var sr, sg, sb, sa, n int
	for y := cy - r; y <= cy+r; y++ {
		for x := cx - r; x <= cx+r; x++ {
			if !(image.Point{X: x, Y: y}).In(b) {
				continue
			}
			c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA)
			sr += int(c.R)
			sg += int(c.G)
			sb += int(c.B)
			sa += int(c.A)
			n++
		}
	}
	if n == 0 {
		return color.RGBA{}
	}
	return color.RGBA{R: uint8(sr / n), G: uint8(sg / n), B: uint8(sb / n), A: uint8(sa / n)}
}

// colourNear reports whether every colour channel of a and b differs by at
// most tol (alpha is ignored: decoded video is opaque).
func colourNear(a, b color.RGBA, tol int) bool {
	d := func(x, y uint8) int {
		if x > y {
			return int(x - y)
		}
		return int(y - x)
	}
	return d(a.R, b.R) <= tol && d(a.G, b.G) <= tol && d(a.B, b.B) <= tol
}

// gridSample is the colour sampled at one point of a grid.
type gridSample struct {
	FX, FY float64
	C      color.RGBA
}

func (s gridSample) String() string {
	return fmt.Sprintf("(%.2f,%.2f)=#%02x%02x%02x", s.FX, s.FY, s.C.R, s.C.G, s.C.B)
}

// gridColours samples img at the centres of an n x n grid of cells.
func gridColours(img image.Image, n int) []gridSample {
	out := make([]gridSample, 0, n*n)
	for j := range n {
		for i := range n {
			fx, fy := (float64(i)+0.5)/float64(n), (float64(j)+0.5)/float64(n)
			out = append(out, gridSample{FX: fx, FY: fy, C: sampleCell(img, fx, fy)})
		}
	}
	return out
}

// findColour returns the points of an n x n grid where img shows a colour
// near c; none means "c appears nowhere" at that resolution (a 16 x 16 grid
// finds any tile bigger than 1/16 of the picture).
func findColour(img image.Image, c color.RGBA, tol, n int) []gridSample {
	var hits []gridSample
	for _, s := range gridColours(img, n) {
		if colourNear(s.C, c, tol) {
			hits = append(hits, s)
		}
	}
	return hits
}

// colourShare is one colour of a picture and the share of grid points
// showing it.
type colourShare struct {
	C     color.RGBA
	Share float64
}

func (s colourShare) String() string {
	return fmt.Sprintf("#%02x%02x%02x %.0f%%", s.C.R, s.C.G, s.C.B, 100*s.Share)
}

// dominantColours groups the samples of an n x n grid by colour (a sample
// joins the first group whose first sample is within tol) and returns the
// groups, most common first. It makes failure messages readable: "the
// picture is #ec0e10 75%, #000000 25%".
func dominantColours(img image.Image, n, tol int) []colourShare {
	samples := gridColours(img, n)
	var groups []colourShare
	counts := []int{}
	for _, s := range samples {
		found := false
		for i, g := range groups {
			if colourNear(g.C, s.C, tol) {
				counts[i]++
				found = true
				break
			}
		}
		if !found {
			groups = append(groups, colourShare{C: s.C})
			counts = append(counts, 1)
		}
	}
	for i := range groups {
		groups[i].Share = float64(counts[i]) / float64(len(samples))
	}
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].Share > groups[j].Share })
	return groups
}

// describeColours is dominantColours as one line for messages.
func describeColours(img image.Image) string {
	var parts []string
	for _, g := range dominantColours(img, 16, colourTol) {
		parts = append(parts, g.String())
	}
	return strings.Join(parts, ", ")
}

// errNoFrames is returned when a receiver decoded nothing.
var errNoFrames = errors.New("no frames decoded")
