package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lobby-dev/lobby"
)

// SubscriptionService keeps checkouts and subscriptions.
type SubscriptionService struct{ db *DB }

var _ lobby.SubscriptionService = (*SubscriptionService)(nil)

// CreateCheckout implements lobby.SubscriptionService.
func (s *SubscriptionService) CreateCheckout(ctx context.Context, c *lobby.Checkout) error {
	return s.db.tx(ctx, func(tx *Tx) error {
		consultant, err := s.db.findConsultant(ctx, tx, "c.id = $1", c.ConsultantID, "")
		if err != nil {
			return err
		}
		if consultant.Archived() {
			return lobby.Errorf(lobby.ECONFLICT, "%s is archived: it takes no new subscribers", consultant.Slug)
		}
		plan, err := consultant.Plan(c.Plan.Tier)
		if err != nil {
			return err
		}
		if _, err := s.db.heldSubscription(ctx, tx, c.UserID, c.ConsultantID); err == nil {
			return lobby.Errorf(lobby.ECONFLICT, "you already hold an active subscription to %s; see GET /api/v1/subscriptions", consultant.Slug)
		} else if lobby.ErrorCode(err) != lobby.ENOTFOUND {
			return err
		}
		if err := s.db.checkOpenCheckouts(ctx, tx, c.UserID); err != nil {
			return err
		}
		c.ID = lobby.NewID(lobby.PrefixCheckout)
		c.Plan = *plan
		c.Status = lobby.CheckoutOpen
		c.CreatedAt = tx.now
		c.ExpiresAt = tx.now.Add(lobby.CheckoutTTL)
		_, err = tx.ExecContext(ctx, `INSERT INTO checkouts (id, user_id, consultant_id, tier, price_cents, currency, message_cap, per,
			status, provider, renews_itself, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			c.ID, c.UserID, c.ConsultantID, plan.Tier, plan.PriceCents, plan.Currency, plan.MessageCap, plan.Per,
			c.Status, c.Provider, c.RenewsItself, c.CreatedAt, c.ExpiresAt)
		return err
	})
}

// heldSubscription returns the subscription of userID to consultantID that is held
// now (active, or past due), or ENOTFOUND. One that has ended since it was last
// written is marked ended.
func (db *DB) heldSubscription(ctx context.Context, tx *Tx, userID, consultantID string) (*lobby.Subscription, error) {
	s, err := scanSubscription(tx.QueryRowContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions
		WHERE user_id = $1 AND consultant_id = $2 AND status IN ('active', 'past_due')`+db.dialect.ForUpdate(), userID, consultantID))
	if err != nil {
		return nil, notFound(err, "no active subscription")
	}
	at, err := advance(ctx, tx, s)
	if err != nil {
		return nil, err
	}
	if !at.Held() {
		return nil, lobby.Errorf(lobby.ENOTFOUND, "no active subscription")
	}
	return at, nil
}

// advance writes what has happened to s since it was last written: the periods that
// renewed, or its end. Write transactions call it before they change a subscription,
// so that a cancel, say, applies to the current period.
func advance(ctx context.Context, tx *Tx, s *lobby.Subscription) (*lobby.Subscription, error) {
	at := s.At(tx.now)
	if at == *s {
		return s, nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE subscriptions SET status = $1, period_start = $2, period_end = $3, messages_used = $4,
		updated_at = $5 WHERE id = $6`, at.Status, at.PeriodStart, at.PeriodEnd, at.MessagesUsed, tx.now, s.ID)
	if err == nil && s.PendingPlan != nil && at.PendingPlan == nil {
		err = setPlan(ctx, tx, &at)
	}
	return &at, err
}

// setPlan writes the plan s is on and the one it moves to.
func setPlan(ctx context.Context, tx *Tx, s *lobby.Subscription) error {
	var pending lobby.Plan
	if s.PendingPlan != nil {
		pending = *s.PendingPlan
	}
	_, err := tx.ExecContext(ctx, `UPDATE subscriptions SET tier = $1, price_cents = $2, currency = $3, message_cap = $4, per = $5,
		pending_tier = $6, pending_price_cents = $7, pending_message_cap = $8, updated_at = $9 WHERE id = $10`,
		s.Tier, s.PriceCents, s.Currency, s.MessageCap, s.Per, pending.Tier, pending.PriceCents, pending.MessageCap, tx.now, s.ID)
	return err
}

// ChangePlan implements lobby.SubscriptionService.
func (s *SubscriptionService) ChangePlan(ctx context.Context, userID, id string, plan lobby.Plan, change string) (*lobby.Subscription, error) {
	var sub *lobby.Subscription
	err := s.db.tx(ctx, func(tx *Tx) error {
		var err error
		if sub, err = s.db.mySubscription(ctx, tx, userID, id); err != nil {
			return err
		}
		if sub.Status == lobby.SubscriptionPastDue {
			return lobby.ErrPastDuePlanChange() // paid or failed since the caller looked
		}
		switch change {
		case lobby.PlanUpgrade:
			sub.Tier, sub.PriceCents, sub.MessageCap, sub.Per, sub.PendingPlan = plan.Tier, plan.PriceCents, plan.MessageCap, plan.Per, nil
		case lobby.PlanDowngrade:
			sub.PendingPlan = &plan
		case lobby.PlanKeep:
			sub.PendingPlan = nil
		default:
			return fmt.Errorf("sqldb: change plan %q", change)
		}
		return setPlan(ctx, tx, sub)
	})
	return sub, err
}

// SetCheckoutProvider implements lobby.SubscriptionService.
func (s *SubscriptionService) SetCheckoutProvider(ctx context.Context, id, ref, url string) error {
	return s.db.tx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE checkouts SET provider_ref = $1, url = $2 WHERE id = $3`, ref, url, id)
		return err
	})
}

