package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/sqldb"
)

// Exercise runs every store behaviour against the stores b opens.
func Exercise(t *testing.T, b Backend) {
	tests := []struct {
		name string
		f    func(t *testing.T, b Backend)
	}{
		{"Migrate", testMigrate},
		{"LoginCode", testLoginCode},
		{"Authenticate", testAuthenticate},
		{"Consultant", testConsultant},
		{"Catalog", testCatalog},
		{"Checkout", testCheckout},
		{"Subscription", testSubscription},
		{"Chat", testChat},
		{"ChatCap", testChatCap},
		{"OpenConversation", testOpenConversation},
		{"Delivery", testDelivery},
		{"Inbox", testInbox},
		{"Reply", testReply},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.f(t, b)
		})
	}
}

// WantCode fails t unless err carries the domain error code (and, when given, a
// message containing want).
func WantCode(t testing.TB, err error, code string, want ...string) {
	t.Helper()
	if got := lobby.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
	for _, w := range want {
		if msg := lobby.ErrorMessage(err); !strings.Contains(msg, w) {
			t.Fatalf("error message %q does not say %q", msg, w)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// open returns a fresh store whose clock the test moves.
func open(t *testing.T, b Backend) (*sqldb.DB, *Clock) {
	db := b.Open(t)
	clock := NewClock()
	db.Now = clock.Now
	return db, clock
}

// SignIn makes (or signs in) the user with the given email and returns the session token.
func SignIn(t testing.TB, db *sqldb.DB, email string) (string, *lobby.User) {
	t.Helper()
	ctx := context.Background()
	code, err := db.CreateLoginCode(ctx, email)
	must(t, err)
	if code == "" {
		t.Fatalf("no code made for %s: one was made less than %v ago", email, lobby.LoginCodeResendAfter)
	}
	token, u, err := db.VerifyLoginCode(ctx, email, code)
	must(t, err)
	return token, u
}

// NewConsultant returns a valid managed consultant owned by ownerID.
func NewConsultant(ownerID, slug string) *lobby.Consultant {
	return &lobby.Consultant{
		OwnerID: ownerID, Slug: slug, Name: "Consultant " + slug,
		Tagline: "Answers questions", Description: "A helpful consultant.",
		Category: "general", SystemPrompt: "You are a helpful consultant.",
	}
}

// Subscribe creates and completes a checkout and returns the subscription and its
// buyer token.
func Subscribe(t testing.TB, db *sqldb.DB, userID, consultantID, tier string) (*lobby.Subscription, string) {
	t.Helper()
	ctx := context.Background()
	c := &lobby.Checkout{UserID: userID, ConsultantID: consultantID, Plan: lobby.Plan{Tier: tier}, Provider: "local"}
	must(t, db.CreateCheckout(ctx, c))
	must(t, db.CompleteCheckout(ctx, c.ID, ""))
	res, err := db.FindCheckout(ctx, userID, c.ID)
	must(t, err)
	if res.BuyerToken == "" || res.Subscription == nil {
		t.Fatalf("first read of a complete checkout: token %q, subscription %v", res.BuyerToken, res.Subscription)
	}
	return res.Subscription, res.BuyerToken
}

func testMigrate(t *testing.T, b Backend) {
	ctx := context.Background()
	db := b.Open(t)
	must(t, db.Migrate(ctx)) // again: nothing to do
	must(t, db.Ready(ctx))
	// Two more instances starting at once.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		other := b.OpenShared(t, db)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = other.Migrate(ctx)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
}

func testLoginCode(t *testing.T, b Backend) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		db, _ := open(t, b)
		code, err := db.CreateLoginCode(ctx, "ada@example.com")
		must(t, err)
		if !lobby.ValidLoginCode(code) {
			t.Fatalf("code %q is not 6 digits", code)
		}
		token, u, err := db.VerifyLoginCode(ctx, "ada@example.com", code)
		must(t, err)
		if !strings.HasPrefix(token, lobby.TokenUser) || len(token) < len(lobby.TokenUser)+22 {
			t.Fatalf("token %q: want cl_user_ and at least 128 bits", token)
		}
		if u.Email != "ada@example.com" || !strings.HasPrefix(u.ID, lobby.PrefixUser) {
			t.Fatalf("user = %+v", u)
		}
		// Signing in again is the same user.
		_, again := SignIn(t, db, "ada@example.com")
		if again.ID != u.ID {
			t.Fatalf("second sign-in made user %s, want %s", again.ID, u.ID)
		}
	})
	t.Run("ErrReused", func(t *testing.T) {
		db, _ := open(t, b)
		code, _ := db.CreateLoginCode(ctx, "a@example.com")
		_, _, err := db.VerifyLoginCode(ctx, "a@example.com", code)
		must(t, err)
		_, _, err = db.VerifyLoginCode(ctx, "a@example.com", code)
		WantCode(t, err, lobby.EUNAUTHORIZED, "request a new one")
	})
	t.Run("ErrExpired", func(t *testing.T) {
		db, clock := open(t, b)
		code, _ := db.CreateLoginCode(ctx, "a@example.com")
		clock.Add(lobby.LoginCodeTTL)
		_, _, err := db.VerifyLoginCode(ctx, "a@example.com", code)
		WantCode(t, err, lobby.EUNAUTHORIZED, "expired")
	})
	t.Run("ErrOtherEmail", func(t *testing.T) {
		db, _ := open(t, b)
		code, _ := db.CreateLoginCode(ctx, "a@example.com")
		_, _, err := db.VerifyLoginCode(ctx, "b@example.com", code)
		WantCode(t, err, lobby.EUNAUTHORIZED)
	})
	t.Run("ErrBurnedAfterFiveWrongTries", func(t *testing.T) {
		db, _ := open(t, b)
		code, _ := db.CreateLoginCode(ctx, "a@example.com")
		wrong := fmt.Sprintf("%06d", (mustAtoi(code)+1)%1_000_000)
		for i := 1; i <= lobby.LoginCodeMaxAttempts; i++ {
			_, _, err := db.VerifyLoginCode(ctx, "a@example.com", wrong)
			WantCode(t, err, lobby.EUNAUTHORIZED, "wrong")
		}
		_, _, err := db.VerifyLoginCode(ctx, "a@example.com", code)
		WantCode(t, err, lobby.EUNAUTHORIZED, "too many wrong tries")
	})
	t.Run("ConcurrentWrongTriesAllCount", func(t *testing.T) {
		db, _ := open(t, b)
		code, _ := db.CreateLoginCode(ctx, "a@example.com")
		wrong := fmt.Sprintf("%06d", (mustAtoi(code)+1)%1_000_000)
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db.VerifyLoginCode(ctx, "a@example.com", wrong)
			}()
		}
		wg.Wait()
		_, _, err := db.VerifyLoginCode(ctx, "a@example.com", code)
		WantCode(t, err, lobby.EUNAUTHORIZED, "too many wrong tries")
	})
	t.Run("ResendWaits", func(t *testing.T) {
		db, clock := open(t, b)
		first, _ := db.CreateLoginCode(ctx, "a@example.com")
		again, err := db.CreateLoginCode(ctx, "a@example.com")
		must(t, err)
		if again != "" {
			t.Fatalf("a second code within %v: got %q, want none", lobby.LoginCodeResendAfter, again)
		}
		clock.Add(lobby.LoginCodeResendAfter)
		second, _ := db.CreateLoginCode(ctx, "a@example.com")
		if second == "" {
			t.Fatal("no new code after the resend wait")
		}
		if first != second {
			_, _, err = db.VerifyLoginCode(ctx, "a@example.com", first)
			WantCode(t, err, lobby.EUNAUTHORIZED)
		}
		_, _, err = db.VerifyLoginCode(ctx, "a@example.com", second)
		must(t, err)
	})
	t.Run("ConcurrentVerifyOnce", func(t *testing.T) {
		db, _ := open(t, b)
		code, _ := db.CreateLoginCode(ctx, "a@example.com")
		var ok atomic.Int32
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, _, err := db.VerifyLoginCode(ctx, "a@example.com", code); err == nil {
					ok.Add(1)
				} else if lobby.ErrorCode(err) != lobby.EUNAUTHORIZED {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 1 {
			t.Fatalf("%d sign-ins with one code, want 1", ok.Load())
		}
	})
}

