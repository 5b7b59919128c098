package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/openai"
)

const (
	apiKey      = "sk-test-5f3a9c1e7b"
	servedModel = "gpt-4o-mini-2024-07-18" // the name OpenAI answers with
)

// message is one chat message as the server received it.
type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// received is one request as the fake server saw it.
type received struct {
	Method string
	Path   string
	Header http.Header
	Body   struct {
		Model               string    `json:"model"`
		Messages            []message `json:"messages"`
		MaxTokens           int       `json:"max_tokens"`
		MaxCompletionTokens *int      `json:"max_completion_tokens"`
		Stream              bool      `json:"stream"`
		StreamOptions       struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
}

// server is a fake OpenAI-compatible server; handle answers the attempt-th request (from 1).
type server struct {
	*httptest.Server
	mu  sync.Mutex
	got []received
}

func newServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, attempt int)) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := received{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()}
		if err := json.NewDecoder(r.Body).Decode(&rec.Body); err != nil {
			t.Errorf("server: decoding the request: %v", err)
		}
		s.mu.Lock()
		s.got = append(s.got, rec)
		attempt := len(s.got)
		s.mu.Unlock()
		handle(w, r, attempt)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) requests() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

// provider returns a provider for s with cfg's other fields.
func provider(t *testing.T, s *server, cfg openai.Config) *openai.Provider {
	t.Helper()
	cfg.BaseURL = s.URL
	cfg.HTTPClient = s.Client()
	p, err := openai.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// complete asks p and returns the completion, the pieces onDelta got, and the error.
func complete(ctx context.Context, p *openai.Provider, req lobby.CompletionRequest) (*lobby.Completion, []string, error) {
	var pieces []string
	c, err := p.Complete(ctx, req, func(s string) { pieces = append(pieces, s) })
	return c, pieces, err
}

var question = lobby.CompletionRequest{Turns: []lobby.Turn{{Role: lobby.TurnUser, Content: "Hi?"}}}

// chunk is a chat.completion.chunk as OpenAI streams it; finish "" is null, and usage
// adds the "usage":null that every chunk carries when usage was asked for.
func chunk(delta, finish string, usage bool) string {
	f := "null"
	if finish != "" {
		f = `"` + finish + `"`
	}
	u := ""
	if usage {
		u = `,"usage":null`
	}
	return `{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"` + servedModel +
		`","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[{"index":0,"delta":` + delta +
		`,"logprobs":null,"finish_reason":` + f + `}]` + u + `}`
}

const usageChunk = `{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion.chunk","created":1741569952,"model":"` + servedModel +
	`","service_tier":"default","system_fingerprint":"fp_06737a9306","choices":[],"usage":{"prompt_tokens":19,"completion_tokens":4,"total_tokens":23,` +
	`"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}`

// send writes one server-sent event and flushes it.
func send(w http.ResponseWriter, data string) {
	fmt.Fprintf(w, "data: %s\n\n", data)
	w.(http.Flusher).Flush()
}

// begin starts a stream: the headers and the role chunk.
func begin(w http.ResponseWriter, usage bool) {
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	send(w, chunk(`{"role":"assistant","content":"","refusal":null}`, "", usage))
}

// pieces streams one content chunk per piece.
func pieces(w http.ResponseWriter, usage bool, ps ...string) {
	for _, p := range ps {
		content, _ := json.Marshal(p)
		send(w, chunk(`{"content":`+string(content)+`}`, "", usage))
	}
}

// end finishes a stream: the finish chunk, the usage chunk when usage, and [DONE].
func end(w http.ResponseWriter, usage bool) {
	send(w, chunk(`{}`, "stop", usage))
	if usage {
		send(w, usageChunk)
	}
	send(w, "[DONE]")
}

// answer streams a whole answer of ps with usage, as OpenAI does.
func answer(w http.ResponseWriter, ps ...string) {
	begin(w, true)
	pieces(w, true, ps...)
	end(w, true)
}

// fail answers with status, OpenAI's error object body and the header key-value pairs.
func fail(w http.ResponseWriter, status int, body string, header ...string) {
	for i := 0; i+1 < len(header); i += 2 {
		w.Header().Set(header[i], header[i+1])
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

const (
	body401 = `{"error":{"message":"Incorrect API key provided: ` + apiKey + `. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`
	body429 = `{"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-abc on requests per min (RPM): Limit 3, Used 3, Requested 1.","type":"requests","param":null,"code":"rate_limit_exceeded"}}`
	body5xx = `{"error":{"message":"The server is overloaded or not ready yet.","type":"server_error","param":null,"code":null}}`
)

// wantUpstream fails t unless err is an EUPSTREAM whose message has want and no secret or JSON.
func wantUpstream(t *testing.T, err error, want string) {
	t.Helper()
	if code := lobby.ErrorCode(err); code != lobby.EUPSTREAM {
		t.Fatalf("error code = %q (%v), want %q", code, err, lobby.EUPSTREAM)
	}
	msg := lobby.ErrorMessage(err)
	if !strings.Contains(msg, want) {
		t.Errorf("message = %q, want it to contain %q", msg, want)
	}
	for _, bad := range []string{apiKey, "{", "org-abc"} {
		if strings.Contains(msg, bad) {
			t.Errorf("message = %q, must not contain %q", msg, bad)
		}
	}
}

func wantRequests(t *testing.T, s *server, n int) {
	t.Helper()
	if got := len(s.requests()); got != n {
		t.Errorf("server got %d requests, want %d", got, n)
	}
}

func TestComplete(t *testing.T) {
	t.Parallel()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) { answer(w, "Hel", "lo", ", world", ".") })
		p := provider(t, s, openai.Config{APIKey: apiKey})
		c, got, err := complete(context.Background(), p, lobby.CompletionRequest{
			Model:  "gpt-4o-mini",
			System: "You are Ada, a consultant.",
			Turns: []lobby.Turn{
				{Role: lobby.TurnUser, Content: "Hi?"},
				{Role: lobby.TurnAssistant, Content: "Hello."},
				{Role: lobby.TurnUser, Content: "Say hello again."},
			},
			MaxTokens: 300,
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"Hel", "lo", ", world", "."}; !reflect.DeepEqual(got, want) {
			t.Errorf("deltas = %q, want %q", got, want)
		}
		want := lobby.Completion{Text: "Hello, world.", Model: servedModel, StopReason: "stop", InputTokens: 19, OutputTokens: 4}
		if !reflect.DeepEqual(*c, want) {
			t.Errorf("completion = %+v, want %+v", *c, want)
		}

		reqs := s.requests()
		if len(reqs) != 1 {
			t.Fatalf("server got %d requests, want 1", len(reqs))
		}
		r := reqs[0]
		if r.Method != http.MethodPost || r.Path != "/chat/completions" {
			t.Errorf("request = %s %s, want POST /chat/completions", r.Method, r.Path)
		}
		if got := r.Header.Get("Authorization"); got != "Bearer "+apiKey {
			t.Errorf("Authorization = %q, want the bearer key", got)
		}
		b := r.Body
		if b.Model != "gpt-4o-mini" || b.MaxTokens != 300 || b.MaxCompletionTokens != nil || !b.Stream || !b.StreamOptions.IncludeUsage {
			t.Errorf("body = %+v, want model gpt-4o-mini, max_tokens 300 and no max_completion_tokens, stream, include_usage", b)
		}
		wantMsgs := []message{
			{"system", "You are Ada, a consultant."},
			{"user", "Hi?"},
			{"assistant", "Hello."},
			{"user", "Say hello again."},
		}
		if !reflect.DeepEqual(b.Messages, wantMsgs) {
			t.Errorf("messages = %+v, want %+v", b.Messages, wantMsgs)
		}
	})

	t.Run("OKWithoutUsage", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			begin(w, false)
			pieces(w, false, "Hi", "!")
			end(w, false)
		})
		c, got, err := complete(context.Background(), provider(t, s, openai.Config{}), question)
		if err != nil {
			t.Fatal(err)
		}
		want := lobby.Completion{Text: "Hi!", Model: servedModel, StopReason: "stop"}
		if !reflect.DeepEqual(*c, want) || strings.Join(got, "") != "Hi!" {
			t.Errorf("completion = %+v, deltas %q; want %+v", *c, got, want)
		}
	})

	t.Run("OKDefaults", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) { answer(w, "Hi") })
		if _, _, err := complete(context.Background(), provider(t, s, openai.Config{APIKey: apiKey}), question); err != nil {
			t.Fatal(err)
		}
		b := s.requests()[0].Body
		if b.Model != openai.DefaultModel || b.MaxTokens != openai.DefaultMaxTokens {
			t.Errorf("model, max_tokens = %q, %d; want %q, %d", b.Model, b.MaxTokens, openai.DefaultModel, openai.DefaultMaxTokens)
		}
		if want := []message{{"user", "Hi?"}}; !reflect.DeepEqual(b.Messages, want) {
			t.Errorf("messages = %+v, want %+v (no empty system message)", b.Messages, want)
		}
	})

	t.Run("ErrUnknownRole", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) { answer(w, "Hi") })
		_, _, err := complete(context.Background(), provider(t, s, openai.Config{}), lobby.CompletionRequest{
			Turns: []lobby.Turn{{Role: "tool", Content: "x"}},
		})
		if code := lobby.ErrorCode(err); code != lobby.EINTERNAL {
			t.Errorf("error code = %q (%v), want %q", code, err, lobby.EINTERNAL)
		}
		wantRequests(t, s, 0)
	})
}

