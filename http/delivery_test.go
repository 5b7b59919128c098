package http_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/egress"
	"github.com/lobby-dev/lobby/egress/egresstest"
	"github.com/lobby-dev/lobby/storetest"
	"github.com/lobby-dev/lobby/webhook"
)

// receiver is a consultant's agent at the network edge: a local server that keeps
// every request it gets and answers as the test says.
type receiver struct {
	t      testing.TB
	URL    string
	answer func(n int, w http.ResponseWriter, ev webhook.Event)

	mu   sync.Mutex
	reqs []received
	got  chan received
}

type received struct {
	header http.Header
	body   []byte
	event  webhook.Event
}

func newReceiver(t testing.TB, answer func(n int, w http.ResponseWriter, ev webhook.Event)) *receiver {
	rc := &receiver{t: t, answer: answer, got: make(chan received, 1000)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got := received{header: r.Header.Clone(), body: body}
		json.Unmarshal(body, &got.event)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, got)
		n := len(rc.reqs)
		rc.mu.Unlock()
		rc.answer(n, w, got.event)
		rc.got <- got
	}))
	t.Cleanup(srv.Close)
	rc.URL = srv.URL + "/lobby"
	return rc
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.reqs)
}

// next returns the next request the receiver got, failing after 10 s without one.
func (rc *receiver) next() received {
	rc.t.Helper()
	select {
	case r := <-rc.got:
		return r
	case <-time.After(10 * time.Second):
		rc.t.Fatal("no delivery arrived within 10 s")
		return received{}
	}
}

// eventually polls cond until it holds, failing after 10 s.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// agentSetup makes a consultant in the given mode (with webhook_url for a webhook)
// and a buyer subscribed to it, and returns the owner's token, the consultant's key,
// its webhook secret ("" unless webhook) and the buyer's token.
func agentSetup(s *testServer, slug, mode, url string) (owner, key, secret, buyer string) {
	s.t.Helper()
	owner, _ = s.signIn("owner-" + slug + "@example.com")
	extra := map[string]any{"mode": mode}
	if url != "" {
		extra["webhook_url"] = url
	}
	c := s.createConsultant(owner, slug, extra)
	key = c["api_key"].(string)
	secret, _ = c["webhook_secret"].(string)
	user, _ := s.signIn("buyer-" + slug + "@example.com")
	_, buyer = s.subscribe(user, slug, "pro")
	return owner, key, secret, buyer
}

// deliveries lists the consultant's deliveries as its owner sees them.
func (s *testServer) deliveries(owner, slug string) (ds []lobby.Delivery, health lobby.WebhookHealth) {
	s.t.Helper()
	var v struct {
		Data   []lobby.Delivery    `json:"data"`
		Health lobby.WebhookHealth `json:"health"`
	}
	if err := json.Unmarshal(s.do("GET", "/api/v1/consultants/"+slug+"/deliveries", owner, nil).want(s.t, 200).body, &v); err != nil {
		s.t.Fatal(err)
	}
	return v.Data, v.Health
}

