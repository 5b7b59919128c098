package http_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/storetest"
	"github.com/lobby-dev/lobby/webhook"
)

// nulModel answers with NUL characters and a broken byte, as a model asked to may.
type nulModel struct{}

func (nulModel) Name() string { return "nul" }

func (nulModel) Complete(ctx context.Context, req lobby.CompletionRequest, onDelta func(string)) (*lobby.Completion, error) {
	for _, p := range []string{"Zero\x00", " here\xff", "."} {
		onDelta(p)
	}
	return &lobby.Completion{Text: "Zero\x00 here\xff.", Model: "nul"}, nil
}

// TestTextFromOutsideIsCleaned: NUL characters and invalid UTF-8 in a model's reply,
// a webhook's reply or a response's first bytes are stored as U+FFFD, on each store,
// instead of failing the write and the delivery looping.
func TestTextFromOutsideIsCleaned(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newTestServer(t, b, withLLM(nulModel{}), withDev())
		token, _ := chatSetup(s, advisorProfile)
		reply := s.do("POST", "/api/v1/chat", token, map[string]any{"message": "Say zero."}).want(t, 200).json()["reply"].(map[string]any)
		if reply["status"] != "complete" || reply["content"] != "Zero\uFFFD here\uFFFD." {
			t.Fatalf("the model's reply as stored: %v", reply)
		}

		rc := newReceiver(t, func(n int, w http.ResponseWriter, ev webhook.Event) {
			if n == 1 {
				w.Write([]byte(`{"reply": "Hello\u0000world"}`))
				return
			}
			w.Write([]byte("binary\x00\xfe body"))
		})
		owner, _, _, buyer := agentSetup(s, "nul-agent", "webhook", rc.URL)
		first := s.do("POST", "/api/v1/chat", buyer, map[string]any{"message": "one", "wait_seconds": 10}).want(t, 200).json()["reply"].(map[string]any)
		if first["content"] != "Hello\uFFFDworld" {
			t.Fatalf("the webhook's reply as stored: %v", first)
		}
		s.do("POST", "/api/v1/chat", buyer, map[string]any{"message": "two", "wait_seconds": 0}).want(t, 202)
		eventually(t, "the second delivery is delivered once, its response logged", func() bool {
			ds, _ := s.deliveries(owner, "nul-agent")
			return len(ds) == 2 && ds[0].Status == "delivered" && len(ds[0].Log) == 1 && strings.Contains(ds[0].Log[0].Response, "binary\uFFFD")
		})
		if rc.count() != 2 {
			t.Fatalf("the agent got %d POSTs for two messages", rc.count())
		}
	})
}
