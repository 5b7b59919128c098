package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lobby-dev/lobby"
)

// paidSetup lists a consultant with a capped plan and opens a buyer's checkout for it,
// as a provider that collects (Stripe) would.
func paidSetup(t *testing.T, st *Store, slug string) (buyer *lobby.User, checkout *lobby.Checkout) {
	t.Helper()
	ctx := context.Background()
	_, owner := SignIn(t, st.Auth, "owner-"+slug+"@example.com")
	c := NewConsultant(owner.ID, slug)
	cap := int64(3)
	c.Plans = []lobby.Plan{{Tier: "small", PriceCents: 900, Currency: "usd", MessageCap: &cap}}
	_, err := st.Consultants.CreateConsultant(ctx, c, lobby.ValidateOptions{})
	must(t, err)
	_, buyer = SignIn(t, st.Auth, "buyer-"+slug+"@example.com")
	checkout = &lobby.Checkout{UserID: buyer.ID, ConsultantID: c.ID, Plan: lobby.Plan{Tier: "small"}, Provider: "stripe"}
	must(t, st.Subscriptions.CreateCheckout(ctx, checkout))
	return buyer, checkout
}

// takeAndApply takes e and applies it, as the webhook and its job do.
func takeAndApply(t *testing.T, st *Store, e *lobby.PaymentEvent) (string, error) {
	t.Helper()
	ctx := context.Background()
	taken, err := st.PaymentEvents.TakePaymentEvent(ctx, e)
	must(t, err)
	if !taken {
		t.Fatalf("event %s was not taken the first time", e.ID)
	}
	return st.PaymentEvents.ApplyPaymentEvent(ctx, e.ID)
}

// subscriptionOf returns the buyer's only subscription.
func subscriptionOf(t *testing.T, st *Store, userID string) *lobby.Subscription {
	t.Helper()
	subs, _, err := st.Subscriptions.FindSubscriptions(context.Background(), lobby.SubscriptionFilter{UserID: userID})
	must(t, err)
	if len(subs) != 1 {
		t.Fatalf("%d subscriptions, want 1", len(subs))
	}
	return subs[0]
}

