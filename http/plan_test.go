package http_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/storetest"
	"github.com/lobby-dev/lobby/stripe/stripetest"
)

// tieredPlans are a small and a big plan paid by the month, and one paid per message.
var tieredPlans = map[string]any{"plans": []map[string]any{
	{"tier": "small", "price_cents": 900, "message_cap": 2},
	{"tier": "big", "price_cents": 2900, "message_cap": 50},
	{"tier": "payg", "price_cents": 2, "per": "message"},
}}

// chatAt sends a message and returns the conversation it went to.
func (s *testServer) chatAt(token string, want int, code ...string) string {
	s.t.Helper()
	v := s.do("POST", "/api/v1/chat", token, map[string]any{"message": "hello", "wait_seconds": 0}).want(s.t, want, code...).json()
	if want >= 300 {
		return ""
	}
	return v["conversation_id"].(string)
}

// TestPlanChangeLocal: on local payments a buyer at its cap is told how to get more,
// upgrades at once and keeps chatting in the same conversation with the same token; a
// downgrade waits for the period's end and is taken back by choosing the tier held.
func TestPlanChangeLocal(t *testing.T) {
	for _, be := range storetest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			s := newTestServer(t, be)
			owner, _ := s.signIn("owner@example.com")
			s.createConsultant(owner, "tiers", tieredPlans)
			s.subscribe(owner, "tiers", "big") // an owner may buy its own consultant, as anyone
			buyer, _ := s.signIn("buyer@example.com")
			subID, token := s.subscribe(buyer, "tiers", "small")
			path := "/api/v1/subscriptions/" + subID + "/plan"
			conversation := s.chatAt(token, 202)
			s.chatAt(token, 202)
			r := s.do("POST", "/api/v1/chat", token, map[string]any{"message": "one more"}).want(t, 429, "quota_exceeded", path, "big or payg", "/api/v1/credits/checkout")
			if r.header.Get("Retry-After") == "" {
				t.Fatal("quota_exceeded without Retry-After")
			}

			stranger, _ := s.signIn("stranger@example.com")
			s.checkBad(t, []badRequest{
				{name: "no tier", method: "POST", path: path, token: buyer, body: map[string]any{}, status: 400, code: "invalid_request", says: "tier is required"},
				{name: "unknown tier", method: "POST", path: path, token: buyer, body: map[string]any{"tier": "huge"}, status: 400, code: "invalid_request", says: "small, big, payg"},
				{name: "not JSON", method: "POST", path: path, token: buyer, body: "{tier", status: 400, code: "invalid_request"},
				{name: "unknown field", method: "POST", path: path, token: buyer, body: map[string]any{"tier": "big", "when": "now"}, status: 400, code: "invalid_request", says: "when"},
				{name: "another user's", method: "POST", path: path, token: stranger, body: map[string]any{"tier": "big"}, status: 404, code: "not_found"},
				{name: "no such subscription", method: "POST", path: "/api/v1/subscriptions/sub_nope/plan", token: buyer, body: map[string]any{"tier": "big"}, status: 404, code: "not_found"},
				{name: "a buyer token", method: "POST", path: path, token: token, body: map[string]any{"tier": "big"}, status: 403, code: "forbidden"},
			})
			if v := s.do("GET", "/api/v1/subscriptions", buyer, nil).want(t, 200).json()["data"].([]any)[0].(map[string]any); v["tier"] != "small" {
				t.Fatalf("after the refused changes: %v", v)
			}

			up := s.do("POST", path, buyer, map[string]any{"tier": "big"}).want(t, 200).json()
			if up["tier"] != "big" || up["message_cap"] != 50.0 || up["messages_used"] != 2.0 || up["pending_plan"] != nil || up["price_cents"] != 2900.0 {
				t.Fatalf("after the upgrade: %v", up)
			}
			if got := s.chatAt(token, 202); got != conversation {
				t.Fatalf("after the upgrade the message went to %s, not the conversation %s", got, conversation)
			}
			if u := s.do("GET", "/api/v1/usage", token, nil).want(t, 200).json(); u["tier"] != "big" || u["messages_used"] != 3.0 {
				t.Fatalf("usage after the upgrade: %v", u)
			}

			down := s.do("POST", path, buyer, map[string]any{"tier": "small"}).want(t, 200).json()
			pending, _ := down["pending_plan"].(map[string]any)
			if down["tier"] != "big" || pending["tier"] != "small" || pending["message_cap"] != 2.0 {
				t.Fatalf("after the downgrade: %v", down)
			}
			listed := s.do("GET", "/api/v1/subscriptions", buyer, nil).want(t, 200).json()["data"].([]any)[0].(map[string]any)
			if p, _ := listed["pending_plan"].(map[string]any); p["tier"] != "small" {
				t.Fatalf("the list shows %v", listed)
			}
			s.chatAt(token, 202) // big holds until the period ends
			if kept := s.do("POST", path, buyer, map[string]any{"tier": "big"}).want(t, 200).json(); kept["tier"] != "big" || kept["pending_plan"] != nil {
				t.Fatalf("after choosing big again: %v", kept)
			}

			// Per-message plans are paid from credits, at once.
			s.buyCredits(buyer, 100)
			payg := s.do("POST", path, buyer, map[string]any{"tier": "payg"}).want(t, 200).json()
			if payg["tier"] != "payg" || payg["per"] != "message" || payg["message_cap"] != nil {
				t.Fatalf("after moving to payg: %v", payg)
			}
			if got := s.chatAt(token, 202); got != conversation {
				t.Fatalf("on payg the message went to %s", got)
			}
			if b := s.do("GET", "/api/v1/credits", buyer, nil).want(t, 200).json(); b["balance_cents"] != 98.0 {
				t.Fatalf("balance after a payg message: %v", b)
			}

			s.do("DELETE", "/api/v1/subscriptions/"+subID, buyer, nil).want(t, 200)
			s.clock.Add(lobby.SubscriptionPeriod + time.Hour)
			buyer, _ = s.signIn("buyer@example.com")
			s.do("POST", path, buyer, map[string]any{"tier": "big"}).want(t, 409, "conflict", "ended")
		})
	}
}

