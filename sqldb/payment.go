package sqldb

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/jobs"
)

// PaymentEventService keeps a payment provider's signed events and applies each once.
type PaymentEventService struct{ db *DB }

var (
	_ lobby.PaymentEventService = (*PaymentEventService)(nil)
	_ lobby.EarningsService     = (*PaymentEventService)(nil)
)

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
		return s.accountChanged(ctx, tx, e)
	case lobby.ChargeRefunded:
		return s.refunded(ctx, tx, e)
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
	set := func(query string, args ...any) error {
		n := len(args)
		_, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE subscriptions SET %s, updated_at = $%d WHERE id = $%d`, query, n+1, n+2),
			append(args, tx.now, sub.ID)...)
		return err
	}
	switch e.Kind {
	case lobby.PaidPeriod:
		// The money came in whatever the period: the ledger has it first.
		if err := s.record(ctx, tx, e, sub, "charge", e.AmountCents, e.FeeCents); err != nil {
			return "", err
		}
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
		at := *sub
		if start.After(sub.PeriodStart.Add(24 * time.Hour)) {
			at = at.NewPeriod() // and a pending downgrade takes over
			if err := setPlan(ctx, tx, &at); err != nil {
				return "", err
			}
		}
		if err := set(`status = $1, period_start = $2, period_end = $3, messages_used = $4`,
			lobby.SubscriptionActive, lobby.UTC(start), lobby.UTC(end), at.MessagesUsed); err != nil {
			return "", err
		}
		return fmt.Sprintf("subscription %s paid to %s on %s", sub.ID, end.UTC().Format(time.RFC3339), at.Tier), nil
	case lobby.PaymentFailed:
		if sub.Status != lobby.SubscriptionActive {
			return "payment failed for a subscription that is not active: nothing to do", nil
		}
		if err := set(`status = $1`, lobby.SubscriptionPastDue); err != nil {
			return "", err
		}
		return fmt.Sprintf("subscription %s past due", sub.ID), nil
	case lobby.SubscriptionChanged:
		if err := set(`cancel_at_period_end = $1`, e.CancelAtPeriodEnd); err != nil {
			return "", err
		}
		outcome := fmt.Sprintf("subscription %s cancel at period end: %t", sub.ID, e.CancelAtPeriodEnd)
		// A tier changed in the provider's portal: the price names the plan.
		var plan lobby.Plan
		var cap sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT pp.tier, pp.price_cents, pp.currency, pl.message_cap FROM provider_prices pp
			JOIN plans pl ON pl.consultant_id = pp.consultant_id AND pl.tier = pp.tier
			WHERE pp.ref = $1 AND pp.consultant_id = $2 ORDER BY pp.created_at DESC LIMIT 1`, e.PriceRef, sub.ConsultantID).
			Scan(&plan.Tier, &plan.PriceCents, &plan.Currency, &cap)
		if err == sql.ErrNoRows || (err == nil && plan.Tier == sub.Tier && plan.PriceCents == sub.PriceCents) {
			return outcome, nil
		}
		if err != nil {
			return "", err
		}
		if p := sub.PendingPlan; p != nil && p.Tier == plan.Tier && p.PriceCents == plan.PriceCents {
			// Lobby's own downgrade: Stripe bills the new price from the next
			// period, and so does Lobby.
			return outcome + "; " + plan.Tier + " from the next period", nil
		}
		if cap.Valid {
			plan.MessageCap = &cap.Int64
		}
		sub.Tier, sub.PriceCents, sub.Currency, sub.MessageCap, sub.PendingPlan = plan.Tier, plan.PriceCents, plan.Currency, plan.MessageCap, nil
		if err := setPlan(ctx, tx, sub); err != nil {
			return "", err
		}
		return outcome + "; now on " + plan.Tier, nil
	case lobby.SubscriptionEnded:
		if sub.Status == lobby.SubscriptionCanceled {
			return "already ended", nil
		}
		end := sub.PeriodEnd
		if tx.now.Before(end) {
			end = tx.now
		}
		if err := set(`status = $1, period_end = $2`, lobby.SubscriptionCanceled, end); err != nil {
			return "", err
		}
		return fmt.Sprintf("subscription %s ended", sub.ID), nil
	}
	return fmt.Sprintf("%s is not used", e.Kind), nil
}

