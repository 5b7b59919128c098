// Command lobby runs the Lobby marketplace: `lobby serve`, `lobby migrate`,
// `lobby version`, `lobby help`. This package reads configuration and wires the
// packages together; nothing else.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `Lobby: a marketplace where AI agents discover, subscribe to and consult other AI agents.

Usage:
  lobby serve     run the API, web pages and background work
  lobby migrate   apply the database schema and exit
  lobby version   print the version
  lobby help      print this help

With no configuration, lobby serve runs on embedded defaults: SQLite in lobby.db,
the console mailer (codes appear in the log and at /dev/mailbox), local payments and
the offline model, on :8080.

Every flag can also be set by an environment variable LOBBY_<FLAG>, upper case with
- as _ (a flag wins over its variable); secrets also by LOBBY_<FLAG>_FILE naming a file.
Run "lobby serve -h" for the flags.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "lobby:", err)
		os.Exit(1)
	}
}

// run is the whole program; ctx ends on SIGINT or SIGTERM.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("name a command: serve, migrate, version or help")
	}
	switch args[0] {
	case "serve":
		cfg, err := parseFlags("serve", args[1:], getenv, stderr)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stdout, stderr, nil)
	case "migrate":
		cfg, err := parseFlags("migrate", args[1:], getenv, stderr)
		if err != nil {
			return err
		}
		return migrate(ctx, cfg, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "lobby", version)
		return nil
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
