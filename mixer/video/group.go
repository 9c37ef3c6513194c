package video

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"vmrd/internal/codec"
	"vmrd/internal/media"
	"vmrd/mixer/layout"
)

// packetizer is media.H264Packetizer or media.VP8Packetizer.
type packetizer interface {
	Packetize(frame []byte) ([][]byte, error)
}

// cellState is what a canvas cell shows, to skip redrawing it.
type cellState struct {
	valid     bool
	src       *Input
	gen       uint64
	highlight bool
	name      string
}

// group is one encoder group: the participants that see the same view with
// the same output settings, one canvas and one encoder. It is owned by the
// tick (and by Remove and Close, which hold the tick lock).
type group struct {
	idx     int
	claimed bool
	key     outKey
	canvas  *codec.Frame
	enc     codec.VideoEncoder
	pk      packetizer
	members []*Input

	// The view this tick.
	slate string
	lay   *layout.Layout
	// overlap: cells of lay overlap (picture in picture), so every cell is
	// drawn every time.
	overlap bool
	cells   []*Input

	// What the canvas shows.
	drawnValid bool
	drawnSlate string
	drawnLay   *layout.Layout
	rects      []layout.Rect
	cellViews  []codec.Frame // the canvas's Sub view of each rect
	drawn      []cellState
	border     int
	changed    bool      // since the last encode
	lastChange time.Time // last encode of a changed canvas
	// mbAge counts, for each 16x16 macroblock of the canvas (row by row,
	// mbCols to a row), the frames encoded since it was last drawn: 0
	// means drawn since the last encode. Encoders that can skip unchanged
	// macroblocks (codec.ActiveMapEncoder) are told which these are.
	mbAge     []uint8
	mbCols    int
	activeMap []byte

	joined     bool // a member joined: send a keyframe now
	wantKey    bool // a receiver asked for a keyframe
	lastForced time.Time
	lastEncode time.Time
	bitrate    int
	retryAt    time.Time
	errLogged  bool
}

func (m *Mixer) newGroup(k outKey) *group {
	var g *group
	for i, f := range m.freeGroups {
		if f.key == k {
			g = f
			m.freeGroups = slices.Delete(m.freeGroups, i, i+1)
			break
		}
	}
	if g == nil {
		if n := len(m.freeGroups); n > 0 && n >= maxFreeGroups {
			m.freeGroups = slices.Delete(m.freeGroups, 0, 1)
		}
		g = &group{key: k, canvas: codec.NewFrame(k.w, k.h)}
	}
	*g = group{key: k, canvas: g.canvas, members: g.members[:0], cells: g.cells[:0], rects: g.rects[:0],
		cellViews: g.cellViews[:0], drawn: g.drawn[:0], mbAge: g.mbAge[:0], activeMap: g.activeMap[:0],
		border: borderWidth(k.h), idx: len(m.groups)}
	cols, rows := codec.MacroblockGrid(k.w, k.h)
	g.mbCols = cols
	g.mbAge = slices.Grow(g.mbAge, cols*rows)[:cols*rows]
	clear(g.mbAge) // nothing encoded yet: all of it is new
	g.activeMap = slices.Grow(g.activeMap, cols*rows)[:cols*rows]
	m.groups = append(m.groups, g)
	return g
}

// maxFreeGroups bounds the pool of closed groups kept for their canvases.
const maxFreeGroups = 8

func (g *group) setView(v *view, lay *layout.Layout) {
	g.slate = v.slate
	if g.lay != lay {
		g.overlap = lay.Overlapping()
	}
	g.lay = lay
	g.cells = append(g.cells[:0], v.cells...)
}

func (g *group) removeMember(in *Input) {
	if i := slices.Index(g.members, in); i >= 0 {
		g.members = slices.Delete(g.members, i, i+1)
	}
}

// dropGroup removes an empty group.
func (m *Mixer) dropGroup(g *group) {
	if i := slices.Index(m.groups, g); i >= 0 {
		m.groups = slices.Delete(m.groups, i, i+1)
	}
	m.releaseGroup(g)
	encoders := 0
	for _, g := range m.groups {
		if g.enc != nil {
			encoders++
		}
	}
	m.stats.groups.Store(int64(len(m.groups)))
	m.stats.encoders.Store(int64(encoders))
}

// releaseGroup closes the group's encoder and keeps the group for reuse.
func (m *Mixer) releaseGroup(g *group) {
	m.closeEncoder(g)
	clear(g.members)
	g.members = g.members[:0]
	clear(g.cells)
	clear(g.drawn)
	g.pk = nil
	m.freeGroups = append(m.freeGroups, g)
}

