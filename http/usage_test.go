package http_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/lobby-dev/lobby/storetest"
)

// TestUsageAndNotices: two instances on one database take a buyer's 20 messages at
// once; every chat answer and GET /api/v1/usage carry the numbers, and the buyer is
// mailed once at 85 % and once at 100 % of the cap, by whichever instance.
func TestUsageAndNotices(t *testing.T) {
	for _, be := range storetest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			db1 := be.Open(t)
			one := newTestServerOn(t, db1)
			two := newTestServerOn(t, be.OpenShared(t, db1))
			owner, _ := one.signIn("owner@example.com")
			one.createConsultant(owner, "capped", map[string]any{"plans": []map[string]any{{"tier": "twenty", "price_cents": 500, "message_cap": 20}}})
			buyer, _ := one.signIn("buyer@example.com")
			_, token := one.subscribe(buyer, "capped", "twenty")

			var wg sync.WaitGroup
			var mu sync.Mutex
			seen := map[float64]bool{}
			for i := range 20 {
				s := one
				if i%2 == 1 {
					s = two
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					v := s.inGoroutine().do("POST", "/api/v1/chat", token, map[string]any{"message": fmt.Sprint("message ", i), "wait_seconds": 0}).want(t, 202).json()
					u := v["usage"].(map[string]any)
					if u["tier"] != "twenty" || u["message_cap"] != 20.0 || u["status"] != "active" {
						t.Errorf("usage in a chat answer: %v", u)
					}
					mu.Lock()
					seen[u["messages_used"].(float64)] = true
					mu.Unlock()
				}()
			}
			wg.Wait()
			if len(seen) != 20 {
				t.Fatalf("chat answers reported %d distinct counts, want 1 to 20: %v", len(seen), seen)
			}
			u := two.do("GET", "/api/v1/usage", token, nil).want(t, 200).json()
			if u["messages_used"] != 20.0 || u["message_cap"] != 20.0 || u["period_end"] == nil {
				t.Fatalf("GET /api/v1/usage: %v", u)
			}
			one.do("POST", "/api/v1/chat", token, map[string]any{"message": "one more"}).want(t, 429, "quota_exceeded")
			one.do("GET", "/api/v1/usage", buyer, nil).want(t, 403) // a buyer token's route

			notices := func() (warn, full int) {
				for _, s := range []*testServer{one, two} {
					for _, m := range s.mailbox.Messages() {
						if m.To != "buyer@example.com" {
							continue
						}
						switch {
						case strings.Contains(m.Subject, "85%"):
							warn++
						case strings.Contains(m.Subject, "100%"):
							full++
						}
					}
				}
				return warn, full
			}
			eventually(t, "both notices are mailed", func() bool { w, f := notices(); return w >= 1 && f >= 1 })
			if w, f := notices(); w != 1 || f != 1 {
				t.Fatalf("%d notices at 85%% and %d at 100%%, want one each", w, f)
			}
		})
	}
}
