package http

import (
	"net/http"
	"strings"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/http/request"
	"github.com/lobby-dev/lobby/http/response"
)

// subscriptionView is a subscription as its buyer reads it, with the consultant's
// public profile.
type subscriptionView struct {
	*lobby.Subscription
	Consultant *lobby.Consultant `json:"consultant"`
}

func (s *Server) subscriptionViews(r *http.Request, subs []*lobby.Subscription) ([]subscriptionView, error) {
	views := make([]subscriptionView, len(subs))
	seen := map[string]*lobby.Consultant{}
	for i, sub := range subs {
		c := seen[sub.ConsultantID]
		if c == nil {
			var err error
			if c, err = s.Consultants.FindConsultantByID(r.Context(), sub.ConsultantID); err != nil {
				return nil, err
			}
			seen[sub.ConsultantID] = publicConsultant(c)
		}
		views[i] = subscriptionView{Subscription: sub, Consultant: c}
	}
	return views, nil
}

func (s *Server) handleSubscribe(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	tier, err := decodeTier(w, r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	c, err := s.Consultants.FindConsultantBySlug(ctx, r.PathValue("slug"))
	if err != nil {
		return err
	}
	ch, err := lobby.StartCheckout(ctx, lobby.StartCheckoutParams{Subscriptions: s.Subscriptions, Payments: s.Payments,
		Consultant: c, UserID: p.UserID, Tier: tier, BaseURL: s.BaseURL})
	if err != nil {
		return err
	}
	response.JSON(w, http.StatusCreated, map[string]any{"checkout_id": ch.ID, "checkout_url": ch.URL, "expires_at": ch.ExpiresAt})
	return nil
}

// checkoutView is a checkout as its buyer reads it.
type checkoutView struct {
	ID           string            `json:"id"`
	Kind         string            `json:"kind"` // "subscription"
	Status       string            `json:"status"`
	CheckoutURL  string            `json:"checkout_url"`
	Tier         string            `json:"tier"`
	PriceCents   int64             `json:"price_cents"`
	Currency     string            `json:"currency"`
	MessageCap   *int64            `json:"message_cap"`
	Per          string            `json:"per,omitempty"`
	CreatedAt    time.Time         `json:"created_at"`
	ExpiresAt    time.Time         `json:"expires_at"`
	Subscription *subscriptionView `json:"subscription,omitempty"`
	BuyerToken   string            `json:"buyer_token,omitempty"`
}

// creditCheckoutView is a purchase of credits as its buyer reads it, with the balance
// once it is paid.
type creditCheckoutView struct {
	*lobby.CreditCheckout
	Kind    string         `json:"kind"` // "credits"
	Balance *lobby.Balance `json:"balance,omitempty"`
}

func (s *Server) writeCheckout(w http.ResponseWriter, r *http.Request, userID, id string) error {
	res, err := s.Subscriptions.FindCheckout(r.Context(), userID, id)
	if err != nil {
		return err
	}
	if res.Credits != nil {
		response.JSON(w, http.StatusOK, creditCheckoutView{CreditCheckout: res.Credits, Kind: "credits", Balance: res.Balance})
		return nil
	}
	c := res.Checkout
	v := checkoutView{ID: c.ID, Kind: "subscription", Status: c.Status, CheckoutURL: c.URL, Tier: c.Plan.Tier, PriceCents: c.Plan.PriceCents,
		Currency: c.Plan.Currency, MessageCap: c.Plan.MessageCap, Per: c.Plan.Per, CreatedAt: c.CreatedAt, ExpiresAt: c.ExpiresAt, BuyerToken: res.BuyerToken}
	if res.Subscription != nil {
		views, err := s.subscriptionViews(r, []*lobby.Subscription{res.Subscription})
		if err != nil {
			return err
		}
		v.Subscription = &views[0]
	}
	response.JSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) handleCheckoutGet(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	return s.writeCheckout(w, r, p.UserID, r.PathValue("id"))
}

// handleCheckoutComplete confirms a checkout with a provider that takes confirmation
// on Lobby itself, as Stripe's webhook would pay it, and answers like the checkout's
// read.
func (s *Server) handleCheckoutComplete(confirmer lobby.CheckoutConfirmer) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		p, id := caller(r), r.PathValue("id")
		if err := confirmer.ConfirmCheckout(r.Context(), s.Subscriptions, id, p.UserID); err != nil {
			return err
		}
		return s.writeCheckout(w, r, p.UserID, id)
	}
}

func (s *Server) handleSubscriptionList(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	limit, cursor, err := request.Page(r)
	if err != nil {
		return err
	}
	subs, next, err := s.Subscriptions.FindSubscriptions(r.Context(), lobby.SubscriptionFilter{UserID: p.UserID, Limit: limit, Cursor: cursor})
	if err != nil {
		return err
	}
	views, err := s.subscriptionViews(r, subs)
	if err != nil {
		return err
	}
	response.JSON(w, http.StatusOK, newList(views, next))
	return nil
}

func (s *Server) handleSubscriptionToken(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	token, err := s.Subscriptions.RotateBuyerToken(r.Context(), p.UserID, r.PathValue("id"))
	if err != nil {
		return err
	}
	response.JSON(w, http.StatusOK, map[string]string{"buyer_token": token})
	return nil
}

// handleSubscriptionCancel cancels at the period's end (DELETE) or takes the cancel
// back (POST .../resume).
func (s *Server) handleSubscriptionCancel(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	sub, err := lobby.CancelSubscription(r.Context(), s.Subscriptions, s.Payments, p.UserID, r.PathValue("id"), r.Method == http.MethodDelete)
	if err != nil {
		return err
	}
	return s.writeSubscription(w, r, sub)
}

// handleSubscriptionPlan moves a subscription to another tier: an upgrade at once, a
// downgrade at the period's end (pending_plan), its own tier taking a downgrade back.
func (s *Server) handleSubscriptionPlan(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	tier, err := decodeTier(w, r)
	if err != nil {
		return err
	}
	sub, err := lobby.ChangePlan(r.Context(), lobby.ChangePlanParams{Subscriptions: s.Subscriptions, Consultants: s.Consultants,
		Payments: s.Payments, UserID: p.UserID, ID: r.PathValue("id"), Tier: tier})
	if err != nil {
		return err
	}
	return s.writeSubscription(w, r, sub)
}

// decodeTier reads the body {"tier"} of subscribing and of changing plan.
func decodeTier(w http.ResponseWriter, r *http.Request) (string, error) {
	var in struct {
		Tier string `json:"tier"`
	}
	if err := request.DecodeJSON(w, r, &in); err != nil {
		return "", err
	}
	if tier := strings.TrimSpace(in.Tier); tier != "" {
		return tier, nil
	}
	return "", lobby.Errorf(lobby.EINVALID, "tier is required: one of the consultant's plans, such as \"starter\"")
}

// writeSubscription answers with the subscription as its buyer reads it.
func (s *Server) writeSubscription(w http.ResponseWriter, r *http.Request, sub *lobby.Subscription) error {
	views, err := s.subscriptionViews(r, []*lobby.Subscription{sub})
	if err != nil {
		return err
	}
	response.JSON(w, http.StatusOK, views[0])
	return nil
}
