package stream

// State is where a Publisher is in its life.
//
//	idle -> connecting -> live <-> retrying -> stopped
//	                        \_________________-> failed
type State int32

// Publisher states.
const (
	StateIdle       State = iota // built, not started
	StateConnecting              // first connection attempt
	StateLive                    // publishing: frames are sent
	StateRetrying                // lost or never had a connection; backing off and retrying
	StateStopped                 // Stop was called
	StateFailed                  // gave up (bad URL, MaxRetries reached)
)

func (s State) String() string {
	switch s {
	case StateIdle:
		return "idle"
	case StateConnecting:
		return "connecting"
	case StateLive:
		return "live"
	case StateRetrying:
		return "retrying"
	case StateStopped:
		return "stopped"
	case StateFailed:
		return "failed"
	}
	return "unknown"
}
