package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/lobby-dev/lobby/lobbytest"
	"github.com/lobby-dev/lobby/storetest"
	"github.com/lobby-dev/lobby/webhook"
)

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// fakeLobby records the replies an agent posts.
type fakeLobby struct {
	mu      sync.Mutex
	replies []map[string]string
	auth    []string
}

func (f *fakeLobby) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in map[string]string
	json.NewDecoder(r.Body).Decode(&in)
	f.mu.Lock()
	f.replies = append(f.replies, in)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, `{"message": {}}`)
}

// got returns the replies and Authorization headers received so far.
func (f *fakeLobby) got() ([]map[string]string, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.replies, f.auth
}

// delivery returns a request as Lobby would send it, signed with secret.
func delivery(t *testing.T, secret, id, replyURL string) *http.Request {
	t.Helper()
	body, _ := json.Marshal(webhook.Event{Type: "message.created", Timestamp: time.Now(), Data: webhook.EventData{
		ConversationID: "cnv_1", Message: webhook.Message{ID: "msg_1", Role: "buyer", Content: "Hello?"}, ReplyURL: replyURL,
	}})
	now := time.Now()
	sig, err := webhook.SignAll([]string{secret}, id, now, body)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("POST", "/lobby", bytes.NewReader(body))
	r.Header.Set(webhook.HeaderID, id)
	r.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	r.Header.Set(webhook.HeaderSignature, sig)
	return r
}

func newTestAgent(t *testing.T) *Agent {
	t.Helper()
	v, err := webhook.NewVerifier(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return &Agent{Key: "cl_consultant_test", Verifier: v, Logger: slog.New(slog.DiscardHandler)}
}

func TestServeHTTP(t *testing.T) {
	t.Parallel()
	t.Run("ErrBadSignature", func(t *testing.T) {
		t.Parallel()
		fake := &fakeLobby{}
		lobby := httptest.NewServer(fake)
		defer lobby.Close()
		a := newTestAgent(t)

		for name, r := range map[string]*http.Request{
			"other secret": delivery(t, "whsec_"+strings.Repeat("A", 32), "evt_1", lobby.URL),
			"no headers":   httptest.NewRequest("POST", "/lobby", strings.NewReader(`{}`)),
		} {
			w := httptest.NewRecorder()
			a.ServeHTTP(w, r)
			if w.Code != http.StatusUnauthorized {
				t.Errorf("%s: status %d, want 401: %s", name, w.Code, w.Body)
			}
		}
		tampered := delivery(t, testSecret, "evt_1", lobby.URL)
		tampered.Header.Set(webhook.HeaderID, "evt_2")
		w := httptest.NewRecorder()
		a.ServeHTTP(w, tampered)
		if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), "bad signature") {
			t.Errorf("tampered id: %d %q, want 401 bad signature", w.Code, w.Body)
		}
		a.Wait()
		if replies, _ := fake.got(); len(replies) != 0 {
			t.Errorf("replies to refused deliveries: %v", replies)
		}
	})

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		fake := &fakeLobby{}
		lobby := httptest.NewServer(fake)
		defer lobby.Close()
		a := newTestAgent(t)

		w := httptest.NewRecorder()
		a.ServeHTTP(w, delivery(t, testSecret, "evt_1", lobby.URL+"/api/v1/reply"))
		if w.Code != http.StatusAccepted {
			t.Fatalf("status %d, want 202: %s", w.Code, w.Body)
		}
		a.Wait()
		replies, auth := fake.got()
		want := map[string]string{"conversation_id": "cnv_1", "in_reply_to": "msg_1", "content": `Echo agent: you said "Hello?" (0 earlier messages).`}
		if len(replies) != 1 || !equal(replies[0], want) {
			t.Fatalf("replies %v, want one %v", replies, want)
		}
		if auth[0] != "Bearer cl_consultant_test" {
			t.Errorf("Authorization %q, want the key", auth[0])
		}
	})

	t.Run("Duplicate", func(t *testing.T) {
		t.Parallel()
		fake := &fakeLobby{}
		lobby := httptest.NewServer(fake)
		defer lobby.Close()
		a := newTestAgent(t)

		for i := range 2 {
			w := httptest.NewRecorder()
			a.ServeHTTP(w, delivery(t, testSecret, "evt_1", lobby.URL+"/api/v1/reply"))
			if w.Code/100 != 2 {
				t.Fatalf("delivery %d: status %d, want 2xx: %s", i+1, w.Code, w.Body)
			}
		}
		a.Wait()
		if replies, _ := fake.got(); len(replies) != 1 {
			t.Fatalf("%d replies to one event delivered twice, want 1", len(replies))
		}
	})
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestWebhookMode runs the agent as a webhook endpoint of a real Lobby.
func TestWebhookMode(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		t.Parallel()
		a := &Agent{Logger: slog.New(slog.DiscardHandler)}
		srv := httptest.NewUnstartedServer(a) // its address is known before it serves
		t.Cleanup(func() { srv.Close(); a.Wait() })
		lobby := lobbytest.Serve(t, "--database", lobbytest.Database(t, b))

		consultant := lobby.CreateAgent("echo", "webhook", "http://"+srv.Listener.Addr().String()+"/lobby")
		a.Key = consultant.Key
		v, err := webhook.NewVerifier(consultant.Secret)
		if err != nil {
			t.Fatal(err)
		}
		a.Verifier = v
		srv.Start()

		converse(t, lobby, "echo", consultant.Owner)
	})
}

