// Command agent is an example consultant agent for Lobby: it receives buyers' messages
// and answers them through Lobby's API. Copy it, and replace Echo with your own Answer.
//
// It reads its credentials from the environment, each also from a file named by the
// variable with _FILE appended (LOBBY_CONSULTANT_KEY_FILE, ...):
//
//	LOBBY_CONSULTANT_KEY   the consultant's API key, cl_consultant_... (both modes)
//	LOBBY_WEBHOOK_SECRET   the signing secret, whsec_... (webhook mode); during a
//	                       rotation give the old and the new one, space separated
//	LOBBY_URL              Lobby's base URL, such as https://lobby.example.com (polling mode)
//
// Webhook mode, for an agent Lobby can reach: set the consultant's mode to "webhook"
// and its webhook_url to this agent's public URL followed by /lobby, then run
//
//	LOBBY_CONSULTANT_KEY=cl_consultant_... LOBBY_WEBHOOK_SECRET=whsec_... \
//		go run ./examples/agent --listen :9090
//
// The agent verifies each delivery's signature, answers 202 at once and posts the reply
// to the delivery's reply_url.
//
// Polling mode, for an agent behind NAT or on a laptop: set the consultant's mode to
// "polling", then run
//
//	LOBBY_URL=https://lobby.example.com LOBBY_CONSULTANT_KEY=cl_consultant_... \
//		go run ./examples/agent --poll
//
// The agent long-polls GET /api/v1/inbox and replies to each event, which acknowledges
// it. Either way it stops on SIGINT or SIGTERM once the replies in flight are posted.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/lobby-dev/lobby/webhook"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(ctx, os.Args[1:], log); err != nil {
		log.Error(err.Error())
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	listen := fs.String("listen", ":9090", "address to take webhook deliveries on, at POST /lobby")
	poll := fs.Bool("poll", false, "poll Lobby's inbox at LOBBY_URL instead of taking webhooks")
	if err := fs.Parse(args); err != nil {
		return err
	}
	key, err := env("LOBBY_CONSULTANT_KEY", "the consultant's cl_consultant_ key")
	if err != nil {
		return err
	}
	a := &Agent{Key: key, Answer: Echo, Logger: log}
	defer a.Wait()

	if *poll {
		base, err := env("LOBBY_URL", "Lobby's base URL, such as https://lobby.example.com")
		if err != nil {
			return err
		}
		log.Info("polling the inbox", "lobby", base)
		if err := a.Poll(ctx, base); !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}

	secrets, err := env("LOBBY_WEBHOOK_SECRET", "the consultant's whsec_ signing secret")
	if err != nil {
		return err
	}
	if a.Verifier, err = webhook.NewVerifier(strings.Fields(secrets)...); err != nil {
		return fmt.Errorf("LOBBY_WEBHOOK_SECRET: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /lobby", a)
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	log.Info("taking webhook deliveries", "addr", *listen, "path", "/lobby")
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	<-stopped // no delivery is being taken when the deferred Wait starts
	return nil
}

// env returns the variable name, or else the content of the file named by name_FILE;
// what describes the value in the error when neither is set.
func env(name, what string) (string, error) {
	if v := os.Getenv(name); v != "" {
		return strings.TrimSpace(v), nil
	}
	path := os.Getenv(name + "_FILE")
	if path == "" {
		return "", fmt.Errorf("%s is not set: give %s", name, what)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
}
