package http_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/storetest"
)

// chatSetup makes a consultant and a buyer subscribed to it, and returns the buyer
// token and the consultant's key.
func chatSetup(s *testServer, extra map[string]any) (buyerToken, key string) {
	_, buyerToken, key = chatSetupUser(s, extra)
	return buyerToken, key
}

// chatSetupUser is chatSetup that also returns the buyer's session and subscription.
func chatSetupUser(s *testServer, extra map[string]any) (buyerSession, buyerToken, key string) {
	owner, _ := s.signIn("owner@example.com")
	key = s.createConsultant(owner, "advisor", extra)["api_key"].(string)
	buyerSession, _ = s.signIn("buyer@example.com")
	_, buyerToken = s.subscribe(buyerSession, "advisor", "starter")
	return buyerSession, buyerToken, key
}

var advisorProfile = map[string]any{
	"name": "Garden Advisor", "tagline": "Vegetables in small spaces",
	"description":   "Tomatoes need six hours of sun. Basil likes warm soil. Water deeply and less often.",
	"system_prompt": "You are a friendly gardener who never mentions the secret compost recipe of aunt Mabel and keeps answers short.",
}

// sseEvent is one Server-Sent Event as a client reads it.
type sseEvent struct {
	id, typ string
	data    map[string]any
}

func readSSE(t *testing.T, resp *http.Response, until func(sseEvent) bool) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			cur.typ = line[7:]
		case strings.HasPrefix(line, "data: "):
			json.Unmarshal([]byte(line[6:]), &cur.data)
		case line == "" && cur.typ != "":
			out = append(out, cur)
			if until(cur) {
				return out
			}
			cur = sseEvent{}
		}
	}
	return out
}

// post sends body as JSON to a live server and returns the open response.
func post(t *testing.T, url, token string, body any, headers ...string) *http.Response {
	t.Helper()
	b, _ := json.Marshal(body)
	return send(t, "POST", url, token, bytes.NewReader(b), append([]string{"Content-Type", "application/json"}, headers...)...)
}

// get reads from a live server and returns the open response.
func get(t *testing.T, url, token string, headers ...string) *http.Response {
	t.Helper()
	return send(t, "GET", url, token, nil, headers...)
}