func testPaymentEvents(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	clock := st.Clock
	buyer, chk := paidSetup(t, st, "paid")
	send := func(text string) error {
		_, err := st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: subscriptionOf(t, st, buyer.ID).ID, Content: text})
		return err
	}
	period := func(from time.Time) (time.Time, time.Time) { return from, from.AddDate(0, 1, 0) }

	// The first period's invoice is paid before the checkout's event arrives: it waits.
	start, end := period(clock.Now())
	early := &lobby.PaymentEvent{ID: "evt_invoice_1", Kind: lobby.PaidPeriod, SubscriptionRef: "sub_1", PeriodStart: start, PeriodEnd: end,
		AmountCents: 900, Currency: "usd"}
	_, err := takeAndApply(t, st, early)
	WantCode(t, err, lobby.EUNAVAILABLE, "sub_1")

	outcome, err := takeAndApply(t, st, &lobby.PaymentEvent{ID: "evt_checkout", Kind: lobby.PaidCheckout, CheckoutID: chk.ID,
		SubscriptionRef: "sub_1", CustomerRef: "cus_1", AmountCents: 900, Currency: "usd"})
	must(t, err)
	if !strings.Contains(outcome, "completed") {
		t.Fatalf("checkout event: %q", outcome)
	}
	res, err := st.Subscriptions.FindCheckout(ctx, buyer.ID, chk.ID)
	must(t, err)
	if res.Checkout.Status != lobby.CheckoutComplete || res.BuyerToken == "" || res.Subscription.RenewsItself {
		t.Fatalf("after the checkout's event: status %s, token %q, renews itself %v; want complete, a token, false",
			res.Checkout.Status, res.BuyerToken, res.Subscription.RenewsItself)
	}
	// The waiting invoice now applies; a message sent since still counts.
	must(t, send("first"))
	_, err = st.PaymentEvents.ApplyPaymentEvent(ctx, early.ID)
	must(t, err)
	if sub := subscriptionOf(t, st, buyer.ID); sub.MessagesUsed != 1 || !sub.PeriodEnd.Equal(end) {
		t.Fatalf("after the first invoice: used %d, period end %s; want 1, %s", sub.MessagesUsed, sub.PeriodEnd, end)
	}

	// The next period's payment fails: sending answers payment required, reading works.
	clock.Add(31 * 24 * time.Hour)
	_, err = takeAndApply(t, st, &lobby.PaymentEvent{ID: "evt_failed", Kind: lobby.PaymentFailed, SubscriptionRef: "sub_1"})
	must(t, err)
	sub := subscriptionOf(t, st, buyer.ID)
	if sub.Status != lobby.SubscriptionPastDue {
		t.Fatalf("after a failed payment: status %s, want past_due", sub.Status)
	}
	WantCode(t, send("while past due"), lobby.EPAYMENT, "pay")
	if _, err := st.Auth.Authenticate(ctx, res.BuyerToken); err != nil {
		t.Fatalf("a past-due buyer token no longer authenticates: %v", err)
	}
	if _, _, err := st.Chat.FindConversations(ctx, lobby.ConversationFilter{SubscriptionID: sub.ID}); err != nil {
		t.Fatal(err)
	}
	// A past-due buyer may still cancel, and take it back.
	got, err := st.Subscriptions.CancelSubscription(ctx, buyer.ID, sub.ID)
	must(t, err)
	if !got.CancelAtPeriodEnd {
		t.Fatal("cancelling a past-due subscription did not set cancel at period end")
	}
	got, err = st.Subscriptions.ResumeSubscription(ctx, buyer.ID, sub.ID)
	must(t, err)
	if got.CancelAtPeriodEnd || subscriptionOf(t, st, buyer.ID).CancelAtPeriodEnd {
		t.Fatal("resuming left the cancel in place")
	}
	// Nor may the buyer open a second subscription to the same consultant meanwhile.
	again := &lobby.Checkout{UserID: buyer.ID, ConsultantID: chk.ConsultantID, Plan: lobby.Plan{Tier: "small"}, Provider: "stripe"}
	WantCode(t, st.Subscriptions.CreateCheckout(ctx, again), lobby.ECONFLICT)

	// A later payment of the next period: active again, usage back to zero.
	start2, end2 := period(end)
	_, err = takeAndApply(t, st, &lobby.PaymentEvent{ID: "evt_invoice_2", Kind: lobby.PaidPeriod, SubscriptionRef: "sub_1",
		PeriodStart: start2, PeriodEnd: end2, AmountCents: 900, Currency: "usd"})
	must(t, err)
	sub = subscriptionOf(t, st, buyer.ID)
	if sub.Status != lobby.SubscriptionActive || sub.MessagesUsed != 0 || !sub.PeriodStart.Equal(start2) || !sub.PeriodEnd.Equal(end2) {
		t.Fatalf("after the next invoice: %s, used %d, period %s–%s; want active, 0, %s–%s", sub.Status, sub.MessagesUsed,
			sub.PeriodStart, sub.PeriodEnd, start2, end2)
	}
	must(t, send("paid again"))
	// The first invoice again, under another event id, cannot move the period back.
	outcome, err = takeAndApply(t, st, &lobby.PaymentEvent{ID: "evt_invoice_1_late", Kind: lobby.PaidPeriod, SubscriptionRef: "sub_1",
		PeriodStart: start, PeriodEnd: end})
	must(t, err)
	if sub = subscriptionOf(t, st, buyer.ID); !sub.PeriodEnd.Equal(end2) || sub.MessagesUsed != 1 {
		t.Fatalf("an earlier period's payment (%q) moved the subscription to %s, used %d", outcome, sub.PeriodEnd, sub.MessagesUsed)
	}

	// Cancelled at the period's end in the provider's portal, then changed back.
	for _, cancel := range []bool{true, false} {
		_, err = takeAndApply(t, st, &lobby.PaymentEvent{ID: fmt.Sprintf("evt_updated_%t", cancel), Kind: lobby.SubscriptionChanged,
			SubscriptionRef: "sub_1", CancelAtPeriodEnd: cancel})
		must(t, err)
		if sub = subscriptionOf(t, st, buyer.ID); sub.CancelAtPeriodEnd != cancel {
			t.Fatalf("cancel at period end = %v, want %v", sub.CancelAtPeriodEnd, cancel)
		}
	}

	// The buyer moves to a bigger tier in the provider's portal: its price names it.
	c, err := st.Consultants.FindConsultantByID(ctx, chk.ConsultantID)
	must(t, err)
	bigger := int64(50)
	plans := append(c.Plans, lobby.Plan{Tier: "big", PriceCents: 4900, Currency: "usd", MessageCap: &bigger})
	_, _, err = st.Consultants.UpdateConsultant(ctx, c.ID, lobby.ConsultantUpdate{Plans: &plans}, lobby.ValidateOptions{})
	must(t, err)
	_, _, err = st.PaymentRefs.SavePriceRef(ctx, lobby.PriceKey{ConsultantID: c.ID, Tier: "big", PriceCents: 4900, Currency: "usd"}, "price_big")
	must(t, err)
	_, err = takeAndApply(t, st, &lobby.PaymentEvent{ID: "evt_upgraded", Kind: lobby.SubscriptionChanged, SubscriptionRef: "sub_1", PriceRef: "price_big"})
	must(t, err)
	if sub = subscriptionOf(t, st, buyer.ID); sub.Tier != "big" || sub.PriceCents != 4900 || sub.MessageCap == nil || *sub.MessageCap != 50 || sub.MessagesUsed != 1 {
		t.Fatalf("after the upgrade: %s at %d, cap %v, used %d; want big at 4900, cap 50, the period's 1 message kept",
			sub.Tier, sub.PriceCents, sub.MessageCap, sub.MessagesUsed)
	}
	// A price Lobby never made changes nothing but the cancel flag.
	_, err = takeAndApply(t, st, &lobby.PaymentEvent{ID: "evt_foreign_price", Kind: lobby.SubscriptionChanged, SubscriptionRef: "sub_1", PriceRef: "price_elsewhere"})
	must(t, err)
	if sub = subscriptionOf(t, st, buyer.ID); sub.Tier != "big" {
		t.Fatalf("an unknown price moved the subscription to %s", sub.Tier)
	}

	// Deleted: ended at once; the token stops working and nothing more is sent.
	_, err = takeAndApply(t, st, &lobby.PaymentEvent{ID: "evt_deleted", Kind: lobby.SubscriptionEnded, SubscriptionRef: "sub_1"})
	must(t, err)
	if sub = subscriptionOf(t, st, buyer.ID); sub.Status != lobby.SubscriptionCanceled || sub.PeriodEnd.After(clock.Now()) {
		t.Fatalf("after deletion: %s ending %s; want canceled, ended by now", sub.Status, sub.PeriodEnd)
	}
	_, err = st.Auth.Authenticate(ctx, res.BuyerToken)
	WantCode(t, err, lobby.EUNAUTHORIZED)
	_, err = st.Subscriptions.ResumeSubscription(ctx, buyer.ID, sub.ID)
	WantCode(t, err, lobby.ECONFLICT, "ended")

	// Events that can never apply are recorded as doing nothing, not retried.
	outcome, err = takeAndApply(t, st, &lobby.PaymentEvent{ID: "evt_unknown_checkout", Kind: lobby.PaidCheckout, CheckoutID: "chk_nosuch"})
	must(t, err)
	if !strings.Contains(outcome, "nothing") {
		t.Fatalf("unknown checkout: %q", outcome)
	}
	_, err = st.PaymentEvents.ApplyPaymentEvent(ctx, "evt_never_taken")
	WantCode(t, err, lobby.ENOTFOUND)
}