func mustAtoi(s string) int {
	var n int
	fmt.Sscanf(s, "%d", &n)
	return n
}

func testAuthenticate(t *testing.T, b Backend) {
	ctx := context.Background()
	db, clock := open(t, b)
	token, u := SignIn(t, db, "ada@example.com")

	p, err := db.Authenticate(ctx, token)
	must(t, err)
	if p.Kind != lobby.TokenUser || p.UserID != u.ID || p.SessionID == "" {
		t.Fatalf("principal = %+v", p)
	}
	for _, bad := range []string{"", "garbage", lobby.TokenUser, token + "x", lobby.TokenBuyer + "abc", lobby.TokenConsultant + "abc", strings.ToUpper(token)} {
		_, err := db.Authenticate(ctx, bad)
		WantCode(t, err, lobby.EUNAUTHORIZED)
	}

	c := NewConsultant(u.ID, "authn")
	key, err := db.CreateConsultant(ctx, c, lobby.ValidateOptions{})
	must(t, err)
	p, err = db.Authenticate(ctx, key)
	must(t, err)
	if p.Kind != lobby.TokenConsultant || p.ConsultantID != c.ID {
		t.Fatalf("consultant principal = %+v", p)
	}

	_, buyer := Subscribe(t, db, u.ID, c.ID, "starter")
	p, err = db.Authenticate(ctx, buyer)
	must(t, err)
	if p.Kind != lobby.TokenBuyer || p.ConsultantID != c.ID || p.UserID != u.ID || p.SubscriptionID == "" {
		t.Fatalf("buyer principal = %+v", p)
	}

	other, _ := SignIn(t, db, "bob@example.com")
	must(t, db.RevokeSession(ctx, p.SessionID))
	up, _ := db.Authenticate(ctx, token)
	must(t, db.RevokeSession(ctx, up.SessionID))
	_, err = db.Authenticate(ctx, token)
	WantCode(t, err, lobby.EUNAUTHORIZED)
	if _, err := db.Authenticate(ctx, other); err != nil {
		t.Fatalf("revoking one session ended another: %v", err)
	}

	clock.Add(lobby.SessionTTL)
	_, err = db.Authenticate(ctx, other)
	WantCode(t, err, lobby.EUNAUTHORIZED)
}

