package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lobby-dev/lobby/app"
	"github.com/lobby-dev/lobby/storetest"
)

func TestParseFlags(t *testing.T) {
	env := map[string]string{
		"LOBBY_ADDR": ":9999", "LOBBY_DEV": "true", "LOBBY_PUBLIC_RATE_LIMIT": "25", "LOBBY_MAIL": "smtp",
	}
	cfg, err := parseFlags("serve", []string{"--addr", ":7000"}, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != ":7000" || !cfg.Dev || cfg.PublicRateLimit != 25 || cfg.Mail != "smtp" || cfg.LLM != "offline" {
		t.Fatalf("config = %+v: the flag must win over LOBBY_ADDR and the others come from the environment", cfg)
	}
	cfg, _ = parseFlags("serve", nil, func(k string) string { return map[string]string{"ANTHROPIC_API_KEY": "x"}[k] }, io.Discard)
	if cfg.LLM != "anthropic" || cfg.Database != "sqlite:lobby.db" || cfg.Payments != "local" || cfg.Embeddings != "words" || cfg.PublicRateLimit != 10 || cfg.CodeRateLimit != 10 || cfg.TokenRateLimit != 120 {
		t.Fatalf("defaults = %+v", cfg)
	}
	if want := []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}; cfg.WebhookTimeout != 15*time.Second || !slices.Equal(cfg.RetrySchedule, want) {
		t.Fatalf("webhook defaults: timeout %s, schedule %v; want 15s and the contract's %v", cfg.WebhookTimeout, cfg.RetrySchedule, want)
	}
	for _, bad := range [][]string{
		{"--llm", "gpt"}, {"--mail", "pigeon"}, {"--payments", "cash"}, {"--database", "mysql://x"}, {"--embeddings", "glove"},
		{"--public-rate-limit", "-1"}, {"--code-rate-limit", "-1"}, {"--token-rate-limit", "-1"}, {"--trusted-proxies", "10.0.0.0/8,proxy.example"}, {"--base-url", "lobby.example.com"}, {"--nope"}, {"stray"},
		{"--webhook-timeout", "10ms"}, {"--webhook-timeout", "1h"}, {"--webhook-retry-schedule", "0s,soon"},
		{"--webhook-retry-schedule", "0s,-5s"}, {"--webhook-retry-schedule", "0s,200h"},
		{"--webhook-retry-schedule", "0s" + strings.Repeat(",1s", 50)},
	} {
		if _, err := parseFlags("serve", bad, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	if _, err := parseFlags("serve", nil, func(k string) string { return map[string]string{"LOBBY_DEV": "maybe"}[k] }, io.Discard); err == nil ||
		!strings.Contains(err.Error(), "LOBBY_DEV") {
		t.Errorf("a bad LOBBY_DEV: %v", err)
	}
}

// TestStripeFlags: --payments stripe names each missing or bad flag, and takes the
// webhook secrets as a comma-separated list, from flags or LOBBY_ variables.
func TestStripeFlags(t *testing.T) {
	noEnv := func(string) string { return "" }
	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"--payments", "stripe"}, "--stripe-secret-key"},
		{[]string{"--payments", "stripe", "--stripe-secret-key", "sk_test_x"}, "--stripe-webhook-secret"},
		{[]string{"--payments", "stripe", "--stripe-secret-key", "sk_test_x", "--stripe-webhook-secret", " , "}, "--stripe-webhook-secret"},
		{[]string{"--payments", "stripe", "--stripe-secret-key", "sk_test_x", "--stripe-webhook-secret", "whsec_a", "--stripe-api-url", "localhost:12111"}, "--stripe-api-url"},
		{[]string{"--payments", "stripe", "--stripe-secret-key", "sk_test_x", "--stripe-webhook-secret", "whsec_a", "--platform-fee-percent", "101"}, "--platform-fee-percent"},
		{[]string{"--payments", "stripe", "--stripe-secret-key", "sk_test_x", "--stripe-webhook-secret", "whsec_a", "--platform-fee-percent", "-1"}, "--platform-fee-percent"},
	} {
		_, err := parseFlags("serve", tc.args, noEnv, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%v: error %v, want one naming %s", tc.args, err, tc.says)
		}
		if err != nil && strings.Contains(err.Error(), "sk_test_x") {
			t.Errorf("%v: the error shows the secret key: %v", tc.args, err)
		}
	}
	env := map[string]string{"LOBBY_PAYMENTS": "stripe", "LOBBY_STRIPE_SECRET_KEY": "sk_test_x", "LOBBY_STRIPE_WEBHOOK_SECRET": "whsec_a, whsec_b"}
	cfg, err := parseFlags("serve", []string{"--base-url", "https://lobby.example.com", "--mail", "smtp", "--smtp-url", "smtp://u:p@mail.example.com:587"},
		func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatalf("Stripe from the environment on a public URL: %v", err)
	}
	if cfg.StripeSecretKey != "sk_test_x" || !slices.Equal(cfg.StripeWebhookSecrets, []string{"whsec_a", "whsec_b"}) || cfg.PlatformFeePercent != 10 || cfg.StripeAPIURL != "" {
		t.Fatalf("stripe config = key %q, secrets %q, fee %v, url %q; want the variables', fee 10 and Stripe's own URL",
			cfg.StripeSecretKey, cfg.StripeWebhookSecrets, cfg.PlatformFeePercent, cfg.StripeAPIURL)
	}
}

