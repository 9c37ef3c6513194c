package stream

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/url"
	"time"

	"github.com/abema/go-mp4"
	"github.com/bluenviron/gortmplib"
	"github.com/bluenviron/gortmplib/pkg/amf0"
	"github.com/bluenviron/gortmplib/pkg/message"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/mpeg4audio"
)

// conn is one publishing connection: it takes FLV tag bodies. The
// interface lets tests run the publisher without a server.
type conn interface {
	// WriteTag sends one FLV tag body of type typ at ms milliseconds.
	WriteTag(typ byte, ms uint32, body []byte) error
	// Dead is closed when the server closes the connection.
	Dead() <-chan struct{}
	BytesSent() uint64
	Close() error
}

// dialer opens a publishing connection.
type dialer func(ctx context.Context) (conn, error)

// publishStreamID is the message stream id of the stream createStream
// returns; gortmplib's client always publishes on it.
const publishStreamID = 0x1000000

// rtmpConn is a conn over gortmplib's RTMP client.
type rtmpConn struct {
	c            *gortmplib.Client
	nc           net.Conn
	writeTimeout time.Duration
	dead         chan struct{}
	drained      chan struct{}
}

// dialRTMP connects to u (rtmp:// or rtmps://) and publishes key.
func dialRTMP(ctx context.Context, u *url.URL, key string, tlsConf *tls.Config, dialTimeout, writeTimeout time.Duration) (*rtmpConn, error) {
	target := *u
	// gortmplib takes the stream name from the fragment and never puts it
	// into tcUrl.
	target.Fragment = key
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	c := &gortmplib.Client{URL: &target, Publish: true, TLSConfig: tlsConf,
		DialContext: (&net.Dialer{KeepAlive: 15 * time.Second}).DialContext}
	if err := c.Initialize(ctx); err != nil {
		return nil, err
	}
	rc := &rtmpConn{c: c, nc: c.NetConn(), writeTimeout: writeTimeout,
		dead: make(chan struct{}), drained: make(chan struct{})}
	// The server sends acknowledgements and pings; reading them through
	// the client would race with writes (its reader answers pings by
	// writing), so the bytes are discarded here. A publisher that keeps
	// sending counts as alive for nginx-rtmp and the big ingests, and the
	// read sees the server close the connection at once.
	go func() {
		defer close(rc.drained)
		io.Copy(io.Discard, rc.nc)
		close(rc.dead)
	}()
	return rc, nil
}

func (rc *rtmpConn) Dead() <-chan struct{} { return rc.dead }
func (rc *rtmpConn) BytesSent() uint64     { return rc.c.BytesSent() }

// Close closes the connection and waits for the reading goroutine.
func (rc *rtmpConn) Close() error {
	rc.c.Close()
	<-rc.drained
	return nil
}

// WriteTag maps an FLV tag body onto gortmplib's message types, which
// write the same bytes back.
func (rc *rtmpConn) WriteTag(typ byte, ms uint32, body []byte) error {
	var msg message.Message
	dts := time.Duration(ms) * time.Millisecond
	switch typ {
	case tagVideo:
		if len(body) < 5 {
			return ErrBadAU
		}
		v := &message.Video{ChunkStreamID: message.VideoChunkStreamID, MessageStreamID: publishStreamID,
			DTS: dts, Codec: message.CodecH264, IsKeyFrame: body[0]>>4 == 1}
		if body[1] == avcSequenceHeader {
			cfg := &mp4.AVCDecoderConfiguration{}
			cfg.SetType(mp4.BoxTypeAvcC())
			if _, err := mp4.Unmarshal(bytes.NewReader(body[5:]), uint64(len(body)-5), cfg, mp4.Context{}); err != nil {
				return fmt.Errorf("%w: avc config: %w", ErrBadAU, err)
			}
			v.Type, v.AVCConfig = message.VideoTypeConfig, cfg
		} else {
			v.Type, v.AU = message.VideoTypeAU, body[5:]
		}
		msg = v
	case tagAudio:
		if len(body) < 2 {
			return ErrBadAU
		}
		a := &message.Audio{ChunkStreamID: message.AudioChunkStreamID, MessageStreamID: publishStreamID,
			DTS: dts, Codec: message.CodecMPEG4Audio, Rate: message.AudioRate44100,
			Depth: message.AudioDepth16, IsStereo: true}
		if body[1] == aacSequenceHeader {
			asc := &mpeg4audio.AudioSpecificConfig{}
			if err := asc.Unmarshal(body[2:]); err != nil {
				return fmt.Errorf("%w: audio specific config: %w", ErrBadAU, err)
			}
			a.AACType, a.AACConfig = message.AudioAACTypeConfig, asc
		} else {
			a.AACType, a.AU = message.AudioAACTypeAU, body[2:]
		}
		msg = a
	default:
		return fmt.Errorf("%w: tag type %d", ErrBadAU, typ)
	}
	rc.nc.SetWriteDeadline(time.Now().Add(rc.writeTimeout))
	return rc.c.Write(msg)
}

// writeMetadata sends @setDataFrame onMetaData, which ingests such as
// YouTube read for the stream's codecs before the first frames.
func (rc *rtmpConn) writeMetadata(hasAudio bool) error {
	meta := amf0.Object{
		{Key: "videocodecid", Value: float64(codecAVC)},
		{Key: "encoder", Value: "vmrd"},
	}
	if hasAudio {
		meta = append(meta,
			amf0.ObjectEntry{Key: "audiocodecid", Value: float64(codecAAC)},
			amf0.ObjectEntry{Key: "audiosamplerate", Value: float64(48000)},
			amf0.ObjectEntry{Key: "audiochannels", Value: float64(2)},
			amf0.ObjectEntry{Key: "stereo", Value: true})
	}
	rc.nc.SetWriteDeadline(time.Now().Add(rc.writeTimeout))
	return rc.c.Write(&message.DataAMF0{ChunkStreamID: 4, MessageStreamID: publishStreamID,
		Payload: []any{"@setDataFrame", "onMetaData", meta}})
}
