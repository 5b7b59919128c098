package main

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

	"github.com/lobby-dev/lobby/lobbytest"
	"github.com/lobby-dev/lobby/storetest"
)

// TestKillLosesNoDelivery: `kill -9` of the server with 500 webhook deliveries pending
// loses none: after a restart every message arrives (duplicates allowed, each with
// its message's webhook-id).
func TestKillLosesNoDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the lobby binary")
	}
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		t.Parallel()
		const n = 500
		var mu sync.Mutex
		up := false
		ids := map[string]string{} // message content → webhook-id
		delivered := map[string]bool{}
		receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			var ev struct {
				Data struct {
					Message struct{ Content string } `json:"message"`
				} `json:"data"`
			}
			if json.Unmarshal(body, &ev) != nil || ev.Data.Message.Content == "" {
				// The killed process was cut off mid-POST: not a delivery.
				http.Error(w, "incomplete body", http.StatusBadRequest)
				return
			}
			content, id := ev.Data.Message.Content, r.Header.Get("webhook-id")
			mu.Lock()
			defer mu.Unlock()
			if prev, ok := ids[content]; ok && prev != id {
				t.Errorf("message %q came with webhook-ids %s and %s", content, prev, id)
			}
			ids[content] = id
			if !up {
				http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
				return
			}
			delivered[content] = true
			w.WriteHeader(http.StatusAccepted)
		}))
		defer receiver.Close()

		// Retries every 3 s for 90 s: none runs out while the 500 are sent (slow under
		// -race), and after the restart each comes within 3 s.
		lobby := lobbytest.Serve(t, "--database", lobbytest.Database(t, b),
			"--webhook-timeout", "2s", "--webhook-retry-schedule", "0s"+strings.Repeat(",3s", 30))
		lobby.CreateAgent("crashy", "webhook", receiver.URL+"/lobby")
		buyer := lobby.Subscribe("crashy", "buyer@example.com")
		for i := range n {
			lobby.Do("POST", "/api/v1/chat", buyer, map[string]any{"message": fmt.Sprintf("message %d", i), "wait_seconds": 0}, nil, 202)
		}
		lobby.Kill()

		mu.Lock()
		up = true
		mu.Unlock()
		lobby.Restart()
		// Deliveries that were running at the kill wait for River's rescuer: a new
		// leader (up to 15 s) and its next pass (every 30 s).
		deadline := time.Now().Add(3 * time.Minute)
		for {
			mu.Lock()
			got := len(delivered)
			mu.Unlock()
			if got == n {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after the restart %d of %d messages arrived; log:\n%s", got, n, lobby.Log())
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}