// TestPublicURLNeedsRealMailAndPayments: what suits only a laptop — codes kept in a dev
// mailbox, subscriptions confirmed for free — refuses a public --base-url without
// --dev, and says what to configure.
func TestPublicURLNeedsRealMailAndPayments(t *testing.T) {
	noEnv := func(string) string { return "" }
	for _, tc := range []struct {
		name string
		args []string
		says string // "" when the configuration is accepted
	}{
		{"ErrConsoleMailer", []string{"--base-url", "https://lobby.example.com"}, "--mail resend"},
		{"ErrLocalPayments", []string{"--base-url", "https://lobby.example.com", "--mail", "smtp", "--smtp-url", "smtp://u:p@mail.example.com:587"}, "Stripe"},
		{"ErrPublicIP", []string{"--base-url", "http://203.0.113.7:8080"}, "--mail"},
		{"OK/dev", []string{"--base-url", "https://lobby.example.com", "--dev"}, ""},
		{"OK/localhost", []string{"--base-url", "http://localhost:9000"}, ""},
		{"OK/loopback", []string{"--base-url", "http://127.0.0.1:9000"}, ""},
		{"OK/ipv6-loopback", []string{"--base-url", "http://[::1]:9000"}, ""},
		{"OK/no-base-url", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseFlags("serve", tc.args, noEnv, io.Discard)
			switch {
			case tc.says == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.says != "" && (err == nil || !strings.Contains(err.Error(), tc.says)):
				t.Fatalf("error %v, want one saying %q", err, tc.says)
			}
		})
	}
}

