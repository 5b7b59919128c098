package stripe_test

import (
	"context"
	"strings"
	"testing"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/storetest"
	lobbystripe "github.com/lobby-dev/lobby/stripe"
)

// TestCheckoutAgainstStripeMock: through stripe-go against stripe-mock, with a real
// store: a paid plan is refused until the owner's payouts are enabled, then sold
// through a Checkout Session; the consultant's Product and the plan's Price are made
// once, and a changed price makes a new Price and supersedes the old.
func TestCheckoutAgainstStripeMock(t *testing.T) {
	url := storetest.StripeMock(t)
	ctx := context.Background()
	db := storetest.SQLite.Open(t)
	svc := db.Services()
	p, err := lobbystripe.New(lobbystripe.Config{SecretKey: "sk_test_123", WebhookSecrets: []string{secret}, APIURL: url,
		PlatformFeePercent: 10, BaseURL: "http://lobby.test"}, svc.PaymentRefs, svc.Auth)
	if err != nil {
		t.Fatal(err)
	}
	_, owner := storetest.SignIn(t, svc.Auth, "owner@example.com")
	_, buyer := storetest.SignIn(t, svc.Auth, "buyer@example.com")
	c := storetest.NewConsultant(owner.ID, "priced")
	freeCap := int64(5)
	c.Plans = []lobby.Plan{{Tier: "starter", PriceCents: 2900, Currency: "usd"}, {Tier: "free", PriceCents: 0, Currency: "usd", MessageCap: &freeCap}}
	_, err = svc.Consultants.CreateConsultant(ctx, c, lobby.ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := func(tier string) (*lobby.Checkout, error) {
		return lobby.StartCheckout(ctx, lobby.StartCheckoutParams{Subscriptions: svc.Subscriptions, Payments: p, Consultant: c,
			UserID: buyer.ID, Tier: tier})
	}

	_, err = start("starter")
	storetest.WantCode(t, err, lobby.ECONFLICT, "payouts")
	link, err := p.OnboardingURL(ctx, owner)
	if err != nil || !strings.HasPrefix(link, "http") {
		t.Fatalf("onboarding link %q, %v", link, err)
	}
	acct, err := svc.PaymentRefs.FindPayoutAccount(ctx, owner.ID)
	if err != nil || acct.Status != lobby.PayoutsPending || !strings.HasPrefix(acct.Ref, "acct_") {
		t.Fatalf("after onboarding started: %+v, %v", acct, err)
	}
	if again, _ := p.OnboardingURL(ctx, owner); again == "" {
		t.Fatal("a second onboarding link")
	}
	if a2, _ := svc.PaymentRefs.FindPayoutAccount(ctx, owner.ID); a2.Ref != acct.Ref {
		t.Fatalf("a second onboarding made another account: %s, then %s", acct.Ref, a2.Ref)
	}
	_, err = start("starter")
	storetest.WantCode(t, err, lobby.ECONFLICT, "payouts") // pending is not enabled

	// Stripe says the account can take charges and pay out.
	ready := &lobby.PaymentEvent{ID: "evt_account_ready", Kind: lobby.AccountChanged, AccountRef: acct.Ref, PayoutsReady: true}
	if _, err := svc.PaymentEvents.TakePaymentEvent(ctx, ready); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PaymentEvents.ApplyPaymentEvent(ctx, ready.ID); err != nil {
		t.Fatal(err)
	}
	chk, err := start("starter")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(chk.ProviderRef, "cs_") || !strings.HasPrefix(chk.URL, "http") || chk.RenewsItself {
		t.Fatalf("checkout: ref %q, url %q, renews itself %v; want a session, its URL, false", chk.ProviderRef, chk.URL, chk.RenewsItself)
	}
	key := lobby.PriceKey{ConsultantID: c.ID, Tier: "starter", PriceCents: 2900, Currency: "usd"}
	price, err := svc.PaymentRefs.FindPriceRef(ctx, key)
	if err != nil || !strings.HasPrefix(price, "price_") {
		t.Fatalf("price ref %q, %v", price, err)
	}
	product, err := svc.PaymentRefs.FindProductRef(ctx, c.ID)
	if err != nil || !strings.HasPrefix(product, "prod_") {
		t.Fatalf("product ref %q, %v", product, err)
	}
	// The free tier needs no payouts of anyone.
	if err := p.CheckSale(ctx, c, lobby.Plan{Tier: "free"}); err != nil {
		t.Fatal(err)
	}

	// The owner raises the price: the next checkout makes a Price for it, and the old
	// one is archived at Stripe. (stripe-mock answers every create with one fixture
	// id, so the refs are told apart by their keys.)
	plans := []lobby.Plan{{Tier: "starter", PriceCents: 3900, Currency: "usd"}}
	if c, _, err = svc.Consultants.UpdateConsultant(ctx, c.ID, lobby.ConsultantUpdate{Plans: &plans}, lobby.ValidateOptions{}); err != nil {
		t.Fatal(err)
	}
	key2 := key
	key2.PriceCents = 3900
	if _, err := svc.PaymentRefs.FindPriceRef(ctx, key2); lobby.ErrorCode(err) != lobby.ENOTFOUND {
		t.Fatalf("a price at 3900 before any checkout for it: %v", err)
	}
	if _, err := start("starter"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PaymentRefs.FindPriceRef(ctx, key2); err != nil {
		t.Fatalf("no price at 3900 after a checkout for it: %v", err)
	}
	if again, _ := svc.PaymentRefs.FindProductRef(ctx, c.ID); again != product {
		t.Fatalf("the product changed from %s to %s", product, again)
	}

	// A free plan asks Stripe nothing, and nothing collects it: its periods renew by
	// themselves.
	plans = append(plans, lobby.Plan{Tier: "free", PriceCents: 0, Currency: "usd", MessageCap: &freeCap})
	if c, _, err = svc.Consultants.UpdateConsultant(ctx, c.ID, lobby.ConsultantUpdate{Plans: &plans}, lobby.ValidateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := start("free"); err != nil {
		t.Fatal(err)
	}
	subs, _, err := svc.Subscriptions.FindSubscriptions(ctx, lobby.SubscriptionFilter{UserID: buyer.ID})
	if err != nil || len(subs) != 1 {
		t.Fatalf("subscriptions %v, %v", subs, err)
	}
	if !subs[0].RenewsItself || subs[0].ProviderRef != "" {
		t.Fatalf("a free plan bought with Stripe: renews itself %v, provider ref %q; want true, none", subs[0].RenewsItself, subs[0].ProviderRef)
	}
}
