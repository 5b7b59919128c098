package hub_test

import (
	"context"
	"testing"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/hub"
)

func event(cnv string, n int) lobby.Event {
	return lobby.Event{Type: lobby.EventMessageDelta, ConversationID: cnv, Data: lobby.Delta{Delta: string(rune('a' + n%26))}}
}

func TestHub(t *testing.T) {
	ctx := context.Background()
	h := hub.New()
	a, cancelA := h.Subscribe(ctx, "cnv_1")
	defer cancelA()
	slow, _ := h.Subscribe(ctx, "cnv_1")
	other, cancelOther := h.Subscribe(ctx, "cnv_2")
	defer cancelOther()

	// a keeps up; slow never reads and is dropped once its queue is full.
	for i := range hub.QueueSize + 10 {
		h.Publish(ctx, event("cnv_1", i))
		if e := <-a; e.Data.(lobby.Delta).Delta != event("", i).Data.(lobby.Delta).Delta {
			t.Fatalf("event %d out of order", i)
		}
	}
	n := 0
	for range slow {
		n++
	}
	if n != hub.QueueSize {
		t.Fatalf("the slow subscriber got %d events before it was dropped, want its queue of %d", n, hub.QueueSize)
	}
	if h.Subscribers("cnv_1") != 1 {
		t.Fatalf("%d subscribers left on cnv_1, want 1", h.Subscribers("cnv_1"))
	}
	select {
	case e := <-other:
		t.Fatalf("cnv_2 received cnv_1's event %v", e)
	default:
	}
}

func TestHubUnsubscribe(t *testing.T) {
	h := hub.New()
	ctx, cancel := context.WithCancel(context.Background())
	ch, stop := h.Subscribe(ctx, "cnv_1")
	cancel()
	if _, ok := <-ch; ok {
		t.Fatal("the channel stayed open after its context ended")
	}
	stop() // twice is fine
	_, stop2 := h.Subscribe(context.Background(), "cnv_1")
	stop2()
	if h.Subscribers("cnv_1") != 0 {
		t.Fatal("subscribers left")
	}
	h.Publish(context.Background(), event("cnv_1", 0)) // nobody listens: no panic, no block
}