// TestWebhookDelivery: a buyer's message reaches the agent signed, with the
// conversation's history and where to reply, and the agent's answer reaches the buyer,
// whether it comes in the 2xx body or later through /api/v1/reply.
func TestWebhookDelivery(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newTestServer(t, b, withDev())
		var key string
		rc := newReceiver(t, func(n int, w http.ResponseWriter, ev webhook.Event) {
			if n == 1 { // answers in the body
				fmt.Fprintf(w, `{"reply": "You said: %s"}`, ev.Data.Message.Content)
				return
			}
			w.WriteHeader(http.StatusAccepted) // answers later, through the API
			go func() {
				s.inGoroutine().do("POST", "/api/v1/reply", key, map[string]any{"conversation_id": ev.Data.ConversationID,
					"content": "Later: " + ev.Data.Message.Content, "in_reply_to": ev.Data.Message.ID}).want(t, 201)
			}()
		})
		owner, key, secret, buyer := agentSetup(s, "agent-one", "webhook", rc.URL)
		if !strings.HasPrefix(secret, "whsec_") {
			t.Fatalf("webhook_secret = %q", secret)
		}

		v := s.do("POST", "/api/v1/chat", buyer, map[string]any{"message": "first question", "wait_seconds": 10}).want(t, 200).json()
		if r := v["reply"].(map[string]any); r["content"] != "You said: first question" || r["status"] != "complete" {
			t.Fatalf("reply = %v", r)
		}
		first := rc.next()
		verifier, err := webhook.NewVerifier(secret)
		if err != nil {
			t.Fatal(err)
		}
		if err := verifier.VerifyAt(first.header, first.body, s.clock.Now()); err != nil {
			t.Fatalf("delivery does not verify: %v", err)
		}
		ev := first.event
		if ev.Type != "message.created" || ev.Data.Message.Content != "first question" || ev.Data.Message.Role != "buyer" ||
			ev.Data.Consultant.Slug != "agent-one" || !strings.HasPrefix(ev.Data.Buyer.ID, "byr_") ||
			ev.Data.ReplyURL != "http://lobby.test/api/v1/reply" || len(ev.Data.History) != 0 || ev.Data.ConversationID != v["conversation_id"] {
			t.Fatalf("event = %+v", ev)
		}
		if id := first.header.Get("webhook-id"); !strings.HasPrefix(id, "evt_") {
			t.Fatalf("webhook-id = %q", id)
		}

		v = s.do("POST", "/api/v1/chat", buyer, map[string]any{"message": "second question", "wait_seconds": 10}).want(t, 200).json()
		if r := v["reply"].(map[string]any); r["content"] != "Later: second question" || r["id"] != v["reply_id"] {
			t.Fatalf("reply = %v", r)
		}
		second := rc.next().event
		if len(second.Data.History) != 2 || second.Data.History[0].Content != "first question" || second.Data.History[1].Content != "You said: first question" {
			t.Fatalf("history = %+v", second.Data.History)
		}

		// The reply can come before the attempt that carried the message is logged.
		var ds []lobby.Delivery
		var health lobby.WebhookHealth
		eventually(t, "both attempts are logged", func() bool {
			ds, health = s.deliveries(owner, "agent-one")
			return len(ds) == 2 && len(ds[0].Log) == 1
		})
		if len(ds) != 2 || ds[0].Status != "delivered" || ds[1].Status != "delivered" || len(ds[0].Log) != 1 || ds[0].Log[0].StatusCode != 202 {
			t.Fatalf("deliveries = %+v", ds)
		}
		if health.Attempts != 2 || health.Failures != 0 || health.FailureRate != 0 {
			t.Fatalf("health = %+v", health)
		}
		// The buyer's conversation reads in order, every reply complete.
		ms := s.do("GET", "/api/v1/conversations/"+v["conversation_id"].(string)+"/messages", buyer, nil).want(t, 200).json()["data"].([]any)
		if len(ms) != 4 || ms[3].(map[string]any)["content"] != "Later: second question" {
			t.Fatalf("messages = %v", ms)
		}
	})
}

// TestWebhookRetries: a receiver that fails three times gets the message on the fourth
// attempt with the same webhook-id and a fresh signature each time; the log shows all
// four.
func TestWebhookRetries(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newTestServer(t, b, withDev())
		rc := newReceiver(t, func(n int, w http.ResponseWriter, ev webhook.Event) {
			if n <= 3 {
				http.Error(w, "not yet", http.StatusServiceUnavailable)
				return
			}
			w.Write([]byte(`{"reply": "at last"}`))
		})
		owner, _, secret, buyer := agentSetup(s, "flaky", "webhook", rc.URL)
		v := s.do("POST", "/api/v1/chat", buyer, map[string]any{"message": "are you there?", "wait_seconds": 10}).want(t, 200).json()
		if v["reply"].(map[string]any)["content"] != "at last" {
			t.Fatalf("reply = %v", v["reply"])
		}
		verifier, _ := webhook.NewVerifier(secret)
		var ids []string
		for range 4 {
			r := rc.next()
			if err := verifier.VerifyAt(r.header, r.body, s.clock.Now()); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.header.Get("webhook-id"))
		}
		if ids[0] != ids[1] || ids[1] != ids[2] || ids[2] != ids[3] {
			t.Fatalf("webhook-ids differ across attempts: %v", ids)
		}
		ds, health := s.deliveries(owner, "flaky")
		log := ds[0].Log
		if len(ds) != 1 || ds[0].Status != "delivered" || ds[0].Attempts != 4 || ds[0].EventID != ids[0] || len(log) != 4 {
			t.Fatalf("delivery = %+v", ds)
		}
		for i, a := range log[:3] {
			if a.N != i+1 || a.StatusCode != 503 || !strings.Contains(a.Error, "503") || !strings.Contains(a.Response, "not yet") {
				t.Fatalf("attempt %d = %+v", i+1, a)
			}
		}
		if log[3].StatusCode != 200 || log[3].Error != "" {
			t.Fatalf("attempt 4 = %+v", log[3])
		}
		if health.Attempts != 4 || health.Failures != 3 || health.FailureRate != 0.75 {
			t.Fatalf("health = %+v", health)
		}
		metrics := string(s.do("GET", "/metrics", "", nil, "X-Forwarded-For-Test", "127.0.0.1").want(t, 200).body)
		for _, want := range []string{`lobby_webhook_attempts_total{outcome="retry",status="5xx"} 3`,
			`lobby_webhook_attempts_total{outcome="delivered",status="2xx"} 1`, "lobby_webhook_attempt_duration_seconds_count 4"} {
			if !strings.Contains(metrics, want) {
				t.Fatalf("/metrics lacks %s", want)
			}
		}
	})
}

