package storetest

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lobby-dev/lobby"
)

// Store is one implementation of Lobby's services as the suite exercises it: the
// services, the events their writes publish and the clock they read. A second
// implementation of one part runs the same tests by putting it in place of a service.
type Store struct {
	Auth          lobby.AuthService
	Consultants   lobby.ConsultantService
	Subscriptions lobby.SubscriptionService
	Chat          lobby.ChatService
	Deliveries    lobby.DeliveryService
	Knowledge     lobby.KnowledgeService
	PaymentEvents lobby.PaymentEventService
	PaymentRefs   lobby.PaymentRefService
	Earnings      lobby.EarningsService
	Credits       lobby.CreditService
	Activity      lobby.ActivityService
	// QueuedJobs returns the JSON arguments of the queued jobs of a kind.
	QueuedJobs func(ctx context.Context, kind string) ([]string, error)
	// Events is where the services publish what their writes changed, after commit.
	Events lobby.EventService
	// Clock is the time the services read; the tests move it.
	Clock *Clock
	// Shared returns another handle on the same data and clock, as a second instance
	// of the server would open it.
	Shared func(t *testing.T) *Store
}

// Exercise runs every behaviour of the services against the stores open returns, each
// new and empty.
func Exercise(t *testing.T, open func(t *testing.T) *Store) {
	tests := []struct {
		name string
		f    func(t *testing.T, open func(*testing.T) *Store)
	}{
		{"LoginCode", testLoginCode},
		{"Authenticate", testAuthenticate},
		{"Consultant", testConsultant},
		{"Keys", testKeys},
		{"Archive", testArchive},
		{"Limits", testLimits},
		{"Catalog", testCatalog},
		{"Checkout", testCheckout},
		{"Subscription", testSubscription},
		{"Chat", testChat},
		{"ChatCap", testChatCap},
		{"OpenConversation", testOpenConversation},
		{"Conversations", testConversations},
		{"DeleteConversation", testDeleteConversation},
		{"Summary", testSummary},
		{"Delivery", testDelivery},
		{"Inbox", testInbox},
		{"Reply", testReply},
		{"Events", testEvents},
		{"Knowledge", testKnowledge},
		{"KnowledgeSearch", testKnowledgeSearch},
		{"BadText", testBadText},
		{"PaymentEvents", testPaymentEvents},
		{"PaymentEventsOnce", testPaymentEventsOnce},
		{"PaymentRefs", testPaymentRefs},
		{"Earnings", testEarnings},
		{"UsageNotices", testUsageNotices},
		{"Credits", testCredits},
		{"CreditsConcurrent", testCreditsConcurrent},
		{"PlanChange", testPlanChange},
		{"PlanChangeEvents", testPlanChangeEvents},
		{"PageTokens", testPageTokens},
		{"Activity", testActivity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.f(t, open)
		})
	}
}

