// Package app is the Lobby program: it opens the store its configuration names and
// wires every service, worker and surface together. `lobby serve` and the end-to-end
// tests build and run the same App, so what the tests exercise is what runs.
package app

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/anthropic"
	"github.com/lobby-dev/lobby/billing"
	"github.com/lobby-dev/lobby/chat"
	"github.com/lobby-dev/lobby/deliver"
	"github.com/lobby-dev/lobby/egress"
	"github.com/lobby-dev/lobby/embed"
	lobbyhttp "github.com/lobby-dev/lobby/http"
	"github.com/lobby-dev/lobby/hub"
	"github.com/lobby-dev/lobby/jobs"
	"github.com/lobby-dev/lobby/knowledge"
	"github.com/lobby-dev/lobby/local"
	"github.com/lobby-dev/lobby/mail"
	"github.com/lobby-dev/lobby/offline"
	"github.com/lobby-dev/lobby/openai"
	"github.com/lobby-dev/lobby/postgres"
	"github.com/lobby-dev/lobby/sqldb"
	"github.com/lobby-dev/lobby/sqlite"
	"github.com/lobby-dev/lobby/stripe"
	"github.com/lobby-dev/lobby/web"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
)

// Config is what the program is told: cmd/lobby parses it from flags and LOBBY_*
// variables and checks it; tests fill it in directly.
type Config struct {
	Database     string // sqlite:PATH or a postgres:// URL
	BaseURL      string // the public URL, for links and reply_url
	Dev          bool
	LLM          string // offline, anthropic or openai
	Mail         string // console, resend or smtp
	MailFrom     string
	ResendAPIKey string
	SMTPURL      string
	Payments     string // local or stripe
	// Stripe, for Payments "stripe": the secret key, the webhook endpoints' signing
	// secrets, the API's URL ("" for Stripe's own) and the platform's share of each
	// charge, in per cent.
	StripeSecretKey      string
	StripeWebhookSecrets []string
	StripeAPIURL         string
	PlatformFeePercent   float64
	AnthropicAPIKey      string
	OpenAIAPIKey         string
	OpenAIBaseURL        string
	OpenAIModel          string
	// Embeddings names the embedding model of knowledge search: "words" (built in, the
	// default) or "openai", an OpenAI-compatible API at EmbeddingsURL.
	Embeddings       string
	EmbeddingsURL    string
	EmbeddingsModel  string
	EmbeddingsAPIKey string
	PublicRateLimit  int            // requests a minute per client address on public routes; 0 is off
	CodeRateLimit    int            // sign-in codes an hour per client address; 0 is off
	TokenRateLimit   int            // requests a minute per credential on public routes; 0 is off
	StreamLimit      int            // streams, sockets and long polls one credential may hold; 0 is the contract's 20
	TrustedProxies   []netip.Prefix // proxies whose X-Forwarded-For or Forwarded names the client
	MetricsToken     string         // lets a client elsewhere read /metrics with it as bearer token
	MetricsAddr      string         // serves /metrics on a listener of its own instead of the API's
	ReplyRateLimit   int            // replies a minute per consultant; 0 is the server's default
	ShutdownTimeout  time.Duration
	WebhookTimeout   time.Duration
	// ReplyTimeout bounds one managed reply; a reply whose process died is produced
	// again once this and 10 s have passed. 0 means 3 minutes.
	ReplyTimeout  time.Duration
	RetrySchedule []time.Duration // the wait before each webhook attempt
}

