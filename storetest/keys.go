package storetest

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lobby-dev/lobby"
)

// testKeys: a rotation makes a new key and stops the others, at once or after the
// overlap; the list shows each key's last use and end, never the key.
func testKeys(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	_, owner := SignIn(t, st.Auth, "owner@example.com")
	c := NewConsultant(owner.ID, "keyed")
	first, err := st.Consultants.CreateConsultant(ctx, c, lobby.ValidateOptions{})
	must(t, err)
	_, err = st.Auth.Authenticate(ctx, first)
	must(t, err)

	t.Run("StopsAtOnce", func(t *testing.T) {
		second, until, err := st.Consultants.RotateKey(ctx, c.ID, 0)
		must(t, err)
		if until != nil {
			t.Fatalf("no overlap, yet the old key works until %v", until)
		}
		_, err = st.Auth.Authenticate(ctx, first)
		WantCode(t, err, lobby.EUNAUTHORIZED)
		p, err := st.Auth.Authenticate(ctx, second)
		must(t, err)
		if p.ConsultantID != c.ID {
			t.Fatalf("the new key is %+v", p)
		}
		first = second
	})
	t.Run("Overlap", func(t *testing.T) {
		third, until, err := st.Consultants.RotateKey(ctx, c.ID, time.Hour)
		must(t, err)
		if until == nil || !until.Equal(st.Clock.Now().Add(time.Hour)) {
			t.Fatalf("the old key works until %v, want an hour from now", until)
		}
		_, err = st.Auth.Authenticate(ctx, first)
		must(t, err) // within the overlap
		_, err = st.Auth.Authenticate(ctx, third)
		must(t, err)
		st.Clock.Add(time.Hour)
		_, err = st.Auth.Authenticate(ctx, first)
		WantCode(t, err, lobby.EUNAUTHORIZED)
		_, err = st.Auth.Authenticate(ctx, third)
		must(t, err)
	})
	t.Run("ErrOverlapTooLong", func(t *testing.T) {
		_, _, err := st.Consultants.RotateKey(ctx, c.ID, lobby.MaxKeyOverlap+time.Second)
		WantCode(t, err, lobby.EINVALID, "overlap_seconds")
		_, _, err = st.Consultants.RotateKey(ctx, "csl_nobody", 0)
		WantCode(t, err, lobby.ENOTFOUND)
	})
	t.Run("List", func(t *testing.T) {
		keys, err := st.Consultants.FindKeys(ctx, c.ID)
		must(t, err)
		if len(keys) != 3 || keys[0].RevokedAt != nil || keys[1].RevokedAt == nil || keys[2].RevokedAt == nil {
			t.Fatalf("keys = %+v: want the newest working and two stopped", keys)
		}
		if keys[0].LastUsedAt == nil || keys[2].LastUsedAt == nil {
			t.Fatalf("keys used are not marked used: %+v", keys)
		}
		other := NewConsultant(owner.ID, "unkeyed")
		_, err = st.Consultants.CreateConsultant(ctx, other, lobby.ValidateOptions{})
		must(t, err)
		keys, err = st.Consultants.FindKeys(ctx, other.ID)
		must(t, err)
		if len(keys) != 1 || keys[0].LastUsedAt != nil {
			t.Fatalf("another consultant's keys: %+v", keys)
		}
	})
}