// TestWebhookGivesUp: after the last attempt the delivery fails, the buyer's reply
// fails with an explanation, the owner is emailed, and a manual retry sends it again.
func TestWebhookGivesUp(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newTestServer(t, b, withDev())
		var mu sync.Mutex
		up := false
		rc := newReceiver(t, func(n int, w http.ResponseWriter, ev webhook.Event) {
			mu.Lock()
			defer mu.Unlock()
			if !up {
				w.WriteHeader(http.StatusInternalServerError)
			}
		})
		owner, _, _, buyer := agentSetup(s, "down", "webhook", rc.URL)
		v := s.do("POST", "/api/v1/chat", buyer, map[string]any{"message": "hello?", "wait_seconds": 10}).want(t, 200).json()
		reply := v["reply"].(map[string]any)
		if reply["status"] != "failed" || !strings.Contains(reply["error"].(string), "could not be reached") {
			t.Fatalf("reply = %v", reply)
		}
		ds, _ := s.deliveries(owner, "down")
		if ds[0].Status != "failed" || ds[0].Attempts != 8 || len(ds[0].Log) != 8 {
			t.Fatalf("delivery = %+v", ds[0])
		}
		eventually(t, "the owner is emailed", func() bool {
			for _, m := range s.mailbox.Messages() {
				if m.To == "owner-down@example.com" && strings.Contains(m.Text, ds[0].ID) && strings.Contains(m.Text, "500") {
					return true
				}
			}
			return false
		})

		mu.Lock()
		up = true
		mu.Unlock()
		s.do("POST", "/api/v1/consultants/down/deliveries/"+ds[0].ID+"/retry", owner, nil).want(t, 202)
		eventually(t, "the retried delivery is delivered", func() bool {
			d := s.do("GET", "/api/v1/consultants/down/deliveries/"+ds[0].ID, owner, nil).want(t, 200).json()
			return d["status"] == "delivered" && d["attempts"] == float64(9)
		})
	})
}

