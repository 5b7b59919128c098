package web

import (
	"net/http"

	"github.com/lobby-dev/lobby"
)

// subscriptionRow is a subscription as /subscriptions lists it, with its consultant.
type subscriptionRow struct {
	*lobby.Subscription
	Consultant *lobby.Consultant
	NewToken   string // a buyer token just made, shown this once
}

// subscriptions lists the signed-in user's subscriptions, newest first, each with its
// usage and what can be done to it.
func (h *Handler) subscriptions(w http.ResponseWriter, r *http.Request) error {
	return h.subscriptionsPage(w, r, "", "")
}

// subscriptionsPage renders the list, with token shown once for subscription id.
func (h *Handler) subscriptionsPage(w http.ResponseWriter, r *http.Request, id, token string) error {
	p, err := h.signedIn(r, "/subscriptions")
	if err != nil {
		return err
	}
	ctx := r.Context()
	subs, _, err := h.cfg.Subscriptions.FindSubscriptions(ctx, lobby.SubscriptionFilter{UserID: p.UserID, Limit: 100})
	if err != nil {
		return err
	}
	rows := make([]subscriptionRow, len(subs))
	for i, s := range subs {
		c, err := h.cfg.Consultants.FindConsultantByID(ctx, s.ConsultantID)
		if err != nil {
			return err
		}
		rows[i] = subscriptionRow{Subscription: s, Consultant: c}
		if s.ID == id {
			rows[i].NewToken = token
		}
	}
	return h.render(w, r, http.StatusOK, "subscriptions", page{Title: "Your subscriptions", Data: map[string]any{
		"Subscriptions": rows, "BaseURL": h.cfg.BaseURL,
	}})
}

// subscriptionAct runs a form's change to one of the user's subscriptions, through
// the same domain functions as the API, and shows the list again.
func (h *Handler) subscriptionAct(w http.ResponseWriter, r *http.Request) error {
	p, err := h.signedIn(r, "/subscriptions")
	if err != nil {
		return err
	}
	ctx, id := r.Context(), r.PathValue("id")
	switch r.PathValue("action") {
	case "cancel", "resume":
		_, err = lobby.CancelSubscription(ctx, h.cfg.Subscriptions, h.cfg.Payments, p.UserID, id, r.PathValue("action") == "cancel")
	case "plan":
		_, err = lobby.ChangePlan(ctx, lobby.ChangePlanParams{Subscriptions: h.cfg.Subscriptions, Consultants: h.cfg.Consultants,
			Payments: h.cfg.Payments, UserID: p.UserID, ID: id, Tier: r.PostFormValue("tier")})
	case "token":
		token, err := h.cfg.Subscriptions.RotateBuyerToken(ctx, p.UserID, id)
		if err != nil {
			return err
		}
		return h.subscriptionsPage(w, r, id, token) // shown once: this answer is not kept
	default:
		return lobby.Errorf(lobby.ENOTFOUND, "there is no page at %s", r.URL.Path)
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/subscriptions", http.StatusSeeOther)
	return nil
}
