// Package stripetest makes Stripe events as Stripe sends and signs them, for tests of
// what receives them, and records what Lobby sends to Stripe.
package stripetest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	stripe "github.com/stripe/stripe-go/v85"
	"github.com/stripe/stripe-go/v85/webhook"
)

// Event returns a Stripe event of typ around object, of the API version Lobby reads.
func Event(id, typ string, object map[string]any) []byte {
	b, err := json.Marshal(map[string]any{"id": id, "object": "event", "type": typ, "api_version": stripe.APIVersion,
		"created": 1767225600, "livemode": false, "data": map[string]any{"object": object}})
	if err != nil {
		panic(err)
	}
	return b
}

// Sign returns the Stripe-Signature header of payload, signed at t with secret.
func Sign(payload []byte, secret string, at time.Time) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: at}).Header
}

// Request is a request Lobby made to Stripe, as the Recorder saw it.
type Request struct {
	Method, Path, IdempotencyKey string
	Form                         url.Values
}

// Recorder stands between Lobby and stripe-mock and keeps what Lobby sent: stripe-mock
// validates each request but answers fixtures, so what was asked is what to check.
type Recorder struct {
	mu   sync.Mutex
	sent []Request
}

// Record starts a Recorder in front of the Stripe API at target and returns it with
// the URL to give Lobby instead.
func Record(t testing.TB, target string) (*Recorder, string) {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rec := &Recorder{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		rec.mu.Lock()
		rec.sent = append(rec.sent, Request{r.Method, r.URL.Path, r.Header.Get("Idempotency-Key"), form})
		rec.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return rec, srv.URL
}

// Take returns what was sent since the last Take.
func (r *Recorder) Take() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sent
	r.sent = nil
	return s
}
