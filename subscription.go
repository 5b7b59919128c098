package lobby

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Checkout statuses.
const (
	CheckoutOpen     = "open"
	CheckoutComplete = "complete"
	CheckoutExpired  = "expired"
)

// Subscription statuses.
const (
	SubscriptionActive   = "active"   // messages may be sent
	SubscriptionCanceled = "canceled" // ended at the end of a period after a cancel
	// SubscriptionPastDue: the provider could not collect the period. The buyer still
	// holds the subscription and reads its conversations, but sends nothing until a
	// later payment goes through.
	SubscriptionPastDue = "past_due"
)

// CheckoutTTL is how long a checkout stays open.
const CheckoutTTL = 24 * time.Hour

// MaxOpenCheckouts is how many checkouts one user may have open at once.
const MaxOpenCheckouts = 10

// SubscriptionPeriod is the length of a billing period.
const SubscriptionPeriod = 30 * 24 * time.Hour

// Checkout is a buyer's payment for a tier of a consultant, open until paid or expired.
type Checkout struct {
	ID             string `json:"id"`
	Status         string `json:"status"`
	ConsultantID   string `json:"-"`
	UserID         string `json:"-"`
	Plan           Plan   `json:"-"`
	Provider       string `json:"-"`
	ProviderRef    string `json:"-"`
	URL            string `json:"-"`
	SubscriptionID string `json:"-"`
	// RenewsItself is the provider's: see Subscription.RenewsItself.
	RenewsItself bool      `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// StatusAt returns the checkout's status at now: an open checkout past its expiry is
// expired.
func (c *Checkout) StatusAt(now time.Time) string {
	if c.Status == CheckoutOpen && !now.Before(c.ExpiresAt) {
		return CheckoutExpired
	}
	return c.Status
}

// Held reports whether the subscription still belongs to its buyer: active, or past
// due until the provider collects.
func (s Subscription) Held() bool {
	return s.Status == SubscriptionActive || s.Status == SubscriptionPastDue
}

// Subscription is a buyer's access to one consultant at one tier: the seed's "access
// grant". Its buyer token is stored only as a hash.
type Subscription struct {
	ID                string `json:"id"`
	UserID            string `json:"-"`
	ConsultantID      string `json:"-"`
	Tier              string `json:"tier"`
	PriceCents        int64  `json:"price_cents"`
	Currency          string `json:"currency"`
	Status            string `json:"status"`
	CancelAtPeriodEnd bool   `json:"cancel_at_period_end"`
	MessageCap        *int64 `json:"message_cap"`
	// Per is the plan's: PerMessage when each message is paid from credits.
	Per          string    `json:"per,omitempty"`
	MessagesUsed int64     `json:"messages_used"`
	PeriodStart  time.Time `json:"period_start"`
	PeriodEnd    time.Time `json:"period_end"`
	// RenewsItself is set when the subscription's provider has nothing to collect, as
	// local payments: each period then renews by itself at its end. Otherwise only the
	// provider renews it, when it has been paid.
	RenewsItself bool `json:"-"`
	// ProviderRef is the provider's id of a subscription it collects, "" for one it
	// does not (local payments).
	ProviderRef string `json:"-"`
	// PendingPlan is the smaller plan the buyer moves to when the period ends.
	PendingPlan *Plan     `json:"pending_plan"`
	CreatedAt   time.Time `json:"created_at"`
}

// At returns the subscription as it stands at now: an active subscription whose period
// has ended has ended when it was canceled, or else renews for the periods that have
// passed, with usage starting again from zero, when it renews by itself. One whose
// provider renews it stays as it is until the provider says.
func (s Subscription) At(now time.Time) Subscription {
	if s.Status != SubscriptionActive || now.Before(s.PeriodEnd) {
		return s
	}
	if s.CancelAtPeriodEnd {
		s.Status = SubscriptionCanceled
		return s
	}
	if !s.RenewsItself {
		return s
	}
	n := now.Sub(s.PeriodStart) / SubscriptionPeriod
	s.PeriodStart = s.PeriodStart.Add(n * SubscriptionPeriod)
	s.PeriodEnd = s.PeriodStart.Add(SubscriptionPeriod)
	return s.NewPeriod()
}

// EndsAt returns when the subscription ends, or ended, and false while it goes on:
// a canceled one ends at the end of its period, as At has it.
func (s Subscription) EndsAt() (time.Time, bool) {
	if s.Status == SubscriptionCanceled || s.CancelAtPeriodEnd {
		return s.PeriodEnd, true
	}
	return time.Time{}, false
}

// NewPeriod returns the subscription as a period starts: usage at zero, and the plan
// a downgrade waited for taking over.
func (s Subscription) NewPeriod() Subscription {
	s.MessagesUsed = 0
	if p := s.PendingPlan; p != nil {
		s.Tier, s.PriceCents, s.Currency, s.MessageCap, s.PendingPlan = p.Tier, p.PriceCents, p.Currency, p.MessageCap, nil
	}
	return s
}

// Plan returns the plan the subscription is on.
func (s Subscription) Plan() Plan {
	return Plan{Tier: s.Tier, PriceCents: s.PriceCents, Currency: s.Currency, MessageCap: s.MessageCap, Per: s.Per}
}

// How a subscription moves to another plan of its consultant.
const (
	// PlanUpgrade takes effect at once: to a plan that costs more a period, or as much
	// with more messages, and any move to or from a per-message plan. A provider that
	// bills the period charges the rest of its difference.
	PlanUpgrade = "upgrade"
	// PlanDowngrade takes effect when the period ends: the buyer keeps what it paid for.
	PlanDowngrade = "downgrade"
	// PlanKeep, to the plan the subscription is on, takes back a pending downgrade.
	PlanKeep = "keep"
)

// ChangeTo returns how the subscription moves to plan, or ECONFLICT saying why it
// cannot.
func (s Subscription) ChangeTo(plan Plan) (string, error) {
	switch {
	case plan.Tier == s.Tier:
		return PlanKeep, nil
	case plan.Currency != s.Currency:
		return "", Errorf(ECONFLICT, "%s is priced in %s and this subscription in %s: cancel it (DELETE /api/v1/subscriptions/%s) "+
			"and subscribe to %s when it ends", plan.Tier, plan.Currency, s.Currency, s.ID, plan.Tier)
	case plan.PerMessage() || s.Per == PerMessage:
		return PlanUpgrade, nil
	case plan.PriceCents > s.PriceCents || plan.PriceCents == s.PriceCents && moreMessages(plan.MessageCap, s.MessageCap):
		return PlanUpgrade, nil
	}
	return PlanDowngrade, nil
}

// moreMessages reports whether cap a allows more messages than cap b; nil is no cap.
func moreMessages(a, b *int64) bool {
	return b != nil && (a == nil || *a > *b)
}

// QuotaExceeded is the refusal of a message over the subscription's cap: it says when
// the cap resets and names what gets more messages now, the consultant's plans an
// upgrade reaches.
func (s Subscription) QuotaExceeded(plans []Plan, now time.Time) *Error {
	var more []string
	perMessage := false
	for _, p := range plans {
		if c, err := s.ChangeTo(p); err == nil && c == PlanUpgrade && moreMessages(p.MessageCap, s.MessageCap) {
			more = append(more, p.Tier)
			perMessage = perMessage || p.PerMessage()
		}
	}
	msg := fmt.Sprintf("this subscription's %d messages for the period are used; more can be sent from %s", *s.MessageCap,
		s.PeriodEnd.Format("2006-01-02 15:04 MST"))
	if len(more) > 0 {
		msg += fmt.Sprintf(", or at once on %s: POST /api/v1/subscriptions/%s/plan {\"tier\": \"%s\"} with your user token",
			strings.Join(more, " or "), s.ID, more[0])
		if perMessage {
			msg += "; per-message plans are paid from credits, bought at POST /api/v1/credits/checkout"
		}
	}
	e := Errorf(EQUOTA, "%s", msg)
	e.RetryAfter = s.PeriodEnd.Sub(now)
	return e
}

// ErrPastDuePlanChange refuses a plan change while the period's payment has failed.
func ErrPastDuePlanChange() error {
	return Errorf(EPAYMENT, "the payment for this subscription's period failed: pay the open invoice, or update the card, before changing plan")
}

// PlanChanger is a payment provider that bills each period itself, and so must be
// told when a buyer changes plan: Stripe.
type PlanChanger interface {
	// ChangePlan moves the provider's subscription ref to plan of c: at once, charging
	// the rest of the period's difference now (prorate), or from the next period on.
	ChangePlan(ctx context.Context, ref string, c *Consultant, plan Plan, prorate bool) error
}

// ChangePlanParams is a buyer's wish to move its subscription to another tier.
type ChangePlanParams struct {
	Subscriptions SubscriptionService
	Consultants   ConsultantService
	Payments      Payments
	UserID        string
	ID            string // the subscription
	Tier          string
}

// ChangePlan moves the buyer's subscription to another of its consultant's plans: an
// upgrade at once, a downgrade at the period's end, and the plan it is on takes back a
// pending downgrade. A provider that bills the period is told first, as a cancel is,
// so that the buyer is charged for what it holds: when the store fails after the
// provider took the change, the provider's own event records it.
func ChangePlan(ctx context.Context, p ChangePlanParams) (*Subscription, error) {
	sub, err := p.Subscriptions.FindSubscription(ctx, p.UserID, p.ID)
	if err != nil {
		return nil, err
	}
	switch sub.Status {
	case SubscriptionActive:
	case SubscriptionPastDue:
		return nil, ErrPastDuePlanChange()
	default:
		return nil, Errorf(ECONFLICT, "subscription %s has ended; subscribe again", sub.ID)
	}
	c, err := p.Consultants.FindConsultantByID(ctx, sub.ConsultantID)
	if err != nil {
		return nil, err
	}
	plan, err := c.Plan(p.Tier)
	if err != nil {
		return nil, err
	}
	change, err := sub.ChangeTo(*plan)
	if err != nil {
		return nil, err
	}
	if change == PlanKeep {
		// The plan the buyer holds, as it bought it: the owner may have repriced it since.
		*plan = sub.Plan()
	}
	if sub.ProviderRef != "" && (change != PlanKeep || sub.PendingPlan != nil) {
		changer, ok := p.Payments.(PlanChanger)
		switch {
		case !ok:
			return nil, Errorf(ECONFLICT, "this subscription is billed by a payment provider that takes no plan changes here: cancel it and subscribe to %s when it ends", plan.Tier)
		case plan.PerMessage():
			return nil, Errorf(ECONFLICT, "a subscription billed each period cannot move to the per-message plan %s yet: cancel it "+
				"(DELETE /api/v1/subscriptions/%s) and subscribe to %s when it ends", plan.Tier, sub.ID, plan.Tier)
		}
		if err := changer.ChangePlan(ctx, sub.ProviderRef, c, *plan, change == PlanUpgrade); err != nil {
			return nil, err
		}
	} else if change == PlanUpgrade && !plan.PerMessage() && plan.PriceCents > 0 && !p.Payments.RenewsItself() {
		// Nothing bills this subscription yet (a free or per-message plan): the
		// provider must first be paid, which only a checkout does.
		return nil, Errorf(ECONFLICT, "%s is paid each period, and this subscription has no payment on file: cancel it "+
			"(DELETE /api/v1/subscriptions/%s) and subscribe to %s when it ends", plan.Tier, sub.ID, plan.Tier)
	}
	return p.Subscriptions.ChangePlan(ctx, p.UserID, p.ID, *plan, change)
}

// CheckoutResult is a checkout as its buyer reads it, with the buyer token on the first
// read after completion only.
type CheckoutResult struct {
	Checkout     *Checkout
	Subscription *Subscription
	BuyerToken   string
	// Credits is set instead of Checkout for a purchase of credits, with the
	// user's Balance once it is paid.
	Credits *CreditCheckout
	Balance *Balance
}

// SubscriptionService keeps checkouts and subscriptions.
type SubscriptionService interface {
	// CreateCheckout opens a checkout for c.UserID to subscribe to c.ConsultantID at the
	// tier in c.Plan.Tier, copying the plan's price and cap. Returns EINVALID for a tier
	// the consultant does not offer, ECONFLICT when the user already holds an active
	// subscription to that consultant, when it is archived, or when the user has
	// MaxOpenCheckouts open.
	CreateCheckout(ctx context.Context, c *Checkout) error

	// SetCheckoutProvider records where the payment provider takes the buyer.
	SetCheckoutProvider(ctx context.Context, id, ref, url string) error

	// FindCheckout returns the checkout of userID with the given id. Other users'
	// checkouts are ENOTFOUND. The first read after completion carries the buyer token.
	FindCheckout(ctx context.Context, userID, id string) (*CheckoutResult, error)

	// CompleteCheckout marks a checkout paid and creates its subscription. A userID
	// other than "" must be the checkout's buyer's (a payment provider's webhook passes
	// ""). Completing a complete checkout again changes nothing; neither reveals the
	// buyer token. Returns ENOTFOUND, ECONFLICT when it has expired or the user already
	// holds an active subscription to the consultant.
	CompleteCheckout(ctx context.Context, id, userID string) error

	// FindSubscriptions lists userID's subscriptions, newest first.
	FindSubscriptions(ctx context.Context, f SubscriptionFilter) ([]*Subscription, string, error)

	// FindSubscription returns userID's subscription; others' are ENOTFOUND.
	FindSubscription(ctx context.Context, userID, id string) (*Subscription, error)

	// FindHeldSubscription returns the subscription userID holds now (active or past
	// due) to consultantID, or ENOTFOUND.
	FindHeldSubscription(ctx context.Context, userID, consultantID string) (*Subscription, error)

	// RotateBuyerToken gives userID's subscription a new buyer token; the old one stops
	// working at once. Returns ENOTFOUND, ECONFLICT when the subscription has ended.
	RotateBuyerToken(ctx context.Context, userID, id string) (token string, err error)

	// CancelSubscription ends userID's subscription at the end of its period.
	CancelSubscription(ctx context.Context, userID, id string) (*Subscription, error)

	// ResumeSubscription takes back a cancel before the period ends: the subscription
	// renews again. Returns ENOTFOUND, ECONFLICT when it has ended.
	ResumeSubscription(ctx context.Context, userID, id string) (*Subscription, error)

	// ChangePlan moves userID's subscription to plan as change says (see ChangeTo):
	// at once, at the period's end, or taking back a pending move. Returns ENOTFOUND,
	// ECONFLICT when it has ended, EPAYMENT when it is past due.
	ChangePlan(ctx context.Context, userID, id string, plan Plan, change string) (*Subscription, error)
}

// SubscriptionFilter selects a user's subscriptions.
type SubscriptionFilter struct {
	UserID string
	Limit  int
	Cursor string
}

// Payments is a payment provider: it takes a buyer from a checkout to a paid subscription.
type Payments interface {
	// Name is the provider's name, as --payments takes it.
	Name() string
	// StartCheckout prepares the payment of c and returns the provider's reference and
	// the URL where the buyer pays.
	StartCheckout(ctx context.Context, c *Checkout, consultant *Consultant) (ref, url string, err error)
	// RenewsItself reports whether subscriptions bought through the provider renew by
	// themselves at each period's end, having nothing to collect (local payments). A
	// provider that collects renews each period itself once it is paid.
	RenewsItself() bool
}

// CheckoutConfirmer is a payment provider whose buyers confirm a checkout on Lobby's own
// page instead of paying elsewhere: the local provider. The API and the pages offer
// the confirm step only for such a provider; any other completes checkouts by telling
// Lobby they were paid.
type CheckoutConfirmer interface {
	Payments
	// ConfirmCheckout completes userID's checkout as paid: SubscriptionService's
	// CompleteCheckout, with its errors.
	ConfirmCheckout(ctx context.Context, subs SubscriptionService, id, userID string) error
}

// StartCheckoutParams is a buyer's wish to subscribe, and who takes it.
type StartCheckoutParams struct {
	Subscriptions SubscriptionService
	Payments      Payments
	Consultant    *Consultant
	UserID        string // the buyer
	Tier          string // one of the consultant's plans
	BaseURL       string // this server's public URL, for the page of a checkout with nothing to pay
}

// StartCheckout opens a checkout for the buyer and hands it to the payment provider. It
// returns the checkout with the URL where the buyer pays, the provider's refusal to
// sell (SaleChecker), or CreateCheckout's errors.
func StartCheckout(ctx context.Context, p StartCheckoutParams) (*Checkout, error) {
	plan, err := p.Consultant.Plan(p.Tier)
	if err != nil {
		return nil, err
	}
	if sc, ok := p.Payments.(SaleChecker); ok {
		if err := sc.CheckSale(ctx, p.Consultant, *plan); err != nil {
			return nil, err
		}
	}
	// A free or per-message plan collects nothing by the period: its periods renew by
	// themselves, and each message on a per-message plan is paid from credits.
	c := &Checkout{UserID: p.UserID, ConsultantID: p.Consultant.ID, Provider: p.Payments.Name(), Plan: Plan{Tier: p.Tier},
		RenewsItself: p.Payments.RenewsItself() || plan.PerMessage() || plan.PriceCents == 0}
	if err := p.Subscriptions.CreateCheckout(ctx, c); err != nil {
		return nil, err
	}
	if _, confirms := p.Payments.(CheckoutConfirmer); c.Plan.PerMessage() || c.Plan.PriceCents == 0 && !confirms {
		// Nothing to collect now: the provider is not asked, and the checkout is
		// born complete; its first read carries the buyer token.
		if err := p.Subscriptions.CompleteCheckout(ctx, c.ID, c.UserID); err != nil {
			return nil, err
		}
		c.Status, c.URL = CheckoutComplete, strings.TrimSuffix(p.BaseURL, "/")+"/checkout/"+c.ID
		return c, p.Subscriptions.SetCheckoutProvider(ctx, c.ID, "", c.URL)
	}
	ref, url, err := p.Payments.StartCheckout(ctx, c, p.Consultant)
	if err != nil {
		return nil, err
	}
	c.ProviderRef, c.URL = ref, url
	return c, p.Subscriptions.SetCheckoutProvider(ctx, c.ID, ref, url)
}

// Usage is what a subscription has used of its period, as GET /api/v1/usage and every
// chat answer report it.
type Usage struct {
	Tier         string    `json:"tier"`
	Status       string    `json:"status"`
	MessageCap   *int64    `json:"message_cap"`
	MessagesUsed int64     `json:"messages_used"`
	PeriodEnd    time.Time `json:"period_end"`
	// CreditsCents is the user's balance, on a per-message plan only.
	CreditsCents *int64 `json:"credits_cents,omitempty"`
}

// Usage returns the subscription's usage.
func (s Subscription) Usage() Usage {
	return Usage{Tier: s.Tier, Status: s.Status, MessageCap: s.MessageCap, MessagesUsed: s.MessagesUsed, PeriodEnd: s.PeriodEnd}
}

// Usage notice thresholds, in per cent of a cap.
const (
	UsageWarning = 85
	UsageFull    = 100
)

// UsageNotice returns the threshold that the message taking usage from used-1 to used
// crosses, 0 for none. Usage only grows within a period, so each threshold is crossed
// once a period; a message that crosses both is one notice, of the cap reached.
func UsageNotice(cap *int64, used int64) int {
	if cap == nil || *cap <= 0 || used <= 0 {
		return 0
	}
	crossed := func(pct int64) bool { return used*100 >= pct**cap && (used-1)*100 < pct**cap }
	switch {
	case crossed(UsageFull):
		return UsageFull
	case crossed(UsageWarning):
		return UsageWarning
	}
	return 0
}

// Canceler is a payment provider that collects each period by itself, and so must be
// told when a buyer cancels, or takes a cancel back: Stripe.
type Canceler interface {
	// CancelAtPeriodEnd sets whether the provider's subscription ref stops renewing.
	CancelAtPeriodEnd(ctx context.Context, ref string, cancel bool) error
}

// CancelSubscription ends userID's subscription at its period's end (cancel) or takes
// that back (!cancel), telling its provider first, so that a buyer who cancels is
// never charged again: when the store fails after the provider took it, the
// provider's own event records the change.
func CancelSubscription(ctx context.Context, subs SubscriptionService, payments Payments, userID, id string, cancel bool) (*Subscription, error) {
	sub, err := subs.FindSubscription(ctx, userID, id)
	if err != nil {
		return nil, err
	}
	if !sub.Held() {
		return nil, Errorf(ECONFLICT, "subscription %s has ended; subscribe again", id)
	}
	if c, ok := payments.(Canceler); ok && sub.ProviderRef != "" && sub.CancelAtPeriodEnd != cancel {
		if err := c.CancelAtPeriodEnd(ctx, sub.ProviderRef, cancel); err != nil {
			return nil, err
		}
	}
	if cancel {
		return subs.CancelSubscription(ctx, userID, id)
	}
	return subs.ResumeSubscription(ctx, userID, id)
}
