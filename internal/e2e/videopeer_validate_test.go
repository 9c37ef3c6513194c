package e2e

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"strings"
	"testing"
	"time"
)

// quadrants is a w x h picture with four solid quarters: tl, tr, bl, br.
func quadrants(w, h int, tl, tr, bl, br color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, image.Rect(0, 0, w/2, h/2), image.NewUniform(tl), image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(w/2, 0, w, h/2), image.NewUniform(tr), image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(0, h/2, w/2, h), image.NewUniform(bl), image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(w/2, h/2, w, h), image.NewUniform(br), image.Point{}, draw.Src)
	return img
}

func TestVideoPictureHelpers(t *testing.T) {
	black := color.RGBA{A: 0xff}
	img := quadrants(640, 360, colourRed, colourGreen, colourBlue, black)
	// Codec-like noise: a speck in the red quarter must not move its average
	// far.
	img.Set(160, 90, color.RGBA{R: 0, G: 0xff, B: 0xff, A: 0xff})

	cells := []struct {
		name   string
		fx, fy float64
		want   color.RGBA
	}{
		{name: "top left", fx: 0.25, fy: 0.25, want: colourRed},
		{name: "top right", fx: 0.75, fy: 0.25, want: colourGreen},
		{name: "bottom left", fx: 0.25, fy: 0.75, want: colourBlue},
		{name: "bottom right", fx: 0.75, fy: 0.75, want: black},
		{name: "corner", fx: 0, fy: 0, want: colourRed},
		{name: "far corner", fx: 1, fy: 1, want: black},
	}
	for _, c := range cells {
		t.Run("sampleCell/"+c.name, func(t *testing.T) {
			if got := sampleCell(img, c.fx, c.fy); !colourNear(got, c.want, 8) {
				t.Errorf("sampleCell(%.2f, %.2f) = %v, want about %v", c.fx, c.fy, got, c.want)
			}
		})
	}

	near := []struct {
		name string
		a, b color.RGBA
		tol  int
		want bool
	}{
		{name: "same", a: colourRed, b: colourRed, tol: 0, want: true},
		{name: "decoded red", a: color.RGBA{R: 236, G: 14, B: 16, A: 255}, b: colourRed, tol: colourTol, want: true},
		{name: "one channel off", a: color.RGBA{R: 255, G: 41, A: 255}, b: colourRed, tol: colourTol, want: false},
		{name: "alpha ignored", a: color.RGBA{R: 255}, b: colourRed, tol: 0, want: true},
		{name: "green is not 0x008000", a: colourGreen, b: color.RGBA{G: 0x80, A: 255}, tol: colourTol, want: false},
	}
	for _, c := range near {
		t.Run("colourNear/"+c.name, func(t *testing.T) {
			if got := colourNear(c.a, c.b, c.tol); got != c.want {
				t.Errorf("colourNear(%v, %v, %d) = %v, want %v", c.a, c.b, c.tol, got, c.want)
			}
		})
	}

	t.Run("findColour", func(t *testing.T) {
		if hits := findColour(img, colourYellow, colourTol, 16); len(hits) != 0 {
			t.Errorf("yellow found at %v", hits)
		}
		hits := findColour(img, colourBlue, colourTol, 16)
		if len(hits) != 64 {
			t.Fatalf("blue found at %d of 256 points, want 64", len(hits))
		}
		for _, h := range hits {
			if h.FX > 0.5 || h.FY < 0.5 {
				t.Errorf("blue found outside the bottom left quarter at %v", h)
			}
		}
	})
	t.Run("dominantColours", func(t *testing.T) {
		one := quadrants(64, 64, colourMagenta, colourMagenta, colourMagenta, colourCyan)
		got := dominantColours(one, 8, colourTol)
		if len(got) != 2 || !colourNear(got[0].C, colourMagenta, 0) || got[0].Share != 0.75 || got[1].Share != 0.25 {
			t.Errorf("dominantColours = %v, want magenta 75%%, cyan 25%%", got)
		}
	})
}

