// Package http serves Lobby's JSON API, with its middleware and its one error renderer,
// over the domain services. Pages for browsers come from the web package, mounted here.
package http

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/http/request"
	"github.com/lobby-dev/lobby/http/response"
	"github.com/prometheus/client_golang/prometheus"
)

// Mailbox is the console mailer's dev mailbox, served at /dev/mailbox.
type Mailbox interface {
	ServeMailboxJSON(w http.ResponseWriter, r *http.Request)
	ServeMailboxHTML(w http.ResponseWriter, r *http.Request)
}

// Pages are the web pages, mounted beside the API; Fail renders an error as a page, for
// the page routes the route table guards.
type Pages interface {
	http.Handler
	Fail(w http.ResponseWriter, r *http.Request, err error)
}

// Server is Lobby's HTTP server: the API and, through Pages, the web pages.
type Server struct {
	Auth          lobby.AuthService
	Consultants   lobby.ConsultantService
	Subscriptions lobby.SubscriptionService
	Chat          lobby.ChatService
	Deliveries    lobby.DeliveryService
	Knowledge     lobby.KnowledgeService
	Retriever     lobby.Retriever
	Inbox         Inbox
	Consult       Consulter
	Events        lobby.EventService
	Payments      lobby.Payments
	PaymentEvents lobby.PaymentEventService
	PaymentRefs   lobby.PaymentRefService
	Earnings      lobby.EarningsService
	Activity      lobby.ActivityService
	Credits       lobby.CreditService
	Mailer        lobby.Mailer
	Mailbox       Mailbox // nil unless the console mailer runs
	Pages         Pages
	// Ready reports whether the database answers and is migrated.
	Ready  func(ctx context.Context) error
	Logger *slog.Logger
	// Dev allows plain-http loopback webhooks and marks the server as development.
	Dev bool
	// BaseURL is the public URL, for links.
	BaseURL string
	// PublicRateLimit is requests a minute per client IP on public routes; 0 is off.
	PublicRateLimit int
	// BodyTimeout is how long a request's body may take to arrive; 0 means
	// DefaultBodyTimeout.
	BodyTimeout time.Duration
	// TokenRateLimit is requests a minute per credential on public routes, for callers
	// that present a working one; 0 is off.
	TokenRateLimit int
	// TrustedProxies are the proxies whose X-Forwarded-For or Forwarded names the
	// client; every other socket is the client itself.
	TrustedProxies []netip.Prefix
	// CodeRateLimit is sign-in codes an hour one client IP may ask for, to any emails,
	// by the API or the sign-in form; 0 is off.
	CodeRateLimit int
	// ReplyRateLimit is replies a minute per consultant through /api/v1/reply, a
	// guard against an agent flooding its buyers; 0 means DefaultReplyRateLimit.
	ReplyRateLimit int
	// StreamLimit is how many streams, sockets and long polls one credential may hold
	// open at once on this instance; 0 means DefaultStreamLimit.
	StreamLimit int
	// MetricsToken, when set, lets a client that is not on this machine read /metrics
	// with it as its bearer token. MetricsElsewhere leaves /metrics out of the routes,
	// for MetricsHandler on a listener of its own.
	MetricsToken     string
	MetricsElsewhere bool
	// Registry collects the metrics served at /metrics.
	Registry *prometheus.Registry
	Now      func() time.Time

	mux      *http.ServeMux
	replies  *rateLimiter
	streams  openStreams
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

// handler is an error-returning handler: the error is rendered by the one renderer.
type handler func(w http.ResponseWriter, r *http.Request) error

// route is one line of the route table: who may call it, and what answers.
type route struct {
	pattern string // "METHOD /path", as http.ServeMux takes it
	policy  policy
	handler handler
}

func (s *Server) routes() []route {
	rs := []route{
		{"GET /healthz", open, s.handleHealth},
		{"GET /readyz", open, s.handleReady},
		{"GET /api/openapi.json", open, s.handleOpenAPI},
		{"GET /metrics", open, s.handleMetrics},

		{"POST /api/v1/auth/code", signIn, s.handleAuthCode},
		{"POST /api/v1/auth/verify", public, s.handleAuthVerify},
		{"POST /api/v1/auth/logout", user, s.handleAuthLogout},
		{"GET /api/v1/me", user, s.handleMe},

		{"POST /api/v1/consultants", user, s.handleConsultantCreate},
		{"GET /api/v1/consultants", public, s.handleConsultantList},
		{"GET /api/v1/consultants/{slug}", public, s.handleConsultantGet},
		{"PATCH /api/v1/consultants/{slug}", owner, s.handleConsultantUpdate},
		{"GET /api/v1/consultants/{slug}/private", owner, s.handleConsultantPrivate},
		{"DELETE /api/v1/consultants/{slug}", ownerOnly, s.handleConsultantArchive},
		{"POST /api/v1/consultants/{slug}/key", ownerOnly, s.handleKeyRotate},
		{"GET /api/v1/consultants/{slug}/keys", ownerOnly, s.handleKeyList},

		{"POST /api/v1/consultants/{slug}/knowledge", owner, s.handleDocumentCreate},
		{"GET /api/v1/consultants/{slug}/knowledge", owner, s.handleDocumentList},
		{"GET /api/v1/consultants/{slug}/knowledge/{id}", owner, s.handleDocumentGet},
		{"DELETE /api/v1/consultants/{slug}/knowledge/{id}", owner, s.handleDocumentDelete},
		{"POST /api/v1/consultants/{slug}/knowledge/search", owner, s.handleKnowledgeSearch},

		{"GET /api/v1/consultants/{slug}/earnings", ownerOnly, s.handleEarnings},
		{"GET /api/v1/consultants/{slug}/activity", ownerOnly, s.handleActivity},

		{"POST /api/v1/consultants/{slug}/subscribe", user, s.handleSubscribe},
		{"GET /api/v1/checkout/{id}", user, s.handleCheckoutGet},
		{"GET /api/v1/subscriptions", user, s.handleSubscriptionList},
		{"POST /api/v1/subscriptions/{id}/token", user, s.handleSubscriptionToken},
		{"DELETE /api/v1/subscriptions/{id}", user, s.handleSubscriptionCancel},
		{"POST /api/v1/subscriptions/{id}/resume", user, s.handleSubscriptionCancel},
		{"POST /api/v1/subscriptions/{id}/plan", user, s.handleSubscriptionPlan},

		{"POST /api/v1/chat", buyer, s.handleChat},
		{"GET /api/v1/usage", buyer, s.handleUsage},
		{"GET /api/v1/credits", user, s.handleCredits},
		{"POST /api/v1/credits/checkout", user, s.handleCreditsCheckout},
		{"POST /api/chat", buyer, s.handleChat},
		{"GET /api/v1/conversations", reader, s.handleConversationList},
		{"POST /api/v1/conversations", buyer, s.handleConversationCreate},
		{"GET /api/v1/conversations/{id}", conversation, s.handleConversationGet},
		{"DELETE /api/v1/conversations/{id}", conversationBuyer, s.handleConversationDelete},
		{"GET /api/v1/conversations/{id}/export", conversationBuyer, s.handleConversationExport},
		{"GET /api/v1/conversations/{id}/messages", conversation, s.handleMessageList},
		{"GET /api/v1/conversations/{id}/events", conversation, s.handleConversationEvents},
		{"GET /api/v1/realtime", reader, s.handleRealtime},

		{"POST /api/v1/reply", consultantKey, s.handleReply},
		{"GET /api/v1/inbox", consultantKey, s.handleInbox},
		{"POST /api/v1/inbox/{event_id}/ack", consultantKey, s.handleInboxAck},
		{"GET /api/v1/consultants/{slug}/deliveries", owner, s.handleDeliveryList},
		{"GET /api/v1/consultants/{slug}/deliveries/{id}", owner, s.handleDeliveryGet},
		{"POST /api/v1/consultants/{slug}/deliveries/{id}/retry", owner, s.handleDeliveryRetry},
		{"GET /api/v1/consultants/{slug}/webhook", owner, s.handleWebhookGet},
		{"POST /api/v1/consultants/{slug}/webhook/secret", owner, s.handleWebhookSecretRotate},
	}
	if confirmer, ok := s.Payments.(lobby.CheckoutConfirmer); ok {
		rs = append(rs, route{"POST /api/v1/checkout/{id}/complete", user, s.handleCheckoutComplete(confirmer)})
	}
	if events, ok := s.Payments.(lobby.EventReader); ok {
		// Open to all, not limited per address: the provider sends from few.
		rs = append(rs, route{"POST /api/v1/stripe/webhook", open, s.handlePaymentEvent(events)})
	}
	if payouts, ok := s.Payments.(lobby.Payouts); ok {
		rs = append(rs,
			route{"POST /api/v1/consultants/{slug}/payouts", ownerOnly, s.handlePayoutsStart(payouts)},
			route{"GET /api/v1/consultants/{slug}/payouts", ownerOnly, s.handlePayoutsGet},
		)
	}
	if s.Mailbox != nil {
		rs = append(rs,
			route{"GET /dev/mailbox", open, s.devOnly(s.Mailbox.ServeMailboxHTML)},
			route{"GET /dev/mailbox.json", open, s.devOnly(s.Mailbox.ServeMailboxJSON)},
		)
	}
	return rs
}

// Patterns returns the "METHOD /path" of every API route, /metrics included.
func (s *Server) Patterns() []string {
	var ps []string
	for _, rt := range s.routes() {
		ps = append(ps, rt.pattern)
	}
	return ps
}

// devOnly serves h to loopback clients only, unless the server runs with --dev: the dev
// mailbox holds everyone's sign-in codes. Anyone else is told there is no such route.
func (s *Server) devOnly(h http.HandlerFunc) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		if !s.Dev && !request.FromLoopback(r) {
			return lobby.Errorf(lobby.ENOTFOUND, "no route %s %s", r.Method, r.URL.Path)
		}
		h(w, r)
		return nil
	}
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
	publicLimit := newRateLimiter(s.PublicRateLimit, time.Minute, s.Now, "requests a minute from your address on public routes")
	tokenLimit := newRateLimiter(s.TokenRateLimit, time.Minute, s.Now, "requests a minute with this token on public routes")
	codeLimit := newRateLimiter(s.CodeRateLimit, time.Hour, s.Now, "sign-in codes an hour from your address")
	s.replies = newRateLimiter(cmp.Or(s.ReplyRateLimit, DefaultReplyRateLimit), time.Minute, s.Now, "replies a minute from this consultant")
	mux := http.NewServeMux()
	s.mux = mux
	s.shutdown, s.close = context.WithCancel(context.Background())
	// bind puts a route behind its policy: the caller it takes, and the rate limits of
	// anonymous routes, per client address.
	bind := func(rt route, render func(w http.ResponseWriter, r *http.Request, err error)) {
		h := s.guard(rt.policy, rt.handler)
		switch rt.policy {
		case signIn:
			h = perCaller(publicLimit, tokenLimit, codeLimit.guard(request.ClientIP, h))
		case public:
			h = perCaller(publicLimit, tokenLimit, h)
		}
		mux.Handle(rt.pattern, s.authenticate(errorHandler(h, render)))
	}
	for _, rt := range s.routes() {
		bind(rt, s.Error)
	}
	if s.Pages != nil {
		for _, rt := range s.pageRoutes() {
			bind(rt, s.Pages.Fail) // their errors render as pages
		}
	}
	mux.Handle("/api/", errorHandler(s.handleUnknownAPI, s.Error))
	if s.Pages != nil {
		mux.Handle("/", s.authenticate(s.Pages))
	}
	return s.middleware(mux)
}

// errorHandler turns an error-returning handler into an http.Handler whose error,
// and a request URL no route could read, render is the one to answer with.
func errorHandler(h handler, render func(w http.ResponseWriter, r *http.Request, err error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := request.CheckURL(r)
		if err == nil {
			err = h(w, r)
		}
		if err != nil {
			render(w, r, err)
		}
	})
}

// pageRoutes are the pages' routes with a policy of their own: the sign-in forms are
// limited exactly as the API's sign-in routes. The pages serve every other path.
func (s *Server) pageRoutes() []route {
	return []route{
		{"POST /login", signIn, s.page},
		{"POST /login/verify", public, s.page},
	}
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) error {
	s.Pages.ServeHTTP(w, r)
	return nil
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
		response.ErrorJSON(w, http.StatusMethodNotAllowed, lobby.EINVALID,
			fmt.Sprintf("%s is not allowed on %s; use %s", r.Method, r.URL.Path, strings.Join(allow, " or ")))
		return nil
	}
	return lobby.Errorf(lobby.ENOTFOUND, "no API route %s %s; see GET /api/openapi.json for the routes there are", r.Method, r.URL.Path)
}
