package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/jobs"
	"github.com/riverqueue/river"
)

// DeliveryService keeps deliveries to consultants' agents and their replies.
type DeliveryService struct{ db *DB }

var _ lobby.DeliveryService = (*DeliveryService)(nil)

const deliveryColumns = `id, event_id, consultant_id, conversation_id, message_id, reply_id, mode, status, attempts,
	round, round_start, payload, last_error, next_attempt_at, leased_until, delivered_at, created_at, updated_at`

func scanDelivery(row scanner) (*lobby.Delivery, error) {
	var d lobby.Delivery
	var next, leased, delivered sql.NullTime
	err := row.Scan(&d.ID, &d.EventID, &d.ConsultantID, &d.ConversationID, &d.MessageID, &d.ReplyID, &d.Mode, &d.Status,
		&d.Attempts, &d.Round, &d.RoundStart, &d.Payload, &d.LastError, &next, &leased, &delivered, &d.CreatedAt, &d.UpdatedAt)
	if err != nil {
		return nil, err
	}
	d.NextAttemptAt, d.LeasedUntil, d.DeliveredAt = timePtr(next), timePtr(leased), timePtr(delivered)
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	return &d, nil
}

// deliveryFailed is what a reply says when its consultant's agent never got the message.
const deliveryFailed = "The consultant's agent could not be reached, so this message got no reply. Its owner has been told; send the message again later."

// channel hands a pending delivery to a consultant's agent, inside the transaction
// that made it pending. Each mode that runs its own agent has one; a new way of
// reaching agents joins here, beside webhook and inbox.
type channel interface {
	// pend readies d, just made pending, for its first attempt; before d is written.
	pend(d *lobby.Delivery, now time.Time)
	// await hands d over once it is written: a job queued, or a nudge after commit.
	await(ctx context.Context, tx *Tx, d *lobby.Delivery) error
}

var channels = map[lobby.Mode]channel{
	lobby.ModeWebhook: webhookChannel{},
	lobby.ModePolling: inboxChannel{},
}

// webhookChannel POSTs deliveries, signed: each attempt is a job on the queue.
type webhookChannel struct{}

func (webhookChannel) pend(d *lobby.Delivery, now time.Time) { d.NextAttemptAt = &now }

func (webhookChannel) await(ctx context.Context, tx *Tx, d *lobby.Delivery) error {
	_, err := tx.db.jobs.InsertTx(ctx, tx.Tx, jobs.Deliver{DeliveryID: d.ID, Round: d.Round}, &river.InsertOpts{Queue: jobs.QueueDeliveries})
	return err
}

// inboxChannel keeps deliveries in the consultant's inbox, whose long-polls are nudged
// once the transaction commits.
type inboxChannel struct{}

func (inboxChannel) pend(*lobby.Delivery, time.Time) {}

func (inboxChannel) await(ctx context.Context, tx *Tx, d *lobby.Delivery) error {
	tx.publish(lobby.InboxReady(d.ConsultantID))
	return nil
}

