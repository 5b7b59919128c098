package http

import (
	"cmp"
	"net/http"
	"sync"

	"github.com/lobby-dev/lobby"
)

// DefaultStreamLimit is how many streams, WebSockets and long polls one credential may
// hold open at once, from the contract.
const DefaultStreamLimit = 20

// openStreams counts each credential's open streams, sockets and long polls, on this
// instance.
type openStreams struct {
	mu   sync.Mutex
	open map[string]int
}

// holdStream counts a stream, socket or long poll against the request's credential
// until release is called, and refuses one over the limit with ERATELIMITED.
func (s *Server) holdStream(r *http.Request) (release func(), err error) {
	p := caller(r)
	key := p.Kind + ":" + cmp.Or(p.SessionID, p.SubscriptionID, p.ConsultantID)
	limit := cmp.Or(s.StreamLimit, DefaultStreamLimit)
	st := &s.streams
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.open == nil {
		st.open = map[string]int{}
	}
	if st.open[key] >= limit {
		return nil, lobby.Errorf(lobby.ERATELIMITED, "this credential already holds %d streams, sockets and long polls open, the most at once; close one first", limit)
	}
	st.open[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			st.mu.Lock()
			defer st.mu.Unlock()
			if st.open[key]--; st.open[key] <= 0 {
				delete(st.open, key)
			}
		})
	}, nil
}
