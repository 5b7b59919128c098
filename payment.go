package lobby

import (
	"context"
	"time"
)

// Payout account statuses, as GET /api/v1/consultants/{slug}/payouts reports them.
const (
	PayoutsNone    = "none"    // the owner has not started onboarding
	PayoutsPending = "pending" // onboarding started; the provider has not enabled charges and payouts
	PayoutsEnabled = "enabled" // charges reach the owner's account
)

// PayoutAccount is where a consultant owner's earnings go: one account at the payment
// provider per owner, shared by all their consultants.
type PayoutAccount struct {
	UserID    string
	Ref       string // the provider's account id
	Status    string // PayoutsPending or PayoutsEnabled
	UpdatedAt time.Time
}

// PriceKey names a recurring price a provider keeps for one plan of a consultant: a
// changed price is a new key, and so a new price at the provider.
type PriceKey struct {
	ConsultantID string
	Tier         string
	PriceCents   int64
	Currency     string
}

// PaymentRefService keeps what a payment provider made for Lobby's objects, so that it
// is made once: a product per consultant, a price per plan, an account per owner.
type PaymentRefService interface {
	// FindProductRef returns the provider's product for a consultant, or ENOTFOUND.
	FindProductRef(ctx context.Context, consultantID string) (string, error)
	// SaveProductRef records ref unless another was recorded first, and returns the
	// one that stands.
	SaveProductRef(ctx context.Context, consultantID, ref string) (string, error)

	// FindPriceRef returns the provider's price for k, or ENOTFOUND.
	FindPriceRef(ctx context.Context, k PriceKey) (string, error)
	// SavePriceRef records ref for k unless another was recorded first, and returns
	// the one that stands and the refs of the consultant's tier at other prices, which
	// the provider can archive: no new checkout uses them.
	SavePriceRef(ctx context.Context, k PriceKey, ref string) (standing string, superseded []string, err error)

	// FindPayoutAccount returns userID's payout account, or ENOTFOUND.
	FindPayoutAccount(ctx context.Context, userID string) (*PayoutAccount, error)
	// SavePayoutAccount records a pending account for userID unless one was recorded
	// first, and returns the one that stands.
	SavePayoutAccount(ctx context.Context, userID, ref string) (*PayoutAccount, error)
}

// Payouts is a payment provider that pays consultant owners: Stripe Connect.
type Payouts interface {
	// OnboardingURL returns where the owner sets up (or finishes setting up) their
	// payout account, making the account first when they have none.
	OnboardingURL(ctx context.Context, owner *User) (string, error)
}

// SaleChecker is a payment provider that may refuse to sell a plan, such as Stripe
// for a consultant whose owner cannot be paid. StartCheckout asks before it opens a
// checkout.
type SaleChecker interface {
	// CheckSale returns ECONFLICT, saying why, when plan of c cannot be bought now.
	CheckSale(ctx context.Context, c *Consultant, plan Plan) error
}

// Kinds of PaymentEvent: what a provider's signed event means to Lobby.
const (
	// PaidCheckout: a checkout was paid (CheckoutID; for a subscription,
	// SubscriptionRef, CustomerRef and the first period).
	PaidCheckout = "checkout_paid"
	// PaidPeriod: a subscription's period was paid (SubscriptionRef, the period,
	// AmountCents, FeeCents): the period starts with usage at zero.
	PaidPeriod = "period_paid"
	// PaymentFailed: collecting a subscription's period failed (SubscriptionRef).
	PaymentFailed = "payment_failed"
	// SubscriptionChanged: the provider changed a subscription's price or
	// cancel-at-period-end (SubscriptionRef, PriceRef, CancelAtPeriodEnd).
	SubscriptionChanged = "subscription_changed"
	// SubscriptionEnded: the subscription ended (SubscriptionRef).
	SubscriptionEnded = "subscription_ended"
	// AccountChanged: a payout account changed (AccountRef, PayoutsReady).
	AccountChanged = "account_changed"
	// ChargeRefunded: money went back to a buyer (SubscriptionRef, AmountCents,
	// FeeCents as positive amounts refunded).
	ChargeRefunded = "charge_refunded"
)

// PaymentEvent is a provider's signed event, read into what Lobby acts on. Ids,
// amounts and periods come from the event's own object, never from reading it back.
type PaymentEvent struct {
	ID           string // the provider's event id: each has its effect once
	Kind         string // one of the kinds above, or "" for an event Lobby does not use
	ProviderType string // the provider's own name for it, for the log
	CheckoutID   string // Lobby's chk_ id

	SubscriptionRef   string
	CustomerRef       string
	AccountRef        string
	PriceRef          string
	PeriodStart       time.Time
	PeriodEnd         time.Time
	AmountCents       int64
	FeeCents          int64
	Currency          string
	CancelAtPeriodEnd bool
	PayoutsReady      bool // charges and payouts both enabled
	Created           time.Time
}

// EventReader is a payment provider that reports payments by signed events, as
// Stripe's webhook does.
type EventReader interface {
	// ReadEvent verifies payload's signature, given in the provider's signature
	// header, and reads it. A bad or stale signature is EINVALID, saying which.
	ReadEvent(payload []byte, signature string) (*PaymentEvent, error)
}

// PaymentEventService keeps a provider's signed events and has each one's effect once,
// however often and however concurrently it arrives.
type PaymentEventService interface {
	// TakePaymentEvent stores e and queues the job that applies it, in one
	// transaction. It reports false, changing nothing, for an event id it already has.
	TakePaymentEvent(ctx context.Context, e *PaymentEvent) (taken bool, err error)

	// ApplyPaymentEvent has the stored event's effect and records, in the same
	// transaction, that it was applied; applying it again changes nothing. It returns
	// what the event did, for the log. An event about a subscription the store does
	// not know yet (its checkout's event is still on its way) is EUNAVAILABLE, to be
	// tried again later; one that can never apply (an unknown checkout or account) is
	// applied as doing nothing, and says so.
	ApplyPaymentEvent(ctx context.Context, id string) (outcome string, err error)
}

// Earnings is a month of a consultant's money in one currency, from the ledger of
// every charge and refund: GrossCents - FeeCents = NetCents.
type Earnings struct {
	Period     string `json:"period"` // "2026-12", UTC
	Currency   string `json:"currency"`
	GrossCents int64  `json:"gross_cents"`
	FeeCents   int64  `json:"fee_cents"`
	NetCents   int64  `json:"net_cents"`
	Charges    int    `json:"charges"` // charges counted, refunds not
}

// EarningsMonths is how many months of earnings are reported, the current one included.
const EarningsMonths = 24

// EarningsService reads the ledger the payment events write.
type EarningsService interface {
	// FindEarnings returns the consultant's earnings of the last EarningsMonths
	// months, newest first, a month and currency an entry.
	FindEarnings(ctx context.Context, consultantID string) ([]Earnings, error)
}
