package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lobby-dev/lobby"
)

const testKey = "sk-ant-test-0123456789secret"

// request is what the fake API received.
type request struct {
	at     time.Time
	method string
	path   string
	header http.Header
	body   map[string]any
}

// fakeAPI is an httptest.Server standing in for POST /v1/messages; answer handles the
// nth request, counting from 1.
type fakeAPI struct {
	*httptest.Server
	mu       sync.Mutex
	requests []request
}

func newFakeAPI(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, n int)) *fakeAPI {
	t.Helper()
	f := &fakeAPI{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("request body is not JSON: %v: %s", err, raw)
		}
		f.mu.Lock()
		f.requests = append(f.requests, request{time.Now(), r.Method, r.URL.Path, r.Header.Clone(), body})
		n := len(f.requests)
		f.mu.Unlock()
		answer(w, r, n)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAPI) received() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.requests...)
}

// newProvider returns a Provider for f that waits only a millisecond between its own retries.
func newProvider(t *testing.T, f *fakeAPI) *Provider {
	t.Helper()
	p, err := New(Config{APIKey: testKey, BaseURL: f.URL, Model: "claude-test", MaxRetries: 3})
	if err != nil {
		t.Fatal(err)
	}
	p.backoff = time.Millisecond
	return p
}

func testRequest() lobby.CompletionRequest {
	return lobby.CompletionRequest{
		System: "You are a tax consultant.",
		Turns: []lobby.Turn{
			{Role: lobby.TurnUser, Content: "Hello"},
			{Role: lobby.TurnAssistant, Content: "Hi, how can I help?"},
			{Role: lobby.TurnUser, Content: "Is my hat deductible?"},
		},
	}
}

// complete calls p.Complete and returns what onDelta got.
func complete(ctx context.Context, p *Provider) (*lobby.Completion, []string, error) {
	var pieces []string
	c, err := p.Complete(ctx, testRequest(), func(s string) { pieces = append(pieces, s) })
	return c, pieces, err
}

// event writes one server-sent event as Anthropic frames it, and flushes it.
func event(w http.ResponseWriter, typ, data string) {
	fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, data)
	w.(http.Flusher).Flush()
}

// startStream sends the headers and the events before the first piece of text.
func startStream(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("request-id", "req_test")
	w.WriteHeader(http.StatusOK)
	event(w, "message_start", `{"type":"message_start","message":{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","content":[],"model":"claude-test-20260101","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1,"service_tier":"standard"}}}`)
	event(w, "content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	event(w, "ping", `{"type": "ping"}`)
}

// textDeltas sends each piece as a text_delta.
func textDeltas(w http.ResponseWriter, pieces ...string) {
	for _, s := range pieces {
		text, _ := json.Marshal(s)
		event(w, "content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":`+string(text)+`}}`)
	}
}

// endStream sends the events after the last piece of text.
func endStream(w http.ResponseWriter) {
	event(w, "content_block_stop", `{"type":"content_block_stop","index":0}`)
	event(w, "message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}`)
	event(w, "message_stop", `{"type":"message_stop"}`)
}

var reply = []string{"Hats", " are", " deductible", " only", " as", " work", " clothing", "."}

func streamReply(w http.ResponseWriter) {
	startStream(w)
	textDeltas(w, reply...)
	endStream(w)
}

