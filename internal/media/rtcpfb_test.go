package media

import (
	"math"
	"slices"
	"testing"

	"github.com/pion/rtcp"
)

func marshalRTCP(t testing.TB, pkts ...rtcp.Packet) []byte {
	t.Helper()
	b, err := rtcp.Marshal(pkts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseRTCPFeedback(t *testing.T) {
	const ours, peer = 0xaaaa0001, 0xbbbb0002
	rr := &rtcp.ReceiverReport{SSRC: peer}
	sdes := &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: peer,
		Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "peer"}}}}}
	tests := []struct {
		name  string
		pkts  []rtcp.Packet
		check func(t *testing.T, f *rtcpFeedback)
	}{
		{"compound RR SDES PLI", []rtcp.Packet{rr, sdes, &rtcp.PictureLossIndication{SenderSSRC: peer, MediaSSRC: ours}},
			func(t *testing.T, f *rtcpFeedback) {
				if f.pli != 1 || f.nFIR != 0 || f.nNACK != 0 || f.remb != -1 {
					t.Fatalf("%+v", f)
				}
			}},
		{"FIR for us and for another source", []rtcp.Packet{&rtcp.FullIntraRequest{SenderSSRC: peer,
			FIR: []rtcp.FIREntry{{SSRC: 99, SequenceNumber: 1}, {SSRC: ours, SequenceNumber: 42}}}},
			func(t *testing.T, f *rtcpFeedback) {
				if f.nFIR != 1 || f.firs[0] != (firRequest{sender: peer, seq: 42}) {
					t.Fatalf("firs %v", f.firs[:f.nFIR])
				}
			}},
		{"NACK pairs", []rtcp.Packet{&rtcp.TransportLayerNack{SenderSSRC: peer, MediaSSRC: ours,
			Nacks: rtcp.NackPairsFromSequenceNumbers([]uint16{65534, 65535, 0, 5, 40})}},
			func(t *testing.T, f *rtcpFeedback) {
				if got := f.nacks[:f.nNACK]; !slices.Equal(got, []uint16{65534, 65535, 0, 5, 40}) || f.nackP != 1 {
					t.Fatalf("nacks %v", got)
				}
			}},
		{"NACK for another source is ignored", []rtcp.Packet{&rtcp.TransportLayerNack{SenderSSRC: peer, MediaSSRC: 7,
			Nacks: []rtcp.NackPair{{PacketID: 9}}}},
			func(t *testing.T, f *rtcpFeedback) {
				if f.nNACK != 0 || f.nackP != 0 {
					t.Fatalf("%+v", f)
				}
			}},
		{"REMB", []rtcp.Packet{&rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: peer, Bitrate: 1500000, SSRCs: []uint32{ours}}},
			func(t *testing.T, f *rtcpFeedback) {
				if f.remb != 1500000 {
					t.Fatalf("remb %d", f.remb)
				}
			}},
		{"TMMBR", []rtcp.Packet{rr, tmmbr(peer, []tmmbEntry{{ssrc: 5, exp: 1, mantissa: 1}, {ssrc: ours, exp: 3, mantissa: 100000, overhead: 40}})},
			func(t *testing.T, f *rtcpFeedback) {
				if f.nTMMB != 1 || f.tmmbr[0].bitrate() != 800000 || f.tmmbr[0].overhead != 40 || f.tmmbrSender[0] != peer {
					t.Fatalf("tmmbr %+v", f.tmmbr[:f.nTMMB])
				}
			}},
		{"TMMBN", []rtcp.Packet{tmmbn(ours, []tmmbEntry{{ssrc: peer, exp: 2, mantissa: 3}})},
			func(t *testing.T, f *rtcpFeedback) {
				if f.nTMMBN != 1 || f.tmmbn[0].ssrc != peer || f.tmmbn[0].bitrate() != 12 || f.nTMMB != 0 {
					t.Fatalf("tmmbn %+v", f.tmmbn[:f.nTMMBN])
				}
			}},
		{"SR and BYE", []rtcp.Packet{&rtcp.SenderReport{SSRC: peer, NTPTime: 0x0102030405060708}, &rtcp.Goodbye{Sources: []uint32{peer}}},
			func(t *testing.T, f *rtcpFeedback) {
				if !f.sr || f.srSSRC != peer || f.srNTP != 0x0102030405060708 || !f.bye {
					t.Fatalf("%+v", f)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f rtcpFeedback
			if err := parseRTCPFeedback(marshalRTCP(t, tc.pkts...), ours, &f); err != nil {
				t.Fatal(err)
			}
			tc.check(t, &f)
		})
	}
}

