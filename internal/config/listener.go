package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Transports a SIP listener may use.
const (
	TransportUDP = "udp"
	TransportTCP = "tcp"
	// TransportTLS is SIP over TLS (RFC 3261 26.2); it needs sip.tls.
	TransportTLS = "tls"
)

// Listener is one parsed sip.listen entry.
type Listener struct {
	Transport string // "udp" or "tcp"
	Addr      string // "host:port" with an IP host; IPv6 in brackets
}

// String returns the listener in the config's own "udp:ADDR:PORT" form.
func (l Listener) String() string { return l.Transport + ":" + l.Addr }

// ParseListener parses "TRANSPORT:ADDR:PORT" where TRANSPORT is udp or tcp
// (any case), ADDR an IPv4 address or an IPv6 address in brackets, and PORT
// 1-65535. Host names are refused: a name can resolve to several addresses,
// and which one vmrd bound to would depend on DNS at start-up.
func ParseListener(s string) (Listener, error) {
	const form = "write it as udp:ADDR:PORT or tcp:ADDR:PORT, e.g. udp:0.0.0.0:5060"
	if s == "" {
		return Listener{}, invalid("empty; " + form)
	}
	transport, hostport, ok := strings.Cut(s, ":")
	if !ok || !isWord(transport) || isDigits(hostport) {
		return Listener{}, invalid(fmt.Sprintf("%q has no transport; %s", s, form))
	}
	transport = strings.ToLower(transport)
	switch transport {
	case TransportUDP, TransportTCP, TransportTLS:
	default:
		return Listener{}, invalid(fmt.Sprintf("%q: unknown transport %q; use udp, tcp or tls", s, transport))
	}
	addr, err := parseAddrPort(hostport, transport+":", "5060")
	if err != nil {
		return Listener{}, invalid(fmt.Sprintf("%q %s", s, err.Error()))
	}
	return Listener{Transport: transport, Addr: addr}, nil
}

// parseAddrPort checks "ADDR:PORT" and returns it in canonical form. prefix
// and port shape the examples in its messages, which read well after the
// quoted original value.
func parseAddrPort(hostport, prefix, port string) (string, error) {
	host, p, err := net.SplitHostPort(hostport)
	if err != nil {
		switch {
		case strings.Count(hostport, ":") > 1 && !strings.HasPrefix(hostport, "["):
			return "", fmt.Errorf("needs brackets around the IPv6 address; write it as %s[ADDR]:PORT, e.g. %s[::1]:%s", prefix, prefix, port)
		case !strings.Contains(hostport, ":") || strings.HasPrefix(hostport, "[") && strings.HasSuffix(hostport, "]"):
			return "", fmt.Errorf("has no port; write it as %sADDR:PORT, e.g. %s0.0.0.0:%s", prefix, prefix, port)
		default:
			return "", fmt.Errorf("is not ADDR:PORT; write it as %sADDR:PORT, e.g. %s0.0.0.0:%s", prefix, prefix, port)
		}
	}
	if host == "" {
		return "", fmt.Errorf("has no address; write 0.0.0.0 for all IPv4 addresses, e.g. %s0.0.0.0:%s", prefix, port)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "", fmt.Errorf("has %s, which is not an IP address; vmrd listens on IP addresses only (IPv4, or IPv6 in brackets), e.g. %s127.0.0.1:%s", strconv.Quote(host), prefix, port)
	}
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("has port %s; use a port from 1 to 65535", strconv.Quote(p))
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(n)), nil
}

// isDigits reports whether s is a non-empty run of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isWord reports whether s is a non-empty run of ASCII letters.
func isWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// minRTPPorts is the smallest range we accept: two RTP/RTCP pairs.
const minRTPPorts = 4

// ParsePortRange parses media.rtp_ports, "MIN-MAX". MIN is even because RTP
// takes an even port and RTCP the odd one above it (RFC 3550 11); MIN is above
// 1024 so that vmrd needs no privileges; the range holds at least 4 ports.
func ParsePortRange(s string) (lo, hi int, err error) {
	const example = `e.g. "40000-40999"`
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	lo, errLo := strconv.Atoi(strings.TrimSpace(a))
	hi, errHi := strconv.Atoi(strings.TrimSpace(b))
	switch {
	case !ok || errLo != nil || errHi != nil || lo < 0 || hi < 0:
		return 0, 0, invalid(fmt.Sprintf("%q is not a port range; write it as MIN-MAX, %s", s, example))
	case lo <= 1024:
		return 0, 0, invalid(fmt.Sprintf("%q starts at %d; start above 1024 (lower ports need root), %s", s, lo, example))
	case hi > 65535:
		return 0, 0, invalid(fmt.Sprintf("%q ends above 65535, the highest port; %s", s, example))
	case lo >= hi:
		return 0, 0, invalid(fmt.Sprintf("%q: MIN must be below MAX, %s", s, example))
	case lo%2 != 0:
		return 0, 0, invalid(fmt.Sprintf("%q starts at an odd port; RTP uses even ports and RTCP the odd port above (RFC 3550 11), so start at an even one, %s", s, example))
	case hi-lo+1 < minRTPPorts:
		return 0, 0, invalid(fmt.Sprintf("%q holds only %d ports; give at least %d, %s", s, hi-lo+1, minRTPPorts, example))
	}
	return lo, hi, nil
}
