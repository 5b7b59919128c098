package sqldb

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/jobs"
)

// ChatService keeps conversations and messages.
type ChatService struct{ db *DB }

var _ lobby.ChatService = (*ChatService)(nil)

// buyerPseudonym is the buyer's ID as a consultant sees it: stable per buyer and
// consultant, and different for each consultant.
func buyerPseudonym(userID, consultantID string) string {
	sum := sha256.Sum256([]byte("lobby buyer\x00" + userID + "\x00" + consultantID))
	return "byr_" + hex.EncodeToString(sum[:12])
}

const conversationColumns = `id, subscription_id, consultant_id, buyer_id, created_at, updated_at,
	summary_text, summary_through, summary_updated_at`

func scanConversation(row scanner) (*lobby.Conversation, error) {
	var c lobby.Conversation
	var s lobby.Summary
	var at sql.NullTime
	if err := row.Scan(&c.ID, &c.SubscriptionID, &c.ConsultantID, &c.BuyerID, &c.CreatedAt, &c.UpdatedAt,
		&s.Text, &s.ThroughMessageID, &at); err != nil {
		return nil, err
	}
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	if s.ThroughMessageID != "" {
		s.UpdatedAt = at.Time.UTC()
		c.Summary = &s
	}
	return &c, nil
}

const messageColumns = `id, conversation_id, role, content, status, error, model, created_at, updated_at, sources`

func scanMessage(row scanner) (*lobby.Message, error) {
	var m lobby.Message
	var sources string
	if err := row.Scan(&m.ID, &m.ConversationID, &m.Role, &m.Content, &m.Status, &m.Error, &m.Model, &m.CreatedAt, &m.UpdatedAt, &sources); err != nil {
		return nil, err
	}
	if sources != "" {
		if err := json.Unmarshal([]byte(sources), &m.Sources); err != nil {
			return nil, fmt.Errorf("message %s: sources: %w", m.ID, err)
		}
	}
	m.CreatedAt, m.UpdatedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC()
	return &m, nil
}

// CreateExchange implements lobby.ChatService.
func (s *ChatService) CreateExchange(ctx context.Context, p lobby.ExchangeParams) (*lobby.Exchange, error) {
	if err := lobby.ValidateMessageContent(p.Content); err != nil {
		return nil, err
	}
	var ex lobby.Exchange
	err := s.db.tx(ctx, func(tx *Tx) error {
		var mode lobby.Mode
		sub, err := s.db.lockActiveSubscription(ctx, tx, p.SubscriptionID, &mode)
		if err != nil {
			return err
		}
		if sub.MessageCap != nil && sub.MessagesUsed >= *sub.MessageCap {
			c := &lobby.Consultant{ID: sub.ConsultantID}
			if err := loadPlans(ctx, tx, []*lobby.Consultant{c}); err != nil {
				return err
			}
			return sub.QuotaExceeded(c.Plans, tx.now)
		}
		// The message's id before its reply's: ids sort in the order they are made.
		messageID, replyID := lobby.NewID(lobby.PrefixMessage), lobby.NewID(lobby.PrefixMessage)
		credits, err := s.db.countMessage(ctx, tx, sub, replyID)
		if err != nil {
			return err
		}
		sub.MessagesUsed++
		ex.Usage = sub.Usage()
		ex.Usage.CreditsCents = credits
		if err := s.db.noticeUsage(ctx, tx, sub); err != nil {
			return err
		}
		if ex.Conversation, err = s.db.touchConversation(ctx, tx, sub, p.ConversationID); err != nil {
			return err
		}
		ex.Message = &lobby.Message{ID: messageID, ConversationID: ex.Conversation.ID, Role: lobby.RoleBuyer,
			Content: p.Content, Status: lobby.MessageComplete, CreatedAt: tx.now, UpdatedAt: tx.now}
		ex.Reply = &lobby.Message{ID: replyID, ConversationID: ex.Conversation.ID, Role: lobby.RoleConsultant,
			Status: lobby.MessageStreaming, CreatedAt: tx.now, UpdatedAt: tx.now}
		if err := insertMessages(ctx, tx, ex.Message, ex.Reply); err != nil {
			return err
		}
		tx.publish(lobby.MessageEvent(lobby.EventMessageCreated, ex.Message), lobby.MessageEvent(lobby.EventMessageCreated, ex.Reply))
		return s.db.createDelivery(ctx, tx, &ex, mode)
	})
	if err != nil {
		return nil, err
	}
	return &ex, nil
}