func testConsultant(t *testing.T, b Backend) {
	ctx := context.Background()
	db, _ := open(t, b)
	_, u := SignIn(t, db, "owner@example.com")

	t.Run("OK", func(t *testing.T) {
		c := NewConsultant(u.ID, "tax-advisor")
		c.Tags = []string{"Tax", "law", "tax"}
		c.Category = " Finance "
		key, err := db.CreateConsultant(ctx, c, lobby.ValidateOptions{})
		must(t, err)
		if !strings.HasPrefix(key, lobby.TokenConsultant) || !strings.HasPrefix(c.ID, lobby.PrefixConsultant) {
			t.Fatalf("key %q, id %q", key, c.ID)
		}
		got, err := db.FindConsultantBySlug(ctx, "tax-advisor")
		must(t, err)
		if got.ID != c.ID || got.Category != "finance" || strings.Join(got.Tags, ",") != "tax,law" ||
			got.SystemPrompt != c.SystemPrompt || got.OwnerID != u.ID || got.Mode != lobby.ModeManaged {
			t.Fatalf("stored consultant = %+v", got)
		}
		if len(got.Plans) != 3 || got.Plans[0].Tier != "starter" || *got.Plans[0].MessageCap != 100 ||
			got.Plans[1].PriceCents != 4900 || got.Plans[2].MessageCap != nil {
			t.Fatalf("default plans = %+v", got.Plans)
		}
		byID, err := db.FindConsultantByID(ctx, c.ID)
		must(t, err)
		if byID.Slug != "tax-advisor" {
			t.Fatalf("by id: %+v", byID)
		}
	})
	t.Run("ErrSlugTaken", func(t *testing.T) {
		_, err := db.CreateConsultant(ctx, NewConsultant(u.ID, "taken"), lobby.ValidateOptions{})
		must(t, err)
		_, err = db.CreateConsultant(ctx, NewConsultant(u.ID, "taken"), lobby.ValidateOptions{})
		WantCode(t, err, lobby.ECONFLICT, "taken")
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		for name, edit := range map[string]func(c *lobby.Consultant){
			"slug":       func(c *lobby.Consultant) { c.Slug = "No Spaces" },
			"short slug": func(c *lobby.Consultant) { c.Slug = "ab" },
			"name":       func(c *lobby.Consultant) { c.Name = "" },
			"mode":       func(c *lobby.Consultant) { c.Mode = "magic" },
			"prompt":     func(c *lobby.Consultant) { c.SystemPrompt = strings.Repeat("x", lobby.MaxSystemPromptLen+1) },
			"webhook":    func(c *lobby.Consultant) { c.Mode = lobby.ModeWebhook },
			"http":       func(c *lobby.Consultant) { c.Mode, c.WebhookURL = lobby.ModeWebhook, "http://agent.example.com/" },
			"loopback":   func(c *lobby.Consultant) { c.Mode, c.WebhookURL = lobby.ModeWebhook, "https://127.0.0.1/" },
			"tier":       func(c *lobby.Consultant) { c.Plans = []lobby.Plan{{Tier: "Bad Tier", PriceCents: 1}} },
			"price":      func(c *lobby.Consultant) { c.Plans = []lobby.Plan{{Tier: "x", PriceCents: -1}} },
			"tag":        func(c *lobby.Consultant) { c.Tags = []string{"has space"} },
			"not utf8":   func(c *lobby.Consultant) { c.Name = "\xff" },
		} {
			c := NewConsultant(u.ID, "invalid-one")
			edit(c)
			_, err := db.CreateConsultant(ctx, c, lobby.ValidateOptions{})
			if lobby.ErrorCode(err) != lobby.EINVALID {
				t.Errorf("%s: err = %v, want invalid_request", name, err)
			}
		}
		_, err := db.FindConsultantBySlug(ctx, "invalid-one")
		WantCode(t, err, lobby.ENOTFOUND)
	})
	t.Run("Webhook", func(t *testing.T) {
		c := NewConsultant(u.ID, "hooked")
		c.Mode, c.WebhookURL = lobby.ModeWebhook, "https://agent.example.com/lobby"
		_, err := db.CreateConsultant(ctx, c, lobby.ValidateOptions{})
		must(t, err)
		if !strings.HasPrefix(c.WebhookSecret, lobby.SecretWebhook) {
			t.Fatalf("webhook secret %q", c.WebhookSecret)
		}
		dev := NewConsultant(u.ID, "hooked-dev")
		dev.Mode, dev.WebhookURL = lobby.ModeWebhook, "http://127.0.0.1:9999/hook"
		_, err = db.CreateConsultant(ctx, dev, lobby.ValidateOptions{Dev: true})
		must(t, err)
	})
	t.Run("Update", func(t *testing.T) {
		c := NewConsultant(u.ID, "updatable")
		_, err := db.CreateConsultant(ctx, c, lobby.ValidateOptions{})
		must(t, err)
		name, mode, url := "Renamed", lobby.ModeWebhook, "https://agent.example.com/x"
		cap := int64(7)
		plans := []lobby.Plan{{Tier: "only", PriceCents: 100, MessageCap: &cap}}
		got, secret, err := db.UpdateConsultant(ctx, c.ID, lobby.ConsultantUpdate{Name: &name, Mode: &mode, WebhookURL: &url, Plans: &plans}, lobby.ValidateOptions{})
		must(t, err)
		if got.Name != "Renamed" || got.Mode != mode || !strings.HasPrefix(secret, lobby.SecretWebhook) {
			t.Fatalf("updated = %+v, secret %q", got, secret)
		}
		reread, _ := db.FindConsultantBySlug(ctx, "updatable")
		if reread.Name != "Renamed" || len(reread.Plans) != 1 || reread.Plans[0].Currency != "usd" || *reread.Plans[0].MessageCap != 7 {
			t.Fatalf("reread = %+v", reread)
		}
		taken := "taken"
		_, _, err = db.UpdateConsultant(ctx, c.ID, lobby.ConsultantUpdate{Slug: &taken}, lobby.ValidateOptions{})
		WantCode(t, err, lobby.ECONFLICT)
		empty := []lobby.Plan{}
		_, _, err = db.UpdateConsultant(ctx, c.ID, lobby.ConsultantUpdate{Plans: &empty}, lobby.ValidateOptions{})
		WantCode(t, err, lobby.EINVALID, "plans")
		_, _, err = db.UpdateConsultant(ctx, "csl_nope", lobby.ConsultantUpdate{Name: &name}, lobby.ValidateOptions{})
		WantCode(t, err, lobby.ENOTFOUND)
	})
}

