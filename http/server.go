// Package http serves Lobby's JSON API, with its middleware and its one error renderer,
// over the domain services. Pages for browsers come from the web package, mounted here.
package http

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/prometheus/client_golang/prometheus"
)

// Mailbox is the console mailer's dev mailbox, served at /dev/mailbox.
type Mailbox interface {
	ServeMailboxJSON(w http.ResponseWriter, r *http.Request)
	ServeMailboxHTML(w http.ResponseWriter, r *http.Request)
}

// Server is Lobby's HTTP server: the API and, through Pages, the web pages.
type Server struct {
	Auth          lobby.AuthService
	Consultants   lobby.ConsultantService
	Subscriptions lobby.SubscriptionService
	Chat          lobby.ChatService
	Deliveries    lobby.DeliveryService
	Inbox         Inbox
	Consult       Consulter
	Events        lobby.EventService
	Payments      lobby.Payments
	Mailer        lobby.Mailer
	Mailbox       Mailbox // nil unless the console mailer runs
	Pages         http.Handler
	// Ready reports whether the database answers and is migrated.
	Ready  func(ctx context.Context) error
	Logger *slog.Logger
	// Dev allows plain-http loopback webhooks and marks the server as development.
	Dev bool
	// BaseURL is the public URL, for links.
	BaseURL string
	// PublicRateLimit is requests a minute per client IP on public routes; 0 is off.
	PublicRateLimit int
	// ReplyRateLimit is replies a minute per consultant through /api/v1/reply, a
	// guard against an agent flooding its buyers; 0 means DefaultReplyRateLimit.
	ReplyRateLimit int
	// Registry collects the metrics served at /metrics.
	Registry *prometheus.Registry
	Now      func() time.Time

	mux      *http.ServeMux
	replies  *rateLimiter
	shutdown context.Context // ended by Close; see followContext
	close    context.CancelFunc
}

// Close ends the streams, WebSockets and long polls in flight, so that a graceful
// shutdown need not wait for them; register it with http.Server.RegisterOnShutdown.
func (s *Server) Close() {
	if s.close != nil {
		s.close()
	}
}

// route is one line of the route table.
type route struct {
	pattern string // "METHOD /path", as http.ServeMux takes it
	public  bool   // rate limited per client IP
	handler func(w http.ResponseWriter, r *http.Request) error
}

func (s *Server) routes() []route {
	rs := []route{
		{"GET /healthz", false, s.handleHealth},
		{"GET /readyz", false, s.handleReady},
		{"GET /api/openapi.json", false, s.handleOpenAPI},

		{"POST /api/v1/auth/code", true, s.handleAuthCode},
		{"POST /api/v1/auth/verify", true, s.handleAuthVerify},
		{"POST /api/v1/auth/logout", false, s.handleAuthLogout},
		{"GET /api/v1/me", false, s.handleMe},

		{"POST /api/v1/consultants", false, s.handleConsultantCreate},
		{"GET /api/v1/consultants", true, s.handleConsultantList},
		{"GET /api/v1/consultants/{slug}", true, s.handleConsultantGet},
		{"PATCH /api/v1/consultants/{slug}", false, s.handleConsultantUpdate},
		{"GET /api/v1/consultants/{slug}/private", false, s.handleConsultantPrivate},

		{"POST /api/v1/consultants/{slug}/subscribe", false, s.handleSubscribe},
		{"GET /api/v1/checkout/{id}", false, s.handleCheckoutGet},
		{"GET /api/v1/subscriptions", false, s.handleSubscriptionList},
		{"POST /api/v1/subscriptions/{id}/token", false, s.handleSubscriptionToken},
		{"DELETE /api/v1/subscriptions/{id}", false, s.handleSubscriptionCancel},

		{"POST /api/v1/chat", false, s.handleChat},
		{"POST /api/chat", false, s.handleChat},
		{"GET /api/v1/conversations", false, s.handleConversationList},
		{"GET /api/v1/conversations/{id}/messages", false, s.handleMessageList},
		{"GET /api/v1/conversations/{id}/events", false, s.handleConversationEvents},
		{"GET /api/v1/realtime", false, s.handleRealtime},

		{"POST /api/v1/reply", false, s.handleReply},
		{"GET /api/v1/inbox", false, s.handleInbox},
		{"POST /api/v1/inbox/{event_id}/ack", false, s.handleInboxAck},
		{"GET /api/v1/consultants/{slug}/deliveries", false, s.handleDeliveryList},
		{"GET /api/v1/consultants/{slug}/deliveries/{id}", false, s.handleDeliveryGet},
		{"POST /api/v1/consultants/{slug}/deliveries/{id}/retry", false, s.handleDeliveryRetry},
		{"GET /api/v1/consultants/{slug}/webhook", false, s.handleWebhookGet},
		{"POST /api/v1/consultants/{slug}/webhook/secret", false, s.handleWebhookSecretRotate},
	}
	if s.Payments != nil && s.Payments.Name() == "local" {
		rs = append(rs, route{"POST /api/v1/checkout/{id}/complete", false, s.handleCheckoutComplete})
	}
	if s.Mailbox != nil {
		rs = append(rs,
			route{"GET /dev/mailbox", false, wrap(s.Mailbox.ServeMailboxHTML)},
			route{"GET /dev/mailbox.json", false, wrap(s.Mailbox.ServeMailboxJSON)},
		)
	}
	return rs
}

// Patterns returns the "METHOD /path" of every API route, /metrics included.
func (s *Server) Patterns() []string {
	ps := []string{"GET /metrics"}
	for _, rt := range s.routes() {
		ps = append(ps, rt.pattern)
	}
	return ps
}

func wrap(h http.HandlerFunc) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error { h(w, r); return nil }
}

// Handler returns the server's whole HTTP handler, middleware included.
func (s *Server) Handler() http.Handler {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Registry == nil {
		s.Registry = prometheus.NewRegistry()
	}
	limiter := newRateLimiter(s.PublicRateLimit, time.Minute, s.Now)
	s.replies = newRateLimiter(cmp.Or(s.ReplyRateLimit, DefaultReplyRateLimit), time.Minute, s.Now)
	mux := http.NewServeMux()
	s.mux = mux
	s.shutdown, s.close = context.WithCancel(context.Background())
	for _, rt := range s.routes() {
		h := s.errorHandler(rt.handler)
		if rt.public {
			h = limiter.middleware(h, s)
		}
		mux.Handle(rt.pattern, h)
	}
	mux.Handle("GET /metrics", metricsHandler(s.Registry))
	mux.Handle("/api/", s.errorHandler(s.handleUnknownAPI))
	if s.Pages != nil {
		mux.Handle("/", s.Pages)
	}
	return s.middleware(mux)
}

// errorHandler turns an error-returning handler into an http.Handler that renders the
// error in the contract's shape.
func (s *Server) errorHandler(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.Error(w, r, err)
		}
	})
}

// handleUnknownAPI answers API paths no route takes: 405 with Allow where the path
// exists for other methods, 404 otherwise, both in the contract's shape.
func (s *Server) handleUnknownAPI(w http.ResponseWriter, r *http.Request) error {
	var allow []string
	for _, m := range []string{"GET", "POST", "PATCH", "PUT", "DELETE"} {
		probe := &http.Request{Method: m, URL: r.URL, Host: r.Host}
		if _, pattern := s.mux.Handler(probe); pattern != "/api/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, lobby.EINVALID,
			fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allow, " or ")))
		return nil
	}
	return lobby.Errorf(lobby.ENOTFOUND, "no API route %s %s; see GET /api/openapi.json for the routes there are", r.Method, r.URL.Path)
}
