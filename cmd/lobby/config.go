package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/app"
)

// Config is everything `lobby serve` and `lobby migrate` read from flags and LOBBY_*
// variables: the program's configuration and what only the command needs.
type Config struct {
	app.Config
	Addr           string
	WebhookRetries string // parsed into RetrySchedule
	Proxies        string // parsed into TrustedProxies
	StripeSecrets  string // parsed into StripeWebhookSecrets
}

// parseFlags reads args, then fills each flag not given from its environment variable
// LOBBY_<FLAG> (upper case, - as _); secrets may also come from a file named by
// LOBBY_<FLAG>_FILE. A flag wins over its variable.
func parseFlags(name string, args []string, getenv func(string) string, stderr io.Writer) (*Config, error) {
	c := &Config{}
	fs := flag.NewFlagSet("lobby "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.Addr, "addr", ":8080", "address to listen on")
	fs.StringVar(&c.Database, "database", "sqlite:lobby.db", "sqlite:PATH or a postgres:// URL")
	fs.StringVar(&c.BaseURL, "base-url", "", "the public URL, for links (default http://localhost:PORT)")
	fs.BoolVar(&c.Dev, "dev", false, "development mode: allows plain-http webhooks to loopback and private addresses")
	fs.StringVar(&c.LLM, "llm", "", "inference provider: offline, anthropic or openai (default anthropic when ANTHROPIC_API_KEY is set, else offline)")
	fs.StringVar(&c.AnthropicAPIKey, "anthropic-api-key", "", "Anthropic API key, for --llm anthropic (or ANTHROPIC_API_KEY)")
	fs.StringVar(&c.OpenAIAPIKey, "openai-api-key", "", "API key of the OpenAI-compatible server, for --llm openai (or OPENAI_API_KEY)")
	fs.StringVar(&c.OpenAIBaseURL, "openai-base-url", "", "base URL of an OpenAI-compatible API (OpenRouter, Ollama, vLLM, llama.cpp); default OpenAI's")
	fs.StringVar(&c.OpenAIModel, "openai-model", "", "model for --llm openai when a consultant names none (default gpt-4o-mini)")
	fs.StringVar(&c.Embeddings, "embeddings", "words", "embedding model for knowledge search: words (built in, no network) or openai (any OpenAI-compatible /v1/embeddings)")
	fs.StringVar(&c.EmbeddingsURL, "embeddings-url", "", "base URL of the OpenAI-compatible embeddings API, for --embeddings openai (default OpenAI's; Ollama: http://localhost:11434/v1)")
	fs.StringVar(&c.EmbeddingsModel, "embeddings-model", "", "embedding model, for --embeddings openai (default text-embedding-3-small)")
	fs.StringVar(&c.EmbeddingsAPIKey, "embeddings-api-key", "", "API key of the embeddings API, for --embeddings openai (default --openai-api-key)")
	fs.StringVar(&c.Mail, "mail", "console", "mailer: console (logs mail and keeps /dev/mailbox), resend or smtp")
	fs.StringVar(&c.MailFrom, "mail-from", "Lobby <login@lobby.localhost>", "the From of Lobby's mail")
	fs.StringVar(&c.ResendAPIKey, "resend-api-key", "", "Resend API key, for --mail resend (or RESEND_API_KEY)")
	fs.StringVar(&c.SMTPURL, "smtp-url", "", "smtp://user:pass@host:587 or smtps://..., for --mail smtp")
	fs.StringVar(&c.Payments, "payments", "local", "payment provider: local (a confirm page stands in for paying) or stripe")
	fs.StringVar(&c.StripeSecretKey, "stripe-secret-key", "", "Stripe secret key (sk_live_... or sk_test_...), for --payments stripe")
	fs.StringVar(&c.StripeSecrets, "stripe-webhook-secret", "", "Stripe webhook signing secrets (whsec_...), comma-separated when the account's and the Connect endpoint's differ")
	fs.StringVar(&c.StripeAPIURL, "stripe-api-url", "", "base URL of Stripe's API, such as stripe-mock's http://localhost:12111 (default Stripe's own)")
	fs.Float64Var(&c.PlatformFeePercent, "platform-fee-percent", 10, "the platform's share of each charge and of each message paid from credits, in per cent")
	fs.IntVar(&c.PublicRateLimit, "public-rate-limit", 10, "requests a minute per IP on public routes; 0 turns it off")
	fs.IntVar(&c.CodeRateLimit, "code-rate-limit", 10, "sign-in codes an hour one IP may ask for, to any emails; 0 turns it off")
	fs.IntVar(&c.TokenRateLimit, "token-rate-limit", 120, "requests a minute per token on public routes, for authenticated callers; 0 turns it off")
	fs.IntVar(&c.StreamLimit, "stream-limit", 20, "streams, WebSockets and long polls one token may hold open at once (raise it only for load tests)")
	fs.StringVar(&c.Proxies, "trusted-proxies", "", "comma-separated CIDRs or addresses of the proxies whose X-Forwarded-For or Forwarded names the client")
	fs.StringVar(&c.MetricsToken, "metrics-token", "", "bearer token that lets a client elsewhere read /metrics (loopback clients need none)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", "", "serve /metrics on this address of its own instead, such as 127.0.0.1:9100")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 30*time.Second, "how long shutdown waits for requests in flight")
	fs.DurationVar(&c.ReplyTimeout, "reply-timeout", 3*time.Minute, "the longest a managed reply may take; one whose process died is produced again after it")
	fs.DurationVar(&c.WebhookTimeout, "webhook-timeout", 15*time.Second, "how long a webhook delivery waits for the agent's answer")
	fs.StringVar(&c.WebhookRetries, "webhook-retry-schedule", "0s,5s,5m,30m,2h,5h,10h,10h",
		"the wait before each webhook delivery attempt, comma-separated; after the last the delivery fails")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q; flags go like --addr :8080", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		env := "LOBBY_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v := getenv(env)
		if file := getenv(env + "_FILE"); v == "" && file != "" {
			b, rerr := os.ReadFile(file)
			if rerr != nil {
				err = fmt.Errorf("%s_FILE: %w", env, rerr)
				return
			}
			v = strings.TrimSpace(string(b))
		}
		if v != "" {
			if serr := f.Value.Set(v); serr != nil {
				err = fmt.Errorf("%s=%q: %v", env, v, serr)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if c.ResendAPIKey == "" {
		c.ResendAPIKey = getenv("RESEND_API_KEY")
	}
	if c.AnthropicAPIKey == "" {
		c.AnthropicAPIKey = getenv("ANTHROPIC_API_KEY")
	}
	if c.OpenAIAPIKey == "" {
		c.OpenAIAPIKey = getenv("OPENAI_API_KEY")
	}
	if c.EmbeddingsAPIKey == "" {
		c.EmbeddingsAPIKey = c.OpenAIAPIKey
	}
	if c.LLM == "" {
		c.LLM = "offline"
		if c.AnthropicAPIKey != "" {
			c.LLM = "anthropic"
		}
	}
	return c, c.validate()
}

func (c *Config) validate() error {
	switch c.LLM {
	case "offline", "anthropic", "openai":
	default:
		return fmt.Errorf("--llm %q: use offline, anthropic or openai", c.LLM)
	}
	switch c.Embeddings {
	case "words", "openai":
	default:
		return fmt.Errorf("--embeddings %q: use words or openai", c.Embeddings)
	}
	switch c.Mail {
	case "console", "resend", "smtp":
	default:
		return fmt.Errorf("--mail %q: use console, resend or smtp", c.Mail)
	}
	switch c.Payments {
	case "local":
	case "stripe":
		if c.StripeSecretKey == "" {
			return fmt.Errorf("--payments stripe needs --stripe-secret-key (or LOBBY_STRIPE_SECRET_KEY): the secret key of the Stripe account")
		}
		for _, s := range strings.Split(c.StripeSecrets, ",") {
			if s = strings.TrimSpace(s); s != "" {
				c.StripeWebhookSecrets = append(c.StripeWebhookSecrets, s)
			}
		}
		if len(c.StripeWebhookSecrets) == 0 {
			return fmt.Errorf("--payments stripe needs --stripe-webhook-secret (or LOBBY_STRIPE_WEBHOOK_SECRET): the signing secret (whsec_...) " +
				"of the webhook endpoint pointed at /api/v1/stripe/webhook, so that Lobby can tell Stripe's events from forgeries")
		}
		if c.StripeAPIURL != "" && !strings.HasPrefix(c.StripeAPIURL, "http://") && !strings.HasPrefix(c.StripeAPIURL, "https://") {
			return fmt.Errorf("--stripe-api-url %q must start with http:// or https://", c.StripeAPIURL)
		}
		if c.PlatformFeePercent < 0 || c.PlatformFeePercent > 100 {
			return fmt.Errorf("--platform-fee-percent %v: use 0 to 100", c.PlatformFeePercent)
		}
	default:
		return fmt.Errorf("--payments %q: use local or stripe", c.Payments)
	}
	if c.ReplyTimeout < time.Second || c.ReplyTimeout > 30*time.Minute {
		return fmt.Errorf("--reply-timeout %s: use 1s to 30m", c.ReplyTimeout)
	}
	if c.WebhookTimeout < time.Second || c.WebhookTimeout > 5*time.Minute {
		return fmt.Errorf("--webhook-timeout %s: use 1s to 5m", c.WebhookTimeout)
	}
	for _, f := range strings.Split(c.WebhookRetries, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || d < 0 || d > 7*24*time.Hour {
			return fmt.Errorf("--webhook-retry-schedule %q: want durations from 0s to 168h separated by commas, like 0s,5s,5m", c.WebhookRetries)
		}
		c.RetrySchedule = append(c.RetrySchedule, d)
	}
	if len(c.RetrySchedule) > 50 {
		return fmt.Errorf("--webhook-retry-schedule: at most 50 attempts")
	}
	if c.PublicRateLimit < 0 {
		return fmt.Errorf("--public-rate-limit must be 0 (off) or more")
	}
	if c.CodeRateLimit < 0 {
		return fmt.Errorf("--code-rate-limit must be 0 (off) or more")
	}
	if c.StreamLimit < 1 {
		return fmt.Errorf("--stream-limit must be 1 or more")
	}
	if c.TokenRateLimit < 0 {
		return fmt.Errorf("--token-rate-limit must be 0 (off) or more")
	}
	for _, f := range strings.Split(c.Proxies, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return fmt.Errorf("--trusted-proxies: %q is neither a CIDR such as 10.0.0.0/8 nor an address", f)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		c.TrustedProxies = append(c.TrustedProxies, p.Masked())
	}
	if !strings.HasPrefix(c.Database, "sqlite:") && !strings.HasPrefix(c.Database, "postgres://") && !strings.HasPrefix(c.Database, "postgresql://") {
		return fmt.Errorf("--database %q: use sqlite:PATH (for example sqlite:lobby.db) or a postgres:// URL", c.Database)
	}
	if c.BaseURL != "" && !strings.HasPrefix(c.BaseURL, "http://") && !strings.HasPrefix(c.BaseURL, "https://") {
		return fmt.Errorf("--base-url %q must start with http:// or https://", c.BaseURL)
	}
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	if !c.Dev && c.BaseURL != "" && !isLoopbackURL(c.BaseURL) {
		if c.Mail == "console" {
			return fmt.Errorf("--base-url %s is public, but the console mailer keeps every sign-in code at /dev/mailbox "+
				"instead of mailing it: configure real mail (--mail resend with --resend-api-key, or --mail smtp with --smtp-url), "+
				"or add --dev to try Lobby on this URL", c.BaseURL)
		}
		if c.Payments == "local" {
			return fmt.Errorf("--base-url %s is public, but local payments give every subscription away with a confirm page: "+
				"configure Stripe (--payments stripe with --stripe-secret-key and --stripe-webhook-secret), or add --dev to try Lobby on this URL", c.BaseURL)
		}
	}
	return nil
}

// isLoopbackURL reports whether u's host is localhost, 127.0.0.0/8 or [::1].
func isLoopbackURL(u string) bool {
	parsed, err := url.Parse(u)
	if err != nil {
		return false
	}
	return lobby.IsLoopbackHost(strings.ToLower(parsed.Hostname()))
}

// baseURL is --base-url, or the local URL of the address the server listens on.
func (c *Config) baseURL(addr net.Addr) string {
	if c.BaseURL != "" {
		return c.BaseURL
	}
	_, port, _ := net.SplitHostPort(addr.String())
	return "http://localhost:" + port
}