// createDelivery stores ex.Delivery, the delivery of ex's message, when the consultant
// runs its own agent in mode, and hands it to the mode's channel. A managed
// consultant's exchange has none.
func (db *DB) createDelivery(ctx context.Context, tx *Tx, ex *lobby.Exchange, mode lobby.Mode) error {
	if !mode.RunsOwnAgent() { // Lobby produces the reply; a job watches that it ends
		_, err := tx.db.jobs.InsertTx(ctx, tx.Tx, jobs.Reply{MessageID: ex.Reply.ID},
			&river.InsertOpts{Queue: jobs.QueueReplies, MaxAttempts: jobs.ReplyAttempts, ScheduledAt: time.Now().Add(tx.db.ReplyWatch)})
		return err
	}
	ch, ok := channels[mode]
	if !ok {
		return nil
	}
	d := &lobby.Delivery{ID: lobby.NewID(lobby.PrefixDelivery), EventID: lobby.NewID(lobby.PrefixEvent),
		ConsultantID: ex.Conversation.ConsultantID, ConversationID: ex.Conversation.ID, MessageID: ex.Message.ID,
		ReplyID: ex.Reply.ID, Mode: mode, Status: lobby.DeliveryPending, CreatedAt: tx.now, UpdatedAt: tx.now}
	ch.pend(d, tx.now)
	_, err := tx.ExecContext(ctx, `INSERT INTO deliveries (id, event_id, consultant_id, conversation_id, message_id, reply_id,
		mode, status, next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		d.ID, d.EventID, d.ConsultantID, d.ConversationID, d.MessageID, d.ReplyID, d.Mode, d.Status, d.NextAttemptAt, d.CreatedAt, d.UpdatedAt)
	if err != nil {
		return err
	}
	ex.Delivery = d
	return ch.await(ctx, tx, d)
}

// moveDeliveries carries a consultant's pending deliveries over when it switches
// between two modes that run their own agent: into its inbox, or onto the queue, each
// then in a new round so that jobs of the old mode stop.
func (db *DB) moveDeliveries(ctx context.Context, tx *Tx, consultantID string, from, to lobby.Mode) error {
	if from == to || !from.RunsOwnAgent() || !to.RunsOwnAgent() {
		return nil
	}
	ds, err := queryAll(ctx, tx, scanDelivery, `SELECT `+deliveryColumns+` FROM deliveries WHERE consultant_id = $1 AND status = $2 AND mode = $3`,
		consultantID, lobby.DeliveryPending, from)
	if err != nil {
		return err
	}
	for _, d := range ds {
		d.Mode = to
		if err := db.startRound(ctx, tx, d); err != nil {
			return err
		}
	}
	return nil
}

// startRound makes d pending again in a new round, whose schedule starts over, and
// hands it to its mode's channel again. Jobs of older rounds stop.
func (db *DB) startRound(ctx context.Context, tx *Tx, d *lobby.Delivery) error {
	ch, ok := channels[d.Mode]
	if !ok {
		return lobby.Errorf(lobby.EINVALID, "delivery %s is of %s mode, which has no agent to deliver to", d.ID, d.Mode)
	}
	d.Status, d.LeasedUntil, d.NextAttemptAt, d.UpdatedAt = lobby.DeliveryPending, nil, nil, tx.now
	d.Round, d.RoundStart = d.Round+1, d.Attempts
	ch.pend(d, tx.now)
	if err := ch.await(ctx, tx, d); err != nil {
		return err
	}
	return updateDelivery(ctx, tx, d)
}

// FindDeliveryByID implements lobby.DeliveryService.
func (s *DeliveryService) FindDeliveryByID(ctx context.Context, id string) (*lobby.Delivery, error) {
	d, err := scanDelivery(s.db.read.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "no delivery %q", id)
	}
	return d, s.db.loadAttempts(ctx, []*lobby.Delivery{d})
}

// FindDeliveries implements lobby.DeliveryService.
func (s *DeliveryService) FindDeliveries(ctx context.Context, f lobby.DeliveryFilter) ([]*lobby.Delivery, string, error) {
	q := keyQuery{columns: deliveryColumns, table: "deliveries", column: "consultant_id", value: f.ConsultantID, limit: f.Limit, cursor: f.Cursor}
	ds, next, err := keyPage(ctx, s.db, q, scanDelivery, func(d *lobby.Delivery) string { return d.ID })
	if err != nil {
		return nil, "", err
	}
	return ds, next, s.db.loadAttempts(ctx, ds)
}

// loadAttempts fills in the deliveries' logs with one query. The log is read after
// the rows, so an attempt recorded in between is left out: a delivery never shows
// an attempt its Attempts does not count yet.
func (db *DB) loadAttempts(ctx context.Context, ds []*lobby.Delivery) error {
	if len(ds) == 0 {
		return nil
	}
	byID := make(map[string]*lobby.Delivery, len(ds))
	args := make([]any, len(ds))
	for i, d := range ds {
		byID[d.ID], args[i] = d, d.ID
		d.Log = []lobby.Attempt{}
	}
	rows, err := db.read.QueryContext(ctx, `SELECT delivery_id, n, attempted_at, status_code, latency_ms, error, response
		FROM delivery_attempts WHERE delivery_id IN (`+placeholders(1, len(ds))+`) ORDER BY delivery_id, n`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var a lobby.Attempt
		if err := rows.Scan(&id, &a.N, &a.At, &a.StatusCode, &a.LatencyMS, &a.Error, &a.Response); err != nil {
			return err
		}
		if d := byID[id]; a.N <= d.Attempts {
			a.At = a.At.UTC()
			d.Log = append(d.Log, a)
		}
	}
	return rows.Err()
}

func insertAttempt(ctx context.Context, tx *Tx, d *lobby.Delivery, a lobby.Attempt) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO delivery_attempts (delivery_id, n, consultant_id, attempted_at, status_code,
		latency_ms, error, response) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		d.ID, a.N, d.ConsultantID, lobby.UTC(a.At), a.StatusCode, a.LatencyMS, lobby.CleanText(a.Error), lobby.CleanText(a.Response))
	return err
}

func (db *DB) lockDelivery(ctx context.Context, tx *Tx, where string, args ...any) (*lobby.Delivery, error) {
	return scanDelivery(tx.QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE `+where+db.dialect.ForUpdate(), args...))
}

