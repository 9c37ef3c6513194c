package video

import (
	"slices"
	"time"

	"vmrd/mixer/layout"
)

func (m *Mixer) tick() {
	now := m.cfg.Now()
	m.tickNo++
	m.stats.ticks.Add(1)
	m.refresh()

	for _, in := range m.inputs {
		if in.slot.take() {
			in.gen++
		}
		speaking := false
		if in.visible && in.slate == "" {
			if in.speakFn != nil {
				speaking = in.speakFn()
			} else {
				speaking = in.speaking.Load()
			}
		}
		m.speakers.Observe(in, speaking, now)
	}
	m.speakers.Step(now)
	var active *Input
	if a, ok := m.speakers.Active(now); ok && m.tlay.Len() > 1 {
		active = a
	}

	m.computeViews()
	m.regroup(now)
	m.askSenders(now)

	ts := rtpTime(now.Sub(m.start))
	clear(m.drawnCells)
	m.drawnCells = m.drawnCells[:0]
	encoders := 0
	for _, g := range m.groups {
		m.render(g, active)
		m.encode(g, now, ts)
		if g.enc != nil {
			encoders++
		}
	}
	m.stats.groups.Store(int64(len(m.groups)))
	m.stats.encoders.Store(int64(encoders))
}

// rtpTime is d on the 90 kHz RTP video clock (RFC 3551 section 5), in
// integers so that it neither drifts nor overflows in a long meeting.
func rtpTime(d time.Duration) uint32 {
	sec, rem := int64(d/time.Second), int64(d%time.Second)
	return uint32(sec*90000 + rem*90000/int64(time.Second))
}

