package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lobby-dev/lobby/webhook"
)

// Tuning of the agent's conversation with Lobby.
const (
	// maxDelivery bounds a webhook delivery's body, as Lobby's JSON limit does.
	maxDelivery = 1 << 20
	// maxInbox bounds an inbox answer: up to 20 events, each with recent history.
	maxInbox = 16 << 20
	// dedupeWindow is how many event IDs the agent remembers to drop redeliveries.
	dedupeWindow = 4096
	// pollWait is how long one inbox request waits for an event, in seconds.
	pollWait = 30
	// maxBackoff caps the pause after failed inbox polls.
	maxBackoff = 30 * time.Second
	// replyAttempts is how often a reply is posted before the agent gives up on it.
	replyAttempts = 4
	// replyTimeout bounds one reply request.
	replyTimeout = 15 * time.Second
)

// Agent answers one consultant's buyer messages through Lobby's API: as a webhook
// endpoint (ServeHTTP) or by polling the inbox (Poll). Set the fields before use; an
// Agent is then safe for concurrent use.
type Agent struct {
	// Key is the consultant's API key, "cl_consultant_...": it authorises replies and
	// inbox polls.
	Key string
	// Verifier checks webhook deliveries; built from the consultant's "whsec_" secret.
	// Only webhook mode needs it.
	Verifier *webhook.Verifier
	// Answer writes the reply to an event's message; nil means Echo. It must return
	// some text: Lobby refuses an empty reply.
	Answer func(webhook.Event) string
	// Client makes the requests to Lobby; nil means http.DefaultClient. Each request
	// gets its own deadline, so the client needs no Timeout.
	Client *http.Client
	// Logger receives what the agent does; nil means slog.Default(). No line holds
	// the key, the secret or message content.
	Logger *slog.Logger

	seen    seenSet
	replies sync.WaitGroup
}

// Echo is the default Answer: deterministic, so that tests and a first run can check it.
func Echo(ev webhook.Event) string {
	return fmt.Sprintf("Echo agent: you said %q (%d earlier messages).", ev.Data.Message.Content, len(ev.Data.History))
}

// ServeHTTP takes one webhook delivery. It verifies the signature (401 when it does not
// hold), drops a delivery already taken (Lobby delivers at least once), answers 202 at
// once and posts the reply in the background, to the reply_url of the signed event.
func (a *Agent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "Lobby delivers with POST", http.StatusMethodNotAllowed)
		return
	}
	if a.Verifier == nil {
		a.log().Error("refused a delivery: the agent has no webhook secret (set LOBBY_WEBHOOK_SECRET)")
		http.Error(w, "agent not configured", http.StatusInternalServerError)
		return
	}
	body, err := a.Verifier.VerifyRequest(r, maxDelivery)
	if err != nil {
		a.log().Warn("refused a delivery", "remote", r.RemoteAddr, "err", err)
		status, reason := refusal(err)
		http.Error(w, reason, status)
		return
	}
	var ev webhook.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, "body is not a Lobby event", http.StatusBadRequest)
		return
	}
	ev.ID = r.Header.Get(webhook.HeaderID)
	log := a.log().With("event", ev.ID, "conversation", ev.Data.ConversationID)
	if ev.Type != "message.created" {
		log.Info("ignored an event of another type", "type", ev.Type)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if ev.Data.ConversationID == "" || ev.Data.Message.ID == "" || ev.Data.ReplyURL == "" {
		http.Error(w, "event lacks conversation_id, message.id or reply_url", http.StatusBadRequest)
		return
	}
	if !a.seen.add(ev.ID) {
		log.Info("dropped a redelivery")
		w.WriteHeader(http.StatusOK)
		return
	}
	log.Info("accepted a delivery", "message", ev.Data.Message.ID)
	w.WriteHeader(http.StatusAccepted)

	// The reply outlives the request: Lobby has its 202 and moves on.
	a.replies.Add(1)
	go func() {
		defer a.replies.Done()
		ctx, cancel := context.WithTimeout(context.Background(), replyAttempts*(replyTimeout+10*time.Second))
		defer cancel()
		if err := a.reply(ctx, ev.Data.ReplyURL, ev); err != nil {
			a.seen.forget(ev.ID) // so that a redelivery, or a retry from the delivery log, is answered
			log.Error("could not post the reply", "err", err)
		}
	}()
}

// refusal is the status and the short reason for a delivery that failed verification.
func refusal(err error) (int, string) {
	switch {
	case errors.Is(err, webhook.ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge, "body too large"
	case errors.Is(err, webhook.ErrMissingHeaders):
		return http.StatusUnauthorized, "missing signature headers"
	case errors.Is(err, webhook.ErrInvalidTimestamp), errors.Is(err, webhook.ErrTimestampTooOld), errors.Is(err, webhook.ErrTimestampTooNew):
		return http.StatusUnauthorized, "timestamp out of tolerance"
	case errors.Is(err, webhook.ErrNoMatchingSignature):
		return http.StatusUnauthorized, "bad signature"
	}
	return http.StatusBadRequest, "unreadable body"
}

// Wait blocks until the replies in flight have been posted or given up.
func (a *Agent) Wait() { a.replies.Wait() }

// Poll answers the consultant's inbox at baseURL until ctx ends: it long-polls
// GET /api/v1/inbox and replies to each event with in_reply_to set, which also
// acknowledges it. It backs off after failures and returns ctx's error, or at once an
// error when Lobby refuses the key.
func (a *Agent) Poll(ctx context.Context, baseURL string) error {
	baseURL = strings.TrimSuffix(baseURL, "/")
	var backoff time.Duration
	for {
		events, err := a.inbox(ctx, baseURL)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, errRefused) {
			return err
		}
		if err != nil {
			backoff = min(max(2*backoff, time.Second), maxBackoff)
			a.log().Warn("polling the inbox failed", "err", err, "retry_in", backoff)
			if err := sleep(ctx, backoff); err != nil {
				return err
			}
			continue
		}
		backoff = 0
		for _, ev := range events {
			if err := a.handle(ctx, baseURL, ev); err != nil && ctx.Err() == nil {
				// The event comes back once its lease lapses.
				a.log().Error("could not answer an event", "event", ev.ID, "err", err)
			}
		}
	}
}

