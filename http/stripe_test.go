package http_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/storetest"
	"github.com/lobby-dev/lobby/stripe/stripetest"
)

const webhookSecret = "whsec_test_lobby"

// withStripe runs the server on Stripe payments at url (stripe-mock), or, with url
// "", on a Stripe that is never called: the webhook alone needs none.
func withStripe(url string) serverOption {
	return func(s *testServer) {
		s.app.Config.Payments, s.app.Config.StripeSecretKey, s.app.Config.StripeAPIURL = "stripe", "sk_test_123", url
		s.app.Config.StripeWebhookSecrets, s.app.Config.PlatformFeePercent = []string{webhookSecret}, 10
		if url == "" {
			s.app.Config.StripeAPIURL = "http://127.0.0.1:1" // refused at once, never Stripe's own
		}
	}
}

// stripeEvent posts a signed event to the webhook.
func (s *testServer) stripeEvent(id, typ string, object map[string]any) *response {
	s.t.Helper()
	payload := stripetest.Event(id, typ, object)
	return s.do("POST", "/api/v1/stripe/webhook", "", string(payload), "Stripe-Signature", stripetest.Sign(payload, webhookSecret, time.Now()))
}

// stripeCheckout opens a Stripe checkout for the buyer in the store, as subscribing
// through stripe-mock would, and returns its id.
func stripeCheckout(t testing.TB, s *testServer, buyerID, slug, tier string) string {
	t.Helper()
	ctx := context.Background()
	svc := s.db.Services()
	c, err := svc.Consultants.FindConsultantBySlug(ctx, slug)
	if err != nil {
		t.Fatal(err)
	}
	chk := &lobby.Checkout{UserID: buyerID, ConsultantID: c.ID, Plan: lobby.Plan{Tier: tier}, Provider: "stripe"}
	if err := svc.Subscriptions.CreateCheckout(ctx, chk); err != nil {
		t.Fatal(err)
	}
	return chk.ID
}

