package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lobby-dev/lobby/lobbytest"
	"github.com/lobby-dev/lobby/storetest"
)

// slowModel is an OpenAI-compatible server that holds every reply until it is let go,
// then streams "Answer to " and the newest question, in two pieces, as OpenAI does.
type slowModel struct {
	*httptest.Server
	mu      sync.Mutex
	held    int
	let     bool
	release chan struct{}
}

func newSlowModel(t *testing.T) *slowModel {
	m := &slowModel{release: make(chan struct{})}
	m.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Messages []struct{ Role, Content string } `json:"messages"`
		}
		if json.NewDecoder(r.Body).Decode(&req) != nil || len(req.Messages) == 0 {
			http.Error(w, `{"error":{"message":"bad request"}}`, http.StatusBadRequest)
			return
		}
		// Turns the model has not answered yet come as one, the newest last.
		question := req.Messages[len(req.Messages)-1].Content
		question = question[strings.LastIndex(question, "\n")+1:]
		m.mu.Lock()
		m.held++
		m.mu.Unlock()
		select {
		case <-m.release:
		case <-r.Context().Done(): // the server producing it was killed
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, piece := range []string{"Answer to ", question} {
			b, _ := json.Marshal(piece)
			fmt.Fprintf(w, "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1741569952,\"model\":\"slow-1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":%s},\"finish_reason\":null}]}\n\n", b)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1741569952,\"model\":\"slow-1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	}))
	t.Cleanup(func() { m.letGo(); m.Close() })
	return m
}

func (m *slowModel) heldNow() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.held
}

func (m *slowModel) letGo() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.let {
		m.let = true
		close(m.release)
	}
}

// TestKillLosesNoReply: `kill -9` of the server while 200 managed replies are being
// produced loses none: after a restart every one ends complete, produced once from the
// start (no text twice), and the subscription counts each stored message once.
func TestKillLosesNoReply(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the lobby binary")
	}
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		t.Parallel()
		const n = 200
		model := newSlowModel(t)
		lobby := lobbytest.Serve(t, "--database", lobbytest.Database(t, b), "--llm", "openai",
			"--openai-base-url", model.URL+"/v1", "--openai-api-key", "sk-test", "--reply-timeout", "15s")
		owner := lobby.SignIn("owner@example.com")
		lobby.Do("POST", "/api/v1/consultants", owner, map[string]any{"slug": "thinker", "name": "Thinker", "tagline": "Thinks",
			"description": "Thinks slowly.", "category": "general", "mode": "managed", "system_prompt": "Answer."}, nil, 201)
		buyer := lobby.Subscribe("thinker", "buyer@example.com")
		var cnv string
		for i := range n {
			var v struct {
				ConversationID string `json:"conversation_id"`
			}
			lobby.Do("POST", "/api/v1/chat", buyer, map[string]any{"message": fmt.Sprintf("question %d", i), "wait_seconds": 0}, &v, 202)
			cnv = v.ConversationID
		}
		for deadline := time.Now().Add(time.Minute); model.heldNow() < n; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("only %d of %d replies reached the model; log:\n%s", model.heldNow(), n, lobby.Log())
			}
		}
		lobby.Kill()
		model.letGo()
		lobby.Restart()

		// The replies' jobs wait out their timeout (15 s, enough for 200 replies at once
		// on a loaded machine, + 10 s), then River's rescuer: a new leader (up to 15 s)
		// and its next pass (every 30 s).
		type message struct{ ID, Role, Content, Status, Error string }
		var msgs []message
		for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
			msgs = msgs[:0]
			after := ""
			for {
				var page struct{ Data []message }
				lobby.Do("GET", "/api/v1/conversations/"+cnv+"/messages?limit=100&after="+after, buyer, nil, &page, 200)
				msgs = append(msgs, page.Data...)
				if len(page.Data) < 100 {
					break
				}
				after = page.Data[len(page.Data)-1].ID
			}
			done := 0
			for _, m := range msgs {
				if m.Role == "consultant" && m.Status != "streaming" {
					done++
				}
			}
			if done == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after the restart %d of %d replies ended; log:\n%s", done, n, lobby.Log())
			}
		}
		if len(msgs) != 2*n {
			t.Fatalf("%d messages stored, want %d", len(msgs), 2*n)
		}
		for i := 0; i < len(msgs); i += 2 {
			q, a := msgs[i], msgs[i+1]
			if q.Role != "buyer" || a.Role != "consultant" || a.Status != "complete" || a.Content != "Answer to "+q.Content || a.Error != "" {
				t.Fatalf("exchange %d: %+v then %+v; want the reply complete, once: %q", i/2, q, a, "Answer to "+q.Content)
			}
		}
		var subs struct {
			Data []struct {
				MessagesUsed int `json:"messages_used"`
			}
		}
		lobby.Do("GET", "/api/v1/subscriptions", lobby.SignIn("buyer@example.com"), nil, &subs, 200)
		if len(subs.Data) != 1 || subs.Data[0].MessagesUsed != n {
			t.Fatalf("subscriptions = %+v; want one with %d messages used", subs.Data, n)
		}
	})
}