// handle answers one inbox event, or acknowledges one already answered.
func (a *Agent) handle(ctx context.Context, baseURL string, ev webhook.Event) error {
	if !a.seen.add(ev.ID) {
		a.log().Info("acknowledged a redelivery", "event", ev.ID)
		return a.send(ctx, http.MethodPost, baseURL+"/api/v1/inbox/"+ev.ID+"/ack", nil, http.StatusOK, nil)
	}
	a.log().Info("took an event", "event", ev.ID, "conversation", ev.Data.ConversationID, "message", ev.Data.Message.ID)
	// The reply goes to the Lobby the agent was pointed at, which may be reached by
	// another name than the public reply_url.
	if err := a.reply(ctx, baseURL+"/api/v1/reply", ev); err != nil {
		a.seen.forget(ev.ID)
		return err
	}
	return nil
}

// inbox leases the events waiting in the consultant's inbox, waiting up to pollWait
// seconds for one.
func (a *Agent) inbox(ctx context.Context, baseURL string) ([]webhook.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, pollWait*time.Second+replyTimeout)
	defer cancel()
	var out struct {
		Data []webhook.Event `json:"data"`
	}
	err := a.send(ctx, http.MethodGet, baseURL+"/api/v1/inbox?wait="+strconv.Itoa(pollWait), nil, http.StatusOK, &out)
	return out.Data, err
}

// reply posts the answer to ev's message to url, retrying while Lobby is unreachable,
// busy or failing.
func (a *Agent) reply(ctx context.Context, url string, ev webhook.Event) error {
	answer := a.Answer
	if answer == nil {
		answer = Echo
	}
	body := map[string]string{"conversation_id": ev.Data.ConversationID, "content": answer(ev), "in_reply_to": ev.Data.Message.ID}
	var err error
	for i := range replyAttempts {
		if i > 0 {
			if err := sleep(ctx, time.Second<<(i-1)); err != nil {
				return err
			}
		}
		actx, cancel := context.WithTimeout(ctx, replyTimeout)
		err = a.send(actx, http.MethodPost, url, body, http.StatusCreated, nil)
		cancel()
		var se *statusError
		if err == nil || errors.As(err, &se) && !se.temporary() {
			return err
		}
	}
	return err
}

// errRefused marks Lobby's refusal of the key: polling again cannot help.
var errRefused = errors.New("Lobby refused the consultant key: check LOBBY_CONSULTANT_KEY")

// statusError is an answer from Lobby other than the one expected.
type statusError struct {
	Status  int
	Code    string
	Message string
}

func (e *statusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("Lobby answered %d", e.Status)
	}
	return fmt.Sprintf("Lobby answered %d %s: %s", e.Status, e.Code, e.Message)
}

// temporary reports whether the same request may succeed later.
func (e *statusError) temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// send makes a request to Lobby with the key, and decodes the answer into out (when
// not nil) if its status is want.
func (a *Agent) send(ctx context.Context, method, url string, in any, want int, out any) error {
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.Key)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := a.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxInbox)
	if resp.StatusCode != want {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		json.NewDecoder(body).Decode(&e)
		err := &statusError{Status: resp.StatusCode, Code: e.Error.Code, Message: e.Error.Message}
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return fmt.Errorf("%w: %w", errRefused, err)
		}
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(body).Decode(out); err != nil {
		return fmt.Errorf("decoding %s %s: %w", method, req.URL.Path, err)
	}
	return nil
}

func (a *Agent) log() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

// sleep waits for d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// seenSet remembers the last dedupeWindow event IDs taken. Its zero value is ready.
type seenSet struct {
	mu    sync.Mutex
	ids   map[string]uint64 // ID → the sequence number of its slot in ring
	ring  []seenSlot
	count uint64
}

type seenSlot struct {
	id  string
	seq uint64
}

// add remembers id, and reports whether it was new.
func (s *seenSet) add(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ids[id]; ok {
		return false
	}
	if s.ids == nil {
		s.ids = map[string]uint64{}
		s.ring = make([]seenSlot, dedupeWindow)
	}
	slot := &s.ring[s.count%dedupeWindow]
	if seq, ok := s.ids[slot.id]; ok && seq == slot.seq {
		delete(s.ids, slot.id) // the oldest goes
	}
	s.count++
	*slot = seenSlot{id: id, seq: s.count}
	s.ids[id] = s.count
	return true
}

// forget drops id, so that it counts as new again.
func (s *seenSet) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ids, id)
}
