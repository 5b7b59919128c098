package sqldb

import (
	"context"

	"github.com/lobby-dev/lobby"
)

// PaymentRefService keeps what a payment provider made for Lobby's objects. Each save
// is an insert that leaves a row already there alone, then a read of the row that
// stands, so that instances racing to make the same thing all use the first one made.
type PaymentRefService struct{ db *DB }

var _ lobby.PaymentRefService = (*PaymentRefService)(nil)

// FindProductRef implements lobby.PaymentRefService.
func (s *PaymentRefService) FindProductRef(ctx context.Context, consultantID string) (string, error) {
	var ref string
	err := s.db.read.QueryRowContext(ctx, `SELECT ref FROM provider_products WHERE consultant_id = $1`, consultantID).Scan(&ref)
	return ref, notFound(err, "no product of consultant %q at the payment provider yet", consultantID)
}

// SaveProductRef implements lobby.PaymentRefService.
func (s *PaymentRefService) SaveProductRef(ctx context.Context, consultantID, ref string) (string, error) {
	var standing string
	err := s.db.tx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO provider_products (consultant_id, ref, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (consultant_id) DO NOTHING`, consultantID, ref, tx.now); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT ref FROM provider_products WHERE consultant_id = $1`, consultantID).Scan(&standing)
	})
	return standing, err
}

// FindPriceRef implements lobby.PaymentRefService.
func (s *PaymentRefService) FindPriceRef(ctx context.Context, k lobby.PriceKey) (string, error) {
	var ref string
	err := s.db.read.QueryRowContext(ctx, `SELECT ref FROM provider_prices WHERE consultant_id = $1 AND tier = $2 AND price_cents = $3 AND currency = $4`,
		k.ConsultantID, k.Tier, k.PriceCents, k.Currency).Scan(&ref)
	return ref, notFound(err, "no price of %s's %s tier at %d %s at the payment provider yet", k.ConsultantID, k.Tier, k.PriceCents, k.Currency)
}

// SavePriceRef implements lobby.PaymentRefService.
func (s *PaymentRefService) SavePriceRef(ctx context.Context, k lobby.PriceKey, ref string) (string, []string, error) {
	var standing string
	var superseded []string
	err := s.db.tx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO provider_prices (consultant_id, tier, price_cents, currency, ref, created_at)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (consultant_id, tier, price_cents, currency) DO NOTHING`,
			k.ConsultantID, k.Tier, k.PriceCents, k.Currency, ref, tx.now); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT ref, price_cents = $3 AND currency = $4 FROM provider_prices
			WHERE consultant_id = $1 AND tier = $2 ORDER BY created_at, ref`, k.ConsultantID, k.Tier, k.PriceCents, k.Currency)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r string
			var current bool
			if err := rows.Scan(&r, &current); err != nil {
				return err
			}
			if current {
				standing = r
			} else {
				superseded = append(superseded, r)
			}
		}
		return rows.Err()
	})
	return standing, superseded, err
}

// FindPayoutAccount implements lobby.PaymentRefService.
func (s *PaymentRefService) FindPayoutAccount(ctx context.Context, userID string) (*lobby.PayoutAccount, error) {
	return payoutAccount(ctx, s.db.read, userID)
}

// SavePayoutAccount implements lobby.PaymentRefService.
func (s *PaymentRefService) SavePayoutAccount(ctx context.Context, userID, ref string) (*lobby.PayoutAccount, error) {
	var a *lobby.PayoutAccount
	err := s.db.tx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO payout_accounts (user_id, ref, status, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (user_id) DO NOTHING`, userID, ref, lobby.PayoutsPending, tx.now)
		if err != nil {
			return err
		}
		a, err = payoutAccount(ctx, tx, userID)
		return err
	})
	return a, err
}

func payoutAccount(ctx context.Context, q querier, userID string) (*lobby.PayoutAccount, error) {
	a := &lobby.PayoutAccount{UserID: userID}
	err := q.QueryRowContext(ctx, `SELECT ref, status, updated_at FROM payout_accounts WHERE user_id = $1`, userID).
		Scan(&a.Ref, &a.Status, &a.UpdatedAt)
	if err != nil {
		return nil, notFound(err, "no payout account yet: start onboarding with POST /api/v1/consultants/{slug}/payouts")
	}
	a.UpdatedAt = a.UpdatedAt.UTC()
	return a, nil
}
