package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lobby-dev/lobby"
)

// buyCredits buys amount cents of credits for userID and confirms the purchase, as the
// local provider's page does.
func buyCredits(t testing.TB, st *Store, userID string, amount int64) *lobby.CreditCheckout {
	t.Helper()
	ctx := context.Background()
	c := &lobby.CreditCheckout{UserID: userID, AmountCents: amount, Provider: "local"}
	must(t, st.Credits.CreateCreditCheckout(ctx, c))
	must(t, st.Subscriptions.CompleteCheckout(ctx, c.ID, userID))
	return c
}

// perMessageConsultant lists a consultant whose one plan costs price cents a message.
func perMessageConsultant(t testing.TB, st *Store, slug string, price int64) *lobby.Consultant {
	t.Helper()
	_, owner := SignIn(t, st.Auth, "owner-"+slug+"@example.com")
	c := NewConsultant(owner.ID, slug)
	c.Plans = []lobby.Plan{{Tier: "payg", Per: lobby.PerMessage, PriceCents: price, Currency: "usd"}}
	_, err := st.Consultants.CreateConsultant(context.Background(), c, lobby.ValidateOptions{})
	must(t, err)
	return c
}

func balanceOf(t testing.TB, st *Store, userID string) int64 {
	t.Helper()
	b, err := st.Credits.FindBalance(context.Background(), userID)
	must(t, err)
	if b.Currency != lobby.CreditCurrency {
		t.Fatalf("balance currency %q", b.Currency)
	}
	return b.BalanceCents
}

