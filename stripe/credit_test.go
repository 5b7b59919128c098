package stripe_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/storetest"
	lobbystripe "github.com/lobby-dev/lobby/stripe"
	"github.com/lobby-dev/lobby/stripe/stripetest"
)

// TestCreditsAgainstStripeMock: credits are sold in a payment-mode Checkout Session
// paid to the platform, and its signed checkout.session.completed adds them once; a
// per-message plan is subscribed to without asking Stripe anything.
func TestCreditsAgainstStripeMock(t *testing.T) {
	rec, apiURL := stripetest.Record(t, storetest.StripeMock(t))
	ctx := context.Background()
	db := storetest.SQLite.Open(t)
	svc := db.Services()
	p, err := lobbystripe.New(lobbystripe.Config{SecretKey: "sk_test_123", WebhookSecrets: []string{secret}, APIURL: apiURL,
		PlatformFeePercent: 10, BaseURL: "http://lobby.test"}, svc.PaymentRefs, svc.Auth)
	if err != nil {
		t.Fatal(err)
	}
	_, buyer := storetest.SignIn(t, svc.Auth, "buyer@example.com")

	_, err = lobby.BuyCredits(ctx, svc.Credits, p, buyer.ID, 50)
	storetest.WantCode(t, err, lobby.EINVALID, "amount_cents")
	if s := rec.Take(); len(s) != 0 {
		t.Fatalf("a refused amount reached Stripe: %+v", s)
	}
	c, err := lobby.BuyCredits(ctx, svc.Credits, p, buyer.ID, 1500)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.ProviderRef, "cs_") || !strings.HasPrefix(c.URL, "http") {
		t.Fatalf("purchase: ref %q, url %q; want a session and its URL", c.ProviderRef, c.URL)
	}
	s := rec.Take()
	if len(s) != 1 || s[0].Method != "POST" || s[0].Path != "/v1/checkout/sessions" {
		t.Fatalf("sent %+v, want one POST /v1/checkout/sessions", s)
	}
	for k, want := range map[string]string{
		"mode": "payment", "client_reference_id": c.ID, "metadata[lobby_checkout_id]": c.ID, "metadata[lobby_kind]": "credits",
		"customer_email": "buyer@example.com", "line_items[0][price_data][unit_amount]": "1500",
		"line_items[0][price_data][currency]": "usd", "line_items[0][quantity]": "1",
		"success_url": "http://lobby.test/checkout/" + c.ID, "expires_at": strconv.FormatInt(c.ExpiresAt.Unix(), 10),
	} {
		if got := s[0].Form.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	// The platform holds credits until they are spent: no destination, no fee.
	for k := range s[0].Form {
		if strings.Contains(k, "transfer_data") || strings.Contains(k, "application_fee") {
			t.Errorf("a credits session sends %s", k)
		}
	}
	if s[0].IdempotencyKey != "checkout-"+c.ID {
		t.Errorf("Idempotency-Key %q", s[0].IdempotencyKey)
	}

	// The signed event, read and applied twice, adds the credits once.
	payload := stripetest.Event("evt_credits_paid", "checkout.session.completed", map[string]any{"id": c.ProviderRef, "object": "checkout.session",
		"mode": "payment", "payment_status": "paid", "client_reference_id": c.ID, "amount_total": 1500, "currency": "usd"})
	e, err := p.ReadEvent(payload, stripetest.Sign(payload, secret, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if e.Kind != lobby.PaidCheckout || e.CheckoutID != c.ID {
		t.Fatalf("read as %+v", e)
	}
	if _, err := svc.PaymentEvents.TakePaymentEvent(ctx, e); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := svc.PaymentEvents.ApplyPaymentEvent(ctx, e.ID); err != nil {
			t.Fatal(err)
		}
	}
	if b, _ := svc.Credits.FindBalance(ctx, buyer.ID); b.BalanceCents != 1500 {
		t.Fatalf("balance %d, want 1500", b.BalanceCents)
	}

	// A per-message plan of an owner who can be paid: born complete, Stripe not asked.
	_, owner := storetest.SignIn(t, svc.Auth, "owner@example.com")
	consultant := storetest.NewConsultant(owner.ID, "payg")
	consultant.Plans = []lobby.Plan{{Tier: "payg", Per: lobby.PerMessage, PriceCents: 25, Currency: "usd"}}
	if _, err := svc.Consultants.CreateConsultant(ctx, consultant, lobby.ValidateOptions{}); err != nil {
		t.Fatal(err)
	}
	start := func() (*lobby.Checkout, error) {
		return lobby.StartCheckout(ctx, lobby.StartCheckoutParams{Subscriptions: svc.Subscriptions, Payments: p, Consultant: consultant,
			UserID: buyer.ID, Tier: "payg", BaseURL: "http://lobby.test"})
	}
	_, err = start()
	storetest.WantCode(t, err, lobby.ECONFLICT, "payouts") // its owner earns from each message
	if _, err := p.OnboardingURL(ctx, owner); err != nil {
		t.Fatal(err)
	}
	acct, _ := svc.PaymentRefs.FindPayoutAccount(ctx, owner.ID)
	ready := &lobby.PaymentEvent{ID: "evt_ready", Kind: lobby.AccountChanged, AccountRef: acct.Ref, PayoutsReady: true}
	if _, err := svc.PaymentEvents.TakePaymentEvent(ctx, ready); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PaymentEvents.ApplyPaymentEvent(ctx, ready.ID); err != nil {
		t.Fatal(err)
	}
	rec.Take()
	chk, err := start()
	if err != nil {
		t.Fatal(err)
	}
	if chk.Status != lobby.CheckoutComplete || chk.URL != "http://lobby.test/checkout/"+chk.ID {
		t.Fatalf("a per-message checkout: %+v", chk)
	}
	if s := rec.Take(); len(s) != 0 {
		t.Fatalf("a per-message plan asked Stripe %+v", s)
	}
	res, err := svc.Subscriptions.FindCheckout(ctx, buyer.ID, chk.ID)
	if err != nil || res.Subscription == nil || !res.Subscription.RenewsItself || res.Subscription.Per != lobby.PerMessage {
		t.Fatalf("its subscription %+v, %v; want one that renews itself, per message", res.Subscription, err)
	}
}