func TestParseRTCPFeedbackMalformed(t *testing.T) {
	pli := marshalRTCP(t, &rtcp.PictureLossIndication{SenderSSRC: 1, MediaSSRC: 2})
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"three bytes", pli[:3]},
		{"length beyond datagram", pli[:8]},
		{"version 1", append([]byte{0x41}, pli[1:]...)},
		{"trailing garbage", append(append([]byte{}, pli...), 0x80, 0xc9)},
		{"padding larger than body", []byte{0xa1, 206, 0, 1, 0, 0, 0, 9}},
		{"padding zero", []byte{0xa1, 206, 0, 1, 0, 0, 0, 0}},
		{"padding without body", []byte{0xa1, 206, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f rtcpFeedback
			if err := parseRTCPFeedback(tc.b, 2, &f); err == nil {
				t.Fatalf("parsed %x", tc.b)
			}
		})
	}
}

func TestTMMBBitrateSaturates(t *testing.T) {
	tests := []struct {
		name string
		e    tmmbEntry
		want int
	}{
		{"zero", tmmbEntry{exp: 63, mantissa: 0}, 0},
		{"small", tmmbEntry{exp: 0, mantissa: 1000}, 1000},
		{"max exponent", tmmbEntry{exp: 63, mantissa: 0x1ffff}, math.MaxInt},
		{"just fits", tmmbEntry{exp: 46, mantissa: 0x1ffff}, 0x1ffff << 46},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.e.bitrate(); got != tc.want {
				t.Fatalf("bitrate %d, want %d", got, tc.want)
			}
		})
	}
}

func FuzzParseRTCPFeedback(f *testing.F) {
	const ours = 0x01020304
	seeds := [][]rtcp.Packet{
		{&rtcp.ReceiverReport{SSRC: 9}, &rtcp.PictureLossIndication{SenderSSRC: 9, MediaSSRC: ours}},
		{&rtcp.FullIntraRequest{SenderSSRC: 9, FIR: []rtcp.FIREntry{{SSRC: ours, SequenceNumber: 3}}}},
		{&rtcp.TransportLayerNack{SenderSSRC: 9, MediaSSRC: ours, Nacks: []rtcp.NackPair{{PacketID: 100, LostPackets: 0xffff}}}},
		{&rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: 9, Bitrate: 2e6, SSRCs: []uint32{ours, 5}}},
		{&rtcp.SenderReport{SSRC: 9, NTPTime: 1}, tmmbr(9, []tmmbEntry{{ssrc: ours, exp: 10, mantissa: 777}})},
		{tmmbn(9, []tmmbEntry{{ssrc: ours, exp: 63, mantissa: 0x1ffff, overhead: 0x1ff}})},
	}
	for _, s := range seeds {
		f.Add(marshalRTCP(f, s...))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fb rtcpFeedback
		if err := parseRTCPFeedback(b, ours, &fb); err != nil {
			return
		}
		if fb.nNACK > maxFeedbackNACKs || fb.nFIR > maxFeedbackFIRs || fb.nTMMB > maxFeedbackTMMB || fb.remb < -1 {
			t.Fatalf("bounds broken: %+v", fb)
		}
		for _, e := range fb.tmmbr[:fb.nTMMB] {
			if e.ssrc != ours || e.bitrate() < 0 {
				t.Fatalf("bad TMMBR entry %+v", e)
			}
		}
		// Whatever pion can read as a single unpadded NACK, we read the
		// same way (pion ignores padding in feedback packets).
		if pkts, err := rtcp.Unmarshal(b); err == nil && len(pkts) == 1 && b[0]&0x20 == 0 {
			if n, ok := pkts[0].(*rtcp.TransportLayerNack); ok && n.MediaSSRC == ours && len(b) == int(n.MarshalSize()) {
				var want []uint16
				for _, p := range n.Nacks {
					want = append(want, p.PacketList()...)
				}
				if len(want) <= maxFeedbackNACKs && !slices.Equal(fb.nacks[:fb.nNACK], want) {
					t.Fatalf("nacks %v, pion %v", fb.nacks[:fb.nNACK], want)
				}
			}
		}
	})
}