func testCatalog(t *testing.T, b Backend) {
	ctx := context.Background()
	db, _ := open(t, b)
	_, u := SignIn(t, db, "owner@example.com")
	add := func(slug, name, desc, category string, tags ...string) {
		c := NewConsultant(u.ID, slug)
		c.Name, c.Description, c.Category, c.Tags = name, desc, category, tags
		_, err := db.CreateConsultant(ctx, c, lobby.ValidateOptions{})
		must(t, err)
	}
	add("kube", "Kubernetes Whisperer", "Helps with clusters and deployments.", "devops", "k8s")
	add("tax", "Tax Helper", "Files returns; knows about kubernetes only in passing.", "finance")
	add("chef", "Sous Chef", "Recipes and cooking techniques.", "food", "cooking")
	for i := range 25 {
		add(fmt.Sprintf("filler-%02d", i), fmt.Sprintf("Filler %d", i), "Nothing to see.", "misc")
	}

	slugs := func(cs []*lobby.Consultant) []string {
		var s []string
		for _, c := range cs {
			s = append(s, c.Slug)
		}
		return s
	}
	t.Run("RankedByField", func(t *testing.T) {
		cs, next, err := db.FindConsultants(ctx, lobby.ConsultantFilter{Query: "kubernetes"})
		must(t, err)
		if got := slugs(cs); len(got) != 2 || got[0] != "kube" || got[1] != "tax" || next != "" {
			t.Fatalf("search kubernetes = %v (next %q), want [kube tax]", got, next)
		}
	})
	t.Run("WordOfDescription", func(t *testing.T) {
		cs, _, err := db.FindConsultants(ctx, lobby.ConsultantFilter{Query: "recipes"})
		must(t, err)
		if got := slugs(cs); len(got) != 1 || got[0] != "chef" {
			t.Fatalf("search recipes = %v", got)
		}
	})
	t.Run("PrefixStemAndTags", func(t *testing.T) {
		for q, want := range map[string]string{"cook": "chef", "deployment": "kube", "k8s": "kube", "CLUSTERS!": "kube", `"; DROP TABLE consultants; --`: ""} {
			cs, _, err := db.FindConsultants(ctx, lobby.ConsultantFilter{Query: q})
			must(t, err)
			got := strings.Join(slugs(cs), ",")
			if got != want {
				t.Errorf("search %q = %q, want %q", q, got, want)
			}
		}
	})
	t.Run("Category", func(t *testing.T) {
		cs, _, err := db.FindConsultants(ctx, lobby.ConsultantFilter{Category: "Food"})
		must(t, err)
		if got := slugs(cs); len(got) != 1 || got[0] != "chef" {
			t.Fatalf("category food = %v", got)
		}
		cs, _, err = db.FindConsultants(ctx, lobby.ConsultantFilter{Query: "kubernetes", Category: "finance"})
		must(t, err)
		if got := slugs(cs); len(got) != 1 || got[0] != "tax" {
			t.Fatalf("kubernetes in finance = %v", got)
		}
	})
	t.Run("Pages", func(t *testing.T) {
		for _, q := range []string{"", "filler"} {
			seen := map[string]bool{}
			cursor, pages := "", 0
			for {
				cs, next, err := db.FindConsultants(ctx, lobby.ConsultantFilter{Query: q, Limit: 10, Cursor: cursor})
				must(t, err)
				pages++
				for _, c := range cs {
					if seen[c.Slug] {
						t.Fatalf("query %q: %s on two pages", q, c.Slug)
					}
					seen[c.Slug] = true
					if len(c.Plans) != 3 {
						t.Fatalf("%s has %d plans in a list", c.Slug, len(c.Plans))
					}
				}
				if next == "" {
					break
				}
				cursor = next
			}
			want := 28
			if q != "" {
				want = 25
			}
			if len(seen) != want || pages != (want+9)/10 {
				t.Fatalf("query %q: %d consultants in %d pages, want %d", q, len(seen), pages, want)
			}
		}
	})
	t.Run("ErrBadCursor", func(t *testing.T) {
		_, _, err := db.FindConsultants(ctx, lobby.ConsultantFilter{Cursor: "bogus!"})
		WantCode(t, err, lobby.EINVALID, "cursor")
		_, _, err = db.FindConsultants(ctx, lobby.ConsultantFilter{Query: "x", Cursor: "bogus"})
		WantCode(t, err, lobby.EINVALID, "cursor")
	})
	t.Run("Owner", func(t *testing.T) {
		_, other := SignIn(t, db, "other@example.com")
		cs, _, err := db.FindConsultants(ctx, lobby.ConsultantFilter{OwnerID: other.ID})
		must(t, err)
		if len(cs) != 0 {
			t.Fatalf("other owner sees %v", slugs(cs))
		}
	})
}

