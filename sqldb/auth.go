package sqldb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/lobby-dev/lobby"
)

// AuthService signs users in and authenticates their tokens.
type AuthService struct{ db *DB }

var _ lobby.AuthService = (*AuthService)(nil)

func codeHash(email, code string) string { return lobby.HashToken(email + "\x00" + code) }

func newLoginCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return fmt.Sprintf("%06d", n.Int64())
}

// locked reports whether email has failed LoginFailureLimit verifications in its
// current window.
func locked(ctx context.Context, tx *Tx, email string) (bool, error) {
	var failures int
	var start time.Time
	err := tx.QueryRowContext(ctx, `SELECT failures, window_start FROM login_failures WHERE email = $1`, email).Scan(&failures, &start)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil && failures >= lobby.LoginFailureLimit && tx.now.Before(start.Add(lobby.LoginFailureWindow)), err
}

// CreateLoginCode implements lobby.AuthService.
func (s *AuthService) CreateLoginCode(ctx context.Context, email string) (string, error) {
	var code string
	err := s.db.tx(ctx, func(tx *Tx) error {
		if l, err := locked(ctx, tx, email); err != nil || l {
			return err
		}
		// One statement decides between concurrent requests: the first inserts, and a
		// later one replaces the code only when the stored one is old enough to resend.
		fresh := newLoginCode()
		res, err := tx.ExecContext(ctx, `INSERT INTO login_codes (email, code_hash, attempts, expires_at, created_at)
			VALUES ($1, $2, 0, $3, $4)
			ON CONFLICT (email) DO UPDATE SET code_hash = excluded.code_hash, attempts = 0,
				expires_at = excluded.expires_at, created_at = excluded.created_at
			WHERE login_codes.created_at <= $5`,
			email, codeHash(email, fresh), tx.now.Add(lobby.LoginCodeTTL), tx.now, tx.now.Add(-lobby.LoginCodeResendAfter))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		code = fresh
		return nil
	})
	if err != nil {
		return "", err
	}
	return code, nil
}