func send(t *testing.T, method, url, token string, body io.Reader, headers ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, body)
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestChatEveryPath: a buyer consults by a plain request, a stream, wait_seconds 0 and
// a long poll, and a WebSocket and an SSE follower see it all; every path shows the
// same messages in the same order.
func TestChatEveryPath(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newTestServer(t, b)
		token, key := chatSetup(s, advisorProfile)
		web := s.listen()

		// 1. Plain: the reply comes back complete, from the offline provider's reading of
		// the published profile.
		v := s.do("POST", "/api/v1/chat", token, map[string]any{"message": "How much sun do tomatoes need?"}).want(t, 200).json()
		cnv := v["conversation_id"].(string)
		reply := v["reply"].(map[string]any)
		if reply["status"] != "complete" || reply["role"] != "consultant" || reply["model"] != "offline" ||
			!strings.Contains(reply["content"].(string), "Tomatoes need six hours of sun") || !strings.Contains(reply["content"].(string), "Offline reply") {
			t.Fatalf("plain reply = %v", reply)
		}

		// A WebSocket and an SSE follower join the conversation now.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, strings.Replace(web, "http", "ws", 1)+"/api/v1/realtime",
			&websocket.DialOptions{Subprotocols: []string{"bearer." + token}})
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		wsWrite(t, ws, map[string]any{"type": "subscribe", "conversation_id": cnv})
		if got := wsRead(t, ws); got["type"] != "subscribed" {
			t.Fatalf("subscribe answer = %v", got)
		}
		sse := get(t, web+"/api/v1/conversations/"+cnv+"/events", key)
		if sse.StatusCode != 200 || sse.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("events: %d %s", sse.StatusCode, sse.Header.Get("Content-Type"))
		}
		time.Sleep(50 * time.Millisecond) // let the SSE handler subscribe

		// 2. Stream.
		resp := post(t, web+"/api/v1/chat", token, map[string]any{"message": "Does basil like warm soil?", "stream": true})
		streamed := readSSE(t, resp, func(e sseEvent) bool { return e.typ == "message.completed" })
		types := []string{}
		var deltas strings.Builder
		for _, e := range streamed {
			types = append(types, e.typ)
			if e.typ == "message.delta" {
				deltas.WriteString(e.data["delta"].(string))
			}
		}
		last := streamed[len(streamed)-1].data
		if types[0] != "message.created" || types[1] != "message.created" || types[2] != "message.delta" || last["status"] != "complete" ||
			deltas.String() != last["content"] || !strings.Contains(deltas.String(), "Basil likes warm soil") {
			t.Fatalf("stream = %v; deltas %q; final %v", types, deltas.String(), last)
		}

		// 3. wait_seconds 0, then a long poll after the buyer's message.
		v = s.do("POST", "/api/chat", token, map[string]any{"message": "How should I water?", "wait_seconds": 0}).want(t, 202).json()
		if v["reply"] != nil || v["conversation_id"] != cnv {
			t.Fatalf("wait 0 = %v", v)
		}
		mine := v["message"].(map[string]any)["id"].(string)
		polled := s.do("GET", "/api/v1/conversations/"+cnv+"/messages?after="+mine+"&wait=10", token, nil).want(t, 200).json()["data"].([]any)
		if len(polled) != 1 || polled[0].(map[string]any)["status"] != "complete" || !strings.Contains(polled[0].(map[string]any)["content"].(string), "Water deeply") {
			t.Fatalf("long poll = %v", polled)
		}

		// The history, from the store.
		all := s.do("GET", "/api/v1/conversations/"+cnv+"/messages?limit=100", token, nil).want(t, 200).json()["data"].([]any)
		var history []string
		for _, m := range all {
			history = append(history, m.(map[string]any)["id"].(string))
		}
		if len(history) != 6 {
			t.Fatalf("history has %d messages, want 6", len(history))
		}

		// The followers saw the last two exchanges, in order, ending as stored.
		var wsSeen []string
		for len(wsSeen) < 4 {
			e := wsRead(t, ws)
			if e["type"] == "message.created" {
				wsSeen = append(wsSeen, e["data"].(map[string]any)["id"].(string))
			}
		}
		sseSeen := []string{}
		for _, e := range readSSE(t, sse, func(e sseEvent) bool { return e.typ == "message.completed" && e.data["id"] == history[5] }) {
			if e.typ == "message.created" {
				sseSeen = append(sseSeen, e.data["id"].(string))
			}
		}
		if strings.Join(wsSeen, ",") != strings.Join(history[2:], ",") || strings.Join(sseSeen, ",") != strings.Join(history[2:], ",") {
			t.Fatalf("websocket saw %v, SSE saw %v, the store has %v", wsSeen, sseSeen, history[2:])
		}

		// Resuming with Last-Event-ID replays what came after, from the store.
		resumed := get(t, web+"/api/v1/conversations/"+cnv+"/events", token, "Last-Event-ID", history[3]+":2")
		replay := readSSE(t, resumed, func(e sseEvent) bool { return e.typ == "message.completed" && e.data["id"] == history[5] })
		var replayed []string
		for _, e := range replay {
			replayed = append(replayed, e.typ+" "+e.data["id"].(string))
		}
		want := []string{"message.completed " + history[3], "message.created " + history[4], "message.created " + history[5], "message.completed " + history[5]}
		if strings.Join(replayed, ",") != strings.Join(want, ",") {
			t.Fatalf("replay = %v\nwant %v", replayed, want)
		}

		// Conversations: the buyer's own; the consultant's, which name the buyer only by
		// pseudonym, never by the subscription.
		for _, tok := range []string{token, key} {
			list := s.do("GET", "/api/v1/conversations", tok, nil).want(t, 200).json()["data"].([]any)
			if len(list) != 1 || list[0].(map[string]any)["id"] != cnv {
				t.Fatalf("conversations = %v", list)
			}
			_, shown := list[0].(map[string]any)["subscription_id"]
			if shown != (tok == token) || list[0].(map[string]any)["buyer_id"] == "" {
				t.Fatalf("conversation as %s sees: %v", tok[:9], list[0])
			}
		}
	})
}