func testCheckout(t *testing.T, b Backend) {
	ctx := context.Background()
	db, clock := open(t, b)
	_, owner := SignIn(t, db, "owner@example.com")
	_, buyer := SignIn(t, db, "buyer@example.com")
	_, stranger := SignIn(t, db, "stranger@example.com")
	c := NewConsultant(owner.ID, "seller")
	_, err := db.CreateConsultant(ctx, c, lobby.ValidateOptions{})
	must(t, err)

	t.Run("ErrUnknownTier", func(t *testing.T) {
		err := db.CreateCheckout(ctx, &lobby.Checkout{UserID: buyer.ID, ConsultantID: c.ID, Plan: lobby.Plan{Tier: "gold"}, Provider: "local"})
		WantCode(t, err, lobby.EINVALID, "starter, pro, unlimited")
	})
	t.Run("ErrExpired", func(t *testing.T) {
		ch := &lobby.Checkout{UserID: stranger.ID, ConsultantID: c.ID, Plan: lobby.Plan{Tier: "pro"}, Provider: "local"}
		must(t, db.CreateCheckout(ctx, ch))
		clock.Add(lobby.CheckoutTTL)
		WantCode(t, db.CompleteCheckout(ctx, ch.ID, stranger.ID), lobby.ECONFLICT, "expired")
		res, err := db.FindCheckout(ctx, stranger.ID, ch.ID)
		must(t, err)
		if res.Checkout.Status != lobby.CheckoutExpired {
			t.Fatalf("status %q, want expired", res.Checkout.Status)
		}
	})
	t.Run("OK", func(t *testing.T) {
		ch := &lobby.Checkout{UserID: buyer.ID, ConsultantID: c.ID, Plan: lobby.Plan{Tier: "pro"}, Provider: "local"}
		must(t, db.CreateCheckout(ctx, ch))
		if ch.Plan.PriceCents != 4900 || *ch.Plan.MessageCap != 300 || !strings.HasPrefix(ch.ID, lobby.PrefixCheckout) {
			t.Fatalf("checkout = %+v", ch)
		}
		must(t, db.SetCheckoutProvider(ctx, ch.ID, "ref-1", "http://x/checkout"))
		res, err := db.FindCheckout(ctx, buyer.ID, ch.ID)
		must(t, err)
		if res.Checkout.Status != lobby.CheckoutOpen || res.BuyerToken != "" || res.Checkout.URL != "http://x/checkout" {
			t.Fatalf("open checkout = %+v", res)
		}
		_, err = db.FindCheckout(ctx, stranger.ID, ch.ID)
		WantCode(t, err, lobby.ENOTFOUND)
		WantCode(t, db.CompleteCheckout(ctx, ch.ID, stranger.ID), lobby.ENOTFOUND)

		// Completing twice at once makes one subscription.
		var wg sync.WaitGroup
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := db.CompleteCheckout(ctx, ch.ID, buyer.ID); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()

		// Reads at once: exactly one carries the token.
		tokens := make(chan string, 5)
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := db.FindCheckout(ctx, buyer.ID, ch.ID)
				if err != nil {
					t.Error(err)
					return
				}
				if res.Checkout.Status != lobby.CheckoutComplete || res.Subscription == nil {
					t.Errorf("complete checkout read = %+v", res)
				}
				tokens <- res.BuyerToken
			}()
		}
		wg.Wait()
		close(tokens)
		var token string
		for tok := range tokens {
			if tok != "" {
				if token != "" {
					t.Fatal("two reads carried a buyer token")
				}
				token = tok
			}
		}
		p, err := db.Authenticate(ctx, token)
		must(t, err)
		subs, _, err := db.FindSubscriptions(ctx, lobby.SubscriptionFilter{UserID: buyer.ID})
		must(t, err)
		if len(subs) != 1 || subs[0].ID != p.SubscriptionID || subs[0].Tier != "pro" || *subs[0].MessageCap != 300 ||
			subs[0].MessagesUsed != 0 || subs[0].Status != lobby.SubscriptionActive || !subs[0].PeriodEnd.Equal(subs[0].PeriodStart.Add(lobby.SubscriptionPeriod)) {
			t.Fatalf("subscriptions = %+v", subs)
		}
		// A second subscription to the same consultant while one is active.
		err = db.CreateCheckout(ctx, &lobby.Checkout{UserID: buyer.ID, ConsultantID: c.ID, Plan: lobby.Plan{Tier: "starter"}, Provider: "local"})
		WantCode(t, err, lobby.ECONFLICT, "already")
		got, _ := db.FindConsultantByID(ctx, c.ID)
		if got.Stats.Subscribers != 1 {
			t.Fatalf("subscribers = %d", got.Stats.Subscribers)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		WantCode(t, db.CompleteCheckout(ctx, "chk_nope", ""), lobby.ENOTFOUND)
		_, err := db.FindCheckout(ctx, buyer.ID, "chk_nope")
		WantCode(t, err, lobby.ENOTFOUND)
	})
}

