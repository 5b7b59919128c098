// Package local is the embedded payment provider: a confirm page on this server stands
// in for a payment, so every flow works with no account anywhere.
package local

import (
	"context"
	"strings"

	"github.com/lobby-dev/lobby"
)

// Payments takes the buyer to this server's own checkout page.
type Payments struct {
	// BaseURL is the server's public URL.
	BaseURL string
}

var (
	_ lobby.CheckoutConfirmer = (*Payments)(nil)
	_ lobby.CreditSeller      = (*Payments)(nil)
)

// Name implements lobby.Payments.
func (p *Payments) Name() string { return "local" }

// StartCheckout implements lobby.Payments.
func (p *Payments) StartCheckout(ctx context.Context, c *lobby.Checkout, consultant *lobby.Consultant) (string, string, error) {
	return c.ID, strings.TrimSuffix(p.BaseURL, "/") + "/checkout/" + c.ID, nil
}

// StartCreditCheckout implements lobby.CreditSeller: credits are bought on the same
// confirm page.
func (p *Payments) StartCreditCheckout(ctx context.Context, c *lobby.CreditCheckout) (string, string, error) {
	return c.ID, strings.TrimSuffix(p.BaseURL, "/") + "/checkout/" + c.ID, nil
}

// ConfirmCheckout implements lobby.CheckoutConfirmer: confirming is paying.
func (p *Payments) ConfirmCheckout(ctx context.Context, subs lobby.SubscriptionService, id, userID string) error {
	return subs.CompleteCheckout(ctx, id, userID)
}

// RenewsItself implements lobby.Payments: there is nothing to collect.
func (p *Payments) RenewsItself() bool { return true }
