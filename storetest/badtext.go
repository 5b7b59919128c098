package storetest

import (
	"context"
	"encoding/base64"
	"strconv"
	"testing"

	"github.com/lobby-dev/lobby"
)

// badTexts are strings PostgreSQL refuses as text: a NUL, and bytes that are not UTF-8.
var badTexts = []string{"\x00", "a\x00b", "\xff", "caf\xc3"}

// testBadText calls every lookup that takes a string from outside (a path value, a
// query parameter, a cursor, a token) with each of badTexts. The HTTP edge refuses
// them first; behind it, the store must still answer with a lobby error a client can
// be shown (nothing found, or bad input) and never an internal one.
func testBadText(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	c, sub, ex := agentExchange(t, st, "plain-text", lobby.ModeWebhook)
	wantClean := func(t *testing.T, what string, err error) {
		t.Helper()
		if code := lobby.ErrorCode(err); code != lobby.ENOTFOUND && code != lobby.EINVALID && code != lobby.EUNAUTHORIZED && code != "" {
			t.Errorf("%s: %v (code %s), want not_found, invalid, unauthorized or nothing", what, err, code)
		}
	}
	for _, bad := range badTexts {
		cursor := base64.RawURLEncoding.EncodeToString([]byte("k" + bad))
		calls := map[string]func() error{
			"FindConsultantBySlug":  func() error { _, err := st.Consultants.FindConsultantBySlug(ctx, bad); return err },
			"FindConsultantByID":    func() error { _, err := st.Consultants.FindConsultantByID(ctx, bad); return err },
			"FindConsultantForWork": func() error { _, err := st.Consultants.FindConsultantForWork(ctx, bad); return err },
			"FindConsultants category": func() error {
				_, _, err := st.Consultants.FindConsultants(ctx, lobby.ConsultantFilter{Category: bad})
				return err
			},
			"FindConsultants query": func() error {
				_, _, err := st.Consultants.FindConsultants(ctx, lobby.ConsultantFilter{Query: bad})
				return err
			},
			"FindConsultants cursor": func() error {
				_, _, err := st.Consultants.FindConsultants(ctx, lobby.ConsultantFilter{Cursor: cursor})
				return err
			},
			"Authenticate": func() error { _, err := st.Auth.Authenticate(ctx, "cl_buyer_"+bad); return err },
			"FindUserByID": func() error { _, err := st.Auth.FindUserByID(ctx, bad); return err },
			"OpenConversation": func() error {
				_, err := st.Chat.OpenConversation(ctx, sub.ID, bad)
				return err
			},
			"FindConversationByID": func() error { _, err := st.Chat.FindConversationByID(ctx, bad); return err },
			"FindConversations cursor": func() error {
				_, _, err := st.Chat.FindConversations(ctx, lobby.ConversationFilter{SubscriptionID: sub.ID, Cursor: cursor})
				return err
			},
			"FindMessages after": func() error {
				_, err := st.Chat.FindMessages(ctx, lobby.MessageFilter{ConversationID: ex.Conversation.ID, After: bad})
				return err
			},
			"FindMessageByID":  func() error { _, err := st.Chat.FindMessageByID(ctx, bad); return err },
			"FindDeliveryByID": func() error { _, err := st.Deliveries.FindDeliveryByID(ctx, bad); return err },
			"FindDeliveries cursor": func() error {
				_, _, err := st.Deliveries.FindDeliveries(ctx, lobby.DeliveryFilter{ConsultantID: c.ID, Cursor: cursor})
				return err
			},
			"FindDocumentByID": func() error { _, err := st.Knowledge.FindDocumentByID(ctx, c.ID, bad); return err },
			"FindDocuments cursor": func() error {
				_, _, err := st.Knowledge.FindDocuments(ctx, lobby.DocumentFilter{ConsultantID: c.ID, Cursor: cursor})
				return err
			},
			"SearchText": func() error { _, err := st.Knowledge.SearchText(ctx, c.ID, "hello "+bad, 5); return err },
			"FindSubscription": func() error {
				_, err := st.Subscriptions.FindSubscription(ctx, sub.UserID, bad)
				return err
			},
			"FindCheckout": func() error { _, err := st.Subscriptions.FindCheckout(ctx, sub.UserID, bad); return err },
		}
		for name, call := range calls {
			wantClean(t, name+" of "+strconv.Quote(bad), call())
		}
	}
}
