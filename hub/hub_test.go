package hub_test

import (
	"context"
	"testing"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/hub"
)

func event(cnv string, n int) lobby.Event {
	return lobby.Event{Type: lobby.EventMessageDelta, Topic: lobby.ConversationTopic(cnv), ConversationID: cnv,
		Data: lobby.Delta{Delta: string(rune('a' + n%26))}}
}

// drain takes everything a subscription holds: its events and whether it is live.
func drain(sub lobby.Feed) ([]lobby.Event, bool) {
	es, live := sub.Take()
	return append([]lobby.Event(nil), es...), live
}

func TestHub(t *testing.T) {
	ctx := context.Background()
	h := hub.New()
	wakes := 0
	a := h.Subscribe(ctx, lobby.ConversationTopic("cnv_1"), func() { wakes++ })
	defer a.Cancel()
	slowWakes := 0
	slow := h.Subscribe(ctx, lobby.ConversationTopic("cnv_1"), func() { slowWakes++ })
	other := h.Subscribe(ctx, lobby.ConversationTopic("cnv_2"), nil)
	defer other.Cancel()

	// a keeps up; slow never reads and is dropped once its queue is full.
	for i := range hub.QueueSize + 10 {
		h.Publish(ctx, event("cnv_1", i))
		es, live := drain(a)
		if !live || len(es) != 1 || es[0].Data.(lobby.Delta).Delta != event("", i).Data.(lobby.Delta).Delta {
			t.Fatalf("event %d out of order: %v (live %v)", i, es, live)
		}
	}
	if wakes != hub.QueueSize+10 {
		t.Fatalf("a was woken %d times, want once an event", wakes)
	}
	if slowWakes != 2 {
		t.Fatalf("the slow subscriber was woken %d times, want twice: its first event, and its drop", slowWakes)
	}
	es, live := drain(slow)
	if len(es) != hub.QueueSize || live {
		t.Fatalf("the slow subscriber got %d events before it was dropped (live %v), want its queue of %d", len(es), live, hub.QueueSize)
	}
	if h.Subscribers(lobby.ConversationTopic("cnv_1")) != 1 {
		t.Fatalf("%d subscribers left on cnv_1, want 1", h.Subscribers(lobby.ConversationTopic("cnv_1")))
	}
	if es, _ := drain(other); len(es) > 0 {
		t.Fatalf("cnv_2 received cnv_1's events %v", es)
	}
}

func TestHubUnsubscribe(t *testing.T) {
	h := hub.New()
	ctx, cancel := context.WithCancel(context.Background())
	woken := make(chan struct{}, 1)
	sub := h.Subscribe(ctx, lobby.ConversationTopic("cnv_1"), func() { woken <- struct{}{} })
	cancel()
	<-woken // the end wakes the subscriber
	if _, live := sub.Take(); live {
		t.Fatal("the subscription stayed live after its context ended")
	}
	sub.Cancel() // twice is fine
	sub2 := h.Subscribe(context.Background(), lobby.ConversationTopic("cnv_1"), nil)
	sub2.Cancel()
	if h.Subscribers(lobby.ConversationTopic("cnv_1")) != 0 {
		t.Fatal("subscribers left")
	}
	h.Publish(context.Background(), event("cnv_1", 0)) // nobody listens: no panic, no block
}

// TestHubBuffersReused: a drained queue's buffer is reused, and the events Take handed
// out stay intact until the next Take.
func TestHubBuffersReused(t *testing.T) {
	ctx := context.Background()
	h := hub.New()
	sub := h.Subscribe(ctx, "t", nil)
	defer sub.Cancel()
	h.Publish(ctx, lobby.Event{Topic: "t", ID: "1"})
	first, _ := sub.Take()
	h.Publish(ctx, lobby.Event{Topic: "t", ID: "2"})
	h.Publish(ctx, lobby.Event{Topic: "t", ID: "3"})
	if first[0].ID != "1" {
		t.Fatalf("the events handed out changed before the next Take: %v", first)
	}
	second, _ := sub.Take()
	if len(second) != 2 || second[0].ID != "2" || second[1].ID != "3" {
		t.Fatalf("second take: %v", second)
	}
}
