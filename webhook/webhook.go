// Package webhook signs and verifies Lobby's webhook deliveries, following the
// Standard Webhooks spec (https://www.standardwebhooks.com).
//
// Lobby POSTs each buyer message to a consultant's agent as a JSON [Event]. Three
// headers carry its signature: webhook-id (the event's ID, the same on every retry, to
// dedupe on), webhook-timestamp (unix seconds) and webhook-signature (one or more
// "v1,<base64 HMAC-SHA256>" entries, space separated). An agent checks them with a
// [Verifier] built from its signing secret, "whsec_" followed by base64:
//
//	v, err := webhook.NewVerifier(os.Getenv("LOBBY_WEBHOOK_SECRET"))
//	if err != nil {
//		log.Fatal(err)
//	}
//	http.HandleFunc("POST /lobby", func(w http.ResponseWriter, r *http.Request) {
//		body, err := v.VerifyRequest(r, 1<<20)
//		if err != nil {
//			http.Error(w, err.Error(), http.StatusUnauthorized)
//			return
//		}
//		var ev webhook.Event
//		if err := json.Unmarshal(body, &ev); err != nil {
//			http.Error(w, err.Error(), http.StatusBadRequest)
//			return
//		}
//		// Answer ev.Data.Message, POSTing the reply to ev.Data.ReplyURL.
//		w.WriteHeader(http.StatusNoContent)
//	})
//
// During a secret rotation pass both the old and the new secret to [NewVerifier]; a
// delivery signed with either passes.
//
// The package uses the standard library only.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers a signed delivery carries.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a delivery's timestamp may be from the verifier's clock,
// in either direction, before it is refused as a possible replay.
const DefaultTolerance = 5 * time.Minute

// DefaultMaxBody is the body limit VerifyRequest applies when given zero or less.
const DefaultMaxBody = 1 << 20

// SecretPrefix starts every signing secret; base64 of the key follows it.
const SecretPrefix = "whsec_"

// The key length a secret may decode to, in bytes.
const (
	MinSecretBytes = 24
	MaxSecretBytes = 64
)

// Errors the package returns, wrapped with details; test for them with errors.Is.
var (
	ErrInvalidSecret       = errors.New("invalid webhook secret: expected whsec_ followed by standard base64 of 24 to 64 bytes, as shown in your Lobby consultant settings")
	ErrMissingHeaders      = errors.New("missing webhook headers: a delivery needs webhook-id, webhook-timestamp and webhook-signature")
	ErrInvalidTimestamp    = errors.New("invalid webhook-timestamp: it must be an integer count of unix seconds")
	ErrTimestampTooOld     = errors.New("webhook-timestamp too old: the delivery may be a replay, or this machine's clock is fast")
	ErrTimestampTooNew     = errors.New("webhook-timestamp too new: this machine's clock may be slow")
	ErrNoMatchingSignature = errors.New("no matching webhook signature: check the secret, and verify the body exactly as received, before any parsing")
	ErrBodyTooLarge        = errors.New("webhook body too large")
)

// Sign returns the signature entry ("v1,<base64>") for a delivery with the given id,
// timestamp and body, keyed by secret.
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := decodeSecret(secret)
	if err != nil {
		return "", err
	}
	return "v1," + sign(key, id, strconv.FormatInt(ts.Unix(), 10), body), nil
}

// SignAll returns a webhook-signature header value with one entry per secret, in order,
// so that agents holding any one of them accept the delivery while a secret rotates.
func SignAll(secrets []string, id string, ts time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", fmt.Errorf("%w: no secret given", ErrInvalidSecret)
	}
	entries := make([]string, len(secrets))
	for i, s := range secrets {
		e, err := Sign(s, id, ts, body)
		if err != nil {
			return "", fmt.Errorf("secret %d: %w", i+1, err)
		}
		entries[i] = e
	}
	return strings.Join(entries, " "), nil
}

// Verifier checks signed deliveries against one or more secrets. It is safe for
// concurrent use once its fields are set.
type Verifier struct {
	// Tolerance is how far a delivery's timestamp may be from now, in either direction.
	// Zero or less means DefaultTolerance.
	Tolerance time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time

	keys [][]byte
}

// NewVerifier returns a Verifier that accepts deliveries signed with any of secrets.
func NewVerifier(secrets ...string) (*Verifier, error) {
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: no secret given", ErrInvalidSecret)
	}
	v := &Verifier{Tolerance: DefaultTolerance}
	for i, s := range secrets {
		key, err := decodeSecret(s)
		if err != nil {
			return nil, fmt.Errorf("secret %d: %w", i+1, err)
		}
		v.keys = append(v.keys, key)
	}
	return v, nil
}