// TestPlanChangeStripe: against stripe-mock, an upgrade moves Stripe's subscription to
// the bigger plan's Price charged at once, and the buyer at its cap keeps chatting in
// the same conversation; a downgrade moves it without proration and waits for the next
// period's invoice, Stripe's own update for it leaving it pending. While Stripe cannot
// be reached, nothing changes.
func TestPlanChangeStripe(t *testing.T) {
	rec, apiURL := stripetest.Record(t, storetest.StripeMock(t))
	s := newTestServer(t, storetest.SQLite, withStripe(apiURL))
	owner, _ := s.signIn("owner@example.com")
	s.createConsultant(owner, "tiers", tieredPlans)
	buyer, buyerID := s.signIn("buyer@example.com")
	chk := stripeCheckout(t, s, buyerID, "tiers", "small")
	s.stripeEvent("evt_checkout", "checkout.session.completed", map[string]any{"id": "cs_1", "object": "checkout.session",
		"mode": "subscription", "client_reference_id": chk, "subscription": "sub_stripe", "customer": "cus_1"}).want(t, 200)
	var token string
	eventually(t, "the checkout completes", func() bool {
		token, _ = s.do("GET", "/api/v1/checkout/"+chk, buyer, nil).want(t, 200).json()["buyer_token"].(string)
		return token != ""
	})
	subID := s.do("GET", "/api/v1/subscriptions", buyer, nil).want(t, 200).json()["data"].([]any)[0].(map[string]any)["id"].(string)
	path := "/api/v1/subscriptions/" + subID + "/plan"
	conversation := s.chatAt(token, 202)
	s.chatAt(token, 202)
	s.chatAt(token, 429, "quota_exceeded", path)
	rec.Take()

	up := s.do("POST", path, buyer, map[string]any{"tier": "big"}).want(t, 200).json()
	if up["tier"] != "big" || up["message_cap"] != 50.0 {
		t.Fatalf("after the upgrade: %v", up)
	}
	sent := rec.Take()
	madePrice(t, sent, "big", "2900")
	update := lastUpdate(t, sent, "sub_stripe")
	bigPrice, err := s.db.Services().PaymentRefs.FindPriceRef(context.Background(), priceKey(t, s, "tiers", "big", 2900))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"items[0][price]": bigPrice, "proration_behavior": "always_invoice", "payment_behavior": "error_if_incomplete"} {
		if got := update.Form.Get(k); got != want {
			t.Errorf("the upgrade sent %s = %q, want %q", k, got, want)
		}
	}
	if !strings.HasPrefix(update.Form.Get("items[0][id]"), "si_") {
		t.Errorf("the upgrade names item %q, want the subscription's si_ item", update.Form.Get("items[0][id]"))
	}
	if got := s.chatAt(token, 202); got != conversation {
		t.Fatalf("after the upgrade the message went to %s, not %s", got, conversation)
	}

	down := s.do("POST", path, buyer, map[string]any{"tier": "small"}).want(t, 200).json()
	if p, _ := down["pending_plan"].(map[string]any); down["tier"] != "big" || p["tier"] != "small" {
		t.Fatalf("after the downgrade: %v", down)
	}
	sent = rec.Take()
	madePrice(t, sent, "small", "900")
	update = lastUpdate(t, sent, "sub_stripe")
	smallPrice, err := s.db.Services().PaymentRefs.FindPriceRef(context.Background(), priceKey(t, s, "tiers", "small", 900))
	if err != nil {
		t.Fatal(err)
	}
	if update.Form.Get("items[0][price]") != smallPrice || update.Form.Get("proration_behavior") != "none" || update.Form.Get("payment_behavior") != "" {
		t.Errorf("the downgrade sent %v, want the small price %s without proration", update.Form, smallPrice)
	}
	// Stripe's event of that update leaves the downgrade pending; the next period's
	// invoice puts it in place.
	s.stripeEvent("evt_updated", "customer.subscription.updated", map[string]any{"id": "sub_stripe", "object": "subscription", "status": "active",
		"items": map[string]any{"object": "list", "data": []any{map[string]any{"id": "si_1", "price": map[string]any{"id": smallPrice}}}}}).want(t, 200)
	sub := func() map[string]any {
		return s.do("GET", "/api/v1/subscriptions", buyer, nil).want(t, 200).json()["data"].([]any)[0].(map[string]any)
	}
	eventually(t, "the update is applied", func() bool {
		out, err := s.db.Services().PaymentEvents.ApplyPaymentEvent(context.Background(), "evt_updated")
		return err == nil && out == "applied before"
	})
	if v := sub(); v["tier"] != "big" || v["pending_plan"] == nil {
		t.Fatalf("after Stripe's update for the downgrade: %v", v)
	}
	next := s.clock.Now().Add(lobby.SubscriptionPeriod)
	s.stripeEvent("evt_invoice", "invoice.paid", map[string]any{"id": "in_2", "object": "invoice", "amount_paid": 900, "currency": "usd",
		"parent": map[string]any{"type": "subscription_details", "subscription_details": map[string]any{"subscription": "sub_stripe"}},
		"lines": map[string]any{"object": "list", "data": []any{map[string]any{"id": "il_2",
			"period": map[string]any{"start": next.Unix(), "end": next.Add(lobby.SubscriptionPeriod).Unix()}}}}}).want(t, 200)
	eventually(t, "the next period is on small", func() bool { v := sub(); return v["tier"] == "small" && v["pending_plan"] == nil })

	// Stripe unreachable: refused, and the plan stays.
	s2 := newTestServer(t, storetest.SQLite, withStripe(""))
	owner2, _ := s2.signIn("owner@example.com")
	s2.createConsultant(owner2, "tiers", tieredPlans)
	buyer2, buyer2ID := s2.signIn("buyer@example.com")
	chk2 := stripeCheckout(t, s2, buyer2ID, "tiers", "small")
	s2.stripeEvent("evt_checkout", "checkout.session.completed", map[string]any{"id": "cs_2", "object": "checkout.session",
		"mode": "subscription", "client_reference_id": chk2, "subscription": "sub_down"}).want(t, 200)
	var sub2 map[string]any
	eventually(t, "the second checkout completes", func() bool {
		subs := s2.do("GET", "/api/v1/subscriptions", buyer2, nil).want(t, 200).json()["data"].([]any)
		if len(subs) == 1 {
			sub2 = subs[0].(map[string]any)
		}
		return sub2 != nil
	})
	s2.do("POST", "/api/v1/subscriptions/"+sub2["id"].(string)+"/plan", buyer2, map[string]any{"tier": "big"}).want(t, 502, "upstream_error", "Stripe")
	if v := s2.do("GET", "/api/v1/subscriptions", buyer2, nil).want(t, 200).json()["data"].([]any)[0].(map[string]any); v["tier"] != "small" {
		t.Fatalf("an upgrade Stripe never heard of was recorded: %v", v)
	}
	// A plan Stripe does not bill cannot move to one it does without a checkout.
	s2.do("POST", "/api/v1/subscriptions/"+sub2["id"].(string)+"/plan", buyer2, map[string]any{"tier": "payg"}).want(t, 409, "conflict", "per-message")
}

