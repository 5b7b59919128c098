package postgres

import (
	"embed"
	"errors"
	"io/fs"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/lobby-dev/lobby/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Dialect is PostgreSQL's SQL for the shared store.
var Dialect sqldb.Dialect = dialect{}

type dialect struct{}

func (dialect) Name() string { return "postgres" }

func (dialect) Migrations() fs.FS { return mustSub(migrations, "migrations") }

// LockTx takes a transaction-level advisory lock.
func (dialect) LockTx(key int64) string {
	return "SELECT pg_advisory_xact_lock(" + strconv.FormatInt(key, 10) + ")"
}

// LockSession takes and releases a session-level advisory lock.
func (dialect) LockSession(key int64) (lock, unlock string) {
	k := strconv.FormatInt(key, 10)
	return "SELECT pg_advisory_lock(" + k + ")", "SELECT pg_advisory_unlock(" + k + ")"
}

func (dialect) ForUpdate() string { return " FOR UPDATE" }

func (dialect) SkipLocked() string { return " FOR UPDATE SKIP LOCKED" }

func (dialect) IsUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == "23505"
}

// TextSearch matches table's tsvector column search, weighted by its migration.
func (dialect) TextSearch(table, alias, arg string, words []string) sqldb.TextMatch {
	query := "to_tsquery('english', " + arg + ")"
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = w + ":*" // a prefix of each word, all of them
	}
	return sqldb.TextMatch{
		Where: alias + ".search @@ " + query,
		Rank:  "ts_rank(" + alias + ".search, " + query + ") DESC",
		Query: strings.Join(q, " & "),
	}
}

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}
