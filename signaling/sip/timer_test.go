package sip

import (
	"errors"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func inviteWith(headers ...sip.Header) *sip.Request {
	req := sip.NewRequest(sip.INVITE, sip.Uri{User: "1001", Host: "127.0.0.1"})
	for _, h := range headers {
		req.AppendHeader(h)
	}
	return req
}

func TestNegotiateTimer(t *testing.T) {
	const want, minSE = 1800 * time.Second, 90 * time.Second
	tests := []struct {
		name      string
		headers   []sip.Header
		interval  time.Duration
		refresher string
		require   bool
		err       error
	}{
		{name: "no support, no request", interval: 0},
		{name: "supported only", headers: []sip.Header{sip.NewHeader("Supported", "replaces, timer")}, interval: want, refresher: "uac", require: true},
		{name: "compact supported", headers: []sip.Header{sip.NewHeader("k", "timer")}, interval: want, refresher: "uac", require: true},
		{name: "asked uac", headers: []sip.Header{sip.NewHeader("Supported", "timer"), sip.NewHeader("Session-Expires", "90;refresher=uac")}, interval: 90 * time.Second, refresher: "uac", require: true},
		{name: "asked uas", headers: []sip.Header{sip.NewHeader("Supported", "timer"), sip.NewHeader("Session-Expires", "120;refresher=uas")}, interval: 120 * time.Second, refresher: "uas"},
		{name: "no refresher, no support", headers: []sip.Header{sip.NewHeader("Session-Expires", "300")}, interval: 300 * time.Second, refresher: "uas"},
		{name: "compact x", headers: []sip.Header{sip.NewHeader("x", "100;refresher=uac")}, interval: 100 * time.Second, refresher: "uac", require: true},
		{name: "too large is lowered", headers: []sip.Header{sip.NewHeader("Supported", "timer"), sip.NewHeader("Session-Expires", "7200")}, interval: want, refresher: "uac", require: true},
		{name: "below Min-SE", headers: []sip.Header{sip.NewHeader("Session-Expires", "30")}, err: ErrSessionIntervalTooSmall},
		{name: "garbage", headers: []sip.Header{sip.NewHeader("Session-Expires", "soon")}, err: errBadHeader},
		{name: "zero", headers: []sip.Header{sip.NewHeader("Session-Expires", "0")}, err: errBadHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := negotiateTimer(inviteWith(tt.headers...), want, minSE)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if err != nil {
				return
			}
			if got.interval != tt.interval || got.refresher != tt.refresher || got.require != tt.require {
				t.Fatalf("got %+v, want interval %v refresher %q require %v", got, tt.interval, tt.refresher, tt.require)
			}
		})
	}
}

func TestExpiryDelay(t *testing.T) {
	for _, tt := range []struct{ interval, want time.Duration }{
		{90 * time.Second, 60 * time.Second},     // a third is 30 s, less than 32
		{1800 * time.Second, 1768 * time.Second}, // 32 s
	} {
		if got := (sessionTimer{interval: tt.interval}).expiryDelay(); got != tt.want {
			t.Errorf("expiryDelay(%v) = %v, want %v", tt.interval, got, tt.want)
		}
	}
}

func TestRoomNumber(t *testing.T) {
	for _, tt := range []struct {
		user string
		want string
		ok   bool
	}{
		{"1001", "1001", true},
		{"+4721000000", "4721000000", true},
		{"", "", false},
		{"+", "", false},
		{"room1", "", false},
		{"10 01", "", false},
		{"123456789012345678901234567890123", "", false},
	} {
		got, err := roomNumber(sip.Uri{User: tt.user, Host: "example.org"})
		if (err == nil) != tt.ok || string(got) != tt.want {
			t.Errorf("roomNumber(%q) = %q, %v", tt.user, got, err)
		}
	}
}