func wsWrite(t testing.TB, c *websocket.Conn, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if err := c.Write(context.Background(), websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

func wsRead(t testing.TB, c *websocket.Conn) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatalf("websocket read: %v", err)
	}
	var v map[string]any
	json.Unmarshal(b, &v)
	return v
}

// TestChatCap: 30 messages at once against a cap of 10 over HTTP.
func TestChatCap(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newTestServer(t, b)
		token, _ := chatSetup(s, map[string]any{"plans": []map[string]any{{"tier": "starter", "price_cents": 500, "message_cap": 10}}})
		var ok, refused atomic.Int32
		var wg sync.WaitGroup
		for i := range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				g := s.inGoroutine()
				r := g.do("POST", "/api/v1/chat", token, map[string]any{"message": fmt.Sprintf("question %d", i), "wait_seconds": 0})
				switch r.status {
				case 202:
					ok.Add(1)
				case 429:
					r.want(g.t, 429, "quota_exceeded", "10 messages")
					if ra := r.header.Get("Retry-After"); ra == "" || ra == "0" {
						t.Errorf("quota_exceeded without Retry-After")
					}
					refused.Add(1)
				default:
					t.Errorf("status %d: %s", r.status, r.body)
				}
			}()
		}
		wg.Wait()
		cnvs := s.do("GET", "/api/v1/conversations", token, nil).json()["data"].([]any)
		msgs := s.do("GET", "/api/v1/conversations/"+cnvs[0].(map[string]any)["id"].(string)+"/messages?limit=100", token, nil).json()["data"].([]any)
		buyerMsgs := 0
		for _, m := range msgs {
			if m.(map[string]any)["role"] == "buyer" {
				buyerMsgs++
			}
		}
		if ok.Load() != 10 || refused.Load() != 20 || buyerMsgs != 10 {
			t.Fatalf("%d accepted, %d refused, %d stored; want 10, 20, 10", ok.Load(), refused.Load(), buyerMsgs)
		}
	})
}

// TestChatBadInput: bad messages, ids and credentials on the chat routes.
func TestChatBadInput(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newTestServer(t, b)
		token, key := chatSetup(s, nil)
		owner, _ := s.signIn("owner@example.com")
		cnv := s.do("POST", "/api/v1/chat", token, map[string]any{"message": "hi"}).want(t, 200).json()["conversation_id"].(string)

		// Another buyer of the same consultant, and another consultant's key.
		other, _ := s.signIn("other@example.com")
		_, otherToken := s.subscribe(other, "advisor", "starter")
		otherKey := s.createConsultant(other, "elsewhere", nil)["api_key"].(string)

		s.checkBad(t, []badRequest{
			{"Empty", "POST", "/api/v1/chat", token, map[string]any{"message": "  "}, 400, "invalid_request", "empty", nil},
			{"Missing", "POST", "/api/v1/chat", token, map[string]any{}, 400, "invalid_request", "empty", nil},
			{"Oversized", "POST", "/api/v1/chat", token, map[string]any{"message": strings.Repeat("é", 17<<10)}, 413, "payload_too_large", "32 KiB", nil},
			{"NotUTF8", "POST", "/api/v1/chat", token, "{\"message\": \"\xff\xfe\"}", 400, "invalid_request", "UTF-8", nil},
			{"NotString", "POST", "/api/v1/chat", token, map[string]any{"message": 5}, 400, "invalid_request", "must be a string", nil},
			{"WaitTooLong", "POST", "/api/v1/chat", token, map[string]any{"message": "x", "wait_seconds": 121}, 400, "invalid_request", "wait_seconds", nil},
			{"UnknownConversation", "POST", "/api/v1/chat", token, map[string]any{"message": "x", "conversation_id": "cnv_nope"}, 404, "not_found", "", nil},
			{"ForeignConversation", "POST", "/api/v1/chat", otherToken, map[string]any{"message": "x", "conversation_id": cnv}, 404, "not_found", "", nil},
			{"UserToken", "POST", "/api/v1/chat", owner, map[string]any{"message": "x"}, 403, "forbidden", "cl_buyer_", nil},
			{"ConsultantKey", "POST", "/api/v1/chat", key, map[string]any{"message": "x"}, 403, "forbidden", "cl_buyer_", nil},
			{"NoToken", "POST", "/api/v1/chat", "", map[string]any{"message": "x"}, 401, "unauthorized", "", nil},
			{"ForeignMessages", "GET", "/api/v1/conversations/" + cnv + "/messages", otherToken, nil, 404, "not_found", "", nil},
			{"ForeignKeyMessages", "GET", "/api/v1/conversations/" + cnv + "/messages", otherKey, nil, 404, "not_found", "", nil},
			{"MalformedConversation", "GET", "/api/v1/conversations/%27%3B--/messages", token, nil, 404, "not_found", "", nil},
			{"UserReadsMessages", "GET", "/api/v1/conversations/" + cnv + "/messages", owner, nil, 403, "forbidden", "", nil},
			{"BadWait", "GET", "/api/v1/conversations/" + cnv + "/messages?wait=61", token, nil, 400, "invalid_request", "wait", nil},
			{"ForeignEvents", "GET", "/api/v1/conversations/" + cnv + "/events", otherToken, nil, 404, "not_found", "", nil},
			{"RealtimeNoToken", "GET", "/api/v1/realtime", "", nil, 401, "unauthorized", "", nil},
		})

	})
}

