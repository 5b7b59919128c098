package http_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/lobby-dev/lobby/storetest"
)

var pageTokenRE = regexp.MustCompile(`data-token="(cl_page_[^"]+)"`)

// TestWebChat: the chat page is its buyer's only: signed out it sends to sign-in and
// back, without a subscription it is a 404 that says how to subscribe; its token acts
// as the buyer by the API until the session ends; the form works without script;
// messages show as text and replies as safe Markdown.
func TestWebChat(t *testing.T) {
	for _, be := range storetest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			s := newTestServer(t, be)
			owner, _ := s.signIn("owner@example.com")
			key := s.createConsultant(owner, "sage", map[string]any{"mode": "polling"})["api_key"].(string)
			session, _ := s.signIn("buyer@example.com")
			s.subscribe(session, "sage", "starter")

			anon := &browser{t: t, s: s}
			if r := anon.get("/chat/sage"); r.status != 303 || r.header.Get("Location") != "/login?next="+url.QueryEscape("/chat/sage") {
				t.Fatalf("signed out: %d to %q", r.status, r.header.Get("Location"))
			}
			b := &browser{t: t, s: s, cookie: &http.Cookie{Name: "lobby_session", Value: session}}
			page := b.get("/chat/sage").html(t, 200, `<label for="message">Message</label>`, ">Send</button>", "0 of 100 messages used this period",
				`<script src="/static/chat.js" defer></script>`)
			// A first load is under 50 KB: the page, its style sheet and its script.
			weight := len(page)
			for _, asset := range []string{"/static/style.css", "/static/chat.js"} {
				weight += len(b.get(asset).html(t, 200))
			}
			if weight >= 50<<10 {
				t.Fatalf("the chat page weighs %d bytes with its assets, over 50 KB", weight)
			}
			m := pageTokenRE.FindStringSubmatch(page)
			if m == nil {
				t.Fatalf("no page token in the page:\n%s", page)
			}
			token := m[1]
			// The page's token is the buyer's, by the API.
			if u := s.do("GET", "/api/v1/usage", token, nil).want(t, 200).json(); u["tier"] != "starter" {
				t.Fatalf("usage with the page's token: %v", u)
			}
			s.do("GET", "/api/v1/me", token, nil).want(t, 403) // a buyer's credential, not the user's

			// The form without script: sent, and back to the page.
			cnv := regexp.MustCompile(`data-conversation="([^"]+)"`).FindStringSubmatch(page)[1]
			r := b.post("/chat/sage", url.Values{"message": {"**not bold** <i>mine</i>"}, "conversation_id": {cnv}})
			if r.status != 303 || r.header.Get("Location") != "/chat/sage" {
				t.Fatalf("the form: %d to %q: %s", r.status, r.header.Get("Location"), r.body)
			}
			msgs := s.do("GET", "/api/v1/conversations/"+cnv+"/messages", token, nil).want(t, 200).json()["data"].([]any)
			asked := msgs[0].(map[string]any)["id"].(string)
			replyID := msgs[1].(map[string]any)["id"].(string)
			s.do("POST", "/api/v1/reply", key, map[string]any{"conversation_id": cnv, "in_reply_to": asked,
				"content": "**bold** [run](javascript:alert(1)) ![cat](https://example.com/cat.png) <script>x()</script>"}).want(t, 201)
			page = b.get("/chat/sage").html(t, 200, "**not bold** &lt;i&gt;mine&lt;/i&gt;", "<strong>bold</strong>", "run",
				`<a href="https://example.com/cat.png" rel="noopener nofollow">cat</a>`, "&lt;script&gt;x()&lt;/script&gt;", "1 of 100")
			for _, never := range []string{"javascript:", "<img", "<script>x", "<i>mine"} {
				if strings.Contains(page, never) {
					t.Fatalf("the page carries %q:\n%s", never, page)
				}
			}
			b.get("/chat/sage/messages/"+replyID).html(t, 200, `id="`+replyID+`"`, "<strong>bold</strong>")

			// Others see nothing of it.
			stranger := &browser{t: t, s: s}
			stranger.cookie = &http.Cookie{Name: "lobby_session", Value: func() string { v, _ := s.signIn("stranger@example.com"); return v }()}
			stranger.get("/chat/sage").html(t, 404, "subscribe on its profile, /consultants/sage")
			stranger.get("/chat/sage/messages/"+replyID).html(t, 404)
			b.get("/chat/nobody").html(t, 404)
			b.get("/chat/sage/messages/msg_nope").html(t, 404)
			b.get("/chat/sage?before=nonsense").html(t, 400, "before is a message id")

			// A form posted from another site is refused, and stores nothing.
			b.sendFrom("https://evil.example", "POST", "/chat/sage", url.Values{"message": {"hi"}}).html(t, 403)
			// Too long for a message: the contract's refusal, nothing stored.
			b.post("/chat/sage", url.Values{"message": {strings.Repeat("x", 32*1024+1)}}).html(t, 413, "32 KiB")
			if n := len(s.do("GET", "/api/v1/conversations/"+cnv+"/messages", token, nil).want(t, 200).json()["data"].([]any)); n != 2 {
				t.Fatalf("%d messages after the refused ones, want 2", n)
			}

			// Signed out, the page's token stops at once.
			b.post("/logout", url.Values{})
			s.do("GET", "/api/v1/usage", token, nil).want(t, 401)
		})
	}
}

