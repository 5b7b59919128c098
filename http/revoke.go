package http

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/lobby-dev/lobby"
)

// errRevoked ends the streams, sockets and long polls of a credential that stopped
// working.
var errRevoked = errors.New("the credential was revoked")

// credentialRecheck is how often a stream's credential is authenticated again, for
// the ends that no event announces, such as a canceled subscription's last period
// running out. Revocations come at once, over the events.
const credentialRecheck = time.Minute

// watchCredential ends ctx with errRevoked once the credential p presented as token
// stops working: at once when the store announces it revoked, from whichever instance,
// and otherwise at the next recheck. It holds no goroutine while nothing happens.
// The returned function stops the watch.
func (s *Server) watchCredential(ctx context.Context, cancel context.CancelCauseFunc, p *lobby.Principal, token string) (stop func()) {
	if p == nil || p.Credential == "" || token == "" {
		return func() {}
	}
	w := &credentialWatch{}
	recheck := func() {
		if _, err := s.Auth.Authenticate(ctx, token); lobby.ErrorCode(err) == lobby.EUNAUTHORIZED {
			cancel(errRevoked)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer = time.AfterFunc(credentialRecheck, func() {
		recheck()
		w.mu.Lock()
		defer w.mu.Unlock()
		if !w.stopped {
			w.timer.Reset(credentialRecheck)
		}
	})
	w.feed = s.Events.Subscribe(ctx, lobby.CredentialTopic(p.Credential), func() {
		go func() { // the publisher's goroutine must not wait for the store
			w.mu.Lock()
			feed := w.feed
			w.mu.Unlock()
			if feed == nil {
				return
			}
			switch events, live := feed.Take(); {
			case len(events) > 0:
				cancel(errRevoked)
			case !live && ctx.Err() == nil: // dropped: the word may have been lost between instances
				recheck()
			}
		}()
	})
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.stopped = true
		w.timer.Stop()
		w.feed.Cancel()
	}
}

type credentialWatch struct {
	mu      sync.Mutex
	timer   *time.Timer
	feed    lobby.Feed
	stopped bool
}
