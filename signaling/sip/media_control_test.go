package sip

import (
	"errors"
	"strings"
	"testing"
)

func TestParseMediaControl(t *testing.T) {
	const fpu = `<?xml version="1.0" encoding="utf-8" ?>
<media_control>
  <vc_primitive>
    <to_encoder>
      <picture_fast_update/>
    </to_encoder>
  </vc_primitive>
</media_control>`
	tests := []struct {
		name    string
		body    string
		want    bool
		wantErr bool
	}{
		{"picture fast update", fpu, true, false},
		{"one line with stream id", `<media_control><vc_primitive><stream_id>1</stream_id><to_encoder><picture_fast_update></picture_fast_update></to_encoder></vc_primitive></media_control>`, true, false},
		{"other primitive", `<media_control><general_error>x</general_error></media_control>`, false, false},
		{"fast update in the wrong place", `<media_control><picture_fast_update/></media_control>`, false, false},
		{"wrong root", `<foo><vc_primitive><to_encoder><picture_fast_update/></to_encoder></vc_primitive></foo>`, false, true},
		{"not XML", `picture_fast_update`, false, true},
		{"unclosed", `<media_control><vc_primitive>`, false, true},
		{"too deep", strings.Repeat("<a>", 20) + strings.Repeat("</a>", 20), false, true},
		{"too long", "<media_control>" + strings.Repeat(" ", 5000) + "</media_control>", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMediaControl([]byte(tt.body))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("parseMediaControl = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
			if err != nil && !errors.Is(err, errMediaControlMalformed) {
				t.Fatalf("error %v does not wrap errMediaControlMalformed", err)
			}
		})
	}
	for ct, want := range map[string]bool{"application/media_control+xml": true, "Application/Media_Control+XML; charset=utf-8": true, "application/xml": false} {
		if isMediaControl(ct) != want {
			t.Errorf("isMediaControl(%q) != %v", ct, want)
		}
	}
}

func FuzzParseMediaControl(f *testing.F) {
	f.Add([]byte(`<media_control><vc_primitive><to_encoder><picture_fast_update/></to_encoder></vc_primitive></media_control>`))
	f.Add([]byte(`<media_control/>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _ = parseMediaControl(body)
	})
}