// testCredits: credits are bought once per purchase, whoever completes it how often;
// each message on a per-message plan takes its price with it, a failed reply gives it
// back, an empty balance refuses the message and stores nothing, and the consultant
// earns what was spent less the fee.
func testCredits(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	_, buyer := SignIn(t, st.Auth, "buyer@example.com")
	_, stranger := SignIn(t, st.Auth, "stranger@example.com")
	if b := balanceOf(t, st, buyer.ID); b != 0 {
		t.Fatalf("a new user's balance = %d", b)
	}
	for _, amount := range []int64{0, 99, 100_001, -500} {
		err := st.Credits.CreateCreditCheckout(ctx, &lobby.CreditCheckout{UserID: buyer.ID, AmountCents: amount, Provider: "local"})
		WantCode(t, err, lobby.EINVALID, "amount_cents", "100", "100000")
	}

	// A purchase is read as a checkout, by its buyer only, and counts once.
	c := &lobby.CreditCheckout{UserID: buyer.ID, AmountCents: 1000, Provider: "local"}
	must(t, st.Credits.CreateCreditCheckout(ctx, c))
	res, err := st.Subscriptions.FindCheckout(ctx, buyer.ID, c.ID)
	must(t, err)
	if res.Credits == nil || res.Credits.Status != lobby.CheckoutOpen || res.Credits.AmountCents != 1000 || res.Balance != nil || res.Checkout != nil {
		t.Fatalf("open purchase read as %+v", res)
	}
	_, err = st.Subscriptions.FindCheckout(ctx, stranger.ID, c.ID)
	WantCode(t, err, lobby.ENOTFOUND)
	WantCode(t, st.Subscriptions.CompleteCheckout(ctx, c.ID, stranger.ID), lobby.ENOTFOUND)
	for range 3 {
		must(t, st.Subscriptions.CompleteCheckout(ctx, c.ID, buyer.ID))
	}
	if b := balanceOf(t, st, buyer.ID); b != 1000 {
		t.Fatalf("balance after one purchase completed three times = %d, want 1000", b)
	}
	if b := balanceOf(t, st, stranger.ID); b != 0 {
		t.Fatalf("the stranger's balance = %d", b)
	}
	res, err = st.Subscriptions.FindCheckout(ctx, buyer.ID, c.ID)
	must(t, err)
	if res.Credits.Status != lobby.CheckoutComplete || res.Balance == nil || res.Balance.BalanceCents != 1000 {
		t.Fatalf("paid purchase read as %+v, balance %+v", res.Credits, res.Balance)
	}

	// A provider's event pays a purchase once; one paid after it expired is still
	// the buyer's money, while the confirm step is refused.
	paid := &lobby.CreditCheckout{UserID: buyer.ID, AmountCents: 500, Provider: "stripe"}
	must(t, st.Credits.CreateCreditCheckout(ctx, paid))
	late := &lobby.CreditCheckout{UserID: buyer.ID, AmountCents: 250, Provider: "stripe"}
	must(t, st.Credits.CreateCreditCheckout(ctx, late))
	e := &lobby.PaymentEvent{ID: "evt_credits", Kind: lobby.PaidCheckout, CheckoutID: paid.ID, AmountCents: 500, Currency: "usd"}
	if _, err := takeAndApply(t, st, e); err != nil {
		t.Fatal(err)
	}
	_, err = st.PaymentEvents.ApplyPaymentEvent(ctx, e.ID)
	must(t, err)
	st.Clock.Add(lobby.CheckoutTTL + time.Minute)
	WantCode(t, st.Subscriptions.CompleteCheckout(ctx, late.ID, buyer.ID), lobby.ECONFLICT, "expired")
	_, err = takeAndApply(t, st, &lobby.PaymentEvent{ID: "evt_credits_late", Kind: lobby.PaidCheckout, CheckoutID: late.ID})
	must(t, err)
	if b := balanceOf(t, st, buyer.ID); b != 1750 {
		t.Fatalf("balance = %d, want 1750: 1000 + 500 by an event applied twice + 250 paid late", b)
	}

	// Per-message plans: priced, in the credits' currency.
	for _, p := range []lobby.Plan{
		{Tier: "free", Per: lobby.PerMessage, PriceCents: 0, Currency: "usd"},
		{Tier: "euro", Per: lobby.PerMessage, PriceCents: 5, Currency: "eur"},
		{Tier: "week", Per: "week", PriceCents: 5, Currency: "usd"},
	} {
		_, owner := SignIn(t, st.Auth, "owner@example.com")
		bad := NewConsultant(owner.ID, "bad-"+p.Tier)
		bad.Plans = []lobby.Plan{p}
		_, err := st.Consultants.CreateConsultant(ctx, bad, lobby.ValidateOptions{})
		WantCode(t, err, lobby.EINVALID, p.Tier)
	}

	consultant := perMessageConsultant(t, st, "payg", 50)
	got, err := st.Consultants.FindConsultantBySlug(ctx, "payg")
	must(t, err)
	if got.Plans[0].Per != lobby.PerMessage {
		t.Fatalf("plan read back as %+v", got.Plans[0])
	}
	sub, _ := Subscribe(t, st.Subscriptions, buyer.ID, consultant.ID, "payg")
	if sub.Per != lobby.PerMessage || sub.PriceCents != 50 {
		t.Fatalf("subscription %+v", sub)
	}
	send := func(text string) (*lobby.Exchange, error) {
		return st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, Content: text})
	}
	var last *lobby.Exchange
	for i := range 35 { // 1750 / 50
		if last, err = send(fmt.Sprint("message ", i)); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	if last.Usage.CreditsCents == nil || *last.Usage.CreditsCents != 0 || last.Usage.MessagesUsed != 35 {
		t.Fatalf("the last exchange's usage: %+v", last.Usage)
	}
	_, err = send("one too many")
	WantCode(t, err, lobby.EPAYMENT, "$0.00", "$0.50", "POST /api/v1/credits/checkout")
	msgs, err := st.Chat.FindMessages(ctx, lobby.MessageFilter{ConversationID: last.Conversation.ID, Limit: 100})
	must(t, err)
	if len(msgs) != 70 {
		t.Fatalf("%d messages stored, want 70: the refused one stores nothing", len(msgs))
	}
	if s, _ := st.Subscriptions.FindSubscription(ctx, buyer.ID, sub.ID); s.MessagesUsed != 35 {
		t.Fatalf("messages_used = %d after a refused message", s.MessagesUsed)
	}

	// A reply that fails for good gives its message's credits back, once.
	_, err = st.Chat.FinishMessage(ctx, lobby.FinishParams{ID: last.Reply.ID, Status: lobby.MessageFailed, Error: "the model is down"})
	must(t, err)
	_, err = st.Chat.FinishMessage(ctx, lobby.FinishParams{ID: last.Reply.ID, Status: lobby.MessageFailed, Error: "again"})
	WantCode(t, err, lobby.ECONFLICT)
	if b := balanceOf(t, st, buyer.ID); b != 50 {
		t.Fatalf("balance after a failed reply = %d, want 50", b)
	}
	if _, err := send("again"); err != nil {
		t.Fatal(err)
	}

	// The owner earns every message paid, less the platform's fee (10 %).
	earned, err := st.Earnings.FindEarnings(ctx, consultant.ID)
	must(t, err)
	want := []lobby.Earnings{{Period: st.Clock.Now().Format("2006-01"), Currency: "usd", GrossCents: 1750, FeeCents: 175, NetCents: 1575, Charges: 35}}
	if fmt.Sprint(earned) != fmt.Sprint(want) {
		t.Fatalf("earnings\n %+v\nwant\n %+v", earned, want)
	}
}