// madePrice fails the test unless sent makes a monthly Price of cents for tier.
// (stripe-mock answers every create with one fixture id, so prices are told apart by
// what was sent, not by their ids.)
func madePrice(t *testing.T, sent []stripetest.Request, tier, cents string) {
	t.Helper()
	for _, r := range sent {
		if r.Method == "POST" && r.Path == "/v1/prices" && r.Form.Get("metadata[lobby_tier]") == tier && r.Form.Get("unit_amount") == cents &&
			r.Form.Get("recurring[interval]") == "month" {
			return
		}
	}
	t.Fatalf("no monthly Price of %s for %s made: %+v", cents, tier, sent)
}

// lastUpdate returns the last update of Stripe subscription ref among sent.
func lastUpdate(t *testing.T, sent []stripetest.Request, ref string) stripetest.Request {
	t.Helper()
	for i := len(sent) - 1; i >= 0; i-- {
		if sent[i].Method == "POST" && sent[i].Path == "/v1/subscriptions/"+ref {
			return sent[i]
		}
	}
	t.Fatalf("no update of %s sent to Stripe: %+v", ref, sent)
	return stripetest.Request{}
}

func priceKey(t *testing.T, s *testServer, slug, tier string, cents int64) lobby.PriceKey {
	t.Helper()
	c, err := s.db.Services().Consultants.FindConsultantBySlug(context.Background(), slug)
	if err != nil {
		t.Fatal(err)
	}
	return lobby.PriceKey{ConsultantID: c.ID, Tier: tier, PriceCents: cents, Currency: "usd"}
}
