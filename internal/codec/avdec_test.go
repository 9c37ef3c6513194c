package codec

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// ffmpegH264 makes an H.264 elementary stream with the ffmpeg binary and
// libx264 (Debian's ffmpeg has it). args go between input and output.
func ffmpegH264(t *testing.T, lavfi string, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("ffmpeg")
	if err != nil {
		t.Skip("ffmpeg binary not installed (Debian package ffmpeg)")
	}
	out := filepath.Join(t.TempDir(), "out.h264")
	cmd := append([]string{"-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", lavfi}, args...)
	cmd = append(cmd, "-c:v", "libx264", "-f", "h264", "-y", out)
	if b, err := exec.Command(bin, cmd...).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg %v: %v\n%s", cmd, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeH264Profiles(t *testing.T) {
	cases := []struct {
		name    string
		lavfi   string
		args    []string
		profile byte // profile_idc in the SPS
		w, h    int
		colour  *yuv // the whole picture's colour, when solid
		// delay is how many frames the decoder may hold back for
		// reordering (B-frames); there is no flush in the interface.
		delay int
	}{
		{name: "high testsrc2 with B-frames", lavfi: "testsrc2=size=640x360:rate=30",
			args: []string{"-frames:v", "10", "-profile:v", "high", "-pix_fmt", "yuv420p"}, w: 640, h: 360, profile: 100, delay: 3},
		{name: "high zerolatency", lavfi: "testsrc2=size=1280x720:rate=30",
			args: []string{"-frames:v", "10", "-profile:v", "high", "-tune", "zerolatency", "-pix_fmt", "yuv420p"}, w: 1280, h: 720, profile: 100},
		{name: "main", lavfi: "color=c=red:size=640x360:rate=30",
			args: []string{"-frames:v", "10", "-profile:v", "main", "-bf", "0", "-pix_fmt", "yuv420p"}, w: 640, h: 360, profile: 77, colour: &colRed},
		{name: "constrained baseline", lavfi: "color=c=blue:size=640x360:rate=30",
			args: []string{"-frames:v", "10", "-profile:v", "baseline", "-pix_fmt", "yuv420p"}, w: 640, h: 360, profile: 66, colour: &colBlue},
		{name: "high full range yuvj420p", lavfi: "color=c=red:size=320x240:rate=30",
			args: []string{"-frames:v", "10", "-profile:v", "high", "-bf", "0", "-pix_fmt", "yuvj420p"}, w: 320, h: 240, profile: 100},
		{name: "high 4:2:2", lavfi: "color=c=red:size=640x360:rate=30",
			args: []string{"-frames:v", "10", "-profile:v", "high422", "-bf", "0", "-pix_fmt", "yuv422p"}, w: 640, h: 360, profile: 122, colour: &colRed},
		{name: "high 4:4:4", lavfi: "color=c=0x00FF00:size=640x360:rate=30",
			args: []string{"-frames:v", "10", "-profile:v", "high444", "-bf", "0", "-pix_fmt", "yuv444p"}, w: 640, h: 360, profile: 244, colour: &colGreen},
		{name: "high 10-bit", lavfi: "color=c=blue:size=640x360:rate=30",
			args: []string{"-frames:v", "10", "-profile:v", "high10", "-bf", "0", "-pix_fmt", "yuv420p10le"}, w: 640, h: 360, profile: 110, colour: &colBlue},
		{name: "odd size 322x182 cropped", lavfi: "color=c=red:size=322x182:rate=30",
			args: []string{"-frames:v", "10", "-profile:v", "high", "-bf", "0", "-pix_fmt", "yuv420p"}, w: 322, h: 182, profile: 100, colour: &colRed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stream := ffmpegH264(t, tc.lavfi, tc.args...)
			aus := accessUnits(stream)
			if len(aus) != 10 {
				t.Fatalf("split the stream into %d access units, want 10", len(aus))
			}
			var sps []byte
			for _, n := range nalUnits(aus[0]) {
				if n[0]&0x1f == 7 {
					sps = n
				}
			}
			if len(sps) < 4 || sps[1] != tc.profile {
				t.Fatalf("stream SPS %x: want profile_idc %d", sps, tc.profile)
			}
			dec := mustDecoder(t, H264)
			pictures := 0
			for i, au := range aus {
				f, err := dec.Decode(au)
				if err != nil {
					t.Fatalf("access unit %d (%d bytes, NAL types %v): %v", i, len(au), nalTypes(au), err)
				}
				if f == nil {
					if i >= tc.delay {
						t.Fatalf("access unit %d: no picture after %d frames of allowed delay", i, tc.delay)
					}
					continue
				}
				pictures++
				w, h := tc.w, tc.h
				if f.Width != w || f.Height != h || !f.valid() {
					t.Fatalf("picture %d is %dx%d (valid %v), want %dx%d", i, f.Width, f.Height, f.valid(), w, h)
				}
				if tc.colour != nil {
					checkColour(t, f, w/2, h/2, *tc.colour)
					checkColour(t, f, w-1, h-1, *tc.colour)
				}
			}
			if pictures < len(aus)-tc.delay {
				t.Errorf("decoded %d pictures from %d access units", pictures, len(aus))
			}
		})
	}
}

