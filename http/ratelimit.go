package http

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/http/request"
)

// rateLimiter allows limit requests per window to each client IP, in fixed windows that
// start with a client's first request. Idle clients are forgotten as windows end, so
// memory stays bounded by the clients of one window.
type rateLimiter struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	clients map[string]*window
	swept   time.Time
}

type window struct {
	start time.Time
	count int
}

func newRateLimiter(limit int, w time.Duration, now func() time.Time) *rateLimiter {
	return &rateLimiter{limit: limit, window: w, now: now, clients: map[string]*window{}}
}

// take counts one request from ip and reports whether it is allowed, how many remain
// and when the window resets.
func (l *rateLimiter) take(ip string) (ok bool, remaining int, reset time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) >= l.window {
		for k, w := range l.clients {
			if now.Sub(w.start) >= l.window {
				delete(l.clients, k)
			}
		}
		l.swept = now
	}
	w := l.clients[ip]
	if w == nil || now.Sub(w.start) >= l.window {
		w = &window{start: now}
		l.clients[ip] = w
	}
	reset = w.start.Add(l.window).Sub(now)
	if w.count >= l.limit {
		return false, 0, reset
	}
	w.count++
	return true, l.limit - w.count, reset
}

func (l *rateLimiter) middleware(next http.Handler, s *Server) http.Handler {
	if l.limit <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok, remaining, reset := l.take(request.ClientIP(r))
		secs := strconv.Itoa(int((reset + time.Second - 1) / time.Second))
		h := w.Header()
		h.Set("RateLimit-Limit", strconv.Itoa(l.limit))
		h.Set("RateLimit-Remaining", strconv.Itoa(remaining))
		h.Set("RateLimit-Reset", secs)
		if !ok {
			h.Set("Retry-After", secs)
			s.Error(w, r, lobby.Errorf(lobby.ERATELIMITED,
				"more than %d requests a minute from your address on public routes; retry in %s seconds", l.limit, secs))
			return
		}
		next.ServeHTTP(w, r)
	})
}
