package audio

import (
	"fmt"
	"runtime"
	"testing"

	"vmrd/internal/codec"
)

// toneFrame is one 20 ms frame of a tone whose frequency is a multiple of
// 50 Hz, so repeating the frame continues the tone without a seam.
func toneFrame(freq float64) []int16 {
	return (&tone{freq: freq, amp: toneAmp}).next(codec.FrameSamples)
}

// benchRoom is a room of n participants of one format, the first three
// talking (tones), the rest sending silence.
type benchRoom struct {
	m      *Mixer
	ins    []*Input
	frames [][]int16
}

func newBenchRoom(b *testing.B, n int, format string, newEnc func(string) (codec.AudioEncoder, error)) *benchRoom {
	b.Helper()
	r := &benchRoom{m: New(Config{Name: "bench", NewEncoder: newEnc})}
	b.Cleanup(func() { _ = r.m.Close() })
	silence := make([]int16, codec.FrameSamples)
	talk := [][]int16{toneFrame(400), toneFrame(700), toneFrame(1100)}
	for i := range n {
		in, err := r.m.Add(fmt.Sprint("p", i), format, SinkFunc(func([]byte) {}))
		if err != nil {
			b.Fatal(err)
		}
		in.SetInMeeting(true)
		r.ins = append(r.ins, in)
		if i < len(talk) {
			r.frames = append(r.frames, talk[i])
		} else {
			r.frames = append(r.frames, silence)
		}
	}
	return r
}

// step writes one frame into every input and ticks.
func (r *benchRoom) step() {
	for i, in := range r.ins {
		in.Write(r.frames[i])
	}
	r.m.Tick()
}

// BenchmarkTick100x3 is one tick of a 100-participant room with 3 talkers,
// everyone on Opus: 3 mix-minus encodes and one shared encode. The time
// includes writing a frame into each of the 100 inputs, which in service is
// done by the receive goroutines (see BenchmarkInputWrite).
func BenchmarkTick100x3(b *testing.B) {
	for _, bc := range []struct {
		name   string
		format string
		newEnc func(string) (codec.AudioEncoder, error)
	}{
		{"opus", FormatKey(codec.Opus), CodecEncoder},
		{"pcmu", FormatKey(codec.PCMU), CodecEncoder},
		{"fake-pcm", "pcm", newFactory().New},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := newBenchRoom(b, 100, bc.format, bc.newEnc)
			for range 50 { // prebuffer, voice activity, lazy encoders
				r.step()
			}
			for i := range 3 {
				if !r.ins[i].talking || r.ins[3].talking {
					b.Fatal("warm-up did not make the three tones talkers")
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				r.step()
			}
			perTick := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
			b.ReportMetric(perTick/float64(Period.Nanoseconds())*100, "%core")
		})
	}
}

// BenchmarkTickLobby is BenchmarkTick100x3/opus with 10 of the 100 waiting
// in the lobby (isolated, each looping a hold tone, so each its own encode)
// and one listener in the meeting hearing a prompt over the mix: 15 Opus
// encodes a tick.
func BenchmarkTickLobby(b *testing.B) {
	r := newBenchRoom(b, 100, FormatKey(codec.Opus), CodecEncoder)
	hold := [][]int16{toneFrame(400), toneFrame(400), make([]int16, 5*codec.FrameSamples)}
	for _, in := range r.ins[90:] {
		in.SetInMeeting(false)
		if err := in.Play(hold, true, func() {}); err != nil {
			b.Fatal(err)
		}
	}
	if err := r.ins[50].Play(hold, true, func() {}); err != nil {
		b.Fatal(err)
	}
	for range 50 {
		r.step()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r.step()
	}
	perTick := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perTick/float64(Period.Nanoseconds())*100, "%core")
}

// BenchmarkInputWrite is one 20 ms write into an input's queue.
func BenchmarkInputWrite(b *testing.B) {
	r := newBenchRoom(b, 1, "pcm", newFactory().New)
	frame := toneFrame(400)
	b.ReportAllocs()
	for range b.N {
		in := r.ins[0]
		in.Write(frame)
		in.mu.Lock()
		in.q.discard(codec.FrameSamples) // what the tick's read would take
		in.mu.Unlock()
	}
}

// BenchmarkMemoryPerParticipant reports the Go heap retained per input of a
// 100-participant room after it has ticked with three talkers (their own
// Opus encoders included; libopus state lives in C memory and is not
// counted here: see the report).
func BenchmarkMemoryPerParticipant(b *testing.B) {
	const n = 100
	b.ReportAllocs()
	var perInput float64
	for range b.N {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		r := newBenchRoom(b, n, FormatKey(codec.Opus), CodecEncoder)
		for range 10 {
			r.step()
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perInput = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
		runtime.KeepAlive(r)
		_ = r.m.Close()
	}
	b.ReportMetric(perInput, "B/participant")
}

// BenchmarkLevelDB is the energy measure run on every input every tick.
func BenchmarkLevelDB(b *testing.B) {
	frame := toneFrame(400)
	b.ReportAllocs()
	var sink float64
	for range b.N {
		sink += levelDB(frame)
	}
	_ = sink
}

// BenchmarkBaselineEncodeEach is the baseline for BenchmarkTick100x3/opus
// in the same run: a mixer that encodes every participant's output
// separately (as FreeSWITCH's conference does) pays 100 Opus encodes per
// tick for the same room. Only the encodes are timed, not the mixing, so
// the ratio understates our advantage.
func BenchmarkBaselineEncodeEach(b *testing.B) {
	const n = 100
	encs := make([]codec.AudioEncoder, n)
	for i := range encs {
		e, err := codec.Opus.NewEncoder()
		if err != nil {
			b.Fatal(err)
		}
		defer e.Close()
		encs[i] = e
	}
	frame := toneFrame(400)
	out := make([]byte, 1500)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for _, e := range encs {
			if _, err := e.Encode(frame, out); err != nil {
				b.Fatal(err)
			}
		}
	}
	perTick := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perTick/float64(Period.Nanoseconds())*100, "%core")
}
