package sip

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// sessionTimer is the outcome of RFC 4028 negotiation for one request.
type sessionTimer struct {
	interval  time.Duration // 0: no session timer
	refresher string        // "uac" or "uas"
	require   bool          // put Require: timer in the 2xx (RFC 4028 9)
}

func (t sessionTimer) header() sip.Header {
	return sip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=%s", int(t.interval/time.Second), t.refresher))
}

// headerValue returns the first value of a header by its long or compact name.
func headerValue(req *sip.Request, long, compact string) (string, bool) {
	if h := req.GetHeader(long); h != nil {
		return h.Value(), true
	}
	if compact != "" {
		if h := req.GetHeader(compact); h != nil {
			return h.Value(), true
		}
	}
	return "", false
}

// hasOptionTag reports whether a Supported/Require-style header lists tag.
func hasOptionTag(req *sip.Request, long, compact, tag string) bool {
	for _, name := range []string{long, compact} {
		if name == "" {
			continue
		}
		for _, h := range req.GetHeaders(name) {
			for _, v := range strings.Split(h.Value(), ",") {
				if strings.EqualFold(strings.TrimSpace(v), tag) {
					return true
				}
			}
		}
	}
	return false
}

// negotiateTimer applies RFC 4028 section 9 (UAS behaviour) to an INVITE or
// UPDATE. It returns ErrSessionIntervalTooSmall when Session-Expires is
// below minSE, in which case the caller answers 422 with Min-SE.
func negotiateTimer(req *sip.Request, want, minSE time.Duration) (sessionTimer, error) {
	supported := hasOptionTag(req, "Supported", "k", "timer")
	v, present := headerValue(req, "Session-Expires", "x")
	if !present {
		if !supported {
			// The caller cannot refresh and did not ask: run without a
			// session timer; the no-RTP timeout still ends dead calls.
			return sessionTimer{}, nil
		}
		return sessionTimer{interval: want, refresher: "uac", require: true}, nil
	}
	parts := strings.Split(v, ";")
	secs, err := strconv.ParseUint(strings.TrimSpace(parts[0]), 10, 32)
	if err != nil || secs == 0 {
		return sessionTimer{}, fmt.Errorf("%w: Session-Expires %q", errBadHeader, v)
	}
	interval := time.Duration(secs) * time.Second
	if interval < minSE {
		return sessionTimer{}, ErrSessionIntervalTooSmall
	}
	if interval > want {
		// RFC 4028 9: the UAS may lower the interval, never below Min-SE.
		interval = max(want, minSE)
	}
	refresher := ""
	for _, p := range parts[1:] {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(k, "refresher") {
			refresher = strings.ToLower(strings.TrimSpace(val))
		}
	}
	if refresher != "uac" && refresher != "uas" {
		refresher = "uas"
		if supported {
			refresher = "uac"
		}
	}
	return sessionTimer{interval: interval, refresher: refresher, require: refresher == "uac"}, nil
}

// expiryDelay is when a session with no refresh ends (RFC 4028 10: the
// refresher's interval minus the lesser of 32 s and a third of it).
func (t sessionTimer) expiryDelay() time.Duration {
	return t.interval - min(32*time.Second, t.interval/3)
}

// negotiateTimer runs negotiateTimer with the server's settings and, when
// it fails, answers the request: 422 with our Min-SE (RFC 4028 6), or 400.
func (s *Server) negotiateTimer(req *sip.Request, tx sip.ServerTransaction) (sessionTimer, error) {
	t, err := negotiateTimer(req, s.cfg.SessionExpires, s.cfg.MinSE)
	if err != nil {
		code, reason := status(err)
		var extra []sip.Header
		if code == 422 {
			extra = append(extra, sip.NewHeader("Min-SE", strconv.Itoa(int(s.cfg.MinSE/time.Second))))
		}
		s.respond(req, tx, code, reason, extra...)
	}
	return t, err
}
