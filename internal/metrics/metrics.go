// Package metrics holds vmrd's one Prometheus registry. Hot paths update
// atomics in Metrics; the collector reads them at scrape time, so packet and
// tick paths never take a lock or allocate for accounting.
package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// CallResult labels vmrd_calls_total.
type CallResult int

// Call results, in the order of the label values.
const (
	CallAnswered CallResult = iota
	CallNotFound
	CallBusy
	CallNoCodec
	CallCancelled
	CallFailed
	CallLimited  // over the per-source call cap
	CallDraining // refused while the service drains
	numCallResults
)

var callResultNames = [numCallResults]string{"answered", "not_found", "busy", "no_codec", "cancelled", "failed", "limited", "draining"}

func (r CallResult) String() string {
	if r < 0 || r >= numCallResults {
		return "unknown"
	}
	return callResultNames[r]
}

// InvalidReason labels vmrd_rtp_invalid_packets_total.
type InvalidReason int

// Reasons an inbound RTP packet is dropped.
const (
	InvalidMalformed   InvalidReason = iota // not parseable as RTP/RTCP
	InvalidSSRC                             // from an unexpected SSRC
	InvalidOversize                         // larger than we accept
	InvalidPayloadType                      // payload type not negotiated
	InvalidDecode                           // codec refused the payload
	InvalidSource                           // from an address that is not the peer's
	InvalidAuth                             // SRTP/SRTCP authentication failed (wrong key, tampering, plain RTP on an SRTP leg)
	InvalidReplay                           // SRTP/SRTCP index already seen (replay or network duplicate)
	numInvalidReasons
)

var invalidReasonNames = [numInvalidReasons]string{"malformed", "ssrc", "oversize", "payload_type", "decode", "source", "auth", "replay"}

func (r InvalidReason) String() string {
	if r < 0 || r >= numInvalidReasons {
		return "unknown"
	}
	return invalidReasonNames[r]
}

// Metrics are vmrd's counters and gauges. The zero value is not usable; call New.
type Metrics struct {
	CallsActive        atomic.Int64
	callsTotal         [numCallResults]atomic.Uint64
	RoomsActive        atomic.Int64
	Participants       atomic.Int64
	SIPRequests        atomic.Uint64
	SIPMalformed       atomic.Uint64
	SIPDroppedRate     atomic.Uint64 // over a per-source rate limit
	SIPDroppedScanner  atomic.Uint64 // from a scanner's User-Agent
	RTPPacketsIn       atomic.Uint64
	RTPPacketsOut      atomic.Uint64
	RTPBytesIn         atomic.Uint64
	RTPBytesOut        atomic.Uint64
	RTPPacketsLost     atomic.Uint64
	RTPPacketsLate     atomic.Uint64
	rtpInvalid         [numInvalidReasons]atomic.Uint64
	RTCPPacketsIn      atomic.Uint64
	RTCPPacketsOut     atomic.Uint64
	AudioFramesDropped atomic.Uint64 // mixer input overflow (oldest dropped)
	AudioUnderruns     atomic.Uint64 // mixer input starved
	AudioConcealed     atomic.Uint64 // frames of loss concealment played for lost or late packets

	VideoDecodersActive  atomic.Int64  // video legs decoding what their caller sends
	VideoFramesDecoded   atomic.Uint64 // pictures decoded from callers
	VideoDecodeErrors    atomic.Uint64 // frames the decoder refused (corrupt, absurd size)
	VideoFramesBroken    atomic.Uint64 // frames given up because packets were lost
	VideoKeyframeAsksOut atomic.Uint64 // PLI/FIR we sent to callers
	VideoKeyframeAsksIn  atomic.Uint64 // PLI/FIR callers sent us
	VideoNACKsOut        atomic.Uint64 // generic NACKs we sent
	VideoResent          atomic.Uint64 // packets resent for callers' NACKs

	// Jitter is the interarrival jitter (RFC 3550 6.4.1) of inbound streams, in seconds.
	Jitter prometheus.Histogram
	// MixerTick is the duration of one audio mixer tick, in seconds.
	MixerTick prometheus.Histogram

	reg *prometheus.Registry
}

