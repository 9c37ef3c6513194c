// Package layout holds the geometry of video layouts and the choice of who
// is shown in which cell. It is pure logic: the compositor (mixer/video)
// turns cells into pixels.
//
// Layouts carry Pexip's names: "1:7" is one large cell and seven small ones,
// "4:0" four equal cells. Cells are rectangles in fractions of the canvas,
// so one layout serves every canvas size; Cell.Rect maps a cell to even
// pixel coordinates (I420 chroma is subsampled 2x2).
package layout

import (
	"fmt"
	"math"
	"strings"
)

// MaxCells bounds the cells of one layout: 25:0 is the largest built-in,
// and a compositor renders every cell of every distinct view each tick.
const MaxCells = 64

// minCellSize is the smallest width or height of a cell, as a fraction of
// the canvas: below 1% (13 pixels of 1280) a cell shows nothing useful.
const minCellSize = 0.01

// eps absorbs rounding in fractions such as 6/7 + 1/7.
const eps = 1e-9

// Cell is one rectangle of a layout, in fractions of the canvas: X and Y
// of the top-left corner, W and H the size, all within [0, 1].
type Cell struct {
	X float64 `yaml:"x"`
	Y float64 `yaml:"y"`
	W float64 `yaml:"w"`
	H float64 `yaml:"h"`
	// Main cells show the most recent speakers; the others show the next
	// speakers and then the rest of the room in join order.
	Main bool `yaml:"main"`
	// Fit shows the whole picture with black bars (letterbox or
	// pillarbox); otherwise the picture is cropped to fill the cell.
	// Large cells whose shape differs from the cameras' fit, so that no
	// one's head is cut off; small cells crop, so they are not mostly bars.
	Fit bool `yaml:"fit"`
}

// Rect is a cell in pixels.
type Rect struct {
	X, Y, W, H int
}

// Empty reports whether r covers no pixel.
func (r Rect) Empty() bool { return r.W <= 0 || r.H <= 0 }

// Area is the number of pixels in r.
func (r Rect) Area() int { return max(r.W, 0) * max(r.H, 0) }

// Rect maps the cell onto a w x h canvas. Edges are rounded to even pixels,
// and each edge is computed from its own fraction, so neighbouring cells
// share their edge: no gaps, no overlaps.
func (c Cell) Rect(w, h int) Rect {
	x0, x1 := evenRound(c.X*float64(w)), evenRound((c.X+c.W)*float64(w))
	y0, y1 := evenRound(c.Y*float64(h)), evenRound((c.Y+c.H)*float64(h))
	x1, y1 = min(x1, w&^1), min(y1, h&^1)
	return Rect{X: x0, Y: y0, W: x1 - x0, H: y1 - y0}
}

func evenRound(v float64) int { return int(math.Round(v/2)) * 2 }

// Area is the cell's share of the canvas.
func (c Cell) Area() float64 { return c.W * c.H }

func (c Cell) overlaps(d Cell) bool {
	return c.X+eps < d.X+d.W && d.X+eps < c.X+c.W && c.Y+eps < d.Y+d.H && d.Y+eps < c.Y+c.H
}

// Layout is a named arrangement of cells. Config may define more layouts
// than the built-in ones; Validate checks them.
type Layout struct {
	Name string `yaml:"name"`
	// Aliases are other names that find this layout ("4+0", "2x2").
	Aliases []string `yaml:"aliases"`
	// Cells are drawn in order; when cells overlap (a picture in picture),
	// later cells are on top.
	Cells []Cell `yaml:"cells"`
}

// String is the layout's name.
func (l *Layout) String() string { return l.Name }

// Len is the number of cells.
func (l *Layout) Len() int { return len(l.Cells) }

// Mains is the number of main (speaker) cells.
func (l *Layout) Mains() int {
	n := 0
	for _, c := range l.Cells {
		if c.Main {
			n++
		}
	}
	return n
}

// Overlapping reports whether any two cells overlap. A compositor must then
// redraw every cell when one changes, since a cell may cover another.
func (l *Layout) Overlapping() bool {
	for i, c := range l.Cells {
		for _, d := range l.Cells[i+1:] {
			if c.overlaps(d) {
				return true
			}
		}
	}
	return false
}

// Validate checks that the layout has a name and 1 to MaxCells cells, each
// inside the canvas and at least 1% of it wide and high.
func (l *Layout) Validate() error {
	if strings.TrimSpace(l.Name) == "" {
		return fmt.Errorf("%w: a layout needs a name", ErrBadLayout)
	}
	if len(l.Cells) == 0 || len(l.Cells) > MaxCells {
		return fmt.Errorf("%w: %s: %d cells, want 1 to %d", ErrBadLayout, l.Name, len(l.Cells), MaxCells)
	}
	for i, c := range l.Cells {
		for _, v := range [...]float64{c.X, c.Y, c.W, c.H} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: %s: cell %d: not a number", ErrBadLayout, l.Name, i)
			}
		}
		if c.X < 0 || c.Y < 0 || c.X+c.W > 1+eps || c.Y+c.H > 1+eps {
			return fmt.Errorf("%w: %s: cell %d (x %g, y %g, w %g, h %g) is outside the canvas [0, 1]",
				ErrBadLayout, l.Name, i, c.X, c.Y, c.W, c.H)
		}
		if c.W < minCellSize || c.H < minCellSize {
			return fmt.Errorf("%w: %s: cell %d is %gx%g, at least %g of the canvas on each side",
				ErrBadLayout, l.Name, i, c.W, c.H, minCellSize)
		}
	}
	return nil
}

// Clone returns a deep copy.
func (l *Layout) Clone() Layout {
	return Layout{Name: l.Name, Aliases: append([]string(nil), l.Aliases...), Cells: append([]Cell(nil), l.Cells...)}
}
