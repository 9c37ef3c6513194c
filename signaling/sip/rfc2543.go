package sip

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"regexp"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// RFC 2543 peers (RFC 4475 3.4.1, "inv2543") send requests without a From
// tag, and often without an RFC 3261 branch. sipgo keys such transactions
// by the From tag and refuses them, so over UDP the guard gives them one: a tag
// derived from the Call-ID and the From URI (the same for every request of
// the dialog, so ACK and BYE find it), marked so that every datagram we
// send strips it again. The peer sees its From exactly as it sent it.

// tag2543Prefix marks the tags we invent; nobody else sends it.
const tag2543Prefix = "vmrd2543-"

var tag2543RE = regexp.MustCompile(`;tag=` + tag2543Prefix + `[0-9a-f]{16}`)

// needs2543Tag reports whether req comes from an RFC 2543 peer: its From
// has no tag (RFC 3261 8.1.1.3 makes one mandatory). Every request of such
// a dialog gets the same tag, so that dialog matching (ACK, BYE) holds
// whether or not the request carries an RFC 3261 branch.
func needs2543Tag(req *sip.Request) bool {
	return req.From() != nil && fromTag(req) == ""
}

// add2543Tag appends our tag to the From header line of a normalized
// message (normalizeHead joined folded lines).
func add2543Tag(data []byte, req *sip.Request) []byte {
	from := req.From()
	if from == nil || req.CallID() == nil {
		return data
	}
	sum := sha256.Sum256([]byte(req.CallID().Value() + "\x00" + from.Address.String()))
	tag := ";tag=" + tag2543Prefix + hex.EncodeToString(sum[:8])
	end := bytes.Index(data, []byte("\r\n\r\n"))
	if end < 0 {
		return data
	}
	lines := strings.Split(string(data[:end]), "\r\n")
	for i, l := range lines[1:] {
		name, _, ok := strings.Cut(l, ":")
		if n := strings.ToLower(strings.TrimSpace(name)); ok && (n == "from" || n == "f") {
			lines[i+1] = l + tag
			out := []byte(strings.Join(lines, "\r\n"))
			return append(out, data[end:]...)
		}
	}
	return data
}

// strip2543Tags removes the tags we invented from a message we send.
func strip2543Tags(b []byte) []byte {
	if !bytes.Contains(b, []byte(tag2543Prefix)) {
		return b
	}
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 {
		return b
	}
	head := tag2543RE.ReplaceAll(b[:end], nil)
	return append(head, b[end:]...)
}

// packetConn2543 strips our invented tags from every datagram sipgo sends.
type packetConn2543 struct{ net.PacketConn }

func (c packetConn2543) WriteTo(b []byte, addr net.Addr) (int, error) {
	out := strip2543Tags(b)
	if _, err := c.PacketConn.WriteTo(out, addr); err != nil {
		return 0, err
	}
	return len(b), nil
}
