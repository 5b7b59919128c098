package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/hub"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	_ "modernc.org/sqlite"
)

// plain is a dialect of no locks and no search, enough for transactions.
type plain struct{}

func (plain) Name() string                                                      { return "plain" }
func (plain) Migrations() fs.FS                                                 { return fstest.MapFS{} }
func (plain) LockTx(int64) string                                               { return "" }
func (plain) LockSession(int64) (string, string)                                { return "", "" }
func (plain) ForUpdate() string                                                 { return "" }
func (plain) SkipLocked() string                                                { return "" }
func (plain) IsUniqueViolation(error) bool                                      { return false }
func (plain) TextSearch(_, _, _ string, _ []string, _ bool, _ string) TextMatch { return TextMatch{} }
func (plain) VectorValue(v []float32) any                                       { return EncodeVector(v) }
func (plain) VectorArg(arg string) string                                       { return arg }
func (plain) Analyze(string) string                                             { return "" }
func (plain) VectorSearch(_, _ string, _ int) VectorMatch                       { return VectorMatch{} }
func (plain) VectorIndex(_, _, _ string, _ int) string                          { return "" }

// TestTxPublishesAfterCommit: a write transaction's events reach the DB's EventService
// once it has committed, after its afterCommit functions, and never when it rolls back.
func TestTxPublishesAfterCommit(t *testing.T) {
	ctx := context.Background()
	conn, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "tx.db"))
	if err != nil {
		t.Fatal(err)
	}
	conn.SetMaxOpenConns(1)
	db, err := New(conn, conn, plain{}, riversqlite.New(conn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := hub.New()
	db.Events = h
	feed := h.Subscribe(ctx, lobby.InboxTopic("csl_1"), nil)
	defer feed.Cancel()
	// published counts the events the subscriber has been given so far.
	seen := 0
	published := func() int {
		es, _ := feed.Take()
		seen += len(es)
		return seen
	}

	t.Run("OK", func(t *testing.T) {
		seenAfterCommit := -1
		err := db.tx(ctx, func(tx *Tx) error {
			tx.publish(lobby.InboxReady("csl_1"))
			tx.afterCommit(func() { seenAfterCommit = published() })
			if _, err := tx.ExecContext(ctx, `CREATE TABLE t (x TEXT)`); err != nil {
				return err
			}
			if published() != 0 {
				t.Error("published inside the transaction")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if seenAfterCommit != 0 {
			t.Fatalf("afterCommit saw %d events published, want 0", seenAfterCommit)
		}
		if n := published(); n != 1 {
			t.Fatalf("%d events published after the commit, want 1", n)
		}
	})
	t.Run("RolledBack", func(t *testing.T) {
		refused := errors.New("refused")
		err := db.tx(ctx, func(tx *Tx) error {
			tx.publish(lobby.InboxReady("csl_1"))
			tx.afterCommit(func() { t.Error("afterCommit ran for a transaction that rolled back") })
			if _, err := tx.ExecContext(ctx, `INSERT INTO t (x) VALUES ('rolled back')`); err != nil {
				return err
			}
			return refused
		})
		if !errors.Is(err, refused) {
			t.Fatalf("err = %v, want %v", err, refused)
		}
		if n := published(); n != 1 {
			t.Fatalf("%d events published by a transaction that rolled back", n-1)
		}
		var n int
		if err := db.read.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d rows (%v) after the rollback, want 0", n, err)
		}
	})
}
