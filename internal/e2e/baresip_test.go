package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// toneFreqs are the tones the phones send, one each. 660 and 990 are not
// harmonics of 440 or of each other, and no 2nd or 3rd order product of any
// two lands on the third (TestToneFreqsAreDistinguishable).
var toneFreqs = []float64{440, 660, 990}

// codecCases are the audio codecs the conference is tested with. Codecs is
// the account's audio_codecs (a name baresip cannot match silently falls
// back to PCMU, so Want checks what the call really used).
var codecCases = []struct {
	Name   string
	Codecs string
	Want   string // codec name in baresip's log
}{
	{Name: "PCMU", Codecs: "PCMU/8000/1", Want: "PCMU"},
	{Name: "G722", Codecs: "G722/16000/1", Want: "G722"},
	{Name: "Opus", Codecs: "opus/48000/2", Want: "opus"},
}

var (
	establishedRe = regexp.MustCompile(`Call established`)
	closedRe      = regexp.MustCompile(`session closed: (\d{3}) ([^\r\n]*)`)
)

const (
	// listenWindow is how much audio at the end of each dump is analysed;
	// trimEnd is cut off the very end, where the first hangups already
	// change the mix.
	listenWindow = 3.0
	trimEnd      = 0.4
	blockSec     = 0.25
)

// analyseDump measures the tones over [end-trimEnd-listenWindow, end-trimEnd]
// of a phone's decoded audio.
func analyseDump(t *testing.T, p *phone) toneReport {
	t.Helper()
	a := p.decodedDump(t)
	if a.Duration() < listenWindow+trimEnd+0.5 {
		t.Fatalf("baresip %s: decoded dump is only %.2fs (%d Hz, %d ch)", p.cfg.Name, a.Duration(), a.Rate, a.Channels)
	}
	end := a.Duration() - trimEnd
	return analyseTones(a.Slice(end-listenWindow, end), a.Rate, toneFreqs, blockSec)
}

func othersThan(own float64) []float64 {
	var out []float64
	for _, f := range toneFreqs {
		if f != own {
			out = append(out, f)
		}
	}
	return out
}

// TestBaresipPhoneToPhone checks the baresip harness and the tone detector
// without vmrd: one phone auto-answers, the other dials it, and each must
// hear the other's tone and neither its own nor the unused third one.
func TestBaresipPhoneToPhone(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: real phones for several seconds")
	}
	t.Parallel()
	for _, cc := range codecCases {
		t.Run(cc.Name, func(t *testing.T) {
			t.Parallel()
			callee := startPhone(t, phoneConfig{Name: "callee", Freq: int(toneFreqs[0]), Codecs: cc.Codecs, AutoAnswr: true})
			caller := startPhone(t, phoneConfig{
				Name: "caller", Freq: int(toneFreqs[1]), Codecs: cc.Codecs,
				Dial: fmt.Sprintf("sip:tester@127.0.0.1:%d", callee.SIPPort),
			})
			callee.waitLog(t, establishedRe, 10*time.Second)
			caller.waitLog(t, establishedRe, 10*time.Second)
			time.Sleep(time.Duration((listenWindow + trimEnd + 1) * float64(time.Second)))
			caller.hangup()
			callee.hangup()
			caller.wait(t, 10*time.Second)
			callee.wait(t, 10*time.Second)

			for _, p := range []*phone{callee, caller} {
				if tx, rx := p.codecs(); tx != cc.Want || rx != cc.Want {
					t.Errorf("%s used tx %q rx %q, want %q", p.cfg.Name, tx, rx, cc.Want)
				}
			}
			checks := []struct {
				p         *phone
				hear, not float64
			}{
				{p: callee, hear: toneFreqs[1], not: toneFreqs[0]},
				{p: caller, hear: toneFreqs[0], not: toneFreqs[1]},
			}
			for _, c := range checks {
				r := analyseDump(t, c.p)
				t.Logf("%-6s hears: %s", c.p.cfg.Name, r)
				problems := checkHearing(r, []float64{c.hear}, c.not)
				if l := r.Levels[toneFreqs[2]]; r.Levels[c.hear]-l < ownMarginDB {
					problems = append(problems, fmt.Sprintf("unused tone %.0f Hz at %.1f dBFS", toneFreqs[2], l))
				}
				for _, pr := range problems {
					t.Errorf("%s: %s", c.p.cfg.Name, pr)
				}
			}
		})
	}
}

