// Package deliver sends buyer messages to self-hosted consultants' agents: a River
// worker POSTs each webhook delivery, signed per Standard Webhooks, through the egress
// client, logs the attempt, retries on the schedule and tells the owner when it gives
// up. It also builds the event a polling inbox hands out, which is the same body.
package deliver

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/egress"
	"github.com/lobby-dev/lobby/jobs"
	"github.com/lobby-dev/lobby/webhook"
	"github.com/riverqueue/river"
)

// DefaultSchedule is the contract's: the first attempt at once, then retries after
// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h. Entry i is the wait before attempt i+1.
var DefaultSchedule = []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// maxRetryAfter bounds how long a receiver's Retry-After may put an attempt off.
const maxRetryAfter = 24 * time.Hour

// Events builds delivery events: what a webhook POSTs and the inbox hands out.
type Events struct {
	Chat lobby.ChatService
	// ReplyURL is where agents answer: the public base URL + /api/v1/reply.
	ReplyURL string
}

// Payload returns d's body, to consultant c: the buyer's message with the
// conversation's recent history.
func (e *Events) Payload(ctx context.Context, c *lobby.Consultant, d *lobby.Delivery) (string, error) {
	conv, err := e.Chat.FindConversationByID(ctx, d.ConversationID)
	if err != nil {
		return "", err
	}
	recent, err := e.Chat.FindRecentMessages(ctx, lobby.RecentFilter{ConversationID: d.ConversationID, UpTo: d.MessageID, Limit: 3 * lobby.DeliveryHistory})
	if err != nil {
		return "", err
	}
	var msg *lobby.Message
	history := []*lobby.Message{}
	for _, m := range recent {
		switch {
		case m.ID == d.MessageID:
			msg = m
		case m.Status == lobby.MessageComplete: // replies still awaited or failed say nothing yet
			history = append(history, m)
		}
	}
	if msg == nil {
		return "", lobby.Errorf(lobby.ENOTFOUND, "delivery %s: no message %s", d.ID, d.MessageID)
	}
	history = history[max(0, len(history)-lobby.DeliveryHistory):]
	ev := webhook.Event{Type: lobby.EventMessageCreated, Timestamp: d.CreatedAt, Data: webhook.EventData{
		ConversationID: d.ConversationID, Message: wireMessage(msg), Consultant: webhook.Consultant{Slug: c.Slug},
		Buyer: webhook.Buyer{ID: conv.BuyerID}, History: make([]webhook.Message, len(history)), ReplyURL: e.ReplyURL,
	}}
	for i, m := range history {
		ev.Data.History[i] = wireMessage(m)
	}
	b, err := json.Marshal(ev)
	return string(b), err
}

// wireMessage is m as the webhook package defines a delivery's messages.
func wireMessage(m *lobby.Message) webhook.Message {
	return webhook.Message{ID: m.ID, ConversationID: m.ConversationID, Role: m.Role, Content: m.Content, Status: m.Status,
		Error: m.Error, Model: m.Model, CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt}
}

// Worker makes webhook deliveries' attempts. It is a River worker of jobs.Deliver.
type Worker struct {
	river.WorkerDefaults[jobs.Deliver]
	Events      *Events
	Deliveries  lobby.DeliveryService
	Consultants lobby.ConsultantService
	Users       lobby.AuthService
	Mailer      lobby.Mailer
	Client      *egress.Client
	// Schedule is the wait before each attempt; DefaultSchedule when nil. Tests
	// compress it.
	Schedule []time.Duration
	// AttemptTimeout bounds one attempt's request; it matches the client's.
	AttemptTimeout time.Duration
	// BaseURL links the owner's email to the delivery log.
	BaseURL string
	Logger  *slog.Logger
	Now     func() time.Time
	// Metrics, when not nil, counts the attempts.
	Metrics *Metrics

	mu   sync.Mutex
	told map[string]time.Time // consultant ID → when its owner was last emailed
}

// Timeout gives a job the request's time and some for the store.
func (w *Worker) Timeout(*river.Job[jobs.Deliver]) time.Duration { return w.JobTimeout() }

// JobTimeout is how long one delivery job may run: the request's time and some for the
// store. The queue's rescue window must be longer.
func (w *Worker) JobTimeout() time.Duration {
	return w.AttemptTimeout + 15*time.Second
}

func (w *Worker) schedule() []time.Duration {
	if len(w.Schedule) == 0 {
		return DefaultSchedule
	}
	return w.Schedule
}

