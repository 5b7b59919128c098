package chat

import (
	"context"
	"sync"
	"time"

	"github.com/lobby-dev/lobby"
)

// Session follows several conversations for one connection and writes their events
// to one transport, with no goroutine of its own while they are idle: an event wakes
// a writer that drains every follow and ends. It suits a WebSocket, whose one
// goroutine reads the client's messages.
type Session struct {
	follower *Follower
	ctx      context.Context
	t        Transport
	p        SessionParams

	mu      sync.Mutex // guards the fields below
	follows []*Follow
	running bool // a writer is draining
	again   bool // woken while it drained
	ended   bool

	wmu       sync.Mutex // serialises writes to t
	heartbeat *time.Timer
}

// SessionParams says how a Session runs.
type SessionParams struct {
	// Heartbeat is how often Ping is called; 0 never.
	Heartbeat time.Duration
	// End is called once, when the session stops on its own: ErrDropped when a follow
	// fell too far behind, or the transport's error. It is not called after Close.
	End func(err error)
}

// NewSession starts a session that lasts until ctx ends or Close is called.
func (f *Follower) NewSession(ctx context.Context, t Transport, p SessionParams) *Session {
	s := &Session{follower: f, ctx: ctx, t: t, p: p}
	if p.Heartbeat > 0 {
		s.heartbeat = time.AfterFunc(p.Heartbeat, s.ping)
	}
	return s
}

// Follow follows a conversation from now on. ack, written first, tells the client so:
// no event of the conversation goes out before it.
func (s *Session) Follow(conversationID string, ack lobby.Event) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	fl, err := s.follower.Follow(s.ctx, FollowParams{ConversationID: conversationID, Wake: s.wake})
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		fl.Close()
		return context.Canceled
	}
	s.follows = append(s.follows, fl)
	s.mu.Unlock()
	return s.t.Write(ack)
}

// Write writes an event of the session's own, such as an error, between the follows'.
func (s *Session) Write(e lobby.Event) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.t.Write(e)
}

// Close ends every follow of the session.
func (s *Session) Close() {
	s.mu.Lock()
	s.ended = true
	follows := s.follows
	s.follows = nil
	s.mu.Unlock()
	if s.heartbeat != nil {
		s.heartbeat.Stop()
	}
	for _, fl := range follows {
		fl.Close()
	}
}

// wake starts a writer unless one is draining, which then goes round once more.
func (s *Session) wake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	if s.running {
		s.again = true
		return
	}
	s.running = true
	go s.drain()
}

// drain writes what every follow has ready, until none has more.
func (s *Session) drain() {
	for {
		// Follow holds wmu from subscribing to listing the follow: taken first, it
		// makes the list below hold every follow that could have woken us.
		s.wmu.Lock()
		s.mu.Lock()
		follows := s.follows
		s.again = false
		s.mu.Unlock()
		err := s.flush(follows)
		s.wmu.Unlock()
		if err != nil {
			s.stop(err)
			return
		}
		s.mu.Lock()
		if !s.again || s.ended {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
}

func (s *Session) flush(follows []*Follow) error {
	for _, fl := range follows {
		for {
			e, ok, err := fl.TryNext()
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if err := s.t.Write(e); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *Session) ping() {
	if err := s.t.Ping(); err != nil {
		s.stop(err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended {
		s.heartbeat.Reset(s.p.Heartbeat)
	}
}

// stop ends the session on its own and tells p.End why, unless it was closed.
func (s *Session) stop(err error) {
	s.mu.Lock()
	ended := s.ended
	s.mu.Unlock()
	if ended || s.ctx.Err() != nil {
		return
	}
	s.Close()
	if s.p.End != nil {
		s.p.End(err)
	}
}
