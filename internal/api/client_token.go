package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"

	"vmrd/internal/room"
)

// maxTokenLen bounds a presented token before it is hashed: ours are 43
// characters (32 bytes, base64url without padding).
const maxTokenLen = 128

// tokenHash is the SHA-256 of a token's text. Only hashes are kept, so a
// memory dump or a debug print of the store does not reveal usable tokens.
type tokenHash [sha256.Size]byte

// session is one API participant and its current token.
type session struct {
	number room.Number
	actor  Actor
	id     room.ParticipantID
	role   room.Role
	// done is closed when the session ends; reason is set before.
	done   chan struct{}
	reason string

	// Guarded by tokens.mu.
	hash    tokenHash
	expires time.Time
	ended   bool
}

// tokens holds the live sessions by token hash.
type tokens struct {
	mu     sync.Mutex
	byHash map[tokenHash]*session
	closed bool
}

// newToken returns 256 random bits in base64url and the text's hash.
func newToken() (string, tokenHash) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read does not fail (Go 1.24+)
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	return tok, sha256.Sum256([]byte(tok))
}

// issue stores a new session and returns its token; false once closed.
func (t *tokens) issue(s *session, expires time.Time) (string, bool) {
	tok, h := newToken()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return "", false
	}
	if t.byHash == nil {
		t.byHash = map[tokenHash]*session{}
	}
	s.hash, s.expires = h, expires
	t.byHash[h] = s
	return tok, true
}

// lookup finds the session of a presented token. An expired session is
// ended here and returned with expired set: the caller makes it leave.
func (t *tokens) lookup(tok string, now time.Time) (s *session, h tokenHash, expired bool) {
	if tok == "" || len(tok) > maxTokenLen {
		return nil, h, false
	}
	h = sha256.Sum256([]byte(tok))
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.byHash[h]
	// The map is keyed by a hash the client cannot steer, so its lookup
	// time tells nothing useful; the constant-time compare keeps the
	// final check free of early exits all the same.
	if !ok || subtle.ConstantTimeCompare(s.hash[:], h[:]) != 1 {
		return nil, h, false
	}
	if !now.Before(s.expires) {
		t.endLocked(s, "token expired")
		return s, h, true
	}
	return s, h, false
}

// refresh replaces the token presented as old with a new one, if old is
// still the session's current token.
func (t *tokens) refresh(s *session, old tokenHash, expires time.Time) (string, bool) {
	tok, h := newToken()
	t.mu.Lock()
	defer t.mu.Unlock()
	if s.ended || subtle.ConstantTimeCompare(s.hash[:], old[:]) != 1 {
		return "", false
	}
	delete(t.byHash, s.hash)
	s.hash, s.expires = h, expires
	t.byHash[h] = s
	return tok, true
}

// end ends a session; it reports whether this call ended it.
func (t *tokens) end(s *session, reason string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.endLocked(s, reason)
}

func (t *tokens) endLocked(s *session, reason string) bool {
	if s.ended {
		return false
	}
	s.ended = true
	s.reason = reason
	delete(t.byHash, s.hash)
	close(s.done)
	return true
}

// expire ends the sessions whose tokens expired before now and returns
// them so the caller makes them leave outside the lock.
func (t *tokens) expire(now time.Time) []*session {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []*session
	for _, s := range t.byHash {
		if !now.Before(s.expires) {
			out = append(out, s)
		}
	}
	for _, s := range out {
		t.endLocked(s, "token expired")
	}
	return out
}

// closeAll refuses new sessions and ends every live one.
func (t *tokens) closeAll(reason string) []*session {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	out := make([]*session, 0, len(t.byHash))
	for _, s := range t.byHash {
		out = append(out, s)
	}
	for _, s := range out {
		t.endLocked(s, reason)
	}
	return out
}

// len is the number of live sessions.
func (t *tokens) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.byHash)
}
