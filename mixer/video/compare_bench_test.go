//go:build linux

package video

// Benchmarks that compare the compositor with a baseline measured in the
// same run, so that the figures are ratios and survive a loaded machine.
//
//	go test -run '^$' -bench 'CompareFFmpeg|Latency' -benchtime 600x -count=1 ./mixer/video/
//
// BenchmarkCompareFFmpeg*: compose one 1280x720 2x2 canvas from four moving
// 640x360 inputs and encode it on one thread, ours against ffmpeg's xstack
// and the same encoder settings. CPU time, not wall time, is compared: both
// run on the same cores one after the other, and other load on the machine
// adds wall time but little CPU time to either.
//
// BenchmarkLatency*: the time from a picture's arrival at the compositor
// (Input.WriteFrame) to the first composed frame that shows it leaving the
// mixer (Sink.WriteVideo, where a leg packetizes and sends), with the real
// ticker at 30 fps and real encoders in a four-party 4:0 room.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"

	"vmrd/internal/codec"
	"vmrd/internal/media"
)

const (
	cmpInW, cmpInH   = 640, 360
	cmpOutW, cmpOutH = 1280, 720
	cmpFPS           = 30
	cmpBitrate       = 1_500_000
	// cmpClipFrames is the length of each input clip; longer runs loop
	// it, ffmpeg with -stream_loop, ours by index.
	cmpClipFrames = 300
	// rusageThread is Linux's RUSAGE_THREAD, which package syscall does
	// not name: the CPU time of the calling thread only.
	rusageThread = 1
)

// cmpSources are the four inputs: moving test patterns with fine detail,
// smooth gradients and a zooming fractal, so that neither encoder gets an
// easy still picture.
var cmpSources = []string{
	"testsrc2=s=640x360:r=30",
	"mandelbrot=s=640x360:r=30",
	"gradients=s=640x360:r=30:speed=0.02",
	"testsrc2=s=640x360:r=30,hflip,hue=H=t",
}

// rawClip is one input clip: the raw yuv420p file ffmpeg reads and the same
// pictures as frames for the compositor.
type rawClip struct {
	path   string
	frames []codec.Frame
}

// makeRawClips writes the four inputs as raw yuv420p files into a temporary
// folder and loads them.
func makeRawClips(b *testing.B, ffmpeg string) []rawClip {
	b.Helper()
	dir := b.TempDir()
	clips := make([]rawClip, len(cmpSources))
	for i, src := range cmpSources {
		path := filepath.Join(dir, fmt.Sprintf("in%d.yuv", i))
		out, err := exec.Command(ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
			"-f", "lavfi", "-i", src, "-frames:v", strconv.Itoa(cmpClipFrames),
			"-pix_fmt", "yuv420p", "-f", "rawvideo", path).CombinedOutput()
		if err != nil {
			b.Fatalf("make input %d (%s): %v\n%s", i, src, err, out)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		ys, cs := cmpInW*cmpInH, (cmpInW/2)*(cmpInH/2)
		size := ys + 2*cs
		if len(data) != size*cmpClipFrames {
			b.Fatalf("input %d is %d bytes, want %d frames of %d", i, len(data), cmpClipFrames, size)
		}
		clips[i].path = path
		for off := 0; off < len(data); off += size {
			p := data[off : off+size : off+size]
			clips[i].frames = append(clips[i].frames, codec.Frame{Width: cmpInW, Height: cmpInH,
				Y: p[:ys:ys], U: p[ys : ys+cs : ys+cs], V: p[ys+cs:], StrideY: cmpInW, StrideUV: cmpInW / 2})
		}
	}
	return clips
}

// cpuTimes reads the CPU time (user + system) of the process and of the
// calling thread.
func cpuTimes(b *testing.B) (process, thread time.Duration) {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	process = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		b.Fatal(err)
	}
	thread = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return process, thread
}

