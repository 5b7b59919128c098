package http

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/http/request"
)

// rateLimiter allows limit requests per window to each key (a client address, a
// consultant), in fixed windows that start with a key's first request. Idle keys are
// forgotten as windows end, so memory stays bounded by the keys of one window. It counts
// on this instance only.
type rateLimiter struct {
	limit  int
	window time.Duration
	now    func() time.Time
	scope  string // what is counted, for the refusal: "requests a minute from your address"

	mu      sync.Mutex
	clients map[string]*window
	swept   time.Time
}

type window struct {
	start time.Time
	count int
}

func newRateLimiter(limit int, w time.Duration, now func() time.Time, scope string) *rateLimiter {
	return &rateLimiter{limit: limit, window: w, now: now, scope: scope, clients: map[string]*window{}}
}

// take counts one request from key and reports whether it is allowed, how many remain
// and when the window resets.
func (l *rateLimiter) take(key string) (ok bool, remaining int, reset time.Duration) {
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
	w := l.clients[key]
	if w == nil || now.Sub(w.start) >= l.window {
		w = &window{start: now}
		l.clients[key] = w
	}
	reset = w.start.Add(l.window).Sub(now)
	if w.count >= l.limit {
		return false, 0, reset
	}
	w.count++
	return true, l.limit - w.count, reset
}

// refusal is ERATELIMITED saying what was counted and when to retry.
func (l *rateLimiter) refusal(reset time.Duration) error {
	secs := int((reset + time.Second - 1) / time.Second)
	e := lobby.Errorf(lobby.ERATELIMITED, "more than %d %s; retry in %d seconds", l.limit, l.scope, secs)
	e.RetryAfter = reset
	return e
}

// guard counts each call of h against the key of its request, with the RateLimit-*
// headers, and refuses calls over the limit. A limit of 0 lets every call through.
func (l *rateLimiter) guard(key func(*http.Request) string, h handler) handler {
	if l.limit <= 0 {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		ok, remaining, reset := l.take(key(r))
		hd := w.Header()
		hd.Set("RateLimit-Limit", strconv.Itoa(l.limit))
		hd.Set("RateLimit-Remaining", strconv.Itoa(remaining))
		hd.Set("RateLimit-Reset", strconv.Itoa(int((reset+time.Second-1)/time.Second)))
		if !ok {
			return l.refusal(reset)
		}
		return h(w, r)
	}
}

// perCaller limits h per client address for anonymous callers and per credential for
// callers that present a working one, so that agents behind one address do not share
// the anonymous allowance.
func perCaller(anonymous, token *rateLimiter, h handler) handler {
	byAddress := anonymous.guard(request.ClientIP, h)
	byToken := token.guard(func(r *http.Request) string { return caller(r).Credential }, h)
	return func(w http.ResponseWriter, r *http.Request) error {
		if caller(r) != nil {
			return byToken(w, r)
		}
		return byAddress(w, r)
	}
}
