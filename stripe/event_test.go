package stripe_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/storetest"
	lobbystripe "github.com/lobby-dev/lobby/stripe"
	"github.com/lobby-dev/lobby/stripe/stripetest"
	stripe "github.com/stripe/stripe-go/v85"
)

const (
	secret      = "whsec_test_account"
	otherSecret = "whsec_test_connect"
)

// newReader returns a provider that takes events signed with either secret; reading
// events needs no Stripe.
func newReader(t *testing.T) *lobbystripe.Payments {
	t.Helper()
	p, err := lobbystripe.New(lobbystripe.Config{SecretKey: "sk_test_x", WebhookSecrets: []string{secret, otherSecret},
		PlatformFeePercent: 10, BaseURL: "http://lobby.test"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	Event = stripetest.Event
	Sign  = stripetest.Sign
)

func TestReadEvent(t *testing.T) {
	p := newReader(t)
	jan, feb := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	invoice := map[string]any{"id": "in_1", "object": "invoice", "amount_paid": 2900, "currency": "usd", "customer": "cus_1",
		"period_start": jan.AddDate(0, -1, 0).Unix(), "period_end": jan.Unix(),
		"parent": map[string]any{"type": "subscription_details", "subscription_details": map[string]any{"subscription": "sub_1"}},
		"lines":  map[string]any{"object": "list", "data": []any{map[string]any{"id": "il_1", "period": map[string]any{"start": jan.Unix(), "end": feb.Unix()}}}}}
	for _, tc := range []struct {
		name, typ string
		object    map[string]any
		want      lobby.PaymentEvent
	}{
		{"CheckoutCompleted", "checkout.session.completed", map[string]any{"id": "cs_1", "object": "checkout.session", "mode": "subscription",
			"client_reference_id": "chk_1", "subscription": "sub_1", "customer": "cus_1", "amount_total": 2900, "currency": "usd"},
			lobby.PaymentEvent{Kind: lobby.PaidCheckout, CheckoutID: "chk_1", SubscriptionRef: "sub_1", CustomerRef: "cus_1", AmountCents: 2900, Currency: "usd"}},
		{"CheckoutFromMetadata", "checkout.session.completed", map[string]any{"id": "cs_2", "object": "checkout.session",
			"metadata": map[string]any{"lobby_checkout_id": "chk_2"}},
			lobby.PaymentEvent{Kind: lobby.PaidCheckout, CheckoutID: "chk_2"}},
		// The period is the subscription line's, not the invoice's own (the month before).
		{"InvoicePaid", "invoice.paid", invoice, lobby.PaymentEvent{Kind: lobby.PaidPeriod, SubscriptionRef: "sub_1", CustomerRef: "cus_1",
			PeriodStart: jan, PeriodEnd: feb, AmountCents: 2900, FeeCents: 290, Currency: "usd"}},
		{"InvoicePaymentFailed", "invoice.payment_failed", invoice, lobby.PaymentEvent{Kind: lobby.PaymentFailed, SubscriptionRef: "sub_1",
			CustomerRef: "cus_1", PeriodStart: jan, PeriodEnd: feb, AmountCents: 2900, Currency: "usd"}},
		{"SubscriptionUpdated", "customer.subscription.updated", map[string]any{"id": "sub_1", "object": "subscription", "status": "active",
			"cancel_at_period_end": true, "items": map[string]any{"object": "list", "data": []any{map[string]any{"id": "si_1",
				"price": map[string]any{"id": "price_2"}, "current_period_start": jan.Unix(), "current_period_end": feb.Unix()}}}},
			lobby.PaymentEvent{Kind: lobby.SubscriptionChanged, SubscriptionRef: "sub_1", PriceRef: "price_2", CancelAtPeriodEnd: true,
				PeriodStart: jan, PeriodEnd: feb}},
		{"SubscriptionDeleted", "customer.subscription.deleted", map[string]any{"id": "sub_1", "object": "subscription", "status": "canceled"},
			lobby.PaymentEvent{Kind: lobby.SubscriptionEnded, SubscriptionRef: "sub_1"}},
		{"AccountReady", "account.updated", map[string]any{"id": "acct_1", "object": "account", "charges_enabled": true, "payouts_enabled": true},
			lobby.PaymentEvent{Kind: lobby.AccountChanged, AccountRef: "acct_1", PayoutsReady: true}},
		{"AccountHalfReady", "account.updated", map[string]any{"id": "acct_1", "object": "account", "charges_enabled": true, "payouts_enabled": false},
			lobby.PaymentEvent{Kind: lobby.AccountChanged, AccountRef: "acct_1"}},
		{"ChargeRefunded", "charge.refunded", map[string]any{"id": "ch_1", "object": "charge", "amount": 2000, "amount_refunded": 1000, "application_fee_amount": 200, "currency": "usd", "customer": "cus_1"},
			lobby.PaymentEvent{Kind: lobby.ChargeRefunded, CustomerRef: "cus_1", AmountCents: 1000, FeeCents: 100, Currency: "usd"}},
		{"AsyncPaymentSucceeded", "checkout.session.async_payment_succeeded", map[string]any{"id": "cs_3", "object": "checkout.session",
			"client_reference_id": "chk_3", "payment_status": "paid"},
			lobby.PaymentEvent{Kind: lobby.PaidCheckout, CheckoutID: "chk_3"}},
		// Paid by a bank debit still on its way: used at async_payment_succeeded.
		{"CheckoutUnpaid", "checkout.session.completed", map[string]any{"id": "cs_4", "object": "checkout.session",
			"client_reference_id": "chk_4", "payment_status": "unpaid"}, lobby.PaymentEvent{}},
		{"CheckoutOfAnotherIntegration", "checkout.session.completed", map[string]any{"id": "cs_5", "object": "checkout.session"}, lobby.PaymentEvent{}},
		{"NotUsed", "customer.created", map[string]any{"id": "cus_1", "object": "customer"}, lobby.PaymentEvent{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := Event("evt_"+tc.name, tc.typ, tc.object)
			got, err := p.ReadEvent(payload, Sign(payload, secret, time.Now()))
			if err != nil {
				t.Fatal(err)
			}
			tc.want.ID, tc.want.ProviderType, tc.want.Created = "evt_"+tc.name, tc.typ, time.Unix(1767225600, 0).UTC()
			if *got != tc.want {
				t.Fatalf("read\n %+v\nwant\n %+v", *got, tc.want)
			}
		})
	}
}

// TestReadEventRefuses: only an event Stripe signed with a configured secret, within
// five minutes, of this API version and with a readable object is taken.
func TestReadEventRefuses(t *testing.T) {
	p := newReader(t)
	good := Event("evt_1", "account.updated", map[string]any{"id": "acct_1", "object": "account"})
	if _, err := p.ReadEvent(good, Sign(good, otherSecret, time.Now())); err != nil {
		t.Fatalf("signed with the second secret: %v", err)
	}
	oldVersion := []byte(strings.Replace(string(good), stripe.APIVersion, "2024-06-20", 1))
	for _, tc := range []struct {
		name, signature string
		payload         []byte
		says            string
	}{
		{"Unsigned", "", good, "missing"},
		{"Garbled", "nonsense", good, "malformed"},
		{"WrongSecret", Sign(good, "whsec_someone_else", time.Now()), good, "does not verify"},
		{"Tampered", Sign(good, secret, time.Now()), []byte(strings.Replace(string(good), "acct_1", "acct_2", 1)), "does not verify"},
		{"Stale", Sign(good, secret, time.Now().Add(-6*time.Minute)), good, "older than 5 minutes"},
		{"OtherAPIVersion", Sign(oldVersion, secret, time.Now()), oldVersion, stripe.APIVersion},
		{"NotJSON", Sign([]byte("{"), secret, time.Now()), []byte("{"), "cannot be read"},
		{"AccountWithoutID", "", Event("evt_3", "account.updated", map[string]any{"object": "account"}), "no account id"},
		{"BadObject", "", Event("evt_4", "invoice.paid", map[string]any{"id": "in_1", "amount_paid": "lots"}), "cannot be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sig := tc.signature
			if sig == "" && tc.name != "Unsigned" {
				sig = Sign(tc.payload, secret, time.Now())
			}
			e, err := p.ReadEvent(tc.payload, sig)
			storetest.WantCode(t, err, lobby.EINVALID, tc.says)
			if e != nil {
				t.Fatalf("refused, yet read %+v", e)
			}
			if strings.Contains(lobby.ErrorMessage(err), secret) {
				t.Fatalf("the refusal shows the secret: %v", err)
			}
		})
	}
}

func TestNewNeedsKeys(t *testing.T) {
	if _, err := lobbystripe.New(lobbystripe.Config{WebhookSecrets: []string{secret}}, nil, nil); err == nil || !strings.Contains(err.Error(), "--stripe-secret-key") {
		t.Errorf("no key: %v", err)
	}
	if _, err := lobbystripe.New(lobbystripe.Config{SecretKey: "sk_test_x"}, nil, nil); err == nil || !strings.Contains(err.Error(), "--stripe-webhook-secret") {
		t.Errorf("no webhook secret: %v", err)
	}
}

// TestReadSecondRefund: a charge's amount_refunded is the total of its refunds, so a
// second partial refund is what it grew by, with its share of the fee.
func TestReadSecondRefund(t *testing.T) {
	p := newReader(t)
	payload, _ := json.Marshal(map[string]any{"id": "evt_r2", "object": "event", "type": "charge.refunded", "api_version": stripe.APIVersion,
		"created": 1767225600, "data": map[string]any{
			"object":              map[string]any{"id": "ch_1", "object": "charge", "amount": 2000, "amount_refunded": 1500, "application_fee_amount": 200, "currency": "usd", "customer": "cus_1"},
			"previous_attributes": map[string]any{"amount_refunded": 1000}}})
	e, err := p.ReadEvent(payload, Sign(payload, secret, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	if e.AmountCents != 500 || e.FeeCents != 50 {
		t.Fatalf("second refund: %d refunded, %d fee; want 500 and 50", e.AmountCents, e.FeeCents)
	}
}
