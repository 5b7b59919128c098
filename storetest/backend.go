// Package storetest is the conformance suite every store runs, and the helpers that
// open a fresh store of each kind for a test. It is a non-test package so that the
// sqlite, postgres and http tests share it.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/lobby-dev/lobby/hub"
	"github.com/lobby-dev/lobby/postgres"
	"github.com/lobby-dev/lobby/sqldb"
	"github.com/lobby-dev/lobby/sqlite"
)

// PostgresURLVar names the environment variable with the PostgreSQL server for tests.
const PostgresURLVar = "LOBBY_TEST_POSTGRES_URL"

// Backend opens fresh, migrated stores of one kind for tests.
type Backend struct {
	Name string
	// Open returns a new empty store that is closed and dropped when t ends.
	Open func(t testing.TB) *sqldb.DB
	// OpenShared returns a second store on the same database as db, as a second
	// instance of the server would open it.
	OpenShared func(t testing.TB, db *sqldb.DB) *sqldb.DB
}

// Store opens a fresh store of b for the conformance suite: its services over a new
// empty database, reading a clock of the test's and publishing to a hub of their own.
func (b Backend) Store(t *testing.T) *Store {
	return b.store(t, b.Open(t), NewClock())
}

func (b Backend) store(t *testing.T, db *sqldb.DB, clock *Clock) *Store {
	db.Now = clock.Now
	events := hub.New()
	db.Events = events
	svc := db.Services()
	return &Store{Auth: svc.Auth, Consultants: svc.Consultants, Subscriptions: svc.Subscriptions, Chat: svc.Chat,
		Deliveries: svc.Deliveries, Knowledge: svc.Knowledge, PaymentEvents: svc.PaymentEvents, PaymentRefs: svc.PaymentRefs, Earnings: svc.PaymentEvents, Credits: svc.Credits, Activity: svc.Activity, QueuedJobs: db.QueuedJobs, Events: events, Clock: clock,
		Shared: func(t *testing.T) *Store { return b.store(t, b.OpenShared(t, db), clock) }}
}

// The two backends.
var (
	SQLite   = Backend{Name: "sqlite", Open: OpenSQLite, OpenShared: openSQLiteShared}
	Postgres = Backend{Name: "postgres", Open: OpenPostgres, OpenShared: openPostgresShared}
)

// Backends returns SQLite, and PostgreSQL when LOBBY_TEST_POSTGRES_URL is set.
func Backends() []Backend {
	bs := []Backend{SQLite}
	if os.Getenv(PostgresURLVar) != "" {
		bs = append(bs, Postgres)
	}
	return bs
}

// Run runs f as a subtest once per backend, and says once why PostgreSQL is skipped.
func Run(t *testing.T, f func(t *testing.T, b Backend)) {
	t.Helper()
	if os.Getenv(PostgresURLVar) == "" {
		t.Run("postgres", func(t *testing.T) {
			t.Skipf("PostgreSQL not tested: set %s to a server's URL (CI does)", PostgresURLVar)
		})
	}
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) { f(t, b) })
	}
}

var paths sync.Map // *sqldb.DB → its file or schema URL

// OpenSQLite opens a migrated SQLite store in a temporary directory.
func OpenSQLite(t testing.TB) *sqldb.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "lobby.db")
	db := openSQLite(t, path)
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

func openSQLite(t testing.TB, path string) *sqldb.DB {
	db, err := sqlite.Open(path)
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	paths.Store(db, path)
	t.Cleanup(func() { db.Close() })
	return db
}

func openSQLiteShared(t testing.TB, db *sqldb.DB) *sqldb.DB {
	path, _ := paths.Load(db)
	return openSQLite(t, path.(string))
}

// OpenPostgres creates a schema of its own on the test server, opens a migrated store
// in it and drops the schema when t ends, so runs never see each other's rows.
func OpenPostgres(t testing.TB) *sqldb.DB {
	t.Helper()
	base := os.Getenv(PostgresURLVar)
	if base == "" {
		t.Skipf("PostgreSQL not tested: set %s to a server's URL (CI does)", PostgresURLVar)
	}
	ctx := context.Background()
	b := make([]byte, 8)
	rand.Read(b)
	schema := "lobbytest_" + hex.EncodeToString(b)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", PostgresURLVar, err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if conn, err := pgx.Connect(ctx, base); err == nil {
			conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			conn.Close(ctx)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresURLVar, err)
	}
	q := u.Query()
	q.Set("search_path", schema+",public") // public holds the database's extensions, pgvector's types
	u.RawQuery = q.Encode()
	db := openPostgres(t, u.String())
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

func openPostgres(t testing.TB, url string) *sqldb.DB {
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	paths.Store(db, url)
	t.Cleanup(func() { db.Close() })
	return db
}

func openPostgresShared(t testing.TB, db *sqldb.DB) *sqldb.DB {
	url, _ := paths.Load(db)
	return openPostgres(t, url.(string))
}

// Clock is a settable clock for a store's Now.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at a fixed moment, in UTC.
func NewClock() *Clock { return &Clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Add moves the clock forward by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// DSN returns the --database a test store was opened from: sqlite:PATH or its URL.
func DSN(db *sqldb.DB) string {
	loc := Location(db)
	if strings.HasPrefix(loc, "postgres://") || strings.HasPrefix(loc, "postgresql://") {
		return loc
	}
	return "sqlite:" + loc
}

// Location returns the file or URL a test store was opened on.
func Location(db *sqldb.DB) string {
	loc, _ := paths.Load(db)
	s, _ := loc.(string)
	return s
}

// StripeURLVar names the environment variable with a stripe-mock server for tests.
const StripeURLVar = "LOBBY_TEST_STRIPE_URL"

// StripeMock returns the URL of the stripe-mock server the tests use, or skips t.
func StripeMock(t testing.TB) string {
	t.Helper()
	u := os.Getenv(StripeURLVar)
	if u == "" {
		t.Skipf("Stripe not tested: run stripe-mock (go install github.com/stripe/stripe-mock@v0.203.0; stripe-mock -http-port 12111) "+
			"and set %s=http://127.0.0.1:12111 (CI does)", StripeURLVar)
	}
	return u
}
