package audio

// ring is a bounded FIFO of samples that drops the oldest samples when a
// write does not fit, because for live audio the newest samples are the ones
// worth playing. It is not safe for concurrent use; Input guards it.
type ring struct {
	buf []int16
	r   int // index of the oldest sample
	n   int // samples queued
}

func newRing(capacity int) ring { return ring{buf: make([]int16, capacity)} }

// len is the number of queued samples.
func (q *ring) len() int { return q.n }

// write queues p and returns how many old (or, when p alone is longer than
// the ring, leading) samples were dropped to make room.
func (q *ring) write(p []int16) (dropped int) {
	c := len(q.buf)
	if len(p) > c {
		dropped = len(p) - c
		p = p[dropped:]
	}
	if over := q.n + len(p) - c; over > 0 {
		q.discard(over)
		dropped += over
	}
	w := q.r + q.n
	if w >= c {
		w -= c
	}
	k := copy(q.buf[w:], p)
	copy(q.buf, p[k:])
	q.n += len(p)
	return dropped
}

// read moves min(len(dst), q.len()) of the oldest samples into dst and
// returns how many.
func (q *ring) read(dst []int16) int {
	c := len(q.buf)
	n := min(len(dst), q.n)
	k := copy(dst[:n], q.buf[q.r:])
	copy(dst[k:n], q.buf)
	q.r += n
	if q.r >= c {
		q.r -= c
	}
	q.n -= n
	return n
}

// discard drops the k oldest samples (all of them if k exceeds the length).
func (q *ring) discard(k int) {
	k = min(k, q.n)
	q.r += k
	if q.r >= len(q.buf) {
		q.r -= len(q.buf)
	}
	q.n -= k
}
