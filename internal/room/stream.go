package room

// Streamer is a large room's stream to an audience (RTMP): a send-only leg
// that hears the meeting's mix and sees the audience view. Start and Stop
// must not block for long (connecting happens in the background).
type Streamer interface {
	Start() error
	Stop()
	Close() error
}

// StreamStatus is a stream's state as the API shows it.
type StreamStatus struct {
	// State is idle, connecting, live, retrying, stopped or failed.
	State string `json:"state"`
	// Error is the last error, free of the stream key; empty when none.
	Error string `json:"error,omitempty"`
}

// streamReport takes a state change from the streamer (any goroutine) to
// the actor, which publishes it.
func (r *Room) streamReport(s StreamStatus) {
	r.post(func(st *roomState) {
		if st == nil || st.stream == s {
			return
		}
		st.stream = s
		r.log.Info("stream state", "state", s.State, "error", s.Error)
		r.publishConference(st)
	})
}

// setStreaming starts or stops the room's stream (host only): the control
// API's start_stream and stop_stream, keypad *9, and auto_start (actor
// nil).
func (r *Room) setStreaming(st *roomState, actor *Participant, on bool) error {
	if r.streamer == nil {
		return ErrNoStream
	}
	if actor != nil {
		if err := r.hostAction(actor, map[bool]string{true: "stream_start", false: "stream_stop"}[on], ""); err != nil {
			return err
		}
	} else {
		r.audit(AuditEvent{Kind: "stream_start", Detail: "auto_start"})
	}
	if !on {
		r.streamer.Stop()
		r.log.Info("stream stopped")
		return nil
	}
	if err := r.streamer.Start(); err != nil {
		return err
	}
	r.log.Info("stream started")
	return nil
}

// StartStream starts the room's stream (host only).
func (p *Participant) StartStream() error {
	return p.act(func(st *roomState) error { return p.room.setStreaming(st, p, true) })
}

// StopStream stops the room's stream (host only).
func (p *Participant) StopStream() error {
	return p.act(func(st *roomState) error { return p.room.setStreaming(st, p, false) })
}