func testSubscription(t *testing.T, b Backend) {
	ctx := context.Background()
	db, clock := open(t, b)
	_, owner := SignIn(t, db, "owner@example.com")
	_, buyer := SignIn(t, db, "buyer@example.com")
	_, stranger := SignIn(t, db, "stranger@example.com")
	c := NewConsultant(owner.ID, "seller")
	_, err := db.CreateConsultant(ctx, c, lobby.ValidateOptions{})
	must(t, err)
	sub, token := Subscribe(t, db, buyer.ID, c.ID, "starter")

	t.Run("OthersNotFound", func(t *testing.T) {
		_, err := db.FindSubscription(ctx, stranger.ID, sub.ID)
		WantCode(t, err, lobby.ENOTFOUND)
		_, err = db.RotateBuyerToken(ctx, stranger.ID, sub.ID)
		WantCode(t, err, lobby.ENOTFOUND)
		_, err = db.CancelSubscription(ctx, stranger.ID, sub.ID)
		WantCode(t, err, lobby.ENOTFOUND)
		subs, _, err := db.FindSubscriptions(ctx, lobby.SubscriptionFilter{UserID: stranger.ID})
		must(t, err)
		if len(subs) != 0 {
			t.Fatalf("stranger lists %v", subs)
		}
	})
	t.Run("Rotate", func(t *testing.T) {
		fresh, err := db.RotateBuyerToken(ctx, buyer.ID, sub.ID)
		must(t, err)
		_, err = db.Authenticate(ctx, token)
		WantCode(t, err, lobby.EUNAUTHORIZED)
		_, err = db.Authenticate(ctx, fresh)
		must(t, err)
		token = fresh
	})
	t.Run("RenewsEachPeriod", func(t *testing.T) {
		clock.Add(lobby.SubscriptionPeriod + time.Hour)
		got, err := db.FindSubscription(ctx, buyer.ID, sub.ID)
		must(t, err)
		if got.Status != lobby.SubscriptionActive || !got.PeriodStart.Equal(sub.PeriodStart.Add(lobby.SubscriptionPeriod)) {
			t.Fatalf("after a period: %+v", got)
		}
		_, err = db.Authenticate(ctx, token)
		must(t, err)
	})
	t.Run("CancelAtPeriodEnd", func(t *testing.T) {
		got, err := db.CancelSubscription(ctx, buyer.ID, sub.ID)
		must(t, err)
		if !got.CancelAtPeriodEnd || got.Status != lobby.SubscriptionActive {
			t.Fatalf("canceled = %+v", got)
		}
		_, err = db.Authenticate(ctx, token)
		must(t, err) // still paid for until the period ends
		clock.Add(lobby.SubscriptionPeriod)
		got, err = db.FindSubscription(ctx, buyer.ID, sub.ID)
		must(t, err)
		if got.Status != lobby.SubscriptionCanceled {
			t.Fatalf("after the period: %+v", got)
		}
		_, err = db.Authenticate(ctx, token)
		WantCode(t, err, lobby.EUNAUTHORIZED, "ended")
		_, err = db.RotateBuyerToken(ctx, buyer.ID, sub.ID)
		WantCode(t, err, lobby.ECONFLICT, "ended")
		// And the buyer may subscribe again.
		Subscribe(t, db, buyer.ID, c.ID, "pro")
	})
	t.Run("Pages", func(t *testing.T) {
		for i := range 3 {
			other := NewConsultant(owner.ID, fmt.Sprintf("page-%d", i))
			_, err := db.CreateConsultant(ctx, other, lobby.ValidateOptions{})
			must(t, err)
			Subscribe(t, db, buyer.ID, other.ID, "starter")
		}
		first, next, err := db.FindSubscriptions(ctx, lobby.SubscriptionFilter{UserID: buyer.ID, Limit: 3})
		must(t, err)
		second, last, err := db.FindSubscriptions(ctx, lobby.SubscriptionFilter{UserID: buyer.ID, Limit: 3, Cursor: next})
		must(t, err)
		if len(first) != 3 || len(second) != 2 || last != "" || first[0].ID < first[1].ID {
			t.Fatalf("pages of %d and %d (last cursor %q)", len(first), len(second), last)
		}
	})
}