// accountChanged records whether an owner's payout account can be paid. An account
// Lobby did not make (another integration of the platform's) is left alone.
func (s *PaymentEventService) accountChanged(ctx context.Context, tx *Tx, e *lobby.PaymentEvent) (string, error) {
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
	if subID == "" {
		return fmt.Sprintf("checkout %s completed: credits added", e.CheckoutID), nil
	}
	if e.SubscriptionRef != "" {
		if _, err := tx.ExecContext(ctx, `UPDATE subscriptions SET provider_ref = $1, customer_ref = $2, renews_itself = FALSE, updated_at = $3 WHERE id = $4`,
			e.SubscriptionRef, nullIfEmpty(e.CustomerRef), tx.now, subID); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("checkout %s completed as subscription %s", e.CheckoutID, subID), nil
}

// record writes e's money to the ledger in the subscription's consultant's name.
func (s *PaymentEventService) record(ctx context.Context, tx *Tx, e *lobby.PaymentEvent, sub *lobby.Subscription, kind string, gross, fee int64) error {
	if gross == 0 && fee == 0 {
		return nil
	}
	at := e.Created
	if at.IsZero() {
		at = tx.now
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO earnings (event_id, consultant_id, subscription_id, kind, gross_cents, fee_cents, currency, occurred_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, e.ID, sub.ConsultantID, sub.ID, kind, gross, fee, cmp.Or(e.Currency, sub.Currency), lobby.UTC(at))
	return err
}

// refunded records a refund against the subscription its customer pays: the charge's
// own object names the customer, not the subscription.
func (s *PaymentEventService) refunded(ctx context.Context, tx *Tx, e *lobby.PaymentEvent) (string, error) {
	if e.CustomerRef == "" {
		return "a refund that names no customer: not recorded", nil
	}
	sub, err := scanSubscription(tx.QueryRowContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE customer_ref = $1
		ORDER BY created_at DESC LIMIT 1`, e.CustomerRef))
	if err == sql.ErrNoRows {
		return fmt.Sprintf("a refund to customer %s, who pays no subscription here: not recorded", e.CustomerRef), nil
	}
	if err != nil {
		return "", err
	}
	if err := s.record(ctx, tx, e, sub, "refund", -e.AmountCents, -e.FeeCents); err != nil {
		return "", err
	}
	return fmt.Sprintf("refund of %d %s recorded against subscription %s", e.AmountCents, e.Currency, sub.ID), nil
}

// FindEarnings implements lobby.EarningsService.
func (s *PaymentEventService) FindEarnings(ctx context.Context, consultantID string) ([]lobby.Earnings, error) {
	now := s.db.now()
	since := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1-lobby.EarningsMonths, 0)
	rows, err := s.db.read.QueryContext(ctx, `SELECT kind, gross_cents, fee_cents, currency, occurred_at FROM earnings
		WHERE consultant_id = $1 AND occurred_at >= $2 ORDER BY occurred_at DESC`, consultantID, since)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []lobby.Earnings
	at := map[[2]string]int{} // month and currency → index in out
	add := func(period, currency string, gross, fee int64, charges int) {
		k := [2]string{period, currency}
		i, ok := at[k]
		if !ok {
			i, at[k] = len(out), len(out)
			out = append(out, lobby.Earnings{Period: period, Currency: currency})
		}
		e := &out[i]
		e.GrossCents, e.FeeCents, e.NetCents, e.Charges = e.GrossCents+gross, e.FeeCents+fee, e.NetCents+gross-fee, e.Charges+charges
	}
	for rows.Next() {
		var kind, currency string
		var gross, fee int64
		var when time.Time
		if err := rows.Scan(&kind, &gross, &fee, &currency, &when); err != nil {
			return nil, err
		}
		charges := 0
		if kind == "charge" {
			charges = 1
		}
		add(when.UTC().Format("2006-01"), currency, gross, fee, charges)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Messages paid from credits, summed by the database: one row each.
	rows, err = s.db.read.QueryContext(ctx, `SELECT period, currency, sum(gross_cents), sum(fee_cents), count(*) FROM credit_spends
		WHERE consultant_id = $1 AND period >= $2 GROUP BY period, currency`, consultantID, since.Format("2006-01"))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var period, currency string
		var gross, fee int64
		var n int
		if err := rows.Scan(&period, &currency, &gross, &fee, &n); err != nil {
			return nil, err
		}
		add(period, currency, gross, fee, n)
	}
	slices.SortStableFunc(out, func(a, b lobby.Earnings) int { return strings.Compare(b.Period, a.Period) })
	return out, rows.Err()
}

// nullIfEmpty stores "" as NULL, for unique or indexed refs a row may lack.
func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
