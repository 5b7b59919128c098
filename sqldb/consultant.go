package sqldb

import (
	"context"
	"database/sql"
	"strings"
	"time"
	"unicode"

	"github.com/lobby-dev/lobby"
)

// ConsultantService keeps consultants and the catalog.
type ConsultantService struct{ db *DB }

var _ lobby.ConsultantService = (*ConsultantService)(nil)

const consultantColumns = consultantFields + `,
	(SELECT count(*) FROM subscriptions s WHERE s.consultant_id = c.id AND s.status = 'active'),
	EXISTS (SELECT 1 FROM documents d WHERE d.consultant_id = c.id AND d.status = 'ready')`

// consultantFields are the consultant's own columns, before its figures.
const consultantFields = `c.id, c.slug, c.owner_id, c.name, c.tagline, c.description, c.category, c.tags,
	c.system_prompt, c.mode, c.webhook_url, c.webhook_secret, c.model, c.created_at, c.updated_at,
	c.previous_webhook_secret, c.previous_secret_until, c.webhook_disabled_at, c.webhook_disabled_reason, c.archived_at`

type scanner interface{ Scan(dest ...any) error }

// withColumns is row with more columns after those its scan function reads, which are
// scanned into extra.
func withColumns(row scanner, extra ...any) scanner { return extraColumns{row, extra} }

type extraColumns struct {
	row   scanner
	extra []any
}

func (e extraColumns) Scan(dest ...any) error { return e.row.Scan(append(dest, e.extra...)...) }

func scanConsultant(row scanner) (*lobby.Consultant, error) {
	var c lobby.Consultant
	var tags string
	var until, disabled, archived sql.NullTime
	err := row.Scan(&c.ID, &c.Slug, &c.OwnerID, &c.Name, &c.Tagline, &c.Description, &c.Category, &tags,
		&c.SystemPrompt, &c.Mode, &c.WebhookURL, &c.WebhookSecret, &c.Model, &c.CreatedAt, &c.UpdatedAt,
		&c.PreviousWebhookSecret, &until, &disabled, &c.WebhookDisabledReason, &archived, &c.Stats.Subscribers, &c.HasKnowledge)
	if err != nil {
		return nil, err
	}
	c.PreviousSecretUntil, c.WebhookDisabledAt, c.ArchivedAt = timePtr(until), timePtr(disabled), timePtr(archived)
	c.Tags = strings.Fields(tags)
	c.CreatedAt, c.UpdatedAt = c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return &c, nil
}