// refresh copies the control state when it changed.
func (m *Mixer) refresh() {
	v := m.version.Load()
	if v == m.tickVer {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tickVer = m.version.Load()
	m.inputs = append(m.inputs[:0], m.list...)
	clear(m.inputs[len(m.inputs):cap(m.inputs)]) // let removed inputs go
	m.tlay = m.lay
	m.visible = m.visible[:0]
	clear(m.pins)
	for _, in := range m.inputs {
		in.name, in.visible, in.slate, in.pin, in.speakFn = in.cName, in.cVisible, in.cSlate, in.cPin, in.cSpeakFn
		if in.visible && in.slate == "" {
			m.visible = append(m.visible, in)
			if in.pin >= 0 {
				m.pins[in] = in.pin
			}
		}
	}
	clear(m.visible[len(m.visible):cap(m.visible)])
}

// nextView returns the scratch view after the committed ones.
func (m *Mixer) nextView() *view {
	if m.nviews == len(m.views) {
		m.views = append(m.views, view{})
	}
	v := &m.views[m.nviews]
	v.slate, v.used = "", false
	v.cells = v.cells[:0]
	return v
}

// commitView keeps the scratch view unless an equal one exists, and
// returns the index of the one to use.
func (m *Mixer) commitView() int {
	v := &m.views[m.nviews]
	for i := range m.nviews {
		if m.views[i].equal(v) {
			return i
		}
	}
	m.nviews++
	return m.nviews - 1
}

func (m *Mixer) meetingView(viewer *Input, lay *layout.Layout) int {
	v := m.nextView()
	v.lay = lay
	v.cells = layout.Select(lay, layout.Selection[*Input]{
		Participants: m.visible,
		Speakers:     m.speakers.Recent(),
		Pins:         m.pins,
		Viewer:       viewer,
	}, v.cells)
	return m.commitView()
}

func (m *Mixer) slateView(text string) int {
	v := m.nextView()
	v.slate, v.lay = text, m.tlay
	return m.commitView()
}

// computeViews gives every input its view. The view of nobody in
// particular (base) is what everyone not on screen sees (see
// layout.Select); only the few who are on screen need their own.
func (m *Mixer) computeViews() {
	m.nviews = 0
	base := -1
	for _, in := range m.inputs {
		switch {
		case in.tile:
			in.view = -1 // sees nothing
			continue
		case in.slate != "":
			in.view = m.slateView(in.slate)
		case in.lay != nil:
			// An output with a layout of its own (a stream's audience
			// view) sees everyone visible in it.
			in.view = m.meetingView(in, in.lay)
		default:
			if base < 0 {
				base = m.meetingView(nil, m.tlay)
			}
			if slices.Contains(m.views[base].cells, in) {
				in.view = m.meetingView(in, m.tlay)
			} else {
				in.view = base
			}
		}
		m.views[in.view].used = true
	}
}

// regroup puts every input into the encoder group of its view and output.
// Groups follow their members: the existing group that holds most of the
// inputs of a new (view, output) pair keeps serving them, with the new
// view, so a speaker change re-renders canvases instead of replacing
// encoders. Inputs that change group make their new group send a keyframe.
func (m *Mixer) regroup(now time.Time) {
	m.keys = m.keys[:0]
	for _, in := range m.inputs {
		if in.tile {
			continue
		}
		k := gkey{view: in.view, out: in.key}
		i := slices.Index(m.keys, k)
		if i < 0 {
			i = len(m.keys)
			m.keys = append(m.keys, k)
		}
		in.keyIdx = i
	}
	nk, ng := len(m.keys), len(m.groups)
	m.votes = slices.Grow(m.votes[:0], nk*ng)[:nk*ng]
	clear(m.votes)
	for i, g := range m.groups {
		g.idx, g.claimed = i, false
	}
	for _, in := range m.inputs {
		if in.group != nil {
			m.votes[in.group.idx*nk+in.keyIdx]++
		}
	}
	m.pairs = m.pairs[:0]
	for i, n := range m.votes {
		if n > 0 {
			m.pairs = append(m.pairs, vote{g: i / nk, k: i % nk, n: int(n)})
		}
	}
	// Most shared members first; ties in a fixed order.
	slices.SortFunc(m.pairs, func(a, b vote) int {
		if a.n != b.n {
			return b.n - a.n
		}
		if a.g != b.g {
			return a.g - b.g
		}
		return a.k - b.k
	})
	m.groupFor = slices.Grow(m.groupFor[:0], nk)[:nk]
	clear(m.groupFor)
	for _, p := range m.pairs {
		if g := m.groups[p.g]; m.groupFor[p.k] == nil && !g.claimed {
			g.claimed = true
			m.groupFor[p.k] = g
		}
	}
	for k := range m.groupFor {
		if m.groupFor[k] == nil {
			g := m.newGroup(m.keys[k].out)
			g.claimed = true
			m.groupFor[k] = g
		}
		v := &m.views[m.keys[k].view]
		m.groupFor[k].setView(v, v.lay)
	}
	for _, in := range m.inputs {
		if in.tile {
			continue
		}
		g := m.groupFor[in.keyIdx]
		if in.group == g {
			continue
		}
		if in.group != nil {
			in.group.removeMember(in)
		}
		g.members = append(g.members, in)
		in.group = g
		g.joined = true
	}
	kept := m.groups[:0]
	for _, g := range m.groups {
		if g.claimed {
			kept = append(kept, g)
		} else {
			m.releaseGroup(g) // every member moved on
		}
	}
	clear(m.groups[len(kept):])
	m.groups = kept
}

// askSenders asks participants' senders for a keyframe when they newly
// appear in a view or their largest cell grew, so the picture is sharp at
// once rather than after the sender's next keyframe.
func (m *Mixer) askSenders(now time.Time) {
	for _, in := range m.inputs {
		in.area = 0
	}
	for i := range m.nviews {
		v := &m.views[i]
		if !v.used || v.slate != "" {
			continue
		}
		for c, src := range v.cells {
			if src != nil {
				src.area = max(src.area, v.lay.Cells[c].Area())
			}
		}
	}
	for _, in := range m.inputs {
		if in.area > 0 && (in.lastArea == 0 || in.area > in.lastArea*growFactor) {
			in.wantSrc = true
		}
		in.lastArea = in.area
		if in.area == 0 {
			in.wantSrc = false
		}
		if !in.wantSrc || in.out.RequestKeyframe == nil || (!in.lastSrc.IsZero() && now.Sub(in.lastSrc) < sourceKeyGap) {
			continue
		}
		in.wantSrc = false
		in.lastSrc = now
		m.stats.keyframesAsked.Add(1)
		m.safeRequestKeyframe(in)
	}
}
