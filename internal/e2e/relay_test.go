package e2e

// An in-process UDP relay that impairs one caller's media: it stands between
// the caller's RTP socket and vmrd's, so the caller's SDP names the relay's
// daemon-side port and vmrd's symmetric RTP (RFC 4961) answers the relay.
//
//	caller <-> front [relay] back <-> vmrd
//
// Each direction can lose, delay (uniform jitter, which reorders), hold back
// (explicit reordering) and black out packets. The random choices come from a
// seeded generator, so a run with the same packet sequence makes the same
// choices.

import (
	"container/heap"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// impairment is what the relay does to the packets of one direction.
type impairment struct {
	// Loss is the probability that a packet is dropped.
	Loss float64
	// Jitter delays each packet by a uniform random time in [0, Jitter);
	// packets closer together than their delay difference swap places.
	Jitter time.Duration
	// Reorder is the probability that a packet is held back by ReorderHold
	// on top of its jitter, so the packets after it overtake it.
	Reorder     float64
	ReorderHold time.Duration
}

// relayDir names a direction through the relay.
type relayDir int

const (
	relayUp   relayDir = iota // caller to vmrd
	relayDown                 // vmrd to caller
)

func (d relayDir) String() string {
	if d == relayUp {
		return "up"
	}
	return "down"
}

// relayCounts are the packets one direction saw.
type relayCounts struct {
	In, Forwarded, Lost, Blackout, Held uint64
	// Reordered counts packets written after one with a higher RTP
	// sequence number: what the far end sees as out of order.
	Reordered uint64
}

// relayPacket is one packet waiting for its departure time.
type relayPacket struct {
	due time.Time
	n   uint64 // arrival order, to keep equal due times stable
	b   []byte
}

type packetQueue []relayPacket

func (q packetQueue) Len() int { return len(q) }
func (q packetQueue) Less(i, j int) bool {
	if q[i].due.Equal(q[j].due) {
		return q[i].n < q[j].n
	}
	return q[i].due.Before(q[j].due)
}
func (q packetQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *packetQueue) Push(x any)   { *q = append(*q, x.(relayPacket)) }
func (q *packetQueue) Pop() any {
	old := *q
	p := old[len(old)-1]
	*q = old[:len(old)-1]
	return p
}

// relayPath is one direction: packets read on in are written on out to dst.
type relayPath struct {
	dir  relayDir
	in   *net.UDPConn
	out  *net.UDPConn
	wake chan struct{}

	// Guarded by relay.mu. Each direction draws from its own generator, so
	// its choices depend only on its own packet sequence.
	rng     *rand.Rand
	imp     impairment
	queue   packetQueue
	arrived uint64
	counts  relayCounts
	lastSeq uint16
	sent    bool
}

// relay is the impairment relay. Its goroutines stop in Close (registered as
// a cleanup by newRelay).
type relay struct {
	front  *net.UDPConn // the caller sends here
	back   *net.UDPConn // vmrd sends here; its port goes into the caller's SDP
	caller *net.UDPAddr

	mu       sync.Mutex
	blackout bool
	daemon   *net.UDPAddr // learned from vmrd's first packet
	paths    [2]*relayPath

	stop chan struct{}
	wg   sync.WaitGroup
}

// newRelay starts a relay for the caller whose RTP socket is at caller.
func newRelay(t *testing.T, caller *net.UDPAddr, seed uint64) *relay {
	t.Helper()
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatalf("relay: %v", err)
		}
		return c
	}
	r := &relay{
		front:  listen(),
		back:   listen(),
		caller: caller,
		stop:   make(chan struct{}),
	}
	rng := func(dir relayDir) *rand.Rand { return rand.New(rand.NewPCG(seed, uint64(dir)+0x9e3779b97f4a7c15)) }
	r.paths[relayUp] = &relayPath{dir: relayUp, in: r.front, out: r.back, wake: make(chan struct{}, 1), rng: rng(relayUp)}
	r.paths[relayDown] = &relayPath{dir: relayDown, in: r.back, out: r.front, wake: make(chan struct{}, 1), rng: rng(relayDown)}
	for _, p := range r.paths {
		r.wg.Add(2)
		go r.read(p)
		go r.write(p)
	}
	t.Cleanup(r.Close)
	return r
}

