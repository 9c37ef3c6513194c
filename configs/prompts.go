// Package configs holds the assets shipped inside the vmrd binary: the voice
// prompts (recorded by scripts/prompts.sh, embedded here, so running vmrd
// needs no speech synthesis) and the synthetic tones. The sample
// configuration vmrd.yaml lives beside them but is read by internal/config.
package configs

import (
	"embed"
	"fmt"
	"math"
	"slices"
	"sync"
)

// Rate is the sample rate of every clip Prompt returns: the audio mixer's.
const Rate = 48000

// Languages of the spoken prompts.
const (
	LangNB = "nb" // Norwegian Bokmål, the default
	LangEN = "en"
)

// Names of the synthetic prompts, generated here and the same in every
// language.
const (
	// HoldTone is looped in the lobby: a quiet 440 Hz beep every 4 s.
	HoldTone = "hold_tone"
	// Knock tells hosts that someone waits in the lobby: a two-note chime.
	Knock = "knock"
)

//go:embed prompts/*/*.wav
var promptFiles embed.FS

// spoken are the recorded prompts, in the order of the issue 3 contract.
// Each exists as prompts/<lang>/<name>.wav for every language.
var spoken = []string{
	"enter_pin", "wrong_pin", "goodbye_pin", "waiting", "rejected", "room_full",
	"meeting_ended", "disconnected", "muted", "unmuted", "guests_muted",
	"guests_unmuted", "locked", "unlocked",
}

// PromptNames lists every prompt name: the spoken ones, then HoldTone and
// Knock.
func PromptNames() []string {
	return append(slices.Clone(spoken), HoldTone, Knock)
}

// Languages lists the prompt languages, the default first.
func Languages() []string { return []string{LangNB, LangEN} }

var cache struct {
	sync.Mutex
	clips map[string][]int16
}

// Prompt returns the prompt name in lang as 48 kHz mono samples. An unknown
// language falls back to Norwegian (LangNB); synthetic prompts ignore the
// language. Clips are decoded once and cached: the returned slice is shared
// by every caller and must not be modified.
func Prompt(lang, name string) ([]int16, error) {
	if lang != LangEN {
		lang = LangNB
	}
	key := lang + "/" + name
	switch name {
	case HoldTone, Knock:
		key = name
	default:
		if !slices.Contains(spoken, name) {
			return nil, fmt.Errorf("%w: %q", ErrUnknownPrompt, name)
		}
	}
	cache.Lock()
	defer cache.Unlock()
	if pcm, ok := cache.clips[key]; ok {
		return pcm, nil
	}
	var pcm []int16
	switch name {
	case HoldTone:
		pcm = holdTone()
	case Knock:
		pcm = knock()
	default:
		data, err := promptFiles.ReadFile("prompts/" + key + ".wav")
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrUnknownPrompt, key, err)
		}
		samples, rate, err := parseWAV(data)
		if err != nil {
			return nil, fmt.Errorf("prompt %s: %w", key, err)
		}
		pcm = upsample(samples, Rate/rate)
	}
	if cache.clips == nil {
		cache.clips = make(map[string][]int16)
	}
	cache.clips[key] = slices.Clip(pcm)
	return pcm, nil
}

// Synthetic prompt design. Levels are peak dBFS.
const (
	holdFreq  = 440 // Hz
	holdDB    = -24
	holdOn    = 0.4 // seconds
	holdCycle = 4.0 // seconds: on, then silence until the loop repeats

	knockHigh  = 880 // Hz, first note
	knockLow   = 660 // Hz, second note: a falling fourth, "ding-dong"
	knockDB    = -14
	knockNote  = 0.3  // seconds per note
	knockDecay = 0.12 // seconds: time constant of a note's exponential decay

	// edgeRamp is the fade at each end of a tone burst, so it starts and
	// stops without a click (5 ms).
	edgeRamp = Rate / 200
)

func dbfs(db float64) float64 { return 32767 * math.Pow(10, db/20) }

// holdTone is one cycle of the lobby tone: a 440 Hz burst with soft edges,
// then silence. Played in a loop it beeps every holdCycle seconds.
func holdTone() []int16 {
	pcm := make([]int16, int(holdCycle*Rate))
	on := int(holdOn * Rate)
	amp := dbfs(holdDB)
	for i := range on {
		g := min(1, float64(i)/edgeRamp, float64(on-1-i)/edgeRamp)
		pcm[i] = int16(math.Round(amp * g * math.Sin(2*math.Pi*holdFreq*float64(i)/Rate)))
	}
	return pcm
}

// knock is two struck notes, each with a short attack and an exponential
// decay, like a door chime.
func knock() []int16 {
	note := int(knockNote * Rate)
	pcm := make([]int16, 2*note)
	amp := dbfs(knockDB)
	for k, freq := range []float64{knockHigh, knockLow} {
		for i := range note {
			t := float64(i) / Rate
			g := min(1, float64(i)/edgeRamp, float64(note-1-i)/edgeRamp) * math.Exp(-t/knockDecay)
			pcm[k*note+i] = int16(math.Round(amp * g * math.Sin(2*math.Pi*freq*t)))
		}
	}
	return pcm
}