// ffmpegEncoder is the baseline's encoder and its options.
type ffmpegEncoder struct {
	name string
	args []string
	// format is the muxer of the output file, whose size checks that
	// both sides produced about the same bitrate.
	format string
}

// vp8FFmpeg mirrors codec.NewVP8Encoder: realtime, cpu-used
// codec.VP8CPUUsed, one thread, one pass CBR (min = max = target), quantiser 2..56, the same
// rate buffer (1000 ms, 500 ms initially), undershoot 100 %, overshoot
// 15 %, no lag, error resilient, no frame dropping, static threshold 1, no
// noise reduction, intra frames capped at 300 %, and no periodic
// keyframes (ffmpeg's default GOP of 12 would add a keyframe every 12
// frames, which ours does not do).
func vp8FFmpeg() ffmpegEncoder {
	kbps := strconv.Itoa(cmpBitrate/1000) + "k"
	return ffmpegEncoder{name: "libvpx", format: "ivf", args: []string{
		"-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", strconv.Itoa(codec.VP8CPUUsed), "-threads", "1",
		"-b:v", kbps, "-minrate", kbps, "-maxrate", kbps, "-bufsize", kbps,
		"-rc_init_occupancy", strconv.Itoa(cmpBitrate/2000) + "k",
		"-qmin", "2", "-qmax", "56", "-undershoot-pct", "100", "-overshoot-pct", "15",
		"-lag-in-frames", "0", "-auto-alt-ref", "0", "-error-resilient", "1", "-drop-threshold", "0",
		"-static-thresh", "1", "-noise-sensitivity", "0", "-max-intra-rate", "300",
		"-g", "100000",
	}}
}

// h264FFmpeg is openh264 through ffmpeg when ffmpeg has it; Debian's
// ffmpeg does not, and then the nearest thing is libx264 at its fastest
// preset with zero latency and baseline profile (a different encoder:
// the ratio then says how ours compares with what ffmpeg offers, not
// openh264 against itself).
func h264FFmpeg(b *testing.B, ffmpeg string) ffmpegEncoder {
	b.Helper()
	kbps := strconv.Itoa(cmpBitrate/1000) + "k"
	out, err := exec.Command(ffmpeg, "-hide_banner", "-encoders").Output()
	if err != nil {
		b.Fatalf("ffmpeg -encoders: %v", err)
	}
	if strings.Contains(string(out), " libopenh264 ") {
		return ffmpegEncoder{name: "libopenh264", format: "h264", args: []string{
			"-c:v", "libopenh264", "-threads", "1", "-b:v", kbps, "-maxrate", kbps,
			"-rc_mode", "bitrate", "-allow_skip_frames", "0", "-g", "100000",
		}}
	}
	if !strings.Contains(string(out), " libx264 ") {
		b.Skip("ffmpeg has neither libopenh264 nor libx264")
	}
	return ffmpegEncoder{name: "libx264 (no libopenh264 in this ffmpeg)", format: "h264", args: []string{
		"-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline",
		"-threads", "1", "-b:v", kbps, "-maxrate", kbps, "-bufsize", kbps,
		"-g", "100000", "-sc_threshold", "0",
	}}
}

// ffmpegResult is one run of the baseline.
type ffmpegResult struct {
	frames int
	cpu    time.Duration // user + system of the process, all its threads
	wall   time.Duration
	bytes  int64
}

