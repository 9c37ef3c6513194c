package pin

import (
	"errors"
	"strings"
	"testing"
)

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"1234", "1234#", "#", "", "12a4", "123456789012345678901", " 0000\n", "12#34"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Normalize(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidPIN) {
				t.Fatalf("error %v does not wrap ErrInvalidPIN", err)
			}
			return
		}
		if len(got) < MinDigits || len(got) > MaxDigits || strings.Trim(got, "0123456789") != "" {
			t.Fatalf("Normalize accepted %q", got)
		}
		if again, err := Normalize(got); err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q, %v", got, again, err)
		}
	})
}

func FuzzParseHash(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$BwcHBwcHBwcHBwcHBwcHBw$CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk")
	f.Add("$argon2id$v=19$m=7168,t=5,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2i$v=19$m=19456,t=2,p=1$$")
	f.Add("1234")
	f.Add("$argon2id$v=19$m=,t=,p=$$")
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHash(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidHash) {
				t.Fatalf("error %v does not wrap ErrInvalidHash", err)
			}
			return
		}
		if err := h.Params().check(); err != nil {
			t.Fatalf("accepted out-of-bounds parameters: %v", err)
		}
		again, err := ParseHash(h.Encode())
		if err != nil || again.Encode() != h.Encode() {
			t.Fatalf("round trip of an accepted hash failed: %v", err)
		}
	})
}
