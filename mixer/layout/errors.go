package layout

import "errors"

// Sentinel errors of the layout package, wrapped with context by the
// functions that return them.
var (
	// ErrUnknownLayout: no layout of that name (or alias) is in the set.
	ErrUnknownLayout = errors.New("layout: unknown layout")
	// ErrBadLayout: a layout definition is unusable (no name, no cells, a
	// cell outside the canvas or too small to show anything).
	ErrBadLayout = errors.New("layout: bad layout")
)
