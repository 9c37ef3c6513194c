package pin

import "errors"

var (
	// ErrBadPIN is the one answer to a PIN that does not let the caller in:
	// wrong, malformed, for an unknown room, or while entry is blocked. It
	// is never wrapped, so every refusal looks the same to the caller.
	ErrBadPIN = errors.New("invalid PIN")
	// ErrInvalidPIN means a PIN given to Normalize or Hash is not 4 to 20
	// digits. It is wrapped with what is wrong, never with the PIN.
	ErrInvalidPIN = errors.New("invalid PIN format")
	// ErrInvalidHash means an encoded hash given to ParseHash is not one we
	// accept. It is wrapped with what is wrong, never with the encoding.
	ErrInvalidHash = errors.New("invalid PIN hash")
)
