package http_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/storetest"
	"github.com/lobby-dev/lobby/webhook"
)

// usedMessages is the buyer's messages_used on its one subscription.
func (s *testServer) usedMessages(session string) float64 {
	s.t.Helper()
	subs := s.do("GET", "/api/v1/subscriptions", session, nil).want(s.t, 200).json()["data"].([]any)
	return subs[0].(map[string]any)["messages_used"].(float64)
}

// newConversation makes a consultant with a buyer on the unlimited plan, and starts a
// conversation: it returns the consultant's key, the subscription, the buyer token and
// the conversation's ID.
func (s *testServer) newConversation() (key, subID, token, cnv string) {
	s.t.Helper()
	owner, _ := s.signIn("owner@example.com")
	key = s.createConsultant(owner, "advisor", advisorProfile)["api_key"].(string)
	buyer, _ := s.signIn("buyer@example.com")
	subID, token = s.subscribe(buyer, "advisor", "unlimited")
	cnv = s.do("POST", "/api/v1/conversations", token, nil).want(s.t, 201).json()["conversation"].(map[string]any)["id"].(string)
	return key, subID, token, cnv
}

// TestConversations: a buyer starts a second conversation with its consultant, reads
// it, exports it and deletes it; the consultant reads it but may not export or delete
// it; another buyer finds none of it.
func TestConversations(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newTestServer(t, b)
		session, token, key := chatSetupUser(s, advisorProfile)
		otherSession, _ := s.signIn("other@example.com")
		_, otherToken := s.subscribe(otherSession, "advisor", "starter")

		def := s.do("POST", "/api/v1/chat", token, map[string]any{"message": "How much sun do tomatoes need?"}).want(t, 200).json()["conversation_id"].(string)
		created := s.do("POST", "/api/v1/conversations", token, nil).want(t, 201).json()["conversation"].(map[string]any)
		cnv := created["id"].(string)
		if cnv == def || !strings.HasPrefix(cnv, "cnv_") || created["summary"] != nil {
			t.Fatalf("created %v beside the default %s", created, def)
		}
		v := s.do("POST", "/api/v1/chat", token, map[string]any{"message": "Does basil like warm soil?", "conversation_id": cnv}).want(t, 200).json()
		if v["conversation_id"] != cnv {
			t.Fatalf("chat went to %v, want %s", v["conversation_id"], cnv)
		}
		// The default stays the first.
		if v := s.do("POST", "/api/v1/chat", token, map[string]any{"message": "And water?"}).want(t, 200).json(); v["conversation_id"] != def {
			t.Fatalf("default chat went to %v, want %s", v["conversation_id"], def)
		}
		if n := len(s.do("GET", "/api/v1/conversations", token, nil).want(t, 200).json()["data"].([]any)); n != 2 {
			t.Fatalf("buyer lists %d conversations, want 2", n)
		}

		t.Run("Get", func(t *testing.T) {
			got := s.do("GET", "/api/v1/conversations/"+cnv, token, nil).want(t, 200).json()
			if summary, ok := got["summary"]; got["id"] != cnv || !ok || summary != nil || got["subscription_id"] == nil {
				t.Fatalf("buyer reads %v", got)
			}
			theirs := s.do("GET", "/api/v1/conversations/"+cnv, key, nil).want(t, 200).json()
			if theirs["id"] != cnv || theirs["subscription_id"] != nil || !strings.HasPrefix(theirs["buyer_id"].(string), "byr_") {
				t.Fatalf("consultant reads %v", theirs)
			}
		})
		t.Run("ExportJSON", func(t *testing.T) {
			r := s.do("GET", "/api/v1/conversations/"+cnv+"/export?format=json", token, nil).want(t, 200)
			if cd := r.header.Get("Content-Disposition"); cd != `attachment; filename="`+cnv+`.json"` {
				t.Fatalf("Content-Disposition = %q", cd)
			}
			var out struct {
				Conversation lobby.Conversation `json:"conversation"`
				Messages     []lobby.Message    `json:"messages"`
			}
			if err := json.Unmarshal(r.body, &out); err != nil {
				t.Fatalf("export is not JSON: %v\n%s", err, r.body)
			}
			if out.Conversation.ID != cnv || len(out.Messages) != 2 || out.Messages[0].Content != "Does basil like warm soil?" ||
				out.Messages[1].Role != "consultant" || !strings.Contains(out.Messages[1].Content, "Basil likes warm soil") {
				t.Fatalf("export = %+v", out)
			}
			// No format is JSON.
			if r := s.do("GET", "/api/v1/conversations/"+cnv+"/export", token, nil).want(t, 200); !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
				t.Fatalf("default export is %s", r.header.Get("Content-Type"))
			}
		})
		t.Run("ExportMarkdown", func(t *testing.T) {
			r := s.do("GET", "/api/v1/conversations/"+cnv+"/export?format=markdown", token, nil).want(t, 200)
			md := string(r.body)
			if cd := r.header.Get("Content-Disposition"); cd != `attachment; filename="`+cnv+`.md"` ||
				!strings.HasPrefix(r.header.Get("Content-Type"), "text/markdown") {
				t.Fatalf("headers = %v", r.header)
			}
			for _, want := range []string{"# Conversation with Garden Advisor", "\n## Buyer — 20", "Does basil like warm soil?", "\n## Garden Advisor — 20", "Basil likes warm soil"} {
				if !strings.Contains(md, want) {
					t.Fatalf("transcript lacks %q:\n%s", want, md)
				}
			}
		})
		t.Run("ErrBadFormat", func(t *testing.T) {
			s.do("GET", "/api/v1/conversations/"+cnv+"/export?format=pdf", token, nil).want(t, 400, "invalid_request", "json or markdown")
		})
		t.Run("ErrOtherBuyer", func(t *testing.T) {
			for _, rt := range []string{"GET /api/v1/conversations/" + cnv, "GET /api/v1/conversations/" + cnv + "/export",
				"DELETE /api/v1/conversations/" + cnv, "GET /api/v1/conversations/cnv_unknown", "DELETE /api/v1/conversations/cnv_unknown",
				"DELETE /api/v1/conversations/nonsense"} {
				method, path, _ := strings.Cut(rt, " ")
				s.do(method, path, otherToken, nil).want(t, 404, "not_found", "GET /api/v1/conversations")
			}
		})
		t.Run("ErrConsultantMayNotExportOrDelete", func(t *testing.T) {
			s.do("GET", "/api/v1/conversations/"+cnv+"/export", key, nil).want(t, 403, "forbidden", "cl_buyer_")
			s.do("DELETE", "/api/v1/conversations/"+cnv, key, nil).want(t, 403, "forbidden", "cl_buyer_")
			s.do("POST", "/api/v1/conversations", key, nil).want(t, 403, "forbidden", "cl_buyer_")
		})
		t.Run("Delete", func(t *testing.T) {
			used := s.usedMessages(session)
			s.do("DELETE", "/api/v1/conversations/"+cnv, token, nil).want(t, 204)
			s.do("GET", "/api/v1/conversations/"+cnv, token, nil).want(t, 404, "not_found")
			s.do("GET", "/api/v1/conversations/"+cnv+"/messages", token, nil).want(t, 404, "not_found")
			s.do("DELETE", "/api/v1/conversations/"+cnv, token, nil).want(t, 404, "not_found")
			s.do("POST", "/api/v1/chat", token, map[string]any{"message": "Still there?", "conversation_id": cnv}).want(t, 404, "not_found")
			if after := s.usedMessages(session); after != used {
				t.Fatalf("messages_used went from %v to %v", used, after)
			}
			if n := len(s.do("GET", "/api/v1/conversations/"+def+"/messages", token, nil).want(t, 200).json()["data"].([]any)); n != 4 {
				t.Fatalf("the default conversation has %d messages after deleting the other, want 4", n)
			}
		})
	})
}

