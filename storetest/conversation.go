package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lobby-dev/lobby"
)

// chatPair makes a managed consultant with one subscriber and returns the subscription.
func chatPair(t *testing.T, st *Store, slug string) (*lobby.Consultant, *lobby.Subscription) {
	t.Helper()
	_, owner := SignIn(t, st.Auth, "owner-"+slug+"@example.com")
	c := NewConsultant(owner.ID, slug)
	_, err := st.Consultants.CreateConsultant(context.Background(), c, lobby.ValidateOptions{})
	must(t, err)
	_, buyer := SignIn(t, st.Auth, "buyer-"+slug+"@example.com")
	sub, _ := Subscribe(t, st.Subscriptions, buyer.ID, c.ID, "starter")
	return c, sub
}

// Thread stores n messages in the conversation at once, buyer and consultant turns in
// turn, the ith saying text(i), for tests of long threads; it returns their IDs,
// oldest first. Each pair is an exchange whose reply is finished, counted against the
// subscription's cap like any other.
func Thread(t testing.TB, chat lobby.ChatService, subscriptionID, conversationID string, n int, text func(i int) string) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for i := 0; i < n; i += 2 {
		ex, err := chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: subscriptionID, ConversationID: conversationID, Content: text(i)})
		must(t, err)
		ids = append(ids, ex.Message.ID)
		if i+1 < n {
			_, err = chat.FinishMessage(ctx, lobby.FinishParams{ID: ex.Reply.ID, Content: text(i + 1), Status: lobby.MessageComplete, Model: "offline"})
			must(t, err)
			ids = append(ids, ex.Reply.ID)
		}
	}
	return ids
}

func testConversations(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	_, sub := chatPair(t, st, "many")
	_, other := chatPair(t, st, "others")

	t.Run("OwnMemoryDefaultStaysFirst", func(t *testing.T) {
		first, err := st.Chat.OpenConversation(ctx, sub.ID, "")
		must(t, err)
		second, err := st.Chat.CreateConversation(ctx, sub.ID)
		must(t, err)
		if second.ID == first.ID || second.SubscriptionID != sub.ID || second.BuyerID != first.BuyerID || second.Summary != nil {
			t.Fatalf("created %+v beside %+v", second, first)
		}
		ex, err := st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, ConversationID: second.ID, Content: "In the second"})
		must(t, err)
		def, err := st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, Content: "In the default"})
		must(t, err)
		if ex.Conversation.ID != second.ID || def.Conversation.ID != first.ID {
			t.Fatalf("messages went to %s and %s; want %s and the default %s", ex.Conversation.ID, def.Conversation.ID, second.ID, first.ID)
		}
		ms, err := st.Chat.FindMessages(ctx, lobby.MessageFilter{ConversationID: second.ID})
		must(t, err)
		if len(ms) != 2 || ms[0].Content != "In the second" {
			t.Fatalf("second conversation's messages = %+v", ms)
		}
		// Both count against the one subscription.
		got, err := st.Subscriptions.FindSubscription(ctx, sub.UserID, sub.ID)
		must(t, err)
		if got.MessagesUsed != 2 {
			t.Fatalf("messages_used = %d, want 2", got.MessagesUsed)
		}
	})
	t.Run("ErrUnknownSubscription", func(t *testing.T) {
		_, err := st.Chat.CreateConversation(ctx, "sub_unknown")
		WantCode(t, err, lobby.ENOTFOUND, "no subscription")
	})
	t.Run("ErrTooMany", func(t *testing.T) {
		// Attempts at once past the bound: exactly the bound is made.
		_, s := chatPair(t, st, "bounded")
		var made, refused atomic.Int32
		var wg sync.WaitGroup
		work := make(chan struct{})
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range work {
					_, err := st.Chat.CreateConversation(ctx, s.ID)
					switch lobby.ErrorCode(err) {
					case "":
						made.Add(1)
					case lobby.ECONFLICT:
						if !strings.Contains(lobby.ErrorMessage(err), "delete one") {
							t.Errorf("refusal says %q", lobby.ErrorMessage(err))
						}
						refused.Add(1)
					default:
						t.Error(err)
					}
				}
			}()
		}
		for range lobby.MaxConversations + 5 {
			work <- struct{}{}
		}
		close(work)
		wg.Wait()
		if made.Load() != lobby.MaxConversations || refused.Load() != 5 {
			t.Fatalf("%d made, %d refused; want %d and 5", made.Load(), refused.Load(), lobby.MaxConversations)
		}
		// Deleting one makes room for one.
		cs, _, err := st.Chat.FindConversations(ctx, lobby.ConversationFilter{SubscriptionID: s.ID, Limit: 1})
		must(t, err)
		must(t, st.Chat.DeleteConversation(ctx, s.ID, cs[0].ID))
		_, err = st.Chat.CreateConversation(ctx, s.ID)
		must(t, err)
		_, err = st.Chat.CreateConversation(ctx, s.ID)
		WantCode(t, err, lobby.ECONFLICT, fmt.Sprint(lobby.MaxConversations))
	})
	t.Run("ErrOtherTenant", func(t *testing.T) {
		mine, err := st.Chat.CreateConversation(ctx, sub.ID)
		must(t, err)
		err = st.Chat.DeleteConversation(ctx, other.ID, mine.ID)
		WantCode(t, err, lobby.ENOTFOUND, "no conversation")
		if _, err := st.Chat.FindConversationByID(ctx, mine.ID); err != nil {
			t.Fatalf("another subscription's delete touched it: %v", err)
		}
		err = st.Chat.DeleteConversation(ctx, sub.ID, "cnv_unknown")
		WantCode(t, err, lobby.ENOTFOUND, "no conversation")
	})
}