// ExerciseMigrations checks that b's stores migrate each migration once, with
// instances that start at once taking turns, and are then ready.
func ExerciseMigrations(t *testing.T, b Backend) {
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

// SignIn makes (or signs in) the user with the given email and returns the session token.
func SignIn(t testing.TB, auth lobby.AuthService, email string) (string, *lobby.User) {
	t.Helper()
	ctx := context.Background()
	code, err := auth.CreateLoginCode(ctx, email)
	must(t, err)
	if code == "" {
		t.Fatalf("no code made for %s: one was made less than %v ago", email, lobby.LoginCodeResendAfter)
	}
	token, u, err := auth.VerifyLoginCode(ctx, email, code)
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
func Subscribe(t testing.TB, subs lobby.SubscriptionService, userID, consultantID, tier string) (*lobby.Subscription, string) {
	t.Helper()
	ctx := context.Background()
	c := &lobby.Checkout{UserID: userID, ConsultantID: consultantID, Plan: lobby.Plan{Tier: tier}, Provider: "local", RenewsItself: true}
	must(t, subs.CreateCheckout(ctx, c))
	must(t, subs.CompleteCheckout(ctx, c.ID, ""))
	res, err := subs.FindCheckout(ctx, userID, c.ID)
	must(t, err)
	if res.BuyerToken == "" || res.Subscription == nil {
		t.Fatalf("first read of a complete checkout: token %q, subscription %v", res.BuyerToken, res.Subscription)
	}
	return res.Subscription, res.BuyerToken
}

func testLoginCode(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	t.Run("OK", func(t *testing.T) {
		st := open(t)
		code, err := st.Auth.CreateLoginCode(ctx, "ada@example.com")
		must(t, err)
		if !lobby.ValidLoginCode(code) {
			t.Fatalf("code %q is not 6 digits", code)
		}
		token, u, err := st.Auth.VerifyLoginCode(ctx, "ada@example.com", code)
		must(t, err)
		if !strings.HasPrefix(token, lobby.TokenUser) || len(token) < len(lobby.TokenUser)+22 {
			t.Fatalf("token %q: want cl_user_ and at least 128 bits", token)
		}
		if u.Email != "ada@example.com" || !strings.HasPrefix(u.ID, lobby.PrefixUser) {
			t.Fatalf("user = %+v", u)
		}
		// Signing in again is the same user.
		_, again := SignIn(t, st.Auth, "ada@example.com")
		if again.ID != u.ID {
			t.Fatalf("second sign-in made user %s, want %s", again.ID, u.ID)
		}
	})
	t.Run("ErrReused", func(t *testing.T) {
		st := open(t)
		code, _ := st.Auth.CreateLoginCode(ctx, "a@example.com")
		_, _, err := st.Auth.VerifyLoginCode(ctx, "a@example.com", code)
		must(t, err)
		_, _, err = st.Auth.VerifyLoginCode(ctx, "a@example.com", code)
		WantCode(t, err, lobby.EUNAUTHORIZED, "request a new one")
	})
	t.Run("ErrExpired", func(t *testing.T) {
		st := open(t)
		clock := st.Clock
		code, _ := st.Auth.CreateLoginCode(ctx, "a@example.com")
		clock.Add(lobby.LoginCodeTTL)
		_, _, err := st.Auth.VerifyLoginCode(ctx, "a@example.com", code)
		WantCode(t, err, lobby.EUNAUTHORIZED, "expired")
	})
	t.Run("ErrOtherEmail", func(t *testing.T) {
		st := open(t)
		code, _ := st.Auth.CreateLoginCode(ctx, "a@example.com")
		_, _, err := st.Auth.VerifyLoginCode(ctx, "b@example.com", code)
		WantCode(t, err, lobby.EUNAUTHORIZED)
	})
	t.Run("ErrBurnedAfterFiveWrongTries", func(t *testing.T) {
		st := open(t)
		code, _ := st.Auth.CreateLoginCode(ctx, "a@example.com")
		wrong := fmt.Sprintf("%06d", (mustAtoi(code)+1)%1_000_000)
		for i := 1; i <= lobby.LoginCodeMaxAttempts; i++ {
			_, _, err := st.Auth.VerifyLoginCode(ctx, "a@example.com", wrong)
			WantCode(t, err, lobby.EUNAUTHORIZED, "wrong")
		}
		_, _, err := st.Auth.VerifyLoginCode(ctx, "a@example.com", code)
		WantCode(t, err, lobby.EUNAUTHORIZED, lobby.ErrorMessage(lobby.ErrLoginCode()))
	})
	t.Run("ConcurrentWrongTriesAllCount", func(t *testing.T) {
		st := open(t)
		code, _ := st.Auth.CreateLoginCode(ctx, "a@example.com")
		wrong := fmt.Sprintf("%06d", (mustAtoi(code)+1)%1_000_000)
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st.Auth.VerifyLoginCode(ctx, "a@example.com", wrong)
			}()
		}
		wg.Wait()
		_, _, err := st.Auth.VerifyLoginCode(ctx, "a@example.com", code)
		WantCode(t, err, lobby.EUNAUTHORIZED, lobby.ErrorMessage(lobby.ErrLoginCode()))
	})
	// Refusals read the same whatever the state of the email's codes, so that they
	// tell a guesser nothing: none, wrong, expired, used, burned or locked.
	t.Run("RefusalsReadAlike", func(t *testing.T) {
		st := open(t)
		refusal := func(email, code string) string {
			t.Helper()
			_, _, err := st.Auth.VerifyLoginCode(ctx, email, code)
			WantCode(t, err, lobby.EUNAUTHORIZED)
			return lobby.ErrorMessage(err)
		}
		seen := map[string]string{"none": refusal("none@example.com", "123456")}
		code, _ := st.Auth.CreateLoginCode(ctx, "wrong@example.com")
		seen["wrong"] = refusal("wrong@example.com", fmt.Sprintf("%06d", (mustAtoi(code)+1)%1_000_000))
		code, _ = st.Auth.CreateLoginCode(ctx, "used@example.com")
		_, _, err := st.Auth.VerifyLoginCode(ctx, "used@example.com", code)
		must(t, err)
		seen["used"] = refusal("used@example.com", code)
		code, _ = st.Auth.CreateLoginCode(ctx, "burned@example.com")
		for range lobby.LoginCodeMaxAttempts {
			refusal("burned@example.com", fmt.Sprintf("%06d", (mustAtoi(code)+1)%1_000_000))
		}
		seen["burned"] = refusal("burned@example.com", code)
		code, _ = st.Auth.CreateLoginCode(ctx, "expired@example.com")
		st.Clock.Add(lobby.LoginCodeTTL)
		seen["expired"] = refusal("expired@example.com", code)
		for state, msg := range seen {
			if msg != seen["none"] {
				t.Errorf("a %s code is refused with %q, but no code with %q", state, msg, seen["none"])
			}
		}
	})
	// Failures count per email across its codes: at the limit no code is sent or
	// accepted until the hour from the first failure has passed.
	t.Run("LockedAcrossCodes", func(t *testing.T) {
		st := open(t)
		const email = "target@example.com"
		for failed := 0; failed < lobby.LoginFailureLimit; {
			code, err := st.Auth.CreateLoginCode(ctx, email)
			must(t, err)
			if code == "" {
				t.Fatalf("no code sent after %d failures", failed)
			}
			for i := 0; i < lobby.LoginCodeMaxAttempts && failed < lobby.LoginFailureLimit; i++ {
				_, _, err := st.Auth.VerifyLoginCode(ctx, email, fmt.Sprintf("%06d", (mustAtoi(code)+1)%1_000_000))
				WantCode(t, err, lobby.EUNAUTHORIZED)
				failed++
			}
			st.Clock.Add(lobby.LoginCodeResendAfter)
		}
		code, err := st.Auth.CreateLoginCode(ctx, email)
		must(t, err)
		if code != "" {
			t.Fatalf("a locked email was sent code %q", code)
		}
		// Another email is not locked by this one's failures.
		SignIn(t, st.Auth, "bystander@example.com")
		st.Clock.Add(lobby.LoginFailureWindow)
		SignIn(t, st.Auth, email)
	})
	t.Run("LockedRefusesTheRightCode", func(t *testing.T) {
		st := open(t)
		const email = "victim@example.com"
		wrong := func(code string, n int) {
			for range n {
				st.Auth.VerifyLoginCode(ctx, email, fmt.Sprintf("%06d", (mustAtoi(code)+1)%1_000_000))
			}
		}
		code, _ := st.Auth.CreateLoginCode(ctx, email)
		wrong(code, lobby.LoginCodeMaxAttempts) // 5 failures, the code burned
		st.Clock.Add(lobby.LoginCodeResendAfter)
		code, _ = st.Auth.CreateLoginCode(ctx, email)
		wrong(code, lobby.LoginCodeMaxAttempts-1) // 9
		st.Clock.Add(lobby.LoginCodeResendAfter)
		code, _ = st.Auth.CreateLoginCode(ctx, email)
		if code == "" {
			t.Fatal("no code below the limit")
		}
		wrong(code, 1) // 10: locked, though this code has tries left
		_, _, err := st.Auth.VerifyLoginCode(ctx, email, code)
		WantCode(t, err, lobby.EUNAUTHORIZED, lobby.ErrorMessage(lobby.ErrLoginCode()))
	})
	// Requests at the same moment for a new email make one code, so one mail.
	t.Run("ConcurrentRequestsOneCode", func(t *testing.T) {
		st := open(t)
		var made atomic.Int32
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, err := st.Auth.CreateLoginCode(ctx, "rush@example.com")
				if err != nil {
					t.Error(err)
				} else if code != "" {
					made.Add(1)
				}
			}()
		}
		wg.Wait()
		if made.Load() != 1 {
			t.Fatalf("%d codes made for one email at once, want 1", made.Load())
		}
	})
	t.Run("ResendWaits", func(t *testing.T) {
		st := open(t)
		clock := st.Clock
		first, _ := st.Auth.CreateLoginCode(ctx, "a@example.com")
		again, err := st.Auth.CreateLoginCode(ctx, "a@example.com")
		must(t, err)
		if again != "" {
			t.Fatalf("a second code within %v: got %q, want none", lobby.LoginCodeResendAfter, again)
		}
		clock.Add(lobby.LoginCodeResendAfter)
		second, _ := st.Auth.CreateLoginCode(ctx, "a@example.com")
		if second == "" {
			t.Fatal("no new code after the resend wait")
		}
		if first != second {
			_, _, err = st.Auth.VerifyLoginCode(ctx, "a@example.com", first)
			WantCode(t, err, lobby.EUNAUTHORIZED)
		}
		_, _, err = st.Auth.VerifyLoginCode(ctx, "a@example.com", second)
		must(t, err)
	})
	t.Run("ConcurrentVerifyOnce", func(t *testing.T) {
		st := open(t)
		code, _ := st.Auth.CreateLoginCode(ctx, "a@example.com")
		var ok atomic.Int32
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, _, err := st.Auth.VerifyLoginCode(ctx, "a@example.com", code); err == nil {
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

func testAuthenticate(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	clock := st.Clock
	token, u := SignIn(t, st.Auth, "ada@example.com")

	p, err := st.Auth.Authenticate(ctx, token)
	must(t, err)
	if p.Kind != lobby.CallerUser || p.UserID != u.ID || p.SessionID == "" {
		t.Fatalf("principal = %+v", p)
	}
	for _, bad := range []string{"", "garbage", lobby.TokenUser, token + "x", lobby.TokenBuyer + "abc", lobby.TokenConsultant + "abc", strings.ToUpper(token)} {
		_, err := st.Auth.Authenticate(ctx, bad)
		WantCode(t, err, lobby.EUNAUTHORIZED)
	}

	c := NewConsultant(u.ID, "authn")
	key, err := st.Consultants.CreateConsultant(ctx, c, lobby.ValidateOptions{})
	must(t, err)
	p, err = st.Auth.Authenticate(ctx, key)
	must(t, err)
	if p.Kind != lobby.CallerConsultant || p.ConsultantID != c.ID {
		t.Fatalf("consultant principal = %+v", p)
	}

	_, buyer := Subscribe(t, st.Subscriptions, u.ID, c.ID, "starter")
	p, err = st.Auth.Authenticate(ctx, buyer)
	must(t, err)
	if p.Kind != lobby.CallerBuyer || p.ConsultantID != c.ID || p.UserID != u.ID || p.SubscriptionID == "" {
		t.Fatalf("buyer principal = %+v", p)
	}

	other, _ := SignIn(t, st.Auth, "bob@example.com")
	must(t, st.Auth.RevokeSession(ctx, p.SessionID))
	up, _ := st.Auth.Authenticate(ctx, token)
	must(t, st.Auth.RevokeSession(ctx, up.SessionID))
	_, err = st.Auth.Authenticate(ctx, token)
	WantCode(t, err, lobby.EUNAUTHORIZED)
	if _, err := st.Auth.Authenticate(ctx, other); err != nil {
		t.Fatalf("revoking one session ended another: %v", err)
	}

	clock.Add(lobby.SessionTTL)
	_, err = st.Auth.Authenticate(ctx, other)
	WantCode(t, err, lobby.EUNAUTHORIZED)
}

func testConsultant(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	_, u := SignIn(t, st.Auth, "owner@example.com")

	t.Run("OK", func(t *testing.T) {
		c := NewConsultant(u.ID, "tax-advisor")
		c.Tags = []string{"Tax", "law", "tax"}
		c.Category = " Finance "
		key, err := st.Consultants.CreateConsultant(ctx, c, lobby.ValidateOptions{})
		must(t, err)
		if !strings.HasPrefix(key, lobby.TokenConsultant) || !strings.HasPrefix(c.ID, lobby.PrefixConsultant) {
			t.Fatalf("key %q, id %q", key, c.ID)
		}
		got, err := st.Consultants.FindConsultantBySlug(ctx, "tax-advisor")
		must(t, err)
		if got.ID != c.ID || got.Category != "finance" || strings.Join(got.Tags, ",") != "tax,law" ||
			got.SystemPrompt != c.SystemPrompt || got.OwnerID != u.ID || got.Mode != lobby.ModeManaged {
			t.Fatalf("stored consultant = %+v", got)
		}
		if len(got.Plans) != 3 || got.Plans[0].Tier != "starter" || *got.Plans[0].MessageCap != 100 ||
			got.Plans[1].PriceCents != 4900 || got.Plans[2].MessageCap != nil {
			t.Fatalf("default plans = %+v", got.Plans)
		}
		byID, err := st.Consultants.FindConsultantByID(ctx, c.ID)
		must(t, err)
		if byID.Slug != "tax-advisor" {
			t.Fatalf("by id: %+v", byID)
		}
		// For the work on its messages: the same, without its plans and figures.
		work, err := st.Consultants.FindConsultantForWork(ctx, c.ID)
		must(t, err)
		byID.Plans, byID.Stats = nil, lobby.ConsultantStats{}
		if !reflect.DeepEqual(work, byID) {
			t.Fatalf("for work:\n%+v\nby id, less plans and figures:\n%+v", work, byID)
		}
		_, err = st.Consultants.FindConsultantForWork(ctx, "csl_none")
		WantCode(t, err, lobby.ENOTFOUND)
	})
	t.Run("ErrSlugTaken", func(t *testing.T) {
		_, err := st.Consultants.CreateConsultant(ctx, NewConsultant(u.ID, "taken"), lobby.ValidateOptions{})
		must(t, err)
		_, err = st.Consultants.CreateConsultant(ctx, NewConsultant(u.ID, "taken"), lobby.ValidateOptions{})
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
			_, err := st.Consultants.CreateConsultant(ctx, c, lobby.ValidateOptions{})
			if lobby.ErrorCode(err) != lobby.EINVALID {
				t.Errorf("%s: err = %v, want invalid_request", name, err)
			}
		}
		_, err := st.Consultants.FindConsultantBySlug(ctx, "invalid-one")
		WantCode(t, err, lobby.ENOTFOUND)
	})
	t.Run("Webhook", func(t *testing.T) {
		c := NewConsultant(u.ID, "hooked")
		c.Mode, c.WebhookURL = lobby.ModeWebhook, "https://agent.example.com/lobby"
		_, err := st.Consultants.CreateConsultant(ctx, c, lobby.ValidateOptions{})
		must(t, err)
		if !strings.HasPrefix(c.WebhookSecret, lobby.SecretWebhook) {
			t.Fatalf("webhook secret %q", c.WebhookSecret)
		}
		dev := NewConsultant(u.ID, "hooked-dev")
		dev.Mode, dev.WebhookURL = lobby.ModeWebhook, "http://127.0.0.1:9999/hook"
		_, err = st.Consultants.CreateConsultant(ctx, dev, lobby.ValidateOptions{Dev: true})
		must(t, err)
	})
	t.Run("Update", func(t *testing.T) {
		c := NewConsultant(u.ID, "updatable")
		_, err := st.Consultants.CreateConsultant(ctx, c, lobby.ValidateOptions{})
		must(t, err)
		name, mode, url := "Renamed", lobby.ModeWebhook, "https://agent.example.com/x"
		cap := int64(7)
		plans := []lobby.Plan{{Tier: "only", PriceCents: 100, MessageCap: &cap}}
		got, secret, err := st.Consultants.UpdateConsultant(ctx, c.ID, lobby.ConsultantUpdate{Name: &name, Mode: &mode, WebhookURL: &url, Plans: &plans}, lobby.ValidateOptions{})
		must(t, err)
		if got.Name != "Renamed" || got.Mode != mode || !strings.HasPrefix(secret, lobby.SecretWebhook) {
			t.Fatalf("updated = %+v, secret %q", got, secret)
		}
		reread, _ := st.Consultants.FindConsultantBySlug(ctx, "updatable")
		if reread.Name != "Renamed" || len(reread.Plans) != 1 || reread.Plans[0].Currency != "usd" || *reread.Plans[0].MessageCap != 7 {
			t.Fatalf("reread = %+v", reread)
		}
		taken := "taken"
		_, _, err = st.Consultants.UpdateConsultant(ctx, c.ID, lobby.ConsultantUpdate{Slug: &taken}, lobby.ValidateOptions{})
		WantCode(t, err, lobby.ECONFLICT)
		empty := []lobby.Plan{}
		_, _, err = st.Consultants.UpdateConsultant(ctx, c.ID, lobby.ConsultantUpdate{Plans: &empty}, lobby.ValidateOptions{})
		WantCode(t, err, lobby.EINVALID, "plans")
		_, _, err = st.Consultants.UpdateConsultant(ctx, "csl_nope", lobby.ConsultantUpdate{Name: &name}, lobby.ValidateOptions{})
		WantCode(t, err, lobby.ENOTFOUND)
	})
}

func testCatalog(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	_, u := SignIn(t, st.Auth, "owner@example.com")
	add := func(slug, name, desc, category string, tags ...string) {
		c := NewConsultant(u.ID, slug)
		c.Name, c.Description, c.Category, c.Tags = name, desc, category, tags
		_, err := st.Consultants.CreateConsultant(ctx, c, lobby.ValidateOptions{})
		must(t, err)
	}
	add("kube", "Kubernetes Whisperer", "Helps with clusters and deployments.", "devops", "k8s")
	add("tax", "Tax Helper", "Files returns; knows about kubernetes only in passing.", "finance")
	add("chef", "Sous Chef", "Recipes and cooking techniques.", "food", "cooking")
	for i := range 25 {
		if i%(lobby.MaxConsultantsPerUser-3) == 0 { // each owner lists at most so many
			_, u = SignIn(t, st.Auth, fmt.Sprintf("owner-%d@example.com", i))
		}
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
		cs, next, err := st.Consultants.FindConsultants(ctx, lobby.ConsultantFilter{Query: "kubernetes"})
		must(t, err)
		if got := slugs(cs); len(got) != 2 || got[0] != "kube" || got[1] != "tax" || next != "" {
			t.Fatalf("search kubernetes = %v (next %q), want [kube tax]", got, next)
		}
	})
	t.Run("WordOfDescription", func(t *testing.T) {
		cs, _, err := st.Consultants.FindConsultants(ctx, lobby.ConsultantFilter{Query: "recipes"})
		must(t, err)
		if got := slugs(cs); len(got) != 1 || got[0] != "chef" {
			t.Fatalf("search recipes = %v", got)
		}
	})
	t.Run("PrefixStemAndTags", func(t *testing.T) {
		for q, want := range map[string]string{"cook": "chef", "deployment": "kube", "k8s": "kube", "CLUSTERS!": "kube", `"; DROP TABLE consultants; --`: ""} {
			cs, _, err := st.Consultants.FindConsultants(ctx, lobby.ConsultantFilter{Query: q})
			must(t, err)
			got := strings.Join(slugs(cs), ",")
			if got != want {
				t.Errorf("search %q = %q, want %q", q, got, want)
			}
		}
	})
	t.Run("Category", func(t *testing.T) {
		cs, _, err := st.Consultants.FindConsultants(ctx, lobby.ConsultantFilter{Category: "Food"})
		must(t, err)
		if got := slugs(cs); len(got) != 1 || got[0] != "chef" {
			t.Fatalf("category food = %v", got)
		}
		cs, _, err = st.Consultants.FindConsultants(ctx, lobby.ConsultantFilter{Query: "kubernetes", Category: "finance"})
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
				cs, next, err := st.Consultants.FindConsultants(ctx, lobby.ConsultantFilter{Query: q, Limit: 10, Cursor: cursor})
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
		_, _, err := st.Consultants.FindConsultants(ctx, lobby.ConsultantFilter{Cursor: "bogus!"})
		WantCode(t, err, lobby.EINVALID, "cursor")
		_, _, err = st.Consultants.FindConsultants(ctx, lobby.ConsultantFilter{Query: "x", Cursor: "bogus"})
		WantCode(t, err, lobby.EINVALID, "cursor")
	})
	t.Run("Owner", func(t *testing.T) {
		_, other := SignIn(t, st.Auth, "other@example.com")
		cs, _, err := st.Consultants.FindConsultants(ctx, lobby.ConsultantFilter{OwnerID: other.ID})
		must(t, err)
		if len(cs) != 0 {
			t.Fatalf("other owner sees %v", slugs(cs))
		}
	})
}

func testCheckout(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	clock := st.Clock
	_, owner := SignIn(t, st.Auth, "owner@example.com")
	_, buyer := SignIn(t, st.Auth, "buyer@example.com")
	_, stranger := SignIn(t, st.Auth, "stranger@example.com")
	c := NewConsultant(owner.ID, "seller")
	_, err := st.Consultants.CreateConsultant(ctx, c, lobby.ValidateOptions{})
	must(t, err)

	t.Run("ErrUnknownTier", func(t *testing.T) {
		err := st.Subscriptions.CreateCheckout(ctx, &lobby.Checkout{UserID: buyer.ID, ConsultantID: c.ID, Plan: lobby.Plan{Tier: "gold"}, Provider: "local", RenewsItself: true})
		WantCode(t, err, lobby.EINVALID, "starter, pro, unlimited")
	})
	t.Run("ErrExpired", func(t *testing.T) {
		ch := &lobby.Checkout{UserID: stranger.ID, ConsultantID: c.ID, Plan: lobby.Plan{Tier: "pro"}, Provider: "local", RenewsItself: true}
		must(t, st.Subscriptions.CreateCheckout(ctx, ch))
		clock.Add(lobby.CheckoutTTL)
		WantCode(t, st.Subscriptions.CompleteCheckout(ctx, ch.ID, stranger.ID), lobby.ECONFLICT, "expired")
		res, err := st.Subscriptions.FindCheckout(ctx, stranger.ID, ch.ID)
		must(t, err)
		if res.Checkout.Status != lobby.CheckoutExpired {
			t.Fatalf("status %q, want expired", res.Checkout.Status)
		}
	})
	t.Run("OK", func(t *testing.T) {
		ch := &lobby.Checkout{UserID: buyer.ID, ConsultantID: c.ID, Plan: lobby.Plan{Tier: "pro"}, Provider: "local", RenewsItself: true}
		must(t, st.Subscriptions.CreateCheckout(ctx, ch))
		if ch.Plan.PriceCents != 4900 || *ch.Plan.MessageCap != 300 || !strings.HasPrefix(ch.ID, lobby.PrefixCheckout) {
			t.Fatalf("checkout = %+v", ch)
		}
		must(t, st.Subscriptions.SetCheckoutProvider(ctx, ch.ID, "ref-1", "http://x/checkout"))
		res, err := st.Subscriptions.FindCheckout(ctx, buyer.ID, ch.ID)
		must(t, err)
		if res.Checkout.Status != lobby.CheckoutOpen || res.BuyerToken != "" || res.Checkout.URL != "http://x/checkout" {
			t.Fatalf("open checkout = %+v", res)
		}
		_, err = st.Subscriptions.FindCheckout(ctx, stranger.ID, ch.ID)
		WantCode(t, err, lobby.ENOTFOUND)
		WantCode(t, st.Subscriptions.CompleteCheckout(ctx, ch.ID, stranger.ID), lobby.ENOTFOUND)

		// Completing twice at once makes one subscription.
		var wg sync.WaitGroup
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := st.Subscriptions.CompleteCheckout(ctx, ch.ID, buyer.ID); err != nil {
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
				res, err := st.Subscriptions.FindCheckout(ctx, buyer.ID, ch.ID)
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
		p, err := st.Auth.Authenticate(ctx, token)
		must(t, err)
		subs, _, err := st.Subscriptions.FindSubscriptions(ctx, lobby.SubscriptionFilter{UserID: buyer.ID})
		must(t, err)
		if len(subs) != 1 || subs[0].ID != p.SubscriptionID || subs[0].Tier != "pro" || *subs[0].MessageCap != 300 ||
			subs[0].MessagesUsed != 0 || subs[0].Status != lobby.SubscriptionActive || !subs[0].PeriodEnd.Equal(subs[0].PeriodStart.Add(lobby.SubscriptionPeriod)) {
			t.Fatalf("subscriptions = %+v", subs)
		}
		// A second subscription to the same consultant while one is active.
		err = st.Subscriptions.CreateCheckout(ctx, &lobby.Checkout{UserID: buyer.ID, ConsultantID: c.ID, Plan: lobby.Plan{Tier: "starter"}, Provider: "local", RenewsItself: true})
		WantCode(t, err, lobby.ECONFLICT, "already")
		got, _ := st.Consultants.FindConsultantByID(ctx, c.ID)
		if got.Stats.Subscribers != 1 {
			t.Fatalf("subscribers = %d", got.Stats.Subscribers)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		WantCode(t, st.Subscriptions.CompleteCheckout(ctx, "chk_nope", ""), lobby.ENOTFOUND)
		_, err := st.Subscriptions.FindCheckout(ctx, buyer.ID, "chk_nope")
		WantCode(t, err, lobby.ENOTFOUND)
	})
}

func testSubscription(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	clock := st.Clock
	_, owner := SignIn(t, st.Auth, "owner@example.com")
	_, buyer := SignIn(t, st.Auth, "buyer@example.com")
	_, stranger := SignIn(t, st.Auth, "stranger@example.com")
	c := NewConsultant(owner.ID, "seller")
	_, err := st.Consultants.CreateConsultant(ctx, c, lobby.ValidateOptions{})
	must(t, err)
	sub, token := Subscribe(t, st.Subscriptions, buyer.ID, c.ID, "starter")

	t.Run("OthersNotFound", func(t *testing.T) {
		_, err := st.Subscriptions.FindSubscription(ctx, stranger.ID, sub.ID)
		WantCode(t, err, lobby.ENOTFOUND)
		_, err = st.Subscriptions.RotateBuyerToken(ctx, stranger.ID, sub.ID)
		WantCode(t, err, lobby.ENOTFOUND)
		_, err = st.Subscriptions.CancelSubscription(ctx, stranger.ID, sub.ID)
		WantCode(t, err, lobby.ENOTFOUND)
		subs, _, err := st.Subscriptions.FindSubscriptions(ctx, lobby.SubscriptionFilter{UserID: stranger.ID})
		must(t, err)
		if len(subs) != 0 {
			t.Fatalf("stranger lists %v", subs)
		}
	})
	t.Run("Rotate", func(t *testing.T) {
		fresh, err := st.Subscriptions.RotateBuyerToken(ctx, buyer.ID, sub.ID)
		must(t, err)
		_, err = st.Auth.Authenticate(ctx, token)
		WantCode(t, err, lobby.EUNAUTHORIZED)
		_, err = st.Auth.Authenticate(ctx, fresh)
		must(t, err)
		token = fresh
	})
	t.Run("RenewsEachPeriod", func(t *testing.T) {
		clock.Add(lobby.SubscriptionPeriod + time.Hour)
		got, err := st.Subscriptions.FindSubscription(ctx, buyer.ID, sub.ID)
		must(t, err)
		if got.Status != lobby.SubscriptionActive || !got.PeriodStart.Equal(sub.PeriodStart.Add(lobby.SubscriptionPeriod)) {
			t.Fatalf("after a period: %+v", got)
		}
		_, err = st.Auth.Authenticate(ctx, token)
		must(t, err)
	})
	t.Run("CancelAtPeriodEnd", func(t *testing.T) {
		got, err := st.Subscriptions.CancelSubscription(ctx, buyer.ID, sub.ID)
		must(t, err)
		if !got.CancelAtPeriodEnd || got.Status != lobby.SubscriptionActive {
			t.Fatalf("canceled = %+v", got)
		}
		_, err = st.Auth.Authenticate(ctx, token)
		must(t, err) // still paid for until the period ends
		clock.Add(lobby.SubscriptionPeriod)
		got, err = st.Subscriptions.FindSubscription(ctx, buyer.ID, sub.ID)
		must(t, err)
		if got.Status != lobby.SubscriptionCanceled {
			t.Fatalf("after the period: %+v", got)
		}
		_, err = st.Auth.Authenticate(ctx, token)
		WantCode(t, err, lobby.EUNAUTHORIZED, "ended")
		_, err = st.Subscriptions.RotateBuyerToken(ctx, buyer.ID, sub.ID)
		WantCode(t, err, lobby.ECONFLICT, "ended")
		// And the buyer may subscribe again.
		Subscribe(t, st.Subscriptions, buyer.ID, c.ID, "pro")
	})
	t.Run("Pages", func(t *testing.T) {
		for i := range 3 {
			other := NewConsultant(owner.ID, fmt.Sprintf("page-%d", i))
			_, err := st.Consultants.CreateConsultant(ctx, other, lobby.ValidateOptions{})
			must(t, err)
			Subscribe(t, st.Subscriptions, buyer.ID, other.ID, "starter")
		}
		first, next, err := st.Subscriptions.FindSubscriptions(ctx, lobby.SubscriptionFilter{UserID: buyer.ID, Limit: 3})
		must(t, err)
		second, last, err := st.Subscriptions.FindSubscriptions(ctx, lobby.SubscriptionFilter{UserID: buyer.ID, Limit: 3, Cursor: next})
		must(t, err)
		if len(first) != 3 || len(second) != 2 || last != "" || first[0].ID < first[1].ID {
			t.Fatalf("pages of %d and %d (last cursor %q)", len(first), len(second), last)
		}
	})
	// A provider that collects payment renews its subscriptions itself: past its
	// period's end such a subscription stays as it was, usage and all, until then.
	t.Run("ProviderRenews", func(t *testing.T) {
		other := NewConsultant(owner.ID, "collector")
		_, err := st.Consultants.CreateConsultant(ctx, other, lobby.ValidateOptions{})
		must(t, err)
		ch := &lobby.Checkout{UserID: stranger.ID, ConsultantID: other.ID, Plan: lobby.Plan{Tier: "starter"}, Provider: "card"}
		must(t, st.Subscriptions.CreateCheckout(ctx, ch))
		must(t, st.Subscriptions.CompleteCheckout(ctx, ch.ID, ""))
		res, err := st.Subscriptions.FindCheckout(ctx, stranger.ID, ch.ID)
		must(t, err)
		_, err = st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: res.Subscription.ID, Content: "one"})
		must(t, err)
		clock.Add(lobby.SubscriptionPeriod + time.Hour)
		got, err := st.Subscriptions.FindSubscription(ctx, stranger.ID, res.Subscription.ID)
		must(t, err)
		if got.Status != lobby.SubscriptionActive || !got.PeriodStart.Equal(res.Subscription.PeriodStart) || got.MessagesUsed != 1 || got.RenewsItself {
			t.Fatalf("past the period of a subscription its provider renews: %+v", got)
		}
	})
}

func testChat(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	_, owner := SignIn(t, st.Auth, "owner@example.com")
	_, buyer := SignIn(t, st.Auth, "buyer@example.com")
	c := NewConsultant(owner.ID, "chatty")
	_, err := st.Consultants.CreateConsultant(ctx, c, lobby.ValidateOptions{})
	must(t, err)
	sub, _ := Subscribe(t, st.Subscriptions, buyer.ID, c.ID, "starter")
	otherSub, _ := Subscribe(t, st.Subscriptions, owner.ID, c.ID, "starter")

	first, err := st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, Content: "Hello?"})
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
	done, err := st.Chat.FinishMessage(ctx, lobby.FinishParams{ID: first.Reply.ID, Content: "Hi.", Status: lobby.MessageComplete, Model: "offline"})
	must(t, err)
	if done.Content != "Hi." || done.Status != lobby.MessageComplete || done.Model != "offline" {
		t.Fatalf("finished = %+v", done)
	}
	// The next message goes to the same conversation by default, and by name.
	second, err := st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, Content: "And?"})
	must(t, err)
	third, err := st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, ConversationID: cnv.ID, Content: "Well?"})
	must(t, err)
	if second.Conversation.ID != cnv.ID || third.Conversation.ID != cnv.ID {
		t.Fatal("one subscription's messages went to two conversations")
	}
	_, err = st.Chat.FinishMessage(ctx, lobby.FinishParams{ID: second.Reply.ID, Status: lobby.MessageFailed, Error: "The model provider is overloaded."})
	must(t, err)

	all, err := st.Chat.FindMessages(ctx, lobby.MessageFilter{ConversationID: cnv.ID})
	must(t, err)
	var got []string
	for _, m := range all {
		got = append(got, m.Role+":"+m.Content+":"+m.Status)
	}
	want := "buyer:Hello?:complete consultant:Hi.:complete buyer:And?:complete consultant::failed buyer:Well?:complete consultant::streaming"
	if strings.Join(got, " ") != want {
		t.Fatalf("messages = %v\nwant %s", got, want)
	}
	after, err := st.Chat.FindMessages(ctx, lobby.MessageFilter{ConversationID: cnv.ID, After: all[3].ID, Limit: 1})
	must(t, err)
	if len(after) != 1 || after[0].ID != all[4].ID {
		t.Fatalf("after %s: %+v", all[3].ID, after)
	}
	recent, err := st.Chat.FindRecentMessages(ctx, lobby.RecentFilter{ConversationID: cnv.ID, UpTo: all[4].ID, Limit: 3})
	must(t, err)
	if len(recent) != 3 || recent[0].ID != all[2].ID || recent[2].ID != all[4].ID {
		t.Fatalf("recent up to %s: %+v", all[4].ID, recent)
	}
	recent, err = st.Chat.FindRecentMessages(ctx, lobby.RecentFilter{ConversationID: cnv.ID, After: all[2].ID, UpTo: all[4].ID, Limit: 3})
	must(t, err)
	if len(recent) != 2 || recent[0].ID != all[3].ID || recent[1].ID != all[4].ID {
		t.Fatalf("recent after %s up to %s: %+v", all[2].ID, all[4].ID, recent)
	}
	if all[3].Error != "The model provider is overloaded." {
		t.Fatalf("failed reply's error = %q", all[3].Error)
	}

	// Another subscription cannot write into this conversation, nor sees it.
	_, err = st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: otherSub.ID, ConversationID: cnv.ID, Content: "Intrude"})
	WantCode(t, err, lobby.ENOTFOUND)
	mine, _, err := st.Chat.FindConversations(ctx, lobby.ConversationFilter{SubscriptionID: otherSub.ID})
	must(t, err)
	if len(mine) != 0 {
		t.Fatalf("other subscription lists %+v", mine)
	}
	theirs, _, err := st.Chat.FindConversations(ctx, lobby.ConversationFilter{ConsultantID: c.ID})
	must(t, err)
	if len(theirs) != 1 || theirs[0].ID != cnv.ID {
		t.Fatalf("consultant's conversations = %+v", theirs)
	}
	for _, bad := range []string{"", "   ", "\xff\xfe", "a\x00b", strings.Repeat("x", lobby.MaxMessageLen+1)} {
		_, err := st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, Content: bad})
		if code := lobby.ErrorCode(err); code != lobby.EINVALID && code != lobby.ETOOLARGE {
			t.Errorf("content %.10q: %v", bad, err)
		}
	}
	_, err = st.Chat.FinishMessage(ctx, lobby.FinishParams{ID: "msg_nope", Content: "x", Status: lobby.MessageComplete})
	WantCode(t, err, lobby.ENOTFOUND)

	// A reply ends once: finishing it again changes nothing and says so.
	_, err = st.Chat.FinishMessage(ctx, lobby.FinishParams{ID: first.Reply.ID, Content: "Twice", Status: lobby.MessageComplete})
	WantCode(t, err, lobby.ECONFLICT)
	if m, _ := st.Chat.FindMessageByID(ctx, first.Reply.ID); m.Content != "Hi." {
		t.Fatalf("a reply finished twice: %+v", m)
	}
	// The failed reply gave its message back: two of three count.
	if got, _ := st.Subscriptions.FindSubscription(ctx, buyer.ID, sub.ID); got.MessagesUsed != 2 {
		t.Fatalf("messages_used = %d after one of three replies failed; want 2", got.MessagesUsed)
	}
	// A reply whose process died starts over, empty; one that ended cannot.
	restarted, err := st.Chat.RestartMessage(ctx, third.Reply.ID)
	must(t, err)
	if restarted.Status != lobby.MessageStreaming || restarted.Content != "" {
		t.Fatalf("restarted = %+v", restarted)
	}
	_, err = st.Chat.RestartMessage(ctx, first.Reply.ID)
	WantCode(t, err, lobby.ECONFLICT)
	_, err = st.Chat.RestartMessage(ctx, "msg_nope")
	WantCode(t, err, lobby.ENOTFOUND)
}