// TestConversationExportLong: an export reads the whole thread, page by page, in order.
func TestConversationExportLong(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newTestServer(t, b)
		_, subID, token, cnv := s.newConversation()
		const n = 250
		ids := storetest.Thread(t, s.db.Services().Chat, subID, cnv, n, func(i int) string { return fmt.Sprintf("turn %d", i) })

		var out struct {
			Messages []lobby.Message `json:"messages"`
		}
		if err := json.Unmarshal(s.do("GET", "/api/v1/conversations/"+cnv+"/export", token, nil).want(t, 200).body, &out); err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) != n {
			t.Fatalf("exported %d messages, want %d", len(out.Messages), n)
		}
		for i, m := range out.Messages {
			if m.ID != ids[i] || m.Content != fmt.Sprintf("turn %d", i) {
				t.Fatalf("message %d = %s %q, want %s", i, m.ID, m.Content, ids[i])
			}
		}
		md := string(s.do("GET", "/api/v1/conversations/"+cnv+"/export?format=markdown", token, nil).want(t, 200).body)
		if got := strings.Count(md, "\n## "); got != n || !strings.Contains(md, "turn 249") {
			t.Fatalf("transcript has %d turns, want %d", got, n)
		}
	})
}

// TestDeleteDuringDelivery: a conversation deleted while its webhook delivery is on its
// way, or while its inbox event is leased, stays gone: the attempt's answer is dropped,
// and the agent's late acknowledgement or reply finds nothing.
func TestDeleteDuringDelivery(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newTestServer(t, b, withDev())
		release := make(chan struct{})
		rc := newReceiver(t, func(n int, w http.ResponseWriter, ev webhook.Event) {
			<-release
			fmt.Fprint(w, `{"reply": "too late"}`)
		})
		owner, _, _, buyer := agentSetup(s, "hooked", "webhook", rc.URL)
		cnv := s.do("POST", "/api/v1/chat", buyer, map[string]any{"message": "forget me", "wait_seconds": 0}).want(t, 202).json()["conversation_id"].(string)
		eventually(t, "the delivery reaches the agent", func() bool { return rc.count() == 1 })
		s.do("DELETE", "/api/v1/conversations/"+cnv, buyer, nil).want(t, 204)
		close(release)
		rc.next()
		time.Sleep(200 * time.Millisecond) // the attempt's answer comes back and is dropped
		s.do("GET", "/api/v1/conversations/"+cnv+"/messages", buyer, nil).want(t, 404, "not_found")
		if ds, _ := s.deliveries(owner, "hooked"); len(ds) != 0 {
			t.Fatalf("deliveries after delete: %+v", ds)
		}
		if n := rc.count(); n != 1 {
			t.Fatalf("the agent got %d attempts, want 1", n)
		}

		_, key, _, pollBuyer := agentSetup(s, "poller", "polling", "")
		pcnv := s.do("POST", "/api/v1/chat", pollBuyer, map[string]any{"message": "leased then gone", "wait_seconds": 0}).want(t, 202).json()["conversation_id"].(string)
		events := s.do("GET", "/api/v1/inbox", key, nil).want(t, 200).json()["data"].([]any)
		if len(events) != 1 {
			t.Fatalf("inbox = %v", events)
		}
		s.do("DELETE", "/api/v1/conversations/"+pcnv, pollBuyer, nil).want(t, 204)
		s.do("POST", "/api/v1/inbox/"+events[0].(map[string]any)["id"].(string)+"/ack", key, nil).want(t, 404, "not_found")
		s.do("POST", "/api/v1/reply", key, map[string]any{"conversation_id": pcnv, "content": "late"}).want(t, 404, "not_found")
		s.clock.Add(2 * lobby.InboxLease)
		if events := s.do("GET", "/api/v1/inbox", key, nil).want(t, 200).json()["data"].([]any); len(events) != 0 {
			t.Fatalf("inbox after delete = %v", events)
		}
	})
}