// TestWebhookGone: a 410 disables the endpoint at once; setting webhook_url again
// enables it.
func TestWebhookGone(t *testing.T) {
	s := newTestServer(t, storetest.SQLite, withDev())
	rc := newReceiver(t, func(n int, w http.ResponseWriter, ev webhook.Event) {
		if n == 1 {
			w.WriteHeader(http.StatusGone)
		}
	})
	owner, _, _, buyer := agentSetup(s, "gone", "webhook", rc.URL)
	v := s.do("POST", "/api/v1/chat", buyer, map[string]any{"message": "one", "wait_seconds": 10}).want(t, 200).json()
	if v["reply"].(map[string]any)["status"] != "failed" {
		t.Fatalf("reply = %v", v["reply"])
	}
	wh := s.do("GET", "/api/v1/consultants/gone/webhook", owner, nil).want(t, 200).json()
	if wh["enabled"] != false || !strings.Contains(wh["health"].(map[string]any)["disabled_reason"].(string), "410") {
		t.Fatalf("webhook = %v", wh)
	}
	// While disabled, nothing is sent.
	s.do("POST", "/api/v1/chat", buyer, map[string]any{"message": "two", "wait_seconds": 10}).want(t, 200)
	ds, _ := s.deliveries(owner, "gone")
	if ds[0].Status != "failed" || !strings.Contains(ds[0].LastError, "disabled") || rc.count() != 1 {
		t.Fatalf("delivery while disabled = %+v, receiver got %d", ds[0], len(rc.reqs))
	}
	// The owner heard once, of the 410, not again of each message missed since.
	mails := func() (n int) {
		for _, m := range s.mailbox.Messages() {
			if m.To == "owner-gone@example.com" && strings.Contains(m.Subject, "could not be delivered") && strings.Contains(m.Text, "410 Gone") {
				n++
			}
		}
		return n
	}
	eventually(t, "the owner is emailed about the 410", func() bool { return mails() > 0 })
	if n := mails(); n != 1 {
		t.Fatalf("the owner got %d emails, want 1", n)
	}
	s.do("PATCH", "/api/v1/consultants/gone", owner, map[string]any{"webhook_url": rc.URL}).want(t, 200)
	if wh := s.do("GET", "/api/v1/consultants/gone/webhook", owner, nil).want(t, 200).json(); wh["enabled"] != true {
		t.Fatalf("webhook after PATCH = %v", wh)
	}
	s.do("POST", "/api/v1/chat", buyer, map[string]any{"message": "three", "wait_seconds": 0}).want(t, 202)
	if got := rc.next(); got.event.Data.Message.Content != "one" {
		t.Fatalf("first request = %+v", got.event)
	}
	if got := rc.next(); got.event.Data.Message.Content != "three" {
		t.Fatalf("after enabling, got %+v", got.event)
	}
}

// TestWebhookBadReceivers: redirects, huge and invalid bodies and a receiver that
// never answers each leave a clear line in the log, and nothing else breaks.
func TestWebhookBadReceivers(t *testing.T) {
	big := strings.Repeat("x", 10<<20)
	tests := []struct {
		name    string
		answer  func(w http.ResponseWriter)
		status  string // the delivery's status after the first attempt
		errText string
	}{
		{"Redirect", func(w http.ResponseWriter) {
			w.Header().Set("Location", "https://elsewhere.example/")
			w.WriteHeader(http.StatusFound)
		}, "pending", "redirect"},
		{"HugeBody", func(w http.ResponseWriter) { io.WriteString(w, `{"reply": "`+big+`"}`) }, "delivered", "size limit"},
		{"InvalidJSON", func(w http.ResponseWriter) { io.WriteString(w, `{"reply": nope`) }, "delivered", "not valid JSON"},
		{"EmptyReply", func(w http.ResponseWriter) { io.WriteString(w, `{"reply": "  "}`) }, "delivered", "not taken"},
		{"Slow", func(w http.ResponseWriter) { time.Sleep(2500 * time.Millisecond) }, "pending", "timed out"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newTestServer(t, storetest.SQLite, withDev())
			rc := newReceiver(t, func(n int, w http.ResponseWriter, ev webhook.Event) {
				if n == 1 {
					tc.answer(w)
				}
			})
			slug := "bad-" + strings.ToLower(tc.name)
			owner, _, _, buyer := agentSetup(s, slug, "webhook", rc.URL)
			s.do("POST", "/api/v1/chat", buyer, map[string]any{"message": "hi", "wait_seconds": 0}).want(t, 202)
			var d lobby.Delivery
			eventually(t, "the first attempt is logged", func() bool {
				ds, _ := s.deliveries(owner, slug)
				d = ds[0]
				return len(d.Log) > 0
			})
			if !strings.Contains(d.Log[0].Error, tc.errText) {
				t.Fatalf("attempt 1 = %+v, want an error saying %q", d.Log[0], tc.errText)
			}
			if len(d.Log[0].Response) > lobby.MaxAttemptResponse {
				t.Fatalf("log kept %d bytes of the response", len(d.Log[0].Response))
			}
			eventually(t, "the delivery is delivered", func() bool {
				ds, _ := s.deliveries(owner, slug)
				return ds[0].Status == "delivered"
			})
		})
	}
}