// TestConferenceMixMinus is the central test: three phones, each sending its
// own tone, dial room 1001; each must hear the other two and not itself.
func TestConferenceMixMinus(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: three real phones for several seconds per codec")
	}
	requireDaemon(t)
	t.Parallel()
	for _, cc := range codecCases {
		t.Run(cc.Name, func(t *testing.T) {
			t.Parallel()
			d := startDaemon(t, defaultConfig())
			uri := "sip:1001@" + d.SIPAddr
			phones := make([]*phone, len(toneFreqs))
			for i, f := range toneFreqs {
				phones[i] = startPhone(t, phoneConfig{Name: fmt.Sprintf("phone%d-%.0fHz", i+1, f), Freq: int(f), Codecs: cc.Codecs, Dial: uri})
				phones[i].waitLog(t, establishedRe, 10*time.Second)
				want := float64(i + 1)
				d.waitMetric(t, "vmrd_participants", 10*time.Second, fmt.Sprintf("phone %d joining", i+1), func(v float64) bool { return v == want })
			}
			// Hold the conference long enough for the analysed window plus
			// settling time, checking nobody drops out meanwhile.
			hold := time.Duration((listenWindow + trimEnd + 1.2) * float64(time.Second))
			for end := time.Now().Add(hold); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
				if v := d.metric(t, "vmrd_participants"); v != float64(len(phones)) {
					t.Fatalf("vmrd_participants dropped to %v during the conference", v)
				}
			}
			for _, p := range phones {
				p.hangup()
			}
			for _, p := range phones {
				p.wait(t, 10*time.Second)
			}
			d.waitMetric(t, "vmrd_participants", 5*time.Second, "everyone leaving", func(v float64) bool { return v == 0 })

			for _, p := range phones {
				if tx, rx := p.codecs(); tx != cc.Want || rx != cc.Want {
					t.Errorf("%s used tx %q rx %q, want %q", p.cfg.Name, tx, rx, cc.Want)
				}
			}
			var table strings.Builder
			failed := false
			for i, p := range phones {
				r := analyseDump(t, p)
				fmt.Fprintf(&table, "%-14s sends %4.0f Hz, hears: %s\n", p.cfg.Name, toneFreqs[i], r)
				for _, pr := range checkHearing(r, othersThan(toneFreqs[i]), toneFreqs[i]) {
					failed = true
					t.Errorf("%s: %s", p.cfg.Name, pr)
				}
			}
			if failed {
				t.Logf("frequency table (median over %.2fs blocks of the last %.1fs):\n%s", blockSec, listenWindow, table.String())
			} else {
				t.Logf("frequency table:\n%s", table.String())
			}
		})
	}
}

// TestBaresipUnknownRoom dials a room that does not exist with
// security.unknown_rooms: reject: the phone must be told 404.
func TestBaresipUnknownRoom(t *testing.T) {
	requireDaemon(t)
	t.Parallel()
	cfg := defaultConfig()
	cfg.Security.UnknownRooms = "reject"
	d := startDaemon(t, cfg)
	p := startPhone(t, phoneConfig{Name: "lost", Freq: 440, Dial: "sip:9999@" + d.SIPAddr, Seconds: 15})
	m := p.waitLog(t, closedRe, 10*time.Second)
	if m[1] != "404" {
		t.Errorf("dialing room 9999 ended with %s %s, want 404", m[1], m[2])
	}
	if strings.Contains(p.Log(), "Call established") {
		t.Errorf("the call to room 9999 was established")
	}
	p.hangup()
	p.wait(t, 10*time.Second)
	if v := d.metric(t, `vmrd_calls_total{result="not_found"}`); v != 1 {
		t.Errorf(`vmrd_calls_total{result="not_found"} = %v, want 1`, v)
	}
}