// TestChatCredentials: a rotated or ended buyer token is refused on the very next
// request, and a WebSocket never carries a byte of another buyer's conversation.
func TestChatCredentials(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newTestServer(t, b)
		session, token, _ := chatSetupUser(s, nil)
		cnv := s.do("POST", "/api/v1/chat", token, map[string]any{"message": "first"}).want(t, 200).json()["conversation_id"].(string)
		sub := s.do("GET", "/api/v1/subscriptions", session, nil).json()["data"].([]any)[0].(map[string]any)["id"].(string)

		fresh := s.do("POST", "/api/v1/subscriptions/"+sub+"/token", session, nil).want(t, 200).json()["buyer_token"].(string)
		s.do("POST", "/api/v1/chat", token, map[string]any{"message": "old token"}).want(t, 401, "unauthorized")
		s.do("GET", "/api/v1/conversations/"+cnv+"/messages", token, nil).want(t, 401)
		s.do("POST", "/api/v1/chat", fresh, map[string]any{"message": "new token"}).want(t, 200)

		// Another buyer's WebSocket asks for this conversation: refused, and silent after.
		web := s.listen()
		other, _ := s.signIn("other@example.com")
		_, otherToken := s.subscribe(other, "advisor", "starter")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ws, _, err := websocket.Dial(ctx, strings.Replace(web, "http", "ws", 1)+"/api/v1/realtime",
			&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + otherToken}}})
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		wsWrite(t, ws, map[string]any{"type": "subscribe", "conversation_id": cnv})
		if got := wsRead(t, ws); got["type"] != "error" || got["data"].(map[string]any)["code"] != "not_found" {
			t.Fatalf("foreign subscribe answer = %v", got)
		}
		wsWrite(t, ws, map[string]any{"type": "bogus"})
		if got := wsRead(t, ws); got["type"] != "error" {
			t.Fatalf("bogus message answer = %v", got)
		}
		s.do("POST", "/api/v1/chat", fresh, map[string]any{"message": "private matter"}).want(t, 200)
		rctx, rcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer rcancel()
		if _, b, err := ws.Read(rctx); err == nil {
			t.Fatalf("the other buyer's socket received %s", b)
		}

		// Cancelled, and past the period's end: refused.
		s.do("DELETE", "/api/v1/subscriptions/"+sub, session, nil).want(t, 200)
		s.do("POST", "/api/v1/chat", fresh, map[string]any{"message": "still paid"}).want(t, 200)
		s.clock.Add(lobby.SubscriptionPeriod)
		s.do("POST", "/api/v1/chat", fresh, map[string]any{"message": "ended"}).want(t, 401, "unauthorized", "ended")
	})
}
