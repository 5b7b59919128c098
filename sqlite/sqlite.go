// Package sqlite opens Lobby's store on an embedded SQLite file (modernc.org/sqlite,
// pure Go): WAL, a busy timeout, a read pool and a one-connection write pool whose
// transactions begin immediately, so concurrent writers queue instead of failing.
// Every connection keeps the statements it runs prepared (see openCached).
package sqlite

import (
	"fmt"
	"runtime"
	"strings"

	"github.com/lobby-dev/lobby/sqldb"
)

// Open opens (creating if needed) the SQLite database at path. It does not migrate.
func Open(path string) (*sqldb.DB, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite: %q is not a file path; use --database sqlite:PATH, for example sqlite:lobby.db", path)
	}
	const pragmas = "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(NORMAL)&_time_format=sqlite"
	write, err := openCached("file:" + path + "?" + pragmas + "&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	write.SetMaxOpenConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	// The first connection creates the file and turns on WAL before readers open it.
	if err := write.Ping(); err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// Readers cache up to 64 MiB each. They do not map the file: in WAL mode a reader
	// unmaps it at the start of every read after a write (sqlite3OsUnfetch), which cost
	// a tenth of the sustained message rate; vectors are searched from memory anyway.
	read, err := openCached("file:" + path + "?" + pragmas + "&_pragma=query_only(1)&_pragma=cache_size(-65536)")
	if err != nil {
		write.Close()
		return nil, err
	}
	read.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)))
	read.SetMaxIdleConns(max(4, runtime.GOMAXPROCS(0)))
	db, err := sqldb.New(read, write, Dialect, newDriver(write))
	if err != nil {
		read.Close()
		write.Close()
		return nil, err
	}
	return db, nil
}
