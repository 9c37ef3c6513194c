package sip

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseInfoDTMF(t *testing.T) {
	const relay = "application/dtmf-relay"
	tests := []struct {
		name string
		ct   string
		body string
		want string
		err  error
	}{
		{"relay", relay, "Signal=5\r\nDuration=160\r\n", "5", nil},
		{"relay space after =", relay, "Signal= 5\r\nDuration= 160\r\n", "5", nil},
		{"relay spaces around", relay, "  Signal =  #  \r\n Duration = 250 ", "#", nil},
		{"relay lf only", relay, "Signal=9\nDuration=100\n", "9", nil},
		{"relay no duration", relay, "Signal=0", "0", nil},
		{"relay star", relay, "Signal=*\r\nDuration=160", "*", nil},
		{"relay code 10 is star", relay, "Signal=10\r\nDuration=160", "*", nil},
		{"relay code 11 is hash", relay, "Signal=11\r\nDuration=160", "#", nil},
		{"relay codes 12-15", relay, "Signal=12\nSignal=13\nSignal=14\nSignal=15", "ABCD", nil},
		{"relay letters any case", relay, "signal=a\nSIGNAL=D", "AD", nil},
		{"relay unknown keys ignored", relay, "Signal=3\r\nDuration=160\r\nVolume=10\r\n", "3", nil},
		{"relay blank lines", relay, "\r\n\r\nSignal=7\r\n\r\n", "7", nil},
		{"type any case", "Application/DTMF-Relay", "Signal=1", "1", nil},
		{"type with parameters", "application/dtmf-relay; charset=utf-8", "Signal=2", "2", nil},
		{"type with spaces", " application/dtmf-relay ;x", "Signal=2", "2", nil},
		{"plain digit", "application/dtmf", "5", "5", nil},
		{"plain with newline", "application/dtmf", "#\r\n", "#", nil},
		{"plain code", "application/dtmf", "10", "*", nil},
		{"plain names", "application/dtmf", "one Star POUND nine hash asterisk zero", "1*#9#*0", nil},
		{"plain several", "application/dtmf", "1 2\n3", "123", nil},
		{"plain letter", "application/dtmf", "c", "C", nil},
		{"plain type with parameter", "APPLICATION/DTMF;foo=bar", "8", "8", nil},

		{"sdp is unsupported", "application/sdp", "v=0", "", errInfoUnsupported},
		{"text is unsupported", "text/plain", "5", "", errInfoUnsupported},
		{"no type", "", "Signal=5", "", errInfoUnsupported},
		{"type prefix only", "application/dtmf-relayx", "Signal=5", "", errInfoUnsupported},
		{"relay empty", relay, "", "", errInfoMalformed},
		{"relay blank", relay, "\r\n \r\n", "", errInfoMalformed},
		{"relay no signal", relay, "Duration=160", "", errInfoMalformed},
		{"relay bad signal", relay, "Signal=E", "", errInfoMalformed},
		{"relay signal 16", relay, "Signal=16", "", errInfoMalformed},
		{"relay signal two keys", relay, "Signal=12345", "", errInfoMalformed},
		{"relay signal empty", relay, "Signal=", "", errInfoMalformed},
		{"relay signal +10", relay, "Signal=+1", "", errInfoMalformed},
		{"relay bad duration", relay, "Signal=5\r\nDuration=abc", "", errInfoMalformed},
		{"relay negative duration", relay, "Signal=5\r\nDuration=-160", "", errInfoMalformed},
		{"relay line without =", relay, "Signal 5", "", errInfoMalformed},
		{"relay binary", relay, "\x00\xff\x13", "", errInfoMalformed},
		{"relay too long", relay, "Signal=5\r\n" + strings.Repeat(" ", 1100), "", errInfoMalformed},
		{"plain empty", "application/dtmf", " ", "", errInfoMalformed},
		{"plain unknown name", "application/dtmf", "five six seven eleven", "", errInfoMalformed},
		{"plain digits run together", "application/dtmf", "123", "", errInfoMalformed},
		{"plain relay body", "application/dtmf", "Signal=5", "", errInfoMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseInfoDTMF(tt.ct, []byte(tt.body))
			if !errors.Is(err, tt.err) || (err == nil) != (tt.err == nil) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if string(got) != tt.want {
				t.Fatalf("digits %q, want %q", string(got), tt.want)
			}
		})
	}
}

// TestParseInfoDTMFErrorsHideBody: error texts go into logs and Warning
// headers, and the body's digits may be a PIN.
func TestParseInfoDTMFErrorsHideBody(t *testing.T) {
	for _, body := range []string{"Signal=13579", "Signal=5\nDuration=24680x", "Signal 97531", "x\ny\nz=1\n86420"} {
		_, err := parseInfoDTMF("application/dtmf-relay", []byte(body))
		if err == nil {
			t.Fatalf("%q: no error", body)
		}
		for _, secret := range []string{"1357", "2468", "9753", "8642"} {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error %q shows the body", err)
			}
		}
	}
	_, err := parseInfoDTMF("text/x\r\nInjected: yes", nil)
	if !errors.Is(err, errInfoUnsupported) || strings.ContainsAny(err.Error(), "\r\n") {
		t.Fatalf("error %q", err)
	}
}

// FuzzParseInfoDTMF: any input gives either digits or one of the two errors;
// digits are valid keys; the digits parsed are stable when written back as
// dtmf-relay or plain bodies.
func FuzzParseInfoDTMF(f *testing.F) {
	f.Add("application/dtmf-relay", []byte("Signal=5\r\nDuration=160\r\n"))
	f.Add("application/dtmf", []byte("#"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		digits, err := parseInfoDTMF(ct, body)
		if err != nil {
			if digits != nil {
				t.Fatalf("digits %q with error %v", string(digits), err)
			}
			if errors.Is(err, errInfoUnsupported) == errors.Is(err, errInfoMalformed) {
				t.Fatalf("error %v is neither or both kinds", err)
			}
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error %q has a line break", err)
			}
			return
		}
		if len(digits) == 0 {
			t.Fatal("no digits and no error")
		}
		var relay, plain strings.Builder
		for _, d := range digits {
			if d >= utf8.RuneSelf || !strings.ContainsRune(dtmfEventKeys, d) {
				t.Fatalf("invalid key %q", d)
			}
			relay.WriteString("Signal=" + string(d) + "\r\nDuration=100\r\n")
			plain.WriteString(string(d) + " ")
		}
		for _, again := range []struct{ ct, body string }{
			{"application/dtmf-relay", relay.String()}, {"application/dtmf", plain.String()},
		} {
			if len(again.body) > maxInfoDTMFBody {
				continue
			}
			got, err := parseInfoDTMF(again.ct, []byte(again.body))
			if err != nil || string(got) != string(digits) {
				t.Fatalf("%s round trip of %q: %q, %v", again.ct, string(digits), string(got), err)
			}
		}
	})
}
