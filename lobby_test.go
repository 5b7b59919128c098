package lobby_test

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lobby-dev/lobby"
)

func TestNewIDSortsByCreation(t *testing.T) {
	prev := lobby.NewID(lobby.PrefixMessage)
	for range 1000 {
		id := lobby.NewID(lobby.PrefixMessage)
		if !strings.HasPrefix(id, "msg_") || id <= prev {
			t.Fatalf("%s after %s: want msg_ and increasing", id, prev)
		}
		prev = id
	}
}

func TestNewToken(t *testing.T) {
	token, hash := lobby.NewToken(lobby.TokenBuyer)
	other, _ := lobby.NewToken(lobby.TokenBuyer)
	if !strings.HasPrefix(token, "cl_buyer_") || len(token)-len("cl_buyer_") < 43 || token == other {
		t.Fatalf("token %q: want cl_buyer_ and 256 random bits", token)
	}
	if hash != lobby.HashToken(token) || strings.Contains(hash, token) || !lobby.EqualHash(hash, lobby.HashToken(token)) {
		t.Fatal("the hash is not the token's SHA-256")
	}
	if lobby.TokenKind(token) != lobby.TokenBuyer || lobby.TokenKind("whsec_x") != "" {
		t.Fatal("TokenKind")
	}
	secret := lobby.NewWebhookSecret()
	if !strings.HasPrefix(secret, "whsec_") || len(secret) != len("whsec_")+44 {
		t.Fatalf("webhook secret %q: want whsec_ and base64 of 32 bytes", secret)
	}
}

func TestNormalizeEmail(t *testing.T) {
	for in, want := range map[string]string{" Ada@Example.COM ": "ada@example.com", "a.b+c@sub.example.org": "a.b+c@sub.example.org"} {
		got, err := lobby.NormalizeEmail(in)
		if err != nil || got != want {
			t.Errorf("NormalizeEmail(%q) = %q, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "ada", "ada@", "@example.com", "ada@localhost", "Ada <ada@example.com>", "a b@example.com", strings.Repeat("a", 250) + "@x.com"} {
		if _, err := lobby.NormalizeEmail(bad); lobby.ErrorCode(err) != lobby.EINVALID {
			t.Errorf("NormalizeEmail(%q): %v, want invalid_request", bad, err)
		}
	}
}

func TestValidLoginCode(t *testing.T) {
	for code, want := range map[string]bool{"012345": true, "12345": false, "1234567": false, "12345a": false, "١٢٣٤٥٦": false} {
		if lobby.ValidLoginCode(code) != want {
			t.Errorf("ValidLoginCode(%q) != %v", code, want)
		}
	}
}

func TestValidateWebhookURL(t *testing.T) {
	for _, tt := range []struct {
		url  string
		dev  bool
		says string // "" for valid
	}{
		{"https://agent.example.com/lobby", false, ""},
		{"https://203.0.113.7:8443/hook", false, ""},
		{"http://agent.example.com/", false, "https://"},
		{"http://127.0.0.1:9000/hook", false, "https://"},
		{"http://127.0.0.1:9000/hook", true, ""},
		{"http://localhost:9000/hook", true, ""},
		{"http://[::1]:9000/hook", true, ""},
		{"http://10.0.0.1/hook", true, "only to loopback"},
		{"http://agent.example.com/", true, "only to loopback"},
		{"https://10.0.0.1/", true, ""},
		{"https://127.0.0.1/", false, "internal address"},
		{"https://10.0.0.1/", false, "internal address"},
		{"https://172.16.5.4/", false, "internal address"},
		{"https://192.168.1.1/", false, "internal address"},
		{"https://169.254.169.254/latest/meta-data", false, "internal address"},
		{"https://100.64.0.1/", false, "internal address"},
		{"https://0.0.0.0/", false, "internal address"},
		{"https://[::1]/", false, "internal address"},
		{"https://[::ffff:127.0.0.1]/", false, "internal address"},
		{"https://[fd00:ec2::254]/", false, "internal address"},
		{"https://[fe80::1]/", false, "internal address"},
		{"https://localhost/", false, "internal address"},
		{"https://api.localhost/", false, "internal address"},
		{"https://user:pw@agent.example.com/", false, "password"},
		{"ftp://agent.example.com/", false, "https://"},
		{"agent.example.com/hook", false, "absolute URL"},
		{"https:///nohost", false, "absolute URL"},
		{"https://agent.example.com/#frag", false, "fragment"},
		{"https://agent.example.com/" + strings.Repeat("a", 2000), false, "at most"},
	} {
		err := lobby.ValidateWebhookURL(tt.url, tt.dev)
		switch {
		case tt.says == "" && err != nil:
			t.Errorf("%s (dev %v): %v", tt.url, tt.dev, err)
		case tt.says != "" && (lobby.ErrorCode(err) != lobby.EINVALID || !strings.Contains(lobby.ErrorMessage(err), tt.says)):
			t.Errorf("%s (dev %v): %v, want invalid_request saying %q", tt.url, tt.dev, err, tt.says)
		}
	}
}

func TestIsInternalAddr(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": false, "2606:4700::1111": false, "127.0.0.53": true, "::ffff:10.1.2.3": true,
		"224.0.0.1": true, "255.255.255.255": true, "198.18.0.1": true, "64:ff9b::7f00:1": true,
		// IPv6 addresses that carry an IPv4 one are judged by it.
		"::7f00:1": true, "::a00:1": true, "::8.8.8.8": true, // IPv4-compatible, deprecated
		"2002:7f00:1::1": true, "2002:a9fe:a9fe::1": true, "2002:c0a8:101::": true, "2002:808:808::1": false, // 6to4
		"64:ff9b:1::a00:1": true, "2001:0:4136:e378:8000:63bf:3fff:fdd2": true, // local-use NAT64, Teredo
	} {
		if got := lobby.IsInternalAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("IsInternalAddr(%s) = %v", addr, got)
		}
	}
}

