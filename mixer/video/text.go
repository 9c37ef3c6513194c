package video

import (
	"fmt"
	"image"
	"math"
	"strings"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/math/fixed"

	"vmrd/internal/codec"
)

// Text is drawn from bitmaps rendered once per name (or slate text) and
// size and then cached: the per-tick cost of a label is one pass over its
// own pixels, never over the canvas.

const (
	labelBoxAlpha = 0.6 // opacity of the dark box behind a name
	labelKeep     = 102 // 256 * (1 - labelBoxAlpha): what shows through the box
	labelBoxY     = 16  // its luma (black)
	textY         = 235 // white text
	minLabelPx    = 10
	maxLabelPx    = 28
	minSlatePx    = 10
	// Cache bounds. A room has few names and sizes; when a cache is full it
	// is simply emptied (renders are cheap next to a call's lifetime).
	maxLabels = 512
	maxSlates = 16
)

var (
	fontOnce sync.Once
	goFont   *opentype.Font
	fontErr  error
)

func parsedFont() (*opentype.Font, error) {
	fontOnce.Do(func() { goFont, fontErr = opentype.Parse(goregular.TTF) })
	return goFont, fontErr
}

// label is a name rendered for blending onto a canvas: for each pixel of
// its box, newY = (Y*mul + add) >> 8 blends the dark box and the
// anti-aliased white text in one step; chroma inside the box is pulled
// towards grey by the box's opacity.
type label struct {
	w, h     int // even
	mul, add []uint16
}

type labelKey struct {
	name       string
	size, maxW int
}

type slateKey struct {
	text string
	w, h int
}

// textCache is owned by the tick goroutine.
type textCache struct {
	faces  map[int]font.Face
	labels map[labelKey]*label
	slates map[slateKey]*codec.Frame
	failed bool // the font could not be loaded: no text at all
}

func newTextCache() *textCache {
	return &textCache{faces: make(map[int]font.Face), labels: make(map[labelKey]*label), slates: make(map[slateKey]*codec.Frame)}
}

func (c *textCache) face(px int) font.Face {
	if f, ok := c.faces[px]; ok {
		return f
	}
	fnt, err := parsedFont()
	if err != nil {
		c.failed = true
		return nil
	}
	f, err := opentype.NewFace(fnt, &opentype.FaceOptions{Size: float64(px), DPI: 72, Hinting: font.HintingFull})
	if err != nil {
		c.failed = true
		return nil
	}
	c.faces[px] = f
	return f
}

// labelPx is the text size for a cell of height h.
func labelPx(h int) int { return min(max(h/11, minLabelPx), maxLabelPx) }

// label returns the bitmap of name at px pixels, shortened with an ellipsis
// to fit maxW, or nil when nothing fits.
func (c *textCache) label(name string, px, maxW int) *label {
	k := labelKey{name, px, maxW}
	if l, ok := c.labels[k]; ok {
		return l
	}
	l := c.renderLabel(name, px, maxW)
	if len(c.labels) >= maxLabels {
		clear(c.labels)
	}
	c.labels[k] = l
	return l
}

func (c *textCache) renderLabel(name string, px, maxW int) *label {
	face := c.face(px)
	if face == nil || strings.TrimSpace(name) == "" {
		return nil
	}
	met := face.Metrics()
	ascent, descent := met.Ascent.Ceil(), met.Descent.Ceil()
	padX, padY := max(px/3, 2), max(px/6, 1)
	text := fitText(face, name, maxW-2*padX)
	if text == "" {
		return nil
	}
	tw := font.MeasureString(face, text).Ceil()
	w, h := even(tw+2*padX), even(ascent+descent+2*padY)
	mask := image.NewAlpha(image.Rect(0, 0, w, h))
	d := font.Drawer{Dst: mask, Src: image.Opaque, Face: face, Dot: fixed.P(padX, padY+ascent)}
	d.DrawString(text)
	l := &label{w: w, h: h, mul: make([]uint16, w*h), add: make([]uint16, w*h)}
	for i, a8 := range mask.Pix {
		a := float64(a8) / 255
		l.mul[i] = uint16(math.Round(256 * (1 - labelBoxAlpha) * (1 - a)))
		l.add[i] = uint16(math.Round(256 * (labelBoxY*labelBoxAlpha*(1-a) + textY*a)))
	}
	return l
}

// fitText shortens s with an ellipsis until it is at most maxW pixels wide.
func fitText(face font.Face, s string, maxW int) string {
	if maxW <= 0 {
		return ""
	}
	if font.MeasureString(face, s).Ceil() <= maxW {
		return s
	}
	r := []rune(s)
	for len(r) > 0 {
		r = r[:len(r)-1]
		t := strings.TrimRight(string(r), " ") + "…"
		if font.MeasureString(face, t).Ceil() <= maxW {
			return t
		}
	}
	return ""
}