// runFFmpegCompose stacks the four clips into 1280x720 and encodes frames
// of it. staggered plays the clips at half the rate, the odd ones a frame
// later (see BenchmarkCompareFFmpegVP8Staggered).
func runFFmpegCompose(b *testing.B, ffmpeg string, clips []rawClip, enc ffmpegEncoder, frames int, staggered bool) ffmpegResult {
	b.Helper()
	args := []string{"-hide_banner", "-nostdin", "-loglevel", "error", "-y"}
	for i, c := range clips {
		rate := cmpFPS
		if staggered {
			rate = cmpFPS / 2
		}
		args = append(args, "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", fmt.Sprintf("%dx%d", cmpInW, cmpInH),
			"-r", strconv.Itoa(rate))
		if staggered && i%2 == 1 {
			args = append(args, "-itsoffset", strconv.FormatFloat(1.0/cmpFPS, 'f', 6, 64))
		}
		args = append(args, "-stream_loop", "-1", "-i", c.path)
	}
	outPath := "-"
	if enc.format != "null" {
		outPath = filepath.Join(b.TempDir(), "out."+enc.format)
	}
	args = append(args, "-filter_complex_threads", "1",
		"-filter_complex", "[0:v][1:v][2:v][3:v]xstack=inputs=4:layout=0_0|w0_0|0_h0|w0_h0[v]",
		"-map", "[v]", "-frames:v", strconv.Itoa(frames))
	args = append(args, enc.args...)
	args = append(args, "-f", enc.format, outPath)
	cmd := exec.Command(ffmpeg, args...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	wall := time.Since(start)
	if err != nil {
		b.Fatalf("ffmpeg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	r := ffmpegResult{frames: frames, cpu: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), wall: wall}
	if outPath != "-" {
		st, err := os.Stat(outPath)
		if err != nil {
			b.Fatal(err)
		}
		r.bytes = st.Size()
	}
	return r
}

// countSink counts pictures and bytes.
type countSink struct {
	pictures int
	bytes    int
}

func (s *countSink) WriteVideo(payloads [][]byte, _ uint32, _ bool) {
	s.pictures++
	for _, p := range payloads {
		s.bytes += len(p)
	}
}

// onlyCanvasEncoder gives the viewer's 1280x720 group a real encoder and
// every other group nopEncoder. The four inputs must be participants (the
// mixer has no other kind of input), and each of them sees a view of its
// own; their outputs are made 32x18 with no real encoder, so the benchmark
// pays for little besides the one canvas under test. What they cost
// (rendering three tiny canvases) is counted against us.
func onlyCanvasEncoder(real func(codec.VideoEncoderConfig) (codec.VideoEncoder, error)) func(codec.VideoCodec, codec.VideoEncoderConfig) (codec.VideoEncoder, error) {
	return func(c codec.VideoCodec, cfg codec.VideoEncoderConfig) (codec.VideoEncoder, error) {
		if real != nil && cfg.Width == cmpOutW && cfg.Height == cmpOutH {
			return real(cfg)
		}
		return newNopEncoder(c, cfg)
	}
}

func benchmarkCompareFFmpeg(b *testing.B, c codec.VideoCodec, real func(codec.VideoEncoderConfig) (codec.VideoEncoder, error),
	enc ffmpegEncoder, clips []rawClip, ffmpeg string, staggered bool) {
	clk := newClock()
	m, err := New(Config{Name: "compare", Width: cmpOutW, Height: cmpOutH, FPS: cmpFPS, Layout: "4:0",
		NewEncoder: onlyCanvasEncoder(real), Now: clk.Now})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = m.Close() }()
	nop := SinkFunc(func([][]byte, uint32, bool) {})
	ins := make([]*Input, len(clips))
	for i := range clips {
		id := fmt.Sprint("p", i)
		if ins[i], err = m.Add(id, fmt.Sprint("Participant ", i), Output{Codec: codec.H264, PacketizationMode: 1,
			Width: 32, Height: 18, Sink: nop}); err != nil {
			b.Fatal(err)
		}
		if err := m.SetVisible(id, true); err != nil {
			b.Fatal(err)
		}
	}
	viewer := &countSink{}
	out := Output{Codec: c, Bitrate: cmpBitrate, Sink: viewer}
	if c == codec.H264 {
		out.PacketizationMode = media.H264ModeNonInterleaved
	}
	if _, err := m.Add("viewer", "Viewer", out); err != nil {
		b.Fatal(err)
	}

	// The loop stays on one thread, so that the thread's CPU time is the
	// compositor's (composition, encoding and packetization are cgo calls
	// made on the calling thread). The process figure is used for the
	// ratio: it also counts the garbage collector and anything else the
	// runtime does on other threads, which makes it the conservative one.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	// No warm-up: the measured run starts with the encoder's creation and
	// first keyframe, as ffmpeg's does.
	proc0, thr0 := cpuTimes(b)
	wall0 := time.Now()
	n := 0
	for b.Loop() {
		for i, in := range ins {
			switch {
			case !staggered:
				in.WriteFrame(&clips[i].frames[n%cmpClipFrames])
			case n%2 == i%2:
				in.WriteFrame(&clips[i].frames[(n/2)%cmpClipFrames])
			}
		}
		clk.Advance(m.period)
		m.Tick()
		n++
	}
	wall := time.Since(wall0)
	proc1, thr1 := cpuTimes(b)
	b.StopTimer()

	st := m.Stats()
	if st.EncodeErrors > 0 || viewer.pictures == 0 {
		b.Fatalf("%d encode errors, %d pictures sent", st.EncodeErrors, viewer.pictures)
	}
	ours := float64(viewer.pictures) / (proc1 - proc0).Seconds()
	oursThread := float64(viewer.pictures) / (thr1 - thr0).Seconds()

	ff := runFFmpegCompose(b, ffmpeg, clips, enc, n, staggered)
	theirs := float64(ff.frames) / ff.cpu.Seconds()

	kbps := func(bytes int64, frames int) float64 { return float64(bytes) * 8 * cmpFPS / float64(frames) / 1000 }
	b.ReportMetric(ours, "ours_fps_per_cpu_s")
	b.ReportMetric(oursThread, "ours_thread_fps_per_cpu_s")
	b.ReportMetric(theirs, "ffmpeg_fps_per_cpu_s")
	b.ReportMetric(ours/theirs, "ratio")
	if real != nil {
		b.ReportMetric(kbps(int64(viewer.bytes), viewer.pictures), "ours_kbps")
		b.ReportMetric(kbps(ff.bytes, ff.frames), "ffmpeg_kbps")
		// The share of our CPU time spent inside the encoder: what
		// composition can win at most.
		b.ReportMetric(st.EncodeTime.Seconds()/(thr1-thr0).Seconds(), "ours_encode_share")
	}
	la, _ := os.ReadFile("/proc/loadavg")
	b.Logf("%s, %d frames: ours %.1f fps per CPU-second (thread %.1f; wall %.1f fps), ffmpeg %s %.1f fps per CPU-second (wall %.1f fps), ratio %.2f (target >= 2); load %s",
		c, n, ours, oursThread, float64(n)/wall.Seconds(), enc.name, theirs, float64(ff.frames)/ff.wall.Seconds(), ours/theirs,
		strings.Join(strings.Fields(string(la))[:3], " "))
}

func requireFFmpeg(b *testing.B) string {
	b.Helper()
	p, err := exec.LookPath("ffmpeg")
	if err != nil {
		b.Skip("ffmpeg is not installed (apt-get install -y --no-install-recommends ffmpeg)")
	}
	return p
}

// BenchmarkCompareFFmpegVP8: ours (libyuv composition, libvpx) against
// ffmpeg's xstack and libvpx with the same settings.
func BenchmarkCompareFFmpegVP8(b *testing.B) {
	ffmpeg := requireFFmpeg(b)
	clips := makeRawClips(b, ffmpeg)
	benchmarkCompareFFmpeg(b, codec.VP8, codec.NewVP8Encoder, vp8FFmpeg(), clips, ffmpeg, false)
}

// BenchmarkCompareFFmpegVP8Staggered is BenchmarkCompareFFmpegVP8 with the
// four inputs at 15 fps, two of them a frame behind the other two, into the
// 30 fps canvas: each tick half the cells change. Callers send 15 fps or
// less when their bandwidth or CPU is short, and never in step. Ours skips
// the unchanged half in the encoder (libvpx's active map); ffmpeg encodes
// the whole canvas.
func BenchmarkCompareFFmpegVP8Staggered(b *testing.B) {
	ffmpeg := requireFFmpeg(b)
	clips := makeRawClips(b, ffmpeg)
	benchmarkCompareFFmpeg(b, codec.VP8, codec.NewVP8Encoder, vp8FFmpeg(), clips, ffmpeg, true)
}

// BenchmarkCompareFFmpegH264: ours (libyuv composition, openh264) against
// ffmpeg's xstack and its H.264 encoder (see h264FFmpeg).
func BenchmarkCompareFFmpegH264(b *testing.B) {
	ffmpeg := requireFFmpeg(b)
	enc := h264FFmpeg(b, ffmpeg)
	clips := makeRawClips(b, ffmpeg)
	benchmarkCompareFFmpeg(b, codec.H264, codec.NewH264Encoder, enc, clips, ffmpeg, false)
}

// BenchmarkCompareFFmpegComposeOnly is the same without encoding: ours
// hands the canvas to an encoder that does nothing, ffmpeg wraps each
// stacked frame without encoding it (wrapped_avframe to the null muxer).
// It isolates what the two composers cost, which the encoder hides in the
// benchmarks above.
func BenchmarkCompareFFmpegComposeOnly(b *testing.B) {
	ffmpeg := requireFFmpeg(b)
	clips := makeRawClips(b, ffmpeg)
	enc := ffmpegEncoder{name: "wrapped_avframe (no encoding)", format: "null", args: []string{"-c:v", "wrapped_avframe"}}
	benchmarkCompareFFmpeg(b, codec.H264, nil, enc, clips, ffmpeg, false)
}

// Latency.

const (
	// markerBits stripes carry a frame counter in the marked input: each
	// stripe is 1/12 of the picture wide, white for 1 and black for 0,
	// big enough to survive scaling and a 1.5 Mbit/s encode.
	markerBits = 10
	markerMod  = 1 << markerBits
)

// drawMarker paints counter n into f as markerBits stripes over a grey
// background.
func drawMarker(f *codec.Frame, n int) {
	f.Fill(128, 128, 128)
	for k := range markerBits {
		x0, x1 := (k+1)*f.Width/12, (k+2)*f.Width/12
		s := f.Sub(x0, 0, x1-x0, f.Height*2/3)
		y := byte(16)
		if n>>k&1 == 1 {
			y = 235
		}
		s.Fill(y, 128, 128)
	}
}

// readMarker reads the counter from the rectangle (x, y, w, h) of f that
// shows the marked input; ok is false when a stripe is neither clearly
// black nor clearly white (a picture in transition or a wrong cell).
func readMarker(f *codec.Frame, x, y, w, h int) (n int, ok bool) {
	row := y + h/3
	for k := range markerBits {
		// The middle of the stripe, averaged over a few pixels.
		cx := x + (2*k+3)*w/24
		sum := 0
		for dx := -2; dx <= 2; dx++ {
			sum += int(f.Y[row*f.StrideY+cx+dx])
		}
		switch v := sum / 5; {
		case v > 180:
			n |= 1 << k
		case v < 70:
		default:
			return 0, false
		}
	}
	return n, true
}

// sentPicture is one picture the watched participant was sent.
type sentPicture struct {
	at       time.Time
	payloads [][]byte
	ts       uint32
}

// latencyRig is a four-party 4:0 room ticking on its own at 30 fps with
// real encoders. p0 sends counter pictures, the others solid colours, each
// from its own goroutine at 30 fps; p1's composed video is depacketized and
// decoded, and each counter seen for the first time gives one sample.
type latencyRig struct {
	m       *Mixer
	written [markerMod]atomic.Int64 // unix nanoseconds of WriteFrame per counter
	sent    chan sentPicture
	samples chan time.Duration
	stop    chan struct{}
	wg      sync.WaitGroup

	overflow atomic.Uint64 // pictures the sink could not queue
	unread   atomic.Uint64 // decoded pictures without a readable counter
}

func newLatencyRig(b *testing.B, c codec.VideoCodec) *latencyRig {
	b.Helper()
	var real func(codec.VideoEncoderConfig) (codec.VideoEncoder, error)
	switch c {
	case codec.VP8:
		real = codec.NewVP8Encoder
	default:
		real = codec.NewH264Encoder
	}
	m, err := New(Config{Name: "latency", Width: cmpOutW, Height: cmpOutH, FPS: cmpFPS, Layout: "4:0",
		NewEncoder: func(_ codec.VideoCodec, cfg codec.VideoEncoderConfig) (codec.VideoEncoder, error) { return real(cfg) }})
	if err != nil {
		b.Fatal(err)
	}
	r := &latencyRig{m: m, sent: make(chan sentPicture, 64), samples: make(chan time.Duration, 1024), stop: make(chan struct{})}
	nop := SinkFunc(func([][]byte, uint32, bool) {})
	var ins []*Input
	for i := range 4 {
		id := fmt.Sprint("p", i)
		out := Output{Codec: c, Bitrate: cmpBitrate, Sink: nop}
		if c == codec.H264 {
			out.PacketizationMode = media.H264ModeNonInterleaved
		}
		if i == 1 {
			out.Sink = SinkFunc(r.capture)
		}
		in, err := m.Add(id, fmt.Sprint("Participant ", i), out)
		if err != nil {
			b.Fatal(err)
		}
		if err := m.SetVisible(id, true); err != nil {
			b.Fatal(err)
		}
		ins = append(ins, in)
	}
	dec, err := codec.NewVideoDecoder(c)
	if err != nil {
		b.Fatal(err)
	}
	// p1 sees p0, p2, p3 in cells 0, 1, 2 (join order without itself).
	rect := m.lay.Cells[0].Rect(cmpOutW, cmpOutH)
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer func() { _ = dec.Close() }()
		r.decode(dec, c, rect.X, rect.Y, rect.W, rect.H)
	}()
	for i, in := range ins {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.send(i, in)
		}()
	}
	m.Start()
	b.Cleanup(func() {
		_ = m.Close()
		close(r.stop)
		r.wg.Wait()
	})
	return r
}

