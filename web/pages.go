package web

import (
	"fmt"
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
	c, err := h.ownedConsultant(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
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

// movedDeliveries sends the delivery log's old address to its place in the dashboard.
func (h *Handler) movedDeliveries(w http.ResponseWriter, r *http.Request) error {
	to := "/dashboard/" + url.PathEscape(r.PathValue("slug")) + "/deliveries"
	if r.URL.RawQuery != "" {
		to += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, to, http.StatusMovedPermanently)
	return nil
}

// newDeliveryChart charts the attempts of ds made in the 24 hours before now, a bar
// an hour, the last ending now.
func newDeliveryChart(ds []*lobby.Delivery, now time.Time) chart {
	const hours = 24
	now = now.UTC()
	ok, failed := make([]int64, hours), make([]int64, hours)
	labels, axis := make([]string, hours), make([]string, hours)
	for i := range hours {
		start := now.Add(time.Duration(i-hours) * time.Hour)
		labels[i] = start.Format("Jan 2 15:04") + "–" + start.Add(time.Hour).Format("15:04") + " UTC"
		if i%6 == 0 {
			axis[i] = start.Format("15:04")
		}
	}
	var nOK, nFailed int64
	for _, d := range ds {
		for _, a := range d.Log {
			age := now.Sub(a.At)
			if age < 0 || age >= hours*time.Hour {
				continue
			}
			i := hours - 1 - int(age/time.Hour)
			if a.Succeeded() {
				ok[i]++
				nOK++
			} else {
				failed[i]++
				nFailed++
			}
		}
	}
	ch := newChart(stacked, "deliveries-chart", "Attempts per hour over the last 24 hours, succeeded and failed", counts("an hour"), labels, axis,
		series{"ok", "succeeded", figures(ok)}, series{"failed", "failed", figures(failed)})
	ch.Summary = "None of the deliveries listed on this page had an attempt in the last 24 hours."
	if n := nOK + nFailed; n > 0 {
		ch.Summary = fmt.Sprintf("In the last 24 hours, the deliveries listed on this page had %d attempts: %d succeeded and %d failed.", n, nOK, nFailed)
	}
	ch.Note = "One bar per hour, times in UTC, the last ending now; succeeded is a 2xx answer. The chart covers the deliveries listed on this page, not older ones."
	return ch
}
