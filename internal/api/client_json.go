package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"

	"vmrd/internal/room"
)

const (
	// maxBodyBytes bounds every request body; the largest legitimate one
	// (request_token) is well under a kilobyte.
	maxBodyBytes = 16 << 10
	// maxDisplayName is the longest display name, in characters.
	maxDisplayName = 100
)

// envelope is the shape of every JSON response.
type envelope struct {
	Status string `json:"status"` // "success" or "failed"
	Result any    `json:"result"`
}

// statusOf maps an error to its HTTP status and the message clients see.
// It is the only place that does: room errors and the API's own alike.
// A wrong PIN and an unknown room give the very same answer.
func statusOf(err error) (int, string) {
	switch {
	case errors.Is(err, room.ErrBadPIN), errors.Is(err, room.ErrNoSuchRoom):
		return http.StatusForbidden, "Invalid PIN"
	case errors.Is(err, ErrInvalidToken):
		return http.StatusForbidden, "Invalid token"
	case errors.Is(err, room.ErrNotHost):
		return http.StatusForbidden, "Only a host may do this"
	case errors.Is(err, room.ErrNotAdmitted):
		return http.StatusForbidden, "Waiting for the host to let you in"
	case errors.Is(err, room.ErrGone):
		return http.StatusForbidden, "Participant has left"
	case errors.Is(err, room.ErrRoomFull):
		return http.StatusForbidden, "Conference is full"
	case errors.Is(err, room.ErrNoSuchParticipant):
		return http.StatusNotFound, "Participant not found"
	case errors.Is(err, room.ErrNotWaiting):
		return http.StatusConflict, "Participant is not waiting in the lobby"
	case errors.Is(err, room.ErrNoStream):
		return http.StatusConflict, "This room does not stream"
	case errors.Is(err, room.ErrBadLayout):
		return http.StatusBadRequest, "Unknown layout"
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, ErrUnsupportedMediaType):
		return http.StatusUnsupportedMediaType, "Request body must be application/json"
	case errors.Is(err, ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge, "Request body too large"
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, "Not found"
	case errors.Is(err, ErrMethodNotAllowed):
		return http.StatusMethodNotAllowed, "Method not allowed"
	case errors.Is(err, room.ErrClosed), errors.Is(err, ErrShuttingDown),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "Service unavailable"
	default:
		return http.StatusInternalServerError, "Internal error"
	}
}

// setJSONHeaders marks a response as JSON that no cache may keep (it may
// hold a token).
func setJSONHeaders(h http.Header) {
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

func writeJSON(w http.ResponseWriter, code int, v envelope) {
	setJSONHeaders(w.Header())
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeSuccess(w http.ResponseWriter, result any) {
	writeJSON(w, http.StatusOK, envelope{Status: "success", Result: result})
}

func writeFailure(w http.ResponseWriter, err error) int {
	code, msg := statusOf(err)
	writeJSON(w, code, envelope{Status: "failed", Result: msg})
	return code
}

// readBody reads a bounded request body.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, ErrBodyTooLarge
		}
		return nil, fmt.Errorf("%w: unreadable body", ErrBadRequest)
	}
	return body, nil
}

// isJSON reports whether a Content-Type names JSON.
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// decodeJSON decodes a JSON object body into v. An empty body leaves v as
// it is; any other body must say it is JSON and be exactly one JSON value.
// Unknown fields are ignored: Pexip-style clients send extra ones.
func decodeJSON(contentType string, body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if !isJSON(contentType) {
		return ErrUnsupportedMediaType
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: invalid JSON body", ErrBadRequest)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: invalid JSON body", ErrBadRequest)
	}
	return nil
}

// tokenRequest is the body of request_token.
type tokenRequest struct {
	DisplayName string `json:"display_name"`
	PIN         string `json:"pin"`
}

// parseTokenRequest decodes and checks a request_token body. The PIN may
// come in the body or, as Pexip clients also send it, in a "pin" header;
// the body wins.
func parseTokenRequest(contentType string, body []byte, headerPIN string) (tokenRequest, error) {
	var req tokenRequest
	if err := decodeJSON(contentType, body, &req); err != nil {
		return tokenRequest{}, err
	}
	if req.PIN == "" {
		req.PIN = headerPIN
	}
	name, err := cleanDisplayName(req.DisplayName)
	if err != nil {
		return tokenRequest{}, err
	}
	req.DisplayName = name
	return req, nil
}

// cleanDisplayName trims a display name and refuses one that is empty,
// too long or has control characters (it ends up in logs and on screens)
// or bidirectional controls (they can make a name read as another).
func cleanDisplayName(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", fmt.Errorf("%w: display_name is required", ErrBadRequest)
	case !utf8.ValidString(s):
		return "", fmt.Errorf("%w: display_name is not valid UTF-8", ErrBadRequest)
	case utf8.RuneCountInString(s) > maxDisplayName:
		return "", fmt.Errorf("%w: display_name is longer than %d characters", ErrBadRequest, maxDisplayName)
	case strings.IndexFunc(s, isControl) >= 0:
		return "", fmt.Errorf("%w: display_name has control characters", ErrBadRequest)
	}
	return s, nil
}

func isControl(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)
}
