package sqldb

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/lobby-dev/lobby"
)

// Page sizes, from the contract.
const (
	DefaultLimit = 20
	MaxLimit     = 100
)

func limit(n int) int {
	if n <= 0 {
		return DefaultLimit
	}
	return min(n, MaxLimit)
}

// A cursor is opaque to clients: "k" and the last ID of a page listed by ID, or "o" and
// the offset of the next page of a ranked search.
func keyCursor(id string) string { return base64.RawURLEncoding.EncodeToString([]byte("k" + id)) }

func offsetCursor(n int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("o" + strconv.Itoa(n)))
}

func badCursor() error {
	return lobby.Errorf(lobby.EINVALID, "cursor is not one this server gave; pass the next_cursor of the previous page unchanged")
}

// parseKeyCursor returns the ID in a key cursor, "" for no cursor.
func parseKeyCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 2 || b[0] != 'k' || len(b) > 100 || !lobby.IDChars(string(b[1:])) {
		return "", badCursor()
	}
	return string(b[1:]), nil
}

// parseOffsetCursor returns the offset in an offset cursor, 0 for no cursor.
func parseOffsetCursor(c string) (int, error) {
	if c == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 2 || b[0] != 'o' {
		return 0, badCursor()
	}
	n, err := strconv.Atoi(strings.TrimPrefix(string(b), "o"))
	if err != nil || n < 0 || n > 100_000 {
		return 0, badCursor()
	}
	return n, nil
}

// keyQuery is a page of rows listed newest first by ID: SELECT columns FROM table
// WHERE column = value, after the key cursor.
type keyQuery struct {
	columns, table, column string
	value                  any
	limit                  int
	cursor                 string
}

// keyPage reads the page q names and returns it with the next page's cursor, "" on
// the last. Returns EINVALID for a malformed cursor.
func keyPage[T any](ctx context.Context, db *DB, q keyQuery, scan func(scanner) (*T, error), id func(*T) string) ([]*T, string, error) {
	n := limit(q.limit)
	after, err := parseKeyCursor(q.cursor)
	if err != nil {
		return nil, "", err
	}
	query := `SELECT ` + q.columns + ` FROM ` + q.table + ` WHERE ` + q.column + ` = $1`
	args := []any{q.value, n + 1}
	if after != "" {
		query += ` AND id < $3`
		args = append(args, after)
	}
	page, err := queryAll(ctx, db.read, scan, query+` ORDER BY id DESC LIMIT $2`, args...)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(page) > n {
		page = page[:n]
		next = keyCursor(id(page[n-1]))
	}
	return page, next, nil
}
