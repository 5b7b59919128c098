package http_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/chat"
	"github.com/lobby-dev/lobby/deliver"
	"github.com/lobby-dev/lobby/egress"
	lobbyhttp "github.com/lobby-dev/lobby/http"
	"github.com/lobby-dev/lobby/hub"
	"github.com/lobby-dev/lobby/jobs"
	"github.com/lobby-dev/lobby/local"
	"github.com/lobby-dev/lobby/mail"
	"github.com/lobby-dev/lobby/offline"
	"github.com/lobby-dev/lobby/sqldb"
	"github.com/lobby-dev/lobby/storetest"
	"github.com/lobby-dev/lobby/web"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
)

// testServer is a Lobby server on a fresh store, as `lobby serve` wires it, with the
// console mailer and local payments.
type testServer struct {
	t       testing.TB
	db      *sqldb.DB
	mailbox *mail.Console
	srv     *lobbyhttp.Server
	handler http.Handler
	clock   *storetest.Clock
	consult *chat.Service
	// worker makes webhook deliveries: in dev mode (to loopback receivers), on a
	// compressed schedule of eight attempts 10 ms apart.
	worker *deliver.Worker
	inbox  *deliver.Inbox
	queue  *river.Client[*sql.Tx]
}

type serverOption func(s *testServer)

func newTestServer(t testing.TB, b storetest.Backend, opts ...serverOption) *testServer {
	t.Helper()
	return newTestServerOn(t, b.Open(t), opts...)
}

// newTestServerOn is newTestServer on a store the test opened.
func newTestServerOn(t testing.TB, db *sqldb.DB, opts ...serverOption) *testServer {
	t.Helper()
	clock := storetest.NewClock()
	db.Now = clock.Now
	console := mail.NewConsole(slog.New(slog.DiscardHandler))
	payments := &local.Payments{BaseURL: "http://lobby.test"}
	events := hub.New()
	consult := &chat.Service{Chat: db, Consultants: db, Events: events, LLM: &offline.Provider{}, Logger: slog.New(slog.DiscardHandler)}
	srv := &lobbyhttp.Server{
		Auth: db, Consultants: db, Subscriptions: db, Chat: db, Consult: consult, Events: events,
		Payments: payments, Mailer: console, Mailbox: console,
		Ready: db.Ready, BaseURL: "http://lobby.test", Now: clock.Now,
	}
	srv.Pages = web.New(web.Config{Auth: db, Consultants: db, Subscriptions: db, Deliveries: db, Mailer: console, Payments: payments,
		BaseURL: "http://lobby.test", Now: clock.Now})
	payloads := &deliver.Events{Chat: db, ReplyURL: "http://lobby.test/api/v1/reply"}
	inbox := &deliver.Inbox{Deliveries: db, Events: events, Payloads: payloads}
	srv.Deliveries, srv.Inbox = db, inbox
	worker := &deliver.Worker{Events: payloads, Deliveries: db, Consultants: db, Users: db, Publisher: events, Mailer: console,
		Client: egress.NewClient(egress.Config{Dev: true, Timeout: 2 * time.Second}),
		Schedule: []time.Duration{0, 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond,
			10 * time.Millisecond, 10 * time.Millisecond, 10 * time.Millisecond},
		AttemptTimeout: 2 * time.Second, BaseURL: "http://lobby.test", Logger: slog.New(slog.DiscardHandler), Now: clock.Now}
	srv.Registry = prometheus.NewRegistry()
	worker.Metrics = deliver.NewMetrics(srv.Registry)
	s := &testServer{t: t, db: db, mailbox: console, srv: srv, clock: clock, consult: consult, worker: worker, inbox: inbox}
	for _, o := range opts {
		o(s)
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, worker)
	queue, err := jobs.New(db, workers, jobs.Config{JobTimeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := queue.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.queue = queue
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		queue.Stop(ctx)
		consult.Wait(ctx)
	})
	s.handler = srv.Handler()
	return s
}

// withEvents carries the server's events by e.
func withEvents(e lobby.EventService) serverOption {
	return func(s *testServer) {
		s.srv.Events = e
		s.consult.Events = e
		s.worker.Publisher = e
		s.inbox.Events = e
	}
}

// withLLM makes the server's consultants answer with llm.
func withLLM(llm lobby.LLM) serverOption {
	return func(s *testServer) { s.consult.LLM = llm }
}

