package http

import (
	"errors"
	"io"
	"net/http"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/http/request"
	"github.com/lobby-dev/lobby/http/response"
)

// maxEventBytes bounds a payment provider's event; Stripe's are a few kilobytes.
const maxEventBytes = 1 << 20

// handlePaymentEvent takes a provider's signed event: verified, read, stored with the
// job that applies it, and answered at once. A replay, or the same event on another
// instance, is answered alike and changes nothing.
func (s *Server) handlePaymentEvent(events lobby.EventReader) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventBytes))
		if err != nil {
			if errors.As(err, new(*http.MaxBytesError)) {
				return lobby.Errorf(lobby.ETOOLARGE, "an event may be at most %d bytes", maxEventBytes)
			}
			return lobby.Errorf(lobby.EINVALID, "the event's body could not be read: %v", err)
		}
		e, err := events.ReadEvent(body, r.Header.Get("Stripe-Signature"))
		if err != nil {
			// Logged without the payload, which is the sender's, signed or not.
			s.Logger.WarnContext(r.Context(), "payment event refused", "err", lobby.ErrorMessage(err))
			return err
		}
		if e.Kind == "" {
			response.JSON(w, http.StatusOK, map[string]any{"received": true, "used": false})
			return nil
		}
		taken, err := s.PaymentEvents.TakePaymentEvent(r.Context(), e)
		if err != nil {
			return err
		}
		if !taken {
			s.Logger.InfoContext(r.Context(), "payment event received again", "event_id", e.ID, "type", e.ProviderType)
		}
		response.JSON(w, http.StatusOK, map[string]any{"received": true, "used": true})
		return nil
	}
}

// handlePayoutsStart answers with where the owner sets up payouts: an onboarding
// link into their payout account, made the first time. One account serves all the
// owner's consultants.
func (s *Server) handlePayoutsStart(payouts lobby.Payouts) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		owner, err := s.Auth.FindUserByID(r.Context(), caller(r).UserID)
		if err != nil {
			return err
		}
		url, err := payouts.OnboardingURL(r.Context(), owner)
		if err != nil {
			return err
		}
		response.JSON(w, http.StatusOK, map[string]string{"url": url})
		return nil
	}
}

// handlePayoutsGet reports whether the consultant's owner can be paid.
func (s *Server) handlePayoutsGet(w http.ResponseWriter, r *http.Request) error {
	status := lobby.PayoutsNone
	a, err := s.PaymentRefs.FindPayoutAccount(r.Context(), pathConsultant(r).OwnerID)
	switch lobby.ErrorCode(err) {
	case "":
		status = a.Status
	case lobby.ENOTFOUND:
	default:
		return err
	}
	response.JSON(w, http.StatusOK, map[string]string{"status": status})
	return nil
}

// handleEarnings sums the consultant's ledger by month: what its buyers paid, the
// platform's fee and what reaches the owner.
func (s *Server) handleEarnings(w http.ResponseWriter, r *http.Request) error {
	es, err := s.Earnings.FindEarnings(r.Context(), pathConsultant(r).ID)
	if err != nil {
		return err
	}
	if es == nil {
		es = []lobby.Earnings{}
	}
	response.JSON(w, http.StatusOK, map[string]any{"data": es})
	return nil
}

// handleActivity reports the consultant's last days: messages, failed replies, reply
// latency and subscribers, what its owner's dashboard charts.
func (s *Server) handleActivity(w http.ResponseWriter, r *http.Request) error {
	days, err := s.Activity.FindActivity(r.Context(), pathConsultant(r).ID)
	if err != nil {
		return err
	}
	response.JSON(w, http.StatusOK, map[string]any{"data": days})
	return nil
}

// handleUsage reports the buyer's period: its cap, what is used and when it resets.
func (s *Server) handleUsage(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	sub, err := s.Subscriptions.FindSubscription(r.Context(), p.UserID, p.SubscriptionID)
	if err != nil {
		return err
	}
	u := sub.Usage()
	if sub.Per == lobby.PerMessage {
		b, err := s.Credits.FindBalance(r.Context(), p.UserID)
		if err != nil {
			return err
		}
		u.CreditsCents = &b.BalanceCents
	}
	response.JSON(w, http.StatusOK, u)
	return nil
}

// handleCredits reports the user's balance.
func (s *Server) handleCredits(w http.ResponseWriter, r *http.Request) error {
	b, err := s.Credits.FindBalance(r.Context(), caller(r).UserID)
	if err != nil {
		return err
	}
	response.JSON(w, http.StatusOK, b)
	return nil
}

// handleCreditsCheckout opens a purchase of credits, paid like any checkout.
func (s *Server) handleCreditsCheckout(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		AmountCents *int64 `json:"amount_cents"`
	}
	if err := request.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	if in.AmountCents == nil {
		return lobby.Errorf(lobby.EINVALID, "amount_cents is required: an integer from %d to %d", lobby.MinCreditPurchaseCents, lobby.MaxCreditPurchaseCents)
	}
	c, err := lobby.BuyCredits(r.Context(), s.Credits, s.Payments, caller(r).UserID, *in.AmountCents)
	if err != nil {
		return err
	}
	response.JSON(w, http.StatusCreated, map[string]any{"checkout_id": c.ID, "checkout_url": c.URL, "expires_at": c.ExpiresAt})
	return nil
}
