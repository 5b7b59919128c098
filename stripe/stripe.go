// Package stripe is the Stripe payment provider: Checkout Sessions for subscriptions,
// Connect Express accounts for the owners' payouts with the platform's fee kept, and
// Stripe's signed events read into lobby.PaymentEvent. It speaks to Stripe only
// through the official stripe-go client, and never reads an object back: what Lobby
// needs is in the signed event's own object.
package stripe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/lobby-dev/lobby"
	stripe "github.com/stripe/stripe-go/v85"
)

// Config is how Lobby reaches its Stripe account.
type Config struct {
	SecretKey string
	// WebhookSecrets are the signing secrets of the endpoints that send events here:
	// an event that verifies with any of them is taken.
	WebhookSecrets []string
	// APIURL is Stripe's API, or a server that speaks it such as stripe-mock; "" is
	// Stripe's own.
	APIURL string
	// PlatformFeePercent is the platform's share of each charge.
	PlatformFeePercent float64
	// BaseURL is Lobby's public URL, for the pages Stripe sends people back to.
	BaseURL    string
	HTTPClient *http.Client // nil for stripe-go's own
	Logger     *slog.Logger
}

// Users finds a user by id: the buyer's email goes to Checkout, the owner's to Connect.
type Users interface {
	FindUserByID(ctx context.Context, id string) (*lobby.User, error)
}

// Payments is the Stripe provider.
type Payments struct {
	cfg    Config
	client *stripe.Client
	refs   lobby.PaymentRefService
	users  Users
	log    *slog.Logger
}

var (
	_ lobby.Payments     = (*Payments)(nil)
	_ lobby.SaleChecker  = (*Payments)(nil)
	_ lobby.Payouts      = (*Payments)(nil)
	_ lobby.CreditSeller = (*Payments)(nil)
	_ lobby.EventReader  = (*Payments)(nil)
	_ lobby.Canceler     = (*Payments)(nil)
	_ lobby.PlanChanger  = (*Payments)(nil)
)

