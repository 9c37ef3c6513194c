package layout

// Selection is what decides who fills the cells of one participant's view.
// ID is whatever identifies a participant to the caller (a string in
// tests, a pointer in the compositor); its zero value means "nobody".
type Selection[ID comparable] struct {
	// Participants are the room's visible participants in the order they
	// joined.
	Participants []ID
	// Speakers are recent speakers, most recent first (SpeakerTracker.Recent).
	// Speakers that are not in Participants are ignored.
	Speakers []ID
	// Pins puts a participant into a cell, by index. Pins of participants
	// that are not visible, and pins beyond the layout's cells, are
	// ignored; when two participants pin one cell, the earlier joiner
	// gets it.
	Pins map[ID]int
	// Viewer is left out of the view (nobody sees themselves). The zero ID
	// gives the view of someone who is not among the participants.
	Viewer ID
}

// Select fills out[i] with who is shown in cell i of l, the zero ID for an
// empty cell, and returns out (grown to l.Len() cells if needed, so a
// caller that reuses out does not allocate):
//
//  1. pinned participants go into their cells;
//  2. main cells, in cell order, get the most recent speakers;
//  3. the other cells get the next speakers, then everyone else in join
//     order;
//  4. cells left over stay empty.
//
// The viewer is never placed, not even in a cell they are pinned to (which
// is then filled like any other). Because every step walks the same fixed
// order, the view of a viewer who is not shown in the view of nobody
// (Viewer zero) is exactly that view: a compositor computes it once and
// only recomputes it for the few viewers it shows.
func Select[ID comparable](l *Layout, s Selection[ID], out []ID) []ID {
	var zero ID
	n := len(l.Cells)
	if cap(out) < n {
		out = make([]ID, n)
	}
	out = out[:n]
	clear(out)
	placed := 0
	if len(s.Pins) > 0 {
		for _, p := range s.Participants {
			if p == zero || p == s.Viewer {
				continue
			}
			if c, ok := s.Pins[p]; ok && c >= 0 && c < n && out[c] == zero {
				out[c] = p
				placed++
			}
		}
	}
	if placed == n {
		return out
	}
	// next walks the candidates in order: speakers that are visible, then
	// participants by join order, skipping the viewer and anyone placed.
	si, pi := 0, 0
	next := func() (ID, bool) {
		for si < len(s.Speakers) {
			p := s.Speakers[si]
			si++
			if p != zero && p != s.Viewer && !contains(out, p) && contains(s.Participants, p) {
				return p, true
			}
		}
		for pi < len(s.Participants) {
			p := s.Participants[pi]
			pi++
			if p != zero && p != s.Viewer && !contains(out, p) {
				return p, true
			}
		}
		return zero, false
	}
	for pass := range 2 {
		main := pass == 0
		for i, c := range l.Cells {
			if c.Main != main || out[i] != zero {
				continue
			}
			p, ok := next()
			if !ok {
				return out
			}
			out[i] = p
		}
	}
	return out
}

func contains[ID comparable](s []ID, id ID) bool {
	for _, x := range s {
		if x == id {
			return true
		}
	}
	return false
}
