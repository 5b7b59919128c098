// Package sqldb implements Lobby's services over database/sql, one type per domain
// service over one DB (see DB.Services). The business rules live here once; the sqlite
// and postgres packages supply a Dialect and the connections. Every write runs in one
// transaction, which publishes the events of what it changed once it commits.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
)

// DB is Lobby's store. Reads go to the read pool; every write transaction goes to the
// write pool, which for SQLite is a single connection, so writers queue in Go instead of
// failing with "database is locked".
type DB struct {
	read, write *sql.DB
	dialect     Dialect
	onClose     []func()
	// driver is River's driver over the write pool; jobs inserts through it.
	driver riverdriver.Driver[*sql.Tx]
	jobs   JobInserter
	// Now is the clock; tests set it. It is read once per transaction.
	Now func() time.Time
	// Events is where write transactions publish what they changed, once they commit;
	// nil publishes nothing. Set it before serving.
	Events lobby.EventService
	// ReplyWatch is how long after a managed reply is born its job runs, to produce it
	// again if the process producing it died; 0 runs the job at once.
	ReplyWatch time.Duration
	// FeePercent is the platform's share of each message paid from credits.
	FeePercent float64

	services Services
}

// JobInserter queues background jobs inside a write transaction; a river.Client is one.
// It is an alias of the interface, so that jobs.Store can name the same one without
// importing this package.
type JobInserter = interface {
	InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// New returns a DB over the two pools, which may be the same, with River's driver for
// its job queue. Jobs are inserted by an insert-only client until UseJobs names the
// client that works them.
func New(read, write *sql.DB, d Dialect, driver riverdriver.Driver[*sql.Tx]) (*DB, error) {
	jobs, err := river.NewClient(driver, &river.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("job queue: %w", err)
	}
	db := &DB{read: read, write: write, dialect: d, driver: driver, jobs: jobs, Now: time.Now, FeePercent: lobby.DefaultPlatformFeePercent}
	db.services = Services{Auth: &AuthService{db}, Consultants: &ConsultantService{db}, Subscriptions: &SubscriptionService{db},
		Chat: &ChatService{db}, Deliveries: &DeliveryService{db}, Knowledge: &KnowledgeService{db: db}, PaymentEvents: &PaymentEventService{db}, PaymentRefs: &PaymentRefService{db}, Credits: &CreditService{db}, Activity: &ActivityService{db}}
	return db, nil
}

// Services are Lobby's domain services over one DB.
type Services struct {
	Auth          *AuthService
	Consultants   *ConsultantService
	Subscriptions *SubscriptionService
	Chat          *ChatService
	Deliveries    *DeliveryService
	Knowledge     *KnowledgeService
	PaymentEvents *PaymentEventService
	PaymentRefs   *PaymentRefService
	Credits       *CreditService
	Activity      *ActivityService
}

// Services returns the services over db.
func (db *DB) Services() Services { return db.services }

// Driver returns River's driver, for the client that works the jobs.
func (db *DB) Driver() riverdriver.Driver[*sql.Tx] { return db.driver }

// UseJobs makes j insert the jobs from now on. On SQLite, which has no LISTEN, a
// job inserted by the client that works it is fetched at once instead of at its next
// poll. Call it before serving.
func (db *DB) UseJobs(j JobInserter) { db.jobs = j }

// Dialect returns the name of the database: "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.dialect.Name() }

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

// Tx is a write transaction with its time fixed at its start. It collects the events
// of what it changes, which are published only once it commits.
type Tx struct {
	*sql.Tx
	db         *DB
	now        time.Time
	events     []lobby.Event
	afterwards []func()
}

// publish announces es once tx commits; if it rolls back they are dropped.
func (tx *Tx) publish(es ...lobby.Event) { tx.events = append(tx.events, es...) }

// afterCommit runs f once tx commits, before its events are published.
func (tx *Tx) afterCommit(f func()) { tx.afterwards = append(tx.afterwards, f) }

// tx runs fn in a write transaction, committing when fn returns nil, and then
// publishes the events fn collected. Every write goes through it, so none can forget
// to announce what it changed, or announce a change that rolled back.
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
	for _, f := range tx.afterwards {
		f()
	}
	if db.Events != nil {
		for _, e := range tx.events {
			db.Events.Publish(ctx, e)
		}
	}
	return nil
}

// querier is what reads need: a pool or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queryAll runs query and scans every row it returns.
func queryAll[T any](ctx context.Context, q querier, scan func(scanner) (*T, error), query string, args ...any) ([]*T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var all []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		all = append(all, v)
	}
	return all, rows.Err()
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
	entries, err := fs.ReadDir(db.dialect.Migrations(), ".")
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
		b, err := fs.ReadFile(db.dialect.Migrations(), e.Name())
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
	err = db.tx(ctx, func(tx *Tx) error {
		if lock := db.dialect.LockTx(lockMigrations); lock != "" {
			if _, err := tx.ExecContext(ctx, lock); err != nil {
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
	if err != nil {
		return err
	}
	return db.migrateJobs(ctx)
}

// migrateJobs applies River's migrations, each in a transaction of its own: some add
// enum values that PostgreSQL will not use in the transaction that adds them.
// Instances starting at once take turns under a session lock.
func (db *DB) migrateJobs(ctx context.Context) error {
	migrator, err := rivermigrate.New(db.driver, &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	if lock, unlock := db.dialect.LockSession(lockJobMigrations); lock != "" {
		conn, err := db.write.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, lock); err != nil {
			return fmt.Errorf("lock job queue migrations: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), unlock)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("job queue migrations: %w", err)
	}
	return nil
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

// timePtr returns the time in t, in UTC, or nil when it is NULL.
func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	u := t.Time.UTC()
	return &u
}
