// Package web serves Lobby's pages for people: the catalog, sign-in with an emailed
// code, the local checkout's confirm page, the buyer's chat, and a consultant's
// delivery log for its owner. Templates and assets are embedded.
package web

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/chat"
	"github.com/lobby-dev/lobby/http/request"
	"github.com/lobby-dev/lobby/http/response"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Config is what the pages need.
type Config struct {
	Auth          lobby.AuthService
	Consultants   lobby.ConsultantService
	Subscriptions lobby.SubscriptionService
	Deliveries    lobby.DeliveryService
	Chat          lobby.ChatService
	Knowledge     lobby.KnowledgeService
	Credits       lobby.CreditService
	Activity      lobby.ActivityService
	Earnings      lobby.EarningsService
	Replies       *chat.Service // sends the chat form's messages
	Mailer        lobby.Mailer
	Payments      lobby.Payments
	Dev           bool
	BaseURL       string
	Logger        *slog.Logger
	Now           func() time.Time // time.Now when nil
}

// Handler serves the pages.
type Handler struct {
	cfg   Config
	mux   *http.ServeMux
	pages map[string]*template.Template
}

// New returns the pages' handler.
func New(cfg Config) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), pages: map[string]*template.Template{}}
	funcs := template.FuncMap{
		"price": planPrice,
		"cents": formatPrice,
		"cap": func(c *int64) string {
			if c == nil {
				return "unlimited messages"
			}
			return formatInt(*c) + " messages a month"
		},
		"when":    formatTime,
		"iso":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"percent": func(f float64) string { return strconv.FormatFloat(100*f, 'f', 1, 64) + "%" },
		"clip":    clip,
		"reply":   renderMarkdown,
		"deref":   func(n *int64) int64 { return *n },
		"inc":     func(i int) int { return i + 1 },
		"amount": func(cents int64) string { // as the plans form reads it back: 29, 9.50
			if cents%100 == 0 {
				return strconv.FormatInt(cents/100, 10)
			}
			return fmt.Sprintf("%d.%02d", cents/100, cents%100)
		},
		"tokenView": func(token, base string) map[string]string {
			return map[string]string{"Token": token, "BaseURL": base}
		},
	}
	// Each page is its file with the layout and the partials (files named _*.html).
	names, _ := fs.Glob(templateFS, "templates/*.html")
	for _, n := range names {
		base := strings.TrimPrefix(n, "templates/")
		if base == "layout.html" || strings.HasPrefix(base, "_") {
			continue
		}
		h.pages[strings.TrimSuffix(base, ".html")] =
			template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html", n))
	}
	static, _ := fs.Sub(staticFS, "static")
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	h.handle("GET /{$}", h.home)
	h.handle("GET /consultants/{slug}", h.consultant)
	h.handle("POST /consultants/{slug}/subscribe", h.subscribe)
	h.handle("GET /consultants/{slug}/deliveries", h.movedDeliveries)
	h.handle("GET /login", h.login)
	h.handle("POST /login", h.loginSend)
	h.handle("POST /login/verify", h.loginVerify)
	h.handle("POST /logout", h.logout)
	h.handle("GET /chat/{slug}", h.chat)
	h.handle("POST /chat/{slug}", h.chatSend)
	h.handle("GET /chat/{slug}/messages/{id}", h.chatMessage)
	h.handle("GET /widget.js", h.widgetScript)
	h.handle("GET /widget/{slug}", h.widget)
	h.handle("POST /widget/{slug}", h.widgetSend)
	h.handle("POST /widget/{slug}/{action}", h.widgetAct)
	h.handle("GET /dashboard", h.dashboard)
	h.handle("POST /dashboard", h.dashboardCreate)
	h.handle("GET /dashboard/{slug}", h.dashboardConsultant)
	h.handle("POST /dashboard/{slug}", h.dashboardUpdate)
	h.handle("POST /dashboard/{slug}/key", h.dashboardKey)
	h.handle("POST /dashboard/{slug}/secret", h.dashboardSecret)
	h.handle("POST /dashboard/{slug}/plans", h.dashboardPlans)
	h.handle("POST /dashboard/{slug}/knowledge", h.dashboardUpload)
	h.handle("GET /dashboard/{slug}/conversations", h.dashboardConversations)
	h.handle("GET /dashboard/{slug}/deliveries", h.deliveries)
	h.handle("GET /subscriptions", h.subscriptions)
	h.handle("POST /subscriptions/{id}/{action}", h.subscriptionAct)
	h.handle("GET /checkout/{id}", h.checkout)
	h.handle("POST /checkout/{id}/confirm", h.checkoutConfirm)
	h.handle("/", h.notFound)
	return h
}

