package sqlite

import (
	"container/list"
	"context"
	"database/sql"
	sqldriver "database/sql/driver"

	"modernc.org/sqlite"
)

// stmtCacheSize is how many prepared statements each connection keeps: the store's
// and River's hot statements are a few dozen; queries built per call (IN lists of
// varying length) take the rest in turn.
const stmtCacheSize = 256

// openCached opens a pool over dsn whose connections keep each statement they run
// prepared, keyed by its text, so that SQLite parses and plans it once per connection
// instead of on every call. It is transparent to callers, River's driver included:
// they go on calling ExecContext and QueryContext with SQL text.
func openCached(dsn string) (*sql.DB, error) {
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(cachedConnector{c}), nil
}

type cachedConnector struct{ sqldriver.Connector }

func (c cachedConnector) Connect(ctx context.Context) (sqldriver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &cachedConn{conn: dc.(conn), stmts: map[string]*list.Element{}, lru: list.New()}, nil
}

// conn is what modernc.org/sqlite's connections implement and cachedConn passes on.
type conn interface {
	sqldriver.Conn
	sqldriver.ConnBeginTx
	sqldriver.ConnPrepareContext
	sqldriver.ExecerContext
	sqldriver.QueryerContext
	sqldriver.Pinger
	sqldriver.SessionResetter
	sqldriver.Validator
}

// stmt is what modernc.org/sqlite's statements implement.
type stmt interface {
	sqldriver.Stmt
	sqldriver.StmtExecContext
	sqldriver.StmtQueryContext
}

// cachedConn is a connection with its prepared statements, most recently used first.
// database/sql never uses one connection from two goroutines at once, so it needs no
// lock.
type cachedConn struct {
	conn
	stmts map[string]*list.Element // of *cachedStmt
	lru   *list.List
}

type cachedStmt struct {
	query string
	stmt
	// busy is set while rows of the statement are open: a second query with the same
	// text meanwhile, on the same connection, runs on a statement of its own.
	busy bool
}

// lookup returns the statement prepared for query, preparing it on first use; nil
// when it is busy.
func (c *cachedConn) lookup(ctx context.Context, query string) (*cachedStmt, error) {
	if e, ok := c.stmts[query]; ok {
		c.lru.MoveToFront(e)
		if s := e.Value.(*cachedStmt); !s.busy {
			return s, nil
		}
		return nil, nil
	}
	ds, err := c.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s := &cachedStmt{query: query, stmt: ds.(stmt)}
	c.stmts[query] = c.lru.PushFront(s)
	for c.lru.Len() > stmtCacheSize {
		if old := c.lru.Back().Value.(*cachedStmt); old.busy {
			break // its rows close it once it is dropped; see drop
		}
		c.drop(c.lru.Back().Value.(*cachedStmt))
	}
	return s, nil
}

// drop forgets s and closes it; a statement that failed is prepared again next time.
func (c *cachedConn) drop(s *cachedStmt) {
	if e, ok := c.stmts[s.query]; ok && e.Value == s {
		c.lru.Remove(e)
		delete(c.stmts, s.query)
	}
	s.stmt.Close()
}

func (c *cachedConn) ExecContext(ctx context.Context, query string, args []sqldriver.NamedValue) (sqldriver.Result, error) {
	s, err := c.lookup(ctx, query)
	if err != nil || s == nil {
		return c.conn.ExecContext(ctx, query, args)
	}
	res, err := s.ExecContext(ctx, args)
	if err != nil {
		c.drop(s)
	}
	return res, err
}

func (c *cachedConn) QueryContext(ctx context.Context, query string, args []sqldriver.NamedValue) (sqldriver.Rows, error) {
	s, err := c.lookup(ctx, query)
	if err != nil || s == nil {
		return c.conn.QueryContext(ctx, query, args)
	}
	rows, err := s.QueryContext(ctx, args)
	if err != nil {
		c.drop(s)
		return nil, err
	}
	s.busy = true
	return &cachedRows{driverRows: rows.(driverRows), c: c, s: s}, nil
}

// Close closes the prepared statements and then the connection.
func (c *cachedConn) Close() error {
	for e := c.lru.Front(); e != nil; e = e.Next() {
		e.Value.(*cachedStmt).stmt.Close()
	}
	c.stmts, c.lru = nil, list.New()
	return c.conn.Close()
}

// driverRows is what modernc.org/sqlite's rows implement.
type driverRows interface {
	sqldriver.Rows
	sqldriver.RowsColumnTypeDatabaseTypeName
	sqldriver.RowsColumnTypeLength
	sqldriver.RowsColumnTypeNullable
	sqldriver.RowsColumnTypePrecisionScale
	sqldriver.RowsColumnTypeScanType
}

// cachedRows are the rows of a cached statement, which they reset and free on Close.
type cachedRows struct {
	driverRows
	c *cachedConn
	s *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.driverRows.Close()
	r.s.busy = false
	if e, ok := r.c.stmts[r.s.query]; err != nil || !ok || e.Value != r.s {
		r.c.drop(r.s) // failed, or evicted while its rows were open
	}
	return err
}
