// Package stream publishes a room's meeting as one live stream (H.264 +
// AAC in FLV over RTMP or RTMPS) to an ingest such as YouTube, Vimeo or any
// RTMP server, and keeps it up across connection losses.
//
// # Design
//
// The publisher muxes FLV tags itself (Adobe FLV specification v10.1,
// annex E): an AVC sequence header holding the AVCDecoderConfigurationRecord
// built from the encoder's SPS and PPS (ISO/IEC 14496-15 section 5.3.3.1),
// access units as four-byte length-prefixed NAL units with composition
// time 0 (the encoder makes no B-frames), an AAC sequence header holding
// the AudioSpecificConfig, then raw AAC frames. Timestamps are
// milliseconds from the first frame of each connection; audio and video
// are interleaved by time, holding one medium back up to 300 ms while the
// other catches up.
//
// WriteVideo and WriteAudio never block: frames are copied into recycled
// buffers and put on a bounded queue, and dropped (and counted) when the
// queue is full or no connection is live. After a video drop the publisher
// waits for the next keyframe and asks for one through OnNeedKeyframe.
// A lost connection is retried after 1 s, 2 s, 4 s ... up to 30 s, each
// varied by 20% so that rooms cut off together do not reconnect in step;
// every new connection starts with fresh metadata and sequence headers,
// video resumes at a keyframe, and the ingest starts a new recording or
// segment. The stream key is never logged and is scrubbed from errors.
//
// # Transport: gortmplib rather than libavformat
//
// Two transports were measured on this machine (2 cores, AMD EPYC) with a
// 1280x720 2.5 Mb/s + 128 kb/s stream into nginx-rtmp on loopback:
//   - github.com/bluenviron/gortmplib v1.0.1 (pure Go): about 1.4 ms of
//     CPU per second of stream (BenchmarkPublisher), about 1 MB and 700
//     allocations per second of stream inside the library's message
//     marshalling.
//   - libavformat's flv muxer and rtmp protocol (what `ffmpeg -c copy -f
//     flv rtmp://...` runs): about 6 ms of CPU per second of stream,
//     including demuxing the source file and process start.
//
// Both are negligible next to the H.264 encoder (about 270 ms of CPU per
// second at 720p30, veryfast), so the choice rests on robustness: in Go,
// connect, handshake and publish are bounded by a context, every write by
// a deadline, and Stop ends a blocked write at once; libavformat's rtmp
// blocks inside C and can only be interrupted through a polled callback.
// RTMPS in Go uses crypto/tls with certificate verification on by default
// and a configurable root pool; libavformat 5.1's TLS (GnuTLS on Debian)
// does not verify the server unless told to. gortmplib also avoids a
// second cgo surface and the GPL question of linking more of FFmpeg.
// Inbound server messages (acknowledgements, pings) are read and
// discarded on their own goroutine, which also notices at once when the
// server closes the connection.
package stream
