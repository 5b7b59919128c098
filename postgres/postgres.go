// Package postgres opens Lobby's store on PostgreSQL through a pgx pool.
package postgres

import (
	"context"
	"fmt"
	"strings"

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
	sqlDB := stdlib.OpenDBFromPool(pool)
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
