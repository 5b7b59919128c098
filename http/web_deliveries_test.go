package http_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/lobby-dev/lobby/storetest"
	"github.com/lobby-dev/lobby/webhook"
)

// TestWebDeliveries: a webhook consultant's owner sees its delivery log, each attempt
// and the hourly chart, with the receiver's bytes escaped; no one else sees it.
func TestWebDeliveries(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		s := newTestServer(t, b, withDev())
		rc := newReceiver(t, func(n int, w http.ResponseWriter, ev webhook.Event) {
			if n == 1 {
				w.WriteHeader(http.StatusInternalServerError)
				w.Write([]byte(`<script>alert("pwned")</script>`))
				return
			}
			w.Write([]byte(`{"reply": "at last"}`))
		})
		owner, _, _, buyer := agentSetup(s, "hooked", "webhook", rc.URL)
		s.do("POST", "/api/v1/chat", buyer, map[string]any{"message": "are you there?", "wait_seconds": 10}).want(t, 200)
		eventually(t, "both attempts are logged", func() bool {
			ds, _ := s.deliveries(owner, "hooked")
			return len(ds) == 1 && len(ds[0].Log) == 2
		})
		ds, _ := s.deliveries(owner, "hooked")

		mine := &browser{t: t, s: s, cookie: &http.Cookie{Name: "lobby_session", Value: owner}}
		page := mine.get("/dashboard/hooked/deliveries").html(t, 200,
			"Deliveries of Consultant hooked", rc.URL, "enabled", "50.0%",
			ds[0].ID, ds[0].MessageID, "delivered", "<td>500</td>", "<td>200</td>",
			"&lt;script&gt;alert(", `<svg role="img"`, `<title id="deliveries-chart-title">`,
			"the deliveries listed on this page had 2 attempts: 1 succeeded and 1 failed")
		if strings.Contains(page, "<script") {
			t.Fatalf("the receiver's response reached the page unescaped:\n%s", page)
		}
		mine.get("/consultants/hooked").html(t, 200, `href="/dashboard/hooked/deliveries"`)
		mine.get("/dashboard/hooked").html(t, 200, `href="/dashboard/hooked/deliveries"`)
		mine.get("/dashboard/nobody/deliveries").html(t, 404)
		// The log's old address sends to its place in the dashboard.
		if r := mine.get("/consultants/hooked/deliveries?cursor=x"); r.status != http.StatusMovedPermanently ||
			r.header.Get("Location") != "/dashboard/hooked/deliveries?cursor=x" {
			t.Fatalf("the old address: %d to %q", r.status, r.header.Get("Location"))
		}

		stranger, _ := s.signIn("stranger@example.com")
		other := &browser{t: t, s: s, cookie: &http.Cookie{Name: "lobby_session", Value: stranger}}
		if page := other.get("/dashboard/hooked/deliveries").html(t, 404); strings.Contains(page, ds[0].ID) {
			t.Fatalf("a stranger sees the deliveries:\n%s", page)
		}
		if strings.Contains(other.get("/consultants/hooked").html(t, 200), "/deliveries") {
			t.Fatal("a stranger sees the link to the deliveries")
		}

		r := (&browser{t: t, s: s}).get("/dashboard/hooked/deliveries")
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/login?next=%2Fdashboard%2Fhooked%2Fdeliveries" {
			t.Fatalf("signed out: %d %q", r.status, r.header.Get("Location"))
		}
	})
}