// CreateConsultant implements lobby.ConsultantService.
func (s *ConsultantService) CreateConsultant(ctx context.Context, c *lobby.Consultant, opt lobby.ValidateOptions) (string, error) {
	c.Normalize()
	if len(c.Plans) == 0 {
		c.Plans = lobby.DefaultPlans()
	}
	if err := c.Validate(opt); err != nil {
		return "", err
	}
	if c.Mode.Signs() && c.WebhookSecret == "" {
		c.WebhookSecret = lobby.NewWebhookSecret()
	}
	key, keyHash := lobby.NewToken(lobby.TokenConsultant)
	err := s.db.tx(ctx, func(tx *Tx) error {
		if err := lockUser(ctx, tx, c.OwnerID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM consultants WHERE owner_id = $1`, c.OwnerID).Scan(&n); err != nil {
			return err
		}
		if n >= lobby.MaxConsultantsPerUser {
			return lobby.Errorf(lobby.ECONFLICT, "you have listed %d consultants, the most one user may (archived ones count); write to the operators to raise it", n)
		}
		c.ID = lobby.NewID(lobby.PrefixConsultant)
		c.CreatedAt, c.UpdatedAt = tx.now, tx.now
		_, err := tx.ExecContext(ctx, `INSERT INTO consultants (id, slug, owner_id, name, tagline, description, category, tags,
			system_prompt, mode, webhook_url, webhook_secret, model, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			c.ID, c.Slug, c.OwnerID, c.Name, c.Tagline, c.Description, c.Category, strings.Join(c.Tags, " "),
			c.SystemPrompt, c.Mode, c.WebhookURL, c.WebhookSecret, c.Model, c.CreatedAt, c.UpdatedAt)
		if err != nil {
			return s.db.slugConflict(err, c.Slug)
		}
		if err := insertPlans(ctx, tx, c.ID, c.Plans); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO consultant_keys (id, consultant_id, token_hash, created_at) VALUES ($1, $2, $3, $4)`,
			lobby.NewID(lobby.PrefixKey), c.ID, keyHash, tx.now)
		return err
	})
	if err != nil {
		return "", err
	}
	return key, nil
}

func (db *DB) slugConflict(err error, slug string) error {
	if db.dialect.IsUniqueViolation(err) {
		return lobby.Errorf(lobby.ECONFLICT, "slug %q is taken; choose another", slug)
	}
	return err
}

func insertPlans(ctx context.Context, tx *Tx, consultantID string, plans []lobby.Plan) error {
	for i, p := range plans {
		_, err := tx.ExecContext(ctx, `INSERT INTO plans (consultant_id, tier, position, price_cents, currency, message_cap, per)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, consultantID, p.Tier, i, p.PriceCents, p.Currency, p.MessageCap, p.Per)
		if err != nil {
			return err
		}
	}
	return nil
}

// loadPlans fills in the plans of each consultant in cs with one query.
func loadPlans(ctx context.Context, q querier, cs []*lobby.Consultant) error {
	if len(cs) == 0 {
		return nil
	}
	byID := make(map[string]*lobby.Consultant, len(cs))
	args := make([]any, len(cs))
	for i, c := range cs {
		byID[c.ID] = c
		c.Plans = []lobby.Plan{}
		args[i] = c.ID
	}
	rows, err := q.QueryContext(ctx, `SELECT consultant_id, tier, price_cents, currency, message_cap, per FROM plans
		WHERE consultant_id IN (`+placeholders(1, len(args))+`) ORDER BY consultant_id, position`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var p lobby.Plan
		var cap sql.NullInt64
		if err := rows.Scan(&id, &p.Tier, &p.PriceCents, &p.Currency, &cap, &p.Per); err != nil {
			return err
		}
		if cap.Valid {
			p.MessageCap = &cap.Int64
		}
		byID[id].Plans = append(byID[id].Plans, p)
	}
	return rows.Err()
}

func (db *DB) findConsultant(ctx context.Context, q querier, where string, arg any, forUpdate string) (*lobby.Consultant, error) {
	c, err := scanConsultant(q.QueryRowContext(ctx, `SELECT `+consultantColumns+` FROM consultants c WHERE `+where+forUpdate, arg))
	if err != nil {
		return nil, notFound(err, "no consultant %q; check the slug or id", arg)
	}
	if err := loadPlans(ctx, q, []*lobby.Consultant{c}); err != nil {
		return nil, err
	}
	return c, nil
}

// FindConsultantBySlug implements lobby.ConsultantService.
func (s *ConsultantService) FindConsultantBySlug(ctx context.Context, slug string) (*lobby.Consultant, error) {
	return s.db.findConsultant(ctx, s.db.read, "c.slug = $1", slug, "")
}

// FindConsultantByID implements lobby.ConsultantService.
func (s *ConsultantService) FindConsultantByID(ctx context.Context, id string) (*lobby.Consultant, error) {
	return s.db.findConsultant(ctx, s.db.read, "c.id = $1", id, "")
}

// FindConsultantForWork implements lobby.ConsultantService: its subscribers are not
// counted, nor its plans read.
func (s *ConsultantService) FindConsultantForWork(ctx context.Context, id string) (*lobby.Consultant, error) {
	c, err := scanConsultant(s.db.read.QueryRowContext(ctx, `SELECT `+consultantFields+`, 0,
		EXISTS (SELECT 1 FROM documents d WHERE d.consultant_id = c.id AND d.status = 'ready') FROM consultants c WHERE c.id = $1`, id))
	return c, notFound(err, "no consultant %q; check the slug or id", id)
}

// searchWords splits a catalog query into at most 8 lower-case words of letters and
// digits: everything else is a separator, so no query syntax reaches the database.
func searchWords(q string) []string {
	words := strings.FieldsFunc(strings.ToLower(q), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	if len(words) > 8 {
		words = words[:8]
	}
	return words
}

// FindConsultants implements lobby.ConsultantService.
func (s *ConsultantService) FindConsultants(ctx context.Context, f lobby.ConsultantFilter) ([]*lobby.Consultant, string, error) {
	n := limit(f.Limit)
	var (
		where []string
		args  []any
		query string
	)
	arg := func(v any) string {
		args = append(args, v)
		return placeholders(len(args), 1)
	}
	words := searchWords(f.Query)
	if len(words) > 0 {
		offset, err := parseOffsetCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		match := s.db.dialect.TextSearch("consultants", "c", "$1", words, false, "")
		arg(match.Query) // $1
		where = append(where, match.Where)
		query = `SELECT ` + consultantColumns + ` FROM consultants c ` + match.Join + ` WHERE %s ORDER BY ` +
			match.Rank + `, c.id DESC LIMIT ` + arg(n+1) + ` OFFSET ` + arg(offset)
	} else {
		after, err := parseKeyCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		if after != "" {
			where = append(where, "c.id < "+arg(after))
		}
		query = `SELECT ` + consultantColumns + ` FROM consultants c WHERE %s ORDER BY c.id DESC LIMIT ` + arg(n+1)
	}
	if f.Category != "" {
		where = append(where, "c.category = "+arg(strings.ToLower(strings.TrimSpace(f.Category))))
	}
	if f.OwnerID != "" {
		where = append(where, "c.owner_id = "+arg(f.OwnerID))
	} else {
		where = append(where, "c.archived_at IS NULL")
	}
	// The placeholders were numbered as the arguments were added; the search's query
	// text is always $1, so the limit and offset may come before the filters' numbers.
	cs, err := queryAll(ctx, s.db.read, scanConsultant, strings.Replace(query, "%s", strings.Join(where, " AND "), 1), args...)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(cs) > n {
		cs = cs[:n]
		if len(words) > 0 {
			offset, _ := parseOffsetCursor(f.Cursor)
			next = offsetCursor(offset + n)
		} else {
			next = keyCursor(cs[n-1].ID)
		}
	}
	if err := loadPlans(ctx, s.db.read, cs); err != nil {
		return nil, "", err
	}
	return cs, next, nil
}

// UpdateConsultant implements lobby.ConsultantService.
func (s *ConsultantService) UpdateConsultant(ctx context.Context, id string, upd lobby.ConsultantUpdate, opt lobby.ValidateOptions) (*lobby.Consultant, string, error) {
	var c *lobby.Consultant
	var secret string
	err := s.db.tx(ctx, func(tx *Tx) error {
		var err error
		if c, err = s.db.findConsultant(ctx, tx, "c.id = $1", id, s.db.dialect.ForUpdate()); err != nil {
			return err
		}
		was := c.Mode
		upd.Apply(c)
		if upd.WebhookURL != nil { // setting the URL, even to the same one, enables it again
			c.WebhookDisabledAt, c.WebhookDisabledReason = nil, ""
		}
		c.Normalize()
		if err := c.Validate(opt); err != nil {
			return err
		}
		if c.Mode.Signs() && c.WebhookSecret == "" {
			c.WebhookSecret = lobby.NewWebhookSecret()
			secret = c.WebhookSecret
		}
		c.UpdatedAt = tx.now
		_, err = tx.ExecContext(ctx, `UPDATE consultants SET slug = $1, name = $2, tagline = $3, description = $4, category = $5,
			tags = $6, system_prompt = $7, mode = $8, webhook_url = $9, webhook_secret = $10, model = $11, updated_at = $12,
			webhook_disabled_at = $13, webhook_disabled_reason = $14 WHERE id = $15`,
			c.Slug, c.Name, c.Tagline, c.Description, c.Category, strings.Join(c.Tags, " "), c.SystemPrompt, c.Mode,
			c.WebhookURL, c.WebhookSecret, c.Model, c.UpdatedAt, c.WebhookDisabledAt, c.WebhookDisabledReason, c.ID)
		if err != nil {
			return s.db.slugConflict(err, c.Slug)
		}
		if err := s.db.moveDeliveries(ctx, tx, c.ID, was, c.Mode); err != nil {
			return err
		}
		if upd.Plans != nil {
			if _, err := tx.ExecContext(ctx, `DELETE FROM plans WHERE consultant_id = $1`, c.ID); err != nil {
				return err
			}
			return insertPlans(ctx, tx, c.ID, c.Plans)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return c, secret, nil
}

// RotateKey implements lobby.ConsultantService.
func (s *ConsultantService) RotateKey(ctx context.Context, consultantID string, overlap time.Duration) (string, *time.Time, error) {
	if overlap < 0 || overlap > lobby.MaxKeyOverlap {
		return "", nil, lobby.Errorf(lobby.EINVALID, "overlap_seconds must be from 0 to %d (a day)", int(lobby.MaxKeyOverlap.Seconds()))
	}
	key, hash := lobby.NewToken(lobby.TokenConsultant)
	var until *time.Time
	err := s.db.tx(ctx, func(tx *Tx) error {
		if _, err := s.db.findConsultant(ctx, tx, "c.id = $1", consultantID, s.db.dialect.ForUpdate()); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM consultant_keys WHERE consultant_id = $1`, consultantID).Scan(&n); err != nil {
			return err
		}
		if n >= lobby.MaxKeysPerConsultant {
			return lobby.Errorf(lobby.ECONFLICT, "this consultant has had %d keys, the most one may; write to the operators", n)
		}
		end := tx.now.Add(overlap)
		if overlap == 0 { // the keys stopping now end their streams at once
			hashes, err := queryAll(ctx, tx, func(row scanner) (*string, error) {
				var h string
				return &h, row.Scan(&h)
			}, `SELECT token_hash FROM consultant_keys WHERE consultant_id = $1 AND (revoked_at IS NULL OR revoked_at > $2)`, consultantID, tx.now)
			if err != nil {
				return err
			}
			for _, h := range hashes {
				tx.publish(lobby.CredentialRevoked(*h))
			}
		}
		// A key already due to stop sooner keeps its earlier end.
		if _, err := tx.ExecContext(ctx, `UPDATE consultant_keys SET revoked_at = $1
			WHERE consultant_id = $2 AND (revoked_at IS NULL OR revoked_at > $1)`, end, consultantID); err != nil {
			return err
		}
		if overlap > 0 {
			until = &end
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO consultant_keys (id, consultant_id, token_hash, created_at) VALUES ($1, $2, $3, $4)`,
			lobby.NewID(lobby.PrefixKey), consultantID, hash, tx.now)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return key, until, nil
}

// FindKeys implements lobby.ConsultantService.
func (s *ConsultantService) FindKeys(ctx context.Context, consultantID string) ([]*lobby.ConsultantKey, error) {
	return queryAll(ctx, s.db.read, func(row scanner) (*lobby.ConsultantKey, error) {
		var k lobby.ConsultantKey
		var used, revoked sql.NullTime
		if err := row.Scan(&k.ID, &k.CreatedAt, &used, &revoked); err != nil {
			return nil, err
		}
		k.CreatedAt, k.LastUsedAt, k.RevokedAt = k.CreatedAt.UTC(), timePtr(used), timePtr(revoked)
		return &k, nil
	}, `SELECT id, created_at, last_used_at, revoked_at FROM consultant_keys WHERE consultant_id = $1 ORDER BY id DESC`, consultantID)
}

// ArchiveConsultant implements lobby.ConsultantService.
func (s *ConsultantService) ArchiveConsultant(ctx context.Context, id string) (*lobby.Consultant, error) {
	var c *lobby.Consultant
	err := s.db.tx(ctx, func(tx *Tx) error {
		var err error
		if c, err = s.db.findConsultant(ctx, tx, "c.id = $1", id, s.db.dialect.ForUpdate()); err != nil || c.Archived() {
			return err
		}
		c.ArchivedAt, c.UpdatedAt = &tx.now, tx.now
		if _, err := tx.ExecContext(ctx, `UPDATE consultants SET archived_at = $1, updated_at = $1 WHERE id = $2`, tx.now, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE subscriptions SET cancel_at_period_end = TRUE, updated_at = $1
			WHERE consultant_id = $2 AND status = $3`, tx.now, id, lobby.SubscriptionActive)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// lockUser holds the user's row for the rest of tx, so that two transactions counting
// what the user has, to bound it, count each other's writes.
func lockUser(ctx context.Context, tx *Tx, userID string) error {
	_, err := tx.ExecContext(ctx, `UPDATE users SET email = email WHERE id = $1`, userID)
	return err
}