// TestStripeWebhook: through the API with signed events, a buyer's checkout
// completes, a failed payment stops chat with 402 until a later payment, a renewal
// starts usage over, and a deletion ends the subscription; every event sent ten times
// at once has one effect.
func TestStripeWebhook(t *testing.T) {
	for _, be := range storetest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			s := newTestServer(t, be, withStripe(""))
			owner, _ := s.signIn("owner@example.com")
			cap := 5
			s.createConsultant(owner, "paid", map[string]any{"plans": []map[string]any{{"tier": "small", "price_cents": 900, "message_cap": cap}}})
			session, buyerID := s.signIn("buyer@example.com")
			chk := stripeCheckout(t, s, buyerID, "paid", "small")
			s.do("POST", "/api/v1/checkout/"+chk+"/complete", session, nil).want(t, 404) // no confirm step with Stripe

			// sendTen sends the same event ten times at once; each answer is 200.
			sendTen := func(id, typ string, object map[string]any) {
				var wg sync.WaitGroup
				for range 10 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						s.inGoroutine().stripeEvent(id, typ, object).want(t, 200)
					}()
				}
				wg.Wait()
			}
			sendTen("evt_checkout", "checkout.session.completed", map[string]any{"id": "cs_1", "object": "checkout.session",
				"mode": "subscription", "client_reference_id": chk, "subscription": "sub_1", "customer": "cus_1", "amount_total": 900, "currency": "usd"})
			var token string
			eventually(t, "the checkout completes", func() bool {
				v := s.do("GET", "/api/v1/checkout/"+chk, session, nil).want(t, 200).json()
				token, _ = v["buyer_token"].(string)
				return v["status"] == "complete"
			})
			if !strings.HasPrefix(token, "cl_buyer_") {
				t.Fatalf("first read after completion: token %q", token)
			}
			usage := func() (string, float64) {
				subs := s.do("GET", "/api/v1/subscriptions", session, nil).want(t, 200).json()["data"].([]any)
				if len(subs) != 1 {
					t.Fatalf("%d subscriptions, want 1 however often the checkout's event came", len(subs))
				}
				sub := subs[0].(map[string]any)
				return sub["status"].(string), sub["messages_used"].(float64)
			}
			chat := func(want int, code ...string) {
				t.Helper()
				s.do("POST", "/api/v1/chat", token, map[string]any{"message": "hello", "wait_seconds": 0}).want(t, want, code...)
			}
			chat(202)
			chat(202)

			invoice := func(id string, start time.Time) map[string]any {
				return map[string]any{"id": id, "object": "invoice", "amount_paid": 900, "currency": "usd",
					"parent": map[string]any{"type": "subscription_details", "subscription_details": map[string]any{"subscription": "sub_1"}},
					"lines":  map[string]any{"object": "list", "data": []any{map[string]any{"id": "il_" + id, "period": map[string]any{"start": start.Unix(), "end": start.AddDate(0, 1, 0).Unix()}}}}}
			}
			next := s.clock.Now().AddDate(0, 1, 0)
			s.clock.Add(31 * 24 * time.Hour)
			session, _ = s.signIn("buyer@example.com") // the first session expired meanwhile
			sendTen("evt_failed", "invoice.payment_failed", invoice("in_2", next))
			eventually(t, "the subscription is past due", func() bool { st, _ := usage(); return st == "past_due" })
			chat(402, "payment_required")
			if _, used := usage(); used != 2 {
				t.Fatalf("after a refused message: %v used, want 2", used)
			}
			s.do("GET", "/api/v1/conversations", token, nil).want(t, 200) // the history stays readable

			sendTen("evt_paid", "invoice.paid", invoice("in_2", next))
			eventually(t, "the subscription is active again", func() bool { st, used := usage(); return st == "active" && used == 0 })
			chat(202)
			// The same invoice.paid again, after a message: usage stays where it is.
			sendTen("evt_paid", "invoice.paid", invoice("in_2", next))
			time.Sleep(50 * time.Millisecond)
			if _, used := usage(); used != 1 {
				t.Fatalf("a replayed invoice.paid reset usage to %v", used)
			}

			// Cancelling must reach Stripe, or Stripe would charge again: while it cannot
			// be reached, the cancel is refused and nothing changes.
			subID := s.do("GET", "/api/v1/subscriptions", session, nil).want(t, 200).json()["data"].([]any)[0].(map[string]any)["id"].(string)
			s.do("DELETE", "/api/v1/subscriptions/"+subID, session, nil).want(t, 502, "upstream_error", "Stripe")
			if v := s.do("GET", "/api/v1/subscriptions", session, nil).want(t, 200).json()["data"].([]any)[0].(map[string]any); v["cancel_at_period_end"] != false {
				t.Fatalf("a cancel Stripe never heard of was recorded: %v", v)
			}

			sendTen("evt_deleted", "customer.subscription.deleted", map[string]any{"id": "sub_1", "object": "subscription", "status": "canceled"})
			eventually(t, "the subscription ends", func() bool { st, _ := usage(); return st == "canceled" })
			chat(401, "unauthorized")

			// The one invoice.paid, however often it came, is one charge less the fee.
			owner, _ = s.signIn("owner@example.com") // a month on, a new session
			earnings := s.do("GET", "/api/v1/consultants/paid/earnings", owner, nil).want(t, 200).json()["data"].([]any)
			if len(earnings) != 1 {
				t.Fatalf("earnings %v, want one month", earnings)
			}
			if e := earnings[0].(map[string]any); e["gross_cents"] != 900.0 || e["fee_cents"] != 90.0 || e["net_cents"] != 810.0 || e["charges"] != 1.0 {
				t.Fatalf("earnings %v, want 900 gross, 90 fee, 810 net, 1 charge", e)
			}
			s.do("GET", "/api/v1/consultants/paid/earnings", session, nil).want(t, 403, "forbidden")
		})
	}
}

// TestStripeWebhookRefuses: what is not Stripe's, as Stripe signed it, changes
// nothing, and gets the contract's error.
func TestStripeWebhookRefuses(t *testing.T) {
	s := newTestServer(t, storetest.SQLite, withStripe(""))
	payload := stripetest.Event("evt_1", "account.updated", map[string]any{"id": "acct_1", "object": "account"})
	for _, tc := range []struct {
		name, signature, body string
		status                int
		code                  string
	}{
		{"Unsigned", "", string(payload), 400, "invalid_request"},
		{"WrongSecret", stripetest.Sign(payload, "whsec_other", time.Now()), string(payload), 400, "invalid_request"},
		{"Stale", stripetest.Sign(payload, webhookSecret, time.Now().Add(-10*time.Minute)), string(payload), 400, "invalid_request"},
		{"Tampered", stripetest.Sign(payload, webhookSecret, time.Now()), strings.Replace(string(payload), "acct_1", "acct_9", 1), 400, "invalid_request"},
		{"TooLarge", "t=1,v1=00", `{"x":"` + strings.Repeat("a", 2<<20) + `"}`, 413, "payload_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.do("POST", "/api/v1/stripe/webhook", "", tc.body, "Stripe-Signature", tc.signature).want(t, tc.status, tc.code)
		})
	}
	// An event Lobby does not use is taken and ignored; an unknown checkout's is
	// taken and does nothing.
	r := s.stripeEvent("evt_unused", "customer.created", map[string]any{"id": "cus_1", "object": "customer"}).want(t, 200).json()
	if r["used"] != false {
		t.Fatalf("an unused event: %v", r)
	}
	s.stripeEvent("evt_stranger", "checkout.session.completed", map[string]any{"id": "cs_9", "object": "checkout.session",
		"client_reference_id": "chk_nosuch"}).want(t, 200)
	// Refused and unused events were not stored; the stranger's was, and did nothing.
	events := s.db.Services().PaymentEvents
	for _, id := range []string{"evt_1", "evt_unused"} {
		_, err := events.ApplyPaymentEvent(context.Background(), id)
		storetest.WantCode(t, err, lobby.ENOTFOUND)
	}
	if _, err := events.ApplyPaymentEvent(context.Background(), "evt_stranger"); err != nil {
		t.Fatalf("the stranger's event was not stored: %v", err)
	}
}