// App is one running Lobby instance. Set Config, and any part to replace, then Open.
type App struct {
	Config Config
	Logger *slog.Logger     // discards when nil
	Now    func() time.Time // time.Now when nil

	// Parts a caller may give before Open; Open makes those left nil from Config.
	DB       *sqldb.DB // opened and migrated from Config.Database when nil; then Close closes it
	LLM      lobby.LLM
	Embedder lobby.Embedder
	Mailer   lobby.Mailer
	Egress   *egress.Client // the client webhook deliveries go out through

	// What Open made.
	Events    lobby.EventService
	Broker    *postgres.Broker // carries events between instances; nil on SQLite
	Console   *mail.Console    // the console mailer's dev mailbox; nil with real mail
	Payments  lobby.Payments   // made from Config.Payments unless given
	Consult   *chat.Service
	Retriever *knowledge.Retriever
	Worker    *deliver.Worker
	Queue     *river.Client[*sql.Tx]
	Registry  *prometheus.Registry
	Server    *lobbyhttp.Server

	ownDB bool
	stops []func(ctx context.Context) // background work, stopped last first
}

// backend is the kind of store a DSN names, decided once, from the DSN alone.
type backend string

const (
	backendSQLite   backend = "sqlite"
	backendPostgres backend = "postgres"
)

func backendOf(dsn string) (backend, error) {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		return backendSQLite, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return backendPostgres, nil
	}
	return "", fmt.Errorf("database %q: use sqlite:PATH (for example sqlite:lobby.db) or a postgres:// URL", dsn)
}

// OpenDB opens the store a DSN names, without migrating it.
func OpenDB(ctx context.Context, dsn string) (*sqldb.DB, error) {
	b, err := backendOf(dsn)
	if err != nil {
		return nil, err
	}
	if b == backendSQLite {
		return sqlite.Open(strings.TrimPrefix(dsn, "sqlite:"))
	}
	return postgres.Open(ctx, dsn)
}

