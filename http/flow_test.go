package http_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/lobby-dev/lobby/storetest"
)

// TestFlow is the README's walk-through: sign in with a mailed code, list a consultant,
// find it by a word of its description, subscribe, and hold a buyer token.
func TestFlow(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newTestServer(t, b)
		owner, ownerID := s.signIn("owner@example.com")

		me := s.do("GET", "/api/v1/me", owner, nil).want(t, 200).json()
		if me["user"].(map[string]any)["email"] != "owner@example.com" || me["user"].(map[string]any)["id"] != ownerID {
			t.Fatalf("me = %v", me)
		}

		created := s.createConsultant(owner, "tax-helper", map[string]any{
			"description": "Explains depreciation schedules for small businesses.", "tags": []string{"tax"}})
		key := created["api_key"].(string)
		if !strings.HasPrefix(key, "cl_consultant_") || created["webhook_secret"] != nil {
			t.Fatalf("create = %v", created)
		}

		// Anyone finds it by a word of its description; the public object keeps secrets.
		list := s.do("GET", "/api/v1/consultants?q=depreciation", "", nil).want(t, 200)
		v := list.json()
		data := v["data"].([]any)
		if len(data) != 1 || data[0].(map[string]any)["slug"] != "tax-helper" || v["next_cursor"] != nil {
			t.Fatalf("search = %s", list.body)
		}
		pub := s.do("GET", "/api/v1/consultants/tax-helper", "", nil).want(t, 200)
		for _, secret := range []string{"system_prompt", "You are helpful", "webhook", key, "owner"} {
			if strings.Contains(string(list.body)+string(pub.body), secret) {
				t.Fatalf("public consultant shows %q: %s", secret, pub.body)
			}
		}
		plans := pub.json()["plans"].([]any)
		if len(plans) != 3 || plans[0].(map[string]any)["tier"] != "starter" || plans[2].(map[string]any)["message_cap"] != nil {
			t.Fatalf("plans = %v", plans)
		}

		// The owner and the key read the private object and edit it.
		priv := s.do("GET", "/api/v1/consultants/tax-helper/private", key, nil).want(t, 200).json()
		if priv["system_prompt"] != "You are helpful." {
			t.Fatalf("private = %v", priv)
		}
		s.do("PATCH", "/api/v1/consultants/tax-helper", owner, map[string]any{"tagline": "Tax, plainly"}).want(t, 200)
		if got := s.do("GET", "/api/v1/consultants/tax-helper", "", nil).json()["tagline"]; got != "Tax, plainly" {
			t.Fatalf("tagline after PATCH = %v", got)
		}

		// A buyer subscribes with the local provider.
		buyer, _ := s.signIn("buyer@example.com")
		ch := s.do("POST", "/api/v1/consultants/tax-helper/subscribe", buyer, map[string]string{"tier": "pro"}).want(t, 201).json()
		id := ch["checkout_id"].(string)
		if ch["checkout_url"] != "http://lobby.test/checkout/"+id {
			t.Fatalf("checkout = %v", ch)
		}
		open := s.do("GET", "/api/v1/checkout/"+id, buyer, nil).want(t, 200).json()
		if open["status"] != "open" || open["buyer_token"] != nil {
			t.Fatalf("open checkout = %v", open)
		}
		// Completing is the first read after completion: it carries the token.
		done := s.do("POST", "/api/v1/checkout/"+id+"/complete", buyer, nil).want(t, 200).json()
		token, _ := done["buyer_token"].(string)
		if done["status"] != "complete" || !strings.HasPrefix(token, "cl_buyer_") {
			t.Fatalf("completed checkout = %v", done)
		}
		if again := s.do("GET", "/api/v1/checkout/"+id, buyer, nil).json(); again["buyer_token"] != nil {
			t.Fatalf("the buyer token was shown twice: %v", again)
		}

		subs := s.do("GET", "/api/v1/subscriptions", buyer, nil).want(t, 200).json()["data"].([]any)
		sub := subs[0].(map[string]any)
		if len(subs) != 1 || sub["tier"] != "pro" || sub["message_cap"] != float64(300) || sub["messages_used"] != float64(0) ||
			sub["status"] != "active" || sub["consultant"].(map[string]any)["slug"] != "tax-helper" || sub["period_end"] == nil {
			t.Fatalf("subscriptions = %v", subs)
		}
		if sub["consultant"].(map[string]any)["system_prompt"] != nil {
			t.Fatal("a subscription shows the consultant's system prompt")
		}

		// The buyer token is a credential of its own kind.
		s.do("GET", "/api/v1/me", token, nil).want(t, 403, "forbidden", "cl_user_")

		// Rotating stops the old token at once; cancelling keeps the period.
		rotated := s.do("POST", "/api/v1/subscriptions/"+sub["id"].(string)+"/token", buyer, nil).want(t, 200).json()["buyer_token"].(string)
		if rotated == token || !strings.HasPrefix(rotated, "cl_buyer_") {
			t.Fatalf("rotated token %q", rotated)
		}
		s.do("GET", "/api/v1/me", token, nil).want(t, 401, "unauthorized")
		canceled := s.do("DELETE", "/api/v1/subscriptions/"+sub["id"].(string), buyer, nil).want(t, 200).json()
		if canceled["cancel_at_period_end"] != true || canceled["status"] != "active" {
			t.Fatalf("canceled = %v", canceled)
		}
		// Taken back before the period ends, and cancelled again.
		s.do("POST", "/api/v1/subscriptions/sub_nope/resume", buyer, nil).want(t, 404, "not_found")
		if resumed := s.do("POST", "/api/v1/subscriptions/"+sub["id"].(string)+"/resume", buyer, nil).want(t, 200).json(); resumed["cancel_at_period_end"] != false {
			t.Fatalf("resumed = %v", resumed)
		}
		s.do("DELETE", "/api/v1/subscriptions/"+sub["id"].(string), buyer, nil).want(t, 200)

		me = s.do("GET", "/api/v1/me", buyer, nil).want(t, 200).json()
		if len(me["subscriptions"].([]any)) != 1 || len(me["consultants"].([]any)) != 0 {
			t.Fatalf("buyer's me = %v", me)
		}
		if mine := s.do("GET", "/api/v1/me", owner, nil).json()["consultants"].([]any); len(mine) != 1 ||
			mine[0].(map[string]any)["system_prompt"] != "You are helpful." {
			t.Fatalf("owner's consultants = %v", mine)
		}

		// Logging out ends the session.
		s.do("POST", "/api/v1/auth/logout", owner, nil).want(t, 204)
		s.do("GET", "/api/v1/me", owner, nil).want(t, 401)
	})
}