// TestStripeCheckoutAndPayouts: against stripe-mock, an owner onboards Connect; a paid
// plan cannot be bought until account.updated enables payouts, and then subscribing
// answers with the Checkout Session's URL.
func TestStripeCheckoutAndPayouts(t *testing.T) {
	s := newTestServer(t, storetest.SQLite, withStripe(storetest.StripeMock(t)))
	owner, ownerID := s.signIn("owner@example.com")
	s.createConsultant(owner, "paid", map[string]any{"plans": []map[string]any{{"tier": "small", "price_cents": 900, "message_cap": 5}}})
	buyer, _ := s.signIn("buyer@example.com")
	stranger, _ := s.signIn("stranger@example.com")

	if st := s.do("GET", "/api/v1/consultants/paid/payouts", owner, nil).want(t, 200).json()["status"]; st != "none" {
		t.Fatalf("before onboarding: %v, want none", st)
	}
	s.do("POST", "/api/v1/consultants/paid/payouts", stranger, nil).want(t, 403, "forbidden")
	s.do("POST", "/api/v1/consultants/paid/subscribe", buyer, map[string]string{"tier": "small"}).want(t, 409, "conflict")
	link := s.do("POST", "/api/v1/consultants/paid/payouts", owner, nil).want(t, 200).json()["url"].(string)
	if !strings.HasPrefix(link, "http") {
		t.Fatalf("onboarding url %q", link)
	}
	if st := s.do("GET", "/api/v1/consultants/paid/payouts", owner, nil).want(t, 200).json()["status"]; st != "pending" {
		t.Fatalf("after onboarding started: %v, want pending", st)
	}
	s.do("POST", "/api/v1/consultants/paid/subscribe", buyer, map[string]string{"tier": "small"}).want(t, 409, "conflict")

	acct, err := s.db.Services().PaymentRefs.FindPayoutAccount(context.Background(), ownerID)
	if err != nil {
		t.Fatal(err)
	}
	s.stripeEvent("evt_acct", "account.updated", map[string]any{"id": acct.Ref, "object": "account", "charges_enabled": true, "payouts_enabled": true}).want(t, 200)
	eventually(t, "payouts are enabled", func() bool {
		return s.do("GET", "/api/v1/consultants/paid/payouts", owner, nil).want(t, 200).json()["status"] == "enabled"
	})
	ch := s.do("POST", "/api/v1/consultants/paid/subscribe", buyer, map[string]string{"tier": "small"}).want(t, 201).json()
	if url, _ := ch["checkout_url"].(string); !strings.HasPrefix(url, "http") || strings.Contains(url, "lobby.test") {
		t.Fatalf("checkout_url %q: want Stripe's Checkout page", url)
	}
	id := ch["checkout_id"].(string)
	if v := s.do("GET", "/api/v1/checkout/"+id, buyer, nil).want(t, 200).json(); v["status"] != "open" || v["buyer_token"] != nil {
		t.Fatalf("before Stripe says it was paid: %v", v)
	}
	// Back from Stripe before its event: the page offers no confirm button, only to
	// wait or to pay; once the event has come, it shows the token once.
	b := &browser{t: t, s: s, cookie: &http.Cookie{Name: "lobby_session", Value: buyer}}
	page := b.get("/checkout/"+id).html(t, 200, "reload this page", "Pay with Stripe", html.EscapeString(ch["checkout_url"].(string)))
	if strings.Contains(page, "Confirm subscription") {
		t.Fatal("a Stripe checkout offers the local confirm button")
	}
	s.stripeEvent("evt_paid", "checkout.session.completed", map[string]any{"id": "cs_1", "object": "checkout.session",
		"client_reference_id": id, "subscription": "sub_web"}).want(t, 200)
	eventually(t, "the page shows the token", func() bool { return strings.Contains(string(b.get("/checkout/"+id).body), "cl_buyer_") })
	if page := b.get("/checkout/"+id).html(t, 200, "You are subscribed"); strings.Contains(page, "cl_buyer_") {
		t.Fatal("the buyer token is shown twice")
	}
	// In the widget's frame: a tier chosen, the frame links to Stripe's page in a new
	// tab (Checkout refuses to be framed) and offers no confirm button; once Stripe
	// says it was paid, the frame is the chat.
	visitor, _ := s.signIn("visitor@example.com")
	framed := &browser{t: t, s: s, cookie: &http.Cookie{Name: "lobby_widget", Value: visitor}}
	r := framed.post("/widget/paid/subscribe", url.Values{"tier": {"small"}})
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/widget/paid?checkout=chk_") {
		t.Fatalf("the frame's subscribe: %d to %q", r.status, r.header.Get("Location"))
	}
	frameCheckout := strings.TrimPrefix(r.header.Get("Location"), "/widget/paid?checkout=")
	page = framed.get(r.header.Get("Location")).html(t, 200, `target="_blank" rel="noopener">Pay with Stripe</a>`, "come back here")
	if m := regexp.MustCompile(`<a href="([^"]+)" target="_blank"`).FindStringSubmatch(page); m == nil ||
		!strings.HasPrefix(m[1], "http") || strings.Contains(m[1], "lobby.test") {
		t.Fatalf("the frame's link to pay: %v", m)
	}
	if strings.Contains(page, "Confirm subscription") {
		t.Fatal("the frame offers the local confirm button with Stripe")
	}
	framed.post("/widget/paid/confirm", url.Values{"checkout": {frameCheckout}}).html(t, 404, "paid with the payment provider")
	framed.get("/widget/paid").html(t, 200, "Subscribe to small")
	s.stripeEvent("evt_frame_paid", "checkout.session.completed", map[string]any{"id": "cs_frame", "object": "checkout.session",
		"client_reference_id": frameCheckout, "subscription": "sub_frame"}).want(t, 200)
	eventually(t, "the frame is the chat", func() bool {
		return strings.Contains(string(framed.get("/widget/paid").body), `<label for="message">Message</label>`)
	})

	// Cancelling tells Stripe (stripe-mock takes it), then records it.
	subs := s.do("GET", "/api/v1/subscriptions", buyer, nil).want(t, 200).json()["data"].([]any)
	v := s.do("DELETE", "/api/v1/subscriptions/"+subs[0].(map[string]any)["id"].(string), buyer, nil).want(t, 200).json()
	if v["cancel_at_period_end"] != true {
		t.Fatalf("after cancelling: %v", v)
	}
	v = s.do("POST", "/api/v1/subscriptions/"+subs[0].(map[string]any)["id"].(string)+"/resume", buyer, nil).want(t, 200).json()
	if v["cancel_at_period_end"] != false {
		t.Fatalf("after resuming: %v", v)
	}
	// A free plan asks Stripe nothing: the checkout is born complete, on Lobby's page.
	s.createConsultant(owner, "gratis", map[string]any{"plans": []map[string]any{{"tier": "free", "price_cents": 0, "message_cap": 5}}})
	free := s.do("POST", "/api/v1/consultants/gratis/subscribe", buyer, map[string]string{"tier": "free"}).want(t, 201).json()
	if free["checkout_url"] != "http://lobby.test/checkout/"+free["checkout_id"].(string) {
		t.Fatalf("a free plan's checkout_url %v", free["checkout_url"])
	}
	if v := s.do("GET", "/api/v1/checkout/"+free["checkout_id"].(string), buyer, nil).want(t, 200).json(); v["status"] != "complete" ||
		!strings.HasPrefix(fmt.Sprint(v["buyer_token"]), "cl_buyer_") {
		t.Fatalf("a free plan's checkout: %v", v)
	}
	// The subscribe form of a profile sends a browser to Stripe's Checkout.
	other, _ := s.signIn("other@example.com")
	b2 := &browser{t: t, s: s, cookie: &http.Cookie{Name: "lobby_session", Value: other}}
	r = b2.post("/consultants/paid/subscribe", url.Values{"tier": {"small"}})
	if loc := r.header.Get("Location"); r.status != 303 || !strings.HasPrefix(loc, "http") || strings.Contains(loc, "lobby.test") {
		t.Fatalf("the subscribe form: %d to %q, want a redirect to Stripe", r.status, loc)
	}
}