// RecordAttempt implements lobby.DeliveryService.
func (s *DeliveryService) RecordAttempt(ctx context.Context, r lobby.AttemptResult) (*lobby.AttemptOutcome, error) {
	var out lobby.AttemptOutcome
	err := s.db.tx(ctx, func(tx *Tx) error {
		d, err := s.db.lockDelivery(ctx, tx, `id = $1`, r.DeliveryID)
		if err != nil {
			return notFound(err, "no delivery %q", r.DeliveryID)
		}
		d.Attempts++
		r.Attempt.N = d.Attempts
		if err := insertAttempt(ctx, tx, d, r.Attempt); err != nil {
			return err
		}
		if d.Payload == "" {
			d.Payload = r.Payload
		}
		out.Delivery, d.UpdatedAt = d, tx.now
		if d.Status != lobby.DeliveryPending || d.Round != r.Round {
			out.Stale = true
			return updateDelivery(ctx, tx, d)
		}
		d.LastError, d.NextAttemptAt = r.Attempt.Error, nil
		switch {
		case r.Delivered:
			d.Status, d.DeliveredAt, d.LastError = lobby.DeliveryDelivered, &tx.now, ""
			if r.Reply != "" {
				if err := endReply(ctx, tx, &out, r.Reply, lobby.MessageComplete, ""); err != nil {
					return err
				}
			}
		case r.Gone:
			d.Status = lobby.DeliveryFailed
			reason := "the endpoint answered 410 Gone at " + tx.now.Format(time.RFC3339) + "; set webhook_url again to enable it"
			if _, err := tx.ExecContext(ctx, `UPDATE consultants SET webhook_disabled_at = $1, webhook_disabled_reason = $2 WHERE id = $3`,
				tx.now, reason, d.ConsultantID); err != nil {
				return err
			}
			out.Disabled = true
		case !r.RetryAt.IsZero():
			at := lobby.UTC(r.RetryAt)
			d.NextAttemptAt = &at
		default:
			d.Status = lobby.DeliveryFailed
		}
		if d.Status == lobby.DeliveryFailed {
			if err := endReply(ctx, tx, &out, "", lobby.MessageFailed, deliveryFailed); err != nil {
				return err
			}
		}
		return updateDelivery(ctx, tx, d)
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

func updateDelivery(ctx context.Context, tx *Tx, d *lobby.Delivery) error {
	_, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = $1, attempts = $2, payload = $3, last_error = $4,
		next_attempt_at = $5, leased_until = $6, delivered_at = $7, updated_at = $8, round = $9, round_start = $10, mode = $11
		WHERE id = $12`,
		d.Status, d.Attempts, d.Payload, d.LastError, d.NextAttemptAt, d.LeasedUntil, d.DeliveredAt, d.UpdatedAt, d.Round, d.RoundStart, d.Mode, d.ID)
	return err
}

// endReply ends the reply out.Delivery awaits, when it is still streaming, with
// content added, and sets out.Reply to it; out.Reply stays nil when the reply had
// ended already. The reply's end, with its text when it completed, is published.
func endReply(ctx context.Context, tx *Tx, out *lobby.AttemptOutcome, content, status, errMsg string) error {
	m, err := scanMessage(tx.QueryRowContext(ctx, `UPDATE messages SET content = content || $1, status = $2, error = $3, updated_at = $4
		WHERE id = $5 AND status = $6 RETURNING `+messageColumns, lobby.CleanText(content), status, lobby.CleanText(errMsg), tx.now, out.Delivery.ReplyID, lobby.MessageStreaming))
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	} else if err != nil {
		return err
	}
	out.Reply = m
	if m.Status == lobby.MessageFailed {
		if err := refund(ctx, tx, m); err != nil {
			return err
		}
	}
	delta := ""
	if m.Status == lobby.MessageComplete {
		delta = m.Content
	}
	tx.publish(lobby.ReplyEvents(m, delta, false)...)
	return nil
}

// RetryDelivery implements lobby.DeliveryService.
func (s *DeliveryService) RetryDelivery(ctx context.Context, id string) (*lobby.Delivery, error) {
	var d *lobby.Delivery
	err := s.db.tx(ctx, func(tx *Tx) error {
		var err error
		if d, err = s.db.lockDelivery(ctx, tx, `id = $1`, id); err != nil {
			return notFound(err, "no delivery %q", id)
		}
		if d.Round >= lobby.MaxDeliveryRounds {
			return lobby.Errorf(lobby.ECONFLICT, "delivery %s has been sent again %d times, the most a delivery may be; ask the buyer to send the message again", d.ID, d.Round)
		}
		return s.db.startRound(ctx, tx, d)
	})
	if err != nil {
		return nil, err
	}
	return d, s.db.loadAttempts(ctx, []*lobby.Delivery{d})
}

// LeaseInbox implements lobby.DeliveryService.
func (s *DeliveryService) LeaseInbox(ctx context.Context, consultantID string, n int, lease time.Duration) ([]*lobby.Delivery, error) {
	const leasable = `FROM deliveries WHERE consultant_id = $1 AND mode = $2 AND status = $3 AND (leased_until IS NULL OR leased_until <= $4)`
	// An empty inbox, the common answer to a poll, is found without a write
	// transaction, which on SQLite would hold the one write connection.
	var found int
	err := s.db.read.QueryRowContext(ctx, `SELECT 1 `+leasable+` LIMIT 1`, consultantID, lobby.ModePolling, lobby.DeliveryPending, s.db.now()).Scan(&found)
	if errors.Is(err, sql.ErrNoRows) {
		return []*lobby.Delivery{}, nil
	} else if err != nil {
		return nil, err
	}
	var ds []*lobby.Delivery
	err = s.db.tx(ctx, func(tx *Tx) error {
		var err error
		ds, err = queryAll(ctx, tx, scanDelivery, `SELECT `+deliveryColumns+` `+leasable+` ORDER BY id LIMIT $5`+s.db.dialect.SkipLocked(),
			consultantID, lobby.ModePolling, lobby.DeliveryPending, tx.now, limit(n))
		if err != nil {
			return err
		}
		until := tx.now.Add(lease)
		for _, d := range ds {
			d.Attempts++
			d.LeasedUntil, d.UpdatedAt = &until, tx.now
			a := lobby.Attempt{N: d.Attempts, At: tx.now, Response: "handed out by the inbox, leased until " + until.Format(time.RFC3339)}
			if err := insertAttempt(ctx, tx, d, a); err != nil {
				return err
			}
			if err := updateDelivery(ctx, tx, d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ds, nil
}

// SetPayload implements lobby.DeliveryService.
func (s *DeliveryService) SetPayload(ctx context.Context, id, payload string) (string, error) {
	var stored string
	err := s.db.tx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET payload = $1 WHERE id = $2 AND payload = ''`, payload, id); err != nil {
			return err
		}
		return notFound(tx.QueryRowContext(ctx, `SELECT payload FROM deliveries WHERE id = $1`, id).Scan(&stored), "no delivery %q", id)
	})
	return stored, err
}

