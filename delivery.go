package lobby

import (
	"context"
	"time"
)

// Delivery statuses.
const (
	DeliveryPending   = "pending"   // waiting for its next attempt, or in a polling inbox
	DeliveryDelivered = "delivered" // a webhook answered 2xx, or a poller acknowledged it
	DeliveryFailed    = "failed"    // every attempt failed, or the endpoint is disabled
)

// Delivery is one buyer message on its way to a self-hosted consultant's agent: POSTed
// to its webhook, or waiting in its polling inbox. EventID is the webhook-id the agent
// dedupes on; it stays the same across attempts.
type Delivery struct {
	ID             string `json:"id"`
	EventID        string `json:"event_id"`
	ConsultantID   string `json:"consultant_id"`
	ConversationID string `json:"conversation_id"`
	MessageID      string `json:"message_id"`
	ReplyID        string `json:"reply_id"`
	Mode           Mode   `json:"mode"`
	Status         string `json:"status"`
	Attempts       int    `json:"attempts"`
	// Round counts manual retries; RoundStart is Attempts when the round began, so that
	// each round follows the schedule from its start.
	Round         int        `json:"-"`
	RoundStart    int        `json:"-"`
	LastError     string     `json:"last_error"`
	NextAttemptAt *time.Time `json:"next_attempt_at"`
	LeasedUntil   *time.Time `json:"leased_until,omitempty"`
	DeliveredAt   *time.Time `json:"delivered_at"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	// Log holds the attempts, oldest first, where the call asks for them.
	Log []Attempt `json:"attempt_log,omitempty"`
	// Payload is the body every attempt sends, fixed at the first one ("" before).
	Payload string `json:"-"`
}

// Attempt is one try at a delivery: a webhook POST, or a poller's lease.
type Attempt struct {
	N          int       `json:"n"`
	At         time.Time `json:"at"`
	StatusCode int       `json:"status_code"` // 0 when no response came
	LatencyMS  int64     `json:"latency_ms"`
	Error      string    `json:"error"`
	Response   string    `json:"response"` // the response body's first bytes
}

// Succeeded reports whether the attempt reached the agent: a 2xx, or an inbox lease
// (no response and no error). WebhookHealth counts failures by the same rule.
func (a Attempt) Succeeded() bool {
	return a.StatusCode >= 200 && a.StatusCode < 300 || a.StatusCode == 0 && a.Error == ""
}

// MaxAttemptResponse is how much of a response body an attempt keeps.
const MaxAttemptResponse = 512

// MaxDeliveryRounds is how many times a delivery may be sent again by hand: each is a
// signed POST, so none may be made without end.
const MaxDeliveryRounds = 10

// DeliveryRetention is how long a delivery that has ended, and its log, are kept.
const DeliveryRetention = 30 * 24 * time.Hour

// QueueDeliveries is the job queue webhook deliveries run in.
const QueueDeliveries = "deliveries"

// DeliveryHistory is how many earlier messages a delivery event carries.
const DeliveryHistory = 20

// AttemptResult is how a webhook attempt ended, for RecordAttempt.
type AttemptResult struct {
	DeliveryID string
	Round      int
	Payload    string // the body sent; stored on the first attempt
	Attempt    Attempt
	// Delivered is set for a 2xx. Reply, when not empty, is the reply its body carried.
	Delivered bool
	Reply     string
	// Gone is set for a 410: the endpoint is disabled and the delivery fails.
	Gone bool
	// RetryAt is when to try again; zero means the delivery has failed for good.
	RetryAt time.Time
}

// AttemptOutcome is what RecordAttempt changed. The store has published the reply's
// end; the caller tells the owner of a delivery that failed.
type AttemptOutcome struct {
	Delivery *Delivery
	// Reply is the reply message when it ended in this call (completed or failed).
	Reply *Message
	// Disabled is set when this attempt disabled the endpoint.
	Disabled bool
	// Stale is set when the attempt changed nothing but the log.
	Stale bool
}

// ReplyParams is a consultant agent's reply through the API.
type ReplyParams struct {
	ConsultantID   string
	ConversationID string
	Content        string
	InReplyTo      string // a buyer message ID; "" for the oldest reply awaited, or a new message
	// Partial appends Content to the awaited reply and keeps it streaming.
	Partial bool
}

// ReplyResult is a stored reply: the message as it is now, what is new in it, and
// whether it was born in this call.
type ReplyResult struct {
	Message *Message
	Delta   string
	Created bool
	// Acked lists the deliveries the reply acknowledged.
	Acked []string
}

// DeliveryFilter selects a consultant's deliveries, newest first.
type DeliveryFilter struct {
	ConsultantID string
	Limit        int
	Cursor       string
}

// WebhookHealth is how a consultant's endpoint has been doing.
type WebhookHealth struct {
	Since         time.Time  `json:"since"`
	Attempts      int        `json:"attempts"`
	Failures      int        `json:"failures"`
	FailureRate   float64    `json:"failure_rate"`
	Pending       int        `json:"pending"`
	DisabledAt    *time.Time `json:"disabled_at"`
	DisableReason string     `json:"disabled_reason,omitempty"`
}

// HealthWindow is the span WebhookHealth counts attempts over.
const HealthWindow = 24 * time.Hour

// InboxLease is how long an event handed out by the inbox stays leased.
const InboxLease = 5 * time.Minute

// Secret rotation overlap: how long the old secret keeps signing beside the new one.
const (
	DefaultSecretOverlap = 24 * time.Hour
	MaxSecretOverlap     = 7 * 24 * time.Hour
)

// DeliveryService keeps deliveries, their attempts and consultants' replies.
type DeliveryService interface {
	// FindDeliveryByID returns the delivery with its attempt log. ENOTFOUND.
	FindDeliveryByID(ctx context.Context, id string) (*Delivery, error)

	// FindDeliveries lists a consultant's deliveries, newest first, with their logs.
	FindDeliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, string, error)

	// RecordAttempt stores a webhook attempt and what it led to, in one transaction: the
	// delivery delivered, retried at r.RetryAt or failed; the awaited reply completed
	// with r.Reply, or failed with an explanation when the delivery fails; the endpoint
	// disabled on r.Gone. An attempt of an older round, or on a delivery no longer
	// pending (a reply acknowledged it meanwhile), is logged and changes nothing else.
	// A reply ended is published (lobby.ReplyEvents) once it commits. Returns ENOTFOUND.
	RecordAttempt(ctx context.Context, r AttemptResult) (*AttemptOutcome, error)

	// RetryDelivery makes a delivery pending again in a new round and, for a webhook,
	// queues the round's first attempt now, or for polling publishes inbox.ready. A
	// delivered one is sent again. Returns ENOTFOUND.
	RetryDelivery(ctx context.Context, id string) (*Delivery, error)

	// LeaseInbox hands out up to limit of a polling consultant's pending events that
	// no one holds, oldest first, leased until now+lease. Two callers never get the same
	// event while its lease holds. An event handed out for the first time has no
	// Payload yet: the caller builds it and fixes it with SetPayload.
	LeaseInbox(ctx context.Context, consultantID string, limit int, lease time.Duration) ([]*Delivery, error)

	// SetPayload fixes a delivery's body unless it has one, and returns the one it has.
	SetPayload(ctx context.Context, id, payload string) (string, error)

	// AckDelivery marks the consultant's delivery with the given event ID delivered.
	// Acknowledging twice is fine. Returns ENOTFOUND for another consultant's event.
	AckDelivery(ctx context.Context, consultantID, eventID string) (*Delivery, error)

	// CreateReply stores a consultant agent's reply in one of its conversations: it
	// completes (or, Partial, extends) the reply awaited for p.InReplyTo, or the oldest
	// awaited one, or else adds a new message; and acknowledges the deliveries it
	// answers. It publishes lobby.ReplyEvents of the result once it commits. Returns
	// ENOTFOUND for a conversation or message that is not the consultant's, EINVALID
	// for bad content.
	CreateReply(ctx context.Context, p ReplyParams) (*ReplyResult, error)

	// PruneDeliveries deletes the deliveries that have ended (delivered or failed) and
	// were created before cutoff, with their logs, and returns how many.
	PruneDeliveries(ctx context.Context, cutoff time.Time) (int, error)

	// WebhookHealth counts the consultant's attempts since now-HealthWindow.
	WebhookHealth(ctx context.Context, consultantID string) (*WebhookHealth, error)

	// RotateWebhookSecret gives the consultant a new signing secret; the old one keeps
	// signing deliveries (beside the new) for overlap. Returns the new secret once,
	// ENOTFOUND, or EINVALID when the consultant is not in webhook mode.
	RotateWebhookSecret(ctx context.Context, consultantID string, overlap time.Duration) (secret string, c *Consultant, err error)
}
