package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

func TestHandler(t *testing.T) {
	h := Handler()
	tests := []struct {
		name, method, path string
		code               int
		typ, body          string
	}{
		{"page", http.MethodGet, "/", 200, "text/html", `id="join-form"`},
		{"script", http.MethodGet, "/app.js", 200, "text/javascript", "window.vmrdTest"},
		{"style", http.MethodGet, "/style.css", 200, "text/css", ":focus-visible"},
		{"head", http.MethodHead, "/", 200, "text/html", ""},
		{"index redirects to the root", http.MethodGet, "/index.html", http.StatusMovedPermanently, "", ""},
		{"unknown file", http.MethodGet, "/secret.txt", 404, "", ""},
		{"folder listing", http.MethodGet, "/static/", 404, "", ""},
		{"api path is not ours", http.MethodGet, "/api/client/v2/conferences/1/participants", 404, "", ""},
		{"post", http.MethodPost, "/", http.StatusMethodNotAllowed, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := get(t, h, tt.method, tt.path)
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code {
				t.Fatalf("%s %s: %d, want %d", tt.method, tt.path, resp.StatusCode, tt.code)
			}
			if tt.typ != "" && !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.typ) {
				t.Errorf("Content-Type %q, want %s", resp.Header.Get("Content-Type"), tt.typ)
			}
			if tt.body != "" && !strings.Contains(string(body), tt.body) {
				t.Errorf("body lacks %q", tt.body)
			}
			if tt.code == 200 {
				for _, k := range []string{"Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy"} {
					if resp.Header.Get(k) == "" {
						t.Errorf("no %s header", k)
					}
				}
			}
		})
	}
}

// TestMountBesideAPI: the handler registers at a method-less "/" next to
// the API's method-less "/api/client/" (a "GET /" pattern would panic with
// a conflict), and the API keeps its paths.
func TestMountBesideAPI(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "metrics") }))
	mux.Handle("/api/client/", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "api") }))
	mux.Handle("GET /api/client/v2/conferences/{number}/media", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "media") }))
	mux.Handle("/", Handler())
	for path, want := range map[string]string{
		"/metrics": "metrics", "/api/client/v2/conferences/1/events": "api", "/api/client/v2/conferences/1/media": "media", "/": "<!doctype html>",
	} {
		body, _ := io.ReadAll(get(t, mux, http.MethodGet, path).Body)
		if !strings.HasPrefix(string(body), want) {
			t.Errorf("GET %s: %.40q, want it to start with %q", path, body, want)
		}
	}
}

// TestPageConsistency: every element the script looks up exists in the
// page, and every text key used by the page has a Norwegian and an English
// text.
func TestPageConsistency(t *testing.T) {
	html, err := FS.ReadFile("static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	js, err := FS.ReadFile("static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, m := range regexp.MustCompile(`\bid="([^"]+)"`).FindAllStringSubmatch(string(html), -1) {
		if ids[m[1]] {
			t.Errorf("id %q appears twice in index.html", m[1])
		}
		ids[m[1]] = true
	}
	for _, m := range regexp.MustCompile(`\$\('([^']+)'\)`).FindAllStringSubmatch(string(js), -1) {
		if !ids[m[1]] {
			t.Errorf("app.js looks up #%s, which index.html lacks", m[1])
		}
	}
	// The two dictionaries: the text between "nb: {" and "en: {", and
	// after "en: {" up to the closing "};".
	src := string(js)
	nbAt, enAt := strings.Index(src, "    nb: {"), strings.Index(src, "    en: {")
	end := strings.Index(src[enAt:], "\n  };") + enAt
	if nbAt < 0 || enAt < nbAt || end < enAt {
		t.Fatal("app.js: the TEXT dictionaries are not where this test looks")
	}
	keyRe := regexp.MustCompile(`(?m)^\s+(\w+): '`)
	keys := func(s string) map[string]bool {
		out := map[string]bool{}
		for _, m := range keyRe.FindAllStringSubmatch(s, -1) {
			out[m[1]] = true
		}
		return out
	}
	nb, en := keys(src[nbAt:enAt]), keys(src[enAt:end])
	if len(nb) < 20 {
		t.Fatalf("found only %d Norwegian texts", len(nb))
	}
	for k := range nb {
		if !en[k] {
			t.Errorf("text %q has no English version", k)
		}
	}
	for k := range en {
		if !nb[k] {
			t.Errorf("text %q has no Norwegian version", k)
		}
	}
	used := regexp.MustCompile(`data-i18n(?:-aria)?="(\w+)"`).FindAllStringSubmatch(string(html), -1)
	used = append(used, regexp.MustCompile(`\bt\('(\w+)'`).FindAllStringSubmatch(src, -1)...)
	for _, m := range used {
		if !nb[m[1]] {
			t.Errorf("text key %q is used but not defined", m[1])
		}
	}
}