// testPaymentEventsOnce: the same event taken ten times at once is taken once, and
// applied ten times at once has one effect.
func testPaymentEventsOnce(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	buyer, chk := paidSetup(t, st, "once")
	must(t, st.Subscriptions.CompleteCheckout(ctx, chk.ID, ""))
	// Make the subscription the provider's by its checkout's event first.
	e := &lobby.PaymentEvent{ID: "evt_checkout_once", Kind: lobby.PaidCheckout, CheckoutID: chk.ID, SubscriptionRef: "sub_once"}
	_, err := st.PaymentEvents.TakePaymentEvent(ctx, e)
	must(t, err)
	_, err = st.PaymentEvents.ApplyPaymentEvent(ctx, e.ID)
	must(t, err)
	for range 2 {
		_, err := st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: subscriptionOf(t, st, buyer.ID).ID, Content: "hi"})
		must(t, err)
	}

	next := subscriptionOf(t, st, buyer.ID).PeriodEnd
	paid := &lobby.PaymentEvent{ID: "evt_paid_once", Kind: lobby.PaidPeriod, SubscriptionRef: "sub_once",
		PeriodStart: next, PeriodEnd: next.AddDate(0, 1, 0), AmountCents: 900, Currency: "usd"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	taken := 0
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := st.PaymentEvents.TakePaymentEvent(ctx, paid)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if ok {
				taken++
			}
		}()
	}
	wg.Wait()
	if taken != 1 {
		t.Fatalf("the same event taken %d times, want once", taken)
	}
	jobs, err := st.QueuedJobs(ctx, "payment_event")
	must(t, err)
	n := 0
	for _, j := range jobs {
		if strings.Contains(j, paid.ID) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d jobs queued for the event, want 1", n)
	}

	// Applied ten times at once, as ten instances might: one reset, and a message sent
	// after it stays counted however the others interleave.
	applied := 0
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcome, err := st.PaymentEvents.ApplyPaymentEvent(ctx, paid.ID)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if outcome != "applied before" {
				applied++
			}
		}()
	}
	wg.Wait()
	if applied != 1 {
		t.Fatalf("the event had its effect %d times, want once", applied)
	}
	_, err = st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: subscriptionOf(t, st, buyer.ID).ID, Content: "new period"})
	must(t, err)
	_, err = st.PaymentEvents.ApplyPaymentEvent(ctx, paid.ID)
	must(t, err)
	if sub := subscriptionOf(t, st, buyer.ID); sub.MessagesUsed != 1 || !sub.PeriodStart.Equal(next) {
		t.Fatalf("used %d from %s; want 1 from %s", sub.MessagesUsed, sub.PeriodStart, next)
	}
}

