package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lobby-dev/lobby"
)

// agentExchange makes a consultant of the given mode with a subscriber, sends one
// message and returns the exchange.
func agentExchange(t *testing.T, st *Store, slug string, mode lobby.Mode) (*lobby.Consultant, *lobby.Subscription, *lobby.Exchange) {
	t.Helper()
	ctx := context.Background()
	_, owner := SignIn(t, st.Auth, "owner-"+slug+"@example.com")
	c := NewConsultant(owner.ID, slug)
	c.Mode = mode
	if mode == lobby.ModeWebhook {
		c.WebhookURL = "https://agent.example.com/" + slug
	}
	_, err := st.Consultants.CreateConsultant(ctx, c, lobby.ValidateOptions{})
	must(t, err)
	_, buyer := SignIn(t, st.Auth, "buyer-"+slug+"@example.com")
	sub, _ := Subscribe(t, st.Subscriptions, buyer.ID, c.ID, "pro")
	ex, err := st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, Content: "hello " + slug})
	must(t, err)
	return c, sub, ex
}

func testDelivery(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	clock := st.Clock

	t.Run("ManagedHasNone", func(t *testing.T) {
		_, _, ex := agentExchange(t, st, "managed-one", lobby.ModeManaged)
		if ex.Delivery != nil {
			t.Fatalf("a managed consultant's message got a delivery: %+v", ex.Delivery)
		}
	})

	c, _, ex := agentExchange(t, st, "hooked", lobby.ModeWebhook)
	d := ex.Delivery
	if d == nil || d.Mode != lobby.ModeWebhook || d.Status != lobby.DeliveryPending || d.MessageID != ex.Message.ID || d.ReplyID != ex.Reply.ID {
		t.Fatalf("delivery = %+v", d)
	}

	t.Run("RetryLeavesItPending", func(t *testing.T) {
		next := clock.Now().Add(5 * time.Second)
		out, err := st.Deliveries.RecordAttempt(ctx, lobby.AttemptResult{DeliveryID: d.ID, Payload: `{"body":1}`,
			Attempt: lobby.Attempt{At: clock.Now(), StatusCode: 503, Error: "503 Service Unavailable"}, RetryAt: next})
		must(t, err)
		if out.Delivery.Status != lobby.DeliveryPending || out.Delivery.Attempts != 1 || !out.Delivery.NextAttemptAt.Equal(next) || out.Reply != nil {
			t.Fatalf("after a failed attempt: %+v", out)
		}
	})
	t.Run("StaleRoundChangesOnlyTheLog", func(t *testing.T) {
		out, err := st.Deliveries.RecordAttempt(ctx, lobby.AttemptResult{DeliveryID: d.ID, Round: 7, Attempt: lobby.Attempt{At: clock.Now(), StatusCode: 200}, Delivered: true, Reply: "no"})
		must(t, err)
		if !out.Stale || out.Delivery.Status != lobby.DeliveryPending || out.Reply != nil {
			t.Fatalf("a stale attempt changed the delivery: %+v", out)
		}
	})
	t.Run("DeliveredWithReply", func(t *testing.T) {
		out, err := st.Deliveries.RecordAttempt(ctx, lobby.AttemptResult{DeliveryID: d.ID, Attempt: lobby.Attempt{At: clock.Now(), StatusCode: 200}, Delivered: true, Reply: "hi back"})
		must(t, err)
		if out.Delivery.Status != lobby.DeliveryDelivered || out.Reply == nil || out.Reply.Content != "hi back" || out.Reply.Status != lobby.MessageComplete {
			t.Fatalf("after a 2xx with a reply: %+v", out)
		}
		got, err := st.Deliveries.FindDeliveryByID(ctx, d.ID)
		must(t, err)
		if len(got.Log) != 3 || got.Log[0].StatusCode != 503 || got.Log[2].N != 3 || got.Payload != `{"body":1}` {
			t.Fatalf("log = %+v, payload %q", got.Log, got.Payload)
		}
	})
	t.Run("RetryStartsARound", func(t *testing.T) {
		again, err := st.Deliveries.RetryDelivery(ctx, d.ID)
		must(t, err)
		if again.Status != lobby.DeliveryPending || again.Round != 1 || again.RoundStart != 3 {
			t.Fatalf("retried = %+v", again)
		}
	})
	t.Run("GoneDisables", func(t *testing.T) {
		_, sub, ex := agentExchange(t, st, "gone", lobby.ModeWebhook)
		out, err := st.Deliveries.RecordAttempt(ctx, lobby.AttemptResult{DeliveryID: ex.Delivery.ID, Attempt: lobby.Attempt{At: clock.Now(), StatusCode: 410}, Gone: true})
		must(t, err)
		if !out.Disabled || out.Delivery.Status != lobby.DeliveryFailed || out.Reply == nil || out.Reply.Status != lobby.MessageFailed {
			t.Fatalf("after 410: %+v", out)
		}
		// The message got no reply, so it does not count against the cap.
		if got, _ := st.Subscriptions.FindSubscription(ctx, sub.UserID, sub.ID); got.MessagesUsed != 0 {
			t.Fatalf("messages_used = %d after the delivery failed; want 0", got.MessagesUsed)
		}
		gc, err := st.Consultants.FindConsultantBySlug(ctx, "gone")
		must(t, err)
		if gc.WebhookDisabledAt == nil {
			t.Fatal("the endpoint is not disabled")
		}
		url := gc.WebhookURL
		gc, _, err = st.Consultants.UpdateConsultant(ctx, gc.ID, lobby.ConsultantUpdate{WebhookURL: &url}, lobby.ValidateOptions{})
		must(t, err)
		if gc.WebhookDisabledAt != nil {
			t.Fatal("setting webhook_url again did not enable the endpoint")
		}
	})
	t.Run("Health", func(t *testing.T) {
		h, err := st.Deliveries.WebhookHealth(ctx, c.ID)
		must(t, err)
		if h.Attempts != 3 || h.Failures != 1 || h.Pending != 1 {
			t.Fatalf("health = %+v", h)
		}
	})
	t.Run("Prune", func(t *testing.T) {
		_, _, old := agentExchange(t, st, "pruned", lobby.ModeWebhook)
		_, err := st.Deliveries.RecordAttempt(ctx, lobby.AttemptResult{DeliveryID: old.Delivery.ID, Attempt: lobby.Attempt{At: clock.Now(), StatusCode: 200}, Delivered: true})
		must(t, err)
		_, _, waiting := agentExchange(t, st, "still-waiting", lobby.ModeWebhook)
		clock.Add(lobby.DeliveryRetention + time.Hour)
		_, _, recent := agentExchange(t, st, "recent", lobby.ModeWebhook)
		_, err = st.Deliveries.RecordAttempt(ctx, lobby.AttemptResult{DeliveryID: recent.Delivery.ID, Attempt: lobby.Attempt{At: clock.Now(), StatusCode: 200}, Delivered: true})
		must(t, err)
		n, err := st.Deliveries.PruneDeliveries(ctx, clock.Now().Add(-lobby.DeliveryRetention))
		must(t, err)
		if n < 1 {
			t.Fatalf("pruned %d", n)
		}
		_, err = st.Deliveries.FindDeliveryByID(ctx, old.Delivery.ID)
		WantCode(t, err, lobby.ENOTFOUND)
		for _, keep := range []string{waiting.Delivery.ID, recent.Delivery.ID} {
			_, err := st.Deliveries.FindDeliveryByID(ctx, keep)
			must(t, err)
		}
	})
	t.Run("ModeSwitchMovesPending", func(t *testing.T) {
		sc, _, ex := agentExchange(t, st, "switcher", lobby.ModeWebhook)
		polling := lobby.ModePolling
		_, _, err := st.Consultants.UpdateConsultant(ctx, sc.ID, lobby.ConsultantUpdate{Mode: &polling}, lobby.ValidateOptions{})
		must(t, err)
		ds, err := st.Deliveries.LeaseInbox(ctx, sc.ID, 10, lobby.InboxLease)
		must(t, err)
		if len(ds) != 1 || ds[0].ID != ex.Delivery.ID || ds[0].Round != 1 {
			t.Fatalf("after switching to polling, the inbox holds %+v", ds)
		}
		webhook := lobby.ModeWebhook
		_, _, err = st.Consultants.UpdateConsultant(ctx, sc.ID, lobby.ConsultantUpdate{Mode: &webhook}, lobby.ValidateOptions{})
		must(t, err)
		d, err := st.Deliveries.FindDeliveryByID(ctx, ex.Delivery.ID)
		must(t, err)
		if d.Mode != lobby.ModeWebhook || d.Round != 2 || d.LeasedUntil != nil || d.NextAttemptAt == nil {
			t.Fatalf("after switching back: %+v", d)
		}
	})
	t.Run("RotateSecret", func(t *testing.T) {
		old := c.WebhookSecret
		secret, rc, err := st.Deliveries.RotateWebhookSecret(ctx, c.ID, time.Hour)
		must(t, err)
		if secret == old || rc.PreviousWebhookSecret != old || len(rc.SigningSecrets(clock.Now())) != 2 || len(rc.SigningSecrets(clock.Now().Add(2*time.Hour))) != 1 {
			t.Fatalf("rotated: %+v", rc)
		}
	})
}

