package http_test

import (
	"strings"
	"testing"

	"github.com/lobby-dev/lobby/storetest"
)

// TestKeyRotation: only the signed-in owner rotates a consultant's key; the old key
// stops at once or after the overlap, and the list shows each key's use.
func TestKeyRotation(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newTestServer(t, b)
		owner, _ := s.signIn("owner@example.com")
		old := s.createConsultant(owner, "leaky", nil)["api_key"].(string)
		other, _ := s.signIn("other@example.com")
		s.do("GET", "/api/v1/consultants/leaky/private", old, nil).want(t, 200)

		// A leaked key cannot rotate itself out of its owner's hands, nor can others.
		s.do("POST", "/api/v1/consultants/leaky/key", old, nil).want(t, 403, "forbidden", "cl_user_")
		s.do("POST", "/api/v1/consultants/leaky/key", other, nil).want(t, 403, "forbidden", "not yours")
		s.do("GET", "/api/v1/consultants/leaky/keys", old, nil).want(t, 403, "forbidden")
		s.do("DELETE", "/api/v1/consultants/leaky", old, nil).want(t, 403, "forbidden")
		s.do("POST", "/api/v1/consultants/leaky/key", owner, map[string]any{"overlap_seconds": 86401}).want(t, 400, "invalid_request", "overlap_seconds")
		s.do("POST", "/api/v1/consultants/leaky/key", owner, `{"overlap_seconds": 9223372037}`).want(t, 400, "invalid_request", "overlap_seconds")

		v := s.do("POST", "/api/v1/consultants/leaky/key", owner, nil).want(t, 200).json()
		fresh := v["api_key"].(string)
		if !strings.HasPrefix(fresh, "cl_consultant_") || v["previous_key_valid_until"] != nil {
			t.Fatalf("rotation: %v", v)
		}
		s.do("GET", "/api/v1/consultants/leaky/private", old, nil).want(t, 401, "unauthorized")
		s.do("GET", "/api/v1/consultants/leaky/private", fresh, nil).want(t, 200)

		v = s.do("POST", "/api/v1/consultants/leaky/key", owner, map[string]any{"overlap_seconds": 3600}).want(t, 200).json()
		if v["previous_key_valid_until"] == nil {
			t.Fatalf("an overlap, but no end: %v", v)
		}
		s.do("GET", "/api/v1/consultants/leaky/private", fresh, nil).want(t, 200) // within the overlap
		keys := s.do("GET", "/api/v1/consultants/leaky/keys", owner, nil).want(t, 200)
		list := keys.json()["data"].([]any)
		if len(list) != 3 || list[1].(map[string]any)["last_used_at"] == nil || list[0].(map[string]any)["revoked_at"] != nil {
			t.Fatalf("keys: %s", keys.body)
		}
		if strings.Contains(string(keys.body), "cl_consultant_") {
			t.Fatalf("the key list shows a key: %s", keys.body)
		}
	})
}

// TestArchive: an archived consultant leaves the catalog and its page, takes no new
// subscribers, and its subscribers keep consulting to the period's end.
func TestArchive(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newTestServer(t, b)
		owner, _ := s.signIn("owner@example.com")
		s.createConsultant(owner, "retiring", nil)
		buyer, _ := s.signIn("buyer@example.com")
		_, token := s.subscribe(buyer, "retiring", "starter")
		late, _ := s.signIn("late@example.com")

		s.do("DELETE", "/api/v1/consultants/retiring", late, nil).want(t, 403, "forbidden")
		s.do("DELETE", "/api/v1/consultants/retiring", owner, nil).want(t, 204)
		s.do("DELETE", "/api/v1/consultants/retiring", owner, nil).want(t, 204)
		s.do("GET", "/api/v1/consultants/retiring", "", nil).want(t, 404, "not_found", "no longer")
		if list := s.do("GET", "/api/v1/consultants", "", nil).json()["data"].([]any); len(list) != 0 {
			t.Fatalf("the catalog lists %v", list)
		}
		(&browser{t: t, s: s}).get("/consultants/retiring").html(t, 404, "no longer")
		s.do("POST", "/api/v1/consultants/retiring/subscribe", late, map[string]string{"tier": "pro"}).want(t, 409, "conflict", "archived")
		if got := s.do("GET", "/api/v1/consultants/retiring/private", owner, nil).want(t, 200).json()["archived_at"]; got == nil {
			t.Fatal("the owner does not see the archive")
		}
		s.do("POST", "/api/v1/chat", token, map[string]any{"message": "Still there?", "wait_seconds": 0}).want(t, 202)
		if sub := s.do("GET", "/api/v1/subscriptions", buyer, nil).json()["data"].([]any)[0].(map[string]any); sub["cancel_at_period_end"] != true {
			t.Fatalf("the subscription goes on past its period: %v", sub)
		}
	})
}

// TestKeyChangesTellTheOwner: changing the webhook URL or rotating the webhook secret
// with the consultant's key mails its owner; the owner's own changes do not.
func TestKeyChangesTellTheOwner(t *testing.T) {
	s := newTestServer(t, storetest.SQLite)
	owner, _ := s.signIn("owner@example.com")
	key := s.createConsultant(owner, "hooked", map[string]any{"mode": "webhook", "webhook_url": "https://agent.example.com/a"})["api_key"].(string)
	mails := func() int { return len(s.mailbox.Messages()) }
	before := mails()

	s.do("PATCH", "/api/v1/consultants/hooked", owner, map[string]any{"webhook_url": "https://agent.example.com/b"}).want(t, 200)
	s.do("POST", "/api/v1/consultants/hooked/webhook/secret", owner, nil).want(t, 200)
	s.do("PATCH", "/api/v1/consultants/hooked", key, map[string]any{"name": "Renamed"}).want(t, 200)
	if mails() != before {
		t.Fatalf("%d mails for changes the owner made or that touch no endpoint", mails()-before)
	}
	s.do("PATCH", "/api/v1/consultants/hooked", key, map[string]any{"webhook_url": "https://attacker.example.com/x"}).want(t, 200)
	m := s.mailbox.Messages()[0]
	if mails() != before+1 || m.To != "owner@example.com" || !strings.Contains(m.Text, "https://attacker.example.com/x") || !strings.Contains(m.Text, "/key") {
		t.Fatalf("after the key changed the URL: %d mails, newest %+v", mails()-before, m)
	}
	s.do("POST", "/api/v1/consultants/hooked/webhook/secret", key, nil).want(t, 200)
	if m := s.mailbox.Messages()[0]; mails() != before+2 || !strings.Contains(m.Text, "secret was rotated") {
		t.Fatalf("after the key rotated the secret: %+v", m)
	}
}