// VerifyLoginCode implements lobby.AuthService.
func (s *AuthService) VerifyLoginCode(ctx context.Context, email, code string) (string, *lobby.User, error) {
	var (
		token   string
		user    lobby.User
		refused bool // committed with the transaction: a wrong try must count
	)
	err := s.db.tx(ctx, func(tx *Tx) error {
		if l, err := locked(ctx, tx, email); err != nil || l {
			refused = l
			return err
		}
		var hash string
		var attempts int
		var expires time.Time
		err := tx.QueryRowContext(ctx, `SELECT code_hash, attempts, expires_at FROM login_codes WHERE email = $1`+s.db.dialect.ForUpdate(),
			email).Scan(&hash, &attempts, &expires)
		switch {
		case errors.Is(err, sql.ErrNoRows), err == nil && (!tx.now.Before(expires) || attempts >= lobby.LoginCodeMaxAttempts):
			refused = true
			return nil
		case err != nil:
			return err
		case !lobby.EqualHash(hash, codeHash(email, code)):
			refused = true
			if _, err := tx.ExecContext(ctx, `UPDATE login_codes SET attempts = attempts + 1 WHERE email = $1`, email); err != nil {
				return err
			}
			// A failure of the email, in a window that starts again once an hour has passed.
			_, err := tx.ExecContext(ctx, `INSERT INTO login_failures (email, failures, window_start) VALUES ($1, 1, $2)
				ON CONFLICT (email) DO UPDATE SET
					failures = CASE WHEN login_failures.window_start <= $3 THEN 1 ELSE login_failures.failures + 1 END,
					window_start = CASE WHEN login_failures.window_start <= $3 THEN excluded.window_start ELSE login_failures.window_start END`,
				email, tx.now, tx.now.Add(-lobby.LoginFailureWindow))
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_failures WHERE email = $1`, email); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM login_codes WHERE email = $1`, email); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, created_at) VALUES ($1, $2, $3) ON CONFLICT (email) DO NOTHING`,
			lobby.NewID(lobby.PrefixUser), email, tx.now); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT id, email, created_at FROM users WHERE email = $1`, email).
			Scan(&user.ID, &user.Email, &user.CreatedAt); err != nil {
			return err
		}
		var hashed string
		token, hashed = lobby.NewToken(lobby.TokenUser)
		_, err = tx.ExecContext(ctx, `INSERT INTO sessions (id, user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
			lobby.NewID(lobby.PrefixSession), user.ID, hashed, tx.now, tx.now.Add(lobby.SessionTTL))
		return err
	})
	if err != nil {
		return "", nil, err
	}
	if refused {
		return "", nil, lobby.ErrLoginCode()
	}
	user.CreatedAt = user.CreatedAt.UTC()
	return token, &user, nil
}

func badToken() error {
	return lobby.Errorf(lobby.EUNAUTHORIZED, "the bearer token is unknown, revoked or expired; sign in again or use a current token")
}

// Authenticate implements lobby.AuthService.
func (s *AuthService) Authenticate(ctx context.Context, token string) (*lobby.Principal, error) {
	hash := lobby.HashToken(token)
	now := s.db.now()
	var stored string
	p := &lobby.Principal{Kind: lobby.CallerOfToken(token)}
	switch p.Kind {
	case lobby.CallerUser:
		var expires time.Time
		err := s.db.read.QueryRowContext(ctx, `SELECT id, user_id, token_hash, expires_at FROM sessions WHERE token_hash = $1`, hash).
			Scan(&p.SessionID, &p.UserID, &stored, &expires)
		if err != nil || !now.Before(expires) {
			return nil, tokenErr(err)
		}
	case lobby.CallerBuyer:
		var sub lobby.Subscription
		const columns = `s.id, s.user_id, s.consultant_id, s.status, s.cancel_at_period_end, s.period_start, s.period_end, s.renews_itself`
		var row *sql.Row
		if lobby.TokenKind(token) == lobby.TokenPage {
			// A page's token lives as long as itself and its session.
			row = s.db.read.QueryRowContext(ctx, `SELECT pt.token_hash, `+columns+` FROM page_tokens pt
				JOIN subscriptions s ON s.id = pt.subscription_id
				JOIN sessions se ON se.id = pt.session_id AND se.user_id = s.user_id
				WHERE pt.token_hash = $1 AND pt.expires_at > $2 AND se.expires_at > $2`, hash, now)
		} else {
			row = s.db.read.QueryRowContext(ctx, `SELECT s.token_hash, `+columns+` FROM subscriptions s WHERE s.token_hash = $1`, hash)
		}
		err := row.Scan(&stored, &sub.ID, &sub.UserID, &sub.ConsultantID, &sub.Status, &sub.CancelAtPeriodEnd, &sub.PeriodStart, &sub.PeriodEnd, &sub.RenewsItself)
		if err != nil {
			return nil, tokenErr(err)
		}
		if !sub.At(now).Held() {
			return nil, lobby.Errorf(lobby.EUNAUTHORIZED, "this buyer token's subscription has ended; subscribe again to keep consulting")
		}
		p.SubscriptionID, p.UserID, p.ConsultantID = sub.ID, sub.UserID, sub.ConsultantID
	case lobby.CallerConsultant:
		var id string
		var used sql.NullTime
		err := s.db.read.QueryRowContext(ctx, `SELECT id, consultant_id, token_hash, last_used_at FROM consultant_keys
			WHERE token_hash = $1 AND (revoked_at IS NULL OR revoked_at > $2)`, hash, now).
			Scan(&id, &p.ConsultantID, &stored, &used)
		if err != nil {
			return nil, tokenErr(err)
		}
		if !used.Valid || now.Sub(used.Time) >= lobby.KeyUseResolution {
			// At most one write a key a minute. It is a record, not a rule: a failed
			// write is not a failed request.
			s.db.write.ExecContext(ctx, `UPDATE consultant_keys SET last_used_at = $1 WHERE id = $2`, now, id)
		}
	default:
		return nil, lobby.Errorf(lobby.EUNAUTHORIZED, "the bearer token is not a Lobby token; it must start with cl_user_, cl_buyer_, cl_consultant_ or cl_page_")
	}
	if !lobby.EqualHash(stored, hash) {
		return nil, badToken()
	}
	p.Credential = hash
	return p, nil
}

func tokenErr(err error) error {
	if err == nil || errors.Is(err, sql.ErrNoRows) {
		return badToken()
	}
	return err
}

// CreatePageToken implements lobby.AuthService. The session's expired page tokens go
// as a new one comes, so that a page loaded often keeps few rows.
func (s *AuthService) CreatePageToken(ctx context.Context, sessionID, subscriptionID string) (string, error) {
	token, hash := lobby.NewToken(lobby.TokenPage)
	err := s.db.tx(ctx, func(tx *Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM page_tokens WHERE session_id = $1 AND expires_at <= $2`, sessionID, tx.now); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO page_tokens (token_hash, session_id, subscription_id, created_at, expires_at)
			SELECT $1, se.id, s.id, $2, $3 FROM sessions se JOIN subscriptions s ON s.user_id = se.user_id WHERE se.id = $4 AND s.id = $5`,
			hash, tx.now, tx.now.Add(lobby.PageTokenTTL), sessionID, subscriptionID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return cmpErr(err, lobby.Errorf(lobby.ENOTFOUND, "no subscription %q of yours", subscriptionID))
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// cmpErr returns err, or else fallback.
func cmpErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

// RevokeSession implements lobby.AuthService.
func (s *AuthService) RevokeSession(ctx context.Context, sessionID string) error {
	return s.db.tx(ctx, func(tx *Tx) error {
		var hash string
		err := tx.QueryRowContext(ctx, `SELECT token_hash FROM sessions WHERE id = $1`, sessionID).Scan(&hash)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // revoked already
		} else if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id = $1`, sessionID); err != nil {
			return err
		}
		tx.publish(lobby.CredentialRevoked(hash))
		// The session's pages stop at once too: their streams end with their tokens.
		rows, err := tx.QueryContext(ctx, `DELETE FROM page_tokens WHERE session_id = $1 RETURNING token_hash`, sessionID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var page string
			if err := rows.Scan(&page); err != nil {
				return err
			}
			tx.publish(lobby.CredentialRevoked(page))
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return nil
	})
}

// FindUserByID implements lobby.AuthService.
func (s *AuthService) FindUserByID(ctx context.Context, id string) (*lobby.User, error) {
	var u lobby.User
	err := s.db.read.QueryRowContext(ctx, `SELECT id, email, created_at FROM users WHERE id = $1`, id).Scan(&u.ID, &u.Email, &u.CreatedAt)
	if err != nil {
		return nil, notFound(err, "user %q not found", id)
	}
	u.CreatedAt = u.CreatedAt.UTC()
	return &u, nil
}
