package http_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lobby-dev/lobby/storetest"
	"github.com/lobby-dev/lobby/webhook"
)

func TestRateLimit(t *testing.T) {
	s := newTestServer(t, storetest.SQLite, func(s *testServer) { s.app.Config.PublicRateLimit = 3 })
	from := func(ip string) []string { return []string{"X-Forwarded-For-Test", ip} }
	for i := 1; i <= 3; i++ {
		r := s.do("GET", "/api/v1/consultants", "", nil, from("192.0.2.1")...).want(t, 200)
		if got := r.header.Get("RateLimit-Remaining"); got != strconv.Itoa(3-i) || r.header.Get("RateLimit-Limit") != "3" {
			t.Fatalf("request %d: RateLimit-Remaining %q, Limit %q", i, got, r.header.Get("RateLimit-Limit"))
		}
	}
	r := s.do("POST", "/api/v1/auth/code", "", map[string]string{"email": "a@example.com"}, from("192.0.2.1")...).want(t, 429, "rate_limited", "retry in")
	if ra := r.header.Get("Retry-After"); ra != "60" || r.header.Get("RateLimit-Reset") != "60" || r.header.Get("RateLimit-Remaining") != "0" {
		t.Fatalf("429 headers: Retry-After %q, RateLimit-Reset %q", ra, r.header.Get("RateLimit-Reset"))
	}
	// Another address has its own allowance; private routes are not limited.
	s.do("GET", "/api/v1/consultants", "", nil, from("192.0.2.2")...).want(t, 200)
	s.do("GET", "/healthz", "", nil, from("192.0.2.1")...).want(t, 200)
	// The window ends.
	s.clock.Add(61e9)
	s.do("GET", "/api/v1/consultants", "", nil, from("192.0.2.1")...).want(t, 200)
}

func TestRateLimitOff(t *testing.T) {
	s := newTestServer(t, storetest.SQLite)
	for range 50 {
		s.do("GET", "/api/v1/consultants", "", nil).want(t, 200)
	}
}

func TestOperations(t *testing.T) {
	s := newTestServer(t, storetest.SQLite)
	s.do("GET", "/healthz", "", nil).want(t, 200)
	if s.do("GET", "/readyz", "", nil).want(t, 200).json()["status"] != "ready" {
		t.Fatal("readyz not ready")
	}

	r := s.do("GET", "/api/v1/consultants", "", nil, "X-Request-Id", "trace-123")
	if r.header.Get("X-Request-Id") != "trace-123" {
		t.Fatalf("X-Request-Id = %q, want the client's", r.header.Get("X-Request-Id"))
	}
	r = s.do("GET", "/api/v1/consultants", "", nil, "X-Request-Id", "bad id with spaces")
	if id := r.header.Get("X-Request-Id"); len(id) != 24 {
		t.Fatalf("X-Request-Id = %q, want a fresh one", id)
	}

	page := s.do("GET", "/", "", nil).want(t, 200)
	if !strings.HasPrefix(page.header.Get("Content-Type"), "text/html") ||
		!strings.Contains(page.header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("home page headers: %v", page.header)
	}

	metrics := string(s.do("GET", "/metrics", "", nil, "X-Forwarded-For-Test", "127.0.0.1").want(t, 200).body)
	for _, want := range []string{
		`lobby_http_requests_total{method="GET",route="GET /api/v1/consultants",status="200"} 2`,
		`lobby_http_request_duration_seconds_bucket{method="GET",route="GET /healthz"`,
	} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("metrics lack %s", want)
		}
	}

	// Ready fails when the database is gone.
	s.db.Close()
	s.do("GET", "/readyz", "", nil).want(t, 503, "unavailable")
}

func TestPanicIsInternalError(t *testing.T) {
	s := newTestServer(t, storetest.SQLite, func(ts *testServer) {
		ts.afterOpen = func() { ts.srv.Pages = panicPages{} }
	})
	r := s.do("GET", "/boom", "", nil).want(t, 500, "internal")
	if strings.Contains(string(r.body), "boom") {
		t.Fatalf("panic details reached the client: %s", r.body)
	}
}