// TestConcurrentSignInsAndSubscriptions: 200 people sign in and subscribe at once on
// SQLite; every one succeeds and every write is there afterwards.
func TestConcurrentSignInsAndSubscriptions(t *testing.T) {
	s := newTestServer(t, storetest.SQLite)
	owner, _ := s.signIn("owner@example.com")
	s.createConsultant(owner, "popular", nil)

	const n = 200
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := s.inGoroutine()
			token, _ := g.signIn(fmt.Sprintf("buyer%03d@example.com", i))
			g.subscribe(token, "popular", "starter")
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	got := s.do("GET", "/api/v1/consultants/popular", "", nil).want(t, 200).json()["stats"].(map[string]any)["subscribers"]
	if got != float64(n) {
		t.Fatalf("subscribers = %v, want %d", got, n)
	}
}

// TestCompleteAfterProviderRevealsOnce: a checkout the provider completed is still
// unread; completing it again through the API is its first read and carries the token.
func TestCompleteAfterProviderRevealsOnce(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newTestServer(t, b)
		owner, _ := s.signIn("owner@example.com")
		s.createConsultant(owner, "seller", nil)
		buyer, _ := s.signIn("buyer@example.com")
		id := s.do("POST", "/api/v1/consultants/seller/subscribe", buyer, map[string]string{"tier": "pro"}).want(t, 201).json()["checkout_id"].(string)
		if err := s.db.Services().Subscriptions.CompleteCheckout(context.Background(), id, ""); err != nil {
			t.Fatal(err)
		}
		first := s.do("POST", "/api/v1/checkout/"+id+"/complete", buyer, nil).want(t, 200).json()
		if tok, _ := first["buyer_token"].(string); !strings.HasPrefix(tok, "cl_buyer_") {
			t.Fatalf("first read after the provider's completion: %v", first)
		}
		if again := s.do("POST", "/api/v1/checkout/"+id+"/complete", buyer, nil).want(t, 200).json(); again["buyer_token"] != nil {
			t.Fatalf("the token was shown twice: %v", again)
		}
	})
}