// capture is p1's sink: it timestamps the picture and hands a copy to the
// decoding goroutine, so the mixer's goroutine never waits for a decode.
func (r *latencyRig) capture(payloads [][]byte, ts uint32, _ bool) {
	at := time.Now()
	p := sentPicture{at: at, ts: ts, payloads: make([][]byte, len(payloads))}
	for i, pl := range payloads {
		p.payloads[i] = slices.Clone(pl)
	}
	select {
	case r.sent <- p:
	default:
		r.overflow.Add(1)
	}
}

// send writes pictures at 30 fps on average, as a participant's receive
// goroutine does; input 0 writes counters and notes when each was written.
// Picture n arrives at a random moment within the n-th frame period: with
// a steady sender the phase between its pictures and the mixer's ticks
// would be fixed, every sample would wait the same part of a tick, and
// the percentiles would describe one phase instead of all of them (real
// arrivals jitter anyway).
func (r *latencyRig) send(i int, in *Input) {
	f := codec.NewFrame(cmpInW, cmpInH)
	if i > 0 {
		c := palette[i%len(palette)]
		f.Fill(c.y, c.u, c.v)
	}
	period := time.Second / cmpFPS
	start := time.Now()
	t := time.NewTimer(0)
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		next := start.Add(time.Duration(n+1)*period + rand.N(period))
		t.Reset(time.Until(next))
		if i == 0 {
			drawMarker(f, n%markerMod)
			r.written[n%markerMod].Store(time.Now().UnixNano())
		}
		in.WriteFrame(f)
	}
}