func testChat(t *testing.T, b Backend) {
	ctx := context.Background()
	db, _ := open(t, b)
	_, owner := SignIn(t, db, "owner@example.com")
	_, buyer := SignIn(t, db, "buyer@example.com")
	c := NewConsultant(owner.ID, "chatty")
	_, err := db.CreateConsultant(ctx, c, lobby.ValidateOptions{})
	must(t, err)
	sub, _ := Subscribe(t, db, buyer.ID, c.ID, "starter")
	otherSub, _ := Subscribe(t, db, owner.ID, c.ID, "starter")

	first, err := db.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, Content: "Hello?"})
	must(t, err)
	cnv := first.Conversation
	if !strings.HasPrefix(cnv.ID, lobby.PrefixConversation) || cnv.SubscriptionID != sub.ID || cnv.ConsultantID != c.ID ||
		!strings.HasPrefix(cnv.BuyerID, "byr_") || strings.Contains(cnv.BuyerID, buyer.ID) {
		t.Fatalf("conversation = %+v", cnv)
	}
	if first.Message.Status != lobby.MessageComplete || first.Message.Role != lobby.RoleBuyer ||
		first.Reply.Status != lobby.MessageStreaming || first.Reply.Role != lobby.RoleConsultant || first.Reply.ID <= first.Message.ID {
		t.Fatalf("exchange = %+v %+v", first.Message, first.Reply)
	}
	done, err := db.FinishMessage(ctx, first.Reply.ID, "Hi.", lobby.MessageComplete, "", "offline")
	must(t, err)
	if done.Content != "Hi." || done.Status != lobby.MessageComplete || done.Model != "offline" {
		t.Fatalf("finished = %+v", done)
	}
	// The next message goes to the same conversation by default, and by name.
	second, err := db.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, Content: "And?"})
	must(t, err)
	third, err := db.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, ConversationID: cnv.ID, Content: "Well?"})
	must(t, err)
	if second.Conversation.ID != cnv.ID || third.Conversation.ID != cnv.ID {
		t.Fatal("one subscription's messages went to two conversations")
	}
	_, err = db.FinishMessage(ctx, second.Reply.ID, "", lobby.MessageFailed, "The model provider is overloaded.", "")
	must(t, err)

	all, err := db.FindMessages(ctx, lobby.MessageFilter{ConversationID: cnv.ID})
	must(t, err)
	var got []string
	for _, m := range all {
		got = append(got, m.Role+":"+m.Content+":"+m.Status)
	}
	want := "buyer:Hello?:complete consultant:Hi.:complete buyer:And?:complete consultant::failed buyer:Well?:complete consultant::streaming"
	if strings.Join(got, " ") != want {
		t.Fatalf("messages = %v\nwant %s", got, want)
	}
	after, err := db.FindMessages(ctx, lobby.MessageFilter{ConversationID: cnv.ID, After: all[3].ID, Limit: 1})
	must(t, err)
	if len(after) != 1 || after[0].ID != all[4].ID {
		t.Fatalf("after %s: %+v", all[3].ID, after)
	}
	recent, err := db.FindRecentMessages(ctx, cnv.ID, all[4].ID, 3)
	must(t, err)
	if len(recent) != 3 || recent[0].ID != all[2].ID || recent[2].ID != all[4].ID {
		t.Fatalf("recent up to %s: %+v", all[4].ID, recent)
	}
	if all[3].Error != "The model provider is overloaded." {
		t.Fatalf("failed reply's error = %q", all[3].Error)
	}

	// Another subscription cannot write into this conversation, nor sees it.
	_, err = db.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: otherSub.ID, ConversationID: cnv.ID, Content: "Intrude"})
	WantCode(t, err, lobby.ENOTFOUND)
	mine, _, err := db.FindConversations(ctx, lobby.ConversationFilter{SubscriptionID: otherSub.ID})
	must(t, err)
	if len(mine) != 0 {
		t.Fatalf("other subscription lists %+v", mine)
	}
	theirs, _, err := db.FindConversations(ctx, lobby.ConversationFilter{ConsultantID: c.ID})
	must(t, err)
	if len(theirs) != 1 || theirs[0].ID != cnv.ID {
		t.Fatalf("consultant's conversations = %+v", theirs)
	}
	for _, bad := range []string{"", "   ", "\xff\xfe", "a\x00b", strings.Repeat("x", lobby.MaxMessageLen+1)} {
		_, err := db.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, Content: bad})
		if code := lobby.ErrorCode(err); code != lobby.EINVALID && code != lobby.ETOOLARGE {
			t.Errorf("content %.10q: %v", bad, err)
		}
	}
	_, err = db.FinishMessage(ctx, "msg_nope", "x", lobby.MessageComplete, "", "")
	WantCode(t, err, lobby.ENOTFOUND)

	// A reply whose process died is failed once it is older than the cutoff.
	stale, err := db.FailStaleReplies(ctx, third.Reply.CreatedAt, "gone")
	must(t, err)
	if len(stale) != 0 {
		t.Fatalf("failed replies born at the cutoff: %+v", stale)
	}
	stale, err = db.FailStaleReplies(ctx, third.Reply.CreatedAt.Add(time.Second), "gone")
	must(t, err)
	if len(stale) != 1 || stale[0].ID != third.Reply.ID || stale[0].Status != lobby.MessageFailed || stale[0].Error != "gone" {
		t.Fatalf("stale replies = %+v", stale)
	}
	if m, _ := db.FindMessageByID(ctx, first.Reply.ID); m.Status != lobby.MessageComplete {
		t.Fatalf("a finished reply was swept: %+v", m)
	}
}

