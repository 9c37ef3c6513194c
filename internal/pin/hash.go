package pin

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters (RFC 9106 section 3.1).
type Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8  // lanes
}

// DefaultParams is OWASP's first recommended argon2id setting: 19 MiB, two
// passes, one lane. Measured on the target (2-core EPYC) at 21 ms a hash;
// Check evaluates the host and the guest hash every time, so a check costs
// about 42 ms of one core and 19 MiB while it runs. More would buy little:
// a short PIN falls to an offline search at any cost we could afford per
// call, so the online limits carry the load, and with MaxConcurrentHashes
// 1 this cost is also the ceiling on CPU an attacker can make us burn.
var DefaultParams = Params{Memory: 19 * 1024, Time: 2, Threads: 1}

// Bounds ParseHash enforces. The floor is OWASP's cheapest equivalent
// setting (7 MiB x 5 passes, 35 MiB-passes); the ceilings keep one
// configured hash from costing more than a call path can afford.
const (
	minMemoryTime = 35 * 1024 // KiB x passes
	minMemory     = 7 * 1024
	maxMemory     = 256 * 1024
	maxTime       = 16
	maxThreads    = 8
	saltLen       = 16
	keyLen        = 32
	minSaltLen    = 16
	maxSaltLen    = 64
	minKeyLen     = 16
	maxKeyLen     = 64
)

const prefix = "$argon2id$v=19$"

var b64 = base64.RawStdEncoding.Strict()

// Hashed is a parsed argon2id PIN hash. Its String and LogValue show only
// the parameters: for a short PIN the hash is as good as the PIN.
type Hashed struct {
	params Params
	salt   []byte
	key    []byte
}

// Hash returns the argon2id encoding
// "$argon2id$v=19$m=...,t=...,p=...$<salt>$<hash>" (unpadded standard
// base64) of a PIN with a random 16-byte salt and DefaultParams. The PIN is
// normalized first, so "1234#" and "1234" hash alike.
func Hash(pin string) (string, error) {
	return HashParams(pin, DefaultParams)
}

// HashParams is Hash with chosen parameters; the result must still pass
// ParseHash.
func HashParams(pin string, p Params) (string, error) {
	n, err := Normalize(pin)
	if err != nil {
		return "", err
	}
	if err := p.check(); err != nil {
		return "", err
	}
	return newHashed(n, p).Encode(), nil
}

// newHashed hashes without checking the parameters (tests use cheap ones).
func newHashed(pin string, p Params) *Hashed {
	salt := make([]byte, saltLen)
	_, _ = rand.Read(salt) // never fails (crypto/rand since Go 1.24)
	return &Hashed{params: p, salt: salt, key: derive([]byte(pin), salt, p, keyLen)}
}

func derive(pin, salt []byte, p Params, n uint32) []byte {
	return argon2.IDKey(pin, salt, p.Time, p.Memory, p.Threads, n)
}

// ParseHash validates an encoded hash, for example a room's host_pin from
// the config. A plain PIN, another algorithm, a malformed encoding or
// parameters outside the accepted bounds give an error wrapping
// ErrInvalidHash that says what is wrong without echoing the value.
func ParseHash(encoded string) (*Hashed, error) {
	if _, err := Normalize(encoded); err == nil {
		return nil, fmt.Errorf("%w: this is a plain PIN; store the hash that 'vmrd hash-pin' prints instead", ErrInvalidHash)
	}
	if !strings.HasPrefix(encoded, "$argon2") {
		return nil, fmt.Errorf("%w: want an argon2id hash \"$argon2id$v=19$m=...,t=...,p=...$salt$hash\" from 'vmrd hash-pin'", ErrInvalidHash)
	}
	if !strings.HasPrefix(encoded, "$argon2id$") {
		return nil, fmt.Errorf("%w: only argon2id is accepted, not argon2i or argon2d", ErrInvalidHash)
	}
	if !strings.HasPrefix(encoded, prefix) {
		return nil, fmt.Errorf("%w: only argon2 version 19 (v=19) is accepted", ErrInvalidHash)
	}
	parts := strings.Split(encoded[len(prefix):], "$")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: want 3 '$'-separated fields after the version (parameters, salt, hash), got %d", ErrInvalidHash, len(parts))
	}
	p, err := parseParams(parts[0])
	if err != nil {
		return nil, err
	}
	if err := p.check(); err != nil {
		return nil, err
	}
	salt, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: the salt is not unpadded standard base64", ErrInvalidHash)
	}
	if len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return nil, fmt.Errorf("%w: the salt has %d bytes; want %d to %d", ErrInvalidHash, len(salt), minSaltLen, maxSaltLen)
	}
	key, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("%w: the hash is not unpadded standard base64", ErrInvalidHash)
	}
	if len(key) < minKeyLen || len(key) > maxKeyLen {
		return nil, fmt.Errorf("%w: the hash has %d bytes; want %d to %d", ErrInvalidHash, len(key), minKeyLen, maxKeyLen)
	}
	return &Hashed{params: p, salt: salt, key: key}, nil
}