// testArchive: an archived consultant leaves the catalog and takes no new
// subscribers; its subscribers are served to the end of their periods.
func testArchive(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	_, owner := SignIn(t, st.Auth, "owner@example.com")
	_, buyer := SignIn(t, st.Auth, "buyer@example.com")
	_, late := SignIn(t, st.Auth, "late@example.com")
	c := NewConsultant(owner.ID, "retiring")
	_, err := st.Consultants.CreateConsultant(ctx, c, lobby.ValidateOptions{})
	must(t, err)
	sub, token := Subscribe(t, st.Subscriptions, buyer.ID, c.ID, "starter")
	pending := &lobby.Checkout{UserID: late.ID, ConsultantID: c.ID, Plan: lobby.Plan{Tier: "pro"}, Provider: "local", RenewsItself: true}
	must(t, st.Subscriptions.CreateCheckout(ctx, pending))

	got, err := st.Consultants.ArchiveConsultant(ctx, c.ID)
	must(t, err)
	if !got.Archived() {
		t.Fatalf("archived: %+v", got)
	}
	again, err := st.Consultants.ArchiveConsultant(ctx, c.ID)
	must(t, err)
	if !again.ArchivedAt.Equal(*got.ArchivedAt) {
		t.Fatalf("archiving again moved the time from %v to %v", got.ArchivedAt, again.ArchivedAt)
	}
	cs, _, err := st.Consultants.FindConsultants(ctx, lobby.ConsultantFilter{})
	must(t, err)
	found, _, err := st.Consultants.FindConsultants(ctx, lobby.ConsultantFilter{Query: "retiring"})
	must(t, err)
	if len(cs) != 0 || len(found) != 0 {
		t.Fatalf("the catalog lists an archived consultant: %d, %d", len(cs), len(found))
	}
	mine, _, err := st.Consultants.FindConsultants(ctx, lobby.ConsultantFilter{OwnerID: owner.ID})
	must(t, err)
	if len(mine) != 1 || !mine[0].Archived() {
		t.Fatalf("the owner's list: %+v", mine)
	}
	byslug, err := st.Consultants.FindConsultantBySlug(ctx, "retiring")
	must(t, err)
	if !byslug.Archived() {
		t.Fatal("FindConsultantBySlug lost the archive")
	}

	err = st.Subscriptions.CreateCheckout(ctx, &lobby.Checkout{UserID: late.ID, ConsultantID: c.ID, Plan: lobby.Plan{Tier: "pro"}, Provider: "local"})
	WantCode(t, err, lobby.ECONFLICT, "archived")
	WantCode(t, st.Subscriptions.CompleteCheckout(ctx, pending.ID, late.ID), lobby.ECONFLICT, "archived")
	// A payment the provider took before the archive is served one period, no more.
	must(t, st.Subscriptions.CompleteCheckout(ctx, pending.ID, ""))
	res, err := st.Subscriptions.FindCheckout(ctx, late.ID, pending.ID)
	must(t, err)
	if res.Subscription == nil || !res.Subscription.CancelAtPeriodEnd {
		t.Fatalf("paid after the archive: %+v", res.Subscription)
	}
	// The subscriber is served to the period's end, and no longer.
	_, err = st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, Content: "still here?"})
	must(t, err)
	s, err := st.Subscriptions.FindSubscription(ctx, buyer.ID, sub.ID)
	must(t, err)
	if !s.CancelAtPeriodEnd || s.Status != lobby.SubscriptionActive {
		t.Fatalf("subscription after the archive: %+v", s)
	}
	st.Clock.Add(lobby.SubscriptionPeriod)
	_, err = st.Auth.Authenticate(ctx, token)
	WantCode(t, err, lobby.EUNAUTHORIZED)
}

// testLimits: what one user may make is bounded, each refusal naming the bound, and
// two makers at once count each other.
func testLimits(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	_, owner := SignIn(t, st.Auth, "prolific@example.com")
	t.Run("ErrConsultantsPerUser", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make([]error, lobby.MaxConsultantsPerUser+5)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = st.Consultants.CreateConsultant(ctx, NewConsultant(owner.ID, fmt.Sprintf("many-%d", i)), lobby.ValidateOptions{})
			}()
		}
		wg.Wait()
		made := 0
		for _, err := range errs {
			if err == nil {
				made++
			} else {
				WantCode(t, err, lobby.ECONFLICT, strconv.Itoa(lobby.MaxConsultantsPerUser))
			}
		}
		if made != lobby.MaxConsultantsPerUser {
			t.Fatalf("%d consultants made, want %d", made, lobby.MaxConsultantsPerUser)
		}
	})
	t.Run("ErrOpenCheckouts", func(t *testing.T) {
		_, buyer := SignIn(t, st.Auth, "shopper@example.com")
		cs, _, err := st.Consultants.FindConsultants(ctx, lobby.ConsultantFilter{OwnerID: owner.ID, Limit: 100})
		must(t, err)
		for _, c := range cs[:lobby.MaxOpenCheckouts] {
			must(t, st.Subscriptions.CreateCheckout(ctx, &lobby.Checkout{UserID: buyer.ID, ConsultantID: c.ID, Plan: lobby.Plan{Tier: "pro"}, Provider: "local"}))
		}
		err = st.Subscriptions.CreateCheckout(ctx, &lobby.Checkout{UserID: buyer.ID, ConsultantID: cs[lobby.MaxOpenCheckouts].ID, Plan: lobby.Plan{Tier: "pro"}, Provider: "local"})
		WantCode(t, err, lobby.ECONFLICT, "checkouts open")
		st.Clock.Add(lobby.CheckoutTTL)
		must(t, st.Subscriptions.CreateCheckout(ctx, &lobby.Checkout{UserID: buyer.ID, ConsultantID: cs[lobby.MaxOpenCheckouts].ID, Plan: lobby.Plan{Tier: "pro"}, Provider: "local"}))
	})
	t.Run("ErrRetriesPerDelivery", func(t *testing.T) {
		_, _, ex := agentExchange(t, st, "resent", lobby.ModePolling)
		for range lobby.MaxDeliveryRounds {
			_, err := st.Deliveries.RetryDelivery(ctx, ex.Delivery.ID)
			must(t, err)
		}
		_, err := st.Deliveries.RetryDelivery(ctx, ex.Delivery.ID)
		WantCode(t, err, lobby.ECONFLICT, "sent again")
	})
}