// TestReplyBadInput: the reply route refuses what it must, with the contract's errors.
func TestReplyBadInput(t *testing.T) {
	s := newTestServer(t, storetest.SQLite, withDev())
	rc := newReceiver(t, func(n int, w http.ResponseWriter, ev webhook.Event) { w.WriteHeader(202) })
	_, key, _, buyer := agentSetup(s, "replier", "webhook", rc.URL)
	_, otherKey, _, otherBuyer := agentSetup(s, "other", "webhook", rc.URL)
	cnv := s.do("POST", "/api/v1/chat", buyer, map[string]any{"message": "q", "wait_seconds": 0}).want(t, 202).json()["conversation_id"].(string)
	msg := rc.next().event.Data.Message.ID
	otherCnv := s.do("POST", "/api/v1/chat", otherBuyer, map[string]any{"message": "q", "wait_seconds": 0}).want(t, 202).json()["conversation_id"].(string)
	rc.next()

	s.checkBad(t, []badRequest{
		{"BuyerToken", "POST", "/api/v1/reply", buyer, map[string]any{"conversation_id": cnv, "content": "x"}, 403, "forbidden", "consultant", nil},
		{"NoToken", "POST", "/api/v1/reply", "", map[string]any{"conversation_id": cnv, "content": "x"}, 401, "unauthorized", "", nil},
		{"OtherConsultantsConversation", "POST", "/api/v1/reply", otherKey, map[string]any{"conversation_id": cnv, "content": "x"}, 404, "not_found", "no conversation", nil},
		{"UnknownConversation", "POST", "/api/v1/reply", key, map[string]any{"conversation_id": "cnv_nope", "content": "x"}, 404, "not_found", "no conversation", nil},
		{"NoConversation", "POST", "/api/v1/reply", key, map[string]any{"content": "x"}, 400, "invalid_request", "conversation_id", nil},
		{"UnknownMessage", "POST", "/api/v1/reply", key, map[string]any{"conversation_id": cnv, "content": "x", "in_reply_to": "msg_nope"}, 404, "not_found", "in_reply_to", nil},
		{"MessageOfOtherConversation", "POST", "/api/v1/reply", otherKey, map[string]any{"conversation_id": otherCnv, "content": "x", "in_reply_to": msg}, 404, "not_found", "in_reply_to", nil},
		{"Empty", "POST", "/api/v1/reply", key, map[string]any{"conversation_id": cnv, "content": ""}, 400, "invalid_request", "empty", nil},
		{"TooLarge", "POST", "/api/v1/reply", key, map[string]any{"conversation_id": cnv, "content": strings.Repeat("a", 33<<10)}, 413, "payload_too_large", "32 KiB", nil},
		{"UnknownField", "POST", "/api/v1/reply", key, map[string]any{"conversation_id": cnv, "text": "x"}, 400, "invalid_request", "text", nil},
		{"OthersDeliveries", "GET", "/api/v1/consultants/replier/deliveries", otherKey, nil, 403, "forbidden", "not yours", nil},
		{"InboxInWebhookMode", "GET", "/api/v1/inbox", key, nil, 400, "invalid_request", "polling", nil},
		{"InboxWaitTooLong", "GET", "/api/v1/inbox?wait=61", key, nil, 400, "invalid_request", "wait", nil},
		{"AckUnknown", "POST", "/api/v1/inbox/evt_nope/ack", key, nil, 404, "not_found", "no event", nil},
		{"RotateOverlapTooLong", "POST", "/api/v1/consultants/replier/webhook/secret", key, map[string]any{"overlap_seconds": 8 * 86400}, 400, "invalid_request", "overlap_seconds", nil},
		{"RotateOverlapOverflows", "POST", "/api/v1/consultants/replier/webhook/secret", key, `{"overlap_seconds": 9223372037}`, 400, "invalid_request", "overlap_seconds", nil},
		{"RotateOverlapNegative", "POST", "/api/v1/consultants/replier/webhook/secret", key, map[string]any{"overlap_seconds": -1}, 400, "invalid_request", "overlap_seconds", nil},
	})
	// The other consultant's delivery is not reachable through this one's routes.
	ods, _ := s.deliveries(otherKey, "other")
	s.do("GET", "/api/v1/consultants/replier/deliveries/"+ods[0].ID, key, nil).want(t, 404, "not_found")
	s.do("POST", "/api/v1/consultants/replier/deliveries/"+ods[0].ID+"/retry", key, nil).want(t, 404, "not_found")
	s.do("POST", "/api/v1/inbox/"+ods[0].EventID+"/ack", key, nil).want(t, 404, "not_found")

	// A streamed reply: partial pieces, then the end; the buyer's reply is whole.
	s.do("POST", "/api/v1/reply", key, map[string]any{"conversation_id": cnv, "content": "Hello, ", "in_reply_to": msg, "partial": true}).want(t, 201)
	s.do("POST", "/api/v1/reply", key, map[string]any{"conversation_id": cnv, "content": "world.", "in_reply_to": msg}).want(t, 201)
	ms := s.do("GET", "/api/v1/conversations/"+cnv+"/messages", buyer, nil).want(t, 200).json()["data"].([]any)
	if len(ms) != 2 || ms[1].(map[string]any)["content"] != "Hello, world." || ms[1].(map[string]any)["status"] != "complete" {
		t.Fatalf("messages = %v", ms)
	}
	// Replying again to an answered message adds a message of its own.
	s.do("POST", "/api/v1/reply", key, map[string]any{"conversation_id": cnv, "content": "One more thing.", "in_reply_to": msg}).want(t, 201)
	if ms := s.do("GET", "/api/v1/conversations/"+cnv+"/messages", buyer, nil).want(t, 200).json()["data"].([]any); len(ms) != 3 {
		t.Fatalf("messages = %v", ms)
	}
}

