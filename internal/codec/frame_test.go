package codec

import (
	"errors"
	"testing"
)

func TestScaleIntoSubView(t *testing.T) {
	canvas := NewFrame(64, 48)
	canvas.Fill(16, 128, 128)
	src := NewFrame(32, 32)
	src.Fill(200, 60, 190)
	cell := canvas.Sub(32, 24, 32, 24)
	if err := Scale(&cell, src); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		x, y   int
		y0, u0 byte
	}{
		{"inside cell", 40, 30, 200, 60},
		{"outside cell", 10, 10, 16, 128},
		{"left of cell", 31, 30, 16, 128},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := canvas.Y[c.y*canvas.StrideY+c.x]; got != c.y0 {
				t.Errorf("Y at (%d,%d) = %d, want %d", c.x, c.y, got, c.y0)
			}
			if got := canvas.U[(c.y/2)*canvas.StrideUV+c.x/2]; got != c.u0 {
				t.Errorf("U at (%d,%d) = %d, want %d", c.x, c.y, got, c.u0)
			}
		})
	}
}

func TestScaleRefusesBadFrames(t *testing.T) {
	good := NewFrame(16, 16)
	cases := []struct {
		name string
		f    *Frame
	}{
		{"zero", &Frame{}},
		{"huge", &Frame{Width: 16384, Height: 16384, Y: good.Y, U: good.U, V: good.V, StrideY: 16384, StrideUV: 8192}},
		{"short planes", &Frame{Width: 32, Height: 32, Y: good.Y, U: good.U, V: good.V, StrideY: 32, StrideUV: 16}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := Scale(good, c.f); !errors.Is(err, ErrBadFrame) {
				t.Fatalf("Scale from %s = %v, want ErrBadFrame", c.name, err)
			}
			if err := good.CopyFrom(c.f); !errors.Is(err, ErrBadFrame) {
				t.Fatalf("CopyFrom %s = %v, want ErrBadFrame", c.name, err)
			}
		})
	}
}
