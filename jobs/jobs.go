// Package jobs runs Lobby's background jobs on River, in the store's own database, so
// that a job commits or rolls back with the change that made it and any number of
// instances share the work.
package jobs

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
)

// QueueDeliveries is the queue webhook deliveries run in.
const QueueDeliveries = "deliveries"

// Deliver is the job that makes a webhook delivery's next attempt.
type Deliver struct {
	DeliveryID string `json:"delivery_id"`
	// Round is the delivery's round the job belongs to; a manual retry starts a new
	// round with a job of its own, and the jobs of older rounds stop.
	Round int `json:"round"`
}

// Kind names the job for the queue; it is stored with every job, so it never changes.
func (Deliver) Kind() string { return "deliver" }

// QueueReplies is the queue of the jobs that watch managed replies.
const QueueReplies = "replies"

// Reply is the job that watches a managed consultant's reply, queued with the buyer's
// message to run once the reply's time has passed: a reply still streaming then lost
// its process, and the job produces it again from the start.
type Reply struct {
	MessageID string `json:"message_id"` // the reply's
}

// Kind names the job for the queue; it is stored with every job, so it never changes.
func (Reply) Kind() string { return "reply" }

// ReplyAttempts is how many times a reply's job runs: a process dying mid-reply, a
// deploy, costs one; the last attempt fails the reply, saying why, instead of
// producing it, so a reply that kills its process ends all the same.
const ReplyAttempts = 5

// Ingest is the job that reads, chunks and embeds an uploaded knowledge document. Run
// again after a crash, it starts the document over.
type Ingest struct {
	ConsultantID string `json:"consultant_id"`
	DocumentID   string `json:"document_id"`
}

// Kind names the job for the queue; it is stored with every job, so it never changes.
func (Ingest) Kind() string { return "ingest" }

// IngestAttempts is how many times a document's ingestion runs before the document
// fails: a remote embedder that is down is tried again, with River's backoff, for
// about an hour and a half.
const IngestAttempts = 8

// InsertOpts bounds an ingestion's attempts wherever it is queued.
func (Ingest) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: IngestAttempts} }

// QueuePayments is the queue payment events are applied in: a burst of them (a
// month's renewals at once) waits on the database's commits, not on the machine.
const QueuePayments = "payments"

// PaymentEvent is the job that applies a payment provider's signed event, taken into
// the store when it arrived.
type PaymentEvent struct {
	EventID string `json:"event_id"`
}

// Kind names the job for the queue; it is stored with every job, so it never changes.
func (PaymentEvent) Kind() string { return "payment_event" }

// PaymentEventAttempts is how many times an event is applied before it is given up:
// one about a subscription whose checkout's event has not arrived yet is tried again,
// with River's backoff, for about eleven hours.
const PaymentEventAttempts = 12

// InsertOpts bounds an event's attempts wherever it is queued.
func (PaymentEvent) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: PaymentEventAttempts, Queue: QueuePayments}
}

// UsageNotice is the job that emails a buyer that a message took its subscription
// across a share of its cap. It is queued in the transaction that counts the message,
// so one notice goes out for each threshold a period, whatever the instances.
type UsageNotice struct {
	SubscriptionID string    `json:"subscription_id"`
	UserID         string    `json:"user_id"`
	ConsultantID   string    `json:"consultant_id"`
	Percent        int       `json:"percent"`
	Cap            int64     `json:"cap"`
	PeriodEnd      time.Time `json:"period_end"`
}

// Kind names the job for the queue; it is stored with every job, so it never changes.
func (UsageNotice) Kind() string { return "usage_notice" }

// Reembed is the periodic job that embeds, with the configured model, the chunks whose
// vectors another model made: changing the model re-embeds in the background.
type Reembed struct{}

// Kind names the job for the queue; it is stored with every job, so it never changes.
func (Reembed) Kind() string { return "reembed" }

// PruneDeliveries is the hourly job that deletes deliveries past
// lobby.DeliveryRetention.
type PruneDeliveries struct{}

// Kind names the job for the queue; it is stored with every job, so it never changes.
func (PruneDeliveries) Kind() string { return "prune_deliveries" }

// Config tunes the queue.
type Config struct {
	// DeliveryWorkers is how many webhook deliveries run at once; 0 means 100.
	DeliveryWorkers int
	// ReplyWorkers is how many managed replies one instance produces at once; 0 means
	// 200. A reply waits on its model, not on the machine.
	ReplyWorkers int
	// JobTimeout is the longest any job may run, a worker's own Timeout included; a job
	// running longer than RescueAfter, as one whose process died does, is run again.
	// RescueAfter is at least JobTimeout + 5 s, so a job still running is never
	// rescued and run twice. 0 means 20 s and 25 s.
	JobTimeout, RescueAfter time.Duration
	Logger                  *slog.Logger
	// Periodic jobs run on one instance at a time, the queue's leader.
	Periodic []*river.PeriodicJob
}

// Store is the database the jobs are kept in: River's driver over it, and the store
// that queues jobs in its own transactions, through the client once UseJobs names it.
// sqldb.DB is one.
type Store interface {
	Driver() riverdriver.Driver[*sql.Tx]
	UseJobs(Inserter)
}

// Inserter queues jobs inside a store's transaction; the client New returns is one. It
// is an alias, as sqldb.JobInserter is, so that the two name one interface.
type Inserter = interface {
	InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// New returns a client that works the jobs of workers in db's database, and makes db
// insert through it. Start it with Start(ctx); Stop it before closing db.
func New(db Store, workers *river.Workers, cfg Config) (*river.Client[*sql.Tx], error) {
	timeout := cfg.JobTimeout
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	rescue := max(cfg.RescueAfter, timeout+5*time.Second)
	rc := &river.Config{
		Queues: map[string]river.QueueConfig{
			QueueDeliveries:    {MaxWorkers: cmp.Or(cfg.DeliveryWorkers, 100)},
			QueueReplies:       {MaxWorkers: cmp.Or(cfg.ReplyWorkers, 200)},
			QueuePayments:      {MaxWorkers: 50},
			river.QueueDefault: {MaxWorkers: 10},
		},
		Workers:              workers,
		PeriodicJobs:         cfg.Periodic,
		JobTimeout:           timeout,
		RescueStuckJobsAfter: rescue,
		Logger:               slog.New(atLeast{cfg.Logger.Handler(), slog.LevelWarn}),
		// Deliveries are kept in Lobby's own tables; River's rows are only the queue.
		CompletedJobRetentionPeriod: time.Hour,
		// River's default of 100 ms between fetches (and between insert notifications)
		// would add up to 100 ms to a delivery, and a skipped notification a whole poll.
		// New jobs wake the fetcher by notification on both stores (see sqlite/notify.go);
		// the poll only backs that up.
		FetchCooldown:     time.Millisecond,
		FetchPollInterval: 100 * time.Millisecond,
	}
	c, err := river.NewClient(db.Driver(), rc)
	if err != nil {
		return nil, fmt.Errorf("job queue: %w", err)
	}
	db.UseJobs(c)
	return c, nil
}

// atLeast passes on records of level and above: River reports its routine at info.
type atLeast struct {
	slog.Handler
	level slog.Level
}

func (h atLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level && h.Handler.Enabled(ctx, l)
}

func (h atLeast) WithAttrs(as []slog.Attr) slog.Handler {
	return atLeast{h.Handler.WithAttrs(as), h.level}
}
func (h atLeast) WithGroup(name string) slog.Handler {
	return atLeast{h.Handler.WithGroup(name), h.level}
}
