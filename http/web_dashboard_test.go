package http_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/lobby-dev/lobby/storetest"
)

// TestWebDashboardCharts: an owner's page charts what GET .../activity reports, each
// chart with its sentence; plans are edited by the API's rules; the webhook secret is
// rotated with an overlap and shown once; none of it reaches another user.
func TestWebDashboardCharts(t *testing.T) {
	for _, be := range storetest.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			s := newTestServer(t, be, withDev())
			owner, key, _, buyer := agentSetup(s, "answers", "polling", "")
			for i := range 3 {
				cnv := s.chatAt(buyer, 202)
				msgs := s.do("GET", "/api/v1/conversations/"+cnv+"/messages", buyer, nil).want(t, 200).json()["data"].([]any)
				asked := msgs[len(msgs)-2].(map[string]any)["id"].(string)
				if i < 2 { // the third is left unanswered
					s.do("POST", "/api/v1/reply", key, map[string]any{"conversation_id": cnv, "in_reply_to": asked, "content": "an answer"}).want(t, 201)
				}
			}

			// The API's figures.
			days := s.do("GET", "/api/v1/consultants/answers/activity", owner, nil).want(t, 200).json()["data"].([]any)
			if len(days) != 30 {
				t.Fatalf("%d days, want 30", len(days))
			}
			today := days[29].(map[string]any)
			if today["messages"] != 3.0 || today["failed"] != 0.0 || today["subscribers"] != 1.0 || today["latency_p50_ms"] == nil || today["latency_p95_ms"] == nil {
				t.Fatalf("today's activity: %v; want 3 messages, 1 subscriber, latencies of the 2 answered", today)
			}
			if days[0].(map[string]any)["messages"] != 0.0 || days[0].(map[string]any)["latency_p50_ms"] != nil {
				t.Fatalf("30 days ago: %v", days[0])
			}
			stranger, _ := s.signIn("stranger@example.com")
			s.do("GET", "/api/v1/consultants/answers/activity", stranger, nil).want(t, 403)
			s.do("GET", "/api/v1/consultants/answers/activity", buyer, nil).want(t, 403)
			s.do("GET", "/api/v1/consultants/answers/activity", key, nil).want(t, 403)

			// The page says the same, in charts and sentences.
			b := &browser{t: t, s: s, cookie: &http.Cookie{Name: "lobby_session", Value: owner}}
			p50 := int64(today["latency_p50_ms"].(float64))
			said := func(ms int64) string { // as the page writes a latency
				if ms < 1000 {
					return fmt.Sprintf("%d ms", ms)
				}
				return fmt.Sprintf("%.1f s", float64(ms)/1000)
			}
			page := b.get("/dashboard/answers").html(t, 200,
				`<title id="messages-chart-title">Buyer messages a day over the last 30 days, answered and failed</title>`,
				"Buyers sent Consultant answers 3 messages in the last 30 days; 0 replies failed.",
				`<title id="subscribers-chart-title">`, "Consultant answers has 1 subscriber now, against 0 thirty days ago.",
				`<title id="latency-chart-title">`, "the last day with replies, half took at most "+said(p50),
				`<title id="earnings-chart-title">`, "Consultant answers has earned nothing in the last 12 months.",
				`aria-describedby="messages-chart-summary"`)
			// A first load is under 50 KB, charts, style sheet and script included.
			weight := len(page)
			for _, asset := range []string{"/static/style.css", "/static/dashboard.js"} {
				weight += len(b.get(asset).html(t, 200))
			}
			if weight >= 50<<10 {
				t.Fatalf("the owner's page weighs %d bytes with its assets, over 50 KB", weight)
			}
			b.get("/dashboard").html(t, 200, `<th scope="col">Messages, 30 days</th>`, "<td>1</td>\n    <td>3</td>")
			if n := strings.Count(page, `<svg role="img"`); n != 4 {
				t.Fatalf("%d charts on the page, want 4", n)
			}
			// Today's bar has its figures for a reader.
			if !regexp.MustCompile(`<li>\w{3} \w{3} \d+: 3 answered, 0 failed</li>`).MatchString(page) {
				t.Fatalf("no list item for today's messages:\n%s", page)
			}
			if strings.Contains(page, "Rotate webhook secret") {
				t.Fatal("a polling consultant is offered a webhook secret")
			}

			// Plans, by the API's rules: a row without a tier is left out.
			plans := url.Values{"tier": {"basic", "team", ""}, "price": {"9.50", "49", ""}, "currency": {"usd", "USD", "usd"},
				"cap": {"200", "", ""}, "per": {"", "", ""}}
			b.post("/dashboard/answers/plans", plans).html(t, 200, "Plans saved.", `value="basic"`, `value="9.50"`, `value="team"`)
			pub := s.do("GET", "/api/v1/consultants/answers", "", nil).want(t, 200).json()["plans"].([]any)
			if len(pub) != 2 || fmt.Sprint(pub[0]) != "map[currency:usd message_cap:200 price_cents:950 tier:basic]" ||
				fmt.Sprint(pub[1]) != "map[currency:usd message_cap:<nil> price_cents:4900 tier:team]" {
				t.Fatalf("the plans the form saved: %v", pub)
			}
			b.get("/consultants/answers").html(t, 200, "Subscribe to basic", "Subscribe to team")
			for _, bad := range []struct{ field, value, says string }{
				{"price", "9.999", "not an amount"},
				{"price", "nine", "not an amount"},
				{"cap", "lots", "not a whole number"},
				{"currency", "dollars", "currency"},
				{"tier", "Bad Tier", "tier"},
			} {
				form := url.Values{}
				for k, v := range plans {
					form[k] = append([]string(nil), v...)
				}
				form[bad.field][0] = bad.value
				b.post("/dashboard/answers/plans", form).html(t, 400, bad.says)
			}
			b.post("/dashboard/answers/plans", url.Values{"tier": {"free"}, "price": {"0"}, "currency": {"usd"}, "cap": {""}}).
				html(t, 400, "free, so it must cap its messages")
			b.post("/dashboard/answers/plans", url.Values{"tier": {""}}).html(t, 400, "give 1 to 5 plans")
			if after := s.do("GET", "/api/v1/consultants/answers", "", nil).want(t, 200).json()["plans"].([]any); len(after) != 2 {
				t.Fatalf("the refused forms changed the plans: %v", after)
			}

			// The webhook secret of a webhook consultant: rotated, shown once, the old
			// one signing beside it for the overlap.
			b.post("/dashboard/answers/secret", url.Values{"overlap": {"1h0m0s"}}).html(t, 400, "only a webhook consultant")
			edit := url.Values{"name": {"Consultant answers"}, "mode": {"webhook"}, "webhook_url": {"http://127.0.0.1:9/hook"}}
			b.post("/dashboard/answers", edit).html(t, 200, "The new webhook secret, shown this once: whsec_")
			page = b.get("/dashboard/answers").html(t, 200, "Rotate webhook secret", `<label for="secret-overlap">Old secret keeps signing</label>`)
			if strings.Contains(page, "whsec_") {
				t.Fatal("the secret is shown again")
			}
			page = b.post("/dashboard/answers/secret", url.Values{"overlap": {"168h0m0s"}}).html(t, 200, "The new webhook secret, shown this once: whsec_")
			hook := s.do("GET", "/api/v1/consultants/answers/webhook", owner, nil).want(t, 200).json()
			if hook["previous_secret_valid_until"] == nil {
				t.Fatalf("after the rotation: %v, want the old secret valid for a week", hook)
			}
			if !strings.Contains(page, "shown this once") {
				t.Fatal(page)
			}
			b.post("/dashboard/answers/secret", url.Values{"overlap": {"200h"}}).html(t, 400, "overlap")

			// No one else reaches any of it.
			ob := &browser{t: t, s: s, cookie: &http.Cookie{Name: "lobby_session", Value: stranger}}
			ob.post("/dashboard/answers/plans", plans).html(t, 404)
			ob.post("/dashboard/answers/secret", url.Values{"overlap": {"0s"}}).html(t, 404)
			ob.get("/dashboard/answers/deliveries").html(t, 404)
			b.sendFrom("https://evil.example", "POST", "/dashboard/answers/plans", plans).html(t, 403)
		})
	}
}