func TestFilterVideoFormats(t *testing.T) {
	// The shape of baresip 1.0's offer.
	offer := strings.Join([]string{
		"v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
		"m=audio 20006 RTP/AVP 0 96 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:96 opus/48000/2", "a=fmtp:96 stereo=1", "a=rtpmap:101 telephone-event/8000",
		"m=video 20004 RTP/AVP 96 97 98 34", "a=rtcp-fb:* nack pli",
		"a=rtpmap:96 VP8/90000", "a=fmtp:96 max-fs=3600",
		"a=rtpmap:97 H264/90000", "a=fmtp:97 packetization-mode=0;profile-level-id=42e01f",
		"a=rtpmap:98 H264/90000", "a=fmtp:98 packetization-mode=1;profile-level-id=42e01f",
		"a=rtpmap:34 H263/90000", "",
	}, "\r\n")
	cases := []struct {
		name      string
		keep      func(sdpVideoFormat) bool
		wantM     string
		wantGone  []string
		wantError bool
	}{
		{name: "H264 mode 1", keep: onlyH264Mode(1), wantM: "m=video 20004 RTP/AVP 98",
			wantGone: []string{"a=rtpmap:96 VP8", "a=fmtp:96 max-fs", "a=rtpmap:97", "a=fmtp:97", "a=rtpmap:34"}},
		{name: "H264 mode 0", keep: onlyH264Mode(0), wantM: "m=video 20004 RTP/AVP 97",
			wantGone: []string{"a=rtpmap:98", "a=rtpmap:96 VP8"}},
		{name: "static type without rtpmap", keep: func(f sdpVideoFormat) bool { return f.PT == 34 }, wantM: "m=video 20004 RTP/AVP 34"},
		{name: "nothing left", keep: func(sdpVideoFormat) bool { return false }, wantError: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := filterVideoFormats(offer, c.keep)
			if c.wantError {
				if err == nil {
					t.Fatalf("no error; got\n%s", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, must := range []string{c.wantM + "\r\n", "m=audio 20006 RTP/AVP 0 96 101\r\n", "a=rtpmap:96 opus/48000/2\r\n", "a=fmtp:96 stereo=1\r\n", "a=rtcp-fb:* nack pli\r\n"} {
				if !strings.Contains(got, must) {
					t.Errorf("result lacks %q:\n%s", must, got)
				}
			}
			for _, gone := range c.wantGone {
				if strings.Contains(got, gone) {
					t.Errorf("result still has %q:\n%s", gone, got)
				}
			}
		})
	}
	t.Run("content length", func(t *testing.T) {
		invite := "INVITE sip:tester@127.0.0.1:5060 SIP/2.0\r\nContent-Type: application/sdp\r\nContent-Length: " + fmt.Sprint(len(offer)) + "\r\n\r\n" + offer
		out, changed, err := rewriteInvite([]byte(invite), onlyH264Mode(1))
		if err != nil || !changed {
			t.Fatalf("rewriteInvite: changed %v, err %v", changed, err)
		}
		head, body, _ := strings.Cut(string(out), "\r\n\r\n")
		if want := fmt.Sprintf("Content-Length: %d", len(body)); !strings.Contains(head, want) {
			t.Errorf("head lacks %q:\n%s", want, head)
		}
		if _, changed, _ := rewriteInvite([]byte("SIP/2.0 200 OK\r\n\r\n"+offer), onlyH264Mode(1)); changed {
			t.Error("a response was rewritten")
		}
	})
}

// TestVideoPhoneToPhone validates the baresip video phone helper without
// vmrd: red phone A calls blue phone B directly; each must see the other's
// colour, and never its own, over every video codec setting the tests use.
func TestVideoPhoneToPhone(t *testing.T) {
	requireVideoTools(t, "baresip", "ffmpeg")
	t.Parallel()
	clips := t.TempDir()
	const w, h, fps = 640, 360, 30
	cases := []struct {
		name    string
		codecs  string // account video_codecs of both phones
		h264    int    // when > 0, force H.264 mode h264-1 through an SDP filter
		wantEnc string
	}{
		{name: "VP8", codecs: "VP8", wantEnc: "VP8"},
		{name: "H264 mode 0", codecs: "H264", wantEnc: "H264 packetization-mode=0"},
		{name: "H264 mode 1", h264: 2, wantEnc: "H264 packetization-mode=1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			// Clips outlast the test: avformat stalls a second at every rewind.
			red := makeColourVideo(t, clips, "red.webm", colourRed, w, h, fps, 30)
			blue := makeColourVideo(t, clips, "blue.webm", colourBlue, w, h, fps, 30)
			b := startVideoPhone(t, videoPhoneOpts{Name: "B-blue", Video: blue, Width: w, Height: h, FPS: fps,
				VideoCodecs: c.codecs, AutoAnswer: true, Freq: 660})
			dial := b.URI()
			var filter *sdpFilter
			if c.h264 > 0 {
				filter = startSDPFilter(t, b.SIPPort, onlyH264Mode(c.h264-1))
				dial = filter.URI()
			}
			a := startVideoPhone(t, videoPhoneOpts{Name: "A-red", Video: red, Width: w, Height: h, FPS: fps,
				VideoCodecs: c.codecs, Dial: dial, Freq: 440})
			a.waitLog(t, establishedRe, 10*time.Second)
			b.waitLog(t, establishedRe, 10*time.Second)
			if filter != nil && filter.Rewritten() == 0 {
				t.Error("the SDP filter rewrote no INVITE")
			}

			checks := []struct {
				p        *videoPhone
				see, not color.RGBA
			}{
				{p: a, see: colourBlue, not: colourRed},
				{p: b, see: colourRed, not: colourBlue},
			}
			look := func(when string) {
				for _, ch := range checks {
					img, path := ch.p.snapshotFile(t)
					if got := sampleCell(img, 0.5, 0.5); !colourNear(got, ch.see, colourTol) {
						t.Errorf("%s %s: centre is %v, want about %v (picture: %s; %s)", ch.p.opts.Name, when, got, ch.see, describeColours(img), path)
					}
					if hits := findColour(img, ch.not, colourTol, 16); len(hits) > 0 {
						t.Errorf("%s %s sees its own colour at %v", ch.p.opts.Name, when, hits[:min(len(hits), 4)])
					}
					if bnd := img.Bounds(); bnd.Dx() != w || bnd.Dy() != h {
						t.Errorf("%s %s: picture is %dx%d, want %dx%d", ch.p.opts.Name, when, bnd.Dx(), bnd.Dy(), w, h)
					}
				}
			}
			// Twice: the second snapshot must not be a stale file of the first.
			look("at first")
			look("again")

			for _, p := range []*videoPhone{a, b} {
				if enc, dec := p.videoCodecs(); enc != c.wantEnc || dec != c.wantEnc {
					t.Errorf("%s used video encoder %q and decoder %q, want %q", p.opts.Name, enc, dec, c.wantEnc)
				}
			}
			a.hangup()
			b.hangup()
			a.wait(t, 10*time.Second)
			b.wait(t, 10*time.Second)
			t.Logf("took %v", time.Since(start).Round(10*time.Millisecond))
		})
	}
}

// TestFFmpegRTPVideo validates the ffmpeg RTP sender and receiver helpers
// without vmrd: the sender streams a colour straight to the receiver's SDP.
func TestFFmpegRTPVideo(t *testing.T) {
	requireVideoTools(t, "ffmpeg")
	t.Parallel()
	cases := []struct {
		name     string
		codec    string
		fmtp     string
		colour   color.RGBA
		wantInfo string
	}{
		{name: "H264 High", codec: "H264", fmtp: "packetization-mode=1", colour: colourGreen, wantInfo: "h264 (High)"},
		{name: "VP8", codec: "VP8", colour: colourMagenta, wantInfo: "vp8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			port := freePortPair(t)
			rx := startRTPReceiver(t, rtpVideoStream{Port: port, PT: 96, Codec: c.codec, Fmtp: c.fmtp}, 10)
			startRTPSender(t, rtpSenderOpts{Addr: fmt.Sprintf("127.0.0.1:%d", port), Codec: c.codec, PT: 96, Colour: c.colour, Width: 320, Height: 180})
			frames := rx.frames(t, 15*time.Second)
			if len(frames) != 10 {
				t.Errorf("received %d frames, want 10", len(frames))
			}
			if info := rx.streamInfo(); !strings.HasPrefix(info, c.wantInfo) {
				t.Errorf("received stream is %q, want %q", info, c.wantInfo)
			}
			for i, f := range frames {
				if got := sampleCell(f, 0.5, 0.5); !colourNear(got, c.colour, colourTol) {
					t.Errorf("frame %d: centre is %v, want about %v (picture: %s)", i+1, got, c.colour, describeColours(f))
				}
			}
			t.Logf("took %v", time.Since(start).Round(10*time.Millisecond))
		})
	}
}