// AckDelivery implements lobby.DeliveryService.
func (s *DeliveryService) AckDelivery(ctx context.Context, consultantID, eventID string) (*lobby.Delivery, error) {
	var d *lobby.Delivery
	err := s.db.tx(ctx, func(tx *Tx) error {
		var err error
		if d, err = s.db.lockDelivery(ctx, tx, `event_id = $1 AND consultant_id = $2`, eventID, consultantID); err != nil {
			return notFound(err, "no event %q in this consultant's inbox", eventID)
		}
		if d.Status != lobby.DeliveryPending {
			return nil
		}
		return deliver(ctx, tx, d)
	})
	return d, err
}

// deliver marks d delivered.
func deliver(ctx context.Context, tx *Tx, d *lobby.Delivery) error {
	d.Status, d.DeliveredAt, d.LeasedUntil, d.NextAttemptAt, d.UpdatedAt = lobby.DeliveryDelivered, &tx.now, nil, nil, tx.now
	return updateDelivery(ctx, tx, d)
}

// CreateReply implements lobby.DeliveryService.
func (s *DeliveryService) CreateReply(ctx context.Context, p lobby.ReplyParams) (*lobby.ReplyResult, error) {
	// Empty content only ends a streamed reply that has some already: extendReply checks.
	if p.Content != "" {
		if err := lobby.ValidateMessageContent(p.Content); err != nil {
			return nil, err
		}
	}
	var res lobby.ReplyResult
	err := s.db.tx(ctx, func(tx *Tx) error {
		if err := s.db.storeReply(ctx, tx, p, &res); err != nil {
			return err
		}
		tx.publish(lobby.ReplyEvents(res.Message, res.Delta, res.Created)...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// storeReply is CreateReply's transaction; it fills in res.
func (db *DB) storeReply(ctx context.Context, tx *Tx, p lobby.ReplyParams, res *lobby.ReplyResult) error {
	var conv string
	err := tx.QueryRowContext(ctx, `SELECT id FROM conversations WHERE id = $1 AND consultant_id = $2`, p.ConversationID, p.ConsultantID).Scan(&conv)
	if err != nil {
		return notFound(err, "no conversation %q of this consultant; reply into a conversation_id from a delivery or from GET /api/v1/conversations", p.ConversationID)
	}
	// The delivery answered: the one of the message replied to, or else the oldest
	// whose reply is still awaited.
	where, args := `reply_id = (SELECT m.id FROM messages m JOIN deliveries x ON x.reply_id = m.id
		WHERE m.conversation_id = $1 AND m.status = $2 ORDER BY m.id LIMIT 1)`, []any{conv, lobby.MessageStreaming}
	if p.InReplyTo != "" {
		var role string
		err := tx.QueryRowContext(ctx, `SELECT role FROM messages WHERE id = $1 AND conversation_id = $2`, p.InReplyTo, conv).Scan(&role)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err != nil || role != lobby.RoleBuyer {
			return lobby.Errorf(lobby.ENOTFOUND, "in_reply_to: no buyer message %q in conversation %s; use the message.id of a delivery", p.InReplyTo, conv)
		}
		where, args = `message_id = $1`, []any{p.InReplyTo}
	}
	d, err := db.lockDelivery(ctx, tx, where, args...)
	if errors.Is(err, sql.ErrNoRows) {
		d = nil // nothing awaited from an agent here
	} else if err != nil {
		return err
	}
	if d != nil {
		if d.Status == lobby.DeliveryPending {
			if err := deliver(ctx, tx, d); err != nil {
				return err
			}
			res.Acked = append(res.Acked, d.EventID)
		}
		m, extended, err := db.extendReply(ctx, tx, d.ReplyID, p)
		switch {
		case err != nil:
			return err
		case extended:
			res.Message, res.Delta = m, p.Content
		case m.Status == lobby.MessageComplete && m.Content == p.Content && !p.Partial:
			res.Message = m // the same reply again, as an agent retrying a lost answer sends it
			return nil
		}
	}
	if res.Message == nil { // nothing awaited: a message of its own
		switch {
		case p.Content == "":
			return lobby.Errorf(lobby.EINVALID, "content is empty; send the reply's text")
		case p.Partial:
			return lobby.Errorf(lobby.EINVALID, "partial: no reply is awaited here to stream into; set in_reply_to to the buyer message you answer, or leave partial out")
		}
		res.Message = &lobby.Message{ID: lobby.NewID(lobby.PrefixMessage), ConversationID: conv, Role: lobby.RoleConsultant,
			Content: p.Content, Status: lobby.MessageComplete, CreatedAt: tx.now, UpdatedAt: tx.now}
		if err := insertMessages(ctx, tx, res.Message); err != nil {
			return err
		}
		res.Delta, res.Created = p.Content, true
	}
	_, err = tx.ExecContext(ctx, `UPDATE conversations SET updated_at = $1 WHERE id = $2`, tx.now, conv)
	return err
}

// extendReply adds p's content to the awaited reply with the given ID, completing it
// unless p is partial, and returns it. When the reply has already ended it returns it
// unchanged, and extended false.
func (db *DB) extendReply(ctx context.Context, tx *Tx, id string, p lobby.ReplyParams) (m *lobby.Message, extended bool, err error) {
	m, err = scanMessage(tx.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = $1`+db.dialect.ForUpdate(), id))
	switch {
	case err != nil:
		return nil, false, err
	case m.Status != lobby.MessageStreaming:
		return m, false, nil
	case len(m.Content)+len(p.Content) > lobby.MaxMessageLen:
		return nil, false, lobby.Errorf(lobby.ETOOLARGE, "the reply would be %d bytes; the most is %d (32 KiB)", len(m.Content)+len(p.Content), lobby.MaxMessageLen)
	case m.Content == "" && p.Content == "" && !p.Partial:
		return nil, false, lobby.Errorf(lobby.EINVALID, "content is empty; send the reply's text")
	}
	m.Content += p.Content
	if !p.Partial {
		m.Status = lobby.MessageComplete
	}
	m.UpdatedAt = tx.now
	_, err = tx.ExecContext(ctx, `UPDATE messages SET content = $1, status = $2, updated_at = $3 WHERE id = $4`, m.Content, m.Status, m.UpdatedAt, m.ID)
	return m, true, err
}

// PruneDeliveries implements lobby.DeliveryService.
func (s *DeliveryService) PruneDeliveries(ctx context.Context, cutoff time.Time) (int, error) {
	var n int64
	err := s.db.tx(ctx, func(tx *Tx) error {
		const ended = `status <> $1 AND created_at < $2`
		if _, err := tx.ExecContext(ctx, `DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE `+ended+`)`,
			lobby.DeliveryPending, lobby.UTC(cutoff)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM deliveries WHERE `+ended, lobby.DeliveryPending, lobby.UTC(cutoff))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// WebhookHealth implements lobby.DeliveryService.
func (s *DeliveryService) WebhookHealth(ctx context.Context, consultantID string) (*lobby.WebhookHealth, error) {
	c, err := s.db.findConsultant(ctx, s.db.read, "c.id = $1", consultantID, "")
	if err != nil {
		return nil, err
	}
	h := &lobby.WebhookHealth{Since: s.db.now().Add(-lobby.HealthWindow), DisabledAt: c.WebhookDisabledAt, DisableReason: c.WebhookDisabledReason}
	var failures sql.NullInt64 // counted as lobby.Attempt.Succeeded has it
	err = s.db.read.QueryRowContext(ctx, `SELECT count(*), sum(CASE WHEN status_code BETWEEN 200 AND 299 OR status_code = 0 AND error = '' THEN 0 ELSE 1 END)
		FROM delivery_attempts WHERE consultant_id = $1 AND attempted_at >= $2`, consultantID, h.Since).Scan(&h.Attempts, &failures)
	if err != nil {
		return nil, err
	}
	h.Failures = int(failures.Int64)
	if h.Attempts > 0 {
		h.FailureRate = float64(h.Failures) / float64(h.Attempts)
	}
	err = s.db.read.QueryRowContext(ctx, `SELECT count(*) FROM deliveries WHERE consultant_id = $1 AND status = $2`,
		consultantID, lobby.DeliveryPending).Scan(&h.Pending)
	return h, err
}

// RotateWebhookSecret implements lobby.DeliveryService.
func (s *DeliveryService) RotateWebhookSecret(ctx context.Context, consultantID string, overlap time.Duration) (string, *lobby.Consultant, error) {
	var c *lobby.Consultant
	secret := lobby.NewWebhookSecret()
	err := s.db.tx(ctx, func(tx *Tx) error {
		var err error
		if c, err = s.db.findConsultant(ctx, tx, "c.id = $1", consultantID, s.db.dialect.ForUpdate()); err != nil {
			return err
		}
		if !c.Mode.Signs() {
			return lobby.Errorf(lobby.EINVALID, "%s is in %s mode; only a webhook consultant has a signing secret", c.Slug, c.Mode)
		}
		until := tx.now.Add(overlap)
		c.PreviousWebhookSecret, c.PreviousSecretUntil, c.WebhookSecret, c.UpdatedAt = c.WebhookSecret, &until, secret, tx.now
		_, err = tx.ExecContext(ctx, `UPDATE consultants SET webhook_secret = $1, previous_webhook_secret = $2, previous_secret_until = $3,
			updated_at = $4 WHERE id = $5`, c.WebhookSecret, c.PreviousWebhookSecret, until, tx.now, c.ID)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return secret, c, nil
}
