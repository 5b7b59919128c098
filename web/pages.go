package web

import (
	"net/http"
	"strings"

	"github.com/lobby-dev/lobby"
)

func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	query, category := q.Get("q"), q.Get("category")
	if len(query) > 200 || len(category) > lobby.MaxCategoryLen {
		h.fail(w, r, lobby.Errorf(lobby.EINVALID, "the search is too long; use a few words"))
		return
	}
	cs, next, err := h.cfg.Consultants.FindConsultants(r.Context(), lobby.ConsultantFilter{
		Query: query, Category: category, Limit: 20, Cursor: q.Get("cursor"),
	})
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "home", page{Title: "Lobby", Data: map[string]any{
		"Query": query, "Category": category, "Consultants": cs, "Next": next,
	}})
}

func (h *Handler) consultant(w http.ResponseWriter, r *http.Request) {
	c, err := h.cfg.Consultants.FindConsultantBySlug(r.Context(), r.PathValue("slug"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "consultant", page{Title: c.Name, Data: c})
}

func (h *Handler) subscribe(w http.ResponseWriter, r *http.Request) {
	slug := r.PathValue("slug")
	p := h.signedIn(w, r, "/consultants/"+slug)
	if p == nil {
		return
	}
	ctx := r.Context()
	c, err := h.cfg.Consultants.FindConsultantBySlug(ctx, slug)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ch := &lobby.Checkout{UserID: p.UserID, Plan: lobby.Plan{Tier: r.PostFormValue("tier")}}
	url, err := lobby.StartCheckout(ctx, h.cfg.Subscriptions, h.cfg.Payments, ch, c)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, url, http.StatusSeeOther)
}

// safeNext keeps a post-sign-in redirect on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "login", page{Title: "Sign in", Data: map[string]any{
		"Next": safeNext(r.URL.Query().Get("next")),
	}})
}

func (h *Handler) loginSend(w http.ResponseWriter, r *http.Request) {
	if !h.sameOrigin(r) {
		h.fail(w, r, lobby.Errorf(lobby.EFORBIDDEN, "this form was posted from another site"))
		return
	}
	next := safeNext(r.PostFormValue("next"))
	email, err := lobby.NormalizeEmail(r.PostFormValue("email"))
	if err == nil {
		err = lobby.SendLoginCode(r.Context(), h.cfg.Auth, h.cfg.Mailer, email)
	}
	if err != nil {
		h.render(w, r, http.StatusBadRequest, "login", page{Title: "Sign in", Error: lobby.ErrorMessage(err),
			Data: map[string]any{"Next": next}})
		return
	}
	h.render(w, r, http.StatusOK, "code", page{Title: "Enter your code", Data: map[string]any{"Email": email, "Next": next}})
}

func (h *Handler) loginVerify(w http.ResponseWriter, r *http.Request) {
	if !h.sameOrigin(r) {
		h.fail(w, r, lobby.Errorf(lobby.EFORBIDDEN, "this form was posted from another site"))
		return
	}
	next := safeNext(r.PostFormValue("next"))
	email, err := lobby.NormalizeEmail(r.PostFormValue("email"))
	code := strings.TrimSpace(r.PostFormValue("code"))
	var token string
	if err == nil && !lobby.ValidLoginCode(code) {
		err = lobby.Errorf(lobby.EINVALID, "the code is the 6 digits from the email")
	}
	if err == nil {
		token, _, err = h.cfg.Auth.VerifyLoginCode(r.Context(), email, code)
	}
	if err != nil {
		h.render(w, r, http.StatusUnauthorized, "code", page{Title: "Enter your code", Error: lobby.ErrorMessage(err),
			Data: map[string]any{"Email": email, "Next": next}})
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: lobby.SessionCookie, Value: token, Path: "/", MaxAge: int(lobby.SessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil || strings.HasPrefix(h.cfg.BaseURL, "https://"),
	})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if !h.sameOrigin(r) {
		h.fail(w, r, lobby.Errorf(lobby.EFORBIDDEN, "this form was posted from another site"))
		return
	}
	if p := h.principal(r); p != nil {
		h.cfg.Auth.RevokeSession(r.Context(), p.SessionID)
	}
	http.SetCookie(w, &http.Cookie{Name: lobby.SessionCookie, Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (h *Handler) checkoutPage(w http.ResponseWriter, r *http.Request, p *lobby.Principal) {
	ctx := r.Context()
	res, err := h.cfg.Subscriptions.FindCheckout(ctx, p.UserID, r.PathValue("id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	c, err := h.cfg.Consultants.FindConsultantByID(ctx, res.Checkout.ConsultantID)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "checkout", page{Title: "Checkout", Data: map[string]any{
		"Checkout": res.Checkout, "Consultant": c, "BuyerToken": res.BuyerToken, "Local": h.local(),
	}})
}

func (h *Handler) checkout(w http.ResponseWriter, r *http.Request) {
	if p := h.signedIn(w, r, r.URL.Path); p != nil {
		h.checkoutPage(w, r, p)
	}
}

func (h *Handler) checkoutConfirm(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p := h.signedIn(w, r, "/checkout/"+id)
	if p == nil {
		return
	}
	if !h.local() {
		h.fail(w, r, lobby.Errorf(lobby.ENOTFOUND, "checkouts are paid with the payment provider, not here"))
		return
	}
	if err := h.cfg.Subscriptions.CompleteCheckout(r.Context(), id, p.UserID); err != nil {
		h.fail(w, r, err)
		return
	}
	h.checkoutPage(w, r, p)
}
