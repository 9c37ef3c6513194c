package pin

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	mrand "math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Role is what a PIN lets a caller be.
type Role int

// Roles, from no access to full control.
const (
	None Role = iota
	Guest
	Host
)

func (r Role) String() string {
	switch r {
	case None:
		return "none"
	case Guest:
		return "guest"
	case Host:
		return "host"
	}
	return "unknown"
}

// Rule is one room's PIN policy.
type Rule struct {
	Host  *Hashed // nil: no host PIN (nobody becomes host by PIN)
	Guest *Hashed // nil: no guest PIN
	// GuestsAllowed admits guests: with their PIN, or with '#' alone when
	// Guest is nil. When false a guest PIN admits nobody.
	GuestsAllowed bool
}

// EventKind names an audit event.
type EventKind string

// Audit event kinds.
const (
	EventPINFailure    EventKind = "pin_failure"
	EventRoomBlocked   EventKind = "room_blocked"
	EventSourceBlocked EventKind = "source_blocked"
)

// Event is one audit record. It never carries a PIN.
type Event struct {
	Kind   EventKind
	Room   string
	Source string
	Time   time.Time
}

// Config sets a Verifier's limits. Zero values take the defaults.
type Config struct {
	// RoomFailures wrong PINs for one room within Window block the room
	// (default 20).
	RoomFailures int
	// SourceFailures wrong PINs from one source within Window block the
	// source (default 20). IPv6 sources count per /64, the block an
	// attacker usually holds.
	SourceFailures int
	Window         time.Duration // default 10 min
	Block          time.Duration // how long a block lasts (default 10 min)
	// AllowList sources are never blocked per source; their failures
	// still count for the room.
	AllowList []netip.Prefix
	// MaxConcurrentHashes bounds argon2 computations at once (default 1),
	// so an attack cannot starve media and signaling of CPU and memory.
	MaxConcurrentHashes int
	// MaxWaiting bounds the checks queued for a hash slot (default 16 per
	// slot). Beyond it a check is refused without hashing, like a blocked
	// one: under a flood a caller gets a quick "wrong PIN" to retry rather
	// than a wait that grows without bound.
	MaxWaiting int
	// MaxTracked bounds each of the per-room and per-source tables
	// (default 10,000 entries each); the least recently used go first.
	MaxTracked int
	// Params are the cost parameters of the configured hashes (default
	// DefaultParams). An unknown room is checked against decoys with these
	// parameters, so set them to what the rooms' hashes use.
	Params Params
	// OnEvent receives audit events, synchronously and outside any lock;
	// it must not block for long.
	OnEvent func(Event)
	// Now is the clock for windows and blocks (default time.Now). The
	// timing padding always uses the real clock.
	Now func() time.Time
}

// Defaults for Config.
const (
	DefaultFailures   = 20
	DefaultWindow     = 10 * time.Minute
	DefaultBlock      = 10 * time.Minute
	DefaultMaxTracked = 10000
)

// Verifier checks keyed PINs against room rules and limits guessing. It
// starts no goroutines; it is safe for concurrent use.
type Verifier struct {
	cfg    Config
	now    func() time.Time
	epoch  time.Time
	sem    chan struct{}
	allow  []netip.Prefix
	derive func(pin, salt []byte, p Params, n uint32) []byte

	// decoySalt and decoyKey stand in for a missing hash: same work, and
	// never a match (the match is also masked, see Check).
	decoySalt []byte
	decoyKey  []byte

	// recentTotal holds recent durations of the hashed path (waiting for a
	// slot plus hashing), recentHash of the hashing alone. A refusal that
	// skips hashing sleeps one of them drawn at random, so its time follows
	// the same distribution, spread included, not just the same average.
	recentTotal durations
	recentHash  durations

	mu      sync.Mutex
	rooms   *table
	sources *table

	checks       [numResults]atomic.Uint64
	failures     atomic.Uint64
	roomBlocks   atomic.Uint64
	sourceBlocks atomic.Uint64
	hashes       atomic.Uint64
	hashNanos    atomic.Int64
	waiting      atomic.Int64
	hashing      atomic.Int64
}

// Result labels a Check outcome in Stats.
type Result int

// Check outcomes.
const (
	ResultHost    Result = iota
	ResultGuest          // by guest PIN or by '#' in an open-guest room
	ResultBad            // hashed and wrong (or malformed)
	ResultBlocked        // refused without hashing: room or source blocked or saturated
	numResults
)