// TestWebhookSecretRotation: during the overlap a delivery is signed by both secrets,
// so an agent holding either verifies it.
func TestWebhookSecretRotation(t *testing.T) {
	s := newTestServer(t, storetest.SQLite, withDev())
	rc := newReceiver(t, func(n int, w http.ResponseWriter, ev webhook.Event) {})
	owner, _, old, buyer := agentSetup(s, "rotating", "webhook", rc.URL)
	v := s.do("POST", "/api/v1/consultants/rotating/webhook/secret", owner, map[string]any{"overlap_seconds": 3600}).want(t, 200).json()
	fresh := v["webhook_secret"].(string)
	if !strings.HasPrefix(fresh, "whsec_") || fresh == old || v["previous_secret_valid_until"] == nil {
		t.Fatalf("rotate = %v", v)
	}
	s.do("POST", "/api/v1/chat", buyer, map[string]any{"message": "during overlap", "wait_seconds": 0}).want(t, 202)
	r := rc.next()
	if n := len(strings.Fields(r.header.Get("webhook-signature"))); n != 2 {
		t.Fatalf("webhook-signature has %d entries, want 2", n)
	}
	for _, secret := range []string{old, fresh} {
		v, _ := webhook.NewVerifier(secret)
		if err := v.VerifyAt(r.header, r.body, s.clock.Now()); err != nil {
			t.Fatalf("secret %s…: %v", secret[:10], err)
		}
	}
	// After the overlap only the new secret signs.
	s.clock.Add(2 * time.Hour)
	s.do("POST", "/api/v1/chat", buyer, map[string]any{"message": "after overlap", "wait_seconds": 0}).want(t, 202)
	r = rc.next()
	oldOnly, _ := webhook.NewVerifier(old)
	if err := oldOnly.VerifyAt(r.header, r.body, s.clock.Now()); err == nil {
		t.Fatal("the old secret still verifies after the overlap")
	}
	freshOnly, _ := webhook.NewVerifier(fresh)
	if err := freshOnly.VerifyAt(r.header, r.body, s.clock.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestWebhookUnsafeAddresses: outside dev mode, internal addresses are refused at
// registration, and a name that passes registration but resolves to loopback at
// delivery is refused at connect time, with the attempt logged.
func TestWebhookUnsafeAddresses(t *testing.T) {
	s := newTestServer(t, storetest.SQLite)
	owner, _ := s.signIn("owner@example.com")
	for _, u := range []string{"https://127.0.0.1/hook", "https://10.0.0.1/hook", "https://169.254.169.254/latest/meta-data",
		"https://[::1]/hook", "https://localhost/hook", "http://example.com/hook", "https://[::ffff:127.0.0.1]/hook", "not a url"} {
		s.do("POST", "/api/v1/consultants", owner, map[string]any{"slug": "unsafe", "name": "U", "mode": "webhook", "webhook_url": u}).
			want(t, 400, "invalid_request", "webhook_url")
	}

	// rebind.example.com resolves to 127.0.0.1 when the delivery is made.
	rc := newReceiver(t, func(n int, w http.ResponseWriter, ev webhook.Event) {})
	port := rc.URL[strings.LastIndex(rc.URL, ":")+1 : strings.LastIndex(rc.URL, "/")]
	resolver := egresstest.FakeDNS(t, "rebind.example.com.", [4]byte{127, 0, 0, 1})
	s = newTestServer(t, storetest.SQLite, func(s *testServer) {
		s.app.Egress = egress.NewClient(egress.Config{Timeout: 2 * time.Second, Resolver: resolver})
	})
	owner, _, _, buyer := agentSetup(s, "rebind", "webhook", "https://rebind.example.com:"+port+"/lobby")
	s.do("POST", "/api/v1/chat", buyer, map[string]any{"message": "hi", "wait_seconds": 0}).want(t, 202)
	eventually(t, "the attempt is refused and logged", func() bool {
		ds, _ := s.deliveries(owner, "rebind")
		return len(ds[0].Log) > 0 && strings.Contains(ds[0].Log[0].Error, "blocked internal address 127.0.0.1")
	})
	if rc.count() != 0 {
		t.Fatal("the delivery reached the loopback receiver")
	}
}

// TestInbox: a polling consultant's agent takes events from its inbox by long-poll;
// an event handed out is leased, comes back when the lease lapses, and leaves for good
// when acknowledged or answered.
func TestInbox(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newTestServer(t, b)
		owner, key, _, buyer := agentSetup(s, "poller", "polling", "")

		// A long poll waits for the buyer's message.
		got := make(chan *response, 1)
		go func() { got <- s.inGoroutine().do("GET", "/api/v1/inbox?wait=10", key, nil) }()
		time.Sleep(50 * time.Millisecond) // let the poll start waiting; it also works if it has not
		v := s.do("POST", "/api/v1/chat", buyer, map[string]any{"message": "first", "wait_seconds": 0}).want(t, 202).json()
		cnv := v["conversation_id"].(string)
		var inbox struct {
			Data []webhook.Event `json:"data"`
		}
		r := <-got
		if err := json.Unmarshal(r.want(t, 200).body, &inbox); err != nil || len(inbox.Data) != 1 {
			t.Fatalf("inbox = %s", r.body)
		}
		ev := inbox.Data[0]
		if !strings.HasPrefix(ev.ID, "evt_") || ev.Type != "message.created" || ev.Data.Message.Content != "first" || ev.Data.ConversationID != cnv {
			t.Fatalf("event = %+v", ev)
		}
		// Leased: a second poll gets nothing now.
		if n := len(s.do("GET", "/api/v1/inbox", key, nil).want(t, 200).json()["data"].([]any)); n != 0 {
			t.Fatalf("a leased event was handed out again: %d", n)
		}
		// The lease lapses: the same event comes back.
		s.clock.Add(lobby.InboxLease + time.Second)
		json.Unmarshal(s.do("GET", "/api/v1/inbox", key, nil).want(t, 200).body, &inbox)
		if len(inbox.Data) != 1 || inbox.Data[0].ID != ev.ID {
			t.Fatalf("after the lease, inbox = %+v", inbox.Data)
		}
		// Answering with in_reply_to acknowledges it; the buyer gets the reply.
		reply := s.do("POST", "/api/v1/reply", key, map[string]any{"conversation_id": cnv, "content": "answer", "in_reply_to": ev.Data.Message.ID}).want(t, 201).json()
		if ack := reply["acknowledged"].([]any); len(ack) != 1 || ack[0] != ev.ID {
			t.Fatalf("reply = %v", reply)
		}
		s.clock.Add(lobby.InboxLease + time.Second)
		if n := len(s.do("GET", "/api/v1/inbox", key, nil).want(t, 200).json()["data"].([]any)); n != 0 {
			t.Fatalf("an answered event came back: %d", n)
		}
		ms := s.do("GET", "/api/v1/conversations/"+cnv+"/messages", buyer, nil).want(t, 200).json()["data"].([]any)
		if len(ms) != 2 || ms[1].(map[string]any)["content"] != "answer" || ms[1].(map[string]any)["status"] != "complete" {
			t.Fatalf("messages = %v", ms)
		}

		// An explicit ack; acknowledging twice is fine.
		s.do("POST", "/api/v1/chat", buyer, map[string]any{"message": "second", "wait_seconds": 0}).want(t, 202)
		json.Unmarshal(s.do("GET", "/api/v1/inbox", key, nil).want(t, 200).body, &inbox)
		second := inbox.Data[0]
		if len(second.Data.History) != 2 {
			t.Fatalf("history = %+v", second.Data.History)
		}
		for range 2 {
			if a := s.do("POST", "/api/v1/inbox/"+second.ID+"/ack", key, nil).want(t, 200).json(); a["status"] != "delivered" {
				t.Fatalf("ack = %v", a)
			}
		}
		s.clock.Add(lobby.InboxLease + time.Second)
		if n := len(s.do("GET", "/api/v1/inbox", key, nil).want(t, 200).json()["data"].([]any)); n != 0 {
			t.Fatalf("an acknowledged event came back: %d", n)
		}
		ds, _ := s.deliveries(owner, "poller")
		if len(ds) != 2 || ds[0].Status != "delivered" || ds[1].Status != "delivered" || ds[1].Attempts != 2 {
			t.Fatalf("deliveries = %+v", ds)
		}
	})
}