const checkoutColumns = `id, user_id, consultant_id, tier, price_cents, currency, message_cap, per, status, provider, provider_ref,
	url, subscription_id, token_revealed, renews_itself, created_at, expires_at`

func scanCheckout(row scanner) (*lobby.Checkout, bool, error) {
	var c lobby.Checkout
	var cap sql.NullInt64
	var sub sql.NullString
	var revealed bool
	err := row.Scan(&c.ID, &c.UserID, &c.ConsultantID, &c.Plan.Tier, &c.Plan.PriceCents, &c.Plan.Currency, &cap, &c.Plan.Per, &c.Status,
		&c.Provider, &c.ProviderRef, &c.URL, &sub, &revealed, &c.RenewsItself, &c.CreatedAt, &c.ExpiresAt)
	if err != nil {
		return nil, false, err
	}
	if cap.Valid {
		c.Plan.MessageCap = &cap.Int64
	}
	c.SubscriptionID = sub.String
	c.CreatedAt, c.ExpiresAt = c.CreatedAt.UTC(), c.ExpiresAt.UTC()
	return &c, revealed, nil
}

// FindCheckout implements lobby.SubscriptionService.
func (s *SubscriptionService) FindCheckout(ctx context.Context, userID, id string) (*lobby.CheckoutResult, error) {
	c, revealed, err := scanCheckout(s.db.read.QueryRowContext(ctx, `SELECT `+checkoutColumns+` FROM checkouts WHERE id = $1 AND user_id = $2`, id, userID))
	if errors.Is(err, sql.ErrNoRows) {
		return s.db.findCreditCheckout(ctx, userID, id)
	}
	if err != nil {
		return nil, notFound(err, "no checkout %q of yours", id)
	}
	res := &lobby.CheckoutResult{Checkout: c}
	c.Status = c.StatusAt(s.db.now())
	if c.Status != lobby.CheckoutComplete {
		return res, nil
	}
	if revealed {
		res.Subscription, err = s.FindSubscription(ctx, userID, c.SubscriptionID)
		return res, err
	}
	// The first read after completion makes the buyer token; only its hash is kept.
	err = s.db.tx(ctx, func(tx *Tx) error {
		r, err := tx.ExecContext(ctx, `UPDATE checkouts SET token_revealed = TRUE WHERE id = $1 AND token_revealed = FALSE`, id)
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil || n == 0 {
			return err // another read was first
		}
		var hash string
		res.BuyerToken, hash = lobby.NewToken(lobby.TokenBuyer)
		_, err = tx.ExecContext(ctx, `UPDATE subscriptions SET token_hash = $1, updated_at = $2 WHERE id = $3`, hash, tx.now, c.SubscriptionID)
		return err
	})
	if err != nil {
		return nil, err
	}
	res.Subscription, err = s.FindSubscription(ctx, userID, c.SubscriptionID)
	return res, err
}

// CompleteCheckout implements lobby.SubscriptionService.
func (s *SubscriptionService) CompleteCheckout(ctx context.Context, id, userID string) error {
	return s.db.tx(ctx, func(tx *Tx) error {
		_, err := s.db.completeCheckout(ctx, tx, id, userID)
		return err
	})
}

