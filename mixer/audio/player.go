package audio

import (
	"fmt"
	"slices"
)

// A player plays clips (prompts, tones) to one participant. The room's
// control goroutine hands a request to the input (Play, StopPlay); the tick
// picks it up at its next run over that input, so control calls never wait
// for a tick and the tick takes a lock only when a request is pending.
//
// Every request's done is called exactly once, from the goroutine that runs
// the tick: when the sequence has been played out (after its last frame was
// sent), when a later request replaced it, or when the input was removed
// (then from Remove or Close, after the last tick that used the input).
// A looping request ends only by replacement or removal.

// player is one Play request.
type player struct {
	clips [][]int16
	loop  bool
	done  func()
	total int // samples in all clips

	// superseded is an earlier request that was replaced before the tick
	// picked it up. Its done is called when this one is picked up.
	superseded *player

	// Owned by the tick once picked up.
	clip int // index of the clip playing
	pos  int // next sample in it
}

// finish calls done, once, for p and every request it superseded.
func (p *player) finish() {
	for ; p != nil; p = p.superseded {
		if d := p.done; d != nil {
			p.done = nil
			d()
		}
	}
}

// read fills dst (a whole frame) with the next samples, silence after the
// end. It returns whether any sample came from a clip and whether the
// sequence has now ended (never for a loop with audio in it).
func (p *player) read(dst []int16) (audio, ended bool) {
	n := 0
	for n < len(dst) {
		if p.clip == len(p.clips) {
			if !p.loop || p.total == 0 {
				break
			}
			p.clip = 0
		}
		k := copy(dst[n:], p.clips[p.clip][p.pos:])
		n += k
		p.pos += k
		if p.pos == len(p.clips[p.clip]) {
			p.clip++
			p.pos = 0
		}
	}
	clear(dst[n:])
	// Skip clips left empty, so a sequence that ends on a frame boundary
	// reports it on this tick and not one silent frame later.
	for p.clip < len(p.clips) && len(p.clips[p.clip]) == 0 {
		p.clip++
	}
	ended = p.clip == len(p.clips) && (!p.loop || p.total == 0)
	return n > 0, ended
}

// Play makes the participant hear clips, 48 kHz mono, back to back; with
// loop, over and over until replaced. It replaces whatever the input's
// player was playing or about to play. While the input is isolated the
// clips are all it hears; in the meeting they are added over its mix.
//
// The clips' samples are not copied: they must not be modified until done
// is called. done, which may be nil, is called exactly once (see the player
// comment above): from the mixer's tick goroutine, so it must not block and
// must not call back into the Mixer except Play, StopPlay and SetInMeeting.
// Play on a removed input fails with ErrUnknownInput and never calls done.
func (in *Input) Play(clips [][]int16, loop bool, done func()) error {
	p := &player{clips: slices.Clone(clips), loop: loop, done: done}
	for _, c := range clips {
		p.total += len(c)
	}
	in.playMu.Lock()
	defer in.playMu.Unlock()
	if in.playClosed {
		return fmt.Errorf("%w: %s was removed", ErrUnknownInput, in.id)
	}
	p.superseded = in.nextPlay
	in.nextPlay = p
	in.playPending.Store(true)
	return nil
}

// StopPlay stops the input's player; the done of what it played is called
// on the next tick.
func (in *Input) StopPlay() error {
	return in.Play(nil, false, nil)
}

// playerFrame picks up a pending request and reads the input's player into
// dst. It reports whether dst holds audio. A request that ended is left in
// in.ended, for its done to be called after the frame was sent.
func (in *Input) playerFrame(dst []int16) bool {
	if in.playPending.Load() {
		in.playMu.Lock()
		next := in.nextPlay
		in.nextPlay = nil
		in.playPending.Store(false)
		in.playMu.Unlock()
		if next != nil {
			if in.play != nil {
				in.play.finish()
			}
			// Requests replaced before they started end now, unplayed.
			next.superseded.finish()
			next.superseded = nil
			in.play = next
		}
	}
	if in.play == nil {
		return false
	}
	audio, ended := in.play.read(dst)
	if ended {
		in.ended = in.play
		in.play = nil
	}
	return audio
}

// closePlayer refuses further requests and returns every request not yet
// finished, for Remove and Close to finish once no tick can use them.
func (in *Input) closePlayer() (playing, pending *player) {
	in.playMu.Lock()
	in.playClosed = true
	pending = in.nextPlay
	in.nextPlay = nil
	in.playPending.Store(false)
	in.playMu.Unlock()
	playing = in.play
	in.play = nil
	return playing, pending
}
