package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/anthropic"
	"github.com/lobby-dev/lobby/chat"
	"github.com/lobby-dev/lobby/deliver"
	"github.com/lobby-dev/lobby/egress"
	lobbyhttp "github.com/lobby-dev/lobby/http"
	"github.com/lobby-dev/lobby/hub"
	"github.com/lobby-dev/lobby/jobs"
	"github.com/lobby-dev/lobby/local"
	"github.com/lobby-dev/lobby/mail"
	"github.com/lobby-dev/lobby/offline"
	"github.com/lobby-dev/lobby/openai"
	"github.com/lobby-dev/lobby/postgres"
	"github.com/lobby-dev/lobby/sqldb"
	"github.com/lobby-dev/lobby/sqlite"
	"github.com/lobby-dev/lobby/web"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
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

func openDB(ctx context.Context, dsn string) (*sqldb.DB, error) {
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		return sqlite.Open(path)
	}
	return postgres.Open(ctx, dsn)
}

func migrate(ctx context.Context, cfg *Config, stderr io.Writer) error {
	db, err := openDB(ctx, cfg.Database)
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

func newMailer(cfg *Config, log *slog.Logger) (lobby.Mailer, *mail.Console, error) {
	switch cfg.Mail {
	case "resend":
		if cfg.ResendAPIKey == "" {
			return nil, nil, fmt.Errorf("--mail resend needs --resend-api-key (or LOBBY_RESEND_API_KEY, RESEND_API_KEY)")
		}
		m, err := mail.NewResend(cfg.ResendAPIKey, cfg.MailFrom, "")
		return m, nil, err
	case "smtp":
		if cfg.SMTPURL == "" {
			return nil, nil, fmt.Errorf("--mail smtp needs --smtp-url smtp://user:pass@host:587")
		}
		m, err := mail.NewSMTP(cfg.SMTPURL, cfg.MailFrom)
		return m, nil, err
	}
	c := mail.NewConsole(log)
	return c, c, nil
}

// serve runs the server until ctx ends, then finishes the requests in flight. When
// ready is not nil it receives the base URL once the server accepts connections.
func serve(ctx context.Context, cfg *Config, stdout, stderr io.Writer, ready chan<- string) error {
	start := time.Now()
	log := newLogger(stderr)
	db, err := openDB(ctx, cfg.Database)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	mailer, console, err := newMailer(cfg, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	base := cfg.baseURL(ln.Addr())

	payments := &local.Payments{BaseURL: base}
	llm, err := newLLM(cfg)
	if err != nil {
		return err
	}
	var events lobby.EventService = hub.New()
	if db.Dialect() == "postgres" {
		// Events travel between instances over LISTEN/NOTIFY.
		broker := postgres.NewBroker(cfg.Database, events.(*hub.Hub), db, log)
		bctx, stopBroker := context.WithCancel(context.WithoutCancel(ctx))
		brokerDone := make(chan struct{})
		go func() { broker.Run(bctx); close(brokerDone) }()
		defer func() { stopBroker(); <-brokerDone }()
		events = broker
	}
	consult := &chat.Service{Chat: db, Consultants: db, Events: events, LLM: llm, Logger: log}
	sweepCtx, stopSweep := context.WithCancel(context.WithoutCancel(ctx))
	defer stopSweep()
	go consult.Sweep(sweepCtx, time.Minute)
	registry := prometheus.NewRegistry()
	payloads := &deliver.Events{Chat: db, ReplyURL: base + "/api/v1/reply"}
	workers := river.NewWorkers()
	river.AddWorker(workers, &deliver.Worker{
		Events: payloads, Deliveries: db, Consultants: db, Users: db, Publisher: events, Mailer: mailer,
		Client:   egress.NewClient(egress.Config{Dev: cfg.Dev, Timeout: cfg.WebhookTimeout}),
		Schedule: cfg.RetrySchedule, AttemptTimeout: cfg.WebhookTimeout, BaseURL: base, Logger: log, Now: time.Now,
		Metrics: deliver.NewMetrics(registry),
	})
	river.AddWorker(workers, &deliver.Pruner{Deliveries: db, Logger: log, Now: time.Now})
	queue, err := jobs.New(db, workers, jobs.Config{JobTimeout: cfg.WebhookTimeout + 5*time.Second, Logger: log,
		Periodic: []*river.PeriodicJob{deliver.PruneEveryHour()}})
	if err != nil {
		return err
	}
	if err := queue.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start job queue: %w", err)
	}
	defer func() {
		// Jobs still running when this ends are run again by the next instance.
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := queue.Stop(sctx); err != nil {
			log.Warn("job queue stopped before its jobs ended; they will run again", "err", err)
		}
	}()
	srv := &lobbyhttp.Server{
		Auth: db, Consultants: db, Subscriptions: db, Chat: db, Consult: consult, Events: events,
		Deliveries: db, Inbox: &deliver.Inbox{Deliveries: db, Events: events, Payloads: payloads},
		Payments:        payments,
		Mailer:          mailer,
		Ready:           db.Ready,
		Logger:          log,
		Dev:             cfg.Dev,
		BaseURL:         base,
		PublicRateLimit: cfg.PublicRateLimit,
		Registry:        registry,
	}
	if console != nil {
		srv.Mailbox = console
	}
	srv.Pages = web.New(web.Config{
		Auth: db, Consultants: db, Subscriptions: db, Deliveries: db, Mailer: mailer, Payments: payments,
		Dev: cfg.Dev, BaseURL: base, Logger: log,
	})
	hs := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	hs.RegisterOnShutdown(srv.Close)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()

	log.Info("lobby serving", "url", base, "database", db.Dialect(), "mail", cfg.Mail, "payments", cfg.Payments,
		"llm", cfg.LLM, "dev", cfg.Dev, "startup_ms", time.Since(start).Milliseconds())
	fmt.Fprintf(stdout, "Lobby is running at %s\n", base)
	if console != nil {
		fmt.Fprintf(stdout, "Sign-in codes are printed in the log and kept at %s/dev/mailbox\n", base)
	}
	if ready != nil {
		ready <- base
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing requests in flight", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if err := consult.Wait(sctx); err != nil {
		log.Warn("replies still in flight at shutdown; they are stored as streaming", "err", err)
	}
	log.Info("stopped")
	return nil
}

// newLLM returns the inference provider --llm names.
func newLLM(cfg *Config) (lobby.LLM, error) {
	switch cfg.LLM {
	case "anthropic":
		return anthropic.New(anthropic.Config{APIKey: cfg.AnthropicAPIKey})
	case "openai":
		return openai.New(openai.Config{APIKey: cfg.OpenAIAPIKey, BaseURL: cfg.OpenAIBaseURL, Model: cfg.OpenAIModel})
	}
	return &offline.Provider{}, nil
}
