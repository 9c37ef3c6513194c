package layout

import (
	"errors"
	"math"
	"testing"
)

func TestBuiltinLayouts(t *testing.T) {
	tests := []struct {
		name      string
		cells     int
		mains     int
		coverAll  bool // the cells tile the whole canvas
		fitMain   bool
		smallSide float64 // side of the non-main cells, 0 if none
	}{
		{"1:0", 1, 1, true, true, 0},
		{"1:7", 8, 1, true, true, 1.0 / 7},
		{"1:21", 22, 1, true, true, 1.0 / 7},
		{"2:21", 23, 2, true, true, 1.0 / 7},
		{"4:0", 4, 0, true, false, 1.0 / 2},
		{"9:0", 9, 0, true, false, 1.0 / 3},
		{"16:0", 16, 0, true, false, 1.0 / 4},
		{"25:0", 25, 0, true, false, 1.0 / 5},
	}
	set := DefaultSet()
	if got := len(set.Names()); got != len(tests) {
		t.Errorf("%d built-in layouts, the table covers %d", got, len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := set.Get(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Validate(); err != nil {
				t.Fatal(err)
			}
			if l.Len() != tt.cells || l.Mains() != tt.mains {
				t.Errorf("%d cells, %d main; want %d, %d", l.Len(), l.Mains(), tt.cells, tt.mains)
			}
			if l.Overlapping() {
				t.Error("cells overlap")
			}
			area := 0.0
			for i, c := range l.Cells {
				area += c.Area()
				if c.X < 0 || c.Y < 0 || c.X+c.W > 1+eps || c.Y+c.H > 1+eps {
					t.Errorf("cell %d %+v out of bounds", i, c)
				}
				if c.Main && c.Fit != tt.fitMain {
					t.Errorf("main cell %d: fit %t, want %t", i, c.Fit, tt.fitMain)
				}
				if !c.Main && (math.Abs(c.W-tt.smallSide) > eps || math.Abs(c.H-tt.smallSide) > eps) {
					t.Errorf("cell %d is %gx%g, want side %g", i, c.W, c.H, tt.smallSide)
				}
			}
			if tt.coverAll && math.Abs(area-1) > 1e-6 {
				t.Errorf("cells cover %g of the canvas, want all of it", area)
			}
			// In pixels the cells tile the canvas exactly: every pixel
			// is in one cell.
			for _, size := range [][2]int{{1280, 720}, {640, 360}, {352, 288}, {1920, 1080}} {
				w, h := size[0], size[1]
				cover := make([]uint8, w*h)
				for i, c := range l.Cells {
					r := c.Rect(w, h)
					if r.X%2 != 0 || r.Y%2 != 0 || r.W%2 != 0 || r.H%2 != 0 {
						t.Errorf("%dx%d: cell %d rect %+v not even", w, h, i, r)
					}
					if r.Empty() || r.X+r.W > w || r.Y+r.H > h {
						t.Fatalf("%dx%d: cell %d rect %+v empty or outside", w, h, i, r)
					}
					for y := r.Y; y < r.Y+r.H; y++ {
						for x := r.X; x < r.X+r.W; x++ {
							cover[y*w+x]++
						}
					}
				}
				for i, n := range cover {
					if n != 1 {
						t.Fatalf("%dx%d: pixel (%d,%d) is in %d cells", w, h, i%w, i/w, n)
					}
				}
			}
		})
	}
}

func TestSetGetAliases(t *testing.T) {
	set := DefaultSet()
	tests := []struct {
		in, want string
	}{
		{"4:0", "4:0"},
		{"4+0", "4:0"},
		{"2x2", "4:0"},
		{" 2X2 ", "4:0"},
		{"1+7", "1:7"},
		{"3x3", "9:0"},
		{"25+0", "25:0"},
		{Default, "1:7"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			l, err := set.Get(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if l.Name != tt.want {
				t.Errorf("Get(%q) = %s, want %s", tt.in, l.Name, tt.want)
			}
		})
	}
	if _, err := set.Get("3:3"); !errors.Is(err, ErrUnknownLayout) {
		t.Errorf("Get(3:3) error = %v, want ErrUnknownLayout", err)
	}
}

