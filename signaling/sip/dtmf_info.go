package sip

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Key presses in SIP INFO requests (RFC 6086 allows INFO bodies of any type
// the peers agree on; phones use one of two without negotiating):
//
//	application/dtmf-relay   "Signal=5\r\nDuration=160\r\n"
//	application/dtmf         "5"
//
// Neither has a formal specification, so the parser accepts the variants
// phones send (spaces around '=', any case, LF or CRLF, event codes 10-15 for
// * # A-D) and rejects anything it cannot read as key presses.

// Errors of parseInfoDTMF. The messages never contain the body: its digits
// may be part of a PIN, and the message may travel in a Warning header.
var (
	// errInfoUnsupported: the body is of a type we do not read; answered
	// 415 with an Accept header.
	errInfoUnsupported = errors.New("unsupported INFO body type")
	// errInfoMalformed: a DTMF body we cannot read; answered 400.
	errInfoMalformed = errors.New("malformed DTMF body")
)

// maxInfoDTMFBody bounds the body we read: a key press takes a few dozen
// bytes.
const maxInfoDTMFBody = 1024

// dtmfEventKeys maps the RFC 4733 section 3.2 event codes 0-15 to their keys;
// dtmf-relay senders use 10 and 11 for * and #.
const dtmfEventKeys = "0123456789*#ABCD"

// parseInfoDTMF returns the key presses of an INFO body, in order. The
// content type is matched case-insensitively and its parameters are ignored.
func parseInfoDTMF(contentType string, body []byte) (digits []rune, err error) {
	mediaType, _, _ := strings.Cut(contentType, ";")
	mediaType = strings.TrimSpace(mediaType)
	var parse func(string) ([]rune, error)
	switch {
	case strings.EqualFold(mediaType, "application/dtmf-relay"):
		parse = parseDTMFRelay
	case strings.EqualFold(mediaType, "application/dtmf"):
		parse = parseDTMFPlain
	default:
		if len(mediaType) > 64 {
			mediaType = mediaType[:64]
		}
		return nil, fmt.Errorf("%w: %q", errInfoUnsupported, mediaType)
	}
	if len(body) > maxInfoDTMFBody {
		return nil, fmt.Errorf("%w: body longer than %d bytes", errInfoMalformed, maxInfoDTMFBody)
	}
	digits, err = parse(string(body))
	if err != nil {
		return nil, err
	}
	if len(digits) == 0 {
		return nil, fmt.Errorf("%w: no key press", errInfoMalformed)
	}
	return digits, nil
}

// parseDTMFRelay reads "key=value" lines. Signal lines give the keys;
// Duration must be a number of milliseconds when present; other keys are
// ignored, since some phones add their own.
func parseDTMFRelay(body string) ([]rune, error) {
	var digits []rune
	for i, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%w: line %d is not key=value", errInfoMalformed, i+1)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch {
		case strings.EqualFold(key, "Signal"):
			d, ok := parseDTMFKey(value, false)
			if !ok {
				return nil, fmt.Errorf("%w: line %d: bad signal", errInfoMalformed, i+1)
			}
			digits = append(digits, d)
		case strings.EqualFold(key, "Duration"):
			if _, err := strconv.ParseUint(value, 10, 32); err != nil {
				return nil, fmt.Errorf("%w: line %d: bad duration", errInfoMalformed, i+1)
			}
		}
	}
	return digits, nil
}

// parseDTMFPlain reads keys separated by white space; each is a key, an
// event code 10-15, or a key's name.
func parseDTMFPlain(body string) ([]rune, error) {
	var digits []rune
	for i, tok := range strings.Fields(body) {
		d, ok := parseDTMFKey(tok, true)
		if !ok {
			return nil, fmt.Errorf("%w: key %d unknown", errInfoMalformed, i+1)
		}
		digits = append(digits, d)
	}
	return digits, nil
}

// dtmfKeyNames are the names phones and gateways write for keys.
var dtmfKeyNames = map[string]rune{
	"zero": '0', "one": '1', "two": '2', "three": '3', "four": '4',
	"five": '5', "six": '6', "seven": '7', "eight": '8', "nine": '9',
	"star": '*', "asterisk": '*', "pound": '#', "hash": '#',
}

// parseDTMFKey reads one key: a character of 0-9 * # A-D (any case), or the
// event code 10-15, or, when names is set, a key's name.
func parseDTMFKey(s string, names bool) (rune, bool) {
	if len(s) == 1 {
		c := s[0]
		if c >= 'a' && c <= 'd' {
			c -= 'a' - 'A'
		}
		if strings.IndexByte(dtmfEventKeys, c) >= 0 {
			return rune(c), true
		}
		return 0, false
	}
	if len(s) == 2 && s[0] == '1' && s[1] >= '0' && s[1] <= '5' {
		return rune(dtmfEventKeys[10+s[1]-'0']), true
	}
	if names {
		if d, ok := dtmfKeyNames[strings.ToLower(s)]; ok {
			return d, true
		}
	}
	return 0, false
}
