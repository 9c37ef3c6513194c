package pin

import "time"

// table counts PIN failures per key (a room number or a source) in a
// sliding window and remembers blocks. It holds at most max entries,
// dropping the least recently used, so a flood of spoofed sources or made-up
// room numbers cannot grow it without bound. The Verifier's mutex guards it.
type table struct {
	limit   int           // failures within window that block
	window  time.Duration // sliding window
	block   time.Duration // how long a block lasts
	max     int
	entries map[string]*entry
	// head is the most recently used entry, tail the least; a doubly
	// linked list threaded through the entries, so use costs no allocation.
	head, tail *entry
}

type entry struct {
	key string
	// fails holds the times of the most recent failures, oldest at
	// fails[next] once full; len(fails) <= limit.
	fails    []time.Duration
	next     int
	until    time.Duration // blocked while now < until
	inflight int           // checks admitted and not yet decided
	evicted  bool

	prev, nextUse *entry
}

// evictScan is how many of the least recently used entries eviction looks
// through for one that is neither blocked nor in use before it gives up and
// drops the oldest anyway; it keeps eviction O(1) while making it hard to
// flush a block out of the table.
const evictScan = 16

func newTable(limit int, window, block time.Duration, max int) *table {
	return &table{limit: limit, window: window, block: block, max: max, entries: make(map[string]*entry)}
}

// get finds or makes the entry for key and marks it most recently used.
func (t *table) get(key string, now time.Duration) *entry {
	if e, ok := t.entries[key]; ok {
		t.unlink(e)
		t.pushFront(e)
		return e
	}
	if len(t.entries) >= t.max {
		t.evict(now)
	}
	e := &entry{key: key} // fails grows to at most limit, by failures only
	t.entries[key] = e
	t.pushFront(e)
	return e
}

// lookup finds an entry without touching its recency.
func (t *table) lookup(key string) *entry { return t.entries[key] }

func (t *table) evict(now time.Duration) {
	victim := t.tail
	for e, i := t.tail, 0; e != nil && i < evictScan; e, i = e.prev, i+1 {
		if !e.blocked(now) && e.inflight == 0 {
			victim = e
			break
		}
	}
	if victim == nil {
		return
	}
	t.unlink(victim)
	delete(t.entries, victim.key)
	victim.evicted = true
}

func (t *table) pushFront(e *entry) {
	e.prev, e.nextUse = nil, t.head
	if t.head != nil {
		t.head.prev = e
	}
	t.head = e
	if t.tail == nil {
		t.tail = e
	}
}

func (t *table) unlink(e *entry) {
	if e.prev != nil {
		e.prev.nextUse = e.nextUse
	} else {
		t.head = e.nextUse
	}
	if e.nextUse != nil {
		e.nextUse.prev = e.prev
	} else {
		t.tail = e.prev
	}
	e.prev, e.nextUse = nil, nil
}

func (e *entry) blocked(now time.Duration) bool { return now < e.until }

// recent counts failures within the window ending at now.
func (e *entry) recent(now, window time.Duration) int {
	n := 0
	for _, at := range e.fails {
		if now-at < window {
			n++
		}
	}
	return n
}

// saturated reports whether admitting one more check could exceed the
// limit: failures in the window plus checks still running. Counting the
// running ones keeps a burst of concurrent guesses from all being hashed
// before the first of them is counted.
func (t *table) saturated(e *entry, now time.Duration) bool {
	return e.blocked(now) || e.recent(now, t.window)+e.inflight >= t.limit
}

// fail records a failure at now and reports whether it started a block.
// A block clears the window, so after it ends the key starts afresh.
func (t *table) fail(e *entry, now time.Duration) bool {
	if len(e.fails) < t.limit {
		e.fails = append(e.fails, now)
	} else {
		e.fails[e.next] = now
		e.next = (e.next + 1) % t.limit
	}
	if e.blocked(now) || e.recent(now, t.window) < t.limit {
		return false
	}
	e.until = now + t.block
	e.fails = e.fails[:0]
	e.next = 0
	return true
}

// countBlocked counts entries blocked at now.
func (t *table) countBlocked(now time.Duration) int {
	n := 0
	for _, e := range t.entries {
		if e.blocked(now) {
			n++
		}
	}
	return n
}