// BackPort is the port vmrd must send the caller's media to: the port to
// write into the caller's SDP.
func (r *relay) BackPort() int { return r.back.LocalAddr().(*net.UDPAddr).Port }

// Close stops the relay and waits for its goroutines.
func (r *relay) Close() {
	select {
	case <-r.stop:
		return
	default:
	}
	close(r.stop)
	_ = r.front.Close()
	_ = r.back.Close()
	r.wg.Wait()
}

// set changes the impairment of one direction from now on.
func (r *relay) set(dir relayDir, imp impairment) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.paths[dir].imp = imp
}

// setBoth gives both directions the same impairment.
func (r *relay) setBoth(imp impairment) {
	r.set(relayUp, imp)
	r.set(relayDown, imp)
}

// setBlackout drops every packet in both directions while on, including
// those already waiting for their delay.
func (r *relay) setBlackout(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.blackout = on
	if on {
		for _, p := range r.paths {
			p.counts.Blackout += uint64(len(p.queue))
			p.queue = p.queue[:0]
		}
	}
}

// counts returns the counters of one direction.
func (r *relay) counts(dir relayDir) relayCounts {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.paths[dir].counts
}

// read takes packets off p.in, decides their fate and queues the survivors.
func (r *relay) read(p *relayPath) {
	defer r.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, from, err := p.in.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		now := time.Now()
		r.mu.Lock()
		if p.dir == relayDown && r.daemon == nil {
			r.daemon = from
		}
		p.counts.In++
		switch {
		case r.blackout:
			p.counts.Blackout++
		case p.imp.Loss > 0 && p.rng.Float64() < p.imp.Loss:
			p.counts.Lost++
		default:
			due := now
			if p.imp.Jitter > 0 {
				due = due.Add(time.Duration(p.rng.Int64N(int64(p.imp.Jitter))))
			}
			if p.imp.Reorder > 0 && p.rng.Float64() < p.imp.Reorder {
				due = due.Add(p.imp.ReorderHold)
				p.counts.Held++
			}
			p.arrived++
			heap.Push(&p.queue, relayPacket{due: due, n: p.arrived, b: append([]byte(nil), buf[:n]...)})
		}
		r.mu.Unlock()
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// write sends queued packets at their due times.
func (r *relay) write(p *relayPath) {
	defer r.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		r.mu.Lock()
		var (
			ready [][]byte
			wait  = time.Hour
		)
		now := time.Now()
		for len(p.queue) > 0 {
			if d := p.queue[0].due.Sub(now); d > 0 {
				wait = d
				break
			}
			ready = append(ready, heap.Pop(&p.queue).(relayPacket).b)
		}
		dst := r.caller
		if p.dir == relayUp {
			dst = r.daemon
		}
		for _, b := range ready {
			if len(b) >= 12 && b[0]>>6 == 2 {
				seq := uint16(b[2])<<8 | uint16(b[3])
				if p.sent && int16(seq-p.lastSeq) < 0 {
					p.counts.Reordered++
				} else {
					p.lastSeq = seq
				}
				p.sent = true
			}
			if dst != nil {
				p.counts.Forwarded++
			}
		}
		r.mu.Unlock()
		if dst != nil {
			for _, b := range ready {
				_, _ = p.out.WriteToUDP(b, dst)
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
		select {
		case <-r.stop:
			return
		case <-p.wake:
		case <-timer.C:
		}
	}
}

// TestRelayImpairs checks the relay itself with a plain sender and receiver:
// the loss rate, that jitter and holding reorder packets, that a blackout
// drops everything and that a clean relay forwards everything in order.
func TestRelayImpairs(t *testing.T) {
	t.Parallel()
	const packets = 500
	tests := []struct {
		name     string
		imp      impairment
		blackout bool
		check    func(t *testing.T, c relayCounts, got int, reordered int)
	}{
		{name: "clean", check: func(t *testing.T, c relayCounts, got, reordered int) {
			if got != packets || reordered != 0 {
				t.Errorf("received %d of %d, %d out of order; want all, in order", got, packets, reordered)
			}
		}},
		{name: "ten percent loss", imp: impairment{Loss: 0.10}, check: func(t *testing.T, c relayCounts, got, reordered int) {
			// 500 draws at p = 0.1: mean 50, sd 6.7; 25..75 is beyond 3.7 sd.
			if c.Lost < 25 || c.Lost > 75 || got != packets-int(c.Lost) {
				t.Errorf("lost %d, received %d of %d; want about 50 lost and the rest received", c.Lost, got, packets)
			}
		}},
		{name: "jitter reorders", imp: impairment{Jitter: 60 * time.Millisecond}, check: func(t *testing.T, c relayCounts, got, reordered int) {
			if got != packets || reordered < 20 || c.Reordered < 20 {
				t.Errorf("received %d of %d, %d out of order (relay counted %d); want all, many out of order", got, packets, reordered, c.Reordered)
			}
		}},
		{name: "hold reorders", imp: impairment{Reorder: 0.05, ReorderHold: 30 * time.Millisecond}, check: func(t *testing.T, c relayCounts, got, reordered int) {
			if got != packets || c.Held == 0 || reordered == 0 {
				t.Errorf("received %d of %d, held %d, %d out of order; want all, some held and overtaken", got, packets, c.Held, reordered)
			}
		}},
		{name: "blackout", blackout: true, check: func(t *testing.T, c relayCounts, got, reordered int) {
			if got != 0 || c.Blackout != packets {
				t.Errorf("received %d, blackout dropped %d; want none received, all %d dropped", got, c.Blackout, packets)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			listen := func() *net.UDPConn {
				c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			caller, far := listen(), listen()
			defer caller.Close()
			defer far.Close()
			r := newRelay(t, caller.LocalAddr().(*net.UDPAddr), 7)
			defer r.Close()
			// vmrd's side speaks first, so the relay learns where it is.
			if _, err := far.WriteToUDP(rtpTestPacket(0), r.back.LocalAddr().(*net.UDPAddr)); err != nil {
				t.Fatal(err)
			}
			_ = caller.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, _, err := caller.ReadFromUDP(make([]byte, 2048)); err != nil {
				t.Fatalf("first packet through the relay: %v", err)
			}
			r.set(relayUp, tc.imp)
			r.setBlackout(tc.blackout)
			// Read in the background: the burst would overflow the socket's
			// receive buffer otherwise.
			var (
				mu             sync.Mutex
				got, reordered int
				last           uint16
			)
			readDone := make(chan struct{})
			go func() {
				defer close(readDone)
				buf := make([]byte, 2048)
				for {
					n, _, err := far.ReadFromUDP(buf)
					if err != nil {
						return
					}
					if n < 12 {
						continue
					}
					seq := uint16(buf[2])<<8 | uint16(buf[3])
					mu.Lock()
					if got > 0 && seq < last {
						reordered++
					} else {
						last = seq
					}
					got++
					mu.Unlock()
				}
			}()
			front := r.front.LocalAddr().(*net.UDPAddr)
			for i := range packets {
				if _, err := caller.WriteToUDP(rtpTestPacket(uint16(i+1)), front); err != nil {
					t.Fatal(err)
				}
				if i%5 == 4 {
					time.Sleep(time.Millisecond) // spread them, as a sender does
				}
			}
			// Wait until everything the relay kept has arrived.
			deadline := time.Now().Add(5 * time.Second)
			for {
				c := r.counts(relayUp)
				mu.Lock()
				n := got
				mu.Unlock()
				if c.In == packets && int(c.Forwarded) == n && n == packets-int(c.Lost+c.Blackout) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("relay counts %+v, received %d after 5s", c, n)
				}
				time.Sleep(10 * time.Millisecond)
			}
			_ = far.Close()
			<-readDone
			tc.check(t, r.counts(relayUp), got, reordered)
		})
	}
}

// rtpTestPacket is a minimal RTP packet with sequence number seq.
func rtpTestPacket(seq uint16) []byte {
	b := make([]byte, 12+160)
	b[0] = 0x80
	putU16(b[2:], seq)
	putU32(b[4:], uint32(seq)*160)
	putU32(b[8:], 0xfeed)
	return b
}
