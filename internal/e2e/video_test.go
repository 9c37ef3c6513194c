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
// three in the cells of their join order and never themselves, for VP8 and
// H.264 (packetization mode 0, what baresip's H264 account setting gives).
func TestVideoFourPartyLayout(t *testing.T) {
	requireVideoTools(t, "baresip", "ffmpeg")
	for _, codec := range []string{"VP8", "H264"} {
		t.Run(codec, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.Video.Layout = "4:0"
			cfg.Video.FPS = 15 // four encoders and four phones share two cores
			d := startDaemon(t, cfg)
			clipDir := t.TempDir()
			var phones []*videoPhone
			for i, c := range videoColours {
				name := fmt.Sprintf("phone%d", i)
				phones = append(phones, startVideoPhone(t, videoPhoneOpts{
					Name: name, Video: makeColourVideo(t, clipDir, name, c, 640, 360, 30, 60),
					VideoCodecs: codec, Silent: true, Seconds: 60,
					Dial: "sip:1001@" + d.SIPAddr,
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
				if enc, dec := p.videoCodecs(); !strings.HasPrefix(enc, codec) || !strings.HasPrefix(dec, codec) {
					t.Errorf("%s uses encoder %q and decoder %q, want %s", p.opts.Name, enc, dec, codec)
				}
			}
			// Four distinct views: four encoders, no more.
			d.waitMetric(t, "vmrd_video_encoders_active", 5*time.Second, "4 encoder groups", func(v float64) bool { return v == 4 })
		})
	}
}
