package stripe

import (
	"encoding/json"
	"errors"
	"math"
	"time"

	"github.com/lobby-dev/lobby"
	stripe "github.com/stripe/stripe-go/v85"
	"github.com/stripe/stripe-go/v85/webhook"
)

// ReadEvent implements lobby.EventReader: the event must verify with one of the
// webhook secrets within Stripe's 5-minute tolerance, and be of this stripe-go
// release's API version, whose objects it reads.
func (p *Payments) ReadEvent(payload []byte, signature string) (*lobby.PaymentEvent, error) {
	var ev stripe.Event
	err := errors.New("no webhook secret")
	for _, secret := range p.cfg.WebhookSecrets {
		if ev, err = webhook.ConstructEventWithOptions(payload, signature, secret, webhook.ConstructEventOptions{}); err == nil ||
			!errors.Is(err, webhook.ErrNoValidSignature) {
			break
		}
	}
	switch {
	case err == nil:
	case errors.Is(err, webhook.ErrNotSigned), errors.Is(err, webhook.ErrInvalidHeader):
		return nil, lobby.Errorf(lobby.EINVALID, "the Stripe-Signature header is missing or malformed: only Stripe's signed events are taken here")
	case errors.Is(err, webhook.ErrTooOld):
		return nil, lobby.Errorf(lobby.EINVALID, "the event's signature is older than 5 minutes: Stripe sends it again, freshly signed")
	case errors.Is(err, webhook.ErrNoValidSignature):
		return nil, lobby.Errorf(lobby.EINVALID, "the event's signature does not verify with any configured --stripe-webhook-secret")
	default:
		// Signed, but not an event of this API version (or not an event at all).
		return nil, lobby.Errorf(lobby.EINVALID, "the event was signed but cannot be read (%v): set the webhook endpoint's API version to %s",
			err, stripe.APIVersion)
	}
	e := &lobby.PaymentEvent{ID: ev.ID, ProviderType: string(ev.Type), Created: time.Unix(ev.Created, 0).UTC()}
	if ev.ID == "" || ev.Data == nil {
		return nil, lobby.Errorf(lobby.EINVALID, "the event has no id or data")
	}
	var read func(raw json.RawMessage, e *lobby.PaymentEvent) error
	switch ev.Type {
	case "checkout.session.completed", "checkout.session.async_payment_succeeded":
		read = readCheckout
	case "invoice.paid":
		read = func(raw json.RawMessage, e *lobby.PaymentEvent) error {
			if err := readInvoice(raw, e); err != nil {
				return err
			}
			e.Kind, e.FeeCents = lobby.PaidPeriod, p.fee(e.AmountCents) // invoices carry no fee: it is the configured percentage
			return nil
		}
	case "invoice.payment_failed":
		read = func(raw json.RawMessage, e *lobby.PaymentEvent) error {
			err := readInvoice(raw, e)
			e.Kind = lobby.PaymentFailed
			return err
		}
	case "customer.subscription.updated", "customer.subscription.deleted":
		read = readSubscription
	case "account.updated":
		read = readAccount
	case "charge.refunded":
		read = func(raw json.RawMessage, e *lobby.PaymentEvent) error {
			return readRefund(raw, ev.Data.PreviousAttributes, e)
		}
	default:
		return e, nil // not used: Kind ""
	}
	if err := read(ev.Data.Raw, e); err != nil {
		return nil, lobby.Errorf(lobby.EINVALID, "the %s event's object cannot be read: %v", ev.Type, err)
	}
	return e, nil
}

func readCheckout(raw json.RawMessage, e *lobby.PaymentEvent) error {
	var s stripe.CheckoutSession
	if err := json.Unmarshal(raw, &s); err != nil {
		return err
	}
	// A session paid in a way that takes days (a bank debit) is paid only at
	// checkout.session.async_payment_succeeded.
	if s.PaymentStatus == stripe.CheckoutSessionPaymentStatusUnpaid {
		return nil
	}
	e.CheckoutID = s.ClientReferenceID
	if e.CheckoutID == "" {
		e.CheckoutID = s.Metadata["lobby_checkout_id"]
	}
	if e.CheckoutID == "" {
		return nil // a session another integration of the account opened: not used
	}
	e.Kind = lobby.PaidCheckout
	if s.Subscription != nil {
		e.SubscriptionRef = s.Subscription.ID
	}
	if s.Customer != nil {
		e.CustomerRef = s.Customer.ID
	}
	e.AmountCents, e.Currency = s.AmountTotal, string(s.Currency)
	return nil
}

