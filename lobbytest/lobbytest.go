// Package lobbytest runs the real `lobby` binary for tests that need a whole process:
// ones that kill it, and examples that talk to it as any client would.
package lobbytest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lobby-dev/lobby/bench/devclient"
	"github.com/lobby-dev/lobby/sqldb"
	"github.com/lobby-dev/lobby/storetest"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// Binary builds cmd/lobby once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Dir(filepath.Dir(file))
		dir, err := os.MkdirTemp("", "lobbytest")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "lobby")
		cmd := exec.Command("go", "build", "-o", binary, "./cmd/lobby")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/lobby: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// Database returns a --database value for a fresh store of backend b: a new SQLite
// file, or a PostgreSQL schema of its own. The store is migrated.
func Database(t testing.TB, b storetest.Backend) string {
	t.Helper()
	dsn, _ := Store(t, b)
	return dsn
}

// Store is Database with the test's own handle on the store, to look at what the
// server wrote.
func Store(t testing.TB, b storetest.Backend) (string, *sqldb.DB) {
	t.Helper()
	db := b.Open(t)
	loc := storetest.Location(db)
	if b.Name == "sqlite" {
		loc = "sqlite:" + loc
	}
	return loc, db
}

// Process is a running `lobby serve`.
type Process struct {
	t    testing.TB
	args []string
	cmd  *exec.Cmd
	done chan struct{}
	// URL is the server's base URL.
	URL string
	api *devclient.Client // of URL
	log *bytes.Buffer
	mu  sync.Mutex
}

var urlRE = regexp.MustCompile(`Lobby is running at (http://\S+)`)

// Serve starts `lobby serve --dev --addr 127.0.0.1:0 --public-rate-limit 0` with
// the extra args, and waits until it accepts requests. It is killed when t ends.
func Serve(t testing.TB, args ...string) *Process {
	t.Helper()
	p := &Process{t: t, args: append([]string{"serve", "--dev", "--addr", "127.0.0.1:0", "--public-rate-limit", "0"}, args...)}
	p.start()
	t.Cleanup(p.Kill)
	return p
}

func (p *Process) start() {
	p.t.Helper()
	p.cmd = exec.Command(Binary(p.t), p.args...)
	p.cmd.Env = append(os.Environ(), "LOBBY_LLM=offline")
	p.log = &bytes.Buffer{}
	p.cmd.Stderr = &lockedWriter{w: p.log, mu: &p.mu}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func() { p.cmd.Wait(); close(p.done) }()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case p.URL = <-found:
		if p.api, err = devclient.New(p.URL, 64, 0); err != nil {
			p.t.Fatal(err)
		}
	case <-p.done:
		p.t.Fatalf("lobby serve exited at start:\n%s", p.Log())
	case <-time.After(60 * time.Second):
		p.t.Fatalf("lobby serve did not start within 60 s:\n%s", p.Log())
	}
}

// Log returns what the process has logged.
func (p *Process) Log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

// Kill ends the process with SIGKILL, as a crash would, and waits for it.
func (p *Process) Kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Kill()
	<-p.done
}

// Restart starts the process again with the same arguments, on a new port.
func (p *Process) Restart() {
	p.t.Helper()
	p.Kill()
	p.start()
}

// Do sends a JSON request and decodes the JSON answer into out (when not nil). It
// fails the test unless the status is want.
func (p *Process) Do(method, path, token string, body, out any, want int) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.api.DoInto(ctx, method, path, token, body, out, want); err != nil {
		p.t.Fatal(err)
	}
}

// SignIn signs email in with the code from the dev mailbox and returns the token.
func (p *Process) SignIn(email string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	token, err := p.api.SignIn(ctx, email)
	if err != nil {
		p.t.Fatal(err)
	}
	return token
}

// Agent is a self-hosted consultant made through the API.
type Agent struct {
	Owner, Key, Secret string
}

// CreateAgent makes a consultant in the given mode ("webhook" with webhook_url, or
// "polling") owned by a new user.
func (p *Process) CreateAgent(slug, mode, webhookURL string) Agent {
	p.t.Helper()
	owner := p.SignIn("owner-" + slug + "@example.com")
	body := map[string]any{"slug": slug, "name": "Agent " + slug, "tagline": "Answers", "description": "A self-hosted agent.",
		"category": "general", "mode": mode}
	if webhookURL != "" {
		body["webhook_url"] = webhookURL
	}
	var v struct {
		APIKey        string `json:"api_key"`
		WebhookSecret string `json:"webhook_secret"`
	}
	p.Do("POST", "/api/v1/consultants", owner, body, &v, 201)
	return Agent{Owner: owner, Key: v.APIKey, Secret: v.WebhookSecret}
}

// Subscribe makes a buyer subscribed to slug's unlimited tier and returns its token.
func (p *Process) Subscribe(slug, email string) string {
	p.t.Helper()
	user := p.SignIn(email)
	var ch struct {
		CheckoutID string `json:"checkout_id"`
	}
	p.Do("POST", "/api/v1/consultants/"+slug+"/subscribe", user, map[string]string{"tier": "unlimited"}, &ch, 201)
	var done struct {
		BuyerToken string `json:"buyer_token"`
	}
	p.Do("POST", "/api/v1/checkout/"+ch.CheckoutID+"/complete", user, nil, &done, 200)
	return done.BuyerToken
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// WS turns an http:// URL into ws://.
func WS(url string) string { return strings.Replace(url, "http", "ws", 1) }
