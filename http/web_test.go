package http_test

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/lobby-dev/lobby/storetest"
)

// browser is a person's browser: it keeps the session cookie and posts forms.
type browser struct {
	t      *testing.T
	s      *testServer
	cookie *http.Cookie
}

func (b *browser) get(path string) *response { return b.send("GET", path, nil) }

func (b *browser) post(path string, form url.Values) *response { return b.send("POST", path, form) }

func (b *browser) send(method, path string, form url.Values) *response {
	b.t.Helper()
	return b.sendFrom("http://lobby.test", method, path, form)
}

// sendFrom sends a form as a page of origin would post it: another site's, to forge one.
func (b *browser) sendFrom(origin, method, path string, form url.Values) *response {
	b.t.Helper()
	var req *http.Request
	if form != nil {
		req = httptest.NewRequest(method, "http://lobby.test"+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", origin)
	} else {
		req = httptest.NewRequest(method, "http://lobby.test"+path, nil)
	}
	if b.cookie != nil {
		req.AddCookie(b.cookie)
	}
	rec := httptest.NewRecorder()
	b.s.handler.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == "lobby_session" {
			b.cookie = c
		}
	}
	return &response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// upload posts a file as the page's upload form does without script.
func (b *browser) upload(path, filename string, content []byte) *response {
	b.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", filename)
	fw.Write(content)
	mw.WriteField("title", "")
	mw.Close()
	req := httptest.NewRequest("POST", "http://lobby.test"+path, &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Origin", "http://lobby.test")
	if b.cookie != nil {
		req.AddCookie(b.cookie)
	}
	rec := httptest.NewRecorder()
	b.s.handler.ServeHTTP(rec, req)
	return &response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

func (r *response) html(t *testing.T, status int, says ...string) string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	for _, s := range says {
		if !strings.Contains(string(r.body), s) {
			t.Fatalf("page does not say %q:\n%s", s, r.body)
		}
	}
	return string(r.body)
}

// TestWebSubscribe: a person signs in with the emailed code, finds a consultant,
// subscribes, confirms on the local checkout page and sees the buyer token once.
func TestWebSubscribe(t *testing.T) {
	s := newTestServer(t, storetest.SQLite)
	owner, _ := s.signIn("owner@example.com")
	s.createConsultant(owner, "chef", map[string]any{"name": "Sous Chef", "description": "Recipes <b>and</b> techniques."})

	b := &browser{t: t, s: s}
	b.get("/?q=recipes").html(t, 200, "Sous Chef", "Sign in")
	b.get("/consultants/chef").html(t, 200, "Recipes &lt;b&gt;and&lt;/b&gt; techniques.", "$29 a month, 100 messages a month", "unlimited messages")

	// Subscribing while signed out leads to sign-in and back.
	r := b.post("/consultants/chef/subscribe", url.Values{"tier": {"pro"}})
	if r.status != 303 || r.header.Get("Location") != "/login?next=%2Fconsultants%2Fchef" {
		t.Fatalf("signed-out subscribe: %d %s", r.status, r.header.Get("Location"))
	}
	b.get("/login?next=/consultants/chef").html(t, 200, "Send code")
	b.post("/login", url.Values{"email": {"Person@Example.com"}, "next": {"/consultants/chef"}}).html(t, 200, "person@example.com")
	code := regexp.MustCompile(`\d{6}`).FindString(s.mailbox.Messages()[0].Subject)
	b.post("/login/verify", url.Values{"email": {"person@example.com"}, "code": {"000000"}, "next": {"/consultants/chef"}}).html(t, 401, "wrong")
	r = b.post("/login/verify", url.Values{"email": {"person@example.com"}, "code": {code}, "next": {"/consultants/chef"}})
	if r.status != 303 || r.header.Get("Location") != "/consultants/chef" || b.cookie == nil || !b.cookie.HttpOnly || b.cookie.SameSite != http.SameSiteLaxMode {
		t.Fatalf("verify: %d %q cookie %+v", r.status, r.header.Get("Location"), b.cookie)
	}
	b.get("/").html(t, 200, "person@example.com", "Sign out")

	r = b.post("/consultants/chef/subscribe", url.Values{"tier": {"pro"}})
	checkout := strings.TrimPrefix(r.header.Get("Location"), "http://lobby.test")
	if r.status != 303 || !strings.HasPrefix(checkout, "/checkout/chk_") {
		t.Fatalf("subscribe: %d %q %s", r.status, checkout, r.body)
	}
	b.get(checkout).html(t, 200, "Subscribe to Sous Chef", "Confirm subscription", "$49")
	page := b.post(checkout+"/confirm", nil).html(t, 200, "You are subscribed", "cl_buyer_")
	token := regexp.MustCompile(`cl_buyer_[A-Za-z0-9_-]+`).FindString(page)
	s.do("GET", "/api/v1/subscriptions", token, nil).want(t, 403) // a buyer token, not a session
	if strings.Contains(b.get(checkout).html(t, 200, "You are subscribed"), "cl_buyer_") {
		t.Fatal("the checkout page showed the buyer token twice")
	}

	// Another person cannot see the checkout; a form from another site is refused.
	other := &browser{t: t, s: s}
	other.get(checkout).html(t, 303)
	req := httptest.NewRequest("POST", "http://lobby.test/consultants/chef/subscribe", strings.NewReader("tier=pro"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.AddCookie(b.cookie)
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	if rec.Code != 403 {
		t.Fatalf("cross-site form: %d", rec.Code)
	}
	// Nor may a cross-site request use the cookie on the API.
	s.do("POST", "/api/v1/auth/logout", "", nil, "Cookie", "lobby_session="+b.cookie.Value, "Origin", "https://evil.example").want(t, 403, "forbidden", "cross-site")
	s.do("GET", "/api/v1/me", "", nil, "Cookie", "lobby_session="+b.cookie.Value).want(t, 200)

	b.get("/no/such/page").html(t, 404, "no page")
	b.get("/consultants/nobody").html(t, 404)
	b.post("/logout", url.Values{})
	b.get("/").html(t, 200, "Sign in")
}

// TestWebBadURL: a page's URL with a NUL or invalid UTF-8 is refused with a page that
// says so, on each store.
func TestWebBadURL(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		br := &browser{t: t, s: newTestServer(t, b)}
		br.get("/consultants/%00").html(t, 400, "NUL")
		br.get("/?category=%ff").html(t, 400, "invalid UTF-8")
	})
}
