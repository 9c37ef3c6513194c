package stream

import (
	"bytes"
	"testing"
)

func TestAVCConfigRecord(t *testing.T) {
	// A High profile (100) SPS, level 3.1, 4:2:0 8-bit, as x264 writes it.
	sps := []byte{0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10}
	pps := []byte{0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0}
	for _, tc := range []struct {
		name string
		sps  []byte
		want []byte
	}{
		{"high adds chroma and bit depth", sps, append(append(append(
			[]byte{1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0, 12}, sps...), append([]byte{1, 0, 6}, pps...)...),
			0xfd, 0xf8, 0xf8, 0)},
		{"main has no extension", append([]byte{0x67, 0x4d, 0x40, 0x1f}, sps[4:]...), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, err := avcConfigRecord(tc.sps, pps)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil && !bytes.Equal(rec, tc.want) {
				t.Fatalf("record % x\nwant   % x", rec, tc.want)
			}
			if tc.want == nil && len(rec) != 6+2+len(tc.sps)+3+len(pps) {
				t.Fatalf("record % x has %d bytes", rec, len(rec))
			}
		})
	}
	if _, err := avcConfigRecord([]byte{0x67}, pps); err == nil {
		t.Fatal("short sps accepted")
	}
}

func TestAppendAVCC(t *testing.T) {
	au := []byte{0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 1, 0x65, 4, 5, 6}
	out, sps, pps := appendAVCC(nil, au)
	want := []byte{0, 0, 0, 3, 0x67, 1, 2, 0, 0, 0, 2, 0x68, 3, 0, 0, 0, 4, 0x65, 4, 5, 6}
	if !bytes.Equal(out, want) {
		t.Fatalf("avcc % x\nwant % x", out, want)
	}
	if !bytes.Equal(sps, []byte{0x67, 1, 2}) || !bytes.Equal(pps, []byte{0x68, 3}) {
		t.Fatalf("sps % x pps % x", sps, pps)
	}
}

func TestBadURLFails(t *testing.T) {
	for _, u := range []string{"http://example.invalid/live", "rtmp:///live", "::"} {
		t.Run(u, func(t *testing.T) {
			p := New(Config{URL: u, Key: "k"})
			p.Start()
			p.Stop()
			if p.State() != StateFailed || p.Err() == nil {
				t.Fatalf("state %v err %v", p.State(), p.Err())
			}
		})
	}
}

func TestWritesDropWhenNotLive(t *testing.T) {
	p := New(Config{URL: "rtmp://127.0.0.1:1/live", Key: "k"})
	p.SetAudioConfig([]byte{0x11, 0x90})
	p.WriteVideo([]byte{0, 0, 0, 1, 0x65, 1}, 0, true)
	p.WriteAudio([]byte{1, 2, 3}, 0)
	if st := p.Stats(); st.FramesDropped != 2 || st.FramesSent != 0 {
		t.Fatalf("stats %+v", st)
	}
	p.Stop()
}
