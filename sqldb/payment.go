package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/jobs"
)

// PaymentEventService keeps a payment provider's signed events and applies each once.
type PaymentEventService struct{ db *DB }

var _ lobby.PaymentEventService = (*PaymentEventService)(nil)

// TakePaymentEvent implements lobby.PaymentEventService. The event's id is its primary
// key: of two instances taking it at once, one inserts it and queues its job, and the
// other finds it there.
func (s *PaymentEventService) TakePaymentEvent(ctx context.Context, e *lobby.PaymentEvent) (bool, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return false, err
	}
	var taken bool
	err = s.db.tx(ctx, func(tx *Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO payment_events (id, kind, provider_type, event, received_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`, e.ID, e.Kind, e.ProviderType, string(body), tx.now)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		taken = true
		_, err = tx.db.jobs.InsertTx(ctx, tx.Tx, jobs.PaymentEvent{EventID: e.ID}, nil)
		return err
	})
	return taken, err
}

// ApplyPaymentEvent implements lobby.PaymentEventService. The event's row is locked
// first, so two runs of its job cannot both apply it.
func (s *PaymentEventService) ApplyPaymentEvent(ctx context.Context, id string) (string, error) {
	var outcome string
	err := s.db.tx(ctx, func(tx *Tx) error {
		var body string
		var applied sql.NullTime
		err := tx.QueryRowContext(ctx, `SELECT event, applied_at FROM payment_events WHERE id = $1`+s.db.dialect.ForUpdate(), id).Scan(&body, &applied)
		if err != nil {
			return notFound(err, "no payment event %q", id)
		}
		if applied.Valid {
			outcome = "applied before"
			return nil
		}
		var e lobby.PaymentEvent
		if err := json.Unmarshal([]byte(body), &e); err != nil {
			return fmt.Errorf("payment event %s: %w", id, err)
		}
		if outcome, err = s.apply(ctx, tx, &e); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE payment_events SET applied_at = $1, outcome = $2 WHERE id = $3`, tx.now, outcome, id)
		return err
	})
	return outcome, err
}

// apply has e's effect in tx and says what it did. It fails only to be tried again.
func (s *PaymentEventService) apply(ctx context.Context, tx *Tx, e *lobby.PaymentEvent) (string, error) {
	switch e.Kind {
	case lobby.PaidCheckout:
		return s.paidCheckout(ctx, tx, e)
	case lobby.AccountChanged:
		status := lobby.PayoutsPending
		if e.PayoutsReady {
			status = lobby.PayoutsEnabled
		}
		res, err := tx.ExecContext(ctx, `UPDATE payout_accounts SET status = $1, updated_at = $2 WHERE ref = $3`, status, tx.now, e.AccountRef)
		if err != nil {
			return "", err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return fmt.Sprintf("no payout account %q: nothing to do", e.AccountRef), err
		}
		return fmt.Sprintf("payout account %s %s", e.AccountRef, status), nil
	}
	if e.SubscriptionRef == "" {
		return "names no subscription: nothing to do", nil
	}
	sub, err := scanSubscription(tx.QueryRowContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE provider_ref = $1`+
		s.db.dialect.ForUpdate(), e.SubscriptionRef))
	if err == sql.ErrNoRows {
		// Events arrive out of order: the checkout that makes the subscription may
		// still be on its way.
		return "", lobby.Errorf(lobby.EUNAVAILABLE, "no subscription %s yet; its checkout's event has not been applied", e.SubscriptionRef)
	}
	if err != nil {
		return "", err
	}
	// set updates the subscription: query's placeholders are $1 on, for args.
	set := func(query string, args ...any) (string, error) {
		n := len(args)
		_, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE subscriptions SET %s, updated_at = $%d WHERE id = $%d`, query, n+1, n+2),
			append(args, tx.now, sub.ID)...)
		return "", err
	}
	switch e.Kind {
	case lobby.PaidPeriod:
		if sub.Status == lobby.SubscriptionCanceled {
			return "period paid for a subscription that has ended: nothing to do", nil
		}
		start, end := e.PeriodStart, e.PeriodEnd
		if start.IsZero() || !end.After(start) {
			return "period paid without a period: nothing to do", nil
		}
		if !end.After(sub.PeriodEnd) && sub.Status == lobby.SubscriptionActive {
			return "an earlier period paid: nothing to do", nil
		}
		// The first invoice pays the period the checkout opened, give or take its
		// seconds: the messages already sent in it still count.
		used := sub.MessagesUsed
		if start.After(sub.PeriodStart.Add(24 * time.Hour)) {
			used = 0
		}
		if _, err := set(`status = $1, period_start = $2, period_end = $3, messages_used = $4`,
			lobby.SubscriptionActive, lobby.UTC(start), lobby.UTC(end), used); err != nil {
			return "", err
		}
		return fmt.Sprintf("subscription %s paid to %s", sub.ID, end.UTC().Format(time.RFC3339)), nil
	case lobby.PaymentFailed:
		if sub.Status != lobby.SubscriptionActive {
			return "payment failed for a subscription that is not active: nothing to do", nil
		}
		if _, err := set(`status = $1`, lobby.SubscriptionPastDue); err != nil {
			return "", err
		}
		return fmt.Sprintf("subscription %s past due", sub.ID), nil
	case lobby.SubscriptionChanged:
		if _, err := set(`cancel_at_period_end = $1`, e.CancelAtPeriodEnd); err != nil {
			return "", err
		}
		return fmt.Sprintf("subscription %s cancel at period end: %t", sub.ID, e.CancelAtPeriodEnd), nil
	case lobby.SubscriptionEnded:
		if sub.Status == lobby.SubscriptionCanceled {
			return "already ended", nil
		}
		end := sub.PeriodEnd
		if tx.now.Before(end) {
			end = tx.now
		}
		if _, err := set(`status = $1, period_end = $2`, lobby.SubscriptionCanceled, end); err != nil {
			return "", err
		}
		return fmt.Sprintf("subscription %s ended", sub.ID), nil
	}
	return fmt.Sprintf("%s is not used", e.Kind), nil
}

// paidCheckout completes the checkout a payment was for. A checkout that cannot
// complete (unknown, expired, or its buyer subscribed meanwhile) is recorded as such:
// no later attempt would change that.
func (s *PaymentEventService) paidCheckout(ctx context.Context, tx *Tx, e *lobby.PaymentEvent) (string, error) {
	subID, err := s.db.completeCheckout(ctx, tx, e.CheckoutID, "")
	switch lobby.ErrorCode(err) {
	case "":
	case lobby.ENOTFOUND:
		return fmt.Sprintf("no checkout %q: nothing to do", e.CheckoutID), nil
	case lobby.ECONFLICT:
		return "checkout paid but not completed: " + lobby.ErrorMessage(err), nil
	default:
		return "", err
	}
	if e.SubscriptionRef != "" {
		if _, err := tx.ExecContext(ctx, `UPDATE subscriptions SET provider_ref = $1, renews_itself = FALSE, updated_at = $2 WHERE id = $3`,
			e.SubscriptionRef, tx.now, subID); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("checkout %s completed as subscription %s", e.CheckoutID, subID), nil
}