// TestConversationSummary: a thread longer than a reply's window gets a summary once
// the next reply is produced, and the conversation shows it to its buyer and its
// consultant, and in its export.
func TestConversationSummary(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newTestServer(t, b)
		key, subID, token, cnv := s.newConversation()
		ids := storetest.Thread(t, s.db.Services().Chat, subID, cnv, 600, func(i int) string { return fmt.Sprintf("Turn %d mentions the zinnia-%d bed.", i, i) })
		s.do("POST", "/api/v1/chat", token, map[string]any{"message": "How much sun do tomatoes need?", "conversation_id": cnv}).want(t, 200)

		var summary map[string]any
		eventually(t, "the conversation has a summary", func() bool {
			summary, _ = s.do("GET", "/api/v1/conversations/"+cnv, token, nil).want(t, 200).json()["summary"].(map[string]any)
			return summary != nil
		})
		text, _ := summary["text"].(string)
		if through, _ := summary["through_message_id"].(string); through < ids[0] || through > ids[len(ids)-1] ||
			!strings.Contains(text, "Turn 0 mentions the zinnia-0 bed.") || summary["updated_at"] == nil {
			t.Fatalf("summary = %v", summary)
		}
		if theirs := s.do("GET", "/api/v1/conversations/"+cnv, key, nil).want(t, 200).json()["summary"]; theirs == nil {
			t.Fatal("the consultant does not see the summary")
		}
		md := string(s.do("GET", "/api/v1/conversations/"+cnv+"/export?format=markdown", token, nil).want(t, 200).body)
		if !strings.Contains(md, "> **Summary**") || !strings.Contains(md, "zinnia-0") {
			t.Fatalf("export lacks the summary:\n%.600s", md)
		}
	})
}
