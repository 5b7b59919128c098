// Package hub is Lobby's one event hub: it fans a conversation's events out to the
// connections that follow it, each through a bounded queue, so a slow client is
// dropped rather than allowed to stall the others or grow memory.
package hub

import (
	"context"
	"sync"

	"github.com/lobby-dev/lobby"
)

// QueueSize is how many events a subscriber may fall behind before it is dropped.
const QueueSize = 256

// Hub delivers events to this instance's subscribers.
type Hub struct {
	mu   sync.Mutex
	subs map[string]map[*subscriber]struct{}
}

type subscriber struct {
	ch     chan lobby.Event
	closed bool
}

var _ lobby.EventService = (*Hub)(nil)

// New returns an empty hub.
func New() *Hub { return &Hub{subs: map[string]map[*subscriber]struct{}{}} }

// Publish implements lobby.EventService. A subscriber whose queue is full is dropped:
// its channel closes and it must catch up from the store.
func (h *Hub) Publish(ctx context.Context, e lobby.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[e.ConversationID] {
		select {
		case s.ch <- e:
		default:
			h.drop(e.ConversationID, s)
		}
	}
}

// Subscribe implements lobby.EventService.
func (h *Hub) Subscribe(ctx context.Context, conversationID string) (<-chan lobby.Event, func()) {
	s := &subscriber{ch: make(chan lobby.Event, QueueSize)}
	h.mu.Lock()
	if h.subs[conversationID] == nil {
		h.subs[conversationID] = map[*subscriber]struct{}{}
	}
	h.subs[conversationID][s] = struct{}{}
	h.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { h.unsubscribe(conversationID, s) })
	return s.ch, func() {
		stop()
		h.unsubscribe(conversationID, s)
	}
}

func (h *Hub) unsubscribe(conversationID string, s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.drop(conversationID, s)
}

// drop removes s; h.mu is held.
func (h *Hub) drop(conversationID string, s *subscriber) {
	if s.closed {
		return
	}
	s.closed = true
	close(s.ch)
	delete(h.subs[conversationID], s)
	if len(h.subs[conversationID]) == 0 {
		delete(h.subs, conversationID)
	}
}

// Subscribers returns how many subscribers follow a conversation.
func (h *Hub) Subscribers(conversationID string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[conversationID])
}

// DropAll drops every subscriber, as if each had fallen behind: each catches up from
// the store. A broker calls it when it may have missed events from other instances.
func (h *Hub) DropAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for cnv, subs := range h.subs {
		for s := range subs {
			h.drop(cnv, s)
		}
	}
}
