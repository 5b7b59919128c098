package main_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/lobbytest"
	"github.com/lobby-dev/lobby/storetest"
	"github.com/lobby-dev/lobby/stripe/stripetest"
)

// TestStripeThroughTheBinary: `lobby serve --payments stripe` against stripe-mock,
// with events signed as Stripe signs them. An owner onboards Connect; the paid plan
// is refused until account.updated enables payouts; a buyer subscribes through a
// Checkout Session, gets the buyer token after checkout.session.completed, renews
// (usage back to zero), fails a payment (chat 402), pays again, reaches its cap and
// upgrades, chatting on in the same conversation, and is cancelled. Each
// event is sent ten times at once and has one effect.
func TestStripeThroughTheBinary(t *testing.T) {
	mock := storetest.StripeMock(t)
	const secret = "whsec_binary_test"
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn, db := lobbytest.Store(t, b)
			srv := lobbytest.Serve(t, "--database", dsn, "--payments", "stripe", "--stripe-secret-key", "sk_test_123",
				"--stripe-webhook-secret", "whsec_other,"+secret, "--stripe-api-url", mock)
			send := func(id, typ string, object map[string]any) {
				t.Helper()
				payload := stripetest.Event(id, typ, object)
				var wg sync.WaitGroup
				for range 10 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						req, _ := http.NewRequest("POST", srv.URL+"/api/v1/stripe/webhook", bytes.NewReader(payload))
						req.Header.Set("Content-Type", "application/json")
						req.Header.Set("Stripe-Signature", stripetest.Sign(payload, secret, time.Now()))
						resp, err := http.DefaultClient.Do(req)
						if err != nil {
							t.Error(err)
							return
						}
						body, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 200 {
							t.Errorf("%s: %d %s", typ, resp.StatusCode, body)
						}
					}()
				}
				wg.Wait()
			}
			waitFor := func(what string, cond func() bool) {
				t.Helper()
				for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("after 30 s: %s\n%s", what, srv.Log())
					}
				}
			}

			owner := srv.SignIn("owner@example.com")
			srv.Do("POST", "/api/v1/consultants", owner, map[string]any{"slug": "paid", "name": "Paid", "tagline": "Answers",
				"description": "Knows things.", "category": "general", "system_prompt": "You are helpful.",
				"plans": []map[string]any{{"tier": "small", "price_cents": 900, "message_cap": 3}, {"tier": "big", "price_cents": 2900, "message_cap": 50}}}, nil, 201)
			buyer := srv.SignIn("buyer@example.com")
			srv.Do("POST", "/api/v1/consultants/paid/subscribe", buyer, map[string]string{"tier": "small"}, nil, 409)
			var link struct{ URL string }
			srv.Do("POST", "/api/v1/consultants/paid/payouts", owner, nil, &link, 200)
			var me struct {
				User struct{ ID string } `json:"user"`
			}
			srv.Do("GET", "/api/v1/me", owner, nil, &me, 200)
			ownerID := me.User.ID
			acct, err := db.Services().PaymentRefs.FindPayoutAccount(context.Background(), ownerID)
			if err != nil {
				t.Fatalf("the owner's payout account (user %q): %v", ownerID, err)
			}
			send("evt_acct", "account.updated", map[string]any{"id": acct.Ref, "object": "account", "charges_enabled": true, "payouts_enabled": true})
			payouts := func() string {
				var v struct{ Status string }
				srv.Do("GET", "/api/v1/consultants/paid/payouts", owner, nil, &v, 200)
				return v.Status
			}
			waitFor("payouts enabled", func() bool { return payouts() == lobby.PayoutsEnabled })

			var ch struct {
				CheckoutID  string `json:"checkout_id"`
				CheckoutURL string `json:"checkout_url"`
			}
			srv.Do("POST", "/api/v1/consultants/paid/subscribe", buyer, map[string]string{"tier": "small"}, &ch, 201)
			if strings.HasPrefix(ch.CheckoutURL, srv.URL) {
				t.Fatalf("checkout_url %q is Lobby's, not Stripe's", ch.CheckoutURL)
			}
			send("evt_checkout", "checkout.session.completed", map[string]any{"id": "cs_1", "object": "checkout.session", "mode": "subscription",
				"client_reference_id": ch.CheckoutID, "subscription": "sub_bin", "customer": "cus_1", "amount_total": 900, "currency": "usd"})
			var token string
			waitFor("the checkout completes", func() bool {
				var v struct {
					Status     string `json:"status"`
					BuyerToken string `json:"buyer_token"`
				}
				srv.Do("GET", "/api/v1/checkout/"+ch.CheckoutID, buyer, nil, &v, 200)
				if v.BuyerToken != "" {
					token = v.BuyerToken
				}
				return v.Status == "complete"
			})
			if !strings.HasPrefix(token, "cl_buyer_") {
				t.Fatalf("no buyer token in the first read after completion: %q", token)
			}
			var subID string
			sub := func() (string, float64) {
				var v struct {
					Data []struct {
						ID           string  `json:"id"`
						Status       string  `json:"status"`
						MessagesUsed float64 `json:"messages_used"`
					} `json:"data"`
				}
				srv.Do("GET", "/api/v1/subscriptions", buyer, nil, &v, 200)
				if len(v.Data) != 1 {
					t.Fatalf("%d subscriptions, want 1", len(v.Data))
				}
				subID = v.Data[0].ID
				return v.Data[0].Status, v.Data[0].MessagesUsed
			}
			conversations := map[string]bool{}
			chat := func(want int) {
				t.Helper()
				var v struct {
					ConversationID string `json:"conversation_id"`
				}
				srv.Do("POST", "/api/v1/chat", token, map[string]any{"message": "hello", "wait_seconds": 0}, &v, want)
				if v.ConversationID != "" {
					conversations[v.ConversationID] = true
				}
			}
			chat(202)
			chat(202)

			invoice := func(start time.Time) map[string]any {
				return map[string]any{"id": fmt.Sprintf("in_%d", start.Unix()), "object": "invoice", "amount_paid": 900, "currency": "usd",
					"parent": map[string]any{"type": "subscription_details", "subscription_details": map[string]any{"subscription": "sub_bin"}},
					"lines": map[string]any{"object": "list", "data": []any{map[string]any{"id": "il_1",
						"period": map[string]any{"start": start.Unix(), "end": start.AddDate(0, 1, 0).Unix()}}}}}
			}
			// Stripe renews: the next period is paid, and usage starts over.
			next := time.Now().Add(2 * 24 * time.Hour)
			send("evt_renewal", "invoice.paid", invoice(next))
			waitFor("usage back to zero", func() bool { _, used := sub(); return used == 0 })
			chat(202)
			// The period after fails to be paid: chat answers 402 until it is.
			later := next.AddDate(0, 1, 0)
			send("evt_failed", "invoice.payment_failed", invoice(later))
			waitFor("past due", func() bool { st, _ := sub(); return st == lobby.SubscriptionPastDue })
			chat(402)
			send("evt_paid_again", "invoice.paid", invoice(later))
			waitFor("active again", func() bool { st, used := sub(); return st == "active" && used == 0 })
			chat(202)
			// At the cap, the buyer upgrades (Stripe prorates) and chats on, in the same
			// conversation, with the same token.
			chat(202)
			chat(202)
			chat(429)
			var up struct {
				Tier       string `json:"tier"`
				MessageCap int    `json:"message_cap"`
			}
			srv.Do("POST", "/api/v1/subscriptions/"+subID+"/plan", buyer, map[string]string{"tier": "big"}, &up, 200)
			if up.Tier != "big" || up.MessageCap != 50 {
				t.Fatalf("after the upgrade: %+v", up)
			}
			chat(202)
			if len(conversations) != 1 {
				t.Fatalf("messages went to %d conversations, want 1: %v", len(conversations), conversations)
			}
			send("evt_cancel", "customer.subscription.deleted", map[string]any{"id": "sub_bin", "object": "subscription", "status": "canceled"})
			waitFor("cancelled", func() bool { st, _ := sub(); return st == "canceled" })
			chat(401)
			if st, used := sub(); used != 4 {
				t.Fatalf("at the end: %s with %v messages used, want 4: an event had more than one effect", st, used)
			}
		})
	}
}
