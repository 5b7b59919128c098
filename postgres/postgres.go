// Package postgres opens Lobby's store on PostgreSQL through a pgx pool.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/lobby-dev/lobby/sqldb"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
)

// Open connects a pool to the database at url (postgres://...). It does not migrate.
func Open(ctx context.Context, url string) (*sqldb.DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: bad --database URL: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		// pgx's default is 4 (or the CPU count): too few for the API, 100 delivery
		// workers and the job queue's own listener at once.
		cfg.MaxConns = 32
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect to %s: %w", cfg.ConnConfig.Host, err)
	}
	if err := checkVector(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	sqlDB := sql.OpenDB(textConnector{stdlib.GetPoolConnector(pool)})
	sqlDB.SetMaxIdleConns(0) // the pool keeps the idle connections, as stdlib.OpenDBFromPool does
	// River reads and writes through database/sql, so that jobs join the store's
	// transactions, and listens for new jobs on a connection of the pool.
	db, err := sqldb.New(sqlDB, sqlDB, Dialect, riverdatabasesql.NewWithPgxListener(sqlDB, pool))
	if err != nil {
		sqlDB.Close()
		pool.Close()
		return nil, err
	}
	db.OnClose(pool.Close)
	return db, nil
}

// checkVector fails unless the server has pgvector, which knowledge bases need, and
// its types are on the search path once it is in the database.
func checkVector(ctx context.Context, pool *pgxpool.Pool) error {
	var available bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')`).Scan(&available); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if !available {
		return fmt.Errorf("postgres: PostgreSQL has no pgvector extension: install it (Debian: apt install postgresql-NN-pgvector " +
			"for server version NN; from source: https://github.com/pgvector/pgvector#installation) and run lobby migrate again")
	}
	var schema string
	var visible bool
	err := pool.QueryRow(ctx, `SELECT n.nspname, n.nspname = ANY (current_schemas(false)) FROM pg_extension e
		JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'`).Scan(&schema, &visible)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %w", err)
	}
	if err == nil && !visible {
		return fmt.Errorf("postgres: the pgvector extension is in schema %q, which is not on the search_path: add it to the URL, as ?search_path=yours,%s", schema, schema)
	}
	return nil
}
