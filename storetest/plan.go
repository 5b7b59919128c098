package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lobby-dev/lobby"
)

// testPlanChange: a buyer at its cap is refused with the way to more messages, upgrades,
// and sends on in the same conversation, the messages already sent still counted; a
// downgrade waits for the period's end, choosing the current tier takes it back, and
// a renewal puts the smaller plan in place with usage at zero.
func testPlanChange(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	c, owner, buyer := tieredConsultant(t, st, "tiers")
	small, big := *c.Plans[0].MessageCap, *c.Plans[1].MessageCap
	var err error
	sub, _ := Subscribe(t, st.Subscriptions, buyer.ID, c.ID, "small")
	send := func() (*lobby.Exchange, error) {
		return st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, Content: "hello"})
	}
	var first *lobby.Exchange
	for range small {
		first, err = send()
		must(t, err)
	}
	_, err = send()
	WantCode(t, err, lobby.EQUOTA, "POST /api/v1/subscriptions/"+sub.ID+"/plan", `"big"`)

	_, err = st.Subscriptions.ChangePlan(ctx, owner.ID, sub.ID, c.Plans[1], lobby.PlanUpgrade)
	WantCode(t, err, lobby.ENOTFOUND) // another user's subscription
	up, err := st.Subscriptions.ChangePlan(ctx, buyer.ID, sub.ID, c.Plans[1], lobby.PlanUpgrade)
	must(t, err)
	if up.Tier != "big" || up.PriceCents != 2900 || *up.MessageCap != big || up.MessagesUsed != small || up.PendingPlan != nil {
		t.Fatalf("after the upgrade: %+v, want big with the %d messages sent counted", up, small)
	}
	ex, err := send()
	must(t, err)
	if ex.Conversation.ID != first.Conversation.ID || ex.Usage.MessagesUsed != small+1 || *ex.Usage.MessageCap != big {
		t.Fatalf("the send after the upgrade: conversation %s (was %s), usage %+v", ex.Conversation.ID, first.Conversation.ID, ex.Usage)
	}

	// Down to small at the period's end; until then big holds.
	down, err := st.Subscriptions.ChangePlan(ctx, buyer.ID, sub.ID, c.Plans[0], lobby.PlanDowngrade)
	must(t, err)
	if down.Tier != "big" || down.PendingPlan == nil || down.PendingPlan.Tier != "small" || *down.PendingPlan.MessageCap != small {
		t.Fatalf("after the downgrade: %+v, pending %+v; want big now, small pending", down, down.PendingPlan)
	}
	got, err := st.Subscriptions.FindSubscription(ctx, buyer.ID, sub.ID)
	must(t, err)
	if got.PendingPlan == nil || got.PendingPlan.Tier != "small" || got.PendingPlan.PriceCents != 900 || got.PendingPlan.Currency != "usd" {
		t.Fatalf("read back: pending %+v", got.PendingPlan)
	}
	kept, err := st.Subscriptions.ChangePlan(ctx, buyer.ID, sub.ID, up.Plan(), lobby.PlanKeep)
	must(t, err)
	if kept.Tier != "big" || kept.PendingPlan != nil {
		t.Fatalf("after keeping big: %+v, pending %+v", kept, kept.PendingPlan)
	}
	_, err = st.Subscriptions.ChangePlan(ctx, buyer.ID, sub.ID, c.Plans[0], lobby.PlanDowngrade)
	must(t, err)

	// The period ends: small takes over, usage starts again, and its cap holds.
	st.Clock.Add(lobby.SubscriptionPeriod + time.Hour)
	got, err = st.Subscriptions.FindSubscription(ctx, buyer.ID, sub.ID)
	must(t, err)
	if got.Tier != "small" || got.PriceCents != 900 || *got.MessageCap != small || got.MessagesUsed != 0 || got.PendingPlan != nil {
		t.Fatalf("read in the next period: %+v, pending %+v; want small, none used, none pending", got, got.PendingPlan)
	}
	for range small {
		_, err = send()
		must(t, err)
	}
	_, err = send()
	WantCode(t, err, lobby.EQUOTA)
	got, err = st.Subscriptions.FindSubscription(ctx, buyer.ID, sub.ID)
	must(t, err)
	if got.Tier != "small" || got.PendingPlan != nil || got.MessagesUsed != small {
		t.Fatalf("written in the next period: %+v, pending %+v", got, got.PendingPlan)
	}

	// An ended subscription changes no more.
	_, err = st.Subscriptions.CancelSubscription(ctx, buyer.ID, sub.ID)
	must(t, err)
	st.Clock.Add(lobby.SubscriptionPeriod)
	_, err = st.Subscriptions.ChangePlan(ctx, buyer.ID, sub.ID, c.Plans[1], lobby.PlanUpgrade)
	WantCode(t, err, lobby.ECONFLICT, "ended")
}