func TestSubscriptionAt(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := lobby.Subscription{Status: lobby.SubscriptionActive, MessagesUsed: 42, PeriodStart: start, PeriodEnd: start.Add(lobby.SubscriptionPeriod),
		RenewsItself: true}
	paid := s
	paid.RenewsItself = false
	if got := paid.At(start.Add(2 * lobby.SubscriptionPeriod)); got != paid {
		t.Fatalf("a subscription its provider renews renewed by itself: %+v", got)
	}

	if got := s.At(start.Add(time.Hour)); got != s {
		t.Fatalf("within the period: %+v", got)
	}
	got := s.At(start.Add(2*lobby.SubscriptionPeriod + time.Hour))
	if got.Status != lobby.SubscriptionActive || got.MessagesUsed != 0 || !got.PeriodStart.Equal(start.Add(2*lobby.SubscriptionPeriod)) ||
		!got.PeriodEnd.Equal(start.Add(3*lobby.SubscriptionPeriod)) {
		t.Fatalf("two periods on: %+v", got)
	}
	s.CancelAtPeriodEnd = true
	if got := s.At(s.PeriodEnd); got.Status != lobby.SubscriptionCanceled {
		t.Fatalf("canceled, at the period's end: %+v", got)
	}
}

func TestConsultantValidate(t *testing.T) {
	c := &lobby.Consultant{Slug: "ok-slug", Name: " Name ", SystemPrompt: "p", Tags: []string{" A ", "a", ""}, Category: " Finance ",
		Plans: []lobby.Plan{{Tier: "basic", PriceCents: 100}}}
	c.Normalize()
	if err := c.Validate(lobby.ValidateOptions{}); err != nil {
		t.Fatal(err)
	}
	if c.Name != "Name" || c.Mode != lobby.ModeManaged || len(c.Tags) != 1 || c.Tags[0] != "a" || c.Category != "finance" || c.Plans[0].Currency != "usd" {
		t.Fatalf("normalized: %+v", c)
	}
	if _, err := c.Plan("gold"); lobby.ErrorCode(err) != lobby.EINVALID || !strings.Contains(err.Error(), "basic") {
		t.Fatalf("unknown tier: %v", err)
	}
	c.Plans = append(c.Plans, lobby.Plan{Tier: "x", Currency: "dollars"})
	if err := c.Validate(lobby.ValidateOptions{}); !strings.Contains(lobby.ErrorMessage(err), "ISO 4217") {
		t.Fatalf("bad currency: %v", err)
	}
}

