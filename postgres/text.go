package postgres

import (
	"context"
	"database/sql/driver"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/lobby-dev/lobby"
)

// PostgreSQL refuses text with a NUL byte or bytes that are not UTF-8, where SQLite
// stores or compares them as given. The HTTP edge refuses such input first
// (request.CheckURL, request.DecodeJSON); textConnector is the store's own backstop, so that a string
// that reaches a statement another way is a client's mistake (EINVALID), never an
// internal error.
type textConnector struct{ driver.Connector }

func (c textConnector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return textConn{dc.(*stdlib.Conn)}, nil
}

// textConn is a pgx connection whose statements report PostgreSQL's refusal of bad
// text as EINVALID. Embedding passes on the rest of what *stdlib.Conn implements
// (transactions, CheckNamedValue, ResetSession, IsValid), as database/sql finds by
// type assertion.
type textConn struct{ *stdlib.Conn }

func (c textConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	r, err := c.Conn.ExecContext(ctx, query, args)
	return r, badText(err)
}

func (c textConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	rows, err := c.Conn.QueryContext(ctx, query, args)
	return rows, badText(err)
}

// badText is err, or EINVALID when PostgreSQL refused a value as text.
func badText(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "22021" || pe.Code == "22P05") { // character_not_in_repertoire, untranslatable_character
		return lobby.Errorf(lobby.EINVALID, "text with a NUL byte (U+0000) or bytes that are not UTF-8 cannot be stored or looked up; send UTF-8 text without NUL")
	}
	return err
}
