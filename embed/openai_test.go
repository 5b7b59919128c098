package embed_test

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/embed"
)

// embeddingsServer answers POST /v1/embeddings with, for each input "t<n>", the vector
// (n, 1, 0), indices reversed; fail says which request numbers get which status.
func embeddingsServer(t *testing.T, fail func(n int) int) (*httptest.Server, *atomic.Int32) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(requests.Add(1))
		if r.Method != http.MethodPost || r.URL.Path != "/v1/embeddings" {
			t.Errorf("%s %s", r.Method, r.URL.Path)
		}
		if status := fail(n); status != 0 {
			w.WriteHeader(status)
			w.Write([]byte(`{"error":{"message":"bad key sk-secret","type":"invalid_request_error"}}`))
			return
		}
		var req struct {
			Model string   `json:"model"`
			Input []string `json:"input"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Model != "m" {
			t.Errorf("request %+v, %v", req, err)
		}
		type item struct {
			Object    string    `json:"object"`
			Index     int       `json:"index"`
			Embedding []float64 `json:"embedding"`
		}
		var data []item
		for i := len(req.Input) - 1; i >= 0; i-- {
			var x float64
			json.Unmarshal([]byte(strings.TrimPrefix(req.Input[i], "t")), &x)
			data = append(data, item{"embedding", i, []float64{x, 1, 0}})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": "m",
			"usage": map[string]int{"prompt_tokens": 1, "total_tokens": 1}})
	}))
	t.Cleanup(srv.Close)
	return srv, &requests
}

func TestOpenAI(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		srv, requests := embeddingsServer(t, func(n int) int {
			if n == 1 {
				return 500
			}
			return 0
		})
		e, err := embed.NewOpenAI(embed.OpenAIConfig{BaseURL: srv.URL + "/v1", APIKey: "sk-secret", Model: "m"})
		if err != nil {
			t.Fatal(err)
		}
		texts := make([]string, 150)
		for i := range texts {
			texts[i] = "t" + itoa(i)
		}
		v := embedAll(t, e, texts...)
		if got := requests.Load(); got != 4 { // a 500, then 64 + 64 + 22
			t.Errorf("%d requests, want 4", got)
		}
		if e.Dimension() != 3 {
			t.Errorf("Dimension %d, want 3", e.Dimension())
		}
		for i, x := range v {
			want := float32(i) / float32(sqrt(float64(i*i+1)))
			if d := x[0] - want; d > 1e-6 || d < -1e-6 {
				t.Fatalf("vector %d is %v, want first %v", i, x, want)
			}
		}
	})
	t.Run("ErrUnauthorized", func(t *testing.T) {
		t.Parallel()
		srv, _ := embeddingsServer(t, func(int) int { return 401 })
		e, _ := embed.NewOpenAI(embed.OpenAIConfig{BaseURL: srv.URL + "/v1", APIKey: "sk-secret", Model: "m"})
		_, err := e.Embed(context.Background(), []string{"t1"})
		if lobby.ErrorCode(err) != lobby.EUPSTREAM || strings.Contains(err.Error(), "sk-secret") || !strings.Contains(lobby.ErrorMessage(err), "401") {
			t.Fatalf("got %v", err)
		}
	})
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func sqrt(x float64) float64 { return math.Sqrt(x) }
