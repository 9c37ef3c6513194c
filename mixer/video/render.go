package video

import (
	"vmrd/internal/codec"
	"vmrd/mixer/layout"
)

// fill paints a rectangle of f (coordinates even).
func fill(f *codec.Frame, x, y, w, h int, c yuv) {
	if w <= 0 || h <= 0 {
		return
	}
	s := f.Sub(x, y, w, h)
	s.Fill(c.y, c.u, c.v)
}

// drawPicture scales src into the rectangle r of canvas: cropped to fill
// the cell, or fitted whole with black bars. Only libyuv touches pixels.
func drawPicture(canvas *codec.Frame, r layout.Rect, src *codec.Frame, fit bool) error {
	sw, sh := src.Width, src.Height
	if !fit {
		// Crop the source to the cell's shape, centred.
		s := *src
		if sw*r.H > sh*r.W { // source wider than the cell
			cw := max(even(sh*r.W/r.H), 2)
			s = src.Sub((sw-cw)/2, 0, cw, sh)
		} else if sw*r.H < sh*r.W {
			ch := max(even(sw*r.H/r.W), 2)
			s = src.Sub(0, (sh-ch)/2, sw, ch)
		}
		dst := canvas.Sub(r.X, r.Y, r.W, r.H)
		return codec.Scale(&dst, &s)
	}
	x, y, w, h := r.X, r.Y, r.W, r.H
	if sw*r.H > sh*r.W { // letterbox: bars above and below
		h = min(max(even(r.W*sh/sw), 2), r.H)
		y = r.Y + ((r.H-h)/2)&^1
		fill(canvas, r.X, r.Y, r.W, y-r.Y, black)
		fill(canvas, r.X, y+h, r.W, r.Y+r.H-(y+h), black)
	} else if sw*r.H < sh*r.W { // pillarbox: bars left and right
		w = min(max(even(r.H*sw/sh), 2), r.W)
		x = r.X + ((r.W-w)/2)&^1
		fill(canvas, r.X, r.Y, x-r.X, r.H, black)
		fill(canvas, x+w, r.Y, r.X+r.W-(x+w), r.H, black)
	}
	dst := canvas.Sub(x, y, w, h)
	return codec.Scale(&dst, src)
}

// borderWidth is the highlight's thickness on an h-pixel-high canvas: 4
// pixels at 720p.
func borderWidth(h int) int { return min(max(even(h/180), 2), 8) }

// drawBorder frames the rectangle r with a t-pixel border inside it.
func drawBorder(f *codec.Frame, r layout.Rect, t int, c yuv) {
	if r.W <= 2*t || r.H <= 2*t {
		return
	}
	fill(f, r.X, r.Y, r.W, t, c)
	fill(f, r.X, r.Y+r.H-t, r.W, t, c)
	fill(f, r.X, r.Y+t, t, r.H-2*t, c)
	fill(f, r.X+r.W-t, r.Y+t, t, r.H-2*t, c)
}

// drawLabel puts name in the bottom-left corner of r, inside a border of
// width inset, when it fits.
func (c *textCache) drawLabel(f *codec.Frame, r layout.Rect, inset int, name string) {
	if name == "" || c.failed {
		return
	}
	margin := max(even(r.H/40), 4) + inset
	l := c.label(name, labelPx(r.H), r.W-2*margin)
	if l == nil || l.w > r.W-2*margin || l.h > r.H/2 {
		return
	}
	l.draw(f, r.X+margin, r.Y+r.H-margin-l.h)
}