func (m *Mixer) closeEncoder(g *group) {
	if g.enc == nil {
		return
	}
	enc := g.enc
	g.enc = nil
	defer func() {
		if r := recover(); r != nil {
			m.stats.encodeErrors.Add(1)
			m.log.Warn("video encoder panicked on close", "panic", fmt.Sprint(r))
		}
	}()
	if err := enc.Close(); err != nil {
		m.log.Warn("close video encoder", "error", err)
	}
}

// render brings the group's canvas up to date with its view, redrawing
// only cells whose source, picture or decoration changed.
func (m *Mixer) render(g *group, active *Input) {
	if g.lay != nil && g.lay.Len() < 2 {
		active = nil // one picture: nobody to tell the speaker from
	}
	if g.slate != "" {
		if !g.drawnValid || g.drawnSlate != g.slate {
			if err := g.canvas.CopyFrom(m.text.slate(g.slate, g.key.w, g.key.h)); err == nil {
				g.drawnValid, g.drawnSlate, g.drawnLay = true, g.slate, nil
				g.changed = true
				clear(g.mbAge)
			}
		}
		return
	}
	if !g.drawnValid || g.drawnSlate != "" || g.drawnLay != g.lay {
		g.canvas.Fill(emptyCell.y, emptyCell.u, emptyCell.v)
		g.drawnValid, g.drawnSlate, g.drawnLay = true, "", g.lay
		g.rects, g.cellViews = g.rects[:0], g.cellViews[:0]
		for _, c := range g.lay.Cells {
			r := c.Rect(g.key.w, g.key.h)
			g.rects = append(g.rects, r)
			g.cellViews = append(g.cellViews, g.canvas.Sub(r.X, r.Y, r.W, r.H))
		}
		g.drawn = slices.Grow(g.drawn[:0], len(g.rects))[:len(g.rects)]
		clear(g.drawn)
		for i := range g.drawn {
			g.drawn[i].valid = true // the fill drew every cell empty
		}
		g.changed = true
		clear(g.mbAge)
	}
	for i, src := range g.cells {
		want := cellState{valid: true, src: src}
		if src != nil {
			want.gen, want.highlight, want.name = src.gen, src == active, src.name
		}
		if !g.overlap && g.drawn[i] == want {
			continue
		}
		m.drawCell(g, i, src, want.highlight)
		g.drawn[i] = want
		g.changed = true
		g.touch(g.rects[i])
	}
}

// touch marks the macroblocks under r as drawn.
func (g *group) touch(r layout.Rect) {
	if r.Empty() {
		return
	}
	rows := len(g.mbAge) / g.mbCols
	c0, c1 := r.X/16, min((r.X+r.W+15)/16, g.mbCols)
	r0, r1 := r.Y/16, min((r.Y+r.H+15)/16, rows)
	for row := r0; row < r1; row++ {
		clear(g.mbAge[row*g.mbCols+c0 : row*g.mbCols+c1])
	}
}

// refineFrames: a macroblock whose picture stopped changing stays active
// for this many more encoded frames, so that a rate-controlled encoder
// sharpens the still picture; after that it is skipped. One frame without
// a change (a sender's frame arriving a tick late) is skipped at once.
const refineFrames = 6

// setActiveMap tells an encoder that can skip unchanged macroblocks which
// ones to code: those drawn since the last encoded frame and those still
// being refined. It returns how many it skips; if the encoder refuses the
// map, it codes everything.
func (m *Mixer) setActiveMap(g *group, enc codec.ActiveMapEncoder) (skipped int) {
	for i, a := range g.mbAge {
		if a == 0 || (a >= 2 && a <= refineFrames) {
			g.activeMap[i] = 1
		} else {
			g.activeMap[i] = 0
			skipped++
		}
	}
	var am []byte
	if skipped > 0 {
		am = g.activeMap
	}
	if err := enc.SetActiveMap(am); err != nil {
		m.stats.encodeErrors.Add(1)
		// A stale map could skip a cell redrawn this tick.
		_ = enc.SetActiveMap(nil)
		return 0
	}
	return skipped
}

// ageMacroblocks counts one more encoded frame for every macroblock. A
// keyframe counts as a redraw of everything: it is coarse (capped at a few
// frames' worth of bits), so every still part gets its refinement frames
// after it.
func (g *group) ageMacroblocks(key bool) {
	if key {
		clear(g.mbAge)
	}
	for i, a := range g.mbAge {
		if a < 255 {
			g.mbAge[i] = a + 1
		}
	}
}