// TestOpenAPI: the served document describes every route the server has, with local
// payments or with Stripe, and no other.
func TestOpenAPI(t *testing.T) {
	s := newTestServer(t, storetest.SQLite)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(s.do("GET", "/api/openapi.json", "", nil).want(t, 200).body, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	// Some routes exist with one payment provider only: the document describes both.
	patterns := append(s.srv.Patterns(), newTestServer(t, storetest.SQLite, withStripe("")).srv.Patterns()...)
	var missing []string
	for _, pattern := range patterns {
		method, path, _ := strings.Cut(pattern, " ")
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			missing = append(missing, pattern)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("openapi.json lacks %d routes:\n%s", len(missing), strings.Join(missing, "\n"))
	}
	// And it describes no route that does not exist.
	routes := map[string]bool{}
	for _, p := range patterns {
		routes[p] = true
	}
	param := regexp.MustCompile(`\{[a-z_]+\}`)
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			p := strings.ToUpper(method) + " " + path
			if !routes[p] && !routes[param.ReplaceAllString(p, "{id}")] {
				t.Errorf("openapi.json describes %s, which the server does not route", p)
			}
		}
	}
}

// TestDevMailboxLoopbackOnly: outside --dev the dev mailbox, which holds everyone's
// sign-in codes, answers only this machine; a neighbour on the network gets a 404.
func TestDevMailboxLoopbackOnly(t *testing.T) {
	s := newTestServer(t, storetest.SQLite)
	s.do("POST", "/api/v1/auth/code", "", map[string]string{"email": "victim@example.com"}).want(t, 202)
	for _, path := range []string{"/dev/mailbox.json", "/dev/mailbox"} {
		r := s.do("GET", path, "", nil, "X-Forwarded-For-Test", "192.0.2.9").want(t, 404, "not_found")
		if strings.Contains(string(r.body), "victim@example.com") {
			t.Fatalf("%s showed the mail to a remote client: %s", path, r.body)
		}
		for _, local := range []string{"127.0.0.1", "::1"} {
			if r := s.do("GET", path, "", nil, "X-Forwarded-For-Test", local).want(t, 200); !strings.Contains(string(r.body), "victim@example.com") {
				t.Fatalf("%s from %s: %s", path, local, r.body)
			}
		}
	}
	dev := newTestServer(t, storetest.SQLite, withDev())
	dev.do("POST", "/api/v1/auth/code", "", map[string]string{"email": "dev@example.com"}).want(t, 202)
	dev.do("GET", "/dev/mailbox.json", "", nil, "X-Forwarded-For-Test", "192.0.2.9").want(t, 200)
}

// panicPages are pages that panic on every request.
type panicPages struct{}

func (panicPages) ServeHTTP(http.ResponseWriter, *http.Request)   { panic("boom") }
func (panicPages) Fail(http.ResponseWriter, *http.Request, error) { panic("boom") }

