package api

// MediaSession is a token's session as a media leg that joins by token
// (a browser's WebRTC leg) sees it.
type MediaSession struct {
	// Actor is the token's participant.
	Actor Actor
	// Done is closed when the session ends: the token was released or
	// expired, the participant left, or the API closed.
	Done <-chan struct{}
	// End ends the session, and the participant leaves the room.
	End func(reason string)
}

// MediaSession finds the live session of token in room number, for the
// media endpoint: the same check as the verbs' token header. A token of
// another room is as invalid as an unknown one. The token is never logged.
func (a *ClientAPI) MediaSession(number, token string) (MediaSession, error) {
	s, _, expired := a.tokens.lookup(token, a.now())
	if expired {
		a.leave([]*session{s})
		return MediaSession{}, ErrInvalidToken
	}
	if s == nil || string(s.number) != number {
		return MediaSession{}, ErrInvalidToken
	}
	return MediaSession{Actor: s.actor, Done: s.done, End: func(reason string) {
		if a.tokens.end(s, reason) {
			a.leave([]*session{s})
			return
		}
		s.actor.Leave(reason) // ended already (participant gone); Leave is idempotent
	}}, nil
}