// decode turns p1's pictures back into frames and reads p0's counter.
func (r *latencyRig) decode(dec codec.VideoDecoder, c codec.VideoCodec, x, y, w, h int) {
	var seq uint16
	last := -1
	var at time.Time
	onAU := func(au []byte) {
		f, err := dec.Decode(au)
		if err != nil || f == nil {
			return
		}
		n, ok := readMarker(f, x, y, w, h)
		if !ok {
			r.unread.Add(1)
			return
		}
		if n == last {
			return // the same input picture again: not a first showing
		}
		last = n
		wrote := r.written[n].Load()
		if wrote == 0 {
			return
		}
		select {
		case r.samples <- at.Sub(time.Unix(0, wrote)):
		default:
		}
	}
	var push func(*rtp.Packet) error
	if c == codec.VP8 {
		push = media.NewVP8Depacketizer(func(f media.VP8Frame) { onAU(f.Data) }, media.VP8Limits{}).Push
	} else {
		push = media.NewH264Depacketizer(func(f media.H264Frame) { onAU(f.Data) }, 0).Push
	}
	for {
		select {
		case <-r.stop:
			return
		case p := <-r.sent:
			at = p.at
			for i, pl := range p.payloads {
				seq++
				_ = push(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: p.ts,
					Marker: i == len(p.payloads)-1}, Payload: pl})
			}
		}
	}
}

