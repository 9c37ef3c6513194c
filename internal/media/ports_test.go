package media

import (
	"errors"
	"net"
	"testing"
)

// Tests use ports above Linux's default ephemeral range (32768-60999) so
// the kernel does not hand them to other sockets meanwhile.
const (
	testPortMin = 62000
	testPortMax = 62999
)

func TestNewPortAllocatorRange(t *testing.T) {
	tests := []struct {
		name     string
		min, max int
		err      error
	}{
		{"ok", 40000, 40999, nil},
		{"odd min rounds up", 40001, 40999, nil},
		{"single pair", 40000, 40001, nil},
		{"reversed", 41000, 40000, ErrPortRange},
		{"zero", 0, 100, ErrPortRange},
		{"too high", 65000, 70000, ErrPortRange},
		{"no even port", 40001, 40001, ErrPortRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewPortAllocator(net.IPv4(127, 0, 0, 1), tt.min, tt.max)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
		})
	}
}

func TestPortAllocator(t *testing.T) {
	a, err := NewPortAllocator(net.IPv4(127, 0, 0, 1), testPortMin+100, testPortMin+109)
	if err != nil {
		t.Fatal(err)
	}
	// Hold one port of the range so the allocator must skip it.
	busy, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: testPortMin + 102})
	if err != nil {
		t.Skipf("test port busy: %v", err)
	}
	defer busy.Close()

	var got []*Ports
	seen := map[int]bool{}
	for {
		p, err := a.Allocate(true)
		if errors.Is(err, ErrNoPorts) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
		rtp := p.RTPPort()
		rtcp := p.RTCP.LocalAddr().(*net.UDPAddr).Port
		if rtp%2 != 0 || rtcp != rtp+1 {
			t.Fatalf("got RTP %d RTCP %d, want even and +1", rtp, rtcp)
		}
		if rtp == testPortMin+102 || seen[rtp] {
			t.Fatalf("port %d handed out while busy", rtp)
		}
		seen[rtp] = true
	}
	// 100, 104, 106, 108 (102 busy); fewer if another process on this
	// host holds some of them.
	if len(got) == 0 || len(got) > 4 {
		t.Fatalf("allocated %d pairs, want 1-4", len(got))
	}
	// When all are taken, a freed pair is found again, whatever its place
	// in the round.
	freed := got[0].RTPPort()
	if err := got[0].Close(); err != nil {
		t.Fatal(err)
	}
	if err := got[0].Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	p, err := a.Allocate(false)
	if err != nil {
		t.Fatal(err)
	}
	if p.RTCP != nil {
		t.Fatal("RTCP socket without withRTCP")
	}
	if p.RTPPort() != freed {
		t.Fatalf("got %d, want the freed %d", p.RTPPort(), freed)
	}
	p.Close()
	for _, p := range got[1:] {
		p.Close()
	}
}

func TestPortAllocatorSkipsJustFreed(t *testing.T) {
	a, err := NewPortAllocator(net.IPv4(127, 0, 0, 1), testPortMin+200, testPortMin+209)
	if err != nil {
		t.Fatal(err)
	}
	p1, err := a.Allocate(false)
	if err != nil {
		t.Fatal(err)
	}
	port1 := p1.RTPPort()
	p1.Close()
	p2, err := a.Allocate(false)
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if p2.RTPPort() == port1 {
		t.Fatalf("port %d reused at once", port1)
	}
}
