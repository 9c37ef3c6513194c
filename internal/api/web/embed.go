// Package web holds the browser client: one page of plain HTML, CSS and
// JavaScript (no build step) that joins a room through the client control
// API and its media WebSocket. Handler serves it; internal/api mounts it at
// the root.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

// FS holds the page's files under static/.
//
//go:embed static
var FS embed.FS

// files are the paths Handler serves; anything else is 404, so the
// handler can sit at "/" beside the API without answering for it.
var pageFiles = map[string]bool{"/": true, "/index.html": true, "/app.js": true, "/style.css": true}

// contentSecurityPolicy allows only the page's own script, style and
// connections (the API and the media WebSocket are same-origin; CSP level 3
// lets 'self' match ws: and wss: on the page's host). Media elements play
// MediaStreams, which need no source.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; media-src 'self' blob: mediastream:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the page's files for GET and HEAD. Register it with a
// method-less pattern ("/"): a "GET /" pattern would conflict with the
// API's method-less "/api/client/" in net/http's ServeMux.
func Handler() http.Handler {
	sub, err := fs.Sub(FS, "static")
	if err != nil {
		panic(err) // the embed directive guarantees the folder
	}
	fileServer := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if !isPageFile(r.URL.Path) {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Permissions-Policy", "camera=(self), microphone=(self), geolocation=()")
		// The page is small and changes with the binary: always revalidate.
		h.Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	})
}

func isPageFile(path string) bool { return pageFiles[path] }
