package http_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
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
