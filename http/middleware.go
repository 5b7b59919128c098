package http

import (
	"cmp"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/http/request"
	"github.com/lobby-dev/lobby/http/response"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// contentSecurityPolicy is sent with every response: pages load nothing from
// elsewhere and run no inline script or style, and connect to this server only, its
// WebSocket named as the origin of base with ws or wss (browsers differ on whether
// 'self' covers it).
func contentSecurityPolicy(base string) string {
	connect := "'self'"
	if u, err := url.Parse(base); err == nil && u.Host != "" {
		ws := "ws"
		if u.Scheme == "https" {
			ws = "wss"
		}
		connect += " " + ws + "://" + u.Host
	}
	return "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src " + connect + "; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush lets streaming handlers flush through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lobby_http_requests_total", Help: "HTTP requests by route and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "lobby_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"method", "route"}),
	}
	reg.MustRegister(m.requests, m.duration, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// middleware wraps every request: request ID, security headers, recovery from panics,
// a JSON answer where the mux has no route for a method, metrics and one log line.
func (s *Server) middleware(next http.Handler) http.Handler {
	m := newMetrics(s.Registry)
	csp := contentSecurityPolicy(s.BaseURL)
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			b := make([]byte, 12)
			rand.Read(b)
			id = hex.EncodeToString(b)
		}
		r = request.WithClientIP(r.WithContext(request.WithID(r.Context(), id)), s.TrustedProxies)
		h := rw.Header()
		h.Set("X-Request-Id", id)
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		if strings.HasPrefix(s.BaseURL, "https://") {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		w := &statusWriter{ResponseWriter: rw}
		limitBodyTime(w, r, cmp.Or(s.BodyTimeout, DefaultBodyTimeout))

		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.ErrorContext(r.Context(), "panic", "request_id", id, "method", r.Method, "path", r.URL.Path,
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if w.status == 0 {
					response.ErrorJSON(w, http.StatusInternalServerError, lobby.EINTERNAL, lobby.ErrorMessage(fmt.Errorf("panic")))
				}
			}
			route := r.Pattern
			if route == "" {
				route = "unmatched"
			}
			elapsed := time.Since(start)
			m.requests.WithLabelValues(r.Method, route, strconv.Itoa(w.status)).Inc()
			m.duration.WithLabelValues(r.Method, route).Observe(elapsed.Seconds())
			s.Logger.InfoContext(r.Context(), "request", "method", r.Method, "path", r.URL.Path, "status", w.status,
				"duration_ms", float64(elapsed.Microseconds())/1000, "request_id", id)
		}()

		next.ServeHTTP(w, r)
		if w.status == 0 {
			w.status = http.StatusOK
		}
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// DefaultBodyTimeout is how long a request's body may take to arrive, from the contract.
const DefaultBodyTimeout = 30 * time.Second

// limitBodyTime gives a request with a body d to send all of it: the connection's read
// deadline, cleared as soon as the body has been read, so that the streams and long
// polls that follow are not cut. A request without a body is left alone; a WebSocket's
// handshake has none.
func limitBodyTime(w http.ResponseWriter, r *http.Request, d time.Duration) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(d)) != nil {
		return // a connection without deadlines, such as a test recorder's
	}
	r.Body = &timedBody{ReadCloser: r.Body, clear: func() { rc.SetReadDeadline(time.Time{}) }, d: d}
}

// timedBody clears the read deadline once the body ends, and says, when the deadline
// cut it short, how long a body may take.
type timedBody struct {
	io.ReadCloser
	clear func()
	d     time.Duration
	done  bool // the body has ended, and the deadline is cleared
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case errors.Is(err, io.EOF) && !b.done:
		b.done = true
		b.clear()
	case errors.Is(err, os.ErrDeadlineExceeded):
		// The deadline stays: the server's own drain of the rest then ends at once, and
		// the connection closes after the answer.
		return n, lobby.Errorf(lobby.EINVALID, "the request body did not arrive within %s; send it at once", b.d)
	}
	return n, err
}