// handle serves an error-returning page handler; its error is shown by fail, the one
// renderer of the pages' errors. Every form post must come from this site, besides the
// session cookie's SameSite=Lax.
func (h *Handler) handle(pattern string, fn func(w http.ResponseWriter, r *http.Request) error) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		err := request.CheckURL(r)
		switch {
		case err != nil:
		case r.Method == http.MethodPost && !request.SameOrigin(r, h.cfg.BaseURL):
			err = lobby.Errorf(lobby.EFORBIDDEN, "this form was posted from another site")
		default:
			err = fn(w, r)
		}
		if err != nil {
			h.Fail(w, r, err)
		}
	})
}

// confirmer is the payment provider when its checkouts are confirmed on this server's
// own page; nil otherwise.
func (h *Handler) confirmer() lobby.CheckoutConfirmer {
	c, _ := h.cfg.Payments.(lobby.CheckoutConfirmer)
	return c
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// page is what every template gets.
type page struct {
	Title string
	Frame bool // a page in the widget's frame: no header or footer
	Dev   bool
	User  *lobby.User
	Data  any
	Error string
}

// render writes the page; a template's failure is logged, since its status is sent.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) error {
	p.Dev = h.cfg.Dev
	if p.User == nil {
		p.User = h.user(r)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := h.pages[name].Execute(w, p); err != nil {
		h.cfg.Logger.ErrorContext(r.Context(), "render page", "page", name, "err", err)
	}
	return nil
}

// Fail shows err on the error page with the status of its code, as the API would
// answer it: the one renderer of the pages' errors.
func (h *Handler) Fail(w http.ResponseWriter, r *http.Request, err error) {
	if in := (errSignIn{}); errors.As(err, &in) {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(in.next), http.StatusSeeOther)
		return
	}
	code := response.Prepare(w, r, h.cfg.Logger, err)
	h.render(w, r, response.Status(code), "error", page{Title: "Something went wrong", Error: lobby.ErrorMessage(err)})
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) error {
	return lobby.Errorf(lobby.ENOTFOUND, "there is no page at %s", r.URL.Path)
}

// principal is the signed-in user's, put in the request's context by the server's one
// authenticate middleware; nil when signed out.
func (h *Handler) principal(r *http.Request) *lobby.Principal {
	p := lobby.PrincipalFromContext(r.Context())
	if p == nil || p.Kind != lobby.CallerUser {
		return nil
	}
	return p
}

func (h *Handler) user(r *http.Request) *lobby.User {
	p := h.principal(r)
	if p == nil {
		return nil
	}
	u, _ := h.cfg.Auth.FindUserByID(r.Context(), p.UserID)
	return u
}

// errSignIn asks fail to send the browser to sign in, and back to next after.
type errSignIn struct{ next string }

func (e errSignIn) Error() string { return "sign in to see " + e.next }

// signedIn returns the signed-in user's principal, or an error that sends the browser
// to sign in and back to next.
func (h *Handler) signedIn(r *http.Request, next string) (*lobby.Principal, error) {
	if p := h.principal(r); p != nil {
		return p, nil
	}
	return nil, errSignIn{next}
}

// formatInt writes n with thousands separators: 12,500.
func formatInt(n int64) string {
	digits := strconv.FormatInt(n, 10)
	sign := ""
	if n < 0 {
		sign, digits = "-", digits[1:]
	}
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return sign + b.String()
}

// formatPrice writes a monthly price: "$29", "$4.50", "12 EUR", "free".
func formatPrice(cents int64, currency string) string {
	if cents == 0 {
		return "free"
	}
	return formatMoney(cents, currency)
}

// formatMoney writes an amount: $29, $9.50, -$2.50, 12 EUR.
func formatMoney(cents int64, currency string) string {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	s := formatInt(cents / 100)
	if frac := cents % 100; frac != 0 {
		s += fmt.Sprintf(".%02d", frac)
	}
	if c := strings.ToUpper(currency); c != "USD" {
		return sign + s + " " + c
	}
	return sign + "$" + s
}

// planPrice writes a plan's price as its buyer pays it.
func planPrice(p lobby.Plan) string {
	switch {
	case p.PerMessage():
		return formatPrice(p.PriceCents, p.Currency) + " a message, from credits"
	case p.PriceCents == 0:
		return "free"
	}
	return formatPrice(p.PriceCents, p.Currency) + " a month"
}

// formatTime writes a moment in UTC to the second: 2026-11-01 12:00:05 UTC.
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }

// clip returns s's first n bytes or fewer, cut at a character, with "…" when cut.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