func benchmarkLatency(b *testing.B, c codec.VideoCodec) {
	r := newLatencyRig(b, c)
	// The first pictures come before every input has a frame and while
	// the encoders start: skip a second of them.
	for range cmpFPS {
		select {
		case <-r.samples:
		case <-time.After(10 * time.Second):
			b.Fatal("no composed picture with a readable counter within 10 s")
		}
	}
	st0 := r.m.Stats()
	var lat []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		select {
		case d := <-r.samples:
			lat = append(lat, d)
		case <-time.After(5 * time.Second):
			b.Fatalf("no new counter seen for 5 s (%d read so far)", len(lat))
		}
	}
	b.StopTimer()
	st := r.m.Stats()
	slices.Sort(lat)
	q := func(p float64) float64 {
		i := min(len(lat)-1, int(math.Ceil(p*float64(len(lat))))-1)
		return float64(lat[max(i, 0)]) / float64(time.Millisecond)
	}
	b.ReportMetric(q(0.50), "p50_ms")
	b.ReportMetric(q(0.95), "p95_ms")
	b.ReportMetric(q(1), "max_ms")
	ticks := st.Ticks - st0.Ticks
	b.ReportMetric(float64(st.LateTicks-st0.LateTicks)/float64(max(ticks, 1)), "late_ticks/tick")
	la, _ := os.ReadFile("/proc/loadavg")
	b.Logf("%s: %d samples, p50 %.1f ms, p95 %.1f ms (target <= 100), max %.1f ms; %d late of %d ticks, mean encode %.1f ms, %d unreadable pictures, %d sink overflows; load %s",
		c, len(lat), q(0.5), q(0.95), q(1), st.LateTicks-st0.LateTicks, ticks,
		float64(st.EncodeTime-st0.EncodeTime)/float64(time.Millisecond)/float64(max(st.FramesEncoded-st0.FramesEncoded, 1)),
		r.unread.Load(), r.overflow.Load(), strings.Join(strings.Fields(string(la))[:3], " "))
}

// BenchmarkLatencyVP8 and BenchmarkLatencyH264: one iteration is one new
// input picture seen in the composed output; run with -benchtime 300x (ten
// seconds) or more for a meaningful p95.
func BenchmarkLatencyVP8(b *testing.B)  { benchmarkLatency(b, codec.VP8) }
func BenchmarkLatencyH264(b *testing.B) { benchmarkLatency(b, codec.H264) }