// A local server gets no key and nothing from OPENAI_* variables.
func TestCompleteWithoutAPIKey(t *testing.T) {
	t.Setenv("OPENAI_API_KEY", "sk-from-the-environment")
	t.Setenv("OPENAI_ORG_ID", "org-from-the-environment")
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
	s := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) { answer(w, "Hi") })
	c, _, err := complete(context.Background(), provider(t, s, openai.Config{}), question)
	if err != nil {
		t.Fatal(err)
	}
	if c.Text != "Hi" {
		t.Errorf("text = %q, want %q", c.Text, "Hi")
	}
	h := s.requests()[0].Header
	for _, name := range []string{"Authorization", "OpenAI-Organization"} {
		if v := h.Values(name); len(v) > 0 {
			t.Errorf("%s = %q, want no such header", name, v)
		}
	}
}

func TestCompleteRetries(t *testing.T) {
	t.Parallel()

	t.Run("OKAfter429", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, func(w http.ResponseWriter, r *http.Request, attempt int) {
			if attempt == 1 {
				fail(w, http.StatusTooManyRequests, body429, "Retry-After", "0")
				return
			}
			answer(w, "Hi")
		})
		c, _, err := complete(context.Background(), provider(t, s, openai.Config{APIKey: apiKey}), question)
		if err != nil {
			t.Fatal(err)
		}
		if c.Text != "Hi" {
			t.Errorf("text = %q, want %q", c.Text, "Hi")
		}
		wantRequests(t, s, 2)
	})

	t.Run("OKAfter500", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, func(w http.ResponseWriter, r *http.Request, attempt int) {
			if attempt == 1 {
				fail(w, http.StatusInternalServerError, body5xx, "Retry-After-Ms", "1")
				return
			}
			answer(w, "Hi")
		})
		if _, _, err := complete(context.Background(), provider(t, s, openai.Config{}), question); err != nil {
			t.Fatal(err)
		}
		wantRequests(t, s, 2)
	})

	t.Run("OKAfterConnectionReset", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, func(w http.ResponseWriter, r *http.Request, attempt int) {
			if attempt == 1 {
				conn, _, err := w.(http.Hijacker).Hijack()
				if err != nil {
					t.Error(err)
					return
				}
				conn.Close()
				return
			}
			answer(w, "Hi")
		})
		if _, _, err := complete(context.Background(), provider(t, s, openai.Config{}), question); err != nil {
			t.Fatal(err)
		}
		wantRequests(t, s, 2)
	})

	t.Run("ErrAfter503", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			fail(w, http.StatusServiceUnavailable, body5xx, "Retry-After-Ms", "1")
		})
		c, got, err := complete(context.Background(), provider(t, s, openai.Config{APIKey: apiKey}), question)
		wantUpstream(t, err, "HTTP 503")
		if c == nil || c.Text != "" || len(got) != 0 {
			t.Errorf("completion = %+v, deltas %q; want an empty completion and no deltas", c, got)
		}
		wantRequests(t, s, openai.DefaultMaxRetries+1)
	})

	t.Run("ErrAfter429", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			fail(w, http.StatusTooManyRequests, body429, "Retry-After-Ms", "1")
		})
		_, _, err := complete(context.Background(), provider(t, s, openai.Config{APIKey: apiKey, MaxRetries: 1}), question)
		wantUpstream(t, err, "The model provider is rate limiting requests (HTTP 429)")
		wantRequests(t, s, 2)
	})

	t.Run("Err401", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			fail(w, http.StatusUnauthorized, body401)
		})
		_, _, err := complete(context.Background(), provider(t, s, openai.Config{APIKey: apiKey}), question)
		wantUpstream(t, err, "API key (HTTP 401)")
		wantRequests(t, s, 1)
	})

	t.Run("ErrNoRetries", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			fail(w, http.StatusTooManyRequests, `{"error":{"message":"You exceeded your current quota.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`)
		})
		_, _, err := complete(context.Background(), provider(t, s, openai.Config{APIKey: apiKey, MaxRetries: -1}), question)
		wantUpstream(t, err, "run out of credit (HTTP 429)")
		wantRequests(t, s, 1)
	})

	t.Run("ErrCanceledWhileWaiting", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
			fail(w, http.StatusTooManyRequests, body429, "Retry-After", "30")
		})
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, _, err := complete(ctx, provider(t, s, openai.Config{APIKey: apiKey}), question)
		if !errors.Is(err, context.DeadlineExceeded) || lobby.ErrorCode(err) == lobby.EUPSTREAM {
			t.Errorf("error = %v, want the context's deadline", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("returned after %v, want about 100ms", d)
		}
		wantRequests(t, s, 1)
	})
}

func TestCompleteHTTPErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"ErrModelNotFound", http.StatusNotFound,
			`{"error":{"message":"The model gpt-9 does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}`,
			`does not serve the model "gpt-4o-mini" (HTTP 404): The model gpt-9 does not exist or you do not have access to it.`},
		{"ErrOllamaModelNotFound", http.StatusNotFound, `{"error":"model \"gpt-4o-mini\" not found, try pulling it first"}`,
			`does not serve the model "gpt-4o-mini" (HTTP 404).`},
		{"ErrContextTooLong", http.StatusBadRequest,
			`{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
			"rejected the request (HTTP 400): This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens."},
		{"ErrNotJSON", http.StatusBadGateway, "<html><body>502 Bad Gateway</body></html>", "(HTTP 502)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) { fail(w, tt.status, tt.body) })
			_, _, err := complete(context.Background(), provider(t, s, openai.Config{APIKey: apiKey, MaxRetries: -1}), question)
			wantUpstream(t, err, tt.want)
		})
	}
}

// A stream that breaks after text has streamed is not retried and keeps its text.
func TestCompleteBrokenStream(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		cut  func(w http.ResponseWriter)
		want string
	}{
		{"ErrConnectionCut", func(http.ResponseWriter) { panic(http.ErrAbortHandler) }, "broke off"},
		{"ErrErrorEvent", func(w http.ResponseWriter) {
			send(w, `{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`)
		}, "failed while answering"},
		{"ErrEndedWithoutFinish", func(http.ResponseWriter) {}, "broke off"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				begin(w, true)
				pieces(w, true, "Half", " an")
				tt.cut(w)
			})
			c, got, err := complete(context.Background(), provider(t, s, openai.Config{APIKey: apiKey}), question)
			wantUpstream(t, err, tt.want)
			if c == nil || c.Text != "Half an" {
				t.Errorf("completion = %+v, want the text %q", c, "Half an")
			}
			if want := []string{"Half", " an"}; !reflect.DeepEqual(got, want) {
				t.Errorf("deltas = %q, want %q", got, want)
			}
			wantRequests(t, s, 1)
		})
	}
}

func TestCompleteSlowFirstToken(t *testing.T) {
	t.Parallel()
	slow := func(w http.ResponseWriter, r *http.Request, _ int) {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-time.After(300 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		answer(w, "Finally")
	}

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, slow)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, _, err := complete(ctx, provider(t, s, openai.Config{}), question)
		if err != nil {
			t.Fatal(err)
		}
		if c.Text != "Finally" {
			t.Errorf("text = %q, want %q", c.Text, "Finally")
		}
	})

	t.Run("ErrDeadline", func(t *testing.T) {
		t.Parallel()
		s := newServer(t, slow)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		c, got, err := complete(ctx, provider(t, s, openai.Config{}), question)
		if !errors.Is(err, context.DeadlineExceeded) || lobby.ErrorCode(err) == lobby.EUPSTREAM {
			t.Errorf("error = %v, want the context's deadline", err)
		}
		if d := time.Since(start); d > 250*time.Millisecond {
			t.Errorf("returned after %v, want about 50ms", d)
		}
		if c == nil || c.Text != "" || len(got) != 0 {
			t.Errorf("completion = %+v, deltas %q; want an empty completion and no deltas", c, got)
		}
		wantRequests(t, s, 1)
	})
}

func TestNew(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		cfg  openai.Config
		ok   bool
	}{
		{"OK", openai.Config{APIKey: apiKey}, true},
		{"OKLocalWithoutKey", openai.Config{BaseURL: "http://localhost:11434/v1"}, true},
		{"ErrOpenAIWithoutKey", openai.Config{}, false},
		{"ErrBaseURL", openai.Config{BaseURL: "localhost:11434"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := openai.New(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("New(%+v) error = %v, want ok %v", tt.cfg, err, tt.ok)
			}
			if err == nil && p.Name() != "openai" {
				t.Errorf("Name() = %q, want %q", p.Name(), "openai")
			}
			if err != nil && strings.Contains(err.Error(), apiKey) {
				t.Errorf("error %q contains the key", err)
			}
		})
	}
}