// draw blends the label onto f with its top-left corner at (x, y), both
// even. The label must fit inside f.
func (l *label) draw(f *codec.Frame, x, y int) {
	for r := range l.h {
		row := f.Y[(y+r)*f.StrideY+x:][:l.w]
		mul, add := l.mul[r*l.w:][:l.w], l.add[r*l.w:][:l.w]
		for i, v := range row {
			row[i] = byte((uint32(v)*uint32(mul[i]) + uint32(add[i])) >> 8)
		}
	}
	// Chroma: a uniform pull towards grey, so the box is neutral.
	const keep = labelKeep
	const grey = 128 * (256 - keep)
	cx, cy, cw := x/2, y/2, l.w/2
	for r := range l.h / 2 {
		off := (cy+r)*f.StrideUV + cx
		u, v := f.U[off:][:cw], f.V[off:][:cw]
		for i := range u {
			u[i] = byte((uint32(u[i])*keep + grey) >> 8)
			v[i] = byte((uint32(v[i])*keep + grey) >> 8)
		}
	}
}

// slate returns a w x h picture of text (lines split at "\n") centred on a
// dark background, rendered on first use.
func (c *textCache) slate(text string, w, h int) *codec.Frame {
	k := slateKey{text, w, h}
	if f, ok := c.slates[k]; ok {
		return f
	}
	f := c.renderSlate(text, w, h)
	if len(c.slates) >= maxSlates {
		clear(c.slates)
	}
	c.slates[k] = f
	return f
}

func (c *textCache) renderSlate(text string, w, h int) *codec.Frame {
	f := codec.NewFrame(w, h)
	f.Fill(slateBG.y, slateBG.u, slateBG.v)
	lines := strings.Split(strings.TrimSpace(text), "\n")
	// Shrink the text until the widest line fits with a margin.
	px := max(h/16, minSlatePx)
	var face font.Face
	for {
		face = c.face(px)
		if face == nil {
			return f
		}
		widest := 0
		for _, ln := range lines {
			widest = max(widest, font.MeasureString(face, strings.TrimSpace(ln)).Ceil())
		}
		if widest <= w*9/10 || px <= minSlatePx {
			break
		}
		px = max(px*9/10, minSlatePx)
	}
	met := face.Metrics()
	lineH := (met.Ascent + met.Descent).Ceil() * 13 / 10
	top := (h-lineH*len(lines))/2 + met.Ascent.Ceil()
	mask := image.NewAlpha(image.Rect(0, 0, w, h))
	for i, ln := range lines {
		ln = strings.TrimSpace(ln)
		tw := font.MeasureString(face, ln).Ceil()
		d := font.Drawer{Dst: mask, Src: image.Opaque, Face: face, Dot: fixed.P((w-tw)/2, top+i*lineH)}
		d.DrawString(ln)
	}
	// Once per slate, so a plain loop over the canvas is fine here.
	for y := range h {
		for x := range w {
			a := uint32(mask.Pix[y*mask.Stride+x])
			p := &f.Y[y*f.StrideY+x]
			*p = byte((uint32(*p)*(255-a) + textY*a) / 255)
		}
	}
	for y := range h / 2 {
		for x := range w / 2 {
			o := 2*y*mask.Stride + 2*x
			a := (uint32(mask.Pix[o]) + uint32(mask.Pix[o+1]) + uint32(mask.Pix[o+mask.Stride]) + uint32(mask.Pix[o+mask.Stride+1])) / 4
			u, v := &f.U[y*f.StrideUV+x], &f.V[y*f.StrideUV+x]
			*u = byte((uint32(*u)*(255-a) + 128*a) / 255)
			*v = byte((uint32(*v)*(255-a) + 128*a) / 255)
		}
	}
	return f
}

func even(v int) int { return (v + 1) &^ 1 }

// yuv is a colour in BT.601 limited range.
type yuv struct{ y, u, v byte }

func (c yuv) String() string { return fmt.Sprintf("yuv(%d,%d,%d)", c.y, c.u, c.v) }

var (
	black     = yuv{16, 128, 128}
	emptyCell = yuv{28, 128, 128} // a cell nobody fills
	noPicture = yuv{48, 128, 128} // a participant who sends no video (yet)
	nameTile  = yuv{70, 133, 104} // a participant without video: dark teal, RGB(24,80,72)
	slateBG   = yuv{43, 136, 123} // dark slate blue, RGB(24,32,48)
	highlight = yuv{178, 35, 170} // amber, RGB(255,191,0)
)