// completeCheckout is CompleteCheckout in tx. It returns the subscription the checkout
// made, now or before; "" for a purchase of credits, which makes none.
func (db *DB) completeCheckout(ctx context.Context, tx *Tx, id, userID string) (string, error) {
	c, _, err := scanCheckout(tx.QueryRowContext(ctx, `SELECT `+checkoutColumns+` FROM checkouts WHERE id = $1`+db.dialect.ForUpdate(), id))
	if errors.Is(err, sql.ErrNoRows) {
		return "", db.completeCreditCheckout(ctx, tx, id, userID)
	}
	if err == nil && userID != "" && c.UserID != userID {
		err = sql.ErrNoRows // another buyer's checkout does not exist for this one
	}
	if err != nil {
		return "", notFound(err, "no checkout %q of yours", id)
	}
	switch c.StatusAt(tx.now) {
	case lobby.CheckoutComplete:
		return c.SubscriptionID, nil
	case lobby.CheckoutExpired:
		return "", lobby.Errorf(lobby.ECONFLICT, "checkout %s expired at %s; subscribe again for a new one", c.ID, c.ExpiresAt.Format(time.RFC3339))
	}
	if _, err := db.heldSubscription(ctx, tx, c.UserID, c.ConsultantID); err == nil {
		return "", lobby.Errorf(lobby.ECONFLICT, "you already hold an active subscription to this consultant; see GET /api/v1/subscriptions")
	} else if lobby.ErrorCode(err) != lobby.ENOTFOUND {
		return "", err
	}
	// A consultant archived since the checkout opened takes no new subscriber by a
	// confirmation; a payment the provider already took is served one period.
	var archived sql.NullTime
	if err := tx.QueryRowContext(ctx, `SELECT archived_at FROM consultants WHERE id = $1`, c.ConsultantID).Scan(&archived); err != nil {
		return "", err
	}
	if archived.Valid && userID != "" {
		return "", lobby.Errorf(lobby.ECONFLICT, "this consultant was archived after the checkout opened: it takes no new subscribers")
	}
	subID := lobby.NewID(lobby.PrefixSubscription)
	_, err = tx.ExecContext(ctx, `INSERT INTO subscriptions (id, user_id, consultant_id, checkout_id, tier, price_cents, currency,
		message_cap, per, messages_used, status, cancel_at_period_end, period_start, period_end, renews_itself, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $12, $13, $14, $15, $16)`,
		subID, c.UserID, c.ConsultantID, c.ID, c.Plan.Tier, c.Plan.PriceCents, c.Plan.Currency, c.Plan.MessageCap, c.Plan.Per,
		lobby.SubscriptionActive, archived.Valid, tx.now, tx.now.Add(lobby.SubscriptionPeriod), c.RenewsItself, tx.now, tx.now)
	if err != nil {
		if db.dialect.IsUniqueViolation(err) {
			return "", lobby.Errorf(lobby.ECONFLICT, "you already hold an active subscription to this consultant; see GET /api/v1/subscriptions")
		}
		return "", err
	}
	_, err = tx.ExecContext(ctx, `UPDATE checkouts SET status = $1, subscription_id = $2, completed_at = $3 WHERE id = $4`,
		lobby.CheckoutComplete, subID, tx.now, c.ID)
	return subID, err
}

const subscriptionColumns = `id, user_id, consultant_id, tier, price_cents, currency, message_cap, per, messages_used, status,
	cancel_at_period_end, period_start, period_end, renews_itself, provider_ref, pending_tier, pending_price_cents, pending_message_cap, created_at`

func scanSubscription(row scanner) (*lobby.Subscription, error) {
	var s lobby.Subscription
	var cap, pendingCap sql.NullInt64
	var ref sql.NullString
	var pending lobby.Plan
	err := row.Scan(&s.ID, &s.UserID, &s.ConsultantID, &s.Tier, &s.PriceCents, &s.Currency, &cap, &s.Per, &s.MessagesUsed, &s.Status,
		&s.CancelAtPeriodEnd, &s.PeriodStart, &s.PeriodEnd, &s.RenewsItself, &ref, &pending.Tier, &pending.PriceCents, &pendingCap, &s.CreatedAt)
	if err != nil {
		return nil, err
	}
	s.ProviderRef = ref.String
	if cap.Valid {
		s.MessageCap = &cap.Int64
	}
	if pending.Tier != "" {
		pending.Currency = s.Currency // a move keeps the currency
		if pendingCap.Valid {
			pending.MessageCap = &pendingCap.Int64
		}
		s.PendingPlan = &pending
	}
	s.PeriodStart, s.PeriodEnd, s.CreatedAt = s.PeriodStart.UTC(), s.PeriodEnd.UTC(), s.CreatedAt.UTC()
	return &s, nil
}

