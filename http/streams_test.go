package http_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/storetest"
)

// TestStreamLimit: one credential holds at most so many streams, sockets and long
// polls at once, each kind counted alike; the next is refused with 429, another
// credential is not, and a closed stream makes room.
func TestStreamLimit(t *testing.T) {
	s := newTestServer(t, storetest.SQLite, func(s *testServer) { s.afterOpen = func() { s.srv.StreamLimit = 2 } })
	token, key := chatSetup(s, advisorProfile)
	web := s.listen()
	cnv := s.do("POST", "/api/v1/chat", token, map[string]any{"message": "hello"}).want(t, 200).json()["conversation_id"].(string)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sse := get(t, web+"/api/v1/conversations/"+cnv+"/events", token)
	ws, _, err := websocket.Dial(ctx, strings.Replace(web, "http", "ws", 1)+"/api/v1/realtime",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()

	for _, r := range []*http.Response{
		get(t, web+"/api/v1/conversations/"+cnv+"/events", token),
		get(t, web+"/api/v1/conversations/"+cnv+"/messages?wait=30", token),
		post(t, web+"/api/v1/chat", token, map[string]any{"message": "one more", "stream": true}),
	} {
		if r.StatusCode != 429 {
			t.Fatalf("%s %s past the limit: %d", r.Request.Method, r.Request.URL.Path, r.StatusCode)
		}
	}
	// The refused send stored nothing.
	if n := len(s.do("GET", "/api/v1/conversations/"+cnv+"/messages", token, nil).json()["data"].([]any)); n != 2 {
		t.Fatalf("%d messages after a refused streamed send, want 2", n)
	}
	// A plain request holds nothing open, and another credential has its own count.
	s.do("POST", "/api/v1/chat", token, map[string]any{"message": "quick", "wait_seconds": 0}).want(t, 202)
	if r := get(t, web+"/api/v1/conversations/"+cnv+"/events", key); r.StatusCode != 200 {
		t.Fatalf("another credential's stream: %d", r.StatusCode)
	}

	sse.Body.Close()
	ws.Close(websocket.StatusNormalClosure, "")
	eventually(t, "the closed streams make room", func() bool {
		r := s.do("GET", "/api/v1/conversations/"+cnv+"/messages?wait=1&after=msg_zzzzzzzzzzzzzzzzzzzzzzzzzz", token, nil)
		return r.status == 200
	})
}

// TestStreamsEndWhenRevoked: rotating a buyer token ends the streams, sockets and long
// polls opened with the old one at once, and rotating a consultant key ends the key's;
// the new token follows on.
func TestStreamsEndWhenRevoked(t *testing.T) {
	s := newTestServer(t, storetest.SQLite)
	buyerSession, token, key := chatSetupUser(s, advisorProfile)
	owner, _ := s.signIn("owner@example.com")
	web := s.listen()
	cnv := s.do("POST", "/api/v1/chat", token, map[string]any{"message": "hello"}).want(t, 200).json()["conversation_id"].(string)
	sub := s.do("GET", "/api/v1/subscriptions", buyerSession, nil).json()["data"].([]any)[0].(map[string]any)["id"].(string)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // the test's bound
	defer cancel()
	sse := get(t, web+"/api/v1/conversations/"+cnv+"/events", token)
	keySSE := get(t, web+"/api/v1/conversations/"+cnv+"/events", key)
	poll := make(chan int, 1)
	go func() {
		r, err := http.DefaultClient.Do(authed("GET", web+"/api/v1/conversations/"+cnv+"/messages?wait=60&after=msg_zzzzzzzzzzzzzzzzzzzzzzzzzz", token))
		if err == nil {
			r.Body.Close()
			poll <- r.StatusCode
		}
	}()
	ws, _, err := websocket.Dial(ctx, strings.Replace(web, "http", "ws", 1)+"/api/v1/realtime",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	wsWrite(t, ws, map[string]any{"type": "subscribe", "conversation_id": cnv})
	if got := wsRead(t, ws); got["type"] != "subscribed" {
		t.Fatalf("subscribe: %v", got)
	}
	eventually(t, "the long poll waits", func() bool {
		return s.app.Events.(interface{ Subscribers(string) int }).Subscribers(lobby.ConversationTopic(cnv)) >= 4
	})

	fresh := s.do("POST", "/api/v1/subscriptions/"+sub+"/token", buyerSession, nil).want(t, 200).json()["buyer_token"].(string)
	ends(ctx, t, sse.Body, "the old token's stream")
	for {
		if _, _, err := ws.Read(ctx); err != nil {
			if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
				t.Fatalf("the old token's socket ended with %v, want 1008", err)
			}
			break
		}
	}
	select {
	case code := <-poll:
		if code != 200 {
			t.Fatalf("the old token's long poll answered %d", code)
		}
	case <-ctx.Done():
		t.Fatal("the old token's long poll went on")
	}
	get(t, web+"/api/v1/conversations/"+cnv+"/events", token).Body.Close()
	if r := get(t, web+"/api/v1/conversations/"+cnv+"/events", fresh); r.StatusCode != 200 {
		t.Fatalf("the new token's stream: %d", r.StatusCode)
	}

	// The key's stream was not touched by the buyer's rotation; rotating the key ends it.
	s.do("POST", "/api/v1/consultants/advisor/key", owner, nil).want(t, 200)
	ends(ctx, t, keySSE.Body, "the old key's stream")
}

// authed is a GET or POST with a bearer token, for a client of a live server.
func authed(method, url, token string) *http.Request {
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}

// ends fails t unless body ends before ctx does.
func ends(ctx context.Context, t *testing.T, body io.Reader, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, body); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("%s went on", what)
	}
}
