package media

import (
	"errors"
	"fmt"
	"net"
	"sync"
)

// PortAllocator hands out UDP sockets for RTP (and RTCP) from a port range on
// one bind address. It keeps no table of ports in use: the kernel already
// knows, and a bind that fails with "address in use" is simply skipped. The
// search resumes after the last port handed out (round-robin), so a port that
// was just freed is not reused at once and late packets of an old call do
// not land in a new one.
type PortAllocator struct {
	bindIP   net.IP
	min, max int // first and last even RTP port

	mu   sync.Mutex
	next int // next even port to try
}

// Ports is one allocated RTP socket and, if asked for, its RTCP socket on
// the next port (RFC 3550 section 11: RTP even, RTCP = RTP + 1).
type Ports struct {
	RTP  *net.UDPConn
	RTCP *net.UDPConn // nil when allocated without RTCP (rtcp-mux)

	once sync.Once
	err  error
}

// NewPortAllocator makes an allocator for [min, max] on bindIP. RTP ports are
// even; min is rounded up to even. The range must hold at least one pair.
func NewPortAllocator(bindIP net.IP, min, max int) (*PortAllocator, error) {
	if min < 1 || max > 65535 || min > max {
		return nil, fmt.Errorf("%w: %d-%d", ErrPortRange, min, max)
	}
	if min%2 == 1 {
		min++
	}
	if min > max {
		return nil, fmt.Errorf("%w: %d-%d holds no even port", ErrPortRange, min, max)
	}
	last := max
	if last%2 == 1 {
		last--
	}
	ip := bindIP
	if ip == nil {
		ip = net.IPv4zero
	}
	return &PortAllocator{bindIP: ip, min: min, max: last, next: min}, nil
}

// Allocate binds an even RTP port and, with withRTCP, the odd port above it.
// Busy ports are skipped; ErrNoPorts when the whole range is busy.
func (a *PortAllocator) Allocate(withRTCP bool) (*Ports, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := (a.max-a.min)/2 + 1
	for range n {
		p := a.next
		a.next += 2
		if a.next > a.max {
			a.next = a.min
		}
		rtpConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: a.bindIP, Port: p})
		if err != nil {
			continue
		}
		ports := &Ports{RTP: rtpConn}
		if withRTCP {
			if p+1 > 65535 {
				rtpConn.Close()
				continue
			}
			rtcpConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: a.bindIP, Port: p + 1})
			if err != nil {
				rtpConn.Close()
				continue
			}
			ports.RTCP = rtcpConn
		}
		return ports, nil
	}
	return nil, fmt.Errorf("%w in %d-%d on %s", ErrNoPorts, a.min, a.max+1, a.bindIP)
}

// RTPPort is the local RTP port.
func (p *Ports) RTPPort() int { return p.RTP.LocalAddr().(*net.UDPAddr).Port }

// Close closes the sockets. It is idempotent.
func (p *Ports) Close() error {
	p.once.Do(func() {
		var errs []error
		if p.RTP != nil {
			errs = append(errs, p.RTP.Close())
		}
		if p.RTCP != nil {
			errs = append(errs, p.RTCP.Close())
		}
		p.err = errors.Join(errs...)
	})
	return p.err
}
