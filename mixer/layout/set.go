package layout

import (
	"fmt"
	"slices"
	"strings"
)

// Default is the layout a room gets when its config names none.
const Default = "1:7"

// Builtin returns fresh copies of the built-in layouts:
//
//	1:0   one cell, the whole canvas
//	1:7   one large cell (top 6/7) and seven small ones in a row below it
//	1:21  one large cell (top 4/7) and 21 small ones in three rows of seven
//	2:21  two large cells side by side (top 4/7) and 21 small ones
//	4:0   2x2 equal cells (also "2x2")
//	9:0   3x3, 16:0 4x4, 25:0 5x5 equal cells
//
// A small cell is 1/7 of the canvas on each side, so it has the canvas's
// shape and a camera picture fills it without cropping.
func Builtin() []Layout {
	return []Layout{
		{Name: "1:0", Cells: []Cell{{X: 0, Y: 0, W: 1, H: 1, Main: true, Fit: true}}},
		speakerRow("1:7", 1, 1),
		speakerRow("1:21", 1, 3),
		speakerRow("2:21", 2, 3),
		grid("4:0", 2, "2x2"),
		grid("9:0", 3, "3x3"),
		grid("16:0", 4, "4x4"),
		grid("25:0", 5, "5x5"),
	}
}

// speakerRow builds mains large cells side by side over rows rows of seven
// small cells.
func speakerRow(name string, mains, rows int) Layout {
	const cols = 7
	top := float64(cols-rows) / cols
	l := Layout{Name: name}
	for i := range mains {
		w := 1 / float64(mains)
		l.Cells = append(l.Cells, Cell{X: float64(i) * w, Y: 0, W: w, H: top, Main: true, Fit: true})
	}
	for r := range rows {
		for c := range cols {
			l.Cells = append(l.Cells, Cell{X: float64(c) / cols, Y: float64(cols-rows+r) / cols, W: 1.0 / cols, H: 1.0 / cols})
		}
	}
	return l
}

// grid builds n x n equal cells, filled row by row.
func grid(name string, n int, aliases ...string) Layout {
	l := Layout{Name: name, Aliases: aliases}
	s := 1 / float64(n)
	for r := range n {
		for c := range n {
			l.Cells = append(l.Cells, Cell{X: float64(c) * s, Y: float64(r) * s, W: s, H: s})
		}
	}
	return l
}

// Every name may also be written with "+" for ":" ("4+0", "1+7").

// Set is an immutable collection of layouts found by name or alias. It is
// safe for concurrent use.
type Set struct {
	byName map[string]*Layout // names and aliases, normalized
	names  []string           // canonical names, sorted
}

// normalize makes lookups forgiving: case, surrounding space, and "+" for
// ":" ("1+7" is how people write "1:7").
func normalize(name string) string {
	return strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "+", ":")
}

// NewSet returns the built-in layouts plus extra ones. An extra layout with
// the name of a built-in one replaces it. Every layout is validated, and no
// name or alias may find two layouts.
func NewSet(extra ...Layout) (*Set, error) {
	all := Builtin()
	for _, e := range extra {
		i := slices.IndexFunc(all, func(l Layout) bool { return normalize(l.Name) == normalize(e.Name) })
		if i >= 0 {
			all[i] = e.Clone()
		} else {
			all = append(all, e.Clone())
		}
	}
	s := &Set{byName: make(map[string]*Layout)}
	for i := range all {
		l := &all[i]
		if err := l.Validate(); err != nil {
			return nil, err
		}
		for _, n := range append([]string{l.Name}, l.Aliases...) {
			k := normalize(n)
			if k == "" {
				return nil, fmt.Errorf("%w: %s: empty alias", ErrBadLayout, l.Name)
			}
			if other, ok := s.byName[k]; ok && other != l {
				return nil, fmt.Errorf("%w: %q names both %s and %s", ErrBadLayout, n, other.Name, l.Name)
			}
			s.byName[k] = l
		}
		s.names = append(s.names, l.Name)
	}
	slices.Sort(s.names)
	return s, nil
}

// DefaultSet is the built-in layouts.
func DefaultSet() *Set {
	s, err := NewSet()
	if err != nil {
		panic(err) // the built-in layouts are checked by tests
	}
	return s
}

// Get finds a layout by name or alias. The result is shared: do not modify
// it.
func (s *Set) Get(name string) (*Layout, error) {
	l, ok := s.byName[normalize(name)]
	if !ok {
		return nil, fmt.Errorf("%w: %q (known: %s)", ErrUnknownLayout, name, strings.Join(s.names, ", "))
	}
	return l, nil
}

// Names lists the canonical names, sorted.
func (s *Set) Names() []string { return slices.Clone(s.names) }