// TestConsultantInvisibleText: names and taglines a buyer reads as the consultant's
// identity cannot be blank, invisible, multi-line or turned around by direction
// overrides; the description may keep its lines.
func TestConsultantInvisibleText(t *testing.T) {
	for _, tc := range []struct {
		name, says string
		edit       func(c *lobby.Consultant)
	}{
		{"ErrZeroWidthName", "visible", func(c *lobby.Consultant) { c.Name = "\u200b\u200b" }},
		{"ErrHangulFillerName", "visible", func(c *lobby.Consultant) { c.Name = "\u3164" }},
		{"ErrRTLOverrideName", "direction", func(c *lobby.Consultant) { c.Name = "Tax \u202eeciffo" }},
		{"ErrIsolateTagline", "direction", func(c *lobby.Consultant) { c.Tagline = "Plain \u2067advice\u2069" }},
		{"ErrOverrideDescription", "direction", func(c *lobby.Consultant) { c.Description = "line\n\u202dtext" }},
		{"ErrNewlineName", "one line", func(c *lobby.Consultant) { c.Name = "Two\nLines" }},
		{"ErrBellTagline", "one line", func(c *lobby.Consultant) { c.Tagline = "ding\a" }},
		{"OK/Arabic", "", func(c *lobby.Consultant) { c.Name = "مستشار الضرائب" }},
		{"OK/Emoji", "", func(c *lobby.Consultant) { c.Name = "🧾" }},
		{"OK/DescriptionLines", "", func(c *lobby.Consultant) { c.Description = "One.\n\nTwo.\tThree." }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &lobby.Consultant{Slug: "ok-slug", Name: "Name", SystemPrompt: "p", Plans: lobby.DefaultPlans()}
			tc.edit(c)
			c.Normalize()
			err := c.Validate(lobby.ValidateOptions{})
			switch {
			case tc.says == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.says != "" && (lobby.ErrorCode(err) != lobby.EINVALID || !strings.Contains(lobby.ErrorMessage(err), tc.says)):
				t.Fatalf("error %v, want invalid_request saying %q", err, tc.says)
			}
		})
	}
}

func TestModes(t *testing.T) {
	for _, tc := range []struct {
		mode                             lobby.Mode
		valid, ownAgent, hasInbox, signs bool
	}{
		{lobby.ModeManaged, true, false, false, false},
		{lobby.ModeWebhook, true, true, false, true},
		{lobby.ModePolling, true, true, true, false},
		{"magic", false, false, false, false},
	} {
		if tc.mode.Valid() != tc.valid || tc.mode.RunsOwnAgent() != tc.ownAgent || tc.mode.HasInbox() != tc.hasInbox || tc.mode.Signs() != tc.signs {
			t.Errorf("%s: Valid %v, RunsOwnAgent %v, HasInbox %v, Signs %v", tc.mode, tc.mode.Valid(), tc.mode.RunsOwnAgent(), tc.mode.HasInbox(), tc.mode.Signs())
		}
	}
}