var resultNames = [numResults]string{"host", "guest", "bad", "blocked"}

func (r Result) String() string {
	if r < 0 || r >= numResults {
		return "unknown"
	}
	return resultNames[r]
}

// NewVerifier makes a Verifier. It runs the decoy check twice (about 85 ms
// with DefaultParams) to learn how long a check takes, so the first
// refusals are padded right.
func NewVerifier(cfg Config) *Verifier {
	if cfg.RoomFailures <= 0 {
		cfg.RoomFailures = DefaultFailures
	}
	if cfg.SourceFailures <= 0 {
		cfg.SourceFailures = DefaultFailures
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Block <= 0 {
		cfg.Block = DefaultBlock
	}
	if cfg.MaxConcurrentHashes <= 0 {
		cfg.MaxConcurrentHashes = 1
	}
	if cfg.MaxTracked <= 0 {
		cfg.MaxTracked = DefaultMaxTracked
	}
	if cfg.MaxWaiting <= 0 {
		cfg.MaxWaiting = 16 * cfg.MaxConcurrentHashes
	}
	if !cfg.Params.valid() {
		cfg.Params = DefaultParams
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &Verifier{
		cfg:       cfg,
		now:       cfg.Now,
		sem:       make(chan struct{}, cfg.MaxConcurrentHashes),
		derive:    derive,
		decoySalt: make([]byte, saltLen),
		decoyKey:  make([]byte, keyLen),
		rooms:     newTable(cfg.RoomFailures, cfg.Window, cfg.Block, cfg.MaxTracked),
		sources:   newTable(cfg.SourceFailures, cfg.Window, cfg.Block, cfg.MaxTracked),
	}
	v.epoch = v.now()
	_, _ = rand.Read(v.decoySalt)
	_, _ = rand.Read(v.decoyKey)
	for _, p := range cfg.AllowList {
		v.allow = append(v.allow, p.Masked())
	}
	// The first run pays for fresh memory; time the second.
	v.evaluate(nil, "", false)
	start := time.Now()
	v.evaluate(nil, "", false)
	d := time.Since(start)
	v.hashes.Store(0) // count only checks
	v.recentTotal.initial.Store(int64(d))
	v.recentHash.initial.Store(int64(d))
	return v
}

// clock is the verifier's time as a duration since it was made, so the
// real clock's monotonic reading is kept.
func (v *Verifier) clock() time.Duration { return v.now().Sub(v.epoch) }

// Check verifies a keyed PIN (the digits as keyed, with or without the
// final '#'; '#' alone or nothing means "no PIN") for a room from a
// source. rule is nil for an unknown room.
//
// It returns Host or Guest, or exactly ErrBadPIN for a wrong or malformed
// PIN, an unknown room, and while the room or source is blocked, taking
// about the same time in each case: a real check always derives two
// hashes (host and guest, decoys standing in for missing ones), and a
// refusal without hashing sleeps as long as the hashed path has been
// taking. Only a ctx ending first gives another error (ctx.Err()).
//
// A wrong PIN counts one failure for the room and one for the source; a
// success does not clear them, so a known guest PIN cannot be
// interleaved to keep guessing the host PIN. '#' in a room that admits
// guests without a PIN gives Guest even while PIN entry is blocked, since
// it tests no secret.
func (v *Verifier) Check(ctx context.Context, room string, source netip.Addr, entered string, rule *Rule) (Role, error) {
	start := time.Now()
	pin, wellFormed := enteredPIN(entered)
	open := wellFormed && pin == "" && rule != nil && rule.GuestsAllowed && rule.Guest == nil

	rk := roomKey(room)
	sk, perSource := v.sourceKey(source)
	now := v.clock()
	v.mu.Lock()
	re := v.rooms.get(rk, now)
	var se *entry
	if perSource {
		se = v.sources.get(sk, now)
	}
	refused := v.rooms.saturated(re, now) || (se != nil && v.sources.saturated(se, now)) ||
		v.waiting.Load() >= int64(v.cfg.MaxWaiting)
	if !refused {
		re.inflight++
		if se != nil {
			se.inflight++
		}
	}
	v.mu.Unlock()
	if refused {
		return v.refuse(ctx, start, v.recentTotal.sample(), open)
	}
	done := func() {
		v.mu.Lock()
		re.inflight--
		if se != nil {
			se.inflight--
		}
		v.mu.Unlock()
	}

	v.waiting.Add(1)
	select {
	case v.sem <- struct{}{}:
		v.waiting.Add(-1)
	case <-ctx.Done():
		v.waiting.Add(-1)
		done()
		return None, ctx.Err()
	}
	// A block may have begun while we waited; honour it without hashing.
	now = v.clock()
	v.mu.Lock()
	refused = re.blocked(now) || (se != nil && se.blocked(now))
	v.mu.Unlock()
	if refused {
		<-v.sem
		done()
		return v.refuse(ctx, time.Now(), v.recentHash.sample(), open)
	}

	hashStart := time.Now()
	v.hashing.Add(1)
	role := v.evaluate(rule, pin, wellFormed)
	v.hashing.Add(-1)
	<-v.sem
	end := time.Now()
	v.hashNanos.Add(int64(end.Sub(hashStart)))
	v.recentHash.add(end.Sub(hashStart))
	v.recentTotal.add(end.Sub(start))

	if role == None && open {
		role = Guest
	}
	switch role {
	case Host:
		v.checks[ResultHost].Add(1)
		done()
		return Host, nil
	case Guest:
		v.checks[ResultGuest].Add(1)
		done()
		return Guest, nil
	}
	v.checks[ResultBad].Add(1)
	v.fail(room, rk, source, sk, re, se)
	return None, ErrBadPIN
}

// evaluate derives the host and the guest hash for pin (decoys for what
// the rule lacks) and only then decides, so the work never depends on the
// rule or the PIN.
func (v *Verifier) evaluate(rule *Rule, pin string, wellFormed bool) Role {
	hostH, hostReal := v.decoy(v.cfg.Params), false
	guestH, guestReal := hostH, false
	if rule != nil {
		if rule.Host != nil {
			hostH, hostReal = rule.Host, true
			// A missing guest hash costs what the host hash costs.
			guestH = v.decoy(rule.Host.params)
		}
		if rule.Guest != nil {
			guestH, guestReal = rule.Guest, true
		}
	}
	input := []byte(pin)
	if !wellFormed {
		input = []byte{0} // never a valid PIN; same work
	}
	hostOK := hostH.matches(input, v.derive)
	v.hashes.Add(1)
	guestOK := guestH.matches(input, v.derive)
	v.hashes.Add(1)
	// An empty or malformed entry never matches, whatever the hashes say.
	usable := wellFormed && pin != ""
	switch {
	case usable && hostReal && hostOK:
		return Host
	case usable && guestReal && guestOK && rule.GuestsAllowed:
		return Guest
	}
	return None
}

func (v *Verifier) decoy(p Params) *Hashed {
	return &Hashed{params: p, salt: v.decoySalt, key: v.decoyKey}
}

// refuse answers without hashing, padded to d after start so it takes as
// long as a check that hashed.
func (v *Verifier) refuse(ctx context.Context, start time.Time, d time.Duration, open bool) (Role, error) {
	v.checks[ResultBlocked].Add(1)
	if wait := d - time.Since(start); wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return None, ctx.Err()
		}
	}
	if open {
		return Guest, nil
	}
	return None, ErrBadPIN
}

