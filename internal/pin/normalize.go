// Package pin protects room PINs: it hashes them with argon2id, checks
// keyed PINs in the same time whatever the outcome, and limits guessing per
// room and per source address.
//
// A PIN is low in entropy (a 4-digit PIN has 10,000 values), so its hash is
// nearly as secret as the PIN: a leaked hash of a short PIN is cracked
// offline in minutes whatever the cost parameters. The slow hash buys time
// for longer PINs; the online limits in Verifier are what protect short
// ones. Nothing in this package logs, returns or formats a PIN or a hash.
package pin

import (
	"fmt"
	"strings"
)

// PIN length limits, in digits.
const (
	MinDigits = 4
	MaxDigits = 20
)

// Normalize checks a PIN as a user keys it: 4 to 20 digits, optionally
// ending in '#', which is stripped. Surrounding white space (such as the
// newline of a line read from stdin) is ignored. Errors wrap ErrInvalidPIN
// and say what is wrong without echoing the PIN.
func Normalize(s string) (string, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(s, "#")
	if s == "" {
		return "", fmt.Errorf("%w: the PIN is empty", ErrInvalidPIN)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", fmt.Errorf("%w: a PIN has only the digits 0-9, optionally ending in '#'", ErrInvalidPIN)
		}
	}
	switch {
	case len(s) < MinDigits:
		return "", fmt.Errorf("%w: a PIN has at least %d digits", ErrInvalidPIN, MinDigits)
	case len(s) > MaxDigits:
		return "", fmt.Errorf("%w: a PIN has at most %d digits", ErrInvalidPIN, MaxDigits)
	}
	return s, nil
}

// entered reads what a caller keyed at a PIN prompt. '#' alone (or
// nothing) means "no PIN" and gives empty with ok true; a malformed entry
// gives ok false.
func enteredPIN(s string) (pin string, ok bool) {
	if s == "" || s == "#" {
		return "", true
	}
	p, err := Normalize(s)
	return p, err == nil
}