// cappedSubscription lists a consultant slug whose one plan caps a period at cap
// messages, and subscribes its owner to it through the local flow.
func cappedSubscription(t *testing.T, st *Store, slug string, cap int64) *lobby.Subscription {
	t.Helper()
	_, owner := SignIn(t, st.Auth, "owner@example.com")
	c := NewConsultant(owner.ID, slug)
	c.Plans = []lobby.Plan{{Tier: "capped", PriceCents: 100, MessageCap: &cap}}
	_, err := st.Consultants.CreateConsultant(context.Background(), c, lobby.ValidateOptions{})
	must(t, err)
	sub, _ := Subscribe(t, st.Subscriptions, owner.ID, c.ID, "capped")
	return sub
}

// testChatCap: 30 messages sent at once against a cap of 10 store exactly 10; the rest
// are refused with the time left in the period, and nothing of them is stored.
func testChatCap(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	clock := st.Clock
	sub := cappedSubscription(t, st, "capped", 10)

	var ok, refused atomic.Int32
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, Content: fmt.Sprintf("message %d", i)})
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
	cnvs, _, err := st.Chat.FindConversations(ctx, lobby.ConversationFilter{SubscriptionID: sub.ID})
	must(t, err)
	msgs, err := st.Chat.FindMessages(ctx, lobby.MessageFilter{ConversationID: cnvs[0].ID, Limit: 100})
	must(t, err)
	if ok.Load() != 10 || refused.Load() != 20 || len(msgs) != 20 || len(cnvs) != 1 {
		t.Fatalf("%d sent, %d refused, %d messages stored in %d conversations; want 10, 20, 20 (10 and their replies), 1",
			ok.Load(), refused.Load(), len(msgs), len(cnvs))
	}
	got, err := st.Subscriptions.FindSubscription(ctx, sub.UserID, sub.ID)
	must(t, err)
	if got.MessagesUsed != 10 {
		t.Fatalf("messages_used = %d", got.MessagesUsed)
	}
	// A new period has a new allowance.
	clock.Add(lobby.SubscriptionPeriod)
	_, err = st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, Content: "new month"})
	must(t, err)
	got, _ = st.Subscriptions.FindSubscription(ctx, sub.UserID, sub.ID)
	if got.MessagesUsed != 1 {
		t.Fatalf("messages_used in the new period = %d", got.MessagesUsed)
	}
	// A reply of the last period that fails now gives nothing back to this one.
	last, err := st.Chat.FindMessages(ctx, lobby.MessageFilter{ConversationID: cnvs[0].ID, Limit: 2})
	must(t, err)
	_, err = st.Chat.FinishMessage(ctx, lobby.FinishParams{ID: last[1].ID, Status: lobby.MessageFailed, Error: "gone"})
	must(t, err)
	if got, _ = st.Subscriptions.FindSubscription(ctx, sub.UserID, sub.ID); got.MessagesUsed != 1 {
		t.Fatalf("messages_used = %d after a reply of the last period failed; want 1", got.MessagesUsed)
	}
}