// Work makes the delivery's next attempt and records it. A failed attempt with tries
// left snoozes the job until the next one; the delivery's own count of attempts, not
// River's, follows the schedule, so errors of the store still get River's retries.
func (w *Worker) Work(ctx context.Context, job *river.Job[jobs.Deliver]) error {
	d, err := w.Deliveries.FindDeliveryByID(ctx, job.Args.DeliveryID)
	if err != nil {
		return gone(err)
	}
	now := w.Now()
	if d.Status != lobby.DeliveryPending || !d.Mode.Signs() || d.Round != job.Args.Round {
		return nil // delivered, acknowledged by a reply, given up, or retried by hand since
	}
	c, err := w.Consultants.FindConsultantForWork(ctx, d.ConsultantID)
	if err != nil {
		return err
	}
	result := lobby.AttemptResult{DeliveryID: d.ID, Round: d.Round, Payload: d.Payload}
	posted := false
	switch {
	case !c.Mode.Signs() || c.WebhookURL == "":
		result.Attempt = lobby.Attempt{At: now, Error: c.Slug + " is no longer in webhook mode; the delivery is given up"}
	case c.WebhookDisabledAt != nil:
		result.Attempt = lobby.Attempt{At: now, Error: "the endpoint is disabled: " + c.WebhookDisabledReason}
	default:
		if result.Payload == "" {
			if result.Payload, err = w.Events.Payload(ctx, c, d); err != nil {
				return gone(err)
			}
		}
		w.attempt(ctx, c, d, &result)
		posted = true
	}
	w.Metrics.observe(&result, posted)
	out, err := w.Deliveries.RecordAttempt(ctx, result)
	if err != nil {
		return gone(err) // deleted with its conversation while the attempt was on its way
	}
	if out.Stale {
		return nil // acknowledged, or retried by hand, while the attempt was on its way
	}
	w.announce(ctx, c, out, posted)
	if !result.RetryAt.IsZero() {
		return river.JobSnooze(max(0, result.RetryAt.Sub(w.Now())))
	}
	return nil
}

// gone cancels the job of a delivery that is no longer there, deleted with its
// conversation: there is nothing left to deliver or to record. Other errors are
// retried.
func gone(err error) error {
	if lobby.ErrorCode(err) == lobby.ENOTFOUND {
		return river.JobCancel(err)
	}
	return err
}

// attempt POSTs the delivery and fills in r with how it went and what comes next.
func (w *Worker) attempt(ctx context.Context, c *lobby.Consultant, d *lobby.Delivery, r *lobby.AttemptResult) {
	now := w.Now()
	body := []byte(r.Payload)
	sig, err := webhook.SignAll(c.SigningSecrets(now), d.EventID, now, body)
	if err != nil {
		r.Attempt = lobby.Attempt{At: now, Error: "cannot sign: " + err.Error()}
		return
	}
	h := http.Header{}
	h.Set(webhook.HeaderID, d.EventID)
	h.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(webhook.HeaderSignature, sig)
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Lobby-Webhooks/1")
	res, err := w.Client.Post(ctx, c.WebhookURL, h, body)
	r.Attempt = lobby.Attempt{At: now, StatusCode: res.Status, LatencyMS: res.Latency.Milliseconds(), Response: head(res.Body)}
	var retryAfter time.Duration
	switch {
	case err != nil:
		r.Attempt.Error = err.Error()
	case res.Status >= 200 && res.Status < 300:
		r.Delivered = true
		r.Reply, r.Attempt.Error = replyIn(res)
		return
	case res.Status == http.StatusGone:
		r.Gone = true
		r.Attempt.Error = "410 Gone: the endpoint is disabled until webhook_url is set again"
		return
	case res.Status >= 300 && res.Status < 400:
		r.Attempt.Error = fmt.Sprintf("%d redirect to %q not followed; set webhook_url to the final URL", res.Status, res.Header.Get("Location"))
	default:
		r.Attempt.Error = fmt.Sprintf("%d %s", res.Status, http.StatusText(res.Status))
		retryAfter, _ = egress.RetryAfter(res.Header, now)
	}
	if n := d.Attempts - d.RoundStart + 1; n < len(w.schedule()) {
		r.RetryAt = w.Now().Add(max(w.schedule()[n], min(retryAfter, maxRetryAfter)))
	}
}

// replyIn returns the reply a 2xx body carries, and a note for the log when the body
// had one that could not be taken.
func replyIn(res egress.Result) (reply, note string) {
	body := strings.TrimSpace(string(res.Body))
	if body == "" || body[0] != '{' {
		return "", ""
	}
	if res.Truncated {
		return "", "delivered; the body is over the size limit, so no reply was taken from it"
	}
	var in struct {
		Reply *string `json:"reply"`
	}
	if err := json.Unmarshal([]byte(body), &in); err != nil {
		return "", "delivered; the body is not valid JSON, so no reply was taken from it: " + err.Error()
	}
	if in.Reply == nil {
		return "", ""
	}
	reply = lobby.CleanText(*in.Reply)
	if err := lobby.ValidateMessageContent(reply); err != nil {
		return "", "delivered; the reply in the body was not taken: " + lobby.ErrorMessage(err)
	}
	return reply, ""
}