var buyerTokenRE = regexp.MustCompile(`cl_buyer_[A-Za-z0-9_-]+`)

// TestWebSubscriptions: /subscriptions lists the user's own, with usage; its forms
// cancel and resume, change plan and rotate the buyer token — the new one shown once,
// with a curl line, the old one stopped — through the API's own rules.
func TestWebSubscriptions(t *testing.T) {
	for _, be := range storetest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			s := newTestServer(t, be)
			owner, _ := s.signIn("owner@example.com")
			s.createConsultant(owner, "tiers", tieredPlans)
			session, _ := s.signIn("buyer@example.com")
			subID, token := s.subscribe(session, "tiers", "small")
			s.chatAt(token, 202)
			b := &browser{t: t, s: s, cookie: &http.Cookie{Name: "lobby_session", Value: session}}
			b.get("/subscriptions").html(t, 200, "Consultant tiers", "1 of 2 messages used this period", `<progress max="2" value="1">`,
				`action="/subscriptions/`+subID+`/cancel"`, `href="/chat/tiers"`, "Renews")

			b.post("/subscriptions/"+subID+"/cancel", url.Values{}).html(t, 303)
			b.get("/subscriptions").html(t, 200, "Ends", "Keep subscription")
			b.post("/subscriptions/"+subID+"/resume", url.Values{}).html(t, 303)
			b.post("/subscriptions/"+subID+"/plan", url.Values{"tier": {"big"}}).html(t, 303)
			b.get("/subscriptions").html(t, 200, "Renews", "1 of 50 messages used")

			page := b.post("/subscriptions/"+subID+"/token", url.Values{}).html(t, 200, "shown this once", "curl -s http://lobby.test/api/v1/chat")
			fresh := buyerTokenRE.FindString(page)
			if fresh == "" || fresh == token {
				t.Fatalf("the rotated token %q (was %q)", fresh, token)
			}
			for _, snippet := range []string{`headers={"Authorization": "Bearer ` + fresh, `headers: { Authorization: "Bearer ` + fresh} {
				if !strings.Contains(page, snippet) {
					t.Fatalf("the page lacks the snippet %q:\n%s", snippet, page)
				}
			}
			s.chatAt(fresh, 202)
			s.do("POST", "/api/v1/chat", token, map[string]any{"message": "old"}).want(t, 401)
			if again := b.get("/subscriptions").html(t, 200); strings.Contains(again, "cl_buyer_") {
				t.Fatal("the token is shown again")
			}

			// Another user's subscription is not there for them; nor is a forged form.
			other := &browser{t: t, s: s, cookie: &http.Cookie{Name: "lobby_session", Value: func() string { v, _ := s.signIn("other@example.com"); return v }()}}
			other.get("/subscriptions").html(t, 200, "You hold no subscriptions yet")
			other.post("/subscriptions/"+subID+"/cancel", url.Values{}).html(t, 404)
			other.post("/subscriptions/"+subID+"/token", url.Values{}).html(t, 404)
			b.post("/subscriptions/"+subID+"/nonsense", url.Values{}).html(t, 404)
			b.sendFrom("https://evil.example", "POST", "/subscriptions/"+subID+"/cancel", url.Values{}).html(t, 403)
			if v := s.do("GET", "/api/v1/subscriptions", session, nil).want(t, 200).json()["data"].([]any)[0].(map[string]any); v["cancel_at_period_end"] != false {
				t.Fatalf("after the refused cancels: %v", v)
			}
			(&browser{t: t, s: s}).get("/subscriptions").html(t, 303)
		})
	}
}