// New returns the provider, or an error naming the setting that is missing.
func New(cfg Config, refs lobby.PaymentRefService, users Users) (*Payments, error) {
	if cfg.SecretKey == "" {
		return nil, errors.New("stripe: --stripe-secret-key is required")
	}
	if len(cfg.WebhookSecrets) == 0 {
		return nil, errors.New("stripe: --stripe-webhook-secret is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.BaseURL = strings.TrimSuffix(cfg.BaseURL, "/")
	bc := &stripe.BackendConfig{HTTPClient: cfg.HTTPClient, MaxNetworkRetries: stripe.Int64(2),
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull}}
	if cfg.APIURL != "" {
		bc.URL = stripe.String(strings.TrimSuffix(cfg.APIURL, "/"))
	}
	backends := &stripe.Backends{
		API:         stripe.GetBackendWithConfig(stripe.APIBackend, bc),
		Connect:     stripe.GetBackendWithConfig(stripe.ConnectBackend, bc),
		Uploads:     stripe.GetBackendWithConfig(stripe.UploadsBackend, bc),
		MeterEvents: stripe.GetBackendWithConfig(stripe.MeterEventsBackend, bc),
	}
	return &Payments{cfg: cfg, client: stripe.NewClient(cfg.SecretKey, stripe.WithBackends(backends)), refs: refs, users: users,
		log: cfg.Logger}, nil
}

// Name implements lobby.Payments.
func (p *Payments) Name() string { return "stripe" }

// RenewsItself implements lobby.Payments: Stripe collects each period, and says so.
func (p *Payments) RenewsItself() bool { return false }

// CheckSale implements lobby.SaleChecker: a paid plan is sold only when its owner can
// be paid.
func (p *Payments) CheckSale(ctx context.Context, c *lobby.Consultant, plan lobby.Plan) error {
	if plan.PriceCents == 0 {
		return nil
	}
	a, err := p.refs.FindPayoutAccount(ctx, c.OwnerID)
	if err != nil && lobby.ErrorCode(err) != lobby.ENOTFOUND {
		return err
	}
	if a == nil || a.Status != lobby.PayoutsEnabled {
		return lobby.Errorf(lobby.ECONFLICT, "%s cannot take payments yet: its owner has not finished setting up payouts. Try again later", c.Slug)
	}
	return nil
}

// StartCheckout implements lobby.Payments: a Checkout Session in subscription mode for
// the plan's price, paid to the owner's account less the platform's fee.
func (p *Payments) StartCheckout(ctx context.Context, c *lobby.Checkout, consultant *lobby.Consultant) (string, string, error) {
	buyer, err := p.users.FindUserByID(ctx, c.UserID)
	if err != nil {
		return "", "", err
	}
	account, err := p.refs.FindPayoutAccount(ctx, consultant.OwnerID)
	if err != nil {
		return "", "", err
	}
	price, err := p.price(ctx, consultant, c.Plan)
	if err != nil {
		return "", "", err
	}
	params := &stripe.CheckoutSessionCreateParams{
		Mode:              stripe.String(string(stripe.CheckoutSessionModeSubscription)),
		LineItems:         []*stripe.CheckoutSessionCreateLineItemParams{{Price: stripe.String(price), Quantity: stripe.Int64(1)}},
		ClientReferenceID: stripe.String(c.ID),
		CustomerEmail:     stripe.String(buyer.Email),
		SuccessURL:        stripe.String(p.cfg.BaseURL + "/checkout/" + c.ID),
		CancelURL:         stripe.String(p.cfg.BaseURL + "/consultants/" + consultant.Slug),
		Metadata:          map[string]string{"lobby_checkout_id": c.ID},
		// The session ends with Lobby's checkout, never after it.
		ExpiresAt: stripe.Int64(c.ExpiresAt.Unix()),
		SubscriptionData: &stripe.CheckoutSessionCreateSubscriptionDataParams{
			ApplicationFeePercent: stripe.Float64(p.cfg.PlatformFeePercent),
			TransferData:          &stripe.CheckoutSessionCreateSubscriptionDataTransferDataParams{Destination: stripe.String(account.Ref)},
			Metadata:              map[string]string{"lobby_checkout_id": c.ID},
		},
	}
	params.SetIdempotencyKey("checkout-" + c.ID)
	s, err := p.client.V1CheckoutSessions.Create(ctx, params)
	if err != nil {
		return "", "", upstream("open a Checkout Session", err)
	}
	return s.ID, s.URL, nil
}

// StartCreditCheckout implements lobby.CreditSeller: a Checkout Session in payment
// mode for the amount, paid to the platform, which holds credits until they are spent
// and earned by the consultants' owners (the earnings ledger).
func (p *Payments) StartCreditCheckout(ctx context.Context, c *lobby.CreditCheckout) (string, string, error) {
	buyer, err := p.users.FindUserByID(ctx, c.UserID)
	if err != nil {
		return "", "", err
	}
	params := &stripe.CheckoutSessionCreateParams{
		Mode: stripe.String(string(stripe.CheckoutSessionModePayment)),
		LineItems: []*stripe.CheckoutSessionCreateLineItemParams{{
			PriceData: &stripe.CheckoutSessionCreateLineItemPriceDataParams{
				Currency:    stripe.String(c.Currency),
				UnitAmount:  stripe.Int64(c.AmountCents),
				ProductData: &stripe.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripe.String("Lobby credits")},
			},
			Quantity: stripe.Int64(1),
		}},
		ClientReferenceID: stripe.String(c.ID),
		CustomerEmail:     stripe.String(buyer.Email),
		SuccessURL:        stripe.String(p.cfg.BaseURL + "/checkout/" + c.ID),
		CancelURL:         stripe.String(p.cfg.BaseURL + "/"),
		Metadata:          map[string]string{"lobby_checkout_id": c.ID, "lobby_kind": "credits"},
		ExpiresAt:         stripe.Int64(c.ExpiresAt.Unix()),
	}
	params.SetIdempotencyKey("checkout-" + c.ID)
	s, err := p.client.V1CheckoutSessions.Create(ctx, params)
	if err != nil {
		return "", "", upstream("open a Checkout Session for credits", err)
	}
	return s.ID, s.URL, nil
}

