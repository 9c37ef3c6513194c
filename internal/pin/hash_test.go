package pin

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestHashRoundTrip(t *testing.T) {
	enc, err := Hash("123456#")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("encoding %q: want the argon2id PHC prefix with the default parameters", enc)
	}
	h, err := ParseHash(enc)
	if err != nil {
		t.Fatalf("ParseHash(Hash()) = %v", err)
	}
	if h.Params() != DefaultParams || len(h.salt) != 16 || len(h.key) != 32 {
		t.Fatalf("parsed %v salt %d key %d bytes", h.Params(), len(h.salt), len(h.key))
	}
	if h.Encode() != enc {
		t.Fatalf("Encode = %q, want %q", h.Encode(), enc)
	}
	for _, tc := range []struct {
		pin  string
		want bool
	}{{"123456", true}, {"1234567", false}, {"123457", false}, {"", false}} {
		if got := h.matches([]byte(tc.pin), derive); got != tc.want {
			t.Errorf("matches(len %d) = %v, want %v", len(tc.pin), got, tc.want)
		}
	}
	again, err := Hash("123456")
	if err != nil {
		t.Fatal(err)
	}
	if again == enc {
		t.Fatal("two hashes of one PIN are equal: the salt is not random")
	}
}

func TestHashRejectsBadInput(t *testing.T) {
	if _, err := Hash("12"); !errors.Is(err, ErrInvalidPIN) {
		t.Fatalf("Hash(short) = %v, want ErrInvalidPIN", err)
	}
	if _, err := HashParams("1234", Params{Memory: 1024, Time: 1, Threads: 1}); !errors.Is(err, ErrInvalidHash) {
		t.Fatalf("HashParams(cheap) = %v, want ErrInvalidHash", err)
	}
}

func TestParseHashErrors(t *testing.T) {
	salt := base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 16))
	key := base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32))
	good := func(params string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + key }
	if _, err := ParseHash(good("m=19456,t=2,p=1")); err != nil {
		t.Fatalf("well-formed hash rejected: %v", err)
	}
	if _, err := ParseHash(good("m=7168,t=5,p=1")); err != nil {
		t.Fatalf("OWASP 7 MiB x 5 rejected: %v", err)
	}
	tests := []struct{ name, in, want string }{
		{"empty", "", "want an argon2id hash"},
		{"plain PIN", "123456", "plain PIN"},
		{"plain PIN with hash", "1234#", "plain PIN"},
		{"bcrypt", "$2a$10$abcdefghijklmnopqrstuv", "want an argon2id hash"},
		{"argon2i", "$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + key, "only argon2id"},
		{"version 16", "$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + key, "version 19"},
		{"no version", "$argon2id$m=19456,t=2,p=1$" + salt + "$" + key, "version 19"},
		{"missing hash", "$argon2id$v=19$m=19456,t=2,p=1$" + salt, "3 '$'-separated"},
		{"extra field", good("m=19456,t=2,p=1") + "$x", "3 '$'-separated"},
		{"params order", good("t=2,m=19456,p=1"), "m=<KiB>"},
		{"params missing", good("m=19456,t=2"), "m=<KiB>"},
		{"params sign", good("m=+19456,t=2,p=1"), "m=<KiB>"},
		{"params empty", good("m=,t=2,p=1"), "m=<KiB>"},
		{"params overflow", good("m=99999999999,t=2,p=1"), "m=<KiB>"},
		{"params spaces", good("m=19456, t=2, p=1"), "m=<KiB>"},
		{"too many lanes", good("m=19456,t=2,p=300"), "lanes"},
		{"zero lanes", good("m=19456,t=2,p=0"), "lanes"},
		{"zero passes", good("m=19456,t=0,p=1"), "passes"},
		{"many passes", good("m=19456,t=17,p=1"), "passes"},
		{"little memory", good("m=1024,t=16,p=1"), "KiB"},
		{"huge memory", good("m=1048576,t=2,p=1"), "KiB"},
		{"too cheap", good("m=8192,t=2,p=1"), "too cheap"},
		{"salt not base64", "$argon2id$v=19$m=19456,t=2,p=1$!!!!$" + key, "salt is not"},
		{"salt padded", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "==$" + key, "salt is not"},
		{"salt short", "$argon2id$v=19$m=19456,t=2,p=1$" + base64.RawStdEncoding.EncodeToString([]byte("12345678")) + "$" + key, "salt has 8 bytes"},
		{"hash short", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + base64.RawStdEncoding.EncodeToString([]byte("short")), "hash has 5 bytes"},
		{"hash not base64", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$@@@", "hash is not"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := ParseHash(tt.in)
			if err == nil {
				t.Fatalf("ParseHash accepted it: %v", h)
			}
			if !errors.Is(err, ErrInvalidHash) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q: want ErrInvalidHash mentioning %q", err, tt.want)
			}
			if strings.Contains(err.Error(), salt) || strings.Contains(err.Error(), key) || strings.Contains(err.Error(), "123456") {
				t.Fatalf("error %q echoes the value", err)
			}
		})
	}
}

// A Hashed printed by mistake (fmt, slog, a %+v of a Rule) shows only its
// parameters: for a short PIN the hash is as good as the PIN.
func TestHashedNeverPrintsItsHash(t *testing.T) {
	enc, err := Hash("2468")
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHash(enc)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("rule", "host", h)
	outputs := map[string]string{
		"%v":        fmt.Sprintf("%v", h),
		"%v value":  fmt.Sprintf("%v", *h),
		"%#v":       fmt.Sprintf("%#v", *h),
		"%+v value": fmt.Sprintf("%+v", *h),
		"%+v":       fmt.Sprintf("%+v", &Rule{Host: h, Guest: h}),
		"slog":      logged.String(),
	}
	secret := enc[strings.LastIndex(enc, "$")+1:]
	saltB64 := strings.Split(enc, "$")[4]
	for name, out := range outputs {
		if strings.Contains(out, secret) || strings.Contains(out, saltB64) {
			t.Errorf("%s output %q contains the hash", name, out)
		}
	}
	if !strings.Contains(outputs["slog"], "argon2id(m=19456,t=2,p=1)") {
		t.Errorf("slog output %q: want the parameters", outputs["slog"])
	}
}
