package sqlite

import (
	"embed"
	"errors"
	"io/fs"
	"strings"

	"github.com/lobby-dev/lobby/sqldb"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Dialect is SQLite's SQL for the shared store.
var Dialect sqldb.Dialect = dialect{}

type dialect struct{}

func (dialect) Name() string { return "sqlite" }

func (dialect) Migrations() fs.FS { return mustSub(migrations, "migrations") }

// LockTx is not needed: write transactions begin immediately, one at a time.
func (dialect) LockTx(key int64) string { return "" }

// LockSession is not needed: instances on one file share its write lock.
func (dialect) LockSession(key int64) (lock, unlock string) { return "", "" }

// ForUpdate is not needed: a write transaction holds the whole database.
func (dialect) ForUpdate() string { return "" }

func (dialect) SkipLocked() string { return "" }

func (dialect) IsUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// searchWeights are the bm25 weights of each full-text index's columns, in the order
// its migration lists them. PostgreSQL weighs them in the index instead.
var searchWeights = map[string]string{
	"consultants": "10.0, 4.0, 1.0, 2.0, 4.0", // name, tagline, description, category, tags
	"chunks":      "1.0, 2.0, 0.0",            // text, heading, consultant_id
}

// searchScopes are the columns of full-text indexes that hold the tenant of each row.
var searchScopes = map[string]string{"chunks": "consultant_id"}

// TextSearch matches table's FTS5 index, the table table_fts over its rowids.
// A scope is matched as its ID's part after the prefix, which the tokenizer keeps as
// one token.
func (dialect) TextSearch(table, alias, arg string, words []string, anyWord bool, scope string) sqldb.TextMatch {
	fts := table + "_fts"
	rank := "bm25(" + fts + ")"
	if w, ok := searchWeights[table]; ok {
		rank = "bm25(" + fts + ", " + w + ")"
	}
	// Quoted, a word is only ever a string to FTS5, never its syntax.
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = `"` + w + `"*` // a prefix of each word, all of them
		if anyWord {
			q[i] = `"` + w + `"`
		}
	}
	sep := " "
	if anyWord {
		sep = " OR "
	}
	query := strings.Join(q, sep)
	if col, ok := searchScopes[table]; ok && scope != "" {
		token := scope[strings.LastIndexByte(scope, '_')+1:]
		query = col + ` : "` + strings.ReplaceAll(token, `"`, "") + `" AND (` + query + ")"
	}
	return sqldb.TextMatch{
		Join:  "JOIN " + fts + " ON " + fts + ".rowid = " + alias + ".rowid",
		Where: fts + " MATCH " + arg,
		Rank:  rank,
		Score: "-" + rank,
		Query: query,
	}
}

// VectorValue is little-endian float32s, as sqldb's search in Go reads them.
func (dialect) VectorValue(v []float32) any { return sqldb.EncodeVector(v) }

func (dialect) VectorArg(arg string) string { return arg }

// VectorSearch ranks in Go: SQLite has no vector index.
func (dialect) VectorSearch(column, arg string, dim int) sqldb.VectorMatch {
	return sqldb.VectorMatch{}
}

func (dialect) Analyze(table string) string { return "" }

func (dialect) VectorIndex(table, column, dimColumn string, dim int) string { return "" }

func mustSub(f fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return sub
}
