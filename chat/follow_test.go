package chat_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/chat"
	"github.com/lobby-dev/lobby/hub"
	"github.com/lobby-dev/lobby/offline"
	"github.com/lobby-dev/lobby/sqldb"
	"github.com/lobby-dev/lobby/storetest"
)

// fixture is a store with a consultant, a buyer's subscription and a hub.
type fixture struct {
	db  *sqldb.DB
	svc sqldb.Services
	hub *hub.Hub
	sub *lobby.Subscription
}

func newFixture(t *testing.T, mode lobby.Mode) *fixture {
	t.Helper()
	db := storetest.OpenSQLite(t)
	svc := db.Services()
	_, owner := storetest.SignIn(t, svc.Auth, "owner@example.com")
	_, buyer := storetest.SignIn(t, svc.Auth, "buyer@example.com")
	c := storetest.NewConsultant(owner.ID, "follower")
	c.Mode = mode
	if _, err := svc.Consultants.CreateConsultant(context.Background(), c, lobby.ValidateOptions{}); err != nil {
		t.Fatal(err)
	}
	sub, _ := storetest.Subscribe(t, svc.Subscriptions, buyer.ID, c.ID, "starter")
	// The store publishes nothing here (db.Events is nil): each test publishes what it
	// needs, as the store would, unless it sets db.Events.
	return &fixture{db: db, svc: svc, hub: hub.New(), sub: sub}
}

func (f *fixture) follower() *chat.Follower {
	return &chat.Follower{Chat: f.svc.Chat, Events: f.hub, Poll: time.Millisecond}
}