// testPlanChangeEvents: with a provider that bills the period, a downgrade is pending
// while the provider's price update for it arrives, and takes over with the invoice of
// the next period; a tier changed in the provider's portal takes effect at once.
func testPlanChangeEvents(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	c, _, buyer := tieredConsultant(t, st, "billed")
	small, big := *c.Plans[0].MessageCap, *c.Plans[1].MessageCap
	chk := &lobby.Checkout{UserID: buyer.ID, ConsultantID: c.ID, Plan: lobby.Plan{Tier: "big"}, Provider: "stripe"}
	must(t, st.Subscriptions.CreateCheckout(ctx, chk))
	for _, k := range []lobby.PriceKey{{ConsultantID: c.ID, Tier: "small", PriceCents: 900, Currency: "usd"},
		{ConsultantID: c.ID, Tier: "big", PriceCents: 2900, Currency: "usd"}} {
		_, _, err := st.PaymentRefs.SavePriceRef(ctx, k, "price_"+k.Tier)
		must(t, err)
	}
	apply := func(e *lobby.PaymentEvent) string {
		t.Helper()
		_, err := st.PaymentEvents.TakePaymentEvent(ctx, e)
		must(t, err)
		outcome, err := st.PaymentEvents.ApplyPaymentEvent(ctx, e.ID)
		must(t, err)
		return outcome
	}
	now := st.Clock.Now()
	apply(&lobby.PaymentEvent{ID: "evt_paid", Kind: lobby.PaidCheckout, CheckoutID: chk.ID, SubscriptionRef: "sub_billed", CustomerRef: "cus_1"})
	subs, _, err := st.Subscriptions.FindSubscriptions(ctx, lobby.SubscriptionFilter{UserID: buyer.ID})
	must(t, err)
	sub := subs[0]
	_, err = st.Subscriptions.ChangePlan(ctx, buyer.ID, sub.ID, c.Plans[0], lobby.PlanDowngrade)
	must(t, err)
	if out := apply(&lobby.PaymentEvent{ID: "evt_updated", Kind: lobby.SubscriptionChanged, SubscriptionRef: "sub_billed", PriceRef: "price_small"}); !strings.Contains(out, "next period") {
		t.Fatalf("the provider's update for the downgrade: %q", out)
	}
	got, err := st.Subscriptions.FindSubscription(ctx, buyer.ID, sub.ID)
	must(t, err)
	if got.Tier != "big" || got.PendingPlan == nil || got.PendingPlan.Tier != "small" {
		t.Fatalf("after the provider's update: %+v, pending %+v; want big, small pending", got, got.PendingPlan)
	}
	next := now.Add(lobby.SubscriptionPeriod)
	apply(&lobby.PaymentEvent{ID: "evt_invoice", Kind: lobby.PaidPeriod, SubscriptionRef: "sub_billed", PeriodStart: next,
		PeriodEnd: next.Add(lobby.SubscriptionPeriod), AmountCents: 900, Currency: "usd"})
	got, err = st.Subscriptions.FindSubscription(ctx, buyer.ID, sub.ID)
	must(t, err)
	if got.Tier != "small" || *got.MessageCap != small || got.PendingPlan != nil || got.PeriodStart.Sub(next).Abs() > time.Second {
		t.Fatalf("after the next period's invoice: %+v, pending %+v; want small from %s", got, got.PendingPlan, next)
	}
	// Changed in the provider's portal: at once.
	apply(&lobby.PaymentEvent{ID: "evt_portal", Kind: lobby.SubscriptionChanged, SubscriptionRef: "sub_billed", PriceRef: "price_big"})
	got, err = st.Subscriptions.FindSubscription(ctx, buyer.ID, sub.ID)
	must(t, err)
	if got.Tier != "big" || *got.MessageCap != big || got.PendingPlan != nil {
		t.Fatalf("after a change in the portal: %+v", got)
	}
}

// tieredConsultant lists a consultant with a small plan (900 cents, 2 messages) and a
// big one (2900 cents, 50 messages), and returns it with its owner and a buyer, both
// signed in.
func tieredConsultant(t *testing.T, st *Store, slug string) (c *lobby.Consultant, owner, buyer *lobby.User) {
	t.Helper()
	_, owner = SignIn(t, st.Auth, "owner@example.com")
	_, buyer = SignIn(t, st.Auth, "buyer@example.com")
	c = NewConsultant(owner.ID, slug)
	small, big := int64(2), int64(50)
	c.Plans = []lobby.Plan{{Tier: "small", PriceCents: 900, Currency: "usd", MessageCap: &small},
		{Tier: "big", PriceCents: 2900, Currency: "usd", MessageCap: &big}}
	_, err := st.Consultants.CreateConsultant(context.Background(), c, lobby.ValidateOptions{})
	must(t, err)
	return c, owner, buyer
}