// price returns the Stripe Price of plan, making it (and the consultant's Product)
// the first time. A plan whose price changed gets a new Price; the old ones are
// archived, and subscribers on them keep them until they change tier.
func (p *Payments) price(ctx context.Context, c *lobby.Consultant, plan lobby.Plan) (string, error) {
	key := lobby.PriceKey{ConsultantID: c.ID, Tier: plan.Tier, PriceCents: plan.PriceCents, Currency: plan.Currency}
	if ref, err := p.refs.FindPriceRef(ctx, key); err == nil || lobby.ErrorCode(err) != lobby.ENOTFOUND {
		return ref, err
	}
	product, err := p.product(ctx, c)
	if err != nil {
		return "", err
	}
	params := &stripe.PriceCreateParams{
		Product:    stripe.String(product),
		Currency:   stripe.String(plan.Currency),
		UnitAmount: stripe.Int64(plan.PriceCents),
		Nickname:   stripe.String(plan.Tier),
		Recurring:  &stripe.PriceCreateRecurringParams{Interval: stripe.String(string(stripe.PriceRecurringIntervalMonth))},
		Metadata:   map[string]string{"lobby_consultant_id": c.ID, "lobby_tier": plan.Tier},
	}
	pr, err := p.client.V1Prices.Create(ctx, params)
	if err != nil {
		return "", upstream("make the plan's Price", err)
	}
	standing, superseded, err := p.refs.SavePriceRef(ctx, key, pr.ID)
	if err != nil {
		return "", err
	}
	if standing != pr.ID {
		superseded = append(superseded, pr.ID) // another instance made it first
	}
	for _, old := range superseded {
		if _, err := p.client.V1Prices.Update(ctx, old, &stripe.PriceUpdateParams{Active: stripe.Bool(false)}); err != nil {
			p.log.Warn("stripe: could not archive a superseded price; archive it in the dashboard", "price", old, "err", err)
		}
	}
	return standing, nil
}

// product returns the consultant's Stripe Product, making it the first time.
func (p *Payments) product(ctx context.Context, c *lobby.Consultant) (string, error) {
	if ref, err := p.refs.FindProductRef(ctx, c.ID); err == nil || lobby.ErrorCode(err) != lobby.ENOTFOUND {
		return ref, err
	}
	params := &stripe.ProductCreateParams{Name: stripe.String(c.Name), Metadata: map[string]string{"lobby_consultant_id": c.ID}}
	if c.Tagline != "" {
		params.Description = stripe.String(c.Tagline)
	}
	params.SetIdempotencyKey("product-" + c.ID)
	pr, err := p.client.V1Products.Create(ctx, params)
	if err != nil {
		return "", upstream("make the consultant's Product", err)
	}
	return p.refs.SaveProductRef(ctx, c.ID, pr.ID)
}

