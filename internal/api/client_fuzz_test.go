package api

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzParseTokenRequest: any body either decodes to a clean display name
// or fails with one of the API's request errors; it never panics.
func FuzzParseTokenRequest(f *testing.F) {
	f.Add("application/json", []byte(`{"display_name":"Alice","pin":"1234"}`), "")
	f.Add("application/json; charset=utf-8", []byte(`{"display_name":" Bob "}`), "5678")
	f.Add("application/json", []byte(`{"display_name":"a\u0000b"}`), "")
	f.Add("application/json", []byte(`{"display_name":"x"} trailing`), "")
	f.Add("text/plain", []byte(`{"display_name":"x"}`), "")
	f.Add("application/json", []byte(`[1,2]`), "")
	f.Add("application/json", []byte(`null`), "1")
	f.Add("application/vnd.api+json", []byte(`{"display_name":"\ud800"}`), "")
	f.Add("", []byte(""), "")
	f.Fuzz(func(t *testing.T, ctype string, body []byte, headerPIN string) {
		req, err := parseTokenRequest(ctype, body, headerPIN)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) && !errors.Is(err, ErrUnsupportedMediaType) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		n := req.DisplayName
		if n == "" || n != strings.TrimSpace(n) || !utf8.ValidString(n) || utf8.RuneCountInString(n) > maxDisplayName || strings.IndexFunc(n, unicode.IsControl) >= 0 || strings.ContainsRune(n, '\u202e') {
			t.Fatalf("accepted display name %q", n)
		}
		if req.PIN == "" && headerPIN != "" {
			t.Fatalf("header PIN lost")
		}
	})
}
