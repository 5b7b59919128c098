package storetest

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lobby-dev/lobby"
)

// subscribe follows topic on the store's events until t ends.
func subscribe(t *testing.T, st *Store, topic string) lobby.Feed {
	feed := st.Events.Subscribe(context.Background(), topic, nil)
	t.Cleanup(feed.Cancel)
	return feed
}

// wantEvents fails t unless feed holds just the events want names, as "type id", in
// order. A write has published its events by the time it returns, so nothing is
// waited for.
func wantEvents(t *testing.T, feed lobby.Feed, want ...string) {
	t.Helper()
	events, live := feed.Take()
	if !live {
		t.Fatalf("the subscription was dropped")
	}
	got := []string{}
	for _, e := range events {
		got = append(got, strings.TrimSpace(e.Type+" "+e.ID))
	}
	if want == nil {
		want = []string{}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("published %q, want %q", got, want)
	}
}

func delta(m *lobby.Message, n int) string { return m.ID + ":" + strconv.Itoa(n) }

// testEvents: each write publishes what it changed once it has committed, and a write
// that fails publishes nothing.
func testEvents(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	_, owner := SignIn(t, st.Auth, "owner@example.com")
	_, buyer := SignIn(t, st.Auth, "buyer@example.com")
	consultant := func(slug string, mode lobby.Mode, plans ...lobby.Plan) (*lobby.Consultant, *lobby.Subscription) {
		c := NewConsultant(owner.ID, slug)
		c.Mode, c.Plans = mode, plans
		if mode == lobby.ModeWebhook {
			c.WebhookURL = "https://agent.example.com/" + slug
		}
		_, err := st.Consultants.CreateConsultant(ctx, c, lobby.ValidateOptions{})
		must(t, err)
		tier := "pro"
		if len(plans) > 0 {
			tier = plans[0].Tier
		}
		sub, _ := Subscribe(t, st.Subscriptions, buyer.ID, c.ID, tier)
		return c, sub
	}
	// send follows the subscription's conversation, then stores a message in it: the
	// follower sees every event of the exchange.
	send := func(t *testing.T, sub *lobby.Subscription) (*lobby.Exchange, lobby.Feed) {
		t.Helper()
		cnv, err := st.Chat.OpenConversation(ctx, sub.ID, "")
		must(t, err)
		feed := subscribe(t, st, lobby.ConversationTopic(cnv.ID))
		ex, err := st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, ConversationID: cnv.ID, Content: "hello"})
		must(t, err)
		wantEvents(t, feed, "message.created "+ex.Message.ID, "message.created "+ex.Reply.ID)
		return ex, feed
	}

	_, managed := consultant("managed", lobby.ModeManaged)
	t.Run("FinishMessage", func(t *testing.T) {
		ex, ch := send(t, managed)
		_, err := st.Chat.FinishMessage(ctx, lobby.FinishParams{ID: ex.Reply.ID, Content: "Hi.", Status: lobby.MessageComplete, Model: "offline"})
		must(t, err)
		wantEvents(t, ch, "message.completed "+ex.Reply.ID)
		ex, ch = send(t, managed)
		_, err = st.Chat.FinishMessage(ctx, lobby.FinishParams{ID: ex.Reply.ID, Status: lobby.MessageFailed, Error: "overloaded"})
		must(t, err)
		wantEvents(t, ch, "message.failed "+ex.Reply.ID)
	})
	t.Run("RestartMessage", func(t *testing.T) {
		ex, ch := send(t, managed)
		_, err := st.Chat.RestartMessage(ctx, ex.Reply.ID)
		must(t, err)
		wantEvents(t, ch, "message.created "+ex.Reply.ID)
	})
	t.Run("ErrQuotaPublishesNothing", func(t *testing.T) {
		one := int64(1)
		_, capped := consultant("capped", lobby.ModeManaged, lobby.Plan{Tier: "one", PriceCents: 100, MessageCap: &one})
		ex, ch := send(t, capped)
		_, err := st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: capped.ID, ConversationID: ex.Conversation.ID, Content: "again"})
		WantCode(t, err, lobby.EQUOTA)
		wantEvents(t, ch)
	})

	poller, polling := consultant("poller", lobby.ModePolling)
	t.Run("ExchangeNudgesInbox", func(t *testing.T) {
		inbox := subscribe(t, st, lobby.InboxTopic(poller.ID))
		send(t, polling)
		wantEvents(t, inbox, lobby.EventInboxReady)
	})
	t.Run("CreateReply", func(t *testing.T) {
		replier, sub := consultant("replier", lobby.ModePolling) // a conversation of its own: no other reply awaited
		ex, ch := send(t, sub)
		reply := func(content string, partial bool) *lobby.ReplyResult {
			t.Helper()
			res, err := st.Deliveries.CreateReply(ctx, lobby.ReplyParams{ConsultantID: replier.ID, ConversationID: ex.Conversation.ID,
				InReplyTo: ex.Message.ID, Content: content, Partial: partial})
			must(t, err)
			return res
		}
		reply("part, ", true)
		wantEvents(t, ch, "message.delta "+delta(ex.Reply, 6))
		reply("done", false)
		wantEvents(t, ch, "message.delta "+delta(ex.Reply, 10), "message.completed "+ex.Reply.ID)
		reply("part, done", false) // an agent retrying a lost answer
		wantEvents(t, ch, "message.completed "+ex.Reply.ID)
		res, err := st.Deliveries.CreateReply(ctx, lobby.ReplyParams{ConsultantID: replier.ID, ConversationID: ex.Conversation.ID, Content: "also"})
		must(t, err)
		m := res.Message
		wantEvents(t, ch, "message.created "+m.ID, "message.delta "+delta(m, 4), "message.completed "+m.ID)
	})
	t.Run("ErrRolledBackPublishesNothing", func(t *testing.T) {
		ex, ch := send(t, polling)
		// The delivery is acknowledged in the transaction before the empty reply is
		// refused; the refusal rolls both back.
		_, err := st.Deliveries.CreateReply(ctx, lobby.ReplyParams{ConsultantID: poller.ID, ConversationID: ex.Conversation.ID, InReplyTo: ex.Message.ID})
		WantCode(t, err, lobby.EINVALID, "empty")
		wantEvents(t, ch)
		d, err := st.Deliveries.FindDeliveryByID(ctx, ex.Delivery.ID)
		must(t, err)
		if d.Status != lobby.DeliveryPending {
			t.Fatalf("a refused reply acknowledged the delivery: %+v", d)
		}
	})
	t.Run("RetryNudgesInbox", func(t *testing.T) {
		ex, _ := send(t, polling)
		inbox := subscribe(t, st, lobby.InboxTopic(poller.ID))
		_, err := st.Deliveries.AckDelivery(ctx, poller.ID, ex.Delivery.EventID)
		must(t, err)
		wantEvents(t, inbox)
		_, err = st.Deliveries.RetryDelivery(ctx, ex.Delivery.ID)
		must(t, err)
		wantEvents(t, inbox, lobby.EventInboxReady)
	})

	hooked, webhook := consultant("hooked", lobby.ModeWebhook)
	t.Run("RecordAttempt", func(t *testing.T) {
		inbox := subscribe(t, st, lobby.InboxTopic(hooked.ID))
		ex, ch := send(t, webhook)
		wantEvents(t, inbox) // a webhook's delivery is queued instead
		_, err := st.Deliveries.RecordAttempt(ctx, lobby.AttemptResult{DeliveryID: ex.Delivery.ID, Round: 7,
			Attempt: lobby.Attempt{At: st.Clock.Now(), StatusCode: 200}, Delivered: true, Reply: "stale"})
		must(t, err)
		wantEvents(t, ch)
		_, err = st.Deliveries.RecordAttempt(ctx, lobby.AttemptResult{DeliveryID: ex.Delivery.ID,
			Attempt: lobby.Attempt{At: st.Clock.Now(), StatusCode: 200}, Delivered: true, Reply: "hi back"})
		must(t, err)
		wantEvents(t, ch, "message.delta "+delta(ex.Reply, 7), "message.completed "+ex.Reply.ID)

		ex, ch = send(t, webhook)
		_, err = st.Deliveries.RecordAttempt(ctx, lobby.AttemptResult{DeliveryID: ex.Delivery.ID,
			Attempt: lobby.Attempt{At: st.Clock.Now(), StatusCode: 500, Error: "500 Internal Server Error"}})
		must(t, err)
		wantEvents(t, ch, "message.failed "+ex.Reply.ID)
	})
}