// TestSignInLimits: the sign-in forms are rate limited exactly as the API's sign-in
// routes, and one address may ask for only so many codes an hour, to any emails, by
// either surface.
func TestSignInLimits(t *testing.T) {
	from := func(ip string) []string { return []string{"X-Forwarded-For-Test", ip} }
	form := func(s *testServer, path, ip string, v url.Values) *response {
		req := httptest.NewRequest("POST", "http://lobby.test"+path, strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = ip + ":1234"
		rec := httptest.NewRecorder()
		s.handler.ServeHTTP(rec, req)
		return &response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	}
	t.Run("ErrFormsRateLimited", func(t *testing.T) {
		s := newTestServer(t, storetest.SQLite, func(s *testServer) { s.app.Config.PublicRateLimit = 2 })
		for _, path := range []string{"/login", "/login/verify"} {
			ip := "192.0.2." + strconv.Itoa(len(path))
			v := url.Values{"email": {"a@example.com"}, "code": {"123456"}}
			for range 2 {
				if r := form(s, path, ip, v); r.status == 429 {
					t.Fatalf("%s: limited too soon", path)
				}
			}
			r := form(s, path, ip, v)
			if r.status != 429 || !strings.Contains(string(r.body), "retry in") || !strings.Contains(r.header.Get("Content-Type"), "text/html") ||
				r.header.Get("Retry-After") == "" {
				t.Fatalf("%s, third form from one address: %d %s %s", path, r.status, r.header.Get("Content-Type"), r.body)
			}
		}
	})
	t.Run("ErrCodesPerAddress", func(t *testing.T) {
		s := newTestServer(t, storetest.SQLite, func(s *testServer) { s.app.Config.CodeRateLimit = 3 })
		for i := range 2 {
			s.do("POST", "/api/v1/auth/code", "", map[string]string{"email": "user" + strconv.Itoa(i) + "@example.com"}, from("192.0.2.7")...).want(t, 202)
		}
		if r := form(s, "/login", "192.0.2.7", url.Values{"email": {"user2@example.com"}}); r.status != 200 {
			t.Fatalf("third code, by the form: %d %s", r.status, r.body)
		}
		s.do("POST", "/api/v1/auth/code", "", map[string]string{"email": "user3@example.com"}, from("192.0.2.7")...).
			want(t, 429, "rate_limited", "sign-in codes an hour")
		if r := form(s, "/login", "192.0.2.7", url.Values{"email": {"user4@example.com"}}); r.status != 429 {
			t.Fatalf("a fifth code by the form: %d", r.status)
		}
		if n := len(s.mailbox.Messages()); n != 3 {
			t.Fatalf("%d codes mailed, want 3", n)
		}
		// Another address has its own allowance; verifying is not asking for a code.
		s.do("POST", "/api/v1/auth/code", "", map[string]string{"email": "user5@example.com"}, from("192.0.2.8")...).want(t, 202)
		s.do("POST", "/api/v1/auth/verify", "", map[string]string{"email": "user0@example.com", "code": "000000"}, from("192.0.2.7")...).want(t, 401)
		s.clock.Add(time.Hour)
		s.do("POST", "/api/v1/auth/code", "", map[string]string{"email": "user6@example.com"}, from("192.0.2.7")...).want(t, 202)
	})
}

// TestSlowBody: a body that does not arrive in time is answered 400 saying so, while a
// request whose body came at once may wait on its answer longer than that.
func TestSlowBody(t *testing.T) {
	const limit = 300 * time.Millisecond
	s := newTestServer(t, storetest.SQLite, func(s *testServer) { s.afterOpen = func() { s.srv.BodyTimeout = limit } })
	base := s.listen()

	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "POST /api/v1/auth/code HTTP/1.1\r\nHost: lobby.test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\"")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second)) // the bound of the test, not the server's
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the server never answered a body that stopped: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(body), "did not arrive") {
		t.Fatalf("a stalled body: %d %s", resp.StatusCode, body)
	}

	// A polling agent answers after twice the limit; the buyer, whose body came at once,
	// still gets the reply.
	_, key, _, buyer := agentSetup(s, "patient", "polling", "")
	go func() {
		time.Sleep(2 * limit)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var inbox struct {
			Data []webhook.Event `json:"data"`
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/inbox?wait=5", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		if r, err := http.DefaultClient.Do(req); err == nil {
			json.NewDecoder(r.Body).Decode(&inbox)
			r.Body.Close()
		}
		if len(inbox.Data) == 1 {
			b, _ := json.Marshal(map[string]any{"conversation_id": inbox.Data[0].Data.ConversationID, "content": "Worth the wait."})
			req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/reply", bytes.NewReader(b))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			if r, err := http.DefaultClient.Do(req); err == nil {
				r.Body.Close()
			}
		}
	}()
	b, _ := json.Marshal(map[string]any{"message": "Take your time.", "wait_seconds": 10})
	req, _ := http.NewRequest("POST", base+"/api/v1/chat", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+buyer)
	req.Header.Set("Content-Type", "application/json")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var v struct {
		Reply *struct{ Content string } `json:"reply"`
	}
	json.NewDecoder(r.Body).Decode(&v)
	if r.StatusCode != 200 || v.Reply == nil || v.Reply.Content != "Worth the wait." {
		t.Fatalf("a wait longer than the body's limit: %d %+v", r.StatusCode, v.Reply)
	}
}