// parseParams reads exactly "m=<KiB>,t=<passes>,p=<lanes>" in that order.
func parseParams(s string) (Params, error) {
	bad := fmt.Errorf("%w: want parameters \"m=<KiB>,t=<passes>,p=<lanes>\"", ErrInvalidHash)
	f := strings.Split(s, ",")
	if len(f) != 3 {
		return Params{}, bad
	}
	var v [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		digits, ok := strings.CutPrefix(f[i], name)
		if !ok || digits == "" || digits[0] < '0' || digits[0] > '9' {
			return Params{}, bad
		}
		n, err := strconv.ParseUint(digits, 10, 32)
		if err != nil {
			return Params{}, bad
		}
		v[i] = n
	}
	if v[2] > 255 {
		return Params{}, fmt.Errorf("%w: p=%d is too many lanes; want 1 to %d", ErrInvalidHash, v[2], maxThreads)
	}
	return Params{Memory: uint32(v[0]), Time: uint32(v[1]), Threads: uint8(v[2])}, nil
}

// check enforces the accepted cost bounds.
func (p Params) check() error {
	switch {
	case p.Threads < 1 || p.Threads > maxThreads:
		return fmt.Errorf("%w: p=%d; want 1 to %d lanes", ErrInvalidHash, p.Threads, maxThreads)
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("%w: t=%d; want 1 to %d passes", ErrInvalidHash, p.Time, maxTime)
	case p.Memory < minMemory || p.Memory > maxMemory:
		return fmt.Errorf("%w: m=%d KiB; want %d to %d", ErrInvalidHash, p.Memory, minMemory, maxMemory)
	case uint64(p.Memory)*uint64(p.Time) < minMemoryTime:
		return fmt.Errorf("%w: m=%d,t=%d is too cheap; want m*t of at least %d (for example m=19456,t=2)", ErrInvalidHash, p.Memory, p.Time, minMemoryTime)
	}
	return nil
}

// valid reports whether argon2 can run with p at all (RFC 9106 section
// 3.1: at least 8 KiB per lane); looser than check.
func (p Params) valid() bool {
	return p.Threads >= 1 && p.Time >= 1 && p.Memory >= 8*uint32(p.Threads)
}

func (p Params) String() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads)
}

// Params are the cost parameters of the hash.
func (h *Hashed) Params() Params { return h.params }

// Encode gives the PHC-style encoding ParseHash reads. Treat it as a secret.
func (h *Hashed) Encode() string {
	return prefix + h.params.String() + "$" + b64.EncodeToString(h.salt) + "$" + b64.EncodeToString(h.key)
}

// String shows the algorithm and parameters only, so printing a config
// or a Rule cannot leak the hash.
// They have value receivers so a copied Hashed prints the same way.
func (h Hashed) String() string { return "argon2id(" + h.params.String() + ")" }

// GoString keeps %#v from printing the salt and hash.
func (h Hashed) GoString() string { return "pin.Hashed{" + h.params.String() + "}" }

// LogValue keeps the hash out of slog output.
func (h Hashed) LogValue() slog.Value { return slog.StringValue(h.String()) }

// matches derives pin with h's salt and parameters and compares in
// constant time. It always does the full work.
func (h *Hashed) matches(pin []byte, derive func(pin, salt []byte, p Params, n uint32) []byte) bool {
	got := derive(pin, h.salt, h.params, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(got, h.key) == 1
}
