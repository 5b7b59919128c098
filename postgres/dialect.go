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
// Words are letters and digits only, so none is to_tsquery's syntax.
// The scope is left to the caller's WHERE, which the planner combines with the index.
func (dialect) TextSearch(table, alias, arg string, words []string, anyWord bool, scope string) sqldb.TextMatch {
	query := "to_tsquery('english', " + arg + ")"
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = w + ":*" // a prefix of each word, all of them
		if anyWord {
			q[i] = w
		}
	}
	sep := " & "
	if anyWord {
		sep = " | "
	}
	// Rank orders by the very score it reports, so the order and the score a
	// caller fuses never disagree (ts_rank_cd for one and ts_rank for the other did).
	score := "ts_rank(" + alias + ".search, " + query + ")"
	return sqldb.TextMatch{
		Where: alias + ".search @@ " + query,
		Rank:  score + " DESC",
		Score: score,
		Query: strings.Join(q, sep),
	}
}

// VectorValue is pgvector's text form, "[1,2,3]".
func (dialect) VectorValue(v []float32) any {
	b := make([]byte, 0, 2+len(v)*10)
	b = append(b, '[')
	for i, x := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
	}
	return string(append(b, ']'))
}

func (dialect) VectorArg(arg string) string { return arg + "::vector" }

// VectorSearch uses the dimension's HNSW index (see VectorIndex). Iterative scans
// (pgvector 0.8) go on through the index until the consultant's rows fill the page,
// instead of filtering ef_search candidates down to fewer.
func (dialect) VectorSearch(column, arg string, dim int) sqldb.VectorMatch {
	typ := "vector(" + strconv.Itoa(dim) + ")"
	return sqldb.VectorMatch{
		Setup:    "SET LOCAL hnsw.iterative_scan = relaxed_order",
		Distance: "(" + column + ")::" + typ + " <=> " + arg + "::" + typ,
	}
}

// VectorIndex makes an HNSW cosine index of the vectors of one dimension: pgvector
// indexes only columns of a fixed dimension, so it indexes the cast.
func (dialect) Analyze(table string) string { return "ANALYZE " + table }

func (dialect) VectorIndex(table, column, dimColumn string, dim int) string {
	d := strconv.Itoa(dim)
	return "CREATE INDEX IF NOT EXISTS " + table + "_" + column + "_" + d + " ON " + table +
		" USING hnsw ((" + column + "::vector(" + d + ")) vector_cosine_ops) WHERE " + dimColumn + " = " + d
}

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}
