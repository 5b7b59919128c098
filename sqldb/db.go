// Package sqldb implements Lobby's services over database/sql. The business rules live
// here once; the sqlite and postgres packages supply a Dialect and the connections.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lobby-dev/lobby"
)

// Dialect is what differs between the databases.
type Dialect struct {
	Name string
	// Migrations holds NNNN_name.sql files, applied in order of NNNN.
	Migrations fs.FS
	// LockMigrations runs first in the migration transaction, so that instances starting
	// at once apply the migrations one after another ("" when beginning is enough).
	LockMigrations string
	// ForUpdate is appended to a SELECT that a write transaction will change.
	ForUpdate string
	// IsUniqueViolation reports whether err is a unique constraint's violation.
	IsUniqueViolation func(error) bool

	// Catalog search: SearchJoin is joined to "consultants c", SearchWhere filters on
	// the query text in $1, SearchRank is the ORDER BY term that puts the best match
	// first, and SearchQuery turns the user's words into the query text.
	SearchJoin  string
	SearchWhere string
	SearchRank  string
	SearchQuery func(words []string) string
}

// DB is Lobby's store. Reads go to the read pool; every write transaction goes to the
// write pool, which for SQLite is a single connection, so writers queue in Go instead of
// failing with "database is locked".
type DB struct {
	read, write *sql.DB
	dialect     Dialect
	onClose     []func()
	// Now is the clock; tests set it. It is read once per transaction.
	Now func() time.Time
}

var (
	_ lobby.AuthService         = (*DB)(nil)
	_ lobby.ConsultantService   = (*DB)(nil)
	_ lobby.SubscriptionService = (*DB)(nil)
	_ lobby.ChatService         = (*DB)(nil)
)

// New returns a DB over the two pools, which may be the same.
func New(read, write *sql.DB, d Dialect) *DB {
	return &DB{read: read, write: write, dialect: d, Now: time.Now}
}

// Dialect returns the name of the database: "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.dialect.Name }

// OnClose registers f to run when the DB closes, after its pools.
func (db *DB) OnClose(f func()) { db.onClose = append(db.onClose, f) }

// Close closes both pools.
func (db *DB) Close() error {
	err := db.write.Close()
	if db.read != db.write {
		err = errors.Join(err, db.read.Close())
	}
	for _, f := range db.onClose {
		f()
	}
	return err
}

func (db *DB) now() time.Time { return lobby.UTC(db.Now()) }

// Tx is a write transaction with its time fixed at its start.
type Tx struct {
	*sql.Tx
	db  *DB
	now time.Time
}

// tx runs fn in a write transaction, committing when fn returns nil.
func (db *DB) tx(ctx context.Context, fn func(tx *Tx) error) error {
	sqltx, err := db.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{Tx: sqltx, db: db, now: db.now()}
	if err := fn(tx); err != nil {
		sqltx.Rollback()
		return err
	}
	if err := sqltx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// querier is what reads need: a pool or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// notFound turns sql.ErrNoRows into ENOTFOUND with the given message.
func notFound(err error, format string, args ...any) error {
	if errors.Is(err, sql.ErrNoRows) {
		return lobby.Errorf(lobby.ENOTFOUND, format, args...)
	}
	return err
}

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	return errors.Join(db.read.PingContext(ctx), db.write.PingContext(ctx))
}

type migration struct {
	version int
	name    string
	sql     string
}

func (db *DB) migrations() ([]migration, error) {
	entries, err := fs.ReadDir(db.dialect.Migrations, ".")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || !strings.HasSuffix(e.Name(), ".sql") {
			return nil, fmt.Errorf("migration %q: want NNNN_name.sql", e.Name())
		}
		b, err := fs.ReadFile(db.dialect.Migrations, e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// Migrate applies the migrations not applied yet, all in one transaction. Instances
// that start at once wait for each other and apply each migration once.
func (db *DB) Migrate(ctx context.Context) error {
	ms, err := db.migrations()
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx *Tx) error {
		if db.dialect.LockMigrations != "" {
			if _, err := tx.ExecContext(ctx, db.dialect.LockMigrations); err != nil {
				return fmt.Errorf("lock migrations: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		applied, err := appliedVersions(ctx, tx)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if applied[m.version] {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.version, m.name, tx.now.Format(time.RFC3339)); err != nil {
				return fmt.Errorf("record migration %s: %w", m.name, err)
			}
		}
		return nil
	})
}

func appliedVersions(ctx context.Context, q querier) (map[int]bool, error) {
	rows, err := q.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	applied := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		applied[v] = true
	}
	return applied, rows.Err()
}

// Ready returns an error unless the database answers and every migration is applied.
func (db *DB) Ready(ctx context.Context) error {
	ms, err := db.migrations()
	if err != nil {
		return err
	}
	applied, err := appliedVersions(ctx, db.read)
	if err != nil {
		return fmt.Errorf("database not reachable or not migrated: %w", err)
	}
	for _, m := range ms {
		if !applied[m.version] {
			return fmt.Errorf("migration %s is not applied; run lobby migrate", m.name)
		}
	}
	return nil
}

// placeholders returns "$from, $from+1, ..." for n arguments.
func placeholders(from, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", from+i)
	}
	return b.String()
}
