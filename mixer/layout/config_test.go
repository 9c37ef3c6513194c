package layout

import (
	"slices"
	"testing"

	"vmrd/internal/config"
)

// TestConfigAgrees keeps the config's list of layout names and aliases in
// step with the layouts defined here.
func TestConfigAgrees(t *testing.T) {
	set := DefaultSet()
	want := slices.Sorted(slices.Values(config.BuiltinLayouts))
	if got := set.Names(); !slices.Equal(got, want) {
		t.Errorf("layouts %q, config lists %q", got, want)
	}
	for _, alias := range []string{"4+0", "2x2"} {
		l, err := set.Get(alias)
		if err != nil || l.Name != config.CanonicalLayout(alias) {
			t.Errorf("%s: layout %v (%v), config says %s", alias, l, err, config.CanonicalLayout(alias))
		}
	}
	if config.MaxLayoutCells > MaxCells {
		t.Errorf("config allows %d cells, layouts %d", config.MaxLayoutCells, MaxCells)
	}
}