func (f *fixture) exchange(t *testing.T, content string) *lobby.Exchange {
	t.Helper()
	ex, err := f.svc.Chat.CreateExchange(context.Background(), lobby.ExchangeParams{SubscriptionID: f.sub.ID, Content: content})
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// overflow drops every follower of the conversation, as a burst it cannot keep up with
// would; its message sorts before any real one, so it stands for an older reply.
func (f *fixture) overflow(ctx context.Context, cnv string) {
	for i := 0; f.hub.Subscribers(lobby.ConversationTopic(cnv)) > 0 && i < 10*hub.QueueSize; i++ {
		f.hub.Publish(ctx, lobby.DeltaEvent(cnv, lobby.Delta{MessageID: "msg_00burst", Delta: "x"}, i))
	}
}

// TestFollowCatchesUpFromTheStore: a follow the hub drops goes on from the store and
// sees the reply's end there, though no event announced it.
func TestFollowCatchesUpFromTheStore(t *testing.T) {
	ctx := testContext(t)
	f := newFixture(t, lobby.ModePolling)
	ex := f.exchange(t, "Hello?")
	fl, err := f.follower().Follow(ctx, chat.FollowParams{ConversationID: ex.Conversation.ID, CatchUp: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	f.hub.Publish(ctx, lobby.MessageEvent(lobby.EventMessageCreated, ex.Reply))
	f.overflow(ctx, ex.Conversation.ID)
	if _, err := f.svc.Chat.FinishMessage(ctx, lobby.FinishParams{ID: ex.Reply.ID, Content: "Hi.", Status: lobby.MessageComplete, Model: "test"}); err != nil {
		t.Fatal(err)
	}
	later := f.exchange(t, "And?")
	m, err := fl.AwaitReply(ctx, ex.Reply.ID)
	if err != nil || m.Content != "Hi." {
		t.Fatalf("awaited %+v, %v", m, err)
	}
	// Later messages come from the store too: the next buyer message, its reply born streaming.
	var got []string
	for len(got) < 2 {
		e, err := fl.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if e.Type != lobby.EventMessageDelta {
			got = append(got, e.Type+" "+e.MessageID())
		}
	}
	want := []string{"message.created " + later.Message.ID, "message.created " + later.Reply.ID}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("after the drop got %v, want %v", got, want)
	}
}

// TestFollowDropped: without CatchUp, a dropped follow yields what was queued, then
// ErrDropped.
func TestFollowDropped(t *testing.T) {
	ctx := testContext(t)
	f := newFixture(t, lobby.ModePolling)
	fl, err := f.follower().Follow(ctx, chat.FollowParams{ConversationID: "cnv_1"})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	f.overflow(ctx, "cnv_1")
	n := 0
	for {
		_, err := fl.Next(ctx)
		if errors.Is(err, chat.ErrDropped) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != hub.QueueSize {
		t.Fatalf("%d events before ErrDropped, want the queue's %d", n, hub.QueueSize)
	}
}

// TestFollowReplays: Last-Event-ID replays from the store, and the live events of a
// message replayed finished are skipped.
func TestFollowReplays(t *testing.T) {
	ctx := testContext(t)
	f := newFixture(t, lobby.ModePolling)
	first := f.exchange(t, "One?")
	done, _ := f.svc.Chat.FinishMessage(ctx, lobby.FinishParams{ID: first.Reply.ID, Content: "One.", Status: lobby.MessageComplete, Model: "test"})
	second := f.exchange(t, "Two?")
	fl, err := f.follower().Follow(ctx, chat.FollowParams{ConversationID: first.Conversation.ID, LastEventID: first.Reply.ID + ":3"})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	f.hub.Publish(ctx, lobby.MessageEvent(lobby.EventMessageCompleted, done)) // replayed already
	ended, _ := f.svc.Chat.FinishMessage(ctx, lobby.FinishParams{ID: second.Reply.ID, Content: "Two.", Status: lobby.MessageComplete, Model: "test"})
	f.hub.Publish(ctx, lobby.MessageEvent(lobby.EventMessageCompleted, ended))
	var got []string
	for len(got) < 4 {
		e, err := fl.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Type+" "+e.MessageID())
	}
	want := []string{"message.completed " + first.Reply.ID, "message.created " + second.Message.ID,
		"message.created " + second.Reply.ID, "message.completed " + second.Reply.ID}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}

// subscribedFirst is a store that checks, as it stores an exchange, that its
// conversation already has a follower.
type subscribedFirst struct {
	*sqldb.ChatService
	hub       *hub.Hub
	followers int
}

func (s *subscribedFirst) CreateExchange(ctx context.Context, p lobby.ExchangeParams) (*lobby.Exchange, error) {
	s.followers = s.hub.Subscribers(lobby.ConversationTopic(p.ConversationID))
	return s.ChatService.CreateExchange(ctx, p)
}

// TestSendFollowsBeforeStoring: the follow Send returns was subscribed before the
// exchange was stored, and sees all of it, from the buyer's message.created to the
// reply's end.
func TestSendFollowsBeforeStoring(t *testing.T) {
	ctx := testContext(t)
	f := newFixture(t, lobby.ModeManaged)
	f.db.Events = f.hub // the store publishes the exchange's events, as it does in production
	store := &subscribedFirst{ChatService: f.svc.Chat, hub: f.hub}
	svc := &chat.Service{Chat: store, Consultants: f.svc.Consultants, Events: f.hub, LLM: &offline.Provider{}, Logger: slog.New(slog.DiscardHandler)}
	defer svc.Wait(ctx)
	ex, fl, err := svc.Send(ctx, lobby.ExchangeParams{SubscriptionID: f.sub.ID, Content: "Hello?"}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	if store.followers != 1 {
		t.Fatalf("the exchange was stored with %d followers of its conversation, want 1", store.followers)
	}
	var types []string
	var deltas strings.Builder
	for {
		e, err := fl.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, e.Type)
		if d, ok := e.Data.(lobby.Delta); ok {
			deltas.WriteString(d.Delta)
		}
		if m, ok := e.Ends(ex.Reply.ID); ok {
			if m.Content != deltas.String() || types[0] != lobby.EventMessageCreated || types[1] != lobby.EventMessageCreated {
				t.Fatalf("events %v; deltas %q; reply %q", types, deltas.String(), m.Content)
			}
			return
		}
	}
}

// frames is a chat.Transport that keeps what is written.
type frames struct {
	mu  sync.Mutex
	got []string
	n   chan struct{}
}

func (t *frames) Write(e lobby.Event) error {
	t.mu.Lock()
	t.got = append(t.got, e.Type+" "+e.ID)
	t.mu.Unlock()
	t.n <- struct{}{}
	return nil
}

func (t *frames) Ping() error { return nil }

// TestSession: a session writes each follow's acknowledgement before its events, in
// order, and ends with ErrDropped when a follow falls too far behind.
func TestSession(t *testing.T) {
	ctx := testContext(t)
	f := newFixture(t, lobby.ModePolling)
	out := &frames{n: make(chan struct{}, 20*hub.QueueSize)}
	ended := make(chan error, 1)
	s := f.follower().NewSession(ctx, out, chat.SessionParams{End: func(err error) { ended <- err }})
	defer s.Close()
	for _, cnv := range []string{"cnv_1", "cnv_2"} {
		if err := s.Follow(cnv, lobby.Event{Type: "subscribed", ID: cnv}); err != nil {
			t.Fatal(err)
		}
	}
	f.hub.Publish(ctx, lobby.DeltaEvent("cnv_2", lobby.Delta{MessageID: "msg_b"}, 1))
	f.hub.Publish(ctx, lobby.DeltaEvent("cnv_1", lobby.Delta{MessageID: "msg_a"}, 1))
	f.hub.Publish(ctx, lobby.DeltaEvent("cnv_1", lobby.Delta{MessageID: "msg_a"}, 2))
	for range 5 {
		<-out.n
	}
	out.mu.Lock()
	got := strings.Join(out.got, ",")
	out.mu.Unlock()
	for _, in := range []string{"subscribed cnv_1,subscribed cnv_2", "message.delta msg_a:1,message.delta msg_a:2"} {
		if !strings.Contains(got, in) {
			t.Fatalf("written %s; want %s in order", got, in)
		}
	}
	// A follow that falls too far behind ends the session.
	out.mu.Lock() // the writer blocks on its next write
	f.overflow(ctx, "cnv_1")
	out.mu.Unlock()
	if err := <-ended; !errors.Is(err, chat.ErrDropped) {
		t.Fatalf("the session ended with %v, want ErrDropped", err)
	}
}

// countingChat counts the messages the store hands out.
type countingChat struct {
	*sqldb.ChatService
	read atomic.Int64
}

func (c *countingChat) FindMessages(ctx context.Context, f lobby.MessageFilter) ([]*lobby.Message, error) {
	ms, err := c.ChatService.FindMessages(ctx, f)
	c.read.Add(int64(len(ms)))
	return ms, err
}

// TestReplayReadsAPageAtATime: a Last-Event-ID replay of a long conversation reads the
// store a page at a time as the client takes events, never the whole conversation at
// once, and still yields all of it in order.
func TestReplayReadsAPageAtATime(t *testing.T) {
	ctx := testContext(t)
	f := newFixture(t, lobby.ModeManaged)
	var first *lobby.Exchange
	for i := range 60 {
		ex := f.exchange(t, "question")
		if _, err := f.svc.Chat.FinishMessage(ctx, lobby.FinishParams{ID: ex.Reply.ID, Content: "answer", Status: lobby.MessageComplete}); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = ex
		}
	}
	store := &countingChat{ChatService: f.svc.Chat}
	fl, err := (&chat.Follower{Chat: store, Events: f.hub}).Follow(ctx, chat.FollowParams{ConversationID: first.Conversation.ID, LastEventID: first.Message.ID})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	created := 0
	for created < 119 { // every message after the first is announced
		e, err := fl.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n := store.read.Load(); created == 0 && n > 30 {
			t.Fatalf("the replay read %d of 120 messages before the first event", n)
		}
		if e.Type == lobby.EventMessageCreated {
			created++
		}
	}
}

// TestFollowAnnouncesBeforePieces: a reply's piece that comes before its
// message.created (it was produced on another instance, whose events travel apart) is
// preceded by the exchange read from the store, and the late message.created events
// are dropped: the follower sees each message announced once, before its pieces.
func TestFollowAnnouncesBeforePieces(t *testing.T) {
	ctx := testContext(t)
	f := newFixture(t, lobby.ModeManaged)
	fl, err := f.follower().Follow(ctx, chat.FollowParams{ConversationID: f.exchange(t, "First").Conversation.ID})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	ex := f.exchange(t, "Hello?")
	var got []string
	next := func(n int) {
		for range n {
			e, err := fl.Next(ctx)
			if err != nil {
				t.Fatal(err, got)
			}
			got = append(got, e.Type+" "+e.MessageID())
		}
	}
	f.hub.Publish(ctx, lobby.DeltaEvent(ex.Conversation.ID, lobby.Delta{MessageID: ex.Reply.ID, Delta: "Hi"}, 1))
	next(3)
	f.hub.Publish(ctx, lobby.MessageEvent(lobby.EventMessageCreated, ex.Message))
	f.hub.Publish(ctx, lobby.MessageEvent(lobby.EventMessageCreated, ex.Reply))
	ended, _ := f.svc.Chat.FinishMessage(ctx, lobby.FinishParams{ID: ex.Reply.ID, Content: "Hi", Status: lobby.MessageComplete, Model: "test"})
	f.hub.Publish(ctx, lobby.MessageEvent(lobby.EventMessageCompleted, ended))
	next(1)
	want := []string{"message.created " + ex.Message.ID, "message.created " + ex.Reply.ID,
		"message.delta " + ex.Reply.ID, "message.completed " + ex.Reply.ID}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %v\nwant %v", got, want)
	}
}