// TestMetricsAccess: /metrics answers this machine, and a client elsewhere only with
// --metrics-token; on a listener of its own it leaves the API's routes.
func TestMetricsAccess(t *testing.T) {
	s := newTestServer(t, storetest.SQLite, func(s *testServer) { s.app.Config.MetricsToken = "metrics-secret" })
	remote := []string{"X-Forwarded-For-Test", "192.0.2.44"}
	s.do("GET", "/metrics", "", nil, remote...).want(t, 404, "not_found")
	s.do("GET", "/metrics", "wrong-secret", nil, remote...).want(t, 404, "not_found")
	s.do("GET", "/metrics", "", nil, append(remote, "Cookie", "lobby_session=metrics-secret")...).want(t, 404, "not_found")
	if r := s.do("GET", "/metrics", "metrics-secret", nil, remote...).want(t, 200); !strings.Contains(string(r.body), "lobby_http_requests_total") {
		t.Fatalf("metrics with the token: %s", r.body)
	}
	s.do("GET", "/metrics", "", nil, "X-Forwarded-For-Test", "127.0.0.1").want(t, 200)

	apart := newTestServer(t, storetest.SQLite, func(s *testServer) { s.app.Config.MetricsAddr = "127.0.0.1:0" })
	apart.do("GET", "/metrics", "", nil, "X-Forwarded-For-Test", "127.0.0.1").want(t, 404)
	rec := httptest.NewRecorder()
	apart.srv.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "go_goroutines") {
		t.Fatalf("the metrics listener's handler: %d", rec.Code)
	}
}

// TestHSTS: a server on an https base URL tells browsers to keep to https.
func TestHSTS(t *testing.T) {
	s := newTestServer(t, storetest.SQLite, func(s *testServer) { s.app.Config.BaseURL = "https://lobby.example.com" })
	if got := s.do("GET", "/healthz", "", nil).header.Get("Strict-Transport-Security"); !strings.HasPrefix(got, "max-age=") {
		t.Fatalf("Strict-Transport-Security = %q", got)
	}
	plain := newTestServer(t, storetest.SQLite)
	if got := plain.do("GET", "/healthz", "", nil).header.Get("Strict-Transport-Security"); got != "" {
		t.Fatalf("an http server sent Strict-Transport-Security %q", got)
	}
}

// TestRateLimitPerToken: on public routes an authenticated caller has an allowance of
// its own, so agents behind one address do not starve each other; and behind a trusted
// proxy each client has its own, while a proxy on this machine does not make everyone
// local to the dev mailbox.
func TestRateLimitPerToken(t *testing.T) {
	s := newTestServer(t, storetest.SQLite, func(s *testServer) {
		s.app.Config.PublicRateLimit, s.app.Config.TokenRateLimit = 2, 4
		s.app.Config.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	alice, _ := storetest.SignIn(t, s.db.Services().Auth, "alice@example.com") // by the store: HTTP sign-ins would spend the allowance
	bob, _ := storetest.SignIn(t, s.db.Services().Auth, "bob@example.com")
	nat := []string{"X-Forwarded-For-Test", "198.51.100.1"}
	for range 2 {
		s.do("GET", "/api/v1/consultants", "", nil, nat...).want(t, 200)
	}
	s.do("GET", "/api/v1/consultants", "", nil, nat...).want(t, 429, "rate_limited", "from your address")
	for range 4 {
		s.do("GET", "/api/v1/consultants", alice, nil, nat...).want(t, 200)
	}
	s.do("GET", "/api/v1/consultants", alice, nil, nat...).want(t, 429, "rate_limited", "with this token")
	s.do("GET", "/api/v1/consultants", bob, nil, nat...).want(t, 200)

	proxied := func(client string) []string {
		return []string{"X-Forwarded-For-Test", "10.0.0.2", "X-Forwarded-For", client}
	}
	s.do("GET", "/api/v1/consultants", "", nil, proxied("203.0.113.1")...).want(t, 200)
	s.do("GET", "/api/v1/consultants", "", nil, proxied("203.0.113.1")...).want(t, 200)
	s.do("GET", "/api/v1/consultants", "", nil, proxied("203.0.113.1")...).want(t, 429)
	s.do("GET", "/api/v1/consultants", "", nil, proxied("203.0.113.2")...).want(t, 200)

	local := newTestServer(t, storetest.SQLite, func(s *testServer) {
		s.app.Config.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	local.do("GET", "/dev/mailbox.json", "", nil, "X-Forwarded-For-Test", "127.0.0.1", "X-Forwarded-For", "203.0.113.5").want(t, 404)
	local.do("GET", "/dev/mailbox.json", "", nil, "X-Forwarded-For-Test", "127.0.0.1").want(t, 200)
}
