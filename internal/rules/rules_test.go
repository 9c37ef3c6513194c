// Package rules holds tests of the repository's own rules (ARCHITECTURE.md):
// the import direction between layers and file naming.
package rules

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// forbidden lists, per package prefix, the packages it must never import.
var forbidden = []struct {
	pkg     string
	imports []string
}{
	{"vmrd/mixer/", []string{"vmrd/internal/room", "vmrd/signaling/", "vmrd/internal/service", "vmrd/internal/api"}},
	{"vmrd/internal/room", []string{"vmrd/signaling/", "github.com/emiago/sipgo", "github.com/pion/webrtc", "vmrd/internal/media", "vmrd/internal/codec"}},
	{"vmrd/signaling/sip", []string{"vmrd/signaling/webrtc"}},
	{"vmrd/signaling/webrtc", []string{"vmrd/signaling/sip"}},
	{"vmrd/internal/media", []string{"vmrd/internal/room", "vmrd/signaling/", "vmrd/mixer/"}},
	{"vmrd/internal/codec", []string{"vmrd/internal/room", "vmrd/signaling/", "vmrd/mixer/", "vmrd/internal/media"}},
	{"vmrd/internal/config", []string{"vmrd/internal/room", "vmrd/signaling/", "vmrd/mixer/", "vmrd/internal/media"}},
}

func TestImportDirection(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "vmrd/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, deps := fields[0], fields[1:]
		for _, rule := range forbidden {
			if !strings.HasPrefix(pkg, rule.pkg) {
				continue
			}
			checked++
			for _, d := range deps {
				for _, bad := range rule.imports {
					if strings.HasPrefix(d, bad) {
						t.Errorf("%s depends on %s, which ARCHITECTURE.md forbids", pkg, d)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no package matched any rule: the rules are stale")
	}
}

// Only cmd and internal/service read files and the environment.
func TestOnlyCompositionRootReadsEnvironment(t *testing.T) {
	root := filepath.Join("..", "..")
	for _, dir := range []string{"internal/room", "internal/media", "internal/codec", "internal/config", "mixer", "signaling"} {
		_ = filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, call := range []string{"os.Getenv(", "os.LookupEnv(", "os.ReadFile(", "os.Open(", "os.Environ("} {
				if strings.Contains(string(src), call) {
					t.Errorf("%s calls %s; only cmd and internal/service may", path, call)
				}
			}
			return nil
		})
	}
}

func TestFileNamesHaveNoHyphens(t *testing.T) {
	n := 0
	err := filepath.WalkDir(filepath.Join("..", ".."), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != filepath.Join("..", "..") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			n++
			if strings.Contains(d.Name(), "-") {
				t.Errorf("%s: Go file names use snake_case, not hyphens", path)
			}
		}
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("walked %d Go files: %v", n, err)
	}
}
