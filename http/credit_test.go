package http_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lobby-dev/lobby/storetest"
)

// buyCredits buys amount cents of credits on the local confirm step.
func (s *testServer) buyCredits(user string, amount int) map[string]any {
	s.t.Helper()
	ch := s.do("POST", "/api/v1/credits/checkout", user, map[string]any{"amount_cents": amount}).want(s.t, 201).json()
	return s.do("POST", "/api/v1/checkout/"+ch["checkout_id"].(string)+"/complete", user, nil).want(s.t, 200).json()
}

// TestCredits: through the API on the local provider, a user buys credits, subscribes
// to a per-message plan at no cost, and each message takes its price; chat answers and
// GET /api/v1/usage show the balance; an empty balance is 402 saying how to buy more;
// 50 messages at once on a balance worth 20 store 20 and leave zero.
func TestCredits(t *testing.T) {
	for _, be := range storetest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			s := newTestServer(t, be)
			owner, _ := s.signIn("owner@example.com")
			user, _ := s.signIn("buyer@example.com")
			stranger, _ := s.signIn("stranger@example.com")

			// Bad purchases and the wrong credential.
			for _, body := range []any{map[string]any{}, map[string]any{"amount_cents": 99}, map[string]any{"amount_cents": 100001},
				map[string]any{"amount_cents": "500"}, map[string]any{"amount_cents": 10.5}} {
				s.do("POST", "/api/v1/credits/checkout", user, body).want(t, 400, "invalid_request")
			}
			s.do("POST", "/api/v1/credits/checkout", "", map[string]any{"amount_cents": 500}).want(t, 401)
			if b := s.do("GET", "/api/v1/credits", user, nil).want(t, 200).json(); b["balance_cents"] != 0.0 || b["currency"] != "usd" {
				t.Fatalf("a new user's credits: %v", b)
			}

			// A purchase is a checkout: read, confirmed once, its buyer's only.
			ch := s.do("POST", "/api/v1/credits/checkout", user, map[string]any{"amount_cents": 500}).want(t, 201).json()
			id := ch["checkout_id"].(string)
			if ch["checkout_url"] != "http://lobby.test/checkout/"+id {
				t.Fatalf("checkout_url %v", ch["checkout_url"])
			}
			if v := s.do("GET", "/api/v1/checkout/"+id, user, nil).want(t, 200).json(); v["kind"] != "credits" || v["status"] != "open" ||
				v["amount_cents"] != 500.0 || v["balance"] != nil {
				t.Fatalf("an open purchase: %v", v)
			}
			s.do("GET", "/api/v1/checkout/"+id, stranger, nil).want(t, 404)
			s.do("POST", "/api/v1/checkout/"+id+"/complete", stranger, nil).want(t, 404)
			for range 2 {
				v := s.do("POST", "/api/v1/checkout/"+id+"/complete", user, nil).want(t, 200).json()
				if v["status"] != "complete" || v["balance"].(map[string]any)["balance_cents"] != 500.0 {
					t.Fatalf("a confirmed purchase: %v", v)
				}
			}
			s.buyCredits(user, 500)
			if b := s.do("GET", "/api/v1/credits", user, nil).want(t, 200).json(); b["balance_cents"] != 1000.0 {
				t.Fatalf("credits after two purchases of 500, one confirmed twice: %v", b)
			}
			if b := s.do("GET", "/api/v1/credits", stranger, nil).want(t, 200).json(); b["balance_cents"] != 0.0 {
				t.Fatalf("the stranger's credits: %v", b)
			}

			// A per-message plan: bad ones are refused, a good one costs nothing to join.
			for _, plan := range []map[string]any{{"tier": "payg", "per": "message", "price_cents": 0},
				{"tier": "payg", "per": "message", "price_cents": 50, "currency": "eur"}, {"tier": "payg", "per": "day", "price_cents": 50}} {
				s.do("POST", "/api/v1/consultants", owner, map[string]any{"slug": "bad", "name": "Bad", "tagline": "x", "description": "x",
					"category": "general", "system_prompt": "x", "plans": []any{plan}}).want(t, 400, "invalid_request")
			}
			c := s.createConsultant(owner, "payg", map[string]any{"plans": []map[string]any{{"tier": "payg", "per": "message", "price_cents": 50}}})
			if p := c["consultant"].(map[string]any)["plans"].([]any)[0].(map[string]any); p["per"] != "message" {
				t.Fatalf("the plan as listed: %v", p)
			}
			sub := s.do("POST", "/api/v1/consultants/payg/subscribe", user, map[string]string{"tier": "payg"}).want(t, 201).json()
			v := s.do("GET", "/api/v1/checkout/"+sub["checkout_id"].(string), user, nil).want(t, 200).json()
			token, _ := v["buyer_token"].(string)
			if v["status"] != "complete" || v["per"] != "message" || !strings.HasPrefix(token, "cl_buyer_") {
				t.Fatalf("a per-message checkout's first read: %v", v)
			}
			// A buyer token chats; it cannot spend the user's money.
			s.do("POST", "/api/v1/credits/checkout", token, map[string]any{"amount_cents": 500}).want(t, 403, "forbidden")

			// 50 messages at once on a balance worth 20.
			var ok, refused atomic.Int32
			var wg sync.WaitGroup
			for i := range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := s.inGoroutine().do("POST", "/api/v1/chat", token, map[string]any{"message": fmt.Sprint("message ", i), "wait_seconds": 0})
					switch r.status {
					case http.StatusAccepted:
						ok.Add(1)
					case http.StatusPaymentRequired:
						if code, msg := r.errorCode(t); code != "payment_required" || !strings.Contains(msg, "POST /api/v1/credits/checkout") {
							t.Errorf("402 %s: %s", code, msg)
						}
						refused.Add(1)
					default:
						t.Errorf("status %d: %s", r.status, r.body)
					}
				}()
			}
			wg.Wait()
			cnvs := s.do("GET", "/api/v1/conversations", token, nil).want(t, 200).json()["data"].([]any)
			msgs := s.do("GET", "/api/v1/conversations/"+cnvs[0].(map[string]any)["id"].(string)+"/messages?limit=100", token, nil).want(t, 200).json()["data"].([]any)
			if ok.Load() != 20 || refused.Load() != 30 || len(msgs) != 40 {
				t.Fatalf("%d sent, %d refused, %d messages stored; want 20, 30, 40", ok.Load(), refused.Load(), len(msgs))
			}
			if b := s.do("GET", "/api/v1/credits", user, nil).want(t, 200).json(); b["balance_cents"] != 0.0 {
				t.Fatalf("credits after 20 messages of 50 on 1000: %v, want exactly 0", b)
			}
			if u := s.do("GET", "/api/v1/usage", token, nil).want(t, 200).json(); u["credits_cents"] != 0.0 || u["messages_used"] != 20.0 || u["tier"] != "payg" {
				t.Fatalf("usage: %v", u)
			}

			// More credits, and the next answer shows what is left.
			s.buyCredits(user, 100)
			a := s.do("POST", "/api/v1/chat", token, map[string]any{"message": "after topping up", "wait_seconds": 0}).want(t, 202).json()
			if u := a["usage"].(map[string]any); u["credits_cents"] != 50.0 {
				t.Fatalf("usage in the chat answer: %v", u)
			}

			// The owner earns what was spent, less the platform's fee.
			es := s.do("GET", "/api/v1/consultants/payg/earnings", owner, nil).want(t, 200).json()["data"].([]any)
			if len(es) != 1 {
				t.Fatalf("earnings %v", es)
			}
			e := es[0].(map[string]any)
			if e["gross_cents"] != 1050.0 || e["charges"] != 21.0 || e["gross_cents"].(float64)-e["fee_cents"].(float64) != e["net_cents"] {
				t.Fatalf("earnings %v: want 21 messages of 50, gross - fee = net", e)
			}

			// A monthly plan's usage carries no balance.
			s.createConsultant(owner, "monthly", map[string]any{"plans": []map[string]any{{"tier": "m", "price_cents": 500, "message_cap": 5}}})
			_, monthly := s.subscribe(user, "monthly", "m")
			if u := s.do("GET", "/api/v1/usage", monthly, nil).want(t, 200).json(); u["credits_cents"] != nil {
				t.Fatalf("a monthly plan's usage: %v", u)
			}
		})
	}
}

// TestCreditsPage: the checkout page of a purchase confirms it and shows the balance.
func TestCreditsPage(t *testing.T) {
	s := newTestServer(t, storetest.SQLite)
	user, _ := s.signIn("buyer@example.com")
	ch := s.do("POST", "/api/v1/credits/checkout", user, map[string]any{"amount_cents": 2500}).want(t, 201).json()
	id := ch["checkout_id"].(string)
	b := &browser{t: t, s: s, cookie: &http.Cookie{Name: "lobby_session", Value: user}}
	b.get("/checkout/"+id).html(t, 200, "Buy credits", "$25", "Confirm purchase")
	b.post("/checkout/"+id+"/confirm", nil).html(t, 200, "Your balance is now", "$25")
	other, _ := s.signIn("other@example.com")
	(&browser{t: t, s: s, cookie: &http.Cookie{Name: "lobby_session", Value: other}}).get("/checkout/"+id).html(t, 404)
}
