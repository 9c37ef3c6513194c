package e2e

import (
	"fmt"
	"image"
	"image/color"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Video through the real daemon: baresip phones send solid colours and
// the test reads what each one receives.

// gridCentres are the cell centres of the 4:0 layout, in cell order.
var gridCentres = [4][2]float64{{0.25, 0.25}, {0.75, 0.25}, {0.25, 0.75}, {0.75, 0.75}}

// videoColours are the phones' cameras, in join order.
var videoColours = []color.RGBA{colourRed, colourGreen, colourBlue, colourYellow}

// videoStartedRe is vmrd's log line once a leg's video is attached.
var videoStartedRe = regexp.MustCompile(`msg="video started"`)

// waitDaemonLog waits until the daemon's log has n lines matching re.
func (d *daemon) waitLogCount(t *testing.T, re *regexp.Regexp, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := len(re.FindAllString(tailFile(d.LogPath, 100000), -1))
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon log has %d lines matching %q after %s, want %d", got, re, within, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// viewCheck says whether img is what one participant should see, and why not.
type viewCheck func(img image.Image) string

// waitView takes snapshots until check passes or the time is up: a new
// participant's picture appears after its first keyframe.
func waitView(t *testing.T, p *videoPhone, within time.Duration, check viewCheck) image.Image {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		img := p.snapshot(t)
		why := check(img)
		if why == "" {
			return img
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not see what it should after %s: %s\nits picture: %s", p.opts.Name, within, why, describeColours(img))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// gridView checks a 4:0 picture: cells[i] is the colour expected in cell i
// (nil: no participant there), and own must appear nowhere.
func gridView(cells []*color.RGBA, own color.RGBA) viewCheck {
	return func(img image.Image) string {
		var problems []string
		for i, want := range cells {
			got := sampleCell(img, gridCentres[i][0], gridCentres[i][1])
			switch {
			case want != nil && !colourNear(got, *want, colourTol):
				problems = append(problems, fmt.Sprintf("cell %d is %v, want %v", i, got, *want))
			case want == nil:
				for _, c := range videoColours {
					if colourNear(got, c, colourTol) {
						problems = append(problems, fmt.Sprintf("cell %d shows %v, want it empty", i, got))
					}
				}
			}
		}
		if hits := findColour(img, own, colourTol, 24); len(hits) > 0 {
			problems = append(problems, fmt.Sprintf("its own colour %v is at %d points", own, len(hits)))
		}
		return strings.Join(problems, "; ")
	}
}

// TestVideoFourPartyLayout: four phones in a 4:0 room each see the other
// three in the cells of their join order and never themselves, with VP8 and
// with H.264 in packetization mode 0 (baresip's H264 account setting) and
// mode 1 (the phones' offers filtered down to it on the way to vmrd).
func TestVideoFourPartyLayout(t *testing.T) {
	requireVideoTools(t, "baresip", "ffmpeg")
	cases := []struct {
		name    string
		account string // the phones' video_codecs
		mode1   bool   // filter the offers down to H.264 packetization mode 1
		want    string // the phones' encoder and decoder, as baresip logs them
	}{
		{"VP8", "VP8", false, "VP8"},
		{"H264 mode 0", "H264", false, "H264 packetization-mode=0"},
		{"H264 mode 1", "", true, "H264 packetization-mode=1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.Video.Layout = "4:0"
			cfg.Video.FPS = 15 // four encoders and four phones share two cores
			d := startDaemon(t, cfg)
			dial := "sip:1001@" + d.SIPAddr
			if c.mode1 {
				f := startSDPFilter(t, d.SIPPort, onlyH264Mode(1))
				dial = fmt.Sprintf("sip:1001@127.0.0.1:%d", f.Port)
			}
			clipDir := t.TempDir()
			var phones []*videoPhone
			for i, col := range videoColours {
				name := fmt.Sprintf("phone%d", i)
				phones = append(phones, startVideoPhone(t, videoPhoneOpts{
					Name: name, Video: makeColourVideo(t, clipDir, name, col, 640, 360, 30, 60),
					VideoCodecs: c.account, Silent: true, Seconds: 60, Dial: dial,
				}))
				// One at a time, so that the join order is the phone order.
				d.waitLogCount(t, videoStartedRe, i+1, 15*time.Second)
			}
			for i, p := range phones {
				var cells []*color.RGBA
				for j := range videoColours {
					if j != i {
						cells = append(cells, &videoColours[j])
					}
				}
				cells = append(cells, nil) // three others: the fourth cell is empty
				waitView(t, p, 20*time.Second, gridView(cells, videoColours[i]))
				if enc, dec := p.videoCodecs(); enc != c.want || dec != c.want {
					t.Errorf("%s uses encoder %q and decoder %q, want %q", p.opts.Name, enc, dec, c.want)
				}
			}
			// Four distinct views: four encoders, no more.
			d.waitMetric(t, "vmrd_video_encoders_active", 5*time.Second, "4 encoder groups", func(v float64) bool { return v == 4 })
		})
	}
}

// colourTile is the tile of a participant without video: mixer/video's
// nameTile, dark teal.
var colourTile = color.RGBA{R: 24, G: 80, B: 72, A: 0xff}

// TestVideoAudioOnlyNameTile: a caller without video (an audio-only phone)
// is in the others' picture as a tile, so that everyone sees who takes
// part, and the tile goes when it hangs up. The video phones are silent and
// the audio-only one sends a tone: voice activity promotes it to the first
// cell like any speaker, in the view of the phone that joined before it and
// of the one that joined after.
func TestVideoAudioOnlyNameTile(t *testing.T) {
	requireVideoTools(t, "baresip", "ffmpeg")
	cfg := defaultConfig()
	cfg.Video.Layout = "4:0"
	cfg.Video.FPS = 15
	d := startDaemon(t, cfg)
	dial := "sip:1001@" + d.SIPAddr
	clipDir := t.TempDir()
	red := startVideoPhone(t, videoPhoneOpts{Name: "red", Video: makeColourVideo(t, clipDir, "red", colourRed, 640, 360, 30, 60),
		Silent: true, Seconds: 60, Dial: dial})
	d.waitLogCount(t, videoStartedRe, 1, 15*time.Second)
	audio := startPhone(t, phoneConfig{Name: "audio-only", Freq: 660, Dial: dial, Seconds: 60})
	audio.waitLog(t, establishedRe, 10*time.Second)
	green := startVideoPhone(t, videoPhoneOpts{Name: "green", Video: makeColourVideo(t, clipDir, "green", colourGreen, 640, 360, 30, 60),
		Silent: true, Seconds: 60, Dial: dial})
	d.waitLogCount(t, videoStartedRe, 2, 15*time.Second)

	waitView(t, red, 20*time.Second, gridView([]*color.RGBA{&colourTile, &colourGreen, nil, nil}, colourRed))
	waitView(t, green, 20*time.Second, gridView([]*color.RGBA{&colourTile, &colourRed, nil, nil}, colourGreen))
	// Two views, two encoders: the tile sees nothing and costs none.
	d.waitMetric(t, "vmrd_video_encoders_active", 5*time.Second, "2 encoder groups", func(v float64) bool { return v == 2 })

	audio.hangup()
	audio.wait(t, 15*time.Second)
	waitView(t, red, 20*time.Second, gridView([]*color.RGBA{&colourGreen, nil, nil, nil}, colourRed))
	if img := waitView(t, red, 5*time.Second, gridView([]*color.RGBA{&colourGreen, nil, nil, nil}, colourRed)); len(findColour(img, colourTile, 12, 24)) > 0 {
		t.Error("the tile is still in the picture after its caller hung up")
	}
}

// slateView checks a slate: text (near-white pixels) on a dark background
// and nothing of the meeting (none of the given colours anywhere).
func slateView(hidden ...color.RGBA) viewCheck {
	return func(img image.Image) string {
		var problems []string
		for _, c := range hidden {
			if hits := findColour(img, c, colourTol, 32); len(hits) > 0 {
				problems = append(problems, fmt.Sprintf("the meeting's colour %v shows at %d points", c, len(hits)))
			}
		}
		bright, dark := brightDark(img)
		if bright < 200 || dark < 0.8 {
			problems = append(problems, fmt.Sprintf("no slate text: %d near-white pixels, %.0f %% dark", bright, dark*100))
		}
		return strings.Join(problems, "; ")
	}
}

// brightDark counts near-white pixels (text) and the share of dark ones.
func brightDark(img image.Image) (bright int, darkShare float64) {
	b := img.Bounds()
	dark := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			switch {
			case r > 0xc000 && g > 0xc000 && bl > 0xc000:
				bright++
			case r < 0x5000 && g < 0x5000 && bl < 0x5000:
				dark++
			}
		}
	}
	return bright, float64(dark) / float64(b.Dx()*b.Dy())
}

// TestVideoSlatesUntilAdmitted: in an autolock room a caller keying the PIN
// and then waiting in the lobby sees a slate and nothing of the meeting,
// and the meeting does not see them; once a host admits them through the
// control API they see the host, and transform_layout changes what they see.
func TestVideoSlatesUntilAdmitted(t *testing.T) {
	requireVideoTools(t, "baresip", "ffmpeg")
	cfg := defaultConfig()
	cfg.Video.FPS = 15
	room := pinRoom(t, "3003", "autolock", true)
	room.Layout = "4:0"
	cfg.Rooms = []RoomConfig{room}
	d := startDaemon(t, cfg)
	clipDir := t.TempDir()
	host := startVideoPhone(t, videoPhoneOpts{Name: "host", Video: makeColourVideo(t, clipDir, "host", colourRed, 640, 360, 30, 60),
		VideoCodecs: "VP8", Silent: true, Seconds: 60, Dial: "sip:3003@" + d.SIPAddr})
	d.waitLogCount(t, videoStartedRe, 1, 15*time.Second)
	host.waitLog(t, videoRxRe, 15*time.Second)
	host.sendDTMF(t, hostPIN+"#")
	ctl := d.token(t, "3003", hostPIN, "Control", "HOST")
	d.waitParticipant(t, "3003", ctl.Token, "host in the meeting", 10*time.Second, func(p participantInfo) bool {
		return p.Protocol == "sip" && p.Role == "host" && p.State == "in"
	})

	guest := startVideoPhone(t, videoPhoneOpts{Name: "guest", Video: makeColourVideo(t, clipDir, "guest", colourGreen, 640, 360, 30, 60),
		VideoCodecs: "VP8", Silent: true, Seconds: 60, Dial: "sip:3003@" + d.SIPAddr})
	d.waitLogCount(t, videoStartedRe, 2, 15*time.Second)
	pinSlate := waitView(t, guest, 15*time.Second, slateView(colourRed))
	guest.sendDTMF(t, guestPIN+"#")
	g := d.waitParticipant(t, "3003", ctl.Token, "guest in the lobby", 10*time.Second, func(p participantInfo) bool {
		return p.Protocol == "sip" && p.Role == "guest" && p.State == "lobby"
	})
	waitView(t, guest, 10*time.Second, func(img image.Image) string {
		if why := slateView(colourRed)(img); why != "" {
			return why
		}
		if differing(img, pinSlate) < 200 {
			return "the lobby slate looks like the PIN slate"
		}
		return ""
	})
	// The host does not see the caller waiting: its view has no green.
	waitView(t, host, 5*time.Second, func(img image.Image) string {
		if hits := findColour(img, colourGreen, colourTol, 32); len(hits) > 0 {
			return fmt.Sprintf("the waiting guest's colour shows at %d points", len(hits))
		}
		return ""
	})

	d.apiOK(t, "POST", "3003", "participants/"+g.UUID+"/unlock", ctl.Token, nil)
	waitView(t, guest, 15*time.Second, gridView([]*color.RGBA{&colourRed, nil, nil, nil}, colourGreen))
	waitView(t, host, 15*time.Second, gridView([]*color.RGBA{&colourGreen, nil, nil, nil}, colourRed))

	// 1:0 shows the one other participant over the whole picture.
	d.apiOK(t, "POST", "3003", "transform_layout", ctl.Token, map[string]string{"layout": "1:0"})
	waitView(t, guest, 10*time.Second, func(img image.Image) string {
		for _, at := range [][2]float64{{0.25, 0.25}, {0.75, 0.75}, {0.8, 0.3}} {
			if got := sampleCell(img, at[0], at[1]); !colourNear(got, colourRed, colourTol) {
				return fmt.Sprintf("at %v the picture is %v, want the host's red over the whole 1:0 picture", at, got)
			}
		}
		return ""
	})
	if c := d.conference(t, "3003", ctl.Token); c.Layout != "1:0" {
		t.Fatalf("conference layout %q after transform_layout, want 1:0", c.Layout)
	}
}

// differing counts pixels whose brightness differs clearly between a and b.
func differing(a, b image.Image) int {
	n := 0
	ab, bb := a.Bounds(), b.Bounds()
	if ab != bb {
		return ab.Dx() * ab.Dy()
	}
	for y := ab.Min.Y; y < ab.Max.Y; y++ {
		for x := ab.Min.X; x < ab.Max.X; x++ {
			r1, _, _, _ := a.At(x, y).RGBA()
			r2, _, _, _ := b.At(x, y).RGBA()
			if d := int(r1) - int(r2); d > 0x4000 || d < -0x4000 {
				n++
			}
		}
	}
	return n
}
