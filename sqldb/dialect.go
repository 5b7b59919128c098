package sqldb

import "io/fs"

// Dialect is what differs between the databases. Its hooks take the tables, columns
// and placeholders they are for, so that one hook serves every table that needs it.
type Dialect interface {
	// Name is the database's name: "sqlite" or "postgres".
	Name() string

	// Migrations holds NNNN_name.sql files, applied in order of NNNN.
	Migrations() fs.FS

	// LockTx returns the statement that holds the lock named key until the transaction
	// ends, or "" when beginning a write transaction already excludes the others.
	LockTx(key int64) string

	// LockSession returns the statements that take and release the lock named key on
	// one connection, outside any transaction; "" and "" when there is no need.
	LockSession(key int64) (lock, unlock string)

	// ForUpdate returns what is appended to a SELECT whose rows a write transaction
	// will change, "" when a write transaction excludes the others anyway.
	ForUpdate() string

	// SkipLocked returns what is appended to a SELECT that claims rows other
	// transactions may be claiming at once: they skip each other's rows instead of
	// waiting.
	SkipLocked() string

	// IsUniqueViolation reports whether err is a unique constraint's violation.
	IsUniqueViolation(err error) bool

	// TextSearch returns the SQL that matches the rows of table, named alias in the
	// query, against words (letters and digits only), whose query text is passed as
	// the placeholder arg: rows with a prefix of every word, or with any one of the
	// words when anyWord. The table's full-text index is made by the migrations. Scope,
	// when not "", is the tenant whose rows alone the caller's WHERE keeps (a chunk's
	// consultant ID): an index that holds each row's tenant matches within it, so that
	// a search costs what one tenant holds, not what all of them match.
	TextSearch(table, alias, arg string, words []string, anyWord bool, scope string) TextMatch

	// VectorValue returns v as the value of a vector column.
	VectorValue(v []float32) any

	// VectorArg returns the placeholder arg, holding a VectorValue, as an expression of
	// a vector column's type where SQL cannot infer it (a SELECT list).
	VectorArg(arg string) string

	// VectorSearch returns the SQL that ranks the rows of a vector column whose
	// vectors have dim dimensions by cosine distance to the vector passed as the
	// placeholder arg; the zero VectorMatch when the store ranks them in Go instead.
	VectorSearch(column, arg string, dim int) VectorMatch

	// Analyze returns the statement that brings the planner's statistics of table up
	// to date, "" when the store needs none.
	Analyze(table string) string

	// VectorIndex returns the statement that indexes table's vector column for
	// vectors of dim dimensions, whose dimension is in dimColumn; "" when there is
	// none to make.
	VectorIndex(table, column, dimColumn string, dim int) string
}

// VectorMatch is a nearest-neighbour search in SQL, from Dialect.VectorSearch.
type VectorMatch struct {
	Setup    string // run first, in the search's transaction; "" when none is needed
	Distance string // cosine distance, smallest first
}

// TextMatch is a full-text search in SQL, from Dialect.TextSearch.
type TextMatch struct {
	Join  string // joined after "FROM table alias"; "" when none is needed
	Where string // the condition a matching row meets
	Rank  string // the ORDER BY term that puts the best match first
	Score string // a measure of the match, higher better
	Query string // the value to pass as the placeholder
}

// Keys of the locks that instances starting at once take in turn.
const (
	lockMigrations    int64 = 7245160342
	lockJobMigrations int64 = 7245160343
	lockVectorIndex   int64 = 7245160344
)