func testOpenConversation(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	_, owner := SignIn(t, st.Auth, "owner@example.com")
	_, buyer := SignIn(t, st.Auth, "buyer@example.com")
	c := NewConsultant(owner.ID, "opener")
	_, err := st.Consultants.CreateConsultant(ctx, c, lobby.ValidateOptions{})
	must(t, err)
	sub, _ := Subscribe(t, st.Subscriptions, buyer.ID, c.ID, "starter")
	otherSub, _ := Subscribe(t, st.Subscriptions, owner.ID, c.ID, "starter")

	t.Run("DefaultMadeOnFirstUse", func(t *testing.T) {
		cnv, err := st.Chat.OpenConversation(ctx, sub.ID, "")
		must(t, err)
		if !strings.HasPrefix(cnv.ID, lobby.PrefixConversation) || cnv.SubscriptionID != sub.ID || cnv.ConsultantID != c.ID ||
			!strings.HasPrefix(cnv.BuyerID, "byr_") {
			t.Fatalf("conversation = %+v", cnv)
		}
		again, err := st.Chat.OpenConversation(ctx, sub.ID, "")
		must(t, err)
		named, err := st.Chat.OpenConversation(ctx, sub.ID, cnv.ID)
		must(t, err)
		ex, err := st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, Content: "Hello?"})
		must(t, err)
		if again.ID != cnv.ID || named.ID != cnv.ID || ex.Conversation.ID != cnv.ID {
			t.Fatalf("opened %s, then %s and %s; the message went to %s", cnv.ID, again.ID, named.ID, ex.Conversation.ID)
		}
	})
	t.Run("ErrOtherSubscriptions", func(t *testing.T) {
		cnv, err := st.Chat.OpenConversation(ctx, sub.ID, "")
		must(t, err)
		_, err = st.Chat.OpenConversation(ctx, otherSub.ID, cnv.ID)
		WantCode(t, err, lobby.ENOTFOUND, "no conversation")
		_, err = st.Chat.OpenConversation(ctx, sub.ID, "cnv_unknown")
		WantCode(t, err, lobby.ENOTFOUND, "no conversation")
	})
	t.Run("ErrUnknownSubscription", func(t *testing.T) {
		_, err := st.Chat.OpenConversation(ctx, "sub_unknown", "")
		WantCode(t, err, lobby.ENOTFOUND, "no subscription")
	})
	t.Run("ConcurrentOpensShareOne", func(t *testing.T) {
		_, fresh := SignIn(t, st.Auth, "fresh@example.com")
		s, _ := Subscribe(t, st.Subscriptions, fresh.ID, c.ID, "starter")
		ids := make([]string, 8)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				cnv, err := st.Chat.OpenConversation(ctx, s.ID, "")
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