var consultantKeyRE = regexp.MustCompile(`cl_consultant_[A-Za-z0-9_-]+`)

// TestWebDashboard: an owner lists a consultant from the dashboard's form, by the
// API's rules: the key is shown once and works; a refused form says why and keeps
// what was typed; the list is the owner's own.
func TestWebDashboard(t *testing.T) {
	for _, be := range storetest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			s := newTestServer(t, be)
			(&browser{t: t, s: s}).get("/dashboard").html(t, 303)
			session, _ := s.signIn("owner@example.com")
			b := &browser{t: t, s: s, cookie: &http.Cookie{Name: "lobby_session", Value: session}}
			b.get("/dashboard").html(t, 200, "You have listed no consultant yet", `<label for="slug">Slug</label>`, `<label for="name">Name</label>`,
				`<label for="tagline">Tagline</label>`, `<label for="description">Description</label>`, `<label for="system_prompt">System prompt</label>`)
			form := url.Values{"slug": {"tax-helper"}, "name": {"Tax Helper"}, "tagline": {"Plain tax answers"}, "description": {"Knows depreciation."},
				"category": {"finance"}, "mode": {"managed"}, "system_prompt": {"You are a careful tax adviser."}}
			page := b.post("/dashboard", form).html(t, 201, "is listed at", "shown this once")
			key := consultantKeyRE.FindString(page)
			if key == "" {
				t.Fatalf("no key on the page:\n%s", page)
			}
			if v := s.do("GET", "/api/v1/consultants/tax-helper/private", key, nil).want(t, 200).json(); v["system_prompt"] != "You are a careful tax adviser." {
				t.Fatalf("the consultant the form listed: %v", v)
			}
			if again := b.get("/dashboard").html(t, 200, "Tax Helper", "tax-helper"); strings.Contains(again, "cl_consultant_") {
				t.Fatal("the key is shown again")
			}
			// Refused: the slug is taken; the form keeps what was typed.
			form.Set("name", "Another Name")
			b.post("/dashboard", form).html(t, 400, "tax-helper", `value="Another Name"`)
			form.Set("slug", "Bad Slug!")
			b.post("/dashboard", form).html(t, 400, "slug")
			form.Set("slug", "hooked")
			form.Set("mode", "webhook")
			form.Set("webhook_url", "http://10.0.0.1/hook")
			b.post("/dashboard", form).html(t, 400, "webhook")

			// Its own page: the profile and prompt edited by the API's rules.
			b.get("/dashboard/tax-helper").html(t, 200, "You are a careful tax adviser.", `action="/dashboard/tax-helper/knowledge"`, "No documents yet")
			// The upload form without script: the document is queued and shown.
			b.upload("/dashboard/tax-helper/knowledge", "laptops.md", []byte("# Laptops\n\nDepreciated over three years.")).
				html(t, 202, "laptops is uploaded and being read", `<td>laptops<br>`)
			docs := s.do("GET", "/api/v1/consultants/tax-helper/knowledge", key, nil).want(t, 200).json()["data"].([]any)
			if len(docs) != 1 || docs[0].(map[string]any)["title"] != "laptops" {
				t.Fatalf("the documents after the form's upload: %v", docs)
			}
			b.upload("/dashboard/tax-helper/knowledge", "again.md", []byte("# Laptops\n\nDepreciated over three years.")).html(t, 202, "already here, as laptops")
			b.upload("/dashboard/tax-helper/knowledge", "empty.md", nil).html(t, 400, "empty")
			b.upload("/dashboard/tax-helper/knowledge", "huge.txt", bytes.Repeat([]byte("a"), 10<<20+1)).html(t, 413, "10 MiB")
			b.upload("/dashboard/tax-helper/knowledge", "binary.md", []byte{0xff, 0xfe, 0, 1, 2, 3}).html(t, 415)
			edit := url.Values{"name": {"Tax Helper"}, "tagline": {"Plainer tax answers"}, "description": {"Knows depreciation."}, "category": {"finance"},
				"mode": {"managed"}, "system_prompt": {"You are brief."}, "webhook_url": {""}}
			b.post("/dashboard/tax-helper", edit).html(t, 200, "Saved.", "Plainer tax answers")
			if v := s.do("GET", "/api/v1/consultants/tax-helper/private", key, nil).want(t, 200).json(); v["system_prompt"] != "You are brief." || v["tagline"] != "Plainer tax answers" {
				t.Fatalf("after the edit: %v", v)
			}
			edit.Set("name", "")
			b.post("/dashboard/tax-helper", edit).html(t, 400, "name")
			edit.Set("name", "Tax Helper")
			edit.Set("mode", "webhook")
			edit.Set("webhook_url", "http://10.0.0.1/hook")
			b.post("/dashboard/tax-helper", edit).html(t, 400, "webhook", `value="http://10.0.0.1/hook"`)
			if v := s.do("GET", "/api/v1/consultants/tax-helper/private", key, nil).want(t, 200).json(); v["mode"] != "managed" || v["system_prompt"] != "You are brief." {
				t.Fatalf("after the refused edits: %v", v)
			}

			// Its API key rotated at once: the new works, the old stops.
			page = b.post("/dashboard/tax-helper/key", url.Values{"overlap": {"0s"}}).html(t, 200, "The new API key, shown this once")
			newKey := consultantKeyRE.FindString(page)
			if newKey == "" || newKey == key {
				t.Fatalf("the rotated key %q (was %q)", newKey, key)
			}
			s.do("GET", "/api/v1/consultants/tax-helper/private", newKey, nil).want(t, 200)
			s.do("GET", "/api/v1/consultants/tax-helper/private", key, nil).want(t, 401)
			b.post("/dashboard/tax-helper/key", url.Values{"overlap": {"48h"}}).html(t, 400, "overlap")

			// Its conversations, read-only.
			buyer, _ := s.signIn("buyer@example.com")
			_, token := s.subscribe(buyer, "tax-helper", "starter")
			cnv := s.chatAt(token, 202)
			b.get("/dashboard/tax-helper/conversations").html(t, 200, "/dashboard/tax-helper/conversations?id="+cnv)
			b.get("/dashboard/tax-helper/conversations?id="+cnv).html(t, 200, "hello", "Read-only")

			other, _ := s.signIn("other@example.com")
			ob := &browser{t: t, s: s, cookie: &http.Cookie{Name: "lobby_session", Value: other}}
			ob.get("/dashboard/tax-helper/conversations").html(t, 404)
			ob.get("/dashboard/tax-helper/conversations?id="+cnv).html(t, 404)
			ob.post("/dashboard/tax-helper/key", url.Values{"overlap": {"0s"}}).html(t, 404)
			ob.createConsultantPage(t, "theirs")
			ob.get("/dashboard/theirs/conversations?id="+cnv).html(t, 404)
			if page := ob.get("/dashboard").html(t, 200); strings.Contains(page, "Tax Helper") {
				t.Fatal("another owner's dashboard lists the consultant")
			}
			ob.get("/dashboard/tax-helper").html(t, 404)
			ob.post("/dashboard/tax-helper", edit).html(t, 404)
			ob.upload("/dashboard/tax-helper/knowledge", "mine.md", []byte("# Mine")).html(t, 404)
			(&browser{t: t, s: s}).get("/dashboard/tax-helper").html(t, 303)
		})
	}
}