// head returns the start of a response body for the log, cut at a rune boundary.
func head(b []byte) string {
	if len(b) > lobby.MaxAttemptResponse {
		b = b[:lobby.MaxAttemptResponse]
	}
	for len(b) > 0 && !utf8.Valid(b) {
		b = b[:len(b)-1]
	}
	return lobby.CleanText(string(b))
}

// announce tells the owner when the delivery has failed for good. The store has
// published the reply the attempt ended.
func (w *Worker) announce(ctx context.Context, c *lobby.Consultant, out *lobby.AttemptOutcome, posted bool) {
	if out.Delivery.Status != lobby.DeliveryFailed {
		return
	}
	w.Logger.Warn("delivery failed", "delivery_id", out.Delivery.ID, "consultant", c.Slug, "attempts", out.Delivery.Attempts, "err", out.Delivery.LastError)
	// The owner hears of an endpoint that failed, not of each message a disabled or
	// switched-off endpoint then misses, and at most once an hour a consultant.
	if !posted || !w.mayTell(c.ID) {
		return
	}
	if err := w.tellOwner(ctx, c, out); err != nil {
		w.Logger.Warn("email owner about failed delivery", "delivery_id", out.Delivery.ID, "err", err)
	}
}

// ownerEmailEvery is how often an owner may be emailed about one consultant.
const ownerEmailEvery = time.Hour

// mayTell reports whether the owner of the consultant may be emailed now, and if so
// notes that they are.
func (w *Worker) mayTell(consultantID string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.Now()
	if last, ok := w.told[consultantID]; ok && now.Sub(last) < ownerEmailEvery {
		return false
	}
	if w.told == nil {
		w.told = map[string]time.Time{}
	}
	w.told[consultantID] = now
	return true
}

func (w *Worker) tellOwner(ctx context.Context, c *lobby.Consultant, out *lobby.AttemptOutcome) error {
	owner, err := w.Users.FindUserByID(ctx, c.OwnerID)
	if err != nil {
		return err
	}
	d := out.Delivery
	var b strings.Builder
	fmt.Fprintf(&b, "Lobby could not deliver a buyer's message to %s's agent at %s.\n\n", c.Name, c.WebhookURL)
	fmt.Fprintf(&b, "Delivery %s (webhook-id %s) failed after %d attempts. The last one said: %s\n\n", d.ID, d.EventID, d.Attempts, d.LastError)
	if out.Disabled {
		b.WriteString("The endpoint answered 410 Gone, so Lobby has stopped sending to it. Set webhook_url again (PATCH /api/v1/consultants/" + c.Slug + ") to turn deliveries back on.\n\n")
	}
	fmt.Fprintf(&b, "The buyer was told the message got no reply. Lobby writes about %s at most once an hour; other deliveries may have failed since. See every attempt, and send them again, at:\n  GET %s/api/v1/consultants/%s/deliveries\n  POST %s/api/v1/consultants/%s/deliveries/%s/retry\n",
		c.Name, w.BaseURL, c.Slug, w.BaseURL, c.Slug, d.ID)
	return w.Mailer.Send(ctx, lobby.Email{To: owner.Email, Subject: "Lobby: a message to " + c.Name + " could not be delivered", Text: b.String()})
}

// Pruner deletes deliveries past lobby.DeliveryRetention. It is a River worker of
// jobs.PruneDeliveries, which runs every hour.
type Pruner struct {
	river.WorkerDefaults[jobs.PruneDeliveries]
	Deliveries lobby.DeliveryService
	Logger     *slog.Logger
	Now        func() time.Time
}

// Work deletes what has passed its retention.
func (p *Pruner) Work(ctx context.Context, job *river.Job[jobs.PruneDeliveries]) error {
	n, err := p.Deliveries.PruneDeliveries(ctx, p.Now().Add(-lobby.DeliveryRetention))
	if err == nil && n > 0 {
		p.Logger.Info("pruned deliveries", "count", n, "older_than", lobby.DeliveryRetention.String())
	}
	return err
}

// PruneEveryHour is the periodic job that runs Pruner.
func PruneEveryHour() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(time.Hour),
		func() (river.JobArgs, *river.InsertOpts) { return jobs.PruneDeliveries{}, nil },
		&river.PeriodicJobOpts{RunOnStart: true})
}
