package e2e

import (
	"encoding/binary"
	"net"
	"strings"
	"testing"
	"time"
)

// tmmbrPacket is an RTCP TMMBR (RFC 5104 section 4.2.1) from sender asking
// the owner of media for at most bps.
func tmmbrPacket(sender, media uint32, bps int) []byte {
	exp, mantissa := 0, bps
	for mantissa >= 1<<17 {
		mantissa >>= 1
		exp++
	}
	b := make([]byte, 20)
	b[0], b[1] = 0x80|3, 205 // V=2, FMT=3 (TMMBR), RTPFB
	binary.BigEndian.PutUint16(b[2:], 4)
	binary.BigEndian.PutUint32(b[4:], sender)
	binary.BigEndian.PutUint32(b[12:], media) // FCI: the SSRC asked
	binary.BigEndian.PutUint32(b[16:], uint32(exp)<<26|uint32(mantissa)<<9|40)
	return b
}

// TestVideoTMMBR: an endpoint that offers "ccm tmmbr" (as Cisco and Poly
// endpoints do) gets it in the answer, and a TMMBR it sends to vmrd's
// video RTCP port is accepted and answered with a TMMBN naming the sender
// (RFC 5104 section 4.2.2).
func TestVideoTMMBR(t *testing.T) {
	d := startDaemon(t, defaultConfig())
	audio := newMediaPort(t)
	port := freePortPair(t)
	rtpConn, err := net.ListenUDP("udp", udpAddr(port))
	if err != nil {
		t.Fatal(err)
	}
	defer rtpConn.Close()
	rtcpConn, err := net.ListenUDP("udp", udpAddr(port+1))
	if err != nil {
		t.Fatal(err)
	}
	defer rtcpConn.Close()
	offer := strings.Replace(h264Offer(audio.Port(), port), "a=rtcp-fb:96 nack pli\r\n",
		"a=rtcp-fb:96 nack pli\r\na=rtcp-fb:96 ccm tmmbr\r\n", 1)
	uac := dialSIPUDP(t, "127.0.0.1", d.SIPAddr)
	dl := uac.newDialog("1001")
	res := dl.invite(t, offer, 10*time.Second)
	if res == nil || res.Status != 200 {
		t.Fatalf("INVITE answered %v, want 200", statusOf(res))
	}
	if !strings.Contains(res.Body, "a=rtcp-fb:96 ccm tmmbr") {
		t.Fatalf("the answer does not take ccm tmmbr:\n%s", res.Body)
	}
	ans, err := parseSDPMedia(res.Body, "video")
	if err != nil {
		t.Fatal(err)
	}
	// vmrd's SSRC, from the composed video it sends us.
	buf := make([]byte, 2048)
	_ = rtpConn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := rtpConn.ReadFromUDP(buf)
	if err != nil || n < 12 {
		t.Fatalf("no video from vmrd: %v", err)
	}
	theirs := binary.BigEndian.Uint32(buf[8:12])
	const ours = 0x7e57_0001
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := rtcpConn.WriteToUDP(tmmbrPacket(ours, theirs, 300_000), ans.RTCPAddr()); err != nil {
			t.Fatal(err)
		}
		_ = rtcpConn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		for {
			n, _, err := rtcpConn.ReadFromUDP(buf)
			if err != nil {
				break
			}
			if tmmbnFor(buf[:n], theirs, ours) {
				dl.bye(t)
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no TMMBN naming our SSRC came back within 10 s")
		}
	}
}

// tmmbnFor reports whether the compound RTCP packet b holds a TMMBN from
// sender whose bounding set names owner.
func tmmbnFor(b []byte, sender, owner uint32) bool {
	for len(b) >= 4 {
		size := 4 * (int(binary.BigEndian.Uint16(b[2:])) + 1)
		if size > len(b) {
			return false
		}
		if b[0]&0x1f == 4 && b[1] == 205 && size >= 20 && binary.BigEndian.Uint32(b[4:]) == sender {
			for fci := b[12:size]; len(fci) >= 8; fci = fci[8:] {
				if binary.BigEndian.Uint32(fci) == owner {
					return true
				}
			}
		}
		b = b[size:]
	}
	return false
}