func testDeleteConversation(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)

	t.Run("GoneForGoodUsageStays", func(t *testing.T) {
		_, sub := chatPair(t, st, "forgetful")
		kept, err := st.Chat.OpenConversation(ctx, sub.ID, "") // the default, untouched
		must(t, err)
		cnv, err := st.Chat.CreateConversation(ctx, sub.ID)
		must(t, err)
		ids := Thread(t, st.Chat, sub.ID, cnv.ID, 6, func(i int) string { return fmt.Sprintf("turn %d", i) })
		_, err = st.Chat.UpdateSummary(ctx, lobby.SummaryUpdate{ConversationID: cnv.ID, Text: "turns 0 and 1", ThroughMessageID: ids[1]})
		must(t, err)
		before, err := st.Subscriptions.FindSubscription(ctx, sub.UserID, sub.ID)
		must(t, err)

		must(t, st.Chat.DeleteConversation(ctx, sub.ID, cnv.ID))
		_, err = st.Chat.FindConversationByID(ctx, cnv.ID)
		WantCode(t, err, lobby.ENOTFOUND)
		for _, id := range ids {
			_, err := st.Chat.FindMessageByID(ctx, id)
			WantCode(t, err, lobby.ENOTFOUND)
		}
		ms, err := st.Chat.FindMessages(ctx, lobby.MessageFilter{ConversationID: cnv.ID})
		must(t, err)
		if len(ms) != 0 {
			t.Fatalf("messages left: %+v", ms)
		}
		after, err := st.Subscriptions.FindSubscription(ctx, sub.UserID, sub.ID)
		must(t, err)
		if after.MessagesUsed != before.MessagesUsed || after.Status != before.Status {
			t.Fatalf("subscription went from %+v to %+v", before, after)
		}
		if _, err := st.Chat.FindConversationByID(ctx, kept.ID); err != nil {
			t.Fatalf("the other conversation went too: %v", err)
		}
		// Writes that come late find nothing and make nothing.
		_, err = st.Chat.FinishMessage(ctx, lobby.FinishParams{ID: ids[5], Content: "late", Status: lobby.MessageComplete})
		WantCode(t, err, lobby.ENOTFOUND)
		_, err = st.Chat.UpdateSummary(ctx, lobby.SummaryUpdate{ConversationID: cnv.ID, Previous: ids[1], Text: "late", ThroughMessageID: ids[3]})
		WantCode(t, err, lobby.ENOTFOUND)
		_, err = st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, ConversationID: cnv.ID, Content: "still there?"})
		WantCode(t, err, lobby.ENOTFOUND)
	})
	t.Run("Deliveries", func(t *testing.T) {
		// A webhook consultant's delivery, attempted once, goes with its conversation.
		_, sub, ex := agentExchange(t, st, "hook-deleted", lobby.ModeWebhook)
		_, err := st.Deliveries.RecordAttempt(ctx, lobby.AttemptResult{DeliveryID: ex.Delivery.ID, Payload: "{}",
			Attempt: lobby.Attempt{At: st.Clock.Now(), StatusCode: 503, Error: "503"}, RetryAt: st.Clock.Now().Add(5e9)})
		must(t, err)
		must(t, st.Chat.DeleteConversation(ctx, sub.ID, ex.Conversation.ID))
		_, err = st.Deliveries.FindDeliveryByID(ctx, ex.Delivery.ID)
		WantCode(t, err, lobby.ENOTFOUND)
		// Its job's next attempt finds nothing to record, and resurrects nothing.
		_, err = st.Deliveries.RecordAttempt(ctx, lobby.AttemptResult{DeliveryID: ex.Delivery.ID, Attempt: lobby.Attempt{At: st.Clock.Now(), StatusCode: 200},
			Delivered: true, Reply: "too late"})
		WantCode(t, err, lobby.ENOTFOUND)
		if _, err := st.Chat.FindMessageByID(ctx, ex.Reply.ID); lobby.ErrorCode(err) != lobby.ENOTFOUND {
			t.Fatalf("reply after delete: %v", err)
		}
		// A polling consultant's inbox no longer holds the event, leased or not.
		pc, psub, pex := agentExchange(t, st, "poll-deleted", lobby.ModePolling)
		leased, err := st.Deliveries.LeaseInbox(ctx, pc.ID, 10, lobby.InboxLease)
		must(t, err)
		if len(leased) != 1 {
			t.Fatalf("leased %d events, want 1", len(leased))
		}
		_, err = st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: psub.ID, ConversationID: pex.Conversation.ID, Content: "again"})
		must(t, err)
		must(t, st.Chat.DeleteConversation(ctx, psub.ID, pex.Conversation.ID))
		st.Clock.Add(2 * lobby.InboxLease)
		again, err := st.Deliveries.LeaseInbox(ctx, pc.ID, 10, lobby.InboxLease)
		must(t, err)
		if len(again) != 0 {
			t.Fatalf("inbox after delete: %+v", again)
		}
		_, err = st.Deliveries.AckDelivery(ctx, pc.ID, leased[0].EventID)
		WantCode(t, err, lobby.ENOTFOUND)
		_, err = st.Deliveries.SetPayload(ctx, leased[0].ID, "{}")
		WantCode(t, err, lobby.ENOTFOUND)
	})
}

