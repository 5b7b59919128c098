package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/lobby-dev/lobby"
)

// CreditService keeps users' credits and their purchases.
type CreditService struct{ db *DB }

var _ lobby.CreditService = (*CreditService)(nil)

// FindBalance implements lobby.CreditService.
func (s *CreditService) FindBalance(ctx context.Context, userID string) (*lobby.Balance, error) {
	return findBalance(ctx, s.db.read, userID)
}

func findBalance(ctx context.Context, q querier, userID string) (*lobby.Balance, error) {
	b := &lobby.Balance{Currency: lobby.CreditCurrency}
	err := q.QueryRowContext(ctx, `SELECT balance_cents FROM credit_balances WHERE user_id = $1`, userID).Scan(&b.BalanceCents)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	return b, nil
}

// CreateCreditCheckout implements lobby.CreditService.
func (s *CreditService) CreateCreditCheckout(ctx context.Context, c *lobby.CreditCheckout) error {
	if err := lobby.ValidateCreditAmount(c.AmountCents); err != nil {
		return err
	}
	return s.db.tx(ctx, func(tx *Tx) error {
		if err := s.db.checkOpenCheckouts(ctx, tx, c.UserID); err != nil {
			return err
		}
		c.ID = lobby.NewID(lobby.PrefixCheckout)
		c.Currency = lobby.CreditCurrency
		c.Status = lobby.CheckoutOpen
		c.CreatedAt = tx.now
		c.ExpiresAt = tx.now.Add(lobby.CheckoutTTL)
		_, err := tx.ExecContext(ctx, `INSERT INTO credit_checkouts (id, user_id, amount_cents, currency, status, provider, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, c.ID, c.UserID, c.AmountCents, c.Currency, c.Status, c.Provider, c.CreatedAt, c.ExpiresAt)
		return err
	})
}

// checkOpenCheckouts refuses a new checkout to a user who has MaxOpenCheckouts open,
// of subscriptions and credits together. It locks the user, so that two checkouts
// opened at once count each other.
func (db *DB) checkOpenCheckouts(ctx context.Context, tx *Tx, userID string) error {
	if err := lockUser(ctx, tx, userID); err != nil {
		return err
	}
	var open int
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM checkouts WHERE user_id = $1 AND status = $2 AND expires_at > $3) +
		(SELECT count(*) FROM credit_checkouts WHERE user_id = $1 AND status = $2 AND expires_at > $3)`,
		userID, lobby.CheckoutOpen, tx.now).Scan(&open); err != nil {
		return err
	}
	if open >= lobby.MaxOpenCheckouts {
		return lobby.Errorf(lobby.ECONFLICT, "you have %d checkouts open, the most one user may; complete one, or wait a day for them to expire", open)
	}
	return nil
}

// SetCreditCheckoutProvider implements lobby.CreditService.
func (s *CreditService) SetCreditCheckoutProvider(ctx context.Context, id, ref, url string) error {
	return s.db.tx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE credit_checkouts SET provider_ref = $1, url = $2 WHERE id = $3`, ref, url, id)
		return err
	})
}

const creditCheckoutColumns = `id, user_id, amount_cents, currency, status, provider, provider_ref, url, created_at, expires_at`

func scanCreditCheckout(row scanner) (*lobby.CreditCheckout, error) {
	var c lobby.CreditCheckout
	err := row.Scan(&c.ID, &c.UserID, &c.AmountCents, &c.Currency, &c.Status, &c.Provider, &c.ProviderRef, &c.URL, &c.CreatedAt, &c.ExpiresAt)
	if err != nil {
		return nil, err
	}
	c.CreatedAt, c.ExpiresAt = c.CreatedAt.UTC(), c.ExpiresAt.UTC()
	return &c, nil
}

// findCreditCheckout is FindCheckout for a purchase of credits: with the balance once
// it is paid.
func (db *DB) findCreditCheckout(ctx context.Context, userID, id string) (*lobby.CheckoutResult, error) {
	c, err := scanCreditCheckout(db.read.QueryRowContext(ctx, `SELECT `+creditCheckoutColumns+` FROM credit_checkouts
		WHERE id = $1 AND user_id = $2`, id, userID))
	if err != nil {
		return nil, notFound(err, "no checkout %q of yours", id)
	}
	c.Status = c.StatusAt(db.now())
	res := &lobby.CheckoutResult{Credits: c}
	if c.Status == lobby.CheckoutComplete {
		res.Balance, err = findBalance(ctx, db.read, userID)
	}
	return res, err
}

// completeCreditCheckout is completeCheckout for a purchase of credits: the amount is
// added to the balance once, however often the purchase is completed. ENOTFOUND when
// there is no such purchase of userID's ("" for any user's).
func (db *DB) completeCreditCheckout(ctx context.Context, tx *Tx, id, userID string) error {
	c, err := scanCreditCheckout(tx.QueryRowContext(ctx, `SELECT `+creditCheckoutColumns+` FROM credit_checkouts WHERE id = $1`+db.dialect.ForUpdate(), id))
	if err == nil && userID != "" && c.UserID != userID {
		err = sql.ErrNoRows
	}
	if err != nil {
		return notFound(err, "no checkout %q of yours", id)
	}
	switch c.StatusAt(tx.now) {
	case lobby.CheckoutComplete:
		return nil
	case lobby.CheckoutExpired:
		// A payment the provider took after the purchase expired is still the
		// buyer's money: only the confirm step is refused.
		if userID != "" {
			return lobby.Errorf(lobby.ECONFLICT, "checkout %s expired at %s; buy credits again for a new one", c.ID, c.ExpiresAt.Format(time.RFC3339))
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE credit_checkouts SET status = $1, completed_at = $2 WHERE id = $3`,
		lobby.CheckoutComplete, tx.now, c.ID); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO credit_balances (user_id, balance_cents, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (user_id) DO UPDATE SET balance_cents = credit_balances.balance_cents + excluded.balance_cents, updated_at = excluded.updated_at`,
		c.UserID, c.AmountCents, tx.now)
	return err
}

// countMessage counts a message against sub and, on a per-message plan, pays for
// it: the price is taken from the balance of the subscription's user and the spend
// recorded, keyed by the reply it pays for, with who earned it. It returns the balance
// left (nil on other plans), or EPAYMENT when the balance is too small: the caller's
// transaction then stores nothing. The conditional UPDATE is what keeps concurrent
// sends from taking a balance below zero: each waits for the row, then sees what the
// others left.
func (db *DB) countMessage(ctx context.Context, tx *Tx, sub *lobby.Subscription, replyID string) (*int64, error) {
	const count = `UPDATE subscriptions SET messages_used = messages_used + 1, updated_at = $2 WHERE id = $1`
	if sub.Per != lobby.PerMessage {
		_, err := tx.ExecContext(ctx, count, sub.ID, tx.now)
		return nil, err
	}
	const debit = `UPDATE credit_balances SET balance_cents = balance_cents - $3, updated_at = $2
		WHERE user_id = $4 AND balance_cents >= $3 RETURNING balance_cents`
	const spend = `INSERT INTO credit_spends (reply_id, consultant_id, user_id, period, gross_cents, fee_cents, currency, created_at)`
	const spent = `$5, $6, $4, $7, $3, $8, $9, $2`
	args := []any{sub.ID, tx.now, sub.PriceCents, sub.UserID, replyID, sub.ConsultantID, tx.now.Format("2006-01"),
		lobby.PlatformFee(sub.PriceCents, db.FeePercent), sub.Currency}
	var left int64
	var err error
	if db.dialect.Name() == "postgres" {
		// One statement, not three: round trips are most of what a send costs, and
		// this keeps a per-message send to as many as a monthly one.
		err = tx.QueryRowContext(ctx, `WITH counted AS (`+count+`), debit AS (`+debit+`)
			`+spend+` SELECT `+spent+` FROM debit RETURNING (SELECT balance_cents FROM debit)`, args...).Scan(&left)
	} else {
		// SQLite has no UPDATE inside WITH, and its statements cost no round trip.
		if _, err = tx.ExecContext(ctx, count, args[:2]...); err == nil {
			if err = tx.QueryRowContext(ctx, debit, args[:4]...).Scan(&left); err == nil {
				_, err = tx.ExecContext(ctx, spend+` VALUES (`+spent+`)`, args...)
			}
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		b, err := findBalance(ctx, tx, sub.UserID)
		if err != nil {
			return nil, err
		}
		return nil, lobby.ShortOfCredits(b.BalanceCents, sub.PriceCents)
	}
	return &left, err
}

// refundCredits gives back what the message answered by reply paid, if it was paid
// from credits: a message that got no reply costs nothing.
func refundCredits(ctx context.Context, tx *Tx, replyID string) error {
	var userID string
	var cents int64
	err := tx.QueryRowContext(ctx, `DELETE FROM credit_spends WHERE reply_id = $1 RETURNING user_id, gross_cents`, replyID).Scan(&userID, &cents)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE credit_balances SET balance_cents = balance_cents + $1, updated_at = $2 WHERE user_id = $3`, cents, tx.now, userID)
	return err
}
