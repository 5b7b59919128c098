package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/lobby-dev/lobby/app"
)

// newLogger logs text to a terminal and JSON otherwise.
func newLogger(w io.Writer) *slog.Logger {
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return slog.New(slog.NewTextHandler(w, nil))
		}
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}

func migrate(ctx context.Context, cfg *Config, stderr io.Writer) error {
	db, err := app.OpenDB(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	newLogger(stderr).Info("database migrated", "database", db.Dialect())
	return nil
}

// serve runs the server until ctx ends, then finishes the requests in flight. When
// ready is not nil it receives the base URL once the server accepts connections.
func serve(ctx context.Context, cfg *Config, stdout, stderr io.Writer, ready chan<- string) error {
	start := time.Now()
	log := newLogger(stderr)
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	a := &app.App{Config: cfg.Config, Logger: log}
	a.Config.BaseURL = cfg.baseURL(ln.Addr())
	defer a.Close()
	if err := a.Open(ctx); err != nil {
		return err
	}
	base := a.Config.BaseURL
	log.Info("lobby serving", "url", base, "database", a.DB.Dialect(), "mail", cfg.Mail, "payments", cfg.Payments,
		"llm", cfg.LLM, "dev", cfg.Dev, "startup_ms", time.Since(start).Milliseconds())
	fmt.Fprintf(stdout, "Lobby is running at %s\n", base)
	if a.Console != nil {
		fmt.Fprintf(stdout, "Sign-in codes are printed in the log and kept at %s/dev/mailbox\n", base)
	}
	if ready != nil {
		ready <- base
	}
	if err := a.Serve(ctx, ln); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}