// New makes the metrics and their registry, with Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		Jitter: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vmrd_rtp_jitter_seconds",
			Help:    "Interarrival jitter of inbound RTP streams, sampled once per RTCP report interval.",
			Buckets: []float64{0.001, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32},
		}),
		MixerTick: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vmrd_mixer_tick_seconds",
			Help:    "Duration of one 20 ms audio mixer tick (mixing and encoding every distinct output).",
			Buckets: []float64{0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02},
		}),
		reg: prometheus.NewRegistry(),
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(m.Jitter, m.MixerTick, &collector{m: m})
	return m
}

// Registry is the registry to serve on /metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// CallEnded counts a call setup outcome.
func (m *Metrics) CallEnded(r CallResult) {
	if r >= 0 && r < numCallResults {
		m.callsTotal[r].Add(1)
	}
}

// CallsTotal reads the count for one result.
func (m *Metrics) CallsTotal(r CallResult) uint64 { return m.callsTotal[r].Load() }

// RTPInvalid counts one dropped inbound packet.
func (m *Metrics) RTPInvalid(r InvalidReason) {
	if r >= 0 && r < numInvalidReasons {
		m.rtpInvalid[r].Add(1)
	}
}

// RTPInvalidTotal reads the count for one reason.
func (m *Metrics) RTPInvalidTotal(r InvalidReason) uint64 { return m.rtpInvalid[r].Load() }

var (
	descCallsActive   = prometheus.NewDesc("vmrd_calls_active", "Calls in progress.", nil, nil)
	descCallsTotal    = prometheus.NewDesc("vmrd_calls_total", "Call attempts by result.", []string{"result"}, nil)
	descRoomsActive   = prometheus.NewDesc("vmrd_rooms_active", "Rooms with at least one participant.", nil, nil)
	descParticipants  = prometheus.NewDesc("vmrd_participants", "Participants in all rooms.", nil, nil)
	descSIPRequests   = prometheus.NewDesc("vmrd_sip_requests_total", "SIP requests received.", nil, nil)
	descSIPMalformed  = prometheus.NewDesc("vmrd_sip_malformed_total", "SIP requests answered 400 as malformed.", nil, nil)
	descSIPDropped    = prometheus.NewDesc("vmrd_sip_dropped_total", "SIP requests dropped unanswered, by reason: rate (per-source limit) or scanner (User-Agent).", []string{"reason"}, nil)
	descRTPPackets    = prometheus.NewDesc("vmrd_rtp_packets_total", "RTP packets by direction.", []string{"direction"}, nil)
	descRTPBytes      = prometheus.NewDesc("vmrd_rtp_bytes_total", "RTP payload bytes by direction.", []string{"direction"}, nil)
	descRTPLost       = prometheus.NewDesc("vmrd_rtp_packets_lost_total", "Inbound RTP packets never received (gaps in sequence numbers).", nil, nil)
	descRTPLate       = prometheus.NewDesc("vmrd_rtp_packets_late_total", "Inbound RTP packets that arrived after their playout time and were dropped.", nil, nil)
	descRTPInvalid    = prometheus.NewDesc("vmrd_rtp_invalid_packets_total", "Inbound packets dropped, by reason.", []string{"reason"}, nil)
	descRTCPPackets   = prometheus.NewDesc("vmrd_rtcp_packets_total", "RTCP compound packets by direction.", []string{"direction"}, nil)
	descAudioDropped  = prometheus.NewDesc("vmrd_audio_frames_dropped_total", "Audio frames dropped because a mixer input was full.", nil, nil)
	descAudioUnderrun = prometheus.NewDesc("vmrd_audio_underruns_total", "Mixer ticks where an input had no audio ready.", nil, nil)
	descAudioConceal  = prometheus.NewDesc("vmrd_audio_concealed_frames_total", "20 ms frames of loss concealment played in place of lost or late packets.", nil, nil)
	descVideoDecoders = prometheus.NewDesc("vmrd_video_decoders_active", "Video decoders running now (one per caller sending video).", nil, nil)
	descVideoDecoded  = prometheus.NewDesc("vmrd_video_frames_decoded_total", "Pictures decoded from callers.", nil, nil)
	descVideoDecErr   = prometheus.NewDesc("vmrd_video_decode_errors_total", "Frames from callers the decoder refused (corrupt bitstream, absurd size); each asks the caller for a keyframe.", nil, nil)
	descVideoBroken   = prometheus.NewDesc("vmrd_video_frames_broken_total", "Frames from callers given up because packets were lost and not repaired by NACK.", nil, nil)
	descVideoKeyAsks  = prometheus.NewDesc("vmrd_video_keyframe_requests_total", "Keyframe requests (RTCP PLI or FIR) by direction: out (we asked a caller), in (a caller asked us).", []string{"direction"}, nil)
	descVideoNACKs    = prometheus.NewDesc("vmrd_video_nacks_sent_total", "Generic NACKs sent to callers for missing video packets.", nil, nil)
	descVideoResent   = prometheus.NewDesc("vmrd_video_packets_resent_total", "Video packets resent because a caller's NACK asked for them.", nil, nil)
)