// withDev runs the server in dev mode: webhooks may be plain http to loopback.
func withDev() serverOption {
	return func(s *testServer) { s.srv.Dev = true }
}

// response is an answer as a client reads it.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) json() map[string]any {
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		panic("not JSON: " + string(r.body))
	}
	return v
}

// errorCode returns the contract error's code, failing the test when the body is not
// in the contract's error shape.
func (r *response) errorCode(t testing.TB) (string, string) {
	t.Helper()
	var v struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil || v.Error.Code == "" || v.Error.Message == "" {
		t.Fatalf("status %d: body is not the contract's error shape: %s", r.status, r.body)
	}
	return v.Error.Code, v.Error.Message
}

// do sends a request: body is JSON-encoded unless it is a string or nil.
func (s *testServer) do(method, path, token string, body any, headers ...string) *response {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, "http://lobby.test"+path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	if req.Header.Get("X-Forwarded-For-Test") != "" {
		req.RemoteAddr = req.Header.Get("X-Forwarded-For-Test") + ":1234"
	}
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	return &response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// want fails the test unless r has the status, and for errors the contract's code.
func (r *response) want(t testing.TB, status int, code ...string) *response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.body)
	}
	if len(code) > 0 {
		got, msg := r.errorCode(t)
		if got != code[0] {
			t.Fatalf("error code = %q (%s), want %q", got, msg, code[0])
		}
		for _, w := range code[1:] {
			if !strings.Contains(msg, w) {
				t.Fatalf("error message %q does not say %q", msg, w)
			}
		}
	}
	return r
}

var codeRE = regexp.MustCompile(`\b(\d{6})\b`)

// signIn signs in through the API with the code from the dev mailbox.
func (s *testServer) signIn(email string) (string, string) {
	s.t.Helper()
	s.do("POST", "/api/v1/auth/code", "", map[string]string{"email": email}).want(s.t, 202)
	var mailbox struct {
		Data []lobby.Email `json:"data"`
	}
	json.Unmarshal(s.do("GET", "/dev/mailbox.json", "", nil).want(s.t, 200).body, &mailbox)
	code := ""
	for _, m := range mailbox.Data {
		if m.To == email {
			code = codeRE.FindString(m.Subject + " " + m.Text)
			break
		}
	}
	if code == "" {
		s.t.Fatalf("no code mailed to %s", email)
	}
	v := s.do("POST", "/api/v1/auth/verify", "", map[string]string{"email": email, "code": code}).want(s.t, 200).json()
	return v["token"].(string), v["user"].(map[string]any)["id"].(string)
}

func (s *testServer) createConsultant(token, slug string, extra map[string]any) map[string]any {
	s.t.Helper()
	body := map[string]any{"slug": slug, "name": "Consultant " + slug, "tagline": "Answers", "description": "Knows things.",
		"category": "general", "system_prompt": "You are helpful."}
	for k, v := range extra {
		body[k] = v
	}
	return s.do("POST", "/api/v1/consultants", token, body).want(s.t, 201).json()
}

// subscribe runs subscribe, complete and the first checkout read, and returns the
// subscription's id and buyer token.
func (s *testServer) subscribe(token, slug, tier string) (string, string) {
	s.t.Helper()
	ch := s.do("POST", "/api/v1/consultants/"+slug+"/subscribe", token, map[string]string{"tier": tier}).want(s.t, 201).json()
	done := s.do("POST", "/api/v1/checkout/"+ch["checkout_id"].(string)+"/complete", token, nil).want(s.t, 200).json()
	return done["subscription"].(map[string]any)["id"].(string), done["buyer_token"].(string)
}

// inGoroutine returns a copy of s whose failures end only the calling goroutine, for
// tests that send from many goroutines at once.
func (s *testServer) inGoroutine() *testServer {
	c := *s
	c.t = goroutineT{s.t}
	return &c
}

type goroutineT struct{ testing.TB }

func (g goroutineT) Fatalf(format string, args ...any) {
	g.TB.Helper()
	g.TB.Errorf(format, args...)
	runtime.Goexit()
}

func (g goroutineT) Fatal(args ...any) {
	g.TB.Helper()
	g.TB.Error(args...)
	runtime.Goexit()
}

// listen serves s on a loopback port for clients that need a real connection
// (streams, WebSockets) and returns its URL. The streams end when the test does.
func (s *testServer) listen() string {
	web := httptest.NewServer(s.handler)
	s.t.Cleanup(func() {
		s.srv.Close()
		web.Close()
	})
	return web.URL
}
