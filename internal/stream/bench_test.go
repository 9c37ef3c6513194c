package stream

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
	"vmrd/internal/testpeers/nginxrtmp"
)

// BenchmarkPublisher measures the publisher's own CPU (muxing, queueing,
// RTMP chunking, the socket) per second of a 2.5 Mb/s + 128 kb/s stream
// sent to a local nginx, without the encoders. One op is one second of
// stream: 30 access units of about 10 kB (an IDR every 60) and 47 AAC
// frames of 340 bytes.
func BenchmarkPublisher(b *testing.B) {
	nginxrtmp.Require(b)
	srv := nginxrtmp.Start(b, b.TempDir(), nginxrtmp.FreePort(b), 0, "", "")
	p := New(Config{URL: fmt.Sprintf("rtmp://127.0.0.1:%d/live", srv.Port), Key: "bench", QueueSize: 1024})
	p.SetAudioConfig([]byte{0x11, 0x90})
	p.Start()
	defer p.Stop()
	waitState(b, p, StateLive, 10*time.Second)
	sps := []byte{0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb, 0x01, 0x10}
	pps := []byte{0, 0, 0, 1, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0}
	mk := func(typ byte, n int) []byte {
		au := []byte{0, 0, 0, 1, typ}
		for range n {
			au = append(au, byte(rand.IntN(255)+1))
		}
		return au
	}
	idr := append(append(append([]byte{}, sps...), pps...), mk(0x65, 30000)...)
	inter := mk(0x41, 10000)
	aac := mk(0x21, 340)[5:]
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.ReportAllocs()
	frame := 0
	for sec := 0; b.Loop(); sec++ {
		for i := range 30 {
			pts := time.Duration(frame) * time.Second / 30
			if frame%60 == 0 {
				p.WriteVideo(idr, pts, true)
			} else {
				p.WriteVideo(inter, pts, false)
			}
			frame++
			for a := i * 47 / 30; a < (i+1)*47/30; a++ {
				p.WriteAudio(aac, time.Duration(sec*47+a)*1024*time.Second/48000)
			}
			// Let the sender keep up, as a real-time source would.
			for len(p.queue) > 64 {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()-ru0.Utime.Nano()+ru1.Stime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N)/1e3, "cpu-ms/stream-s")
	if d := p.Stats().FramesDropped; d > 0 {
		b.Logf("dropped %d", d)
	}
}
