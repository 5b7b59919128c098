package web

import (
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/http/response"
)

func (h *Handler) home(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	query, category := q.Get("q"), q.Get("category")
	if len(query) > 200 || len(category) > lobby.MaxCategoryLen {
		return lobby.Errorf(lobby.EINVALID, "the search is too long; use a few words")
	}
	cs, next, err := h.cfg.Consultants.FindConsultants(r.Context(), lobby.ConsultantFilter{
		Query: query, Category: category, Limit: 20, Cursor: q.Get("cursor"),
	})
	if err != nil {
		return err
	}
	return h.render(w, r, http.StatusOK, "home", page{Title: "Lobby", Data: map[string]any{
		"Query": query, "Category": category, "Consultants": cs, "Next": next,
	}})
}

func (h *Handler) consultant(w http.ResponseWriter, r *http.Request) error {
	c, err := h.cfg.Consultants.FindConsultantBySlug(r.Context(), r.PathValue("slug"))
	if err != nil {
		return err
	}
	if c.Archived() {
		return lobby.Errorf(lobby.ENOTFOUND, "%s is no longer in the catalog", c.Name)
	}
	return h.render(w, r, http.StatusOK, "consultant", page{Title: c.Name, Data: c})
}

func (h *Handler) subscribe(w http.ResponseWriter, r *http.Request) error {
	slug := r.PathValue("slug")
	p, err := h.signedIn(r, "/consultants/"+slug)
	if err != nil {
		return err
	}
	ctx := r.Context()
	c, err := h.cfg.Consultants.FindConsultantBySlug(ctx, slug)
	if err != nil {
		return err
	}
	ch, err := lobby.StartCheckout(ctx, lobby.StartCheckoutParams{Subscriptions: h.cfg.Subscriptions, Payments: h.cfg.Payments,
		Consultant: c, UserID: p.UserID, Tier: r.PostFormValue("tier"), BaseURL: h.cfg.BaseURL})
	if err != nil {
		return err
	}
	http.Redirect(w, r, ch.URL, http.StatusSeeOther)
	return nil
}