// Verify checks the signature headers in h against body, at the verifier's current time.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	return v.VerifyAt(h, body, v.now())
}

// VerifyAt is Verify with the current time given.
func (v *Verifier) VerifyAt(h http.Header, body []byte, now time.Time) error {
	s, err := v.parse(h, now)
	if err != nil {
		return err
	}
	return v.match(s, body)
}

// VerifyRequest reads r's body, up to maxBody bytes (DefaultMaxBody when zero or less),
// verifies it and returns it. The headers and timestamp are checked before the body is
// read.
func (v *Verifier) VerifyRequest(r *http.Request, maxBody int64) ([]byte, error) {
	s, err := v.parse(r.Header, v.now())
	if err != nil {
		return nil, err
	}
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	if r.Body == nil {
		return nil, v.match(s, nil)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading webhook body: %w", err)
	}
	if int64(len(body)) > maxBody {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, maxBody)
	}
	if err := v.match(s, body); err != nil {
		return nil, err
	}
	return body, nil
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// signed is a delivery's signature headers, checked for presence and timestamp.
type signed struct {
	id, ts  string
	entries []string
}

// parse reads the signature headers and checks the timestamp against now.
func (v *Verifier) parse(h http.Header, now time.Time) (signed, error) {
	s := signed{id: h.Get(HeaderID), ts: h.Get(HeaderTimestamp)}
	for _, value := range h.Values(HeaderSignature) {
		s.entries = append(s.entries, strings.Fields(value)...)
	}
	var missing []string
	for _, m := range []struct {
		name string
		ok   bool
	}{{HeaderID, s.id != ""}, {HeaderTimestamp, s.ts != ""}, {HeaderSignature, len(s.entries) > 0}} {
		if !m.ok {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return s, fmt.Errorf("%w: %s absent", ErrMissingHeaders, strings.Join(missing, ", "))
	}

	sec, err := strconv.ParseInt(s.ts, 10, 64)
	if err != nil {
		return s, fmt.Errorf("%w: got %.32q", ErrInvalidTimestamp, s.ts)
	}
	tol := v.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	ts := time.Unix(sec, 0)
	switch {
	case now.Sub(ts) > tol:
		return s, fmt.Errorf("%w: sent %s, %s before now; the limit is %s", ErrTimestampTooOld,
			ts.UTC().Format(time.RFC3339), now.Sub(ts).Round(time.Second), tol)
	case ts.Sub(now) > tol:
		return s, fmt.Errorf("%w: sent %s, %s after now; the limit is %s", ErrTimestampTooNew,
			ts.UTC().Format(time.RFC3339), ts.Sub(now).Round(time.Second), tol)
	}
	return s, nil
}

// match reports whether any v1 entry in s is body's signature under any key. Entries
// of other versions are ignored, as the spec asks.
func (v *Verifier) match(s signed, body []byte) error {
	var sigs [][]byte
	for _, e := range s.entries {
		if version, sig, ok := strings.Cut(e, ","); ok && version == "v1" {
			sigs = append(sigs, []byte(sig))
		}
	}
	if len(sigs) == 0 {
		return fmt.Errorf("%w: webhook-signature has no v1 entry", ErrNoMatchingSignature)
	}
	for _, key := range v.keys {
		want := []byte(sign(key, s.id, s.ts, body))
		for _, sig := range sigs {
			if hmac.Equal(sig, want) {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: %d v1 signature(s) checked against %d secret(s)", ErrNoMatchingSignature, len(sigs), len(v.keys))
}

// sign returns the base64 HMAC-SHA256 of "{id}.{ts}.{body}" under key. The timestamp
// is the header's text, as the spec signs it.
func sign(key []byte, id, ts string, body []byte) string {
	m := hmac.New(sha256.New, key)
	io.WriteString(m, id)
	io.WriteString(m, ".")
	io.WriteString(m, ts)
	io.WriteString(m, ".")
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// decodeSecret returns the key in a "whsec_..." secret. Its errors never include the
// secret.
func decodeSecret(secret string) ([]byte, error) {
	enc, ok := strings.CutPrefix(strings.TrimSpace(secret), SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: it does not start with %s", ErrInvalidSecret, SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: the part after %s is not standard base64", ErrInvalidSecret, SecretPrefix)
	}
	if len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return nil, fmt.Errorf("%w: it decodes to %d bytes", ErrInvalidSecret, len(key))
	}
	return key, nil
}