func testSummary(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	_, sub := chatPair(t, st, "remembers")
	cnv, err := st.Chat.OpenConversation(ctx, sub.ID, "")
	must(t, err)
	ids := Thread(t, st.Chat, sub.ID, cnv.ID, 8, func(i int) string { return fmt.Sprintf("turn %d", i) })
	_, other := chatPair(t, st, "elsewhere")
	otherCnv, err := st.Chat.OpenConversation(ctx, other.ID, "")
	must(t, err)

	t.Run("NoneAtFirst", func(t *testing.T) {
		got, err := st.Chat.FindConversationByID(ctx, cnv.ID)
		must(t, err)
		if got.Summary != nil || got.SummaryThrough() != "" {
			t.Fatalf("summary of a new conversation = %+v", got.Summary)
		}
	})
	t.Run("CompareAndSet", func(t *testing.T) {
		c, err := st.Chat.UpdateSummary(ctx, lobby.SummaryUpdate{ConversationID: cnv.ID, Text: "Turns 0 to 3.", ThroughMessageID: ids[3]})
		must(t, err)
		if c.Summary == nil || c.Summary.Text != "Turns 0 to 3." || c.Summary.ThroughMessageID != ids[3] || !c.Summary.UpdatedAt.Equal(st.Clock.Now()) {
			t.Fatalf("summary = %+v", c.Summary)
		}
		// A second fold made from the same previous summary comes too late.
		_, err = st.Chat.UpdateSummary(ctx, lobby.SummaryUpdate{ConversationID: cnv.ID, Text: "Turns 0 to 5.", ThroughMessageID: ids[5]})
		WantCode(t, err, lobby.ECONFLICT, "another fold came first")
		c, err = st.Chat.UpdateSummary(ctx, lobby.SummaryUpdate{ConversationID: cnv.ID, Previous: ids[3], Text: "Turns 0 to 5.", ThroughMessageID: ids[5]})
		must(t, err)
		got, err := st.Chat.FindConversationByID(ctx, cnv.ID)
		must(t, err)
		if got.Summary == nil || got.Summary.Text != "Turns 0 to 5." || got.Summary.ThroughMessageID != ids[5] {
			t.Fatalf("stored summary = %+v", got.Summary)
		}
	})
	t.Run("ConcurrentFoldsOneWins", func(t *testing.T) {
		var won atomic.Int32
		var wg sync.WaitGroup
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := st.Chat.UpdateSummary(ctx, lobby.SummaryUpdate{ConversationID: cnv.ID, Previous: ids[5], Text: fmt.Sprint("fold ", i), ThroughMessageID: ids[7]})
				switch lobby.ErrorCode(err) {
				case "":
					won.Add(1)
				case lobby.ECONFLICT:
				default:
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if won.Load() != 1 {
			t.Fatalf("%d folds from one summary applied; want 1", won.Load())
		}
	})
	t.Run("ErrInvalid", func(t *testing.T) {
		_, err := st.Chat.UpdateSummary(ctx, lobby.SummaryUpdate{ConversationID: cnv.ID, Previous: ids[7], Text: "backwards", ThroughMessageID: ids[2]})
		WantCode(t, err, lobby.EINVALID)
		// A message of another conversation is no part of this one's summary.
		foreign := Thread(t, st.Chat, other.ID, otherCnv.ID, 2, func(int) string { return "x" })
		_, err = st.Chat.UpdateSummary(ctx, lobby.SummaryUpdate{ConversationID: cnv.ID, Previous: ids[7], Text: "theirs", ThroughMessageID: foreign[1]})
		WantCode(t, err, lobby.EINVALID, "no message")
		_, err = st.Chat.UpdateSummary(ctx, lobby.SummaryUpdate{ConversationID: cnv.ID, Previous: ids[7], Text: strings.Repeat("x", lobby.MaxSummaryLen+1), ThroughMessageID: "msg_zzz"})
		WantCode(t, err, lobby.ETOOLARGE)
		_, err = st.Chat.UpdateSummary(ctx, lobby.SummaryUpdate{ConversationID: "cnv_unknown", Text: "x", ThroughMessageID: ids[1]})
		WantCode(t, err, lobby.ENOTFOUND)
	})
}
