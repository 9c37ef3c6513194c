package codec

import (
	"strconv"
	"testing"
)

// Run with: go test -run '^$' -bench . -benchtime 2000x ./internal/codec

func reportPerFrame(b *testing.B) {
	b.Helper()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/1e3/float64(b.N), "us/frame")
}

func BenchmarkEncode(b *testing.B) {
	frames := speechLike(50)
	for _, c := range AudioCodecs() {
		b.Run(c.Name, func(b *testing.B) {
			enc, err := c.NewEncoder()
			if err != nil {
				b.Fatal(err)
			}
			defer enc.Close()
			out := make([]byte, 1500)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := enc.Encode(frames[i%len(frames)], out); err != nil {
					b.Fatal(err)
				}
			}
			reportPerFrame(b)
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	frames := speechLike(50)
	for _, c := range AudioCodecs() {
		b.Run(c.Name, func(b *testing.B) {
			pkts := encodeAll(b, c, frames)
			dec, err := c.NewDecoder()
			if err != nil {
				b.Fatal(err)
			}
			defer dec.Close()
			pcm := make([]int16, MaxFrameSamples)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := dec.Decode(pkts[i%len(pkts)], pcm); err != nil {
					b.Fatal(err)
				}
			}
			reportPerFrame(b)
		})
	}
}

func BenchmarkConceal(b *testing.B) {
	frames := speechLike(50)
	for _, c := range AudioCodecs() {
		b.Run(c.Name, func(b *testing.B) {
			pkts := encodeAll(b, c, frames)
			dec, err := c.NewDecoder()
			if err != nil {
				b.Fatal(err)
			}
			defer dec.Close()
			pcm := make([]int16, MaxFrameSamples)
			b.ReportAllocs()
			b.ResetTimer()
			// One loss in every five packets, so each Conceal starts a new
			// concealment (pitch search included).
			for i := 0; b.Loop(); i++ {
				var err error
				if i%5 == 4 {
					_, err = dec.Conceal(pcm)
				} else {
					_, err = dec.Decode(pkts[i%len(pkts)], pcm)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
			reportPerFrame(b)
		})
	}
}

// BenchmarkOpusComplexity shows the cost of each encoder complexity on
// speech-like input; it is how defaultOpusConfig's complexity was chosen.
func BenchmarkOpusComplexity(b *testing.B) {
	frames := speechLike(50)
	for c := 0; c <= 10; c++ {
		b.Run("c="+strconv.Itoa(c), func(b *testing.B) {
			cfg := defaultOpusConfig
			cfg.complexity = c
			enc, err := newOpusEncoder(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer enc.Close()
			out := make([]byte, 1500)
			var bytes int
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				n, err := enc.Encode(frames[i%len(frames)], out)
				if err != nil {
					b.Fatal(err)
				}
				bytes += n
			}
			reportPerFrame(b)
			b.ReportMetric(float64(bytes)*8*50/float64(b.N)/1000, "kbit/s")
		})
	}
}

func encodeAll(tb testing.TB, c AudioCodec, frames [][]int16) [][]byte {
	tb.Helper()
	enc, err := c.NewEncoder()
	if err != nil {
		tb.Fatal(err)
	}
	defer enc.Close()
	pkts := make([][]byte, len(frames))
	buf := make([]byte, 1500)
	for i, f := range frames {
		n, err := enc.Encode(f, buf)
		if err != nil {
			tb.Fatal(err)
		}
		pkts[i] = append([]byte(nil), buf[:n]...)
	}
	return pkts
}
