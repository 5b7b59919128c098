package http_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/hub"
	"github.com/lobby-dev/lobby/storetest"
)

// TestRealtimeTokenNotEchoed: a browser offers the subprotocols "lobby" and
// "bearer.<token>" and is answered "lobby"; an older client that offers the bearer
// form alone still connects, with no subprotocol. The token never comes back in a
// response header.
func TestRealtimeTokenNotEchoed(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newTestServer(t, b)
		token, _ := chatSetup(s, advisorProfile)
		cnv := s.do("POST", "/api/v1/chat", token, map[string]any{"message": "hello"}).want(t, 200).json()["conversation_id"].(string)
		url := strings.Replace(s.listen(), "http", "ws", 1) + "/api/v1/realtime"
		for _, tt := range []struct {
			name    string
			offered []string
			want    string
		}{
			{"LobbyAndBearer", []string{"lobby", "bearer." + token}, "lobby"},
			{"BearerFirst", []string{"bearer." + token, "lobby"}, "lobby"},
			{"BearerAlone", []string{"bearer." + token}, ""},
		} {
			t.Run(tt.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				ws, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: tt.offered})
				if err != nil {
					t.Fatal(err)
				}
				defer ws.CloseNow()
				for name, values := range resp.Header {
					for _, v := range values {
						if strings.Contains(v, token) || strings.Contains(v, strings.TrimPrefix(token, "cl_buyer_")) {
							t.Fatalf("the response header %s carries the token: %q", name, v)
						}
					}
				}
				if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != tt.want || ws.Subprotocol() != tt.want {
					t.Fatalf("Sec-WebSocket-Protocol = %q (conn %q), want %q", got, ws.Subprotocol(), tt.want)
				}
				wsWrite(t, ws, map[string]any{"type": "subscribe", "conversation_id": cnv})
				if got := wsRead(t, ws); got["type"] != "subscribed" {
					t.Fatalf("subscribe answer = %v", got)
				}
			})
		}
	})
}

// TestCloseEndsFollowers: Close, as a graceful shutdown calls it, ends every kind of
// follower at once: the WebSocket with 1001 Going Away, an SSE stream, and the waiting
// chat, message and inbox polls with what they have.
func TestCloseEndsFollowers(t *testing.T) {
	s := newTestServer(t, storetest.Backends()[0])
	_, key, _, buyer := agentSetup(s, "poller", "polling", "")
	web := s.listen()
	first := s.do("POST", "/api/v1/chat", buyer, map[string]any{"message": "hello", "wait_seconds": 0}).want(t, 202).json()
	cnv := first["conversation_id"].(string)
	s.do("GET", "/api/v1/inbox", key, nil).want(t, 200) // leases the first message

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, strings.Replace(web, "http", "ws", 1)+"/api/v1/realtime",
		&websocket.DialOptions{Subprotocols: []string{"lobby", "bearer." + buyer}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	wsWrite(t, ws, map[string]any{"type": "subscribe", "conversation_id": cnv})
	if got := wsRead(t, ws); got["type"] != "subscribed" {
		t.Fatalf("subscribe answer = %v", got)
	}
	events := get(t, web+"/api/v1/conversations/"+cnv+"/events", buyer)
	type answer struct {
		name   string
		status int
		body   map[string]any
	}
	answers := make(chan answer, 3)
	call := func(name, method, path, token string, body any) {
		go func() {
			r := s.inGoroutine().do(method, path, token, body)
			answers <- answer{name, r.status, r.json()}
		}()
	}
	h := s.srv.Events.(*hub.Hub)
	waitFor := func(topic string, n int) {
		for h.Subscribers(topic) < n && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
	}
	call("chat", "POST", "/api/v1/chat", buyer, map[string]any{"message": "anyone?", "wait_seconds": 120})
	waitFor(lobby.ConversationTopic(cnv), 3) // the socket, the stream and the chat
	var asked string
	for asked == "" && ctx.Err() == nil {
		ms, _ := s.db.Services().Chat.FindMessages(ctx, lobby.MessageFilter{ConversationID: cnv})
		if len(ms) == 4 {
			asked = ms[2].ID
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.do("GET", "/api/v1/inbox", key, nil).want(t, 200) // leases the second message: the inbox is empty after
	call("messages", "GET", "/api/v1/conversations/"+cnv+"/messages?after="+asked+"&wait=60", buyer, nil)
	call("inbox", "GET", "/api/v1/inbox?wait=60", key, nil)
	waitFor(lobby.ConversationTopic(cnv), 4)
	c, err := s.db.Services().Consultants.FindConsultantBySlug(ctx, "poller")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(lobby.InboxTopic(c.ID), 1)
	s.srv.Close()

	for range 3 {
		a := <-answers
		switch {
		case a.name == "chat" && (a.status != 202 || a.body["reply"] != nil),
			a.name == "messages" && (a.status != 200 || len(a.body["data"].([]any)) != 0),
			a.name == "inbox" && (a.status != 200 || len(a.body["data"].([]any)) != 0):
			t.Fatalf("%s answered %d %v after Close", a.name, a.status, a.body)
		}
	}
	for {
		if _, _, err := ws.Read(ctx); err != nil {
			if websocket.CloseStatus(err) != websocket.StatusGoingAway {
				t.Fatalf("the socket ended with %v, want 1001 going away", err)
			}
			break
		}
	}
	if _, err := io.ReadAll(events.Body); err != nil {
		t.Fatalf("the SSE stream did not end cleanly: %v", err)
	}
}