// Open opens the store and starts the background work — the event broker between
// instances, the job queue and its workers, the sweeper of interrupted replies — and
// builds the server. Call Close when done, also after Open failed.
func (a *App) Open(ctx context.Context) error {
	cfg := a.Config
	if a.Logger == nil {
		a.Logger = slog.New(slog.DiscardHandler)
	}
	if a.Now == nil {
		a.Now = time.Now
	}
	log := a.Logger
	be, err := backendOf(cfg.Database)
	if err != nil {
		return err
	}
	if a.DB == nil {
		if a.DB, err = OpenDB(ctx, cfg.Database); err != nil {
			return err
		}
		a.ownDB = true
		if err := a.DB.Migrate(ctx); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	db := a.DB
	db.Now = a.Now
	if a.Mailer == nil {
		if a.Mailer, a.Console, err = newMailer(cfg, log); err != nil {
			return err
		}
	} else if c, ok := a.Mailer.(*mail.Console); ok {
		a.Console = c
	}
	if a.LLM == nil {
		if a.LLM, err = NewLLM(cfg); err != nil {
			return err
		}
	}
	if a.Egress == nil {
		a.Egress = egress.NewClient(egress.Config{Dev: cfg.Dev, Timeout: cfg.WebhookTimeout})
	}
	if a.Embedder == nil {
		if a.Embedder, err = NewEmbedder(cfg); err != nil {
			return err
		}
	}
	svc := db.Services()
	if a.Payments == nil {
		if a.Payments, err = newPayments(cfg, svc, log); err != nil {
			return err
		}
	}
	h := hub.New()
	a.Events = h
	if be == backendPostgres {
		// Events travel between instances over LISTEN/NOTIFY.
		a.Broker = postgres.NewBroker(cfg.Database, h, svc.Chat, log)
		a.Events = a.Broker
		a.background(a.Broker.Run)
	}
	// The store publishes what each write changed, once it commits.
	db.Events = a.Events

	a.Retriever = &knowledge.Retriever{Knowledge: svc.Knowledge, Embedder: a.Embedder, Logger: log}
	a.Consult = &chat.Service{Chat: svc.Chat, Consultants: svc.Consultants, Events: a.Events, LLM: a.LLM, Logger: log,
		Retriever: a.Retriever, ReplyTimeout: cfg.ReplyTimeout}
	db.ReplyWatch = a.Consult.JobTimeout()
	db.FeePercent = cfg.PlatformFeePercent

	a.Registry = prometheus.NewRegistry()
	payloads := &deliver.Events{Chat: svc.Chat, ReplyURL: cfg.BaseURL + "/api/v1/reply"}
	a.Worker = &deliver.Worker{
		Events: payloads, Deliveries: svc.Deliveries, Consultants: svc.Consultants, Users: svc.Auth, Mailer: a.Mailer,
		Client: a.Egress, Schedule: cfg.RetrySchedule, AttemptTimeout: cfg.WebhookTimeout, BaseURL: cfg.BaseURL,
		Logger: log, Now: a.Now, Metrics: deliver.NewMetrics(a.Registry),
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, a.Worker)
	river.AddWorker(workers, &deliver.Pruner{Deliveries: svc.Deliveries, Logger: log, Now: a.Now})
	river.AddWorker(workers, a.Consult.Replier())
	river.AddWorker(workers, &knowledge.Ingester{Knowledge: svc.Knowledge, Embedder: a.Embedder, Logger: log})
	reembed := &knowledge.Reembedder{Knowledge: svc.Knowledge, Embedder: a.Embedder, Logger: log}
	river.AddWorker(workers, reembed)
	river.AddWorker(workers, &billing.Applier{Events: svc.PaymentEvents, Logger: log})
	river.AddWorker(workers, &billing.Notifier{Users: svc.Auth, Consultants: svc.Consultants, Mailer: a.Mailer, BaseURL: cfg.BaseURL})
	// The queue's rescue window follows the deliveries' timeout, so a delivery is never
	// rescued, and run twice, while it still runs; River's rescuer also waits out each
	// worker's own Timeout, a reply's longer one too.
	if a.Queue, err = jobs.New(db, workers, jobs.Config{JobTimeout: a.Worker.JobTimeout(), Logger: log,
		Periodic: []*river.PeriodicJob{deliver.PruneEveryHour(), reembed.PeriodicJob()}}); err != nil {
		return err
	}
	if err := a.Queue.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("start job queue: %w", err)
	}
	a.stops = append(a.stops, func(ctx context.Context) {
		// Running jobs may end within the shutdown timeout; those still running then are
		// cancelled, and the queue runs them again, on this instance's successor or
		// another one.
		if err := a.Queue.Stop(ctx); err != nil {
			log.Warn("jobs still running at shutdown are stopped; they will run again", "err", err)
			cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			a.Queue.StopAndCancel(cctx)
		}
	})

	a.Server = &lobbyhttp.Server{
		Auth: svc.Auth, Consultants: svc.Consultants, Subscriptions: svc.Subscriptions, Chat: svc.Chat, Deliveries: svc.Deliveries,
		Knowledge: svc.Knowledge, Retriever: a.Retriever,
		Inbox:   &deliver.Inbox{Deliveries: svc.Deliveries, Events: a.Events, Payloads: payloads},
		Consult: a.Consult, Events: a.Events, Payments: a.Payments, PaymentEvents: svc.PaymentEvents, PaymentRefs: svc.PaymentRefs, Earnings: svc.PaymentEvents, Activity: svc.Activity,
		Credits: svc.Credits, Mailer: a.Mailer,
		Ready: db.Ready, Logger: log, Dev: cfg.Dev, BaseURL: cfg.BaseURL,
		PublicRateLimit: cfg.PublicRateLimit, CodeRateLimit: cfg.CodeRateLimit, ReplyRateLimit: cfg.ReplyRateLimit,
		TokenRateLimit: cfg.TokenRateLimit, TrustedProxies: cfg.TrustedProxies, StreamLimit: cfg.StreamLimit,
		MetricsToken: cfg.MetricsToken, MetricsElsewhere: cfg.MetricsAddr != "", Registry: a.Registry, Now: a.Now,
	}
	if a.Console != nil {
		a.Server.Mailbox = a.Console
	}
	a.Server.Pages = web.New(web.Config{
		Auth: svc.Auth, Consultants: svc.Consultants, Subscriptions: svc.Subscriptions, Deliveries: svc.Deliveries,
		Chat: svc.Chat, Credits: svc.Credits, Knowledge: svc.Knowledge, Activity: svc.Activity, Earnings: svc.PaymentEvents, Replies: a.Consult, Mailer: a.Mailer, Payments: a.Payments,
		Dev: cfg.Dev, BaseURL: cfg.BaseURL, Logger: log, Now: a.Now,
	})
	return nil
}