type collector struct{ m *Metrics }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCallsActive, descCallsTotal, descRoomsActive, descParticipants,
		descSIPRequests, descSIPMalformed, descSIPDropped, descRTPPackets, descRTPBytes, descRTPLost, descRTPLate,
		descRTPInvalid, descRTCPPackets, descAudioDropped, descAudioUnderrun, descAudioConceal,
		descVideoDecoders, descVideoDecoded, descVideoDecErr, descVideoBroken, descVideoKeyAsks, descVideoNACKs, descVideoResent} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(descCallsActive, m.CallsActive.Load())
	for r := CallResult(0); r < numCallResults; r++ {
		counter(descCallsTotal, m.callsTotal[r].Load(), r.String())
	}
	gauge(descRoomsActive, m.RoomsActive.Load())
	gauge(descParticipants, m.Participants.Load())
	counter(descSIPRequests, m.SIPRequests.Load())
	counter(descSIPMalformed, m.SIPMalformed.Load())
	counter(descSIPDropped, m.SIPDroppedRate.Load(), "rate")
	counter(descSIPDropped, m.SIPDroppedScanner.Load(), "scanner")
	counter(descRTPPackets, m.RTPPacketsIn.Load(), "in")
	counter(descRTPPackets, m.RTPPacketsOut.Load(), "out")
	counter(descRTPBytes, m.RTPBytesIn.Load(), "in")
	counter(descRTPBytes, m.RTPBytesOut.Load(), "out")
	counter(descRTPLost, m.RTPPacketsLost.Load())
	counter(descRTPLate, m.RTPPacketsLate.Load())
	for r := InvalidReason(0); r < numInvalidReasons; r++ {
		counter(descRTPInvalid, m.rtpInvalid[r].Load(), r.String())
	}
	counter(descRTCPPackets, m.RTCPPacketsIn.Load(), "in")
	counter(descRTCPPackets, m.RTCPPacketsOut.Load(), "out")
	counter(descAudioDropped, m.AudioFramesDropped.Load())
	counter(descAudioUnderrun, m.AudioUnderruns.Load())
	counter(descAudioConceal, m.AudioConcealed.Load())
	gauge(descVideoDecoders, m.VideoDecodersActive.Load())
	counter(descVideoDecoded, m.VideoFramesDecoded.Load())
	counter(descVideoDecErr, m.VideoDecodeErrors.Load())
	counter(descVideoBroken, m.VideoFramesBroken.Load())
	counter(descVideoKeyAsks, m.VideoKeyframeAsksOut.Load(), "out")
	counter(descVideoKeyAsks, m.VideoKeyframeAsksIn.Load(), "in")
	counter(descVideoNACKs, m.VideoNACKsOut.Load())
	counter(descVideoResent, m.VideoResent.Load())
}
