package http_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/lobby-dev/lobby/storetest"
)

// badRequest is one bad request and what its answer must be.
type badRequest struct {
	name, method, path, token string
	body                      any
	status                    int
	code, says                string
	headers                   []string
}

func (s *testServer) checkBad(t *testing.T, cases []badRequest) {
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			s.do(tt.method, tt.path, tt.token, tt.body, tt.headers...).want(t, tt.status, tt.code, tt.says)
		})
	}
}

// TestBadInput sends every class of bad request and checks the contract's error shape,
// status and a message that says what to fix, on each store.
func TestBadInput(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newTestServer(t, b)
		owner, _ := s.signIn("owner@example.com")
		s.createConsultant(owner, "taken", nil)
		key := s.createConsultant(owner, "keyed", nil)["api_key"].(string)
		buyer, _ := s.signIn("buyer@example.com")
		_, buyerToken := s.subscribe(buyer, "taken", "starter")
		long := strings.Repeat("x", 300)
		valid := func(edit map[string]any) map[string]any {
			body := map[string]any{"slug": "fresh-one", "name": "Fresh", "system_prompt": "Be brief."}
			for k, v := range edit {
				body[k] = v
			}
			return body
		}

		s.checkBad(t, []badRequest{
			// The body.
			{"MalformedJSON", "POST", "/api/v1/auth/code", "", `{"email": `, 400, "invalid_request", "malformed JSON", nil},
			{"NotAnObject", "POST", "/api/v1/auth/code", "", `["a"]`, 400, "invalid_request", "JSON object", nil},
			{"TrailingData", "POST", "/api/v1/auth/code", "", `{"email":"a@b.co"} {}`, 400, "invalid_request", "nothing after", nil},
			{"EmptyBody", "POST", "/api/v1/auth/code", "", ``, 400, "invalid_request", "empty", nil},
			{"WrongType", "POST", "/api/v1/auth/code", "", `{"email": 42}`, 400, "invalid_request", `"email" must be a string`, nil},
			{"UnknownField", "POST", "/api/v1/auth/code", "", `{"email":"a@b.co","emial":"x"}`, 400, "invalid_request", "unknown field", nil},
			{"NotJSON", "POST", "/api/v1/auth/code", "", `email=a@b.co`, 415, "unsupported_media_type", "application/json", []string{"Content-Type", "application/x-www-form-urlencoded"}},
			{"TooLarge", "POST", "/api/v1/consultants", owner, `{"description":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "payload_too_large", "bytes", nil},

			// Sign-in.
			{"MalformedEmail", "POST", "/api/v1/auth/code", "", map[string]string{"email": "not-an-email"}, 400, "invalid_request", "not a valid address", nil},
			{"LongEmail", "POST", "/api/v1/auth/code", "", map[string]string{"email": long + "@x.com"}, 400, "invalid_request", "at most", nil},
			{"CodeNotDigits", "POST", "/api/v1/auth/verify", "", map[string]string{"email": "a@b.co", "code": "12ab56"}, 400, "invalid_request", "6 digits", nil},
			{"CodeWrong", "POST", "/api/v1/auth/verify", "", map[string]string{"email": "nobody@example.com", "code": "123456"}, 401, "unauthorized", "request a new one", nil},

			// Credentials.
			{"NoToken", "GET", "/api/v1/me", "", nil, 401, "unauthorized", "bearer token", nil},
			{"GarbageToken", "GET", "/api/v1/me", "garbage", nil, 401, "unauthorized", "not a Lobby token", nil},
			{"UnknownToken", "GET", "/api/v1/me", "cl_user_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", nil, 401, "unauthorized", "unknown", nil},
			{"BadScheme", "GET", "/api/v1/me", "", nil, 401, "unauthorized", "Bearer", []string{"Authorization", "Basic abc"}},
			{"KeyAsUser", "GET", "/api/v1/me", key, nil, 403, "forbidden", "cl_consultant_", nil},
			{"BuyerCreatesConsultant", "POST", "/api/v1/consultants", buyerToken, valid(nil), 403, "forbidden", "cl_user_", nil},
			{"BuyerSubscribes", "POST", "/api/v1/consultants/keyed/subscribe", buyerToken, map[string]any{"tier": "pro"}, 403, "forbidden", "cl_buyer_", nil},
			{"KeyListsSubscriptions", "GET", "/api/v1/subscriptions", key, nil, 403, "forbidden", "", nil},
			{"BuyerReadsPrivate", "GET", "/api/v1/consultants/taken/private", buyerToken, nil, 403, "forbidden", "", nil},

			// Consultant fields.
			{"BadSlug", "POST", "/api/v1/consultants", owner, valid(map[string]any{"slug": "Bad Slug!"}), 400, "invalid_request", "a-z, 0-9", nil},
			{"ShortSlug", "POST", "/api/v1/consultants", owner, valid(map[string]any{"slug": "ab"}), 400, "invalid_request", "3-40", nil},
			{"LongSlug", "POST", "/api/v1/consultants", owner, valid(map[string]any{"slug": strings.Repeat("a", 41)}), 400, "invalid_request", "3-40", nil},
			{"TakenSlug", "POST", "/api/v1/consultants", owner, valid(map[string]any{"slug": "taken"}), 409, "conflict", "taken", nil},
			{"NoName", "POST", "/api/v1/consultants", owner, valid(map[string]any{"name": ""}), 400, "invalid_request", "name is required", nil},
			{"LongName", "POST", "/api/v1/consultants", owner, valid(map[string]any{"name": long}), 400, "invalid_request", "name must be at most", nil},
			{"LongPrompt", "POST", "/api/v1/consultants", owner, valid(map[string]any{"system_prompt": strings.Repeat("x", 33<<10)}), 400, "invalid_request", "system_prompt must be at most", nil},
			{"NoPrompt", "POST", "/api/v1/consultants", owner, valid(map[string]any{"system_prompt": ""}), 400, "invalid_request", "system_prompt is required", nil},
			{"BadMode", "POST", "/api/v1/consultants", owner, valid(map[string]any{"mode": "magic"}), 400, "invalid_request", "managed, webhook, polling", nil},
			{"TagsNotArray", "POST", "/api/v1/consultants", owner, valid(map[string]any{"tags": "a,b"}), 400, "invalid_request", `"tags" must be an array`, nil},
			{"BadTag", "POST", "/api/v1/consultants", owner, valid(map[string]any{"tags": []string{"has space"}}), 400, "invalid_request", "tag", nil},
			{"WebhookMissing", "POST", "/api/v1/consultants", owner, valid(map[string]any{"mode": "webhook"}), 400, "invalid_request", "webhook_url is required", nil},
			{"WebhookHTTP", "POST", "/api/v1/consultants", owner, valid(map[string]any{"mode": "webhook", "webhook_url": "http://agent.example.com/"}), 400, "invalid_request", "https", nil},
			{"WebhookLoopback", "POST", "/api/v1/consultants", owner, valid(map[string]any{"mode": "webhook", "webhook_url": "https://127.0.0.1/hook"}), 400, "invalid_request", "internal address", nil},
			{"WebhookMetadata", "POST", "/api/v1/consultants", owner, valid(map[string]any{"mode": "webhook", "webhook_url": "https://169.254.169.254/"}), 400, "invalid_request", "internal address", nil},
			{"WebhookPrivate", "POST", "/api/v1/consultants", owner, valid(map[string]any{"mode": "webhook", "webhook_url": "https://10.0.0.1/"}), 400, "invalid_request", "internal address", nil},
			{"WebhookIPv6Loopback", "POST", "/api/v1/consultants", owner, valid(map[string]any{"mode": "webhook", "webhook_url": "https://[::1]/"}), 400, "invalid_request", "internal address", nil},
			{"WebhookLocalhost", "POST", "/api/v1/consultants", owner, valid(map[string]any{"mode": "webhook", "webhook_url": "https://localhost/"}), 400, "invalid_request", "internal address", nil},
			{"WebhookNotURL", "POST", "/api/v1/consultants", owner, valid(map[string]any{"mode": "webhook", "webhook_url": "agent"}), 400, "invalid_request", "absolute URL", nil},
			{"WebhookFTP", "POST", "/api/v1/consultants", owner, valid(map[string]any{"mode": "webhook", "webhook_url": "ftp://agent.example.com/"}), 400, "invalid_request", "https", nil},
			{"PlanUnknownField", "POST", "/api/v1/consultants", owner, valid(map[string]any{"plans": []map[string]any{{"tier": "a", "price": 1}}}), 400, "invalid_request", "unknown field", nil},
			{"PlanNegativePrice", "POST", "/api/v1/consultants", owner, valid(map[string]any{"plans": []map[string]any{{"tier": "a", "price_cents": -5}}}), 400, "invalid_request", "price_cents", nil},
			{"PlanZeroCap", "POST", "/api/v1/consultants", owner, valid(map[string]any{"plans": []map[string]any{{"tier": "a", "price_cents": 5, "message_cap": 0}}}), 400, "invalid_request", "message_cap", nil},
			{"PlanFreeUncapped", "POST", "/api/v1/consultants", owner, valid(map[string]any{"plans": []map[string]any{{"tier": "free", "price_cents": 0}}}), 400, "invalid_request", "is free", nil},
			{"PlanFreeOverCap", "POST", "/api/v1/consultants", owner, valid(map[string]any{"plans": []map[string]any{{"tier": "free", "message_cap": 5000}}}), 400, "invalid_request", "message_cap from 1 to 1000", nil},
			{"PlanTierTwice", "POST", "/api/v1/consultants", owner, valid(map[string]any{"plans": []map[string]any{{"tier": "a"}, {"tier": "a"}}}), 400, "invalid_request", "twice", nil},
			{"PlanCapNotNumber", "POST", "/api/v1/consultants", owner, valid(map[string]any{"plans": []map[string]any{{"tier": "a", "message_cap": "lots"}}}), 400, "invalid_request", "must be a number", nil},
			{"PatchBadSlug", "PATCH", "/api/v1/consultants/keyed", owner, map[string]any{"slug": "NO"}, 400, "invalid_request", "slug", nil},
			{"PatchTakenSlug", "PATCH", "/api/v1/consultants/keyed", key, map[string]any{"slug": "taken"}, 409, "conflict", "taken", nil},
			{"PatchNoPlans", "PATCH", "/api/v1/consultants/keyed", owner, map[string]any{"plans": []any{}}, 400, "invalid_request", "plans", nil},

			// Catalog.
			{"UnknownConsultant", "GET", "/api/v1/consultants/nobody-here", "", nil, 404, "not_found", "nobody-here", nil},
			{"BadLimit", "GET", "/api/v1/consultants?limit=0", "", nil, 400, "invalid_request", "limit", nil},
			{"HugeLimit", "GET", "/api/v1/consultants?limit=1000", "", nil, 400, "invalid_request", "1 to 100", nil},
			{"BadCursor", "GET", "/api/v1/consultants?cursor=zzz", "", nil, 400, "invalid_request", "cursor", nil},
			{"LongQuery", "GET", "/api/v1/consultants?q=" + long, "", nil, 400, "invalid_request", "q must be at most", nil},

			// Subscribing.
			{"UnknownTier", "POST", "/api/v1/consultants/keyed/subscribe", owner, map[string]any{"tier": "gold"}, 400, "invalid_request", "starter, pro, unlimited", nil},
			{"NoTier", "POST", "/api/v1/consultants/keyed/subscribe", owner, map[string]any{}, 400, "invalid_request", "tier is required", nil},
			{"SubscribeUnknown", "POST", "/api/v1/consultants/nobody-here/subscribe", owner, map[string]any{"tier": "pro"}, 404, "not_found", "", nil},
			{"SubscribeTwice", "POST", "/api/v1/consultants/taken/subscribe", buyer, map[string]any{"tier": "pro"}, 409, "conflict", "already", nil},
			{"UnknownCheckout", "GET", "/api/v1/checkout/chk_nope", buyer, nil, 404, "not_found", "", nil},
			{"CompleteUnknown", "POST", "/api/v1/checkout/chk_nope/complete", buyer, nil, 404, "not_found", "", nil},
			{"UnknownSubscription", "POST", "/api/v1/subscriptions/sub_nope/token", buyer, nil, 404, "not_found", "", nil},
			{"CancelUnknown", "DELETE", "/api/v1/subscriptions/sub_nope", buyer, nil, 404, "not_found", "", nil},
			{"SubscriptionsBadCursor", "GET", "/api/v1/subscriptions?cursor=%21%21", buyer, nil, 400, "invalid_request", "cursor", nil},

			// NUL characters and invalid UTF-8, which PostgreSQL refuses to store or compare,
			// are refused at the edge: in a path, a query, a cursor and a JSON string.
			{"NULInPath", "GET", "/api/v1/consultants/%00", "", nil, 400, "invalid_request", "NUL", nil},
			{"NULInPathOfOwnerRoute", "GET", "/api/v1/consultants/ke%00yed/private", owner, nil, 400, "invalid_request", "NUL", nil},
			{"NULInCategory", "GET", "/api/v1/consultants?category=%00", "", nil, 400, "invalid_request", `"category"`, nil},
			{"BadUTF8InQuery", "GET", "/api/v1/consultants?q=%ff%fe", "", nil, 400, "invalid_request", `"q"`, nil},
			{"NULInCursor", "GET", "/api/v1/consultants?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("k\x00")), "", nil, 400, "invalid_request", "cursor", nil},
			{"NULInSubscriptionsCursor", "GET", "/api/v1/subscriptions?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("ksub_\x00")), buyer, nil, 400, "invalid_request", "cursor", nil},
			{"NULInAfter", "GET", "/api/v1/conversations/cnv_x/messages?after=%00", buyerToken, nil, 400, "invalid_request", `"after"`, nil},
			{"NULInConversationID", "POST", "/api/v1/chat", buyerToken, `{"message": "hi", "conversation_id": "cnv_\u0000"}`, 400, "invalid_request", "conversation_id", nil},
			{"NULInReply", "POST", "/api/v1/reply", key, `{"conversation_id": "cnv_x", "in_reply_to": "msg_\u0000", "content": "x"}`, 400, "invalid_request", "in_reply_to", nil},
			{"NULInName", "PATCH", "/api/v1/consultants/keyed", owner, `{"name": "a\u0000b"}`, 400, "invalid_request", "name", nil},
			{"NULInTag", "POST", "/api/v1/consultants", owner, valid(map[string]any{"tags": []string{"ok", "a\x00"}}), 400, "invalid_request", "tags[1]", nil},
			{"NULInPlanTier", "POST", "/api/v1/consultants", owner, valid(map[string]any{"plans": []map[string]any{{"tier": "a\x00"}}}), 400, "invalid_request", "plans[0].tier", nil},
			{"NULInEmail", "POST", "/api/v1/auth/code", "", `{"email": "a\u0000@b.co"}`, 400, "invalid_request", "email", nil},

			// Routes.
			{"UnknownRoute", "GET", "/api/v1/nothing", "", nil, 404, "not_found", "openapi.json", nil},
			{"WrongMethod", "PUT", "/api/v1/me", owner, nil, 405, "invalid_request", "GET", nil},
		})
	})
}

// TestIsolation: one user's consultants, checkouts and subscriptions are out of every
// other credential's reach, and no answer carries a byte of them.
func TestIsolation(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newTestServer(t, b)
		alice, _ := s.signIn("alice@example.com")
		created := s.createConsultant(alice, "alices", map[string]any{"system_prompt": "ALICE-SECRET-PROMPT"})
		aliceKey := created["api_key"].(string)
		s.createConsultant(alice, "alices-other", nil)
		ch := s.do("POST", "/api/v1/consultants/alices/subscribe", alice, map[string]string{"tier": "pro"}).want(t, 201).json()
		aliceCheckout := ch["checkout_id"].(string)
		aliceSub, _ := s.subscribe(alice, "alices-other", "starter")

		mallory, _ := s.signIn("mallory@example.com")
		malloryKey := s.createConsultant(mallory, "mallorys", nil)["api_key"].(string)

		answers := []*response{
			s.do("GET", "/api/v1/consultants/alices/private", mallory, nil).want(t, 403, "forbidden", "not yours"),
			s.do("GET", "/api/v1/consultants/alices/private", malloryKey, nil).want(t, 403, "forbidden", "not yours"),
			s.do("PATCH", "/api/v1/consultants/alices", mallory, map[string]any{"name": "Owned"}).want(t, 403, "forbidden"),
			s.do("PATCH", "/api/v1/consultants/alices", malloryKey, map[string]any{"name": "Owned"}).want(t, 403, "forbidden"),
			s.do("GET", "/api/v1/checkout/"+aliceCheckout, mallory, nil).want(t, 404, "not_found"),
			s.do("POST", "/api/v1/checkout/"+aliceCheckout+"/complete", mallory, nil).want(t, 404, "not_found"),
			s.do("POST", "/api/v1/subscriptions/"+aliceSub+"/token", mallory, nil).want(t, 404, "not_found"),
			s.do("DELETE", "/api/v1/subscriptions/"+aliceSub, mallory, nil).want(t, 404, "not_found"),
			s.do("GET", "/api/v1/subscriptions", mallory, nil).want(t, 200),
			s.do("GET", "/api/v1/me", mallory, nil).want(t, 200),
			s.do("GET", "/api/v1/consultants/mallorys/private", aliceKey, nil).want(t, 403, "forbidden"),
		}
		for i, r := range answers {
			leaks := []string{"ALICE-SECRET-PROMPT", "alice@example.com"}
			if i >= 8 { // the answers to requests that did not name alice's ids
				leaks = append(leaks, aliceCheckout, aliceSub)
			}
			for _, leak := range leaks {
				if strings.Contains(string(r.body), leak) {
					t.Fatalf("an answer to mallory carries %q: %s", leak, r.body)
				}
			}
		}
		if got := s.do("GET", "/api/v1/consultants/alices", "", nil).json()["name"]; got != "Consultant alices" {
			t.Fatalf("alice's consultant was changed to %v", got)
		}
		// Alice's checkout is still hers to complete.
		s.do("POST", "/api/v1/checkout/"+aliceCheckout+"/complete", alice, nil).want(t, 200)
	})
}