func readInvoice(raw json.RawMessage, e *lobby.PaymentEvent) error {
	var inv stripe.Invoice
	if err := json.Unmarshal(raw, &inv); err != nil {
		return err
	}
	if inv.Parent != nil && inv.Parent.SubscriptionDetails != nil && inv.Parent.SubscriptionDetails.Subscription != nil {
		e.SubscriptionRef = inv.Parent.SubscriptionDetails.Subscription.ID
	}
	if inv.Customer != nil {
		e.CustomerRef = inv.Customer.ID
	}
	e.AmountCents, e.Currency = inv.AmountPaid, string(inv.Currency)
	// The period an invoice pays is its subscription line's; the invoice's own
	// period_start and period_end are the previous period's, for usage billing.
	start, end := inv.PeriodStart, inv.PeriodEnd
	if inv.Lines != nil {
		for _, l := range inv.Lines.Data {
			if l.Period != nil && l.Period.End > l.Period.Start {
				start, end = l.Period.Start, l.Period.End
				break
			}
		}
	}
	e.PeriodStart, e.PeriodEnd = unix(start), unix(end)
	return nil
}

func readSubscription(raw json.RawMessage, e *lobby.PaymentEvent) error {
	var s stripe.Subscription
	if err := json.Unmarshal(raw, &s); err != nil {
		return err
	}
	if s.ID == "" {
		return errors.New("no subscription id")
	}
	e.Kind, e.SubscriptionRef, e.CancelAtPeriodEnd = lobby.SubscriptionChanged, s.ID, s.CancelAtPeriodEnd
	if s.Status == stripe.SubscriptionStatusCanceled || e.ProviderType == "customer.subscription.deleted" {
		e.Kind = lobby.SubscriptionEnded
	}
	if s.Customer != nil {
		e.CustomerRef = s.Customer.ID
	}
	if s.Items != nil && len(s.Items.Data) > 0 {
		it := s.Items.Data[0]
		if it.Price != nil {
			e.PriceRef = it.Price.ID
		}
		e.PeriodStart, e.PeriodEnd = unix(it.CurrentPeriodStart), unix(it.CurrentPeriodEnd)
	}
	return nil
}

func readAccount(raw json.RawMessage, e *lobby.PaymentEvent) error {
	var a stripe.Account
	if err := json.Unmarshal(raw, &a); err != nil {
		return err
	}
	if a.ID == "" {
		return errors.New("no account id")
	}
	e.Kind, e.AccountRef, e.PayoutsReady = lobby.AccountChanged, a.ID, a.ChargesEnabled && a.PayoutsEnabled
	return nil
}

// readRefund reads a refund. A charge's amount_refunded is the total of all its
// refunds, so this refund is what it grew by since the event's previous_attributes;
// the fee refunded is the application fee's share of it.
func readRefund(raw json.RawMessage, previous map[string]any, e *lobby.PaymentEvent) error {
	var c stripe.Charge
	if err := json.Unmarshal(raw, &c); err != nil {
		return err
	}
	if c.ID == "" {
		return errors.New("no charge id")
	}
	refunded := c.AmountRefunded
	if before, ok := previous["amount_refunded"].(float64); ok && int64(before) <= refunded {
		refunded -= int64(before)
	}
	e.Kind, e.AmountCents, e.Currency = lobby.ChargeRefunded, refunded, string(c.Currency)
	if c.Amount > 0 {
		e.FeeCents = int64(math.Round(float64(c.ApplicationFeeAmount) * float64(refunded) / float64(c.Amount)))
	}
	if c.Customer != nil {
		e.CustomerRef = c.Customer.ID // the charge names its customer, not its subscription
	}
	return nil
}

// unix is a Unix time as UTC, or the zero time for 0.
func unix(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}
