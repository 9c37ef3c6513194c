package pin

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name, in, want string
		wantErr        string // substring of the error; empty: no error
	}{
		{name: "four digits", in: "1234", want: "1234"},
		{name: "twenty digits", in: "12345678901234567890", want: "12345678901234567890"},
		{name: "hash stripped", in: "1234#", want: "1234"},
		{name: "leading zeros kept", in: "0007", want: "0007"},
		{name: "newline from stdin", in: "4321\n", want: "4321"},
		{name: "crlf and hash", in: " 4321#\r\n", want: "4321"},
		{name: "empty", in: "", wantErr: "empty"},
		{name: "hash alone", in: "#", wantErr: "empty"},
		{name: "three digits", in: "123", wantErr: "at least 4"},
		{name: "three digits and hash", in: "123#", wantErr: "at least 4"},
		{name: "twenty-one digits", in: "123456789012345678901", wantErr: "at most 20"},
		{name: "letter", in: "12a4", wantErr: "only the digits"},
		{name: "star", in: "12*4", wantErr: "only the digits"},
		{name: "hash inside", in: "12#34", wantErr: "only the digits"},
		{name: "two hashes", in: "1234##", wantErr: "only the digits"},
		{name: "inner space", in: "12 34", wantErr: "only the digits"},
		{name: "unicode digit", in: "12٣4", wantErr: "only the digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Normalize(tt.in)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("Normalize = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Normalize = %q, nil; want an error containing %q", got, tt.wantErr)
			}
			if !errors.Is(err, ErrInvalidPIN) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %q: want ErrInvalidPIN mentioning %q", err, tt.wantErr)
			}
			if digits := strings.Trim(tt.in, "# \r\n"); len(digits) >= 2 && strings.Contains(err.Error(), digits) {
				t.Fatalf("error %q echoes the PIN", err)
			}
		})
	}
}