// testChatCap: 30 messages sent at once against a cap of 10 store exactly 10; the rest
// are refused with the time left in the period, and nothing of them is stored.
func testChatCap(t *testing.T, b Backend) {
	ctx := context.Background()
	db, clock := open(t, b)
	_, owner := SignIn(t, db, "owner@example.com")
	c := NewConsultant(owner.ID, "capped")
	cap := int64(10)
	c.Plans = []lobby.Plan{{Tier: "tiny", PriceCents: 100, MessageCap: &cap}}
	_, err := db.CreateConsultant(ctx, c, lobby.ValidateOptions{})
	must(t, err)
	sub, _ := Subscribe(t, db, owner.ID, c.ID, "tiny")

	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := db.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, Content: fmt.Sprintf("message %d", i)})
			switch lobby.ErrorCode(err) {
			case "":
				ok.Add(1)
			case lobby.EQUOTA:
				if ra := lobby.ErrorRetryAfter(err); ra <= 0 || ra > lobby.SubscriptionPeriod {
					t.Errorf("Retry-After %v", ra)
				}
				refused.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	cnvs, _, err := db.FindConversations(ctx, lobby.ConversationFilter{SubscriptionID: sub.ID})
	must(t, err)
	msgs, err := db.FindMessages(ctx, lobby.MessageFilter{ConversationID: cnvs[0].ID, Limit: 100})
	must(t, err)
	if ok.Load() != 10 || refused.Load() != 20 || len(msgs) != 20 || len(cnvs) != 1 {
		t.Fatalf("%d sent, %d refused, %d messages stored in %d conversations; want 10, 20, 20 (10 and their replies), 1",
			ok.Load(), refused.Load(), len(msgs), len(cnvs))
	}
	got, err := db.FindSubscription(ctx, owner.ID, sub.ID)
	must(t, err)
	if got.MessagesUsed != 10 {
		t.Fatalf("messages_used = %d", got.MessagesUsed)
	}
	// A new period has a new allowance.
	clock.Add(lobby.SubscriptionPeriod)
	_, err = db.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, Content: "new month"})
	must(t, err)
	got, _ = db.FindSubscription(ctx, owner.ID, sub.ID)
	if got.MessagesUsed != 1 {
		t.Fatalf("messages_used in the new period = %d", got.MessagesUsed)
	}
}

func testOpenConversation(t *testing.T, b Backend) {
	ctx := context.Background()
	db, _ := open(t, b)
	_, owner := SignIn(t, db, "owner@example.com")
	_, buyer := SignIn(t, db, "buyer@example.com")
	c := NewConsultant(owner.ID, "opener")
	_, err := db.CreateConsultant(ctx, c, lobby.ValidateOptions{})
	must(t, err)
	sub, _ := Subscribe(t, db, buyer.ID, c.ID, "starter")
	otherSub, _ := Subscribe(t, db, owner.ID, c.ID, "starter")

	t.Run("DefaultMadeOnFirstUse", func(t *testing.T) {
		cnv, err := db.OpenConversation(ctx, sub.ID, "")
		must(t, err)
		if !strings.HasPrefix(cnv.ID, lobby.PrefixConversation) || cnv.SubscriptionID != sub.ID || cnv.ConsultantID != c.ID ||
			!strings.HasPrefix(cnv.BuyerID, "byr_") {
			t.Fatalf("conversation = %+v", cnv)
		}
		again, err := db.OpenConversation(ctx, sub.ID, "")
		must(t, err)
		named, err := db.OpenConversation(ctx, sub.ID, cnv.ID)
		must(t, err)
		ex, err := db.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, Content: "Hello?"})
		must(t, err)
		if again.ID != cnv.ID || named.ID != cnv.ID || ex.Conversation.ID != cnv.ID {
			t.Fatalf("opened %s, then %s and %s; the message went to %s", cnv.ID, again.ID, named.ID, ex.Conversation.ID)
		}
	})
	t.Run("ErrOtherSubscriptions", func(t *testing.T) {
		cnv, err := db.OpenConversation(ctx, sub.ID, "")
		must(t, err)
		_, err = db.OpenConversation(ctx, otherSub.ID, cnv.ID)
		WantCode(t, err, lobby.ENOTFOUND, "no conversation")
		_, err = db.OpenConversation(ctx, sub.ID, "cnv_unknown")
		WantCode(t, err, lobby.ENOTFOUND, "no conversation")
	})
	t.Run("ErrUnknownSubscription", func(t *testing.T) {
		_, err := db.OpenConversation(ctx, "sub_unknown", "")
		WantCode(t, err, lobby.ENOTFOUND, "no subscription")
	})
	t.Run("ConcurrentOpensShareOne", func(t *testing.T) {
		_, fresh := SignIn(t, db, "fresh@example.com")
		s, _ := Subscribe(t, db, fresh.ID, c.ID, "starter")
		ids := make([]string, 8)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cnv, err := db.OpenConversation(ctx, s.ID, "")
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = cnv.ID
			}()
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("concurrent opens made several default conversations: %v", ids)
			}
		}
	})
}
