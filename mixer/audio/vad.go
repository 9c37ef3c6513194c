package audio

import "math"

// Voice activity detection works on the energy of each 20 ms frame in dBov
// (RMS relative to a full-scale 16-bit sample, as RFC 6464 measures the audio
// level). A frame is voiced when it is louder than an absolute minimum and a
// margin above the input's own noise floor. The floor follows the quietest
// frames: it drops at once to a quieter frame and rises slowly otherwise, so
// the pauses between words keep it down while speech goes on. It never rises
// above vadFloorMax, so a sustained tone or a long monologue is not taken for
// noise; only microphones noisier than that get through the gate.
//
// Two decisions come out of it:
//   - the mix gate opens on the first voiced frame (no attack, so the first
//     syllable is not clipped) and closes after gateHangover quiet frames;
//   - Speaking, for the active speaker, needs vadAttack voiced frames in
//     close succession and ends after speakHangover quiet frames, so a cough
//     or a door does not switch the speaker and short pauses do not flap it.
const (
	silenceDB     = -127.0 // level of digital silence (the RFC 6464 floor)
	vadAbsMin     = -50.0  // dBov: quieter frames are never voiced
	vadMargin     = 8.0    // dB above the noise floor for a voiced frame
	vadFloorStart = -70.0  // dBov: initial noise floor
	vadFloorMin   = -90.0  // dBov: lowest floor, so it recovers quickly after digital silence
	vadFloorMax   = -48.0  // dBov: highest floor
	vadFloorRise  = 0.1    // dB per frame (5 dB/s)
	vadAttack     = 3      // voiced frames before Speaking turns on
	gateHangover  = 20     // quiet frames (400 ms) before the mix gate closes
	speakHangover = 25     // quiet frames (500 ms) before Speaking turns off
	quietForever  = 1 << 30
)

// vad holds one input's detector state. It is owned by the tick.
type vad struct {
	floor    float64
	quiet    int // frames since the last voiced frame
	score    int // leaky count of recent voiced frames, at most vadAttack
	speaking bool
}

func newVAD() vad { return vad{floor: vadFloorStart, quiet: quietForever} }

// update takes the level of this tick's frame; real is false when the input
// had no audio this tick (the level is then silence and says nothing about
// the noise floor). It reports whether the frame was voiced.
func (v *vad) update(level float64, real bool) bool {
	voiced := false
	if real {
		voiced = level >= max(vadAbsMin, v.floor+vadMargin)
		if level < v.floor {
			v.floor = max(level, vadFloorMin)
		} else {
			v.floor = min(v.floor+vadFloorRise, vadFloorMax)
		}
	}
	if voiced {
		v.quiet = 0
		v.score = min(v.score+1, vadAttack)
	} else {
		v.quiet = min(v.quiet+1, quietForever)
		v.score = max(v.score-1, 0)
	}
	switch {
	case !v.speaking && v.score >= vadAttack:
		v.speaking = true
	case v.speaking && v.quiet > speakHangover:
		v.speaking = false
	}
	return voiced
}

// gateOpen reports whether the input should be mixed.
func (v *vad) gateOpen() bool { return v.quiet <= gateHangover }

// levelDB is the RMS level of pcm in dBov, silenceDB for digital silence.
func levelDB(pcm []int16) float64 {
	// Four accumulators break the dependency chain of one running sum,
	// which otherwise dominates the cost of a tick in a large room.
	var s0, s1, s2, s3 uint64
	i := 0
	for ; i+4 <= len(pcm); i += 4 {
		a, b, c, d := int32(pcm[i]), int32(pcm[i+1]), int32(pcm[i+2]), int32(pcm[i+3])
		s0 += uint64(a * a)
		s1 += uint64(b * b)
		s2 += uint64(c * c)
		s3 += uint64(d * d)
	}
	for ; i < len(pcm); i++ {
		a := int32(pcm[i])
		s0 += uint64(a * a)
	}
	sum := s0 + s1 + s2 + s3
	if sum == 0 {
		return silenceDB
	}
	ms := float64(sum) / float64(len(pcm))
	return max(10*math.Log10(ms/(32767.0*32767.0)), silenceDB)
}