// openh264Stream encodes n frames of a moving picture at w x h.
func openh264Stream(t testing.TB, w, h, n int) [][]byte {
	t.Helper()
	enc := mustEncoder(t, videoCodecCases[0], VideoEncoderConfig{Width: w, Height: h, FPS: 30, Bitrate: 800_000})
	frames := movingPicture(w, h, n)
	var out [][]byte
	for i := range frames {
		au, _, err := enc.Encode(&frames[i], i == 0)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, bytes.Clone(au))
	}
	return out
}

func vp8Stream(t testing.TB, w, h, n int) [][]byte {
	t.Helper()
	enc := mustEncoder(t, videoCodecCases[1], VideoEncoderConfig{Width: w, Height: h, FPS: 30, Bitrate: 800_000})
	frames := movingPicture(w, h, n)
	var out [][]byte
	for i := range frames {
		au, _, err := enc.Encode(&frames[i], i == 0)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, bytes.Clone(au))
	}
	return out
}

func codecStream(t testing.TB, c VideoCodec, w, h, n int) [][]byte {
	t.Helper()
	if c == VP8 {
		return vp8Stream(t, w, h, n)
	}
	return openh264Stream(t, w, h, n)
}

// checkUsable decodes a fresh keyframe of a solid colour: after any abuse
// the decoder must still work.
func checkUsable(t *testing.T, dec VideoDecoder, c VideoCodec) {
	t.Helper()
	var enc VideoEncoder
	var err error
	cfg := VideoEncoderConfig{Width: 320, Height: 180, FPS: 30, Bitrate: 300_000}
	if c == VP8 {
		enc, err = NewVP8Encoder(cfg)
	} else {
		enc, err = NewH264Encoder(cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	au, _, err := enc.Encode(solidFrame(320, 180, colGreen), true)
	if err != nil {
		t.Fatal(err)
	}
	f, err := dec.Decode(au)
	if err != nil || f == nil {
		t.Fatalf("decoder unusable afterwards: keyframe gave %v, %v", f, err)
	}
	if f.Width != 320 || f.Height != 180 {
		t.Fatalf("keyframe after abuse decoded as %dx%d", f.Width, f.Height)
	}
	checkColour(t, f, 160, 90, colGreen)
}

func TestDecodeCorrupt(t *testing.T) {
	for _, c := range []VideoCodec{H264, VP8} {
		stream := codecStream(t, c, 640, 360, 5)
		key, delta := stream[0], stream[1]
		rng := rand.New(rand.NewPCG(1, 2))
		random := make([]byte, 3000)
		for i := range random {
			random[i] = byte(rng.Uint32())
		}
		flip := func(b []byte, n int) []byte {
			b = bytes.Clone(b)
			for range n {
				// Spare the first bytes: headers whose damage only makes
				// the unit unrecognisable are covered by the other cases.
				i := 12 + rng.IntN(len(b)-12)
				b[i] ^= 1 << rng.IntN(8)
			}
			return b
		}
		cases := []struct {
			name string
			in   [][]byte // decoded in order on one decoder
			// mustFail: the last unit must be reported corrupt (not
			// merely produce no picture).
			mustFail bool
		}{
			{name: "random bytes", in: [][]byte{random}, mustFail: true},
			{name: "start code then random", in: [][]byte{append([]byte{0, 0, 0, 1, 0x65}, random...)}, mustFail: true},
			// libavcodec cannot tell a VP8 frame cut inside its last
			// token partition, whose length is implied (RFC 6386 section
			// 9.5); the depacketizer sees the missing packets instead.
			{name: "truncated keyframe", in: [][]byte{key[:len(key)/2]}, mustFail: c == H264},
			{name: "keyframe cut to its header", in: [][]byte{key[:min(len(key), 40)]}, mustFail: true},
			{name: "bit flips in keyframe", in: [][]byte{flip(key, 40)}},
			{name: "bit flips in delta frame", in: [][]byte{key, flip(delta, 20)}},
			{name: "truncated delta frame", in: [][]byte{key, delta[:len(delta)/3]}},
			{name: "delta frame without keyframe", in: [][]byte{delta}},
			{name: "zeros", in: [][]byte{make([]byte, 1000)}},
			{name: "one byte", in: [][]byte{{0x00}}},
		}
		for _, tc := range cases {
			t.Run(string(c)+"/"+tc.name, func(t *testing.T) {
				dec := mustDecoder(t, c)
				for i, au := range tc.in {
					f, err := dec.Decode(au)
					if err != nil && !errors.Is(err, ErrCorrupt) {
						t.Fatalf("unit %d: error %v does not wrap ErrCorrupt", i, err)
					}
					if err != nil && f != nil {
						t.Fatalf("unit %d: picture returned with error %v", i, err)
					}
					if f != nil && !f.valid() {
						t.Fatalf("unit %d: unusable picture %dx%d", i, f.Width, f.Height)
					}
					if i == len(tc.in)-1 && tc.mustFail && err == nil {
						t.Fatalf("unit %d: no error (picture %v)", i, f != nil)
					}
				}
				checkUsable(t, dec, c)
			})
		}
	}
}

// rbspReader reads bits from an H.264 NAL unit payload (after the one-byte
// header), with emulation prevention bytes already removed.
type rbspReader struct {
	b   []byte
	pos int
}

func (r *rbspReader) bit() uint32 {
	v := uint32(r.b[r.pos/8]>>(7-r.pos%8)) & 1
	r.pos++
	return v
}

func (r *rbspReader) bits(n int) uint32 {
	var v uint32
	for range n {
		v = v<<1 | r.bit()
	}
	return v
}

func (r *rbspReader) ue() uint32 {
	zeros := 0
	for r.bit() == 0 {
		zeros++
	}
	return 1<<zeros - 1 + r.bits(zeros)
}

type rbspWriter struct {
	b []byte
	n int
}

func (w *rbspWriter) bit(v uint32) {
	if w.n%8 == 0 {
		w.b = append(w.b, 0)
	}
	w.b[len(w.b)-1] |= byte(v&1) << (7 - w.n%8)
	w.n++
}

func (w *rbspWriter) bits(v uint32, n int) {
	for i := n - 1; i >= 0; i-- {
		w.bit(v >> i)
	}
}

func (w *rbspWriter) ue(v uint32) {
	v++
	n := 0
	for x := v; x > 1; x >>= 1 {
		n++
	}
	w.bits(0, n)
	w.bits(v, n+1)
}

func unescapeRBSP(b []byte) []byte {
	var out []byte
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c == 3 {
			zeros = 0
			continue
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

func escapeRBSP(b []byte) []byte {
	var out []byte
	zeros := 0
	for _, c := range b {
		if zeros >= 2 && c <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, c)
		if c == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// resizeSPS rewrites a baseline SPS NAL unit (as openh264 writes it) to
// declare a picture of mbW x mbH macroblocks, keeping every other field.
func resizeSPS(t *testing.T, sps []byte, mbW, mbH uint32) []byte {
	t.Helper()
	rb := unescapeRBSP(sps[1:])
	r := &rbspReader{b: rb}
	w := &rbspWriter{}
	profile := r.bits(8)
	if profile != 66 {
		t.Fatalf("resizeSPS handles baseline SPS only, got profile %d", profile)
	}
	w.bits(profile, 8)
	w.bits(r.bits(16), 16) // constraint flags, level_idc
	w.ue(r.ue())           // seq_parameter_set_id
	w.ue(r.ue())           // log2_max_frame_num_minus4
	poc := r.ue()
	w.ue(poc)
	switch poc {
	case 0:
		w.ue(r.ue()) // log2_max_pic_order_cnt_lsb_minus4
	case 1:
		t.Fatal("resizeSPS: pic_order_cnt_type 1 not handled")
	}
	w.ue(r.ue())   // max_num_ref_frames
	w.bit(r.bit()) // gaps_in_frame_num_value_allowed_flag
	r.ue()         // old pic_width_in_mbs_minus1
	r.ue()         // old pic_height_in_map_units_minus1
	w.ue(mbW - 1)
	w.ue(mbH - 1)
	// The rest, rbsp trailing bits included.
	for r.pos < 8*len(rb) {
		w.bit(r.bit())
	}
	for len(w.b) > 0 && w.b[len(w.b)-1] == 0 {
		w.b = w.b[:len(w.b)-1]
	}
	return append([]byte{sps[0]}, escapeRBSP(w.b)...)
}

// withSPS replaces the SPS NAL unit of an access unit.
func withSPS(au, sps []byte) []byte {
	var out []byte
	for _, n := range nalUnits(au) {
		if n[0]&0x1f == 7 {
			n = sps
		}
		out = append(out, 0, 0, 0, 1)
		out = append(out, n...)
	}
	return out
}

// vp8Resized patches the size fields of a VP8 keyframe header (RFC 6386
// section 9.1: 14-bit width and height after the start code 9d 01 2a).
func vp8Resized(key []byte, w, h uint16) []byte {
	b := bytes.Clone(key)
	b[6], b[7] = byte(w), byte(w>>8)&0x3f
	b[8], b[9] = byte(h), byte(h>>8)&0x3f
	return b
}

func TestDecodeRefusesHugePictures(t *testing.T) {
	h264Key := openh264Stream(t, 640, 360, 1)[0]
	var sps []byte
	for _, n := range nalUnits(h264Key) {
		if n[0]&0x1f == 7 {
			sps = n
		}
	}
	// Sanity: the rewriter reproduces a valid stream at the original size.
	same := withSPS(h264Key, resizeSPS(t, sps, 40, 23))
	vp8Key := vp8Stream(t, 640, 360, 1)[0]
	if b := vp8Key[3:6]; !bytes.Equal(b, []byte{0x9d, 0x01, 0x2a}) {
		t.Fatalf("VP8 keyframe start code %x", b)
	}
	// want is nil for a good picture. Sizes libavcodec itself cannot
	// represent (its limit is about 16384x16384) fail with ErrCorrupt
	// before our checks run; everything else above MaxVideoDimension must
	// be refused by ours, with ErrTooLarge.
	cases := []struct {
		name  string
		codec VideoCodec
		au    []byte
		want  error
	}{
		{"H264 unchanged size", H264, same, nil},
		{"H264 16384x16384", H264, withSPS(h264Key, resizeSPS(t, sps, 1024, 1024)), ErrCorrupt},
		{"H264 16000x16000", H264, withSPS(h264Key, resizeSPS(t, sps, 1000, 1000)), ErrTooLarge},
		{"H264 4112x4112 just above the limit", H264, withSPS(h264Key, resizeSPS(t, sps, 257, 257)), ErrTooLarge},
		{"H264 8192x64 thin", H264, withSPS(h264Key, resizeSPS(t, sps, 512, 4)), ErrTooLarge},
		{"H264 64x8192 tall", H264, withSPS(h264Key, resizeSPS(t, sps, 4, 512)), ErrTooLarge},
		{"VP8 unchanged size", VP8, vp8Resized(vp8Key, 640, 360), nil},
		{"VP8 16383x16383", VP8, vp8Resized(vp8Key, 16383, 16383), ErrTooLarge},
		{"VP8 5000x5000", VP8, vp8Resized(vp8Key, 5000, 5000), ErrTooLarge},
		{"VP8 4200x32 thin", VP8, vp8Resized(vp8Key, 4200, 32), ErrTooLarge},
		{"VP8 16x4100 tall", VP8, vp8Resized(vp8Key, 16, 4100), ErrTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dec := mustDecoder(t, tc.codec)
			f, err := dec.Decode(tc.au)
			if tc.want == nil {
				if err != nil || f == nil || f.Width != 640 || f.Height != 360 {
					t.Fatalf("decode = %v, %v; want a 640x360 picture", f, err)
				}
				return
			}
			if !errors.Is(err, tc.want) || !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode = picture %v, error %v; want an error wrapping %v and ErrCorrupt", f != nil, err, tc.want)
			}
			if f != nil {
				t.Fatalf("picture %dx%d returned with error", f.Width, f.Height)
			}
			checkUsable(t, dec, tc.codec)
		})
	}
}

func TestDecodeResolutionChange(t *testing.T) {
	sizes := [][2]int{{640, 360}, {320, 180}, {1280, 720}, {176, 144}}
	for _, c := range videoCodecCases {
		t.Run(string(c.codec), func(t *testing.T) {
			dec := mustDecoder(t, c.codec)
			for _, sz := range sizes {
				w, h := sz[0], sz[1]
				enc := mustEncoder(t, c, VideoEncoderConfig{Width: w, Height: h, FPS: 30, Bitrate: 600_000})
				for i, au := range encodeFrames(t, enc, quadFrame(w, h), quadFrame(w, h), quadFrame(w, h)) {
					f, err := dec.Decode(au)
					if err != nil || f == nil {
						t.Fatalf("%dx%d frame %d: %v, %v", w, h, i, f, err)
					}
					if f.Width != w || f.Height != h {
						t.Fatalf("%dx%d frame %d decoded as %dx%d", w, h, i, f.Width, f.Height)
					}
					checkQuad(t, f)
				}
			}
		})
	}
}

func TestVideoDecoderClose(t *testing.T) {
	for _, c := range []VideoCodec{H264, VP8} {
		t.Run(string(c), func(t *testing.T) {
			dec, err := NewVideoDecoder(c)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := dec.Decode(nil); !errors.Is(err, ErrEmptyPayload) {
				t.Errorf("Decode(nil) = %v, want ErrEmptyPayload", err)
			}
			for range 2 {
				if err := dec.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
			}
			if _, err := dec.Decode([]byte{0, 0, 0, 1, 0x67}); !errors.Is(err, ErrClosed) {
				t.Errorf("Decode after Close = %v, want ErrClosed", err)
			}
		})
	}
	if _, err := NewVideoDecoder("H265"); !errors.Is(err, ErrUnknownCodec) {
		t.Errorf("NewVideoDecoder(H265) = %v, want ErrUnknownCodec", err)
	}
}

// TestDecodePictureIsView checks that Decode hands out the decoder's own
// planes (no copy) and that they change with the next Decode.
func TestDecodePictureIsView(t *testing.T) {
	enc := mustEncoder(t, videoCodecCases[0], VideoEncoderConfig{Width: 320, Height: 180, FPS: 30, Bitrate: 300_000})
	aus := encodeFrames(t, enc, solidFrame(320, 180, colRed), solidFrame(320, 180, colBlue))
	dec := mustDecoder(t, H264)
	f1, err := dec.Decode(aus[0])
	if err != nil || f1 == nil {
		t.Fatal(f1, err)
	}
	checkColour(t, f1, 160, 90, colRed)
	y1 := slices.Clone(f1.Y[:8])
	f2, err := dec.Decode(aus[1])
	if err != nil || f2 == nil {
		t.Fatal(f2, err)
	}
	checkColour(t, f2, 160, 90, colBlue)
	if bytes.Equal(y1, f2.Y[:8]) {
		t.Fatal("second picture has the first one's pixels")
	}
}