// FindSubscriptions implements lobby.SubscriptionService.
func (s *SubscriptionService) FindSubscriptions(ctx context.Context, f lobby.SubscriptionFilter) ([]*lobby.Subscription, string, error) {
	subs, next, err := keyPage(ctx, s.db, keyQuery{columns: subscriptionColumns, table: "subscriptions", column: "user_id", value: f.UserID,
		limit: f.Limit, cursor: f.Cursor}, scanSubscription, func(sub *lobby.Subscription) string { return sub.ID })
	now := s.db.now()
	for i, sub := range subs {
		at := sub.At(now)
		subs[i] = &at
	}
	return subs, next, err
}

// FindSubscription implements lobby.SubscriptionService.
func (s *SubscriptionService) FindSubscription(ctx context.Context, userID, id string) (*lobby.Subscription, error) {
	sub, err := scanSubscription(s.db.read.QueryRowContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE id = $1 AND user_id = $2`, id, userID))
	if err != nil {
		return nil, notFound(err, "no subscription %q of yours; list yours at GET /api/v1/subscriptions", id)
	}
	at := sub.At(s.db.now())
	return &at, nil
}

// FindHeldSubscription implements lobby.SubscriptionService.
func (s *SubscriptionService) FindHeldSubscription(ctx context.Context, userID, consultantID string) (*lobby.Subscription, error) {
	sub, err := scanSubscription(s.db.read.QueryRowContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions
		WHERE user_id = $1 AND consultant_id = $2 AND status IN ('active', 'past_due')`, userID, consultantID))
	if err == nil {
		if at := sub.At(s.db.now()); at.Held() {
			return &at, nil
		}
	}
	return nil, notFound(cmpErr(err, sql.ErrNoRows), "you hold no subscription to this consultant")
}

// mySubscription loads userID's subscription in tx, as it stands now.
func (db *DB) mySubscription(ctx context.Context, tx *Tx, userID, id string) (*lobby.Subscription, error) {
	s, err := scanSubscription(tx.QueryRowContext(ctx, `SELECT `+subscriptionColumns+` FROM subscriptions WHERE id = $1 AND user_id = $2`+db.dialect.ForUpdate(), id, userID))
	if err != nil {
		return nil, notFound(err, "no subscription %q of yours; list yours at GET /api/v1/subscriptions", id)
	}
	at, err := advance(ctx, tx, s)
	if err != nil {
		return nil, err
	}
	if !at.Held() {
		return nil, lobby.Errorf(lobby.ECONFLICT, "subscription %s has ended; subscribe again", id)
	}
	return at, nil
}

// RotateBuyerToken implements lobby.SubscriptionService.
func (s *SubscriptionService) RotateBuyerToken(ctx context.Context, userID, id string) (string, error) {
	var token string
	err := s.db.tx(ctx, func(tx *Tx) error {
		if _, err := s.db.mySubscription(ctx, tx, userID, id); err != nil {
			return err
		}
		var old sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT token_hash FROM subscriptions WHERE id = $1`, id).Scan(&old); err != nil {
			return err
		}
		var hash string
		token, hash = lobby.NewToken(lobby.TokenBuyer)
		if _, err := tx.ExecContext(ctx, `UPDATE subscriptions SET token_hash = $1, updated_at = $2 WHERE id = $3`, hash, tx.now, id); err != nil {
			return err
		}
		if old.Valid && old.String != "" {
			tx.publish(lobby.CredentialRevoked(old.String)) // its streams end at once
		}
		// A checkout not read yet must not make another token later.
		_, err := tx.ExecContext(ctx, `UPDATE checkouts SET token_revealed = TRUE WHERE subscription_id = $1`, id)
		return err
	})
	return token, err
}

// CancelSubscription implements lobby.SubscriptionService.
func (s *SubscriptionService) CancelSubscription(ctx context.Context, userID, id string) (*lobby.Subscription, error) {
	return s.setCancel(ctx, userID, id, true)
}

// ResumeSubscription implements lobby.SubscriptionService.
func (s *SubscriptionService) ResumeSubscription(ctx context.Context, userID, id string) (*lobby.Subscription, error) {
	return s.setCancel(ctx, userID, id, false)
}

func (s *SubscriptionService) setCancel(ctx context.Context, userID, id string, cancel bool) (*lobby.Subscription, error) {
	var sub *lobby.Subscription
	err := s.db.tx(ctx, func(tx *Tx) error {
		var err error
		if sub, err = s.db.mySubscription(ctx, tx, userID, id); err != nil {
			return err
		}
		sub.CancelAtPeriodEnd = cancel
		_, err = tx.ExecContext(ctx, `UPDATE subscriptions SET cancel_at_period_end = $1, updated_at = $2 WHERE id = $3`, cancel, tx.now, id)
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, lobby.Errorf(lobby.ENOTFOUND, "no subscription %q of yours", id)
	}
	return sub, err
}