// apiError answers with an HTTP error status and Anthropic's error object; extra are
// header name and value pairs.
func apiError(w http.ResponseWriter, status int, typ, message string, extra ...string) {
	for i := 0; i+1 < len(extra); i += 2 {
		w.Header().Set(extra[i], extra[i+1])
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", "req_test")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"type":"error","error":{"type":%q,"message":%q},"request_id":"req_test"}`, typ, message)
}

// wantUpstream checks that err is an EUPSTREAM whose message contains each of want
// and neither the key nor JSON.
func wantUpstream(t *testing.T, err error, want ...string) {
	t.Helper()
	var e *lobby.Error
	if !errors.As(err, &e) || e.Code != lobby.EUPSTREAM {
		t.Fatalf("err = %v, want an EUPSTREAM *lobby.Error", err)
	}
	for _, s := range want {
		if !strings.Contains(e.Message, s) {
			t.Errorf("message %q does not say %q", e.Message, s)
		}
	}
	if strings.Contains(e.Message, testKey) || strings.ContainsAny(e.Message, "{}") {
		t.Errorf("message %q shows the key or JSON", e.Message)
	}
}

func wantRequests(t *testing.T, f *fakeAPI, n int) {
	t.Helper()
	if got := len(f.received()); got != n {
		t.Errorf("the API got %d requests, want %d", got, n)
	}
}

func TestNew(t *testing.T) {
	t.Run("ErrNoKey", func(t *testing.T) {
		_, err := New(Config{})
		if err == nil || !strings.Contains(err.Error(), "ANTHROPIC_API_KEY") {
			t.Errorf("err = %v, want one naming ANTHROPIC_API_KEY", err)
		}
	})
	t.Run("OK", func(t *testing.T) {
		p, err := New(Config{APIKey: testKey})
		if err != nil {
			t.Fatal(err)
		}
		if p.Name() != "anthropic" || p.model != DefaultModel || p.maxTokens != DefaultMaxTokens || p.maxRetries != DefaultMaxRetries {
			t.Errorf("got %q, %q, %d, %d; want the defaults", p.Name(), p.model, p.maxTokens, p.maxRetries)
		}
	})
}

func TestComplete(t *testing.T) {
	t.Parallel()

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, n int) { streamReply(w) })
		c, pieces, err := complete(context.Background(), newProvider(t, f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(pieces, "|") != strings.Join(reply, "|") {
			t.Errorf("onDelta got %q, want %q", pieces, reply)
		}
		want := lobby.Completion{Text: strings.Join(reply, ""), Model: "claude-test-20260101", StopReason: "end_turn", InputTokens: 25, OutputTokens: 15}
		if !reflect.DeepEqual(*c, want) {
			t.Errorf("completion = %+v, want %+v", *c, want)
		}

		reqs := f.received()
		if len(reqs) != 1 {
			t.Fatalf("the API got %d requests, want 1", len(reqs))
		}
		r := reqs[0]
		if r.method != http.MethodPost || r.path != "/v1/messages" {
			t.Errorf("request = %s %s, want POST /v1/messages", r.method, r.path)
		}
		// SDK v2 sends the key as a bearer token; the API also takes it as x-api-key.
		if key := r.header.Get("X-Api-Key"); key != testKey && r.header.Get("Authorization") != "Bearer "+testKey {
			t.Errorf("the key was not sent; headers %v", r.header)
		}
		if r.header.Get("Anthropic-Version") == "" {
			t.Error("no anthropic-version header")
		}
		got, _ := json.Marshal(r.body)
		wantBody := `{"max_tokens":1024,"messages":[` +
			`{"content":[{"text":"Hello","type":"text"}],"role":"user"},` +
			`{"content":[{"text":"Hi, how can I help?","type":"text"}],"role":"assistant"},` +
			`{"content":[{"text":"Is my hat deductible?","type":"text"}],"role":"user"}],` +
			`"model":"claude-test","stream":true,"system":[{"text":"You are a tax consultant.","type":"text"}]}`
		if string(got) != wantBody {
			t.Errorf("body = %s\nwant   %s", got, wantBody)
		}
	})

	t.Run("OKModelAndMaxTokensFromRequest", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, n int) { streamReply(w) })
		req := lobby.CompletionRequest{Model: "claude-other", MaxTokens: 77, Turns: []lobby.Turn{{Role: lobby.TurnUser, Content: "Hi"}}}
		if _, err := newProvider(t, f).Complete(context.Background(), req, nil); err != nil {
			t.Fatal(err)
		}
		body := f.received()[0].body
		if body["model"] != "claude-other" || body["max_tokens"] != 77.0 || body["system"] != nil {
			t.Errorf("model, max_tokens, system = %v, %v, %v; want claude-other, 77, none", body["model"], body["max_tokens"], body["system"])
		}
	})

	t.Run("OKAfterRateLimit", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				apiError(w, http.StatusTooManyRequests, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit", "retry-after", "1")
				return
			}
			streamReply(w)
		})
		c, _, err := complete(context.Background(), newProvider(t, f))
		if err != nil {
			t.Fatal(err)
		}
		if c.Text != strings.Join(reply, "") {
			t.Errorf("text = %q", c.Text)
		}
		reqs := f.received()
		wantRequests(t, f, 2)
		if len(reqs) == 2 && reqs[1].at.Sub(reqs[0].at) < 900*time.Millisecond {
			t.Errorf("retried after %v, want the second Retry-After asked for", reqs[1].at.Sub(reqs[0].at))
		}
	})

	t.Run("OKAfterUnavailable", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				apiError(w, http.StatusServiceUnavailable, "api_error", "Service unavailable", "retry-after-ms", "150")
				return
			}
			streamReply(w)
		})
		if _, _, err := complete(context.Background(), newProvider(t, f)); err != nil {
			t.Fatal(err)
		}
		reqs := f.received()
		wantRequests(t, f, 2)
		if len(reqs) == 2 && reqs[1].at.Sub(reqs[0].at) < 150*time.Millisecond {
			t.Errorf("retried after %v, want the 150 ms retry-after-ms asked for", reqs[1].at.Sub(reqs[0].at))
		}
	})

	t.Run("OKAfterErrorEventBeforeText", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
			if n == 1 {
				startStream(w)
				event(w, "error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
				return
			}
			streamReply(w)
		})
		c, pieces, err := complete(context.Background(), newProvider(t, f))
		if err != nil {
			t.Fatal(err)
		}
		if c.Text != strings.Join(reply, "") || len(pieces) != len(reply) {
			t.Errorf("text = %q from %d pieces, want the second stream's alone", c.Text, len(pieces))
		}
		wantRequests(t, f, 2)
	})

	t.Run("ErrOverloaded", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
			apiError(w, 529, "overloaded_error", "Overloaded", "retry-after-ms", "1")
		})
		c, pieces, err := complete(context.Background(), newProvider(t, f))
		wantUpstream(t, err, "overloaded", "HTTP 529", "could not be produced", "Try again")
		if lobby.ErrorRetryAfter(err) != time.Minute {
			t.Errorf("RetryAfter = %v, want a minute", lobby.ErrorRetryAfter(err))
		}
		if c == nil || c.Text != "" || len(pieces) != 0 {
			t.Errorf("completion = %+v, pieces %q; want an empty completion", c, pieces)
		}
		wantRequests(t, f, 4) // MaxRetries+1
	})

	t.Run("ErrServerError", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
			apiError(w, http.StatusInternalServerError, "api_error", "Internal server error", "retry-after-ms", "1")
		})
		_, _, err := complete(context.Background(), newProvider(t, f))
		wantUpstream(t, err, "failed", "HTTP 500")
		wantRequests(t, f, 4)
	})

	t.Run("ErrBadGatewayNotJSON", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("retry-after-ms", "1")
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
		})
		_, _, err := complete(context.Background(), newProvider(t, f))
		wantUpstream(t, err, "failed", "HTTP 502")
		wantRequests(t, f, 4)
	})

	t.Run("ErrInvalidKey", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
			apiError(w, http.StatusUnauthorized, "authentication_error", "invalid x-api-key "+testKey)
		})
		_, _, err := complete(context.Background(), newProvider(t, f))
		wantUpstream(t, err, "API key", "HTTP 401")
		if lobby.ErrorRetryAfter(err) != 0 {
			t.Errorf("RetryAfter = %v, want none: trying again will not help", lobby.ErrorRetryAfter(err))
		}
		wantRequests(t, f, 1)
	})

	t.Run("ErrInvalidRequest", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
			apiError(w, http.StatusBadRequest, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum")
		})
		_, _, err := complete(context.Background(), newProvider(t, f))
		wantUpstream(t, err, "rejected the request (HTTP 400): prompt is too long")
		wantRequests(t, f, 1)
	})

	t.Run("ErrConnectionCut", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
			startStream(w)
			textDeltas(w, reply[:3]...)
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			conn.Close()
		})
		c, pieces, err := complete(context.Background(), newProvider(t, f))
		wantUpstream(t, err, "connection", "cut off")
		wantPartial(t, c, pieces, reply[:3])
		wantRequests(t, f, 1)
	})

	t.Run("ErrStreamEndedEarly", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
			startStream(w)
			textDeltas(w, reply[:2]...)
		})
		c, pieces, err := complete(context.Background(), newProvider(t, f))
		wantUpstream(t, err, "cut off")
		wantPartial(t, c, pieces, reply[:2])
		wantRequests(t, f, 1)
	})

	t.Run("ErrErrorEventMidStream", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
			startStream(w)
			textDeltas(w, reply[:4]...)
			event(w, "error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`)
		})
		c, pieces, err := complete(context.Background(), newProvider(t, f))
		wantUpstream(t, err, "overloaded", "cut off")
		if strings.Contains(lobby.ErrorMessage(err), "HTTP") {
			t.Errorf("message %q names an HTTP status; the stream's was 200", lobby.ErrorMessage(err))
		}
		wantPartial(t, c, pieces, reply[:4])
		wantRequests(t, f, 1)
	})

	slow := func(t *testing.T) *fakeAPI {
		return newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			select {
			case <-time.After(300 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
			streamReply(w)
		})
	}

	t.Run("OKSlowFirstToken", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, _, err := complete(ctx, newProvider(t, slow(t)))
		if err != nil {
			t.Fatal(err)
		}
		if c.Text != strings.Join(reply, "") {
			t.Errorf("text = %q", c.Text)
		}
	})

	t.Run("ErrDeadlineBeforeFirstToken", func(t *testing.T) {
		t.Parallel()
		f := slow(t)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		c, pieces, err := complete(ctx, newProvider(t, f))
		if !errors.Is(err, context.DeadlineExceeded) || lobby.ErrorCode(err) == lobby.EUPSTREAM {
			t.Errorf("err = %v, want context.DeadlineExceeded, not EUPSTREAM", err)
		}
		if d := time.Since(start); d > 250*time.Millisecond {
			t.Errorf("returned after %v, want soon after the 100 ms deadline", d)
		}
		if c == nil || c.Text != "" || len(pieces) != 0 {
			t.Errorf("completion = %+v, pieces %q; want no text", c, pieces)
		}
		wantRequests(t, f, 1)
	})

	t.Run("ErrCanceledWhileRetrying", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, n int) {
			apiError(w, 529, "overloaded_error", "Overloaded", "retry-after", "30")
		})
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(100*time.Millisecond, cancel)
		start := time.Now()
		_, _, err := complete(ctx, newProvider(t, f))
		if !errors.Is(err, context.Canceled) || lobby.ErrorCode(err) == lobby.EUPSTREAM {
			t.Errorf("err = %v, want context.Canceled, not EUPSTREAM", err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("returned after %v, want soon after the cancel", d)
		}
		wantRequests(t, f, 1)
	})

	t.Run("ErrTurnRole", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, func(w http.ResponseWriter, r *http.Request, n int) { streamReply(w) })
		req := lobby.CompletionRequest{Turns: []lobby.Turn{{Role: "system", Content: "Hi"}}}
		if _, err := newProvider(t, f).Complete(context.Background(), req, nil); err == nil {
			t.Error("err = nil, want one for the unknown role")
		}
		wantRequests(t, f, 0)
	})
}

// wantPartial checks that the completion holds the text that streamed, as onDelta got it.
func wantPartial(t *testing.T, c *lobby.Completion, pieces, want []string) {
	t.Helper()
	if c == nil || c.Text != strings.Join(want, "") {
		t.Errorf("completion = %+v, want the text %q", c, strings.Join(want, ""))
	}
	if strings.Join(pieces, "|") != strings.Join(want, "|") {
		t.Errorf("onDelta got %q, want %q", pieces, want)
	}
}