// fail counts one failure for the room and the source, ends their
// in-flight reservations and reports what happened.
func (v *Verifier) fail(room, rk string, source netip.Addr, sk string, re, se *entry) {
	now := v.clock()
	var roomBlocked, sourceBlocked bool
	v.mu.Lock()
	re.inflight--
	if re.evicted {
		re = v.rooms.get(rk, now)
	}
	roomBlocked = v.rooms.fail(re, now)
	if se != nil {
		se.inflight--
		if se.evicted {
			se = v.sources.get(sk, now)
		}
		sourceBlocked = v.sources.fail(se, now)
	}
	v.mu.Unlock()

	v.failures.Add(1)
	if roomBlocked {
		v.roomBlocks.Add(1)
	}
	if sourceBlocked {
		v.sourceBlocks.Add(1)
	}
	if v.cfg.OnEvent == nil {
		return
	}
	src := ""
	if source.IsValid() {
		src = source.String()
	}
	at := v.now()
	v.cfg.OnEvent(Event{Kind: EventPINFailure, Room: room, Source: src, Time: at})
	if roomBlocked {
		v.cfg.OnEvent(Event{Kind: EventRoomBlocked, Room: room, Source: src, Time: at})
	}
	if sourceBlocked {
		v.cfg.OnEvent(Event{Kind: EventSourceBlocked, Room: room, Source: src, Time: at})
	}
}