func TestCleanText(t *testing.T) {
	for in, want := range map[string]string{
		"plain": "plain", "zero\x00byte": "zero\uFFFDbyte", "bad\xffbyte": "bad\uFFFDbyte", "ünïcödé": "ünïcödé", "": "",
	} {
		if got := lobby.CleanText(in); got != want {
			t.Errorf("CleanText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUsageNotice(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	for _, tc := range []struct {
		cap  *int64
		used int64
		want int
	}{
		{n(100), 84, 0}, {n(100), 85, 85}, {n(100), 86, 0}, {n(100), 99, 0}, {n(100), 100, 100}, {n(100), 101, 0},
		{n(10), 9, 85}, {n(10), 8, 0}, {n(10), 10, 100}, // 8.5 rounds up to the ninth message
		{n(1), 1, 100}, // both at once: one notice, of the cap reached
		{n(3), 3, 100}, {n(3), 2, 0},
		{nil, 1000, 0}, {n(5), 0, 0},
	} {
		if got := lobby.UsageNotice(tc.cap, tc.used); got != tc.want {
			t.Errorf("cap %v, used %d: %d, want %d", *cap0(tc.cap), tc.used, got, tc.want)
		}
	}
}

func cap0(p *int64) *int64 {
	if p == nil {
		var z int64 = -1
		return &z
	}
	return p
}

func TestSubscriptionChangeTo(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	sub := lobby.Subscription{ID: "sub_1", Tier: "mid", PriceCents: 2900, Currency: "usd", MessageCap: n(100)}
	for _, tc := range []struct {
		plan lobby.Plan
		want string // a change, or the start of a refusal's code
	}{
		{lobby.Plan{Tier: "mid", PriceCents: 9900, Currency: "usd"}, lobby.PlanKeep}, // its own tier, repriced since
		{lobby.Plan{Tier: "top", PriceCents: 4900, Currency: "usd", MessageCap: n(50)}, lobby.PlanUpgrade},
		{lobby.Plan{Tier: "wide", PriceCents: 2900, Currency: "usd", MessageCap: n(101)}, lobby.PlanUpgrade},
		{lobby.Plan{Tier: "open", PriceCents: 2900, Currency: "usd"}, lobby.PlanUpgrade},
		{lobby.Plan{Tier: "same", PriceCents: 2900, Currency: "usd", MessageCap: n(100)}, lobby.PlanDowngrade},
		{lobby.Plan{Tier: "cheap", PriceCents: 900, Currency: "usd"}, lobby.PlanDowngrade},
		{lobby.Plan{Tier: "free", PriceCents: 0, Currency: "usd", MessageCap: n(5)}, lobby.PlanDowngrade},
		{lobby.Plan{Tier: "payg", PriceCents: 1, Currency: "usd", Per: lobby.PerMessage}, lobby.PlanUpgrade},
		{lobby.Plan{Tier: "euro", PriceCents: 4900, Currency: "eur"}, lobby.ECONFLICT},
	} {
		got, err := sub.ChangeTo(tc.plan)
		if err != nil {
			got = lobby.ErrorCode(err)
		}
		if got != tc.want {
			t.Errorf("%s to %+v: %s, want %s", sub.Tier, tc.plan, got, tc.want)
		}
	}
}

func TestSubscriptionNewPeriodAppliesPendingPlan(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := lobby.Subscription{Status: lobby.SubscriptionActive, Tier: "big", PriceCents: 2900, Currency: "usd", MessageCap: n(50), MessagesUsed: 50,
		PeriodStart: start, PeriodEnd: start.Add(lobby.SubscriptionPeriod), RenewsItself: true,
		PendingPlan: &lobby.Plan{Tier: "small", PriceCents: 900, Currency: "usd", MessageCap: n(2)}}
	if got := s.At(start.Add(time.Hour)); got.Tier != "big" || got.PendingPlan == nil {
		t.Fatalf("within the period: %+v", got)
	}
	got := s.At(s.PeriodEnd)
	if got.Tier != "small" || got.PriceCents != 900 || *got.MessageCap != 2 || got.MessagesUsed != 0 || got.PendingPlan != nil {
		t.Fatalf("the next period: %+v", got)
	}
}

func TestQuotaExceededNamesTheWayOn(t *testing.T) {
	n := func(v int64) *int64 { return &v }
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	sub := lobby.Subscription{ID: "sub_1", Tier: "small", PriceCents: 900, Currency: "usd", MessageCap: n(2), PeriodEnd: now.Add(time.Hour)}
	plans := []lobby.Plan{{Tier: "small", PriceCents: 900, Currency: "usd", MessageCap: n(2)}, {Tier: "free", Currency: "usd", MessageCap: n(1)},
		{Tier: "big", PriceCents: 2900, Currency: "usd", MessageCap: n(50)}, {Tier: "payg", PriceCents: 2, Currency: "usd", Per: lobby.PerMessage}}
	e := sub.QuotaExceeded(plans, now)
	if e.Code != lobby.EQUOTA || e.RetryAfter != time.Hour {
		t.Fatalf("%+v", e)
	}
	for _, want := range []string{"2 messages", "big or payg", "POST /api/v1/subscriptions/sub_1/plan", "POST /api/v1/credits/checkout"} {
		if !strings.Contains(e.Message, want) {
			t.Errorf("%q lacks %q", e.Message, want)
		}
	}
	if strings.Contains(e.Message, "free") {
		t.Errorf("%q offers a smaller plan", e.Message)
	}
	if e := sub.QuotaExceeded(plans[:1], now); strings.Contains(e.Message, "/plan") {
		t.Errorf("with no bigger plan: %q", e.Message)
	}
}