func TestValidate(t *testing.T) {
	ok := Cell{X: 0, Y: 0, W: 0.5, H: 0.5}
	tests := []struct {
		name   string
		layout Layout
		ok     bool
	}{
		{"fine", Layout{Name: "x", Cells: []Cell{ok}}, true},
		{"edge exactly at 1", Layout{Name: "x", Cells: []Cell{{X: 0.5, Y: 0.5, W: 0.5, H: 0.5}}}, true},
		{"overlap is allowed", Layout{Name: "pip", Cells: []Cell{{W: 1, H: 1}, {X: 0.7, Y: 0.7, W: 0.25, H: 0.25}}}, true},
		{"no name", Layout{Cells: []Cell{ok}}, false},
		{"no cells", Layout{Name: "x"}, false},
		{"too many cells", Layout{Name: "x", Cells: make([]Cell, MaxCells+1)}, false},
		{"negative x", Layout{Name: "x", Cells: []Cell{{X: -0.1, W: 0.5, H: 0.5}}}, false},
		{"past the right edge", Layout{Name: "x", Cells: []Cell{{X: 0.6, W: 0.5, H: 0.5}}}, false},
		{"past the bottom", Layout{Name: "x", Cells: []Cell{{Y: 0.9, W: 0.5, H: 0.2}}}, false},
		{"zero width", Layout{Name: "x", Cells: []Cell{{W: 0, H: 0.5}}}, false},
		{"tiny height", Layout{Name: "x", Cells: []Cell{{W: 0.5, H: 0.001}}}, false},
		{"NaN", Layout{Name: "x", Cells: []Cell{{X: math.NaN(), W: 0.5, H: 0.5}}}, false},
		{"infinite", Layout{Name: "x", Cells: []Cell{{W: math.Inf(1), H: 0.5}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.layout.Validate()
			if tt.ok && err != nil {
				t.Errorf("Validate = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, ErrBadLayout) {
				t.Errorf("Validate = %v, want ErrBadLayout", err)
			}
		})
	}
}

func TestNewSetExtra(t *testing.T) {
	pip := Layout{Name: "pip", Aliases: []string{"picture-in-picture"}, Cells: []Cell{
		{W: 1, H: 1, Main: true, Fit: true}, {X: 0.74, Y: 0.74, W: 0.24, H: 0.24},
	}}
	custom40 := Layout{Name: "4:0", Cells: []Cell{{W: 1, H: 1}}}
	set, err := NewSet(pip, custom40)
	if err != nil {
		t.Fatal(err)
	}
	l, err := set.Get("Picture-in-Picture")
	if err != nil || l.Name != "pip" || !l.Overlapping() {
		t.Errorf("Get(alias) = %v, %v; want the overlapping pip layout", l, err)
	}
	if l, _ := set.Get("4:0"); l.Len() != 1 {
		t.Errorf("an extra 4:0 did not replace the built-in one: %d cells", l.Len())
	}
	// The replaced built-in's aliases went with it.
	if _, err := set.Get("2x2"); !errors.Is(err, ErrUnknownLayout) {
		t.Errorf("Get(2x2) after replacing 4:0: %v", err)
	}
	// The set keeps its own copy.
	pip.Cells[0].W = 0.1
	if l, _ := set.Get("pip"); l.Cells[0].W != 1 {
		t.Error("the set shares cells with the caller")
	}

	bad := []struct {
		name  string
		extra []Layout
	}{
		{"invalid layout", []Layout{{Name: "x"}}},
		{"alias names a built-in", []Layout{{Name: "x", Aliases: []string{"1:7"}, Cells: []Cell{{W: 1, H: 1}}}}},
		{"two layouts share an alias", []Layout{
			{Name: "a", Aliases: []string{"z"}, Cells: []Cell{{W: 1, H: 1}}},
			{Name: "b", Aliases: []string{"z"}, Cells: []Cell{{W: 1, H: 1}}},
		}},
		{"empty alias", []Layout{{Name: "a", Aliases: []string{" "}, Cells: []Cell{{W: 1, H: 1}}}}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewSet(tt.extra...); !errors.Is(err, ErrBadLayout) {
				t.Errorf("NewSet = %v, want ErrBadLayout", err)
			}
		})
	}
}

func TestRectSharesEdges(t *testing.T) {
	// 1/7 of 1280 is not whole: neighbours must still meet exactly.
	l, _ := DefaultSet().Get("1:7")
	prev := l.Cells[1].Rect(1280, 720)
	for _, c := range l.Cells[2:] {
		r := c.Rect(1280, 720)
		if r.X != prev.X+prev.W {
			t.Errorf("cell at x %d does not start where the previous ends (%d)", r.X, prev.X+prev.W)
		}
		prev = r
	}
	if prev.X+prev.W != 1280 {
		t.Errorf("the row ends at %d, want 1280", prev.X+prev.W)
	}
}