// durations is a lock-free ring of recent durations, with a first
// estimate used until there is a real one.
type durations struct {
	ring    [32]atomic.Int64
	n       atomic.Uint64
	initial atomic.Int64
}

func (d *durations) add(x time.Duration) {
	i := d.n.Add(1) - 1
	d.ring[i%uint64(len(d.ring))].Store(int64(x))
}

func (d *durations) sample() time.Duration {
	n := d.n.Load()
	if n == 0 {
		return time.Duration(d.initial.Load())
	}
	// A slot being written may still read zero for an instant; that
	// only shortens one refusal's padding.
	return time.Duration(d.ring[mrand.IntN(int(min(n, uint64(len(d.ring)))))].Load())
}

// maxKey bounds the length of a stored room key; longer numbers are
// stored by digest so a flood of huge made-up numbers costs little memory.
const maxKey = 64

func roomKey(room string) string {
	if len(room) <= maxKey {
		return room
	}
	sum := sha256.Sum256([]byte(room))
	return "#" + hex.EncodeToString(sum[:16])
}

// sourceKey is the per-source table key: the IPv4 address, or the /64 of
// an IPv6 address. perSource is false for allow-listed sources.
func (v *Verifier) sourceKey(a netip.Addr) (key string, perSource bool) {
	a = a.Unmap()
	for _, p := range v.allow {
		if p.Contains(a) {
			return "", false
		}
	}
	if !a.IsValid() {
		return "invalid", true
	}
	if a.Is6() {
		p, _ := a.WithZone("").Prefix(64)
		return p.String(), true
	}
	return a.String(), true
}

// RoomBlocked reports whether PIN entry is blocked for a room.
func (v *Verifier) RoomBlocked(room string) bool {
	now := v.clock()
	v.mu.Lock()
	defer v.mu.Unlock()
	e := v.rooms.lookup(roomKey(room))
	return e != nil && e.blocked(now)
}

// SourceBlocked reports whether PIN entry is blocked for a source address.
// An allow-listed source is never blocked.
func (v *Verifier) SourceBlocked(source netip.Addr) bool {
	k, perSource := v.sourceKey(source)
	if !perSource {
		return false
	}
	now := v.clock()
	v.mu.Lock()
	defer v.mu.Unlock()
	e := v.sources.lookup(k)
	return e != nil && e.blocked(now)
}

// Stats is a snapshot of a Verifier's counters, for the metrics collector:
// vmrd_pin_checks_total{result}, vmrd_pin_failures_total,
// vmrd_pin_blocks_total{scope="room"|"source"}, vmrd_pin_blocked{scope},
// vmrd_pin_hash_seconds_total, vmrd_pin_hash_waiting.
type Stats struct {
	Checks         [numResults]uint64 // by Result
	Failures       uint64             // wrong PINs counted
	RoomBlocks     uint64             // blocks started
	SourceBlocks   uint64
	BlockedRooms   int // blocked now
	BlockedSources int
	Hashes         uint64        // argon2 derivations (two per hashed check)
	HashTime       time.Duration // wall time spent deriving, summed over checks
	Waiting        int64         // checks waiting for a hash slot now
	Hashing        int64         // checks deriving now
	TrackedRooms   int
	TrackedSources int
}

// Stats reads the counters. It scans the tables (at most 2 x MaxTracked
// entries), so call it at scrape time, not per call.
func (v *Verifier) Stats() Stats {
	var s Stats
	for r := range s.Checks {
		s.Checks[r] = v.checks[r].Load()
	}
	s.Failures = v.failures.Load()
	s.RoomBlocks = v.roomBlocks.Load()
	s.SourceBlocks = v.sourceBlocks.Load()
	s.Hashes = v.hashes.Load()
	s.HashTime = time.Duration(v.hashNanos.Load())
	s.Waiting = v.waiting.Load()
	s.Hashing = v.hashing.Load()
	now := v.clock()
	v.mu.Lock()
	s.BlockedRooms = v.rooms.countBlocked(now)
	s.BlockedSources = v.sources.countBlocked(now)
	s.TrackedRooms = len(v.rooms.entries)
	s.TrackedSources = len(v.sources.entries)
	v.mu.Unlock()
	return s
}