func testInbox(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	clock := st.Clock
	c, sub, _ := agentExchange(t, st, "poller", lobby.ModePolling)
	for i := range 29 {
		_, err := st.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, Content: fmt.Sprintf("m%d", i)})
		must(t, err)
	}
	// Three pollers on three handles lease at once; none gets an event twice.
	other := []*Store{st, st.Shared(t), st.Shared(t)}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for _, h := range other {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ds, err := h.Deliveries.LeaseInbox(ctx, c.ID, 4, lobby.InboxLease)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ds) == 0 {
					return
				}
				mu.Lock()
				for _, d := range ds {
					seen[d.EventID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 30 {
		t.Fatalf("leased %d distinct events, want 30", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("event %s leased %d times", id, n)
		}
	}
	// Acknowledged ones stay out; the rest come back when their lease lapses.
	var acked string
	for id := range seen {
		acked = id
		break
	}
	d, err := st.Deliveries.AckDelivery(ctx, c.ID, acked)
	must(t, err)
	if d.Status != lobby.DeliveryDelivered {
		t.Fatalf("acked = %+v", d)
	}
	_, err = st.Deliveries.AckDelivery(ctx, "csl_someone_else", acked)
	WantCode(t, err, lobby.ENOTFOUND)
	clock.Add(lobby.InboxLease)
	again, err := st.Deliveries.LeaseInbox(ctx, c.ID, 100, lobby.InboxLease)
	must(t, err)
	if len(again) != 29 {
		t.Fatalf("after the lease, %d events came back, want 29", len(again))
	}
	p, err := st.Deliveries.SetPayload(ctx, again[0].ID, `{"a":1}`)
	must(t, err)
	if p2, _ := st.Deliveries.SetPayload(ctx, again[0].ID, `{"b":2}`); p != `{"a":1}` || p2 != p {
		t.Fatalf("payload = %q then %q, want the first kept", p, p2)
	}
}

func testReply(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	c, _, ex := agentExchange(t, st, "answers", lobby.ModePolling)
	other, _, otherEx := agentExchange(t, st, "elsewhere", lobby.ModePolling)

	_, err := st.Deliveries.CreateReply(ctx, lobby.ReplyParams{ConsultantID: other.ID, ConversationID: ex.Conversation.ID, Content: "x"})
	WantCode(t, err, lobby.ENOTFOUND, "no conversation")
	_, err = st.Deliveries.CreateReply(ctx, lobby.ReplyParams{ConsultantID: c.ID, ConversationID: ex.Conversation.ID, Content: "x", InReplyTo: otherEx.Message.ID})
	WantCode(t, err, lobby.ENOTFOUND, "in_reply_to")
	_, err = st.Deliveries.CreateReply(ctx, lobby.ReplyParams{ConsultantID: c.ID, ConversationID: ex.Conversation.ID, Content: "x", InReplyTo: ex.Reply.ID})
	WantCode(t, err, lobby.ENOTFOUND, "buyer message")

	res, err := st.Deliveries.CreateReply(ctx, lobby.ReplyParams{ConsultantID: c.ID, ConversationID: ex.Conversation.ID, Content: "part one, ", Partial: true})
	must(t, err)
	if res.Message.ID != ex.Reply.ID || res.Message.Status != lobby.MessageStreaming || len(res.Acked) != 1 || res.Delta != "part one, " {
		t.Fatalf("partial = %+v", res)
	}
	res, err = st.Deliveries.CreateReply(ctx, lobby.ReplyParams{ConsultantID: c.ID, ConversationID: ex.Conversation.ID, Content: "part two", InReplyTo: ex.Message.ID})
	must(t, err)
	if res.Message.ID != ex.Reply.ID || res.Message.Content != "part one, part two" || res.Message.Status != lobby.MessageComplete || res.Created {
		t.Fatalf("final = %+v", res)
	}
	// The same final post again (a retry whose answer was lost) changes nothing.
	res, err = st.Deliveries.CreateReply(ctx, lobby.ReplyParams{ConsultantID: c.ID, ConversationID: ex.Conversation.ID, Content: "part one, part two", InReplyTo: ex.Message.ID})
	must(t, err)
	if res.Message.ID != ex.Reply.ID || res.Created {
		t.Fatalf("repeat = %+v", res)
	}
	// Nothing awaited: a new message, complete; a partial one is refused.
	res, err = st.Deliveries.CreateReply(ctx, lobby.ReplyParams{ConsultantID: c.ID, ConversationID: ex.Conversation.ID, Content: "also"})
	must(t, err)
	if !res.Created || res.Message.Status != lobby.MessageComplete {
		t.Fatalf("unprompted = %+v", res)
	}
	_, err = st.Deliveries.CreateReply(ctx, lobby.ReplyParams{ConsultantID: c.ID, ConversationID: ex.Conversation.ID, Content: "more", Partial: true})
	WantCode(t, err, lobby.EINVALID, "partial")
}
