package sip

import (
	"context"
	"time"

	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"github.com/emiago/sipgo/sip"
	"io"
	"strings"
)

// Keyframe requests in SIP INFO (RFC 5168): Cisco and Poly endpoints ask
// for a new picture with
//
//	<media_control><vc_primitive><to_encoder><picture_fast_update/>
//	</to_encoder></vc_primitive></media_control>
//
// in an application/media_control+xml body, instead of (or as well as)
// RTCP PLI/FIR.

// errMediaControlMalformed: a media_control body that is not the XML above.
var errMediaControlMalformed = errors.New("malformed media_control body")

// maxMediaControlBody bounds what we parse: the request is under 200 bytes.
const maxMediaControlBody = 4096

// isMediaControl reports whether a Content-Type is RFC 5168's.
func isMediaControl(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/media_control+xml")
}

// parseMediaControl reports whether the body asks for a picture fast
// update. Other well-formed media_control bodies are accepted and ignored
// (RFC 5168 defines no other primitive endpoints send).
func parseMediaControl(body []byte) (fastUpdate bool, err error) {
	if len(body) > maxMediaControlBody {
		return false, fmt.Errorf("%w: longer than %d bytes", errMediaControlMalformed, maxMediaControlBody)
	}
	dec := xml.NewDecoder(bytes.NewReader(body))
	dec.Strict = true
	var path []string
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return false, fmt.Errorf("%w: not XML", errMediaControlMalformed)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(path) > 8 {
				return false, fmt.Errorf("%w: nested too deep", errMediaControlMalformed)
			}
			if root == "" {
				root = t.Name.Local
			}
			path = append(path, t.Name.Local)
			if len(path) == 4 && path[0] == "media_control" && path[1] == "vc_primitive" &&
				path[2] == "to_encoder" && path[3] == "picture_fast_update" {
				fastUpdate = true
			}
		case xml.EndElement:
			path = path[:len(path)-1]
		}
	}
	if root != "media_control" {
		return false, fmt.Errorf("%w: the root element is not media_control", errMediaControlMalformed)
	}
	return fastUpdate, nil
}

// pictureFastUpdate forwards an RFC 5168 request to the encoder whose
// pictures this call receives.
func (c *call) pictureFastUpdate() {
	c.log.Debug("picture fast update requested")
	if v := c.videoLeg.Load(); v != nil {
		v.forceKeyframe()
	}
}

// fastUpdateBody is the RFC 5168 request for a keyframe.
const fastUpdateBody = `<?xml version="1.0" encoding="utf-8" ?>
<media_control>
  <vc_primitive>
    <to_encoder>
      <picture_fast_update/>
    </to_encoder>
  </vc_primitive>
</media_control>
`

// askFastUpdate asks the caller for a keyframe with SIP INFO, for
// endpoints that negotiated no RTCP keyframe request (PLI or FIR). The
// video session rate-limits it; one INFO is in flight at a time.
func (c *call) askFastUpdate() {
	if callState(c.state.Load()) != stateConfirmed || !c.fastUpdateBusy.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer c.fastUpdateBusy.Store(false)
		req := c.newRequest(sip.INFO)
		req.AppendHeader(sip.NewHeader("Content-Type", "application/media_control+xml"))
		req.SetBody([]byte(fastUpdateBody))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		go func() {
			// The call's end cancels the request: no INFO outlives its dialog.
			select {
			case <-c.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		res, err := c.do(ctx, req)
		switch {
		case err != nil:
			c.log.Debug("picture_fast_update INFO not answered", "err", err)
		case res.StatusCode >= 300:
			c.log.Debug("picture_fast_update INFO refused", "code", res.StatusCode)
		}
	}()
}
