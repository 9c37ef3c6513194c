package sip

import (
	"errors"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Dialog identification (RFC 3261 12): Call-ID, our tag (in To, for
// requests we receive) and the peer's tag (in From). It is tolerant of two
// things valid messages do that sipgo's own helper is not: whitespace
// around a parameter's '=' (RFC 3261 25.1 allows LWS there; RFC 4475
// 3.1.1.1, "wsinv") and a From without a tag (RFC 2543 peers; RFC 4475
// 3.4.1, "inv2543"), whose dialog then has an empty remote tag.

var errNoCallID = errors.New("missing Call-ID")

// paramTag returns the tag parameter, trimming the whitespace RFC 3261
// allows around '='.
func paramTag(p sip.HeaderParams) (string, bool) {
	for _, kv := range p {
		if strings.EqualFold(strings.TrimSpace(kv.K), "tag") {
			return strings.TrimSpace(kv.V), true
		}
	}
	return "", false
}

// toTag is the To header's tag: ours, on a request inside a dialog.
func toTag(req *sip.Request) string {
	if to := req.To(); to != nil {
		t, _ := paramTag(to.Params)
		return t
	}
	return ""
}

// fromTag is the From header's tag; empty for RFC 2543 peers.
func fromTag(req *sip.Request) string {
	if from := req.From(); from != nil {
		t, _ := paramTag(from.Params)
		return t
	}
	return ""
}

// dialogID names the dialog a request we received belongs to.
func dialogID(req *sip.Request) (string, error) {
	cid := req.CallID()
	if cid == nil || cid.Value() == "" {
		return "", errNoCallID
	}
	return cid.Value() + "\x00" + toTag(req) + "\x00" + fromTag(req), nil
}