// drawnCell records a cell drawn this tick, so that another canvas showing
// the same picture at the same size copies it instead of scaling again (in
// 1:7 most canvases show the same speaker in the same main cell).
type drawnCell struct {
	st     cellState
	w, h   int
	fit    bool
	border int
	from   *codec.Frame // a Sub view of the canvas that has it
}

func (m *Mixer) drawCell(g *group, i int, src *Input, highlighted bool) {
	r := g.rects[i]
	if r.Empty() {
		return
	}
	c := g.canvas
	if src == nil {
		fill(c, r.X, r.Y, r.W, r.H, emptyCell)
		return
	}
	fit := g.lay.Cells[i].Fit
	st := cellState{valid: true, src: src, gen: src.gen, highlight: highlighted, name: src.name}
	dst := c.Sub(r.X, r.Y, r.W, r.H)
	if !g.overlap {
		for j := range m.drawnCells {
			d := &m.drawnCells[j]
			if d.st == st && d.w == r.W && d.h == r.H && d.fit == fit && d.border == g.border && dst.CopyFrom(d.from) == nil {
				return
			}
		}
	}
	defer func() {
		if !g.overlap {
			m.drawnCells = append(m.drawnCells, drawnCell{st: st, w: r.W, h: r.H, fit: fit, border: g.border, from: &g.cellViews[i]})
		}
	}()
	if f := src.slot.current(); f == nil && src.tile {
		fill(c, r.X, r.Y, r.W, r.H, nameTile)
	} else if f == nil {
		fill(c, r.X, r.Y, r.W, r.H, noPicture)
	} else if err := drawPicture(c, r, f, fit); err != nil {
		fill(c, r.X, r.Y, r.W, r.H, noPicture)
	}
	inset := 0
	if highlighted {
		inset = g.border
		drawBorder(c, r, inset, highlight)
	}
	m.text.drawLabel(c, r, inset, src.name)
}

// encode encodes the group's canvas and sends it to every member.
func (m *Mixer) encode(g *group, now time.Time, ts uint32) {
	for _, in := range g.members {
		if in.wantKey.Swap(false) {
			g.wantKey = true
		}
	}
	// A member that just joined cannot decode anything before a keyframe,
	// so joins are not rate limited (the speaker tracker's hold keeps them
	// rare); receiver requests are, and wait for the gap to pass rather
	// than being dropped.
	force := g.joined || (g.wantKey && (g.lastForced.IsZero() || now.Sub(g.lastForced) >= keyframeGap))
	interval := m.cfg.KeyframeInterval
	if g.key.keyIvl > 0 {
		interval = g.key.keyIvl
	}
	periodic := interval > 0 && now.Sub(g.lastForced) >= interval
	still := !g.changed && now.Sub(g.lastChange) >= stillTrail
	if !force && !periodic && still && !g.key.raw && !g.lastEncode.IsZero() && now.Sub(g.lastEncode) < idleRefresh {
		return // a still picture: nothing new to send yet
	}
	if g.enc == nil && !m.openEncoder(g, now) {
		return
	}
	if force || periodic {
		g.joined, g.wantKey = false, false
		g.lastForced = now
		m.stats.keyframesForced.Add(1)
	}
	m.adjustBitrate(g)
	skipped, mapped := 0, false
	if am, ok := g.enc.(codec.ActiveMapEncoder); ok {
		skipped, mapped = m.setActiveMap(g, am), true
	}

	start := time.Now()
	out, key, err := safeEncode(g.enc, g.canvas, force || periodic)
	m.stats.encodeNanos.Add(uint64(time.Since(start)))
	g.lastEncode = now
	switch {
	case errors.Is(err, errEncoderPanic):
		m.stats.encodeErrors.Add(1)
		m.log.Error("video encoder panicked; making a new one", "codec", g.key.codec, "error", err)
		m.closeEncoder(g)
		g.retryAt = now.Add(encoderRetry)
		return
	case err != nil:
		m.stats.encodeErrors.Add(1)
		if !g.errLogged {
			g.errLogged = true
			m.log.Warn("video encode failed", "codec", g.key.codec, "error", err)
		}
		g.joined = g.joined || force
		return
	case len(out) == 0:
		m.stats.encoderDrops.Add(1)
		g.joined = g.joined || force
		return
	}
	if g.changed {
		g.lastChange = now
	}
	g.changed = false
	g.ageMacroblocks(key)
	if mapped {
		if key {
			skipped = 0 // keyframes code every macroblock
		}
		m.stats.mbSkipped.Add(uint64(skipped))
		m.stats.mbCoded.Add(uint64(len(g.mbAge) - skipped))
	}
	m.stats.framesEncoded.Add(1)
	payloads, err := g.pk.Packetize(out)
	if err != nil {
		m.stats.encodeErrors.Add(1)
		if !g.errLogged {
			g.errLogged = true
			m.log.Warn("video packetization failed", "codec", g.key.codec, "error", err)
		}
		return
	}
	for _, in := range g.members {
		m.safeWrite(in, payloads, ts, key)
	}
}