// insertMessages inserts ms in one statement, a round trip for them all.
func insertMessages(ctx context.Context, tx *Tx, ms ...*lobby.Message) error {
	const columns = 9
	var q strings.Builder
	q.WriteString(`INSERT INTO messages (` + messageColumns + `) VALUES `)
	args := make([]any, 0, columns*len(ms))
	for i, m := range ms {
		if i > 0 {
			q.WriteString(", ")
		}
		q.WriteString("(" + placeholders(1+columns*i, columns) + ", '')") // no sources yet
		args = append(args, m.ID, m.ConversationID, m.Role, m.Content, m.Status, m.Error, m.Model, m.CreatedAt, m.UpdatedAt)
	}
	_, err := tx.ExecContext(ctx, q.String(), args...)
	return err
}

// touchConversation is conversationFor for a new message: the conversation's
// updated_at is set to the transaction's time in the statement that finds it.
func (db *DB) touchConversation(ctx context.Context, tx *Tx, s *lobby.Subscription, id string) (*lobby.Conversation, error) {
	q, args := `UPDATE conversations SET updated_at = $1 WHERE id = (SELECT id FROM conversations WHERE subscription_id = $2 ORDER BY id LIMIT 1)`,
		[]any{tx.now, s.ID}
	if id != "" {
		q, args = `UPDATE conversations SET updated_at = $1 WHERE id = $2 AND subscription_id = $3`, []any{tx.now, id, s.ID}
	}
	c, err := scanConversation(tx.QueryRowContext(ctx, q+` RETURNING `+conversationColumns, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return db.conversationFor(ctx, tx, s, id) // not found, or the default's first use
	}
	return c, err
}

// conversationFor returns the conversation a subscription's message goes to: the one
// named, which must be the subscription's, or else its default, made on first use.
func (db *DB) conversationFor(ctx context.Context, tx *Tx, s *lobby.Subscription, id string) (*lobby.Conversation, error) {
	if id != "" {
		c, err := scanConversation(tx.QueryRowContext(ctx, `SELECT `+conversationColumns+` FROM conversations WHERE id = $1 AND subscription_id = $2`, id, s.ID))
		if err != nil {
			return nil, notFound(err, "no conversation %q of this subscription; leave conversation_id out to use its own", id)
		}
		return c, nil
	}
	c, err := scanConversation(tx.QueryRowContext(ctx, `SELECT `+conversationColumns+` FROM conversations WHERE subscription_id = $1 ORDER BY id LIMIT 1`, s.ID))
	if err == nil || !errors.Is(err, sql.ErrNoRows) {
		return c, err
	}
	return insertConversation(ctx, tx, s)
}

// insertConversation stores a new conversation of the subscription.
func insertConversation(ctx context.Context, tx *Tx, s *lobby.Subscription) (*lobby.Conversation, error) {
	c := &lobby.Conversation{ID: lobby.NewID(lobby.PrefixConversation), SubscriptionID: s.ID, ConsultantID: s.ConsultantID,
		BuyerID: buyerPseudonym(s.UserID, s.ConsultantID), CreatedAt: tx.now, UpdatedAt: tx.now}
	_, err := tx.ExecContext(ctx, `INSERT INTO conversations (id, subscription_id, consultant_id, buyer_id, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, c.ID, c.SubscriptionID, c.ConsultantID, c.BuyerID, c.CreatedAt, c.UpdatedAt)
	return c, err
}

// CreateConversation implements lobby.ChatService.
func (s *ChatService) CreateConversation(ctx context.Context, subscriptionID string) (*lobby.Conversation, error) {
	var c *lobby.Conversation
	err := s.db.tx(ctx, func(tx *Tx) error {
		sub, err := s.db.lockActiveSubscription(ctx, tx, subscriptionID, nil)
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM conversations WHERE subscription_id = $1`, sub.ID).Scan(&n); err != nil {
			return err
		}
		if n >= lobby.MaxConversations {
			return lobby.Errorf(lobby.ECONFLICT, "this subscription has %d conversations, the most one may have; delete one with DELETE /api/v1/conversations/{id} to start another",
				lobby.MaxConversations)
		}
		c, err = insertConversation(ctx, tx, sub)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// lockActiveSubscription reads the subscription, brought up to its current period, for
// a write transaction that changes what it holds; an ended one is refused. With mode
// given, it reads the consultant's mode into it as well.
func (db *DB) lockActiveSubscription(ctx context.Context, tx *Tx, id string, mode *lobby.Mode) (*lobby.Subscription, error) {
	var row scanner
	if mode == nil {
		row = tx.QueryRowContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE id = $1`+db.dialect.ForUpdate(), id)
	} else {
		// The consultant's mode comes with the subscription, in a subquery, which the
		// lock does not extend to: buyers of one consultant do not queue for its row.
		row = withColumns(tx.QueryRowContext(ctx, `SELECT `+subscriptionColumns+`,
			(SELECT mode FROM consultants WHERE consultants.id = subscriptions.consultant_id) FROM subscriptions WHERE id = $1`+db.dialect.ForUpdate(), id), mode)
	}
	sub, err := scanSubscription(row)
	if err != nil {
		return nil, notFound(err, "no subscription %q", id)
	}
	if sub, err = advance(ctx, tx, sub); err != nil {
		return nil, err
	}
	switch sub.Status {
	case lobby.SubscriptionActive:
	case lobby.SubscriptionPastDue:
		return nil, lobby.Errorf(lobby.EPAYMENT, "the payment for this subscription's period failed: pay the open invoice (the payment provider emailed a link), "+
			"or update the card, and messages go through again once it is paid")
	default:
		return nil, lobby.Errorf(lobby.EUNAUTHORIZED, "this subscription has ended; subscribe again to keep consulting")
	}
	return sub, nil
}

// DeleteConversation implements lobby.ChatService.
func (s *ChatService) DeleteConversation(ctx context.Context, subscriptionID, id string) error {
	return s.db.tx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM delivery_attempts WHERE delivery_id IN
			(SELECT d.id FROM deliveries d JOIN conversations c ON c.id = d.conversation_id WHERE c.id = $1 AND c.subscription_id = $2)`, id, subscriptionID)
		if err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM deliveries WHERE conversation_id = (SELECT id FROM conversations WHERE id = $1 AND subscription_id = $2)`,
			`DELETE FROM messages WHERE conversation_id = (SELECT id FROM conversations WHERE id = $1 AND subscription_id = $2)`,
			`DELETE FROM conversations WHERE id = $1 AND subscription_id = $2`,
		} {
			if res, err = tx.ExecContext(ctx, q, id, subscriptionID); err != nil {
				return err
			}
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return lobby.Errorf(lobby.ENOTFOUND, "no conversation %q of this subscription; list yours at GET /api/v1/conversations", id)
		}
		return nil
	})
}

// UpdateSummary implements lobby.ChatService.
func (s *ChatService) UpdateSummary(ctx context.Context, p lobby.SummaryUpdate) (*lobby.Conversation, error) {
	if len(p.Text) > lobby.MaxSummaryLen {
		return nil, lobby.Errorf(lobby.ETOOLARGE, "summary is %d bytes; the most is %d", len(p.Text), lobby.MaxSummaryLen)
	}
	if p.ThroughMessageID <= p.Previous {
		return nil, lobby.Errorf(lobby.EINVALID, "a summary must cover messages after %q, not through %q", p.Previous, p.ThroughMessageID)
	}
	var c *lobby.Conversation
	err := s.db.tx(ctx, func(tx *Tx) error {
		var err error
		c, err = scanConversation(tx.QueryRowContext(ctx, `UPDATE conversations SET summary_text = $1, summary_through = $2, summary_updated_at = $3
			WHERE id = $4 AND summary_through = $5 AND EXISTS (SELECT 1 FROM messages WHERE id = $2 AND conversation_id = $4)
			RETURNING `+conversationColumns, lobby.CleanText(p.Text), p.ThroughMessageID, tx.now, p.ConversationID, p.Previous))
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// Nothing changed: say why.
		cur, err := scanConversation(tx.QueryRowContext(ctx, `SELECT `+conversationColumns+` FROM conversations WHERE id = $1`, p.ConversationID))
		if err != nil {
			return notFound(err, "no conversation %q", p.ConversationID)
		}
		if through := cur.SummaryThrough(); through != p.Previous {
			return lobby.Errorf(lobby.ECONFLICT, "conversation %s's summary is now through %q, not %q: another fold came first", p.ConversationID, through, p.Previous)
		}
		return lobby.Errorf(lobby.EINVALID, "no message %q in conversation %s", p.ThroughMessageID, p.ConversationID)
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// OpenConversation implements lobby.ChatService. An existing conversation is read
// without a write transaction; only the default's first use writes.
func (s *ChatService) OpenConversation(ctx context.Context, subscriptionID, conversationID string) (*lobby.Conversation, error) {
	db := s.db
	q, args := `SELECT `+conversationColumns+` FROM conversations WHERE subscription_id = $1 ORDER BY id LIMIT 1`, []any{subscriptionID}
	if conversationID != "" {
		q, args = `SELECT `+conversationColumns+` FROM conversations WHERE id = $1 AND subscription_id = $2`, []any{conversationID, subscriptionID}
	}
	c, err := scanConversation(db.read.QueryRowContext(ctx, q, args...))
	if err == nil || !errors.Is(err, sql.ErrNoRows) {
		return c, err
	}
	err = db.tx(ctx, func(tx *Tx) error {
		sub, err := scanSubscription(tx.QueryRowContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE id = $1`+db.dialect.ForUpdate(), subscriptionID))
		if err != nil {
			return notFound(err, "no subscription %q", subscriptionID)
		}
		c, err = db.conversationFor(ctx, tx, sub, conversationID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// FinishMessage implements lobby.ChatService.
func (s *ChatService) FinishMessage(ctx context.Context, p lobby.FinishParams) (*lobby.Message, error) {
	var m *lobby.Message
	err := s.db.tx(ctx, func(tx *Tx) error {
		var err error
		m, err = scanMessage(tx.QueryRowContext(ctx, `UPDATE messages SET content = $1, status = $2, error = $3, model = $4, updated_at = $5,
			sources = $8 WHERE id = $6 AND status = $7 RETURNING `+messageColumns,
			lobby.CleanText(p.Content), p.Status, lobby.CleanText(p.Error), lobby.CleanText(p.Model), tx.now, p.ID, lobby.MessageStreaming,
			encodeSources(p.Sources)))
		if errors.Is(err, sql.ErrNoRows) { // ended already, or never was
			if m, err = scanMessage(tx.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = $1`, p.ID)); err != nil {
				return notFound(err, "no message %q", p.ID)
			}
			return lobby.Errorf(lobby.ECONFLICT, "message %s has ended already (%s)", p.ID, m.Status)
		} else if err != nil {
			return err
		}
		if m.Status == lobby.MessageFailed {
			if err := refund(ctx, tx, m); err != nil {
				return err
			}
		}
		tx.publish(lobby.ReplyEvents(m, "", false)...) // its end
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// encodeSources is how a message's sources are stored: JSON, ” for none.
func encodeSources(ss []lobby.MessageSource) string {
	if len(ss) == 0 {
		return ""
	}
	clean := make([]lobby.MessageSource, len(ss))
	for i, src := range ss {
		clean[i] = lobby.MessageSource{DocumentID: src.DocumentID, Title: lobby.CleanText(src.Title)}
	}
	b, _ := json.Marshal(clean) // strings only: it cannot fail
	return string(b)
}

// refund gives back to its subscription the message that reply, just failed, answered:
// a message that got no reply is not counted against the cap, nor paid for. A message
// of a period that has passed is not given back to the new one; its credits are.
func refund(ctx context.Context, tx *Tx, reply *lobby.Message) error {
	_, err := tx.ExecContext(ctx, `UPDATE subscriptions SET messages_used = messages_used - 1, updated_at = $1
		WHERE id = (SELECT subscription_id FROM conversations WHERE id = $2) AND messages_used > 0 AND period_start <= $3`,
		tx.now, reply.ConversationID, reply.CreatedAt)
	if err != nil {
		return err
	}
	return refundCredits(ctx, tx, reply.ID)
}

// RestartMessage implements lobby.ChatService.
func (s *ChatService) RestartMessage(ctx context.Context, id string) (*lobby.Message, error) {
	var m *lobby.Message
	err := s.db.tx(ctx, func(tx *Tx) error {
		var err error
		m, err = scanMessage(tx.QueryRowContext(ctx, `UPDATE messages SET content = '', updated_at = $1 WHERE id = $2 AND status = $3
			RETURNING `+messageColumns, tx.now, id, lobby.MessageStreaming))
		if errors.Is(err, sql.ErrNoRows) {
			if _, err := s.FindMessageByID(ctx, id); err != nil {
				return err
			}
			return lobby.Errorf(lobby.ECONFLICT, "message %s has ended already", id)
		} else if err != nil {
			return err
		}
		tx.publish(lobby.MessageEvent(lobby.EventMessageCreated, m))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// FindConversationByID implements lobby.ChatService.
func (s *ChatService) FindConversationByID(ctx context.Context, id string) (*lobby.Conversation, error) {
	c, err := scanConversation(s.db.read.QueryRowContext(ctx, `SELECT `+conversationColumns+` FROM conversations WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "no conversation %q", id)
	}
	return c, nil
}

// FindConversations implements lobby.ChatService.
func (s *ChatService) FindConversations(ctx context.Context, f lobby.ConversationFilter) ([]*lobby.Conversation, string, error) {
	q := keyQuery{columns: conversationColumns, table: "conversations", column: "subscription_id", value: f.SubscriptionID,
		limit: f.Limit, cursor: f.Cursor}
	if f.ConsultantID != "" {
		q.column, q.value = "consultant_id", f.ConsultantID
	}
	return keyPage(ctx, s.db, q, scanConversation, func(c *lobby.Conversation) string { return c.ID })
}

// FindMessages implements lobby.ChatService.
func (s *ChatService) FindMessages(ctx context.Context, f lobby.MessageFilter) ([]*lobby.Message, error) {
	return s.db.queryMessages(ctx, `SELECT `+messageColumns+` FROM messages WHERE conversation_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
		f.ConversationID, f.After, limit(f.Limit))
}

func (db *DB) queryMessages(ctx context.Context, query string, args ...any) ([]*lobby.Message, error) {
	return queryAll(ctx, db.read, scanMessage, query, args...)
}

// FindRecentMessages implements lobby.ChatService.
func (s *ChatService) FindRecentMessages(ctx context.Context, f lobby.RecentFilter) ([]*lobby.Message, error) {
	ms, err := s.db.queryMessages(ctx, `SELECT `+messageColumns+` FROM messages WHERE conversation_id = $1 AND id > $2 AND id <= $3
		ORDER BY id DESC LIMIT $4`, f.ConversationID, f.After, f.UpTo, f.Limit)
	slices.Reverse(ms)
	return ms, err
}

// FindMessageByID implements lobby.ChatService.
func (s *ChatService) FindMessageByID(ctx context.Context, id string) (*lobby.Message, error) {
	m, err := scanMessage(s.db.read.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = $1`, id))
	if err != nil {
		return nil, notFound(err, "no message %q", id)
	}
	return m, nil
}

// noticeUsage queues the usage notice of the message just counted, if it takes sub
// across a threshold of its cap not noticed yet this period: usage falls back when a
// reply fails for good, and may cross a threshold twice.
func (db *DB) noticeUsage(ctx context.Context, tx *Tx, sub *lobby.Subscription) error {
	pct := lobby.UsageNotice(sub.MessageCap, sub.MessagesUsed)
	if pct == 0 {
		return nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE subscriptions SET notice_percent = $1, notice_period_end = $2 WHERE id = $3
		AND NOT (notice_period_end IS NOT NULL AND notice_period_end = $2 AND notice_percent >= $1)`, pct, sub.PeriodEnd, sub.ID)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err
	}
	_, err = tx.db.jobs.InsertTx(ctx, tx.Tx, jobs.UsageNotice{SubscriptionID: sub.ID, UserID: sub.UserID, ConsultantID: sub.ConsultantID,
		Percent: pct, Cap: *sub.MessageCap, PeriodEnd: sub.PeriodEnd}, nil)
	return err
}