// testCreditsConcurrent: 50 messages sent at once, on two subscriptions sharing a
// balance worth 20, store exactly 20 and leave exactly zero; the other 30 are
// refused and store nothing.
func testCreditsConcurrent(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	_, buyer := SignIn(t, st.Auth, "buyer@example.com")
	buyCredits(t, st, buyer.ID, 1000)
	var subs []*lobby.Subscription
	for _, slug := range []string{"payg-one", "payg-two"} {
		sub, _ := Subscribe(t, st.Subscriptions, buyer.ID, perMessageConsultant(t, st, slug, 50).ID, "payg")
		subs = append(subs, sub)
	}
	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: subs[i%2].ID, Content: fmt.Sprint("message ", i)})
			switch lobby.ErrorCode(err) {
			case "":
				ok.Add(1)
			case lobby.EPAYMENT:
				refused.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	stored := 0
	for _, sub := range subs {
		cnvs, _, err := st.Chat.FindConversations(ctx, lobby.ConversationFilter{SubscriptionID: sub.ID})
		must(t, err)
		for _, c := range cnvs {
			msgs, err := st.Chat.FindMessages(ctx, lobby.MessageFilter{ConversationID: c.ID, Limit: 100})
			must(t, err)
			stored += len(msgs)
		}
	}
	if ok.Load() != 20 || refused.Load() != 30 || stored != 40 {
		t.Fatalf("%d sent, %d refused, %d messages stored; want 20, 30, 40 (20 and their replies)", ok.Load(), refused.Load(), stored)
	}
	if b := balanceOf(t, st, buyer.ID); b != 0 {
		t.Fatalf("balance = %d, want exactly 0", b)
	}
}

// BenchmarkSend measures one message sent on a monthly plan (its cap counted with the
// message) against one on a per-message plan (the balance checked and debited and the
// spend recorded with the message). The two alternate on one store, so that its growth
// and the machine's moods weigh on both alike; it reports each one's time and their
// ratio.
func BenchmarkSend(b *testing.B, backend Backend) {
	ctx := context.Background()
	svc := backend.Open(b).Services()
	st := &Store{Auth: svc.Auth, Consultants: svc.Consultants, Subscriptions: svc.Subscriptions, Chat: svc.Chat, Credits: svc.Credits}
	_, buyer := SignIn(b, st.Auth, "buyer@example.com")
	_, owner := SignIn(b, st.Auth, "owner@example.com")
	c := NewConsultant(owner.ID, "monthly")
	messageCap := int64(lobby.MaxMessageCap)
	c.Plans = []lobby.Plan{{Tier: "pro", PriceCents: 2900, Currency: "usd", MessageCap: &messageCap}}
	_, err := st.Consultants.CreateConsultant(ctx, c, lobby.ValidateOptions{})
	must(b, err)
	monthly, _ := Subscribe(b, st.Subscriptions, buyer.ID, c.ID, "pro")
	perMessage, _ := Subscribe(b, st.Subscriptions, buyer.ID, perMessageConsultant(b, st, "payg", 1).ID, "payg")
	bought := int64(0)
	var spent [2]time.Duration
	b.ResetTimer()
	for i := range b.N {
		for bought <= int64(i) {
			b.StopTimer()
			buyCredits(b, st, buyer.ID, lobby.MaxCreditPurchaseCents)
			bought += lobby.MaxCreditPurchaseCents
			b.StartTimer()
		}
		for k, sub := range []*lobby.Subscription{monthly, perMessage} {
			start := time.Now()
			_, err := st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, Content: fmt.Sprint("message ", i)})
			spent[k] += time.Since(start)
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(float64(spent[0].Nanoseconds())/float64(b.N), "monthly-ns/send")
	b.ReportMetric(float64(spent[1].Nanoseconds())/float64(b.N), "per-message-ns/send")
	b.ReportMetric(float64(spent[1])/float64(spent[0]), "ratio")
}