// newPayments returns the payment provider cfg names.
func newPayments(cfg Config, svc sqldb.Services, log *slog.Logger) (lobby.Payments, error) {
	if cfg.Payments != "stripe" {
		return &local.Payments{BaseURL: cfg.BaseURL}, nil
	}
	return stripe.New(stripe.Config{SecretKey: cfg.StripeSecretKey, WebhookSecrets: cfg.StripeWebhookSecrets, APIURL: cfg.StripeAPIURL,
		PlatformFeePercent: cfg.PlatformFeePercent, BaseURL: cfg.BaseURL, Logger: log}, svc.PaymentRefs, svc.Auth)
}

// background runs f until Close.
func (a *App) background(f func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f(ctx) }()
	a.stops = append(a.stops, func(context.Context) { cancel(); <-done })
}

// Serve answers HTTP on ln until ctx ends, then finishes the requests in flight within
// the shutdown timeout and waits for the replies being produced.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           a.Server.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.Logger.Handler(), slog.LevelWarn),
	}
	hs.RegisterOnShutdown(a.Server.Close)
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(ln) }()
	if a.Config.MetricsAddr != "" {
		ml, err := net.Listen("tcp", a.Config.MetricsAddr)
		if err != nil {
			hs.Close()
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		ms := &http.Server{Handler: a.Server.MetricsHandler(), ReadHeaderTimeout: 10 * time.Second}
		go ms.Serve(ml)
		defer ms.Close()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.Logger.Info("shutting down: finishing requests in flight", "timeout", a.Config.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if err := a.Consult.Wait(sctx); err != nil {
		a.Logger.Warn("replies still in flight at shutdown; their jobs will produce them again", "err", err)
	}
	return nil
}

// Close stops the background work, last started first, and closes the store if Open
// opened it.
func (a *App) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.shutdownTimeout())
	defer cancel()
	if a.Server != nil {
		a.Server.Close()
	}
	if a.Consult != nil {
		a.Consult.Wait(ctx)
	}
	for i := len(a.stops) - 1; i >= 0; i-- {
		a.stops[i](ctx)
	}
	a.stops = nil
	if a.ownDB && a.DB != nil {
		return a.DB.Close()
	}
	return nil
}

func (a *App) shutdownTimeout() time.Duration {
	if a.Config.ShutdownTimeout > 0 {
		return a.Config.ShutdownTimeout
	}
	return 30 * time.Second
}

func newMailer(cfg Config, log *slog.Logger) (lobby.Mailer, *mail.Console, error) {
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

// NewEmbedder returns the embedder cfg.Embeddings names.
func NewEmbedder(cfg Config) (lobby.Embedder, error) {
	if cfg.Embeddings != "openai" {
		return embed.Words{}, nil
	}
	return embed.NewOpenAI(embed.OpenAIConfig{BaseURL: cmp.Or(cfg.EmbeddingsURL, "https://api.openai.com/v1"),
		APIKey: cfg.EmbeddingsAPIKey, Model: cmp.Or(cfg.EmbeddingsModel, "text-embedding-3-small")})
}

// NewLLM returns the inference provider cfg.LLM names.
func NewLLM(cfg Config) (lobby.LLM, error) {
	switch cfg.LLM {
	case "anthropic":
		return anthropic.New(anthropic.Config{APIKey: cfg.AnthropicAPIKey})
	case "openai":
		return openai.New(openai.Config{APIKey: cfg.OpenAIAPIKey, BaseURL: cfg.OpenAIBaseURL, Model: cfg.OpenAIModel})
	}
	return &offline.Provider{}, nil
}
