package storetest

import (
	"context"
	"strings"
	"testing"

	"github.com/lobby-dev/lobby"
)

// testPageTokens: a page's token acts as the buyer of its user's subscription, only
// that user's, until it expires, its session ends or the subscription ends.
func testPageTokens(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	session, buyer := SignIn(t, st.Auth, "buyer@example.com")
	other, _ := SignIn(t, st.Auth, "other@example.com")
	_, owner := SignIn(t, st.Auth, "owner@example.com")
	c := NewConsultant(owner.ID, "paged")
	_, err := st.Consultants.CreateConsultant(ctx, c, lobby.ValidateOptions{})
	must(t, err)
	sub, _ := Subscribe(t, st.Subscriptions, buyer.ID, c.ID, "starter")
	sessionOf := func(token string) string {
		p, err := st.Auth.Authenticate(ctx, token)
		must(t, err)
		return p.SessionID
	}

	token, err := st.Auth.CreatePageToken(ctx, sessionOf(session), sub.ID)
	must(t, err)
	if !strings.HasPrefix(token, lobby.TokenPage) {
		t.Fatalf("page token %q", token)
	}
	p, err := st.Auth.Authenticate(ctx, token)
	must(t, err)
	if p.Kind != lobby.CallerBuyer || p.SubscriptionID != sub.ID || p.UserID != buyer.ID || p.ConsultantID != c.ID || p.Credential == "" {
		t.Fatalf("page token's principal %+v", p)
	}
	held, err := st.Subscriptions.FindHeldSubscription(ctx, buyer.ID, c.ID)
	must(t, err)
	if held.ID != sub.ID {
		t.Fatalf("held subscription %s, want %s", held.ID, sub.ID)
	}
	_, err = st.Subscriptions.FindHeldSubscription(ctx, owner.ID, c.ID)
	WantCode(t, err, lobby.ENOTFOUND)

	// Another user's session cannot act for this subscription.
	_, err = st.Auth.CreatePageToken(ctx, sessionOf(other), sub.ID)
	WantCode(t, err, lobby.ENOTFOUND)
	_, err = st.Auth.CreatePageToken(ctx, sessionOf(session), "sub_nope")
	WantCode(t, err, lobby.ENOTFOUND)
	_, err = st.Auth.Authenticate(ctx, token+"x")
	WantCode(t, err, lobby.EUNAUTHORIZED)

	// It expires.
	st.Clock.Add(lobby.PageTokenTTL)
	_, err = st.Auth.Authenticate(ctx, token)
	WantCode(t, err, lobby.EUNAUTHORIZED)

	// It ends with its session.
	session, _ = SignIn(t, st.Auth, "buyer@example.com")
	id := sessionOf(session)
	token, err = st.Auth.CreatePageToken(ctx, id, sub.ID)
	must(t, err)
	must(t, st.Auth.RevokeSession(ctx, id))
	_, err = st.Auth.Authenticate(ctx, token)
	WantCode(t, err, lobby.EUNAUTHORIZED)

	// And with its subscription.
	session, _ = SignIn(t, st.Auth, "buyer@example.com")
	token, err = st.Auth.CreatePageToken(ctx, sessionOf(session), sub.ID)
	must(t, err)
	_, err = st.Subscriptions.CancelSubscription(ctx, buyer.ID, sub.ID)
	must(t, err)
	st.Clock.Add(lobby.SubscriptionPeriod)
	_, err = st.Auth.Authenticate(ctx, token)
	WantCode(t, err, lobby.EUNAUTHORIZED)
	_, err = st.Subscriptions.FindHeldSubscription(ctx, buyer.ID, c.ID)
	WantCode(t, err, lobby.ENOTFOUND)
}