// testPaymentRefs: what a provider made is recorded once, whoever saves first, and a
// plan's new price supersedes its old ones.
func testPaymentRefs(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	_, owner := SignIn(t, st.Auth, "owner@example.com")
	c := NewConsultant(owner.ID, "refs")
	_, err := st.Consultants.CreateConsultant(ctx, c, lobby.ValidateOptions{})
	must(t, err)

	_, err = st.PaymentRefs.FindProductRef(ctx, c.ID)
	WantCode(t, err, lobby.ENOTFOUND)
	var wg sync.WaitGroup
	standing := make([]string, 2)
	for i := range standing {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			standing[i], err = st.PaymentRefs.SaveProductRef(ctx, c.ID, fmt.Sprintf("prod_%d", i))
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if found, _ := st.PaymentRefs.FindProductRef(ctx, c.ID); standing[0] != standing[1] || found != standing[0] {
		t.Fatalf("two saves at once stand as %q and %q, found %q; want one ref for both", standing[0], standing[1], found)
	}

	k := lobby.PriceKey{ConsultantID: c.ID, Tier: "starter", PriceCents: 2900, Currency: "usd"}
	ref, old, err := st.PaymentRefs.SavePriceRef(ctx, k, "price_a")
	must(t, err)
	if ref != "price_a" || len(old) != 0 {
		t.Fatalf("first price: %q superseding %v", ref, old)
	}
	if ref, _, _ = st.PaymentRefs.SavePriceRef(ctx, k, "price_dup"); ref != "price_a" {
		t.Fatalf("a second save of the same price stands as %q, want price_a", ref)
	}
	k2 := k
	k2.PriceCents = 3900
	ref, old, err = st.PaymentRefs.SavePriceRef(ctx, k2, "price_b")
	must(t, err)
	if ref != "price_b" || len(old) != 1 || old[0] != "price_a" {
		t.Fatalf("new price: %q superseding %v; want price_b superseding price_a", ref, old)
	}
	if got, err := st.PaymentRefs.FindPriceRef(ctx, k); err != nil || got != "price_a" {
		t.Fatalf("the old price's ref: %q, %v", got, err)
	}
	other := k
	other.Tier = "pro"
	if _, old, _ = st.PaymentRefs.SavePriceRef(ctx, other, "price_c"); len(old) != 0 {
		t.Fatalf("another tier's price supersedes %v", old)
	}

	_, err = st.PaymentRefs.FindPayoutAccount(ctx, owner.ID)
	WantCode(t, err, lobby.ENOTFOUND, "payouts")
	a, err := st.PaymentRefs.SavePayoutAccount(ctx, owner.ID, "acct_1")
	must(t, err)
	if a.Ref != "acct_1" || a.Status != lobby.PayoutsPending {
		t.Fatalf("saved account %+v", a)
	}
	if a, _ = st.PaymentRefs.SavePayoutAccount(ctx, owner.ID, "acct_2"); a.Ref != "acct_1" {
		t.Fatalf("a second account for the owner stands as %s, want acct_1", a.Ref)
	}
	for _, ready := range []bool{true, false} {
		e := &lobby.PaymentEvent{ID: fmt.Sprintf("evt_acct_%t", ready), Kind: lobby.AccountChanged, AccountRef: "acct_1", PayoutsReady: ready}
		_, err := takeAndApply(t, st, e)
		must(t, err)
		want := map[bool]string{true: lobby.PayoutsEnabled, false: lobby.PayoutsPending}[ready]
		if a, _ = st.PaymentRefs.FindPayoutAccount(ctx, owner.ID); a.Status != want {
			t.Fatalf("after account.updated ready=%v: %s, want %s", ready, a.Status, want)
		}
	}
	outcome, err := takeAndApply(t, st, &lobby.PaymentEvent{ID: "evt_acct_unknown", Kind: lobby.AccountChanged, AccountRef: "acct_nosuch"})
	must(t, err)
	if !strings.Contains(outcome, "nothing") {
		t.Fatalf("unknown account: %q", outcome)
	}
}

// testEarnings: the ledger holds each charge and refund once, by month and currency,
// and sums to gross - fee = net.
func testEarnings(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	clock := st.Clock
	_, chk := paidSetup(t, st, "earns")
	_, err := takeAndApply(t, st, &lobby.PaymentEvent{ID: "evt_e_checkout", Kind: lobby.PaidCheckout, CheckoutID: chk.ID,
		SubscriptionRef: "sub_e", CustomerRef: "cus_e"})
	must(t, err)
	month := func(m int) time.Time { return time.Date(2026, time.Month(m), 3, 0, 0, 0, 0, time.UTC) }
	paid := func(id string, at time.Time) *lobby.PaymentEvent {
		return &lobby.PaymentEvent{ID: id, Kind: lobby.PaidPeriod, SubscriptionRef: "sub_e", PeriodStart: at, PeriodEnd: at.AddDate(0, 1, 0),
			AmountCents: 900, FeeCents: 90, Currency: "usd", Created: at}
	}
	for _, e := range []*lobby.PaymentEvent{
		paid("evt_e_oct", month(10)), paid("evt_e_nov", month(11)),
		// An earlier period's payment arriving late still brought money in.
		paid("evt_e_oct_again", month(10).Add(time.Hour)),
		{ID: "evt_e_refund", Kind: lobby.ChargeRefunded, CustomerRef: "cus_e", AmountCents: 500, FeeCents: 50, Currency: "usd", Created: month(11)},
		{ID: "evt_e_refund_stranger", Kind: lobby.ChargeRefunded, CustomerRef: "cus_other", AmountCents: 900, Currency: "usd", Created: month(11)},
	} {
		_, err := takeAndApply(t, st, e)
		must(t, err)
		_, err = st.PaymentEvents.ApplyPaymentEvent(ctx, e.ID) // once more: no second row
		must(t, err)
	}
	clock.Add(month(12).Sub(clock.Now()))
	got, err := st.Earnings.FindEarnings(ctx, chk.ConsultantID)
	must(t, err)
	want := []lobby.Earnings{
		{Period: "2026-11", Currency: "usd", GrossCents: 400, FeeCents: 40, NetCents: 360, Charges: 1},
		{Period: "2026-10", Currency: "usd", GrossCents: 1800, FeeCents: 180, NetCents: 1620, Charges: 2},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("earnings\n %+v\nwant\n %+v", got, want)
	}
	// Two years on, those months are no longer reported.
	clock.Add(month(12).AddDate(2, 0, 0).Sub(clock.Now()))
	if got, err = st.Earnings.FindEarnings(ctx, chk.ConsultantID); err != nil || len(got) != 0 {
		t.Fatalf("earnings two years on: %+v, %v", got, err)
	}
}

// testUsageNotices: a message that takes usage across 85 % or 100 % of the cap queues
// one notice; a failed reply gives its message back, and crossing again in the same
// period queues none.
func testUsageNotices(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	sub := cappedSubscription(t, st, "tenner", 10)
	notices := func() []int { // the queued notices' percentages
		jobs, err := st.QueuedJobs(ctx, "usage_notice")
		must(t, err)
		var pcts []int
		for _, j := range jobs {
			var n struct{ Percent int }
			must(t, json.Unmarshal([]byte(j), &n))
			pcts = append(pcts, n.Percent)
		}
		return pcts
	}
	send := func() *lobby.Exchange {
		ex, err := st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, Content: "hi"})
		must(t, err)
		return ex
	}
	var last *lobby.Exchange
	for range 9 {
		last = send()
	}
	if last.Usage.MessagesUsed != 9 || last.Usage.MessageCap == nil || *last.Usage.MessageCap != 10 {
		t.Fatalf("the exchange's usage: %+v", last.Usage)
	}
	if n := notices(); len(n) != 1 || n[0] != 85 {
		t.Fatalf("after 9 of 10: notices %v, want one at 85", n)
	}
	_, err := st.Chat.FinishMessage(ctx, lobby.FinishParams{ID: last.Reply.ID, Status: lobby.MessageFailed, Error: "the model is down"})
	must(t, err)
	send() // the ninth again
	if n := notices(); len(n) != 1 {
		t.Fatalf("crossing 85 %% again in the period: %d notices, want still 1", len(n))
	}
	send()
	if n := notices(); len(n) != 2 || n[1] != 100 {
		t.Fatalf("at the cap: notices %v, want a second at 100", n)
	}
}