// openEncoder makes the group's encoder and packetizer, at most once per
// encoderRetry after a failure.
func (m *Mixer) openEncoder(g *group, now time.Time) bool {
	if !g.retryAt.IsZero() && now.Before(g.retryAt) {
		return false
	}
	k := g.key
	cfg := codec.VideoEncoderConfig{Width: k.w, Height: k.h, FPS: m.cfg.FPS, Bitrate: k.bitrate}
	var pk packetizer
	var err error
	switch {
	case k.raw:
		pk = &rawPacketizer{}
	case k.codec == codec.H264:
		if k.mode == media.H264ModeSingleNAL {
			cfg.MaxNALSize = k.mtu
		}
		pk, err = media.NewH264Packetizer(k.mtu, k.mode, true)
	default:
		pk, err = media.NewVP8Packetizer(k.mtu, uint16(m.tickNo))
	}
	var enc codec.VideoEncoder
	if err == nil {
		enc, err = safeNewEncoder(m.cfg.NewEncoder, k.codec, cfg)
	}
	if err != nil {
		m.stats.encodeErrors.Add(1)
		g.retryAt = now.Add(encoderRetry)
		if !g.errLogged {
			g.errLogged = true
			m.log.Warn("cannot make video encoder", "codec", k.codec, "size", fmt.Sprintf("%dx%d", k.w, k.h), "error", err)
		}
		return false
	}
	g.enc, g.pk, g.bitrate, g.retryAt = enc, pk, k.bitrate, time.Time{}
	g.joined = true // a new stream starts with a keyframe
	return true
}

// adjustBitrate follows the lowest receiver estimate of the group.
func (m *Mixer) adjustBitrate(g *group) {
	target := g.key.bitrate
	for _, in := range g.members {
		if r := int(in.remb.Load()); r > 0 && r < target {
			target = r
		}
	}
	target = max(target, MinBitrate)
	if d := target - g.bitrate; d == 0 || (float64(abs(d)) < bitrateStep*float64(g.bitrate) && target != g.key.bitrate) {
		return
	}
	if err := g.enc.SetBitrate(target); err != nil {
		m.stats.encodeErrors.Add(1)
		return
	}
	g.bitrate = target
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func safeNewEncoder(f func(codec.VideoCodec, codec.VideoEncoderConfig) (codec.VideoEncoder, error),
	c codec.VideoCodec, cfg codec.VideoEncoderConfig) (enc codec.VideoEncoder, err error) {
	defer func() {
		if r := recover(); r != nil {
			enc, err = nil, fmt.Errorf("encoder factory panicked: %v", r)
		}
	}()
	enc, err = f(c, cfg)
	if err == nil && enc == nil {
		err = fmt.Errorf("encoder factory returned no encoder")
	}
	return enc, err
}

// errEncoderPanic marks an encoder that panicked: it is replaced.
var errEncoderPanic = errors.New("video encoder panicked")

func safeEncode(enc codec.VideoEncoder, f *codec.Frame, force bool) (out []byte, key bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, key, err = nil, false, fmt.Errorf("%w: %v", errEncoderPanic, r)
		}
	}()
	return enc.Encode(f, force)
}

func (m *Mixer) safeWrite(in *Input, payloads [][]byte, ts uint32, key bool) {
	defer func() {
		if r := recover(); r != nil {
			m.sinkPanicked(in, r)
		}
	}()
	in.out.Sink.WriteVideo(payloads, ts, key)
}

func (m *Mixer) safeRequestKeyframe(in *Input) {
	defer func() {
		if r := recover(); r != nil {
			m.sinkPanicked(in, r)
		}
	}()
	in.out.RequestKeyframe()
}

func (m *Mixer) sinkPanicked(in *Input, r any) {
	m.stats.sinkPanics.Add(1)
	if !in.panicked {
		in.panicked = true
		in.log.Error("video sink panicked", "panic", fmt.Sprint(r))
	}
}

// rawPacketizer hands the encoded frame over whole, for outputs that are
// not RTP.
type rawPacketizer struct{ one [1][]byte }

func (p *rawPacketizer) Packetize(frame []byte) ([][]byte, error) {
	p.one[0] = frame
	return p.one[:], nil
}