// OnboardingURL implements lobby.Payouts: the owner's Express account, made once, and
// an Account Link into its onboarding.
func (p *Payments) OnboardingURL(ctx context.Context, owner *lobby.User) (string, error) {
	a, err := p.refs.FindPayoutAccount(ctx, owner.ID)
	if lobby.ErrorCode(err) == lobby.ENOTFOUND {
		params := &stripe.AccountCreateParams{Type: stripe.String(string(stripe.AccountTypeExpress)), Email: stripe.String(owner.Email),
			Metadata: map[string]string{"lobby_user_id": owner.ID}}
		params.SetIdempotencyKey("account-" + owner.ID)
		acct, cerr := p.client.V1Accounts.Create(ctx, params)
		if cerr != nil {
			return "", upstream("make the payout account", cerr)
		}
		a, err = p.refs.SavePayoutAccount(ctx, owner.ID, acct.ID)
	}
	if err != nil {
		return "", err
	}
	link, err := p.client.V1AccountLinks.Create(ctx, &stripe.AccountLinkCreateParams{
		Account:    stripe.String(a.Ref),
		Type:       stripe.String("account_onboarding"),
		RefreshURL: stripe.String(p.cfg.BaseURL + "/dashboard"),
		ReturnURL:  stripe.String(p.cfg.BaseURL + "/dashboard"),
	})
	if err != nil {
		return "", upstream("open the payout onboarding", err)
	}
	return link.URL, nil
}

// CancelAtPeriodEnd implements lobby.Canceler.
func (p *Payments) CancelAtPeriodEnd(ctx context.Context, ref string, cancel bool) error {
	if _, err := p.client.V1Subscriptions.Update(ctx, ref, &stripe.SubscriptionUpdateParams{CancelAtPeriodEnd: stripe.Bool(cancel)}); err != nil {
		if cancel {
			return upstream("cancel the subscription", err)
		}
		return upstream("resume the subscription", err)
	}
	return nil
}

// ChangePlan implements lobby.PlanChanger: the subscription's one item moves to the
// plan's Price. An upgrade is charged at once for the rest of the period, and refused,
// changing nothing, when the card is declined; a downgrade is billed from the next
// period on.
func (p *Payments) ChangePlan(ctx context.Context, ref string, c *lobby.Consultant, plan lobby.Plan, prorate bool) error {
	price, err := p.price(ctx, c, plan)
	if err != nil {
		return err
	}
	sub, err := p.client.V1Subscriptions.Retrieve(ctx, ref, nil)
	if err != nil {
		return upstream("read the subscription", err)
	}
	if sub.Items == nil || len(sub.Items.Data) != 1 {
		return lobby.Errorf(lobby.ECONFLICT, "the subscription at Stripe does not hold one price; change it in the Stripe dashboard")
	}
	params := &stripe.SubscriptionUpdateParams{
		Items:             []*stripe.SubscriptionUpdateItemParams{{ID: stripe.String(sub.Items.Data[0].ID), Price: stripe.String(price)}},
		ProrationBehavior: stripe.String("none"),
	}
	if prorate {
		params.ProrationBehavior = stripe.String("always_invoice")
		params.PaymentBehavior = stripe.String("error_if_incomplete")
	}
	if _, err := p.client.V1Subscriptions.Update(ctx, ref, params); err != nil {
		return upstream("change the subscription's plan", err)
	}
	return nil
}

// fee is the platform's share of amount, in the smallest unit, rounded half up.
func (p *Payments) fee(amount int64) int64 {
	return lobby.PlatformFee(amount, p.cfg.PlatformFeePercent)
}

// upstream reports a failed call to Stripe in words a user can act on; Stripe's own
// message (never a key) goes to the log by the caller's renderer.
func upstream(what string, err error) error {
	var se *stripe.Error
	if errors.As(err, &se) && se.Type == stripe.ErrorTypeCard {
		return fmt.Errorf("stripe: %s: %w", what, lobby.Errorf(lobby.EPAYMENT, "the card was declined (%s): update it with Stripe and try again", se.Msg))
	}
	if errors.As(err, &se) && se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 && se.HTTPStatusCode != http.StatusTooManyRequests {
		return fmt.Errorf("stripe: %s: %w", what, lobby.Errorf(lobby.EUPSTREAM, "Stripe refused to %s: %s", what, se.Msg))
	}
	return fmt.Errorf("stripe: %s: %w", what, lobby.Errorf(lobby.EUPSTREAM, "Stripe did not answer when asked to %s; try again in a minute", what))
}
