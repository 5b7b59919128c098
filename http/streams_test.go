package http_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/coder/websocket"
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
