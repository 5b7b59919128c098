package http_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"
	"github.com/lobby-dev/lobby/storetest"
	"github.com/lobby-dev/lobby/webhook"
)

// listening waits until the server's broker listens for other instances' events.
func (s *testServer) listening() *testServer {
	s.t.Helper()
	select {
	case <-s.app.Broker.Ready():
	case <-time.After(10 * time.Second):
		s.t.Fatal("the broker did not start listening")
	}
	return s
}

// TestTwoInstances: two servers on one PostgreSQL database; a WebSocket on the first
// receives the reply to a message sent through the second, and keeps receiving after
// the first's listening connection is cut.
func TestTwoInstances(t *testing.T) {
	if os.Getenv(storetest.PostgresURLVar) == "" {
		t.Skipf("PostgreSQL not tested: set %s to a server's URL (CI does)", storetest.PostgresURLVar)
	}
	db1 := storetest.Postgres.Open(t)
	db2 := storetest.Postgres.OpenShared(t, db1)
	one := newTestServerOn(t, db1).listening()
	two := newTestServerOn(t, db2).listening()

	token, _ := chatSetup(one, advisorProfile)
	cnv := one.do("POST", "/api/v1/chat", token, map[string]any{"message": "hello"}).want(t, 200).json()["conversation_id"].(string)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dial := func() *websocket.Conn {
		ws, _, err := websocket.Dial(ctx, strings.Replace(one.listen(), "http", "ws", 1)+"/api/v1/realtime",
			&websocket.DialOptions{Subprotocols: []string{"bearer." + token}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ws.CloseNow() })
		wsWrite(t, ws, map[string]any{"type": "subscribe", "conversation_id": cnv})
		if got := wsRead(t, ws); got["type"] != "subscribed" {
			t.Fatalf("subscribe: %v", got)
		}
		return ws
	}
	// expect reads until the reply to the message sent through the second server completes.
	expect := func(ws *websocket.Conn, question, answer string) {
		t.Helper()
		v := two.do("POST", "/api/v1/chat", token, map[string]any{"message": question, "wait_seconds": 0}).want(t, 202).json()
		replyID := v["reply_id"].(string)
		var types []string
		var deltas strings.Builder
		for {
			e := wsRead(t, ws)
			types = append(types, e["type"].(string))
			data := e["data"].(map[string]any)
			if e["type"] == "message.delta" {
				deltas.WriteString(data["delta"].(string))
			}
			if e["type"] == "message.completed" && data["id"] == replyID {
				if !strings.Contains(data["content"].(string), answer) || deltas.String() != data["content"] {
					t.Fatalf("reply %q, deltas %q", data["content"], deltas.String())
				}
				break
			}
		}
		if types[0] != "message.created" || types[1] != "message.created" {
			t.Fatalf("events from the other instance: %v", types)
		}
	}
	ws := dial()
	expect(ws, "How much sun do tomatoes need?", "six hours of sun")

	// Cut the first instance's listening connection: its sockets are told to catch up,
	// it reconnects, and a new socket gets the next reply.
	admin, err := pgx.Connect(ctx, os.Getenv(storetest.PostgresURLVar))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(ctx, 10*time.Second)
	defer rcancel()
	for {
		if _, _, err := ws.Read(rctx); err != nil {
			if websocket.CloseStatus(err) != websocket.StatusTryAgainLater {
				t.Fatalf("after the broker lost its connection the socket ended with %v, want try-again-later", err)
			}
			break
		}
	}
	// The hub drops its sockets only once the broker listens again.
	expect(dial(), "Does basil like warm soil?", "Basil likes warm soil")
}

// TestStreamFollowsReplyFromAnotherInstance: a buyer streams its message on the first
// instance to a polling consultant whose agent, long-polling the inbox on the second,
// answers at once in pieces there. The stream, subscribed before the exchange was
// stored, gets every piece from the first, and they join to the final reply.
func TestStreamFollowsReplyFromAnotherInstance(t *testing.T) {
	if os.Getenv(storetest.PostgresURLVar) == "" {
		t.Skipf("PostgreSQL not tested: set %s to a server's URL (CI does)", storetest.PostgresURLVar)
	}
	db1 := storetest.Postgres.Open(t)
	db2 := storetest.Postgres.OpenShared(t, db1)
	one := newTestServerOn(t, db1).listening()
	two := newTestServerOn(t, db2).listening()
	_, key, _, buyer := agentSetup(one, "poller", "polling", "")
	pieces := []string{"Tomatoes ", "need ", "six hours ", "of sun."}

	// The agent: waits in the inbox on the second instance, then streams its reply there
	// as soon as the message arrives.
	agent := make(chan error, 1)
	go func() {
		two := two.inGoroutine()
		var inbox struct {
			Data []webhook.Event `json:"data"`
		}
		for len(inbox.Data) == 0 {
			json.Unmarshal(two.do("GET", "/api/v1/inbox?wait=30", key, nil).want(two.t, 200).body, &inbox)
		}
		ev := inbox.Data[0]
		for i, p := range pieces {
			two.do("POST", "/api/v1/reply", key, map[string]any{"conversation_id": ev.Data.ConversationID, "content": p,
				"in_reply_to": ev.Data.Message.ID, "partial": i < len(pieces)-1}).want(two.t, 201)
		}
		agent <- nil
	}()

	resp := post(t, one.listen()+"/api/v1/chat", buyer, map[string]any{"message": "How much sun?", "stream": true})
	events := readSSE(t, resp, func(e sseEvent) bool { return e.typ == "message.completed" || e.typ == "message.failed" })
	<-agent
	var types []string
	var deltas strings.Builder
	for _, e := range events {
		types = append(types, e.typ)
		if e.typ == "message.delta" {
			deltas.WriteString(e.data["delta"].(string))
		}
	}
	if len(types) < 4 || types[0] != "message.created" || types[1] != "message.created" || types[2] != "message.delta" {
		t.Fatalf("stream = %v", types)
	}
	final := events[len(events)-1]
	if final.typ != "message.completed" || final.data["content"] != strings.Join(pieces, "") || deltas.String() != final.data["content"] ||
		!strings.HasPrefix(deltas.String(), pieces[0]) {
		t.Fatalf("deltas %q, final %s %v", deltas.String(), final.typ, final.data)
	}
}

// TestRevocationReachesEveryInstance: a buyer token rotated through the second
// instance ends the stream opened with it on the first, at once.
func TestRevocationReachesEveryInstance(t *testing.T) {
	if os.Getenv(storetest.PostgresURLVar) == "" {
		t.Skipf("PostgreSQL not tested: set %s to a server's URL (CI does)", storetest.PostgresURLVar)
	}
	db1 := storetest.Postgres.Open(t)
	db2 := storetest.Postgres.OpenShared(t, db1)
	one := newTestServerOn(t, db1).listening()
	two := newTestServerOn(t, db2).listening()
	buyerSession, token, _ := chatSetupUser(one, advisorProfile)
	cnv := one.do("POST", "/api/v1/chat", token, map[string]any{"message": "hello"}).want(t, 200).json()["conversation_id"].(string)
	sub := one.do("GET", "/api/v1/subscriptions", buyerSession, nil).json()["data"].([]any)[0].(map[string]any)["id"].(string)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // the test's bound
	defer cancel()
	stream := get(t, one.listen()+"/api/v1/conversations/"+cnv+"/events", token)
	two.do("POST", "/api/v1/subscriptions/"+sub+"/token", buyerSession, nil).want(t, 200)
	ends(ctx, t, stream.Body, "the first instance's stream of the rotated token")
}