// TestWidgetFrame: the widget's page is the only one that may be framed, its session
// cookie is partitioned and its own, and its forms refuse other sites' posts.
func TestWidgetFrame(t *testing.T) {
	s := newTestServer(t, storetest.SQLite)
	owner, _ := s.signIn("owner@example.com")
	s.createConsultant(owner, "helper", nil)
	anon := &browser{t: t, s: s}
	r := anon.get("/widget/helper")
	r.html(t, 200, "Sign in to chat", `action="/widget/helper/login"`)
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors *") || r.header.Get("X-Frame-Options") != "" {
		t.Fatalf("the widget's page: CSP %q, X-Frame-Options %q", csp, r.header.Get("X-Frame-Options"))
	}
	for _, path := range []string{"/", "/login", "/consultants/helper", "/chat/helper", "/dashboard"} {
		r := anon.get(path)
		if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || r.header.Get("X-Frame-Options") != "DENY" {
			t.Fatalf("%s may be framed: CSP %q, X-Frame-Options %q", path, csp, r.header.Get("X-Frame-Options"))
		}
	}
	if r := anon.get("/widget.js"); r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/javascript") || !strings.Contains(string(r.body), "/widget/") {
		t.Fatalf("widget.js: %d %q", r.status, r.header.Get("Content-Type"))
	}

	// Signing in in the frame sets its own cookie.
	anon.post("/widget/helper/login", url.Values{"email": {"visitor@example.com"}}).html(t, 200, "We sent a code")
	code := regexp.MustCompile(`\b\d{6}\b`).FindString(s.mailbox.Messages()[0].Subject)
	req := httptest.NewRequest("POST", "http://lobby.test/widget/helper/verify", strings.NewReader(url.Values{"email": {"visitor@example.com"}, "code": {code}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://lobby.test")
	rec := httptest.NewRecorder()
	s.handler.ServeHTTP(rec, req)
	var widget *http.Cookie
	for _, c := range rec.Result().Cookies() {
		if c.Name == "lobby_widget" {
			widget = c
		}
	}
	if rec.Code != 303 || widget == nil || !widget.Partitioned || !widget.Secure || widget.SameSite != http.SameSiteNoneMode || !widget.HttpOnly || widget.Path != "/widget/" {
		t.Fatalf("verify in the frame: %d, cookie %+v", rec.Code, widget)
	}
	framed := &browser{t: t, s: s, cookie: &http.Cookie{Name: "lobby_widget", Value: widget.Value}}
	framed.get("/widget/helper").html(t, 200, "Subscribe to starter")
	framed.get("/subscriptions").html(t, 303) // the frame's cookie is the widget's alone
	// Another site's post into the frame's forms is refused.
	framed.sendFrom("https://evil.example", "POST", "/widget/helper/subscribe", url.Values{"tier": {"starter"}}).html(t, 403)
}

// createConsultantPage lists a consultant from the dashboard's form.
func (b *browser) createConsultantPage(t *testing.T, slug string) {
	t.Helper()
	b.post("/dashboard", url.Values{"slug": {slug}, "name": {"Consultant " + slug}, "tagline": {"Answers"}, "description": {"Knows things."},
		"category": {"general"}, "mode": {"managed"}, "system_prompt": {"You are helpful."}}).html(t, 201)
}