// TestPollingMode runs the agent on the inbox of a real Lobby.
func TestPollingMode(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		t.Parallel()
		lobby := lobbytest.Serve(t, "--database", lobbytest.Database(t, b))
		consultant := lobby.CreateAgent("echo", "polling", "")

		wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer wcancel()
		wrong := &Agent{Key: "cl_consultant_wrong", Logger: slog.New(slog.DiscardHandler)}
		if err := wrong.Poll(wctx, lobby.URL); !errors.Is(err, errRefused) {
			t.Fatalf("Poll with a wrong key returned %v, want errRefused", err)
		}

		a := &Agent{Key: consultant.Key, Logger: slog.New(slog.DiscardHandler)}
		ctx, cancel := context.WithCancel(context.Background())
		polled := make(chan error, 1)
		go func() { polled <- a.Poll(ctx, lobby.URL) }()
		t.Cleanup(func() {
			cancel()
			if err := <-polled; err != context.Canceled {
				t.Errorf("Poll returned %v, want context.Canceled", err)
			}
		})

		converse(t, lobby, "echo", consultant.Owner)
	})
}

// converse has a buyer of slug send two messages, the first waiting for its reply, the
// second watching the reply arrive over the WebSocket, and checks that the agent's
// answers arrived and its deliveries are delivered.
func converse(t *testing.T, lobby *lobbytest.Process, slug, owner string) {
	t.Helper()
	buyer := lobby.Subscribe(slug, "buyer@example.com")

	var first struct {
		ConversationID string `json:"conversation_id"`
		Reply          struct {
			Role, Content, Status string
		} `json:"reply"`
	}
	lobby.Do("POST", "/api/v1/chat", buyer, map[string]any{"message": "first", "wait_seconds": 30}, &first, http.StatusOK)
	if want := `Echo agent: you said "first" (0 earlier messages).`; first.Reply.Content != want || first.Reply.Role != "consultant" {
		t.Fatalf("reply %+v, want the consultant's %q", first.Reply, want)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, lobbytest.WS(lobby.URL)+"/api/v1/realtime", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + buyer}},
	})
	if err != nil {
		t.Fatalf("dial the realtime socket: %v", err)
	}
	defer ws.CloseNow()
	sub, _ := json.Marshal(map[string]string{"type": "subscribe", "conversation_id": first.ConversationID})
	if err := ws.Write(ctx, websocket.MessageText, sub); err != nil {
		t.Fatal(err)
	}
	if f := readFrame(ctx, t, ws); f.Type != "subscribed" {
		t.Fatalf("first frame %s %s, want subscribed", f.Type, f.Data)
	}

	lobby.Do("POST", "/api/v1/chat", buyer, map[string]any{"message": "second", "conversation_id": first.ConversationID, "wait_seconds": 0}, nil, http.StatusAccepted)
	want := `Echo agent: you said "second" (2 earlier messages).`
	for {
		f := readFrame(ctx, t, ws)
		if f.Type == "message.failed" {
			t.Fatalf("reply failed: %s", f.Data)
		}
		if f.Type != "message.completed" {
			continue
		}
		var m struct{ Role, Content string }
		json.Unmarshal(f.Data, &m)
		if m.Role != "consultant" {
			continue
		}
		if m.Content != want {
			t.Fatalf("reply %q, want %q", m.Content, want)
		}
		break
	}

	var log struct {
		Data []struct{ ID, Status string } `json:"data"`
	}
	lobby.Do("GET", "/api/v1/consultants/"+slug+"/deliveries", owner, nil, &log, http.StatusOK)
	if len(log.Data) != 2 {
		t.Fatalf("%d deliveries, want 2: %+v", len(log.Data), log.Data)
	}
	for _, d := range log.Data {
		if d.Status != "delivered" {
			t.Errorf("delivery %s is %q, want delivered", d.ID, d.Status)
		}
	}
}

type frame struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

func readFrame(ctx context.Context, t *testing.T, ws *websocket.Conn) frame {
	t.Helper()
	_, b, err := ws.Read(ctx)
	if err != nil {
		t.Fatalf("read the realtime socket: %v", err)
	}
	var f frame
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("frame %s: %v", b, err)
	}
	return f
}