// safeNext keeps a post-sign-in redirect on this site: it reads next as a browser
// would — tabs and newlines removed anywhere, leading spaces and control characters
// dropped, a backslash taken for a slash — and answers "/" unless what is left is a
// path of this site.
func safeNext(next string) string {
	next = strings.Map(func(r rune) rune {
		switch r {
		case '\t', '\n', '\r':
			return -1
		case '\\':
			return '/'
		}
		return r
	}, next)
	next = strings.TrimLeft(next, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f ")
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsFunc(next, unicode.IsControl) {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Scheme != "" || u.Host != "" {
		return "/"
	}
	return next
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) error {
	return h.render(w, r, http.StatusOK, "login", page{Title: "Sign in", Data: map[string]any{
		"Next": safeNext(r.URL.Query().Get("next")),
	}})
}

func (h *Handler) loginSend(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.PostFormValue("next"))
	email, err := h.sendCode(r)
	if err != nil {
		return h.render(w, r, http.StatusBadRequest, "login", page{Title: "Sign in", Error: lobby.ErrorMessage(err),
			Data: map[string]any{"Next": next}})
	}
	return h.render(w, r, http.StatusOK, "code", page{Title: "Enter your code", Data: map[string]any{"Email": email, "Next": next}})
}

func (h *Handler) loginVerify(w http.ResponseWriter, r *http.Request) error {
	next := safeNext(r.PostFormValue("next"))
	email, token, err := h.verifyCode(r)
	if err != nil {
		return h.render(w, r, http.StatusUnauthorized, "code", page{Title: "Enter your code", Error: lobby.ErrorMessage(err),
			Data: map[string]any{"Email": email, "Next": next}})
	}
	response.SetSession(w, r, h.cfg.BaseURL, token)
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}

// sendCode mails a sign-in code to the form's email, which it returns normalized.
func (h *Handler) sendCode(r *http.Request) (string, error) {
	email, err := lobby.NormalizeEmail(r.PostFormValue("email"))
	if err == nil {
		err = lobby.SendLoginCode(r.Context(), h.cfg.Auth, h.cfg.Mailer, email)
	}
	return email, err
}

// verifyCode signs in the form's email with its code, and returns the email and the
// new session's token.
func (h *Handler) verifyCode(r *http.Request) (email, token string, err error) {
	email, err = lobby.NormalizeEmail(r.PostFormValue("email"))
	code := strings.TrimSpace(r.PostFormValue("code"))
	if err == nil && !lobby.ValidLoginCode(code) {
		err = lobby.Errorf(lobby.EINVALID, "the code is the 6 digits from the email")
	}
	if err == nil {
		token, _, err = h.cfg.Auth.VerifyLoginCode(r.Context(), email, code)
	}
	return email, token, err
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) error {
	if p := h.principal(r); p != nil {
		if err := h.cfg.Auth.RevokeSession(r.Context(), p.SessionID); err != nil {
			return err
		}
	}
	response.ClearSession(w, r, h.cfg.BaseURL)
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

func (h *Handler) checkoutPage(w http.ResponseWriter, r *http.Request, p *lobby.Principal) error {
	ctx := r.Context()
	res, err := h.cfg.Subscriptions.FindCheckout(ctx, p.UserID, r.PathValue("id"))
	if err != nil {
		return err
	}
	if res.Credits != nil {
		return h.render(w, r, http.StatusOK, "credits", page{Title: "Buy credits", Data: map[string]any{
			"Checkout": res.Credits, "Balance": res.Balance, "Local": h.confirmer() != nil,
		}})
	}
	c, err := h.cfg.Consultants.FindConsultantByID(ctx, res.Checkout.ConsultantID)
	if err != nil {
		return err
	}
	return h.render(w, r, http.StatusOK, "checkout", page{Title: "Checkout", Data: map[string]any{
		"Checkout": res.Checkout, "Consultant": c, "BuyerToken": res.BuyerToken, "Local": h.confirmer() != nil, "BaseURL": h.cfg.BaseURL,
	}})
}

func (h *Handler) checkout(w http.ResponseWriter, r *http.Request) error {
	p, err := h.signedIn(r, r.URL.Path)
	if err != nil {
		return err
	}
	return h.checkoutPage(w, r, p)
}

func (h *Handler) checkoutConfirm(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	p, err := h.signedIn(r, "/checkout/"+id)
	if err != nil {
		return err
	}
	confirmer := h.confirmer()
	if confirmer == nil {
		return lobby.Errorf(lobby.ENOTFOUND, "checkouts are paid with the payment provider, not here")
	}
	if err := confirmer.ConfirmCheckout(r.Context(), h.cfg.Subscriptions, id, p.UserID); err != nil {
		return err
	}
	return h.checkoutPage(w, r, p)
}

// deliveries shows a consultant's owner its delivery log, newest first, with its
// webhook's health and a chart of the listed deliveries' attempts per hour.
func (h *Handler) deliveries(w http.ResponseWriter, r *http.Request) error {
	if _, err := h.signedIn(r, r.URL.Path); err != nil {
		return err
	}
	ctx := r.Context()
	c, err := h.cfg.Consultants.FindConsultantBySlug(ctx, r.PathValue("slug"))
	if err != nil {
		return err
	}
	if !lobby.CanManageConsultant(ctx, c) {
		return lobby.Errorf(lobby.EFORBIDDEN, "%s is not yours: only its owner sees its deliveries", c.Name)
	}
	cursor := r.URL.Query().Get("cursor")
	ds, next, err := h.cfg.Deliveries.FindDeliveries(ctx, lobby.DeliveryFilter{ConsultantID: c.ID, Limit: 50, Cursor: cursor})
	if err != nil {
		return err
	}
	health, err := h.cfg.Deliveries.WebhookHealth(ctx, c.ID)
	if err != nil {
		return err
	}
	return h.render(w, r, http.StatusOK, "deliveries", page{Title: "Deliveries of " + c.Name, Data: map[string]any{
		"Consultant": c, "Health": health, "Deliveries": ds, "Cursor": cursor, "Next": next,
		"Chart": newDeliveryChart(ds, h.cfg.Now()),
	}})
}

// deliveryChart is the SVG bar chart of attempts per hour over the last day, in the
// chart's own units (its viewBox).
type deliveryChart struct {
	Width, Height, Top, Baseline int
	PlotHeight                   int
	Bars                         []chartBar
	Labels                       []chartLabel
	Attempts, OK, Failed         int
	Max                          int // the most attempts in one hour: the top of the scale
}

// chartBar is one hour: its attempts stacked, succeeded below failed.
type chartBar struct {
	Start, End            time.Time
	Label                 string // the hour: Nov 1 11:00–12:00 UTC
	OK, Failed            int
	X, Width              int
	OKY, OKHeight         int
	FailedY, FailedHeight int
}

// chartLabel is a time on the chart's axis; End labels are anchored at their end.
type chartLabel struct {
	X    int
	Text string
	End  bool
}

// The chart's geometry, in viewBox units.
const (
	chartHours  = 24
	chartSlot   = 24 // a bar and the gap after it
	chartBarW   = 18
	chartTop    = 16 // room for the scale's label
	chartPlotH  = 120
	chartBottom = 20 // room for the time labels
)

// newDeliveryChart counts the attempts of ds made in the 24 hours before now, one bar
// per hour, the last ending now.
func newDeliveryChart(ds []*lobby.Delivery, now time.Time) deliveryChart {
	now = now.UTC()
	ch := deliveryChart{
		Width: chartHours * chartSlot, Height: chartTop + chartPlotH + chartBottom,
		Top: chartTop, Baseline: chartTop + chartPlotH, PlotHeight: chartPlotH, Bars: make([]chartBar, chartHours),
	}
	for i := range ch.Bars {
		start := now.Add(time.Duration(i-chartHours) * time.Hour)
		end := start.Add(time.Hour)
		ch.Bars[i] = chartBar{Start: start, End: end, X: i * chartSlot, Width: chartBarW,
			Label: start.Format("Jan 2 15:04") + "–" + end.Format("15:04") + " UTC"}
	}
	for _, d := range ds {
		for _, a := range d.Log {
			age := now.Sub(a.At)
			if age < 0 || age >= chartHours*time.Hour {
				continue
			}
			b := &ch.Bars[chartHours-1-int(age/time.Hour)]
			if a.Succeeded() {
				b.OK++
				ch.OK++
			} else {
				b.Failed++
				ch.Failed++
			}
		}
	}
	ch.Attempts = ch.OK + ch.Failed
	for _, b := range ch.Bars {
		ch.Max = max(ch.Max, b.OK+b.Failed)
	}
	scale := func(n int) int {
		if n == 0 {
			return 0
		}
		return max(1, int(math.Round(float64(n*chartPlotH)/float64(ch.Max))))
	}
	for i := range ch.Bars {
		b := &ch.Bars[i]
		b.OKHeight = scale(b.OK)
		// The stack is as tall as its total; a failure stays visible (1 unit) on a tall bar.
		b.FailedHeight = scale(b.OK+b.Failed) - b.OKHeight
		if b.Failed > 0 {
			b.FailedHeight = max(b.FailedHeight, 1)
		}
		b.OKY = ch.Baseline - b.OKHeight
		b.FailedY = b.OKY - b.FailedHeight
	}
	for i := 0; i < chartHours; i += 6 {
		ch.Labels = append(ch.Labels, chartLabel{X: i * chartSlot, Text: ch.Bars[i].Start.Format("15:04")})
	}
	ch.Labels = append(ch.Labels, chartLabel{X: ch.Width, Text: "now", End: true})
	return ch
}