// TestInboxConcurrentPollers: agents polling one inbox at once never get the same
// event while its lease holds, and between them get every one.
func TestInboxConcurrentPollers(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newTestServer(t, b)
		_, key, _, buyer := agentSetup(s, "busy", "polling", "")
		const n = 40
		for i := range n {
			s.do("POST", "/api/v1/chat", buyer, map[string]any{"message": fmt.Sprintf("m%d", i), "wait_seconds": 0}).want(t, 202)
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := s.inGoroutine()
				for {
					var inbox struct {
						Data []webhook.Event `json:"data"`
					}
					json.Unmarshal(s.do("GET", "/api/v1/inbox?limit=3", key, nil).want(t, 200).body, &inbox)
					if len(inbox.Data) == 0 {
						return
					}
					mu.Lock()
					for _, ev := range inbox.Data {
						seen[ev.ID]++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(seen) != n {
			t.Fatalf("pollers got %d distinct events, want %d", len(seen), n)
		}
		for id, c := range seen {
			if c != 1 {
				t.Fatalf("event %s was handed out %d times", id, c)
			}
		}
	})
}

// TestWebhookRetryAfter: a receiver's Retry-After puts the next attempt off that long,
// even when the schedule says sooner.
func TestWebhookRetryAfter(t *testing.T) {
	s := newTestServer(t, storetest.SQLite, withDev())
	rc := newReceiver(t, func(n int, w http.ResponseWriter, ev webhook.Event) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	owner, _, _, buyer := agentSetup(s, "busy-agent", "webhook", rc.URL)
	s.do("POST", "/api/v1/chat", buyer, map[string]any{"message": "hi", "wait_seconds": 0}).want(t, 202)
	var d lobby.Delivery
	eventually(t, "the first attempt is logged", func() bool {
		ds, _ := s.deliveries(owner, "busy-agent")
		d = ds[0]
		return len(d.Log) == 1
	})
	if d.Status != "pending" || d.NextAttemptAt == nil || d.NextAttemptAt.Sub(d.Log[0].At) != 120*time.Second || !strings.Contains(d.Log[0].Error, "429") {
		t.Fatalf("after a 429 with Retry-After 120: %+v", d)
	}
}

// TestReplyRateLimit: an agent replying faster than the limit is refused with
// rate_limited and Retry-After, per consultant.
func TestReplyRateLimit(t *testing.T) {
	s := newTestServer(t, storetest.SQLite, func(s *testServer) { s.app.Config.ReplyRateLimit = 3 })
	_, key, _, buyer := agentSetup(s, "chatty", "polling", "")
	_, otherKey, _, otherBuyer := agentSetup(s, "quiet", "polling", "")
	cnv := s.do("POST", "/api/v1/chat", buyer, map[string]any{"message": "q", "wait_seconds": 0}).want(t, 202).json()["conversation_id"].(string)
	otherCnv := s.do("POST", "/api/v1/chat", otherBuyer, map[string]any{"message": "q", "wait_seconds": 0}).want(t, 202).json()["conversation_id"].(string)
	for range 3 {
		s.do("POST", "/api/v1/reply", key, map[string]any{"conversation_id": cnv, "content": "more"}).want(t, 201)
	}
	r := s.do("POST", "/api/v1/reply", key, map[string]any{"conversation_id": cnv, "content": "more"}).want(t, 429, "rate_limited", "replies a minute")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	s.do("POST", "/api/v1/reply", otherKey, map[string]any{"conversation_id": otherCnv, "content": "fine"}).want(t, 201)
	s.clock.Add(time.Minute)
	s.do("POST", "/api/v1/reply", key, map[string]any{"conversation_id": cnv, "content": "again"}).want(t, 201)
}