func TestTrustedProxiesFlag(t *testing.T) {
	cfg, err := parseFlags("serve", []string{"--trusted-proxies", "10.0.0.0/8, 192.0.2.7 ,fd00::/8"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range cfg.TrustedProxies {
		got = append(got, p.String())
	}
	if strings.Join(got, " ") != "10.0.0.0/8 192.0.2.7/32 fd00::/8" {
		t.Fatalf("trusted proxies = %v", got)
	}
}

func TestRunCommands(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, func(string) string { return "" }, &out, io.Discard); err != nil || !strings.HasPrefix(out.String(), "lobby ") {
		t.Fatalf("version: %q, %v", out.String(), err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"help"}, func(string) string { return "" }, &out, io.Discard); err != nil || !strings.Contains(out.String(), "lobby serve") {
		t.Fatalf("help: %q, %v", out.String(), err)
	}
	if err := run(context.Background(), []string{"frobnicate"}, func(string) string { return "" }, io.Discard, io.Discard); err == nil {
		t.Fatal("an unknown command ran")
	}
	db := "sqlite:" + filepath.Join(t.TempDir(), "m.db")
	if err := run(context.Background(), []string{"migrate", "--database", db}, func(string) string { return "" }, io.Discard, io.Discard); err != nil {
		t.Fatalf("migrate: %v", err)
	}
}

// TestServeShutsDownCleanly starts `lobby serve` on the embedded defaults, holds a
// request in flight, stops the server as SIGTERM would, and checks the request is
// answered and serve returns without error.
func TestServeShutsDownCleanly(t *testing.T) {
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	cfg, err := parseFlags("serve", []string{"--addr", "127.0.0.1:0", "--database", "sqlite:" + filepath.Join(t.TempDir(), "lobby.db")},
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var stdout syncBuffer
	go func() { done <- serve(ctx, cfg, &stdout, io.Discard, ready) }()
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	if !strings.Contains(stdout.String(), "Lobby is running at "+base) {
		t.Fatalf("serve printed %q, want the URL to open", stdout.String())
	}

	// A request whose body is still arriving when shutdown begins.
	conn, err := net.Dial("tcp", "127.0.0.1"+strings.TrimPrefix(base, "http://localhost"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"email": "late@example.com"}`
	io.WriteString(conn, "POST /api/v1/auth/code HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: "+
		strconv.Itoa(len(body))+"\r\n\r\n"+body[:10])
	time.Sleep(100 * time.Millisecond) // let the server start reading the request
	stop()                             // as SIGTERM does
	time.Sleep(100 * time.Millisecond)
	io.WriteString(conn, body[10:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the request in flight got no answer: %v", err)
	}
	var v map[string]any
	json.NewDecoder(resp.Body).Decode(&v)
	if resp.StatusCode != 202 || v["sent"] != true {
		t.Fatalf("in-flight request: %d %v", resp.StatusCode, v)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not return after shutdown")
	}
	// New connections are refused once it has stopped.
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("the server still answers after shutdown")
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// BenchmarkServeStartup measures `lobby serve` from start to accepting connections on an
// empty SQLite database, migrations included, and its shutdown.
func BenchmarkServeStartup(b *testing.B) {
	for i := 0; i < b.N; i++ {
		cfg, err := parseFlags("serve", []string{"--addr", "127.0.0.1:0", "--database", "sqlite:" + filepath.Join(b.TempDir(), "lobby.db")},
			func(string) string { return "" }, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		ctx, stop := context.WithCancel(context.Background())
		ready := make(chan string, 1)
		done := make(chan error, 1)
		go func() { done <- serve(ctx, cfg, io.Discard, io.Discard, ready) }()
		select {
		case <-ready:
		case err := <-done:
			b.Fatal(err)
		}
		stop()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
}

func TestNewLLM(t *testing.T) {
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want string // the provider's name, or "" for an error
	}{
		{nil, nil, "offline"},
		{[]string{"--llm", "openai", "--openai-base-url", "http://127.0.0.1:11434/v1"}, nil, "openai"},
		{nil, map[string]string{"ANTHROPIC_API_KEY": "sk-ant-test"}, "anthropic"},
		{[]string{"--llm", "anthropic"}, nil, ""},
		{[]string{"--llm", "openai"}, nil, ""}, // OpenAI's own API needs a key
	} {
		cfg, err := parseFlags("serve", tt.args, func(k string) string { return tt.env[k] }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		llm, err := app.NewLLM(cfg.Config)
		switch {
		case tt.want == "" && err == nil:
			t.Errorf("%v: no error", tt.args)
		case tt.want != "" && (err != nil || llm.Name() != tt.want):
			t.Errorf("%v %v: %v, %v; want %s", tt.args, tt.env, llm, err, tt.want)
		}
	}
}

// TestServePostgres starts serve on PostgreSQL, with its event broker, and stops it.
func TestServePostgres(t *testing.T) {
	if os.Getenv(storetest.PostgresURLVar) == "" {
		t.Skipf("PostgreSQL not tested: set %s to a server's URL (CI does)", storetest.PostgresURLVar)
	}
	url := storetest.Location(storetest.Postgres.Open(t))
	cfg, err := parseFlags("serve", []string{"--addr", "127.0.0.1:0", "--database", url}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, io.Discard, io.Discard, ready) }()
	select {
	case base := <-ready:
		resp, err := http.Get(base + "/readyz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("readyz: %v %v", resp, err)
		}
		resp.Body.Close()
	case err := <-done:
		t.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
