package e2e

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// sdpVideoFormat is one payload type of an SDP's video m-line.
type sdpVideoFormat struct {
	PT       int
	Encoding string // rtpmap encoding name, e.g. "H264"
	Fmtp     string // a=fmtp parameters, e.g. "packetization-mode=1;profile-level-id=42e01f"
}

// onlyH264Mode keeps H.264 formats of one packetization mode (RFC 6184
// section 8.1: an absent parameter means mode 0).
func onlyH264Mode(mode int) func(sdpVideoFormat) bool {
	return func(f sdpVideoFormat) bool {
		if !strings.EqualFold(f.Encoding, "H264") {
			return false
		}
		got := 0
		for _, p := range strings.Split(f.Fmtp, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(k, "packetization-mode") {
				got, _ = strconv.Atoi(v)
			}
		}
		return got == mode
	}
}

// filterVideoFormats rewrites an SDP body so its video m-line (RFC 8866
// section 5.14) lists only the formats keep accepts, dropping their rtpmap,
// fmtp and rtcp-fb lines; other media are untouched. It fails when no
// format is left.
func filterVideoFormats(body string, keep func(sdpVideoFormat) bool) (string, error) {
	lines := strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n")
	// First pass: the video section's formats.
	formats := map[int]*sdpVideoFormat{}
	inVideo := false
	for _, l := range lines {
		if strings.HasPrefix(l, "m=") {
			inVideo = strings.HasPrefix(l, "m=video ")
			continue
		}
		if !inVideo {
			continue
		}
		for _, attr := range []string{"a=rtpmap:", "a=fmtp:"} {
			rest, ok := strings.CutPrefix(l, attr)
			if !ok {
				continue
			}
			ptText, value, _ := strings.Cut(rest, " ")
			pt, err := strconv.Atoi(ptText)
			if err != nil {
				continue
			}
			f := formats[pt]
			if f == nil {
				f = &sdpVideoFormat{PT: pt}
				formats[pt] = f
			}
			if attr == "a=rtpmap:" {
				f.Encoding, _, _ = strings.Cut(value, "/")
			} else {
				f.Fmtp = value
			}
		}
	}
	// Second pass: rewrite.
	dropped := map[string]bool{}
	var out []string
	inVideo = false
	for _, l := range lines {
		if strings.HasPrefix(l, "m=") {
			inVideo = strings.HasPrefix(l, "m=video ")
			if inVideo {
				fields := strings.Fields(l)
				if len(fields) < 4 {
					return "", fmt.Errorf("short video m-line %q", l)
				}
				kept := fields[:3]
				for _, ptText := range fields[3:] {
					pt, _ := strconv.Atoi(ptText)
					f := formats[pt]
					if f == nil {
						f = &sdpVideoFormat{PT: pt}
					}
					if keep(*f) {
						kept = append(kept, ptText)
					} else {
						dropped[ptText] = true
					}
				}
				if len(kept) == 3 {
					return "", fmt.Errorf("no video format of %q is kept", l)
				}
				l = strings.Join(kept, " ")
			}
		} else if inVideo {
			if ptText, ok := videoAttrPT(l); ok && dropped[ptText] {
				continue
			}
		}
		out = append(out, l)
	}
	return strings.Join(out, "\r\n"), nil
}

// videoAttrPT returns the payload type an rtpmap, fmtp or rtcp-fb line is
// about.
func videoAttrPT(l string) (string, bool) {
	for _, attr := range []string{"a=rtpmap:", "a=fmtp:", "a=rtcp-fb:"} {
		if rest, ok := strings.CutPrefix(l, attr); ok {
			pt, _, _ := strings.Cut(rest, " ")
			return pt, true
		}
	}
	return "", false
}

var contentLengthRe = regexp.MustCompile(`(?im)^(content-length|l)[ \t]*:[ \t]*\d+`)

// rewriteInvite applies keep to the SDP of a SIP INVITE datagram and fixes
// its Content-Length; other messages come back unchanged.
func rewriteInvite(msg []byte, keep func(sdpVideoFormat) bool) ([]byte, bool, error) {
	text := string(msg)
	if !strings.HasPrefix(text, "INVITE ") {
		return msg, false, nil
	}
	head, body, ok := strings.Cut(text, "\r\n\r\n")
	if !ok || !strings.Contains(body, "m=video ") {
		return msg, false, nil
	}
	newBody, err := filterVideoFormats(body, keep)
	if err != nil {
		return msg, false, err
	}
	head = contentLengthRe.ReplaceAllString(head, "Content-Length: "+strconv.Itoa(len(newBody)))
	return []byte(head + "\r\n\r\n" + newBody), true, nil
}

// sdpFilter is a SIP-over-UDP relay in front of one SIP port. Dial its Port
// instead of the target: it forwards every datagram, editing the video
// formats of INVITE offers, and sends the target's answers back. Requests
// inside the dialog (ACK, BYE) go straight between the ends, to their
// Contact addresses; baresip sends its responses to the relay because its
// Via has rport (RFC 3581).
type sdpFilter struct {
	Port      int
	conn      *net.UDPConn
	rewritten atomic.Int32
	wg        sync.WaitGroup
	errMu     sync.Mutex
	err       error
}

// startSDPFilter starts a relay to 127.0.0.1:to that keeps only the video
// formats keep accepts in INVITE offers. Cleanup stops it.
func startSDPFilter(t *testing.T, to int, keep func(sdpVideoFormat) bool) *sdpFilter {
	t.Helper()
	port := freePort(t)
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatalf("sdp filter: %v", err)
	}
	target := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: to}
	f := &sdpFilter{Port: port, conn: conn}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		var client *net.UDPAddr
		buf := make([]byte, 65536)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return // closed by Cleanup
			}
			msg := append([]byte(nil), buf[:n]...)
			if from.Port == target.Port && from.IP.Equal(target.IP) {
				if client != nil {
					_, _ = conn.WriteToUDP(msg, client)
				}
				continue
			}
			client = from
			out, changed, err := rewriteInvite(msg, keep)
			if err != nil {
				f.errMu.Lock()
				f.err = err
				f.errMu.Unlock()
			}
			if changed {
				f.rewritten.Add(1)
			}
			_, _ = conn.WriteToUDP(out, target)
		}
	}()
	t.Cleanup(func() {
		_ = conn.Close()
		f.wg.Wait()
		if err := f.error(); err != nil {
			t.Errorf("sdp filter: %v", err)
		}
	})
	return f
}

// URI is the address to dial the target through the filter.
func (f *sdpFilter) URI() string { return fmt.Sprintf("sip:tester@127.0.0.1:%d", f.Port) }

// Rewritten counts the INVITEs whose SDP the filter edited.
func (f *sdpFilter) Rewritten() int { return int(f.rewritten.Load()) }

func (f *sdpFilter) error() error {
	f.errMu.Lock()
	defer f.errMu.Unlock()
	return f.err
}
