// Package web serves Lobby's pages for people: the catalog, sign-in with an emailed
// code, the local checkout's confirm page, and a consultant's delivery log for its
// owner. Templates and assets are embedded.
package web

import (
	"embed"
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
		"price": func(p lobby.Plan) string { return formatPrice(p.PriceCents, p.Currency) },
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
	}
	names, _ := fs.Glob(templateFS, "templates/*.html")
	for _, n := range names {
		if strings.HasSuffix(n, "layout.html") {
			continue
		}
		h.pages[strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")] =
			template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n))
	}
	static, _ := fs.Sub(staticFS, "static")
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	h.mux.HandleFunc("GET /{$}", h.home)
	h.mux.HandleFunc("GET /consultants/{slug}", h.consultant)
	h.mux.HandleFunc("POST /consultants/{slug}/subscribe", h.subscribe)
	h.mux.HandleFunc("GET /consultants/{slug}/deliveries", h.deliveries)
	h.mux.HandleFunc("GET /login", h.login)
	h.mux.HandleFunc("POST /login", h.loginSend)
	h.mux.HandleFunc("POST /login/verify", h.loginVerify)
	h.mux.HandleFunc("POST /logout", h.logout)
	h.mux.HandleFunc("GET /checkout/{id}", h.checkout)
	h.mux.HandleFunc("POST /checkout/{id}/confirm", h.checkoutConfirm)
	h.mux.HandleFunc("/", h.notFound)
	return h
}

// local reports whether checkouts are confirmed on this server's own page.
func (h *Handler) local() bool { return h.cfg.Payments.Name() == "local" }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// page is what every template gets.
type page struct {
	Title string
	Dev   bool
	User  *lobby.User
	Data  any
	Error string
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
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
}

// fail shows err on the error page with its status.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := map[string]int{
		lobby.EINVALID: 400, lobby.EUNAUTHORIZED: 401, lobby.EFORBIDDEN: 403, lobby.ENOTFOUND: 404,
		lobby.ECONFLICT: 409, lobby.EUNAVAILABLE: 503,
	}[lobby.ErrorCode(err)]
	if status == 0 {
		status = 500
		h.cfg.Logger.ErrorContext(r.Context(), "page error", "path", r.URL.Path, "err", err)
	}
	h.render(w, r, status, "error", page{Title: "Something went wrong", Error: lobby.ErrorMessage(err)})
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.fail(w, r, lobby.Errorf(lobby.ENOTFOUND, "there is no page at %s", r.URL.Path))
}

// principal is the signed-in user's, from the session cookie; nil when signed out.
func (h *Handler) principal(r *http.Request) *lobby.Principal {
	c, err := r.Cookie(lobby.SessionCookie)
	if err != nil || lobby.TokenKind(c.Value) != lobby.TokenUser {
		return nil
	}
	p, err := h.cfg.Auth.Authenticate(r.Context(), c.Value)
	if err != nil {
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

// sameOrigin refuses forms posted from other sites, besides the cookie's SameSite=Lax.
func (h *Handler) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return origin == ""
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	base, _ := url.Parse(h.cfg.BaseURL)
	return u.Host == r.Host || base != nil && u.Host == base.Host
}

// signedIn returns the user's principal for a form post, or redirects to sign-in.
func (h *Handler) signedIn(w http.ResponseWriter, r *http.Request, next string) *lobby.Principal {
	if r.Method == http.MethodPost && !h.sameOrigin(r) {
		h.fail(w, r, lobby.Errorf(lobby.EFORBIDDEN, "this form was posted from another site"))
		return nil
	}
	p := h.principal(r)
	if p == nil {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
	}
	return p
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
	s := formatInt(cents / 100)
	if frac := cents % 100; frac != 0 {
		s += fmt.Sprintf(".%02d", frac)
	}
	if c := strings.ToUpper(currency); c != "USD" {
		return s + " " + c
	}
	return "$" + s
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
