// Package hub is Lobby's one event hub: it fans a topic's events out to the followers
// that subscribe to it, each through a bounded queue, so a slow follower is dropped
// rather than allowed to stall the others or grow memory. A queue costs nothing until
// events wait in it.
package hub

import (
	"context"
	"sync"

	"github.com/lobby-dev/lobby"
)

// QueueSize is how many events a subscriber may fall behind before it is dropped.
const QueueSize = 256

// keepBuffer is the largest queue a subscriber keeps for reuse once it has drained it.
const keepBuffer = 16

// Hub delivers events to this instance's subscribers.
type Hub struct {
	mu   sync.Mutex
	subs map[string]map[*subscriber]struct{}
}

// subscriber is one subscription; its fields are guarded by the hub's mu.
type subscriber struct {
	h     *Hub
	topic string
	wake  func()
	queue []lobby.Event // nil until an event waits
	lent  []lobby.Event // the buffer Take handed out last, in the taker's hands
	spare []lobby.Event // a drained buffer, reused by the next Publish
	ended bool
	stop  func() bool // stops the context's AfterFunc
}

var _ lobby.EventService = (*Hub)(nil)

// New returns an empty hub.
func New() *Hub { return &Hub{subs: map[string]map[*subscriber]struct{}{}} }

// Publish implements lobby.EventService. A subscriber whose queue is full is dropped:
// its subscription ends and it must catch up from the store.
func (h *Hub) Publish(ctx context.Context, e lobby.Event) {
	var buf [8]func()
	wakes := buf[:0]
	h.mu.Lock()
	for s := range h.subs[e.Topic] {
		// A subscriber is woken when its queue stops being empty, or when it is dropped;
		// one woken already takes the later events with the first.
		woken := len(s.queue) > 0
		if len(s.queue) >= QueueSize {
			h.drop(s)
			woken = false
		} else {
			if s.queue == nil {
				s.queue, s.spare = s.spare[:0], nil
			}
			s.queue = append(s.queue, e)
		}
		if s.wake != nil && !woken {
			wakes = append(wakes, s.wake)
		}
	}
	h.mu.Unlock()
	for _, w := range wakes {
		w()
	}
}

// Subscribe implements lobby.EventService.
func (h *Hub) Subscribe(ctx context.Context, topic string, wake func()) lobby.Feed {
	s := &subscriber{h: h, topic: topic, wake: wake}
	h.mu.Lock()
	if h.subs[topic] == nil {
		h.subs[topic] = map[*subscriber]struct{}{}
	}
	h.subs[topic][s] = struct{}{}
	h.mu.Unlock()
	if ctx.Done() != nil {
		s.stop = context.AfterFunc(ctx, s.end)
	}
	return s
}

// Take implements lobby.Feed. The slice it returns is valid until the next Take.
func (s *subscriber) Take() ([]lobby.Event, bool) {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	q := s.queue
	s.queue = nil
	if s.spare == nil && cap(s.lent) <= keepBuffer {
		s.spare = s.lent
	}
	s.lent = q
	return q, !s.ended
}

// Cancel implements lobby.Feed.
func (s *subscriber) Cancel() {
	if s.stop != nil {
		s.stop()
	}
	s.end()
}

func (s *subscriber) end() {
	s.h.mu.Lock()
	ended := s.ended
	s.h.drop(s)
	s.h.mu.Unlock()
	if !ended && s.wake != nil {
		s.wake()
	}
}

// drop ends s; h.mu is held. The events already queued stay for Take.
func (h *Hub) drop(s *subscriber) {
	if s.ended {
		return
	}
	s.ended = true
	delete(h.subs[s.topic], s)
	if len(h.subs[s.topic]) == 0 {
		delete(h.subs, s.topic)
	}
}

// Subscribers returns how many subscribers follow a topic.
func (h *Hub) Subscribers(topic string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[topic])
}

// DropAll drops every subscriber, as if each had fallen behind: each catches up from
// the store. A broker calls it when it may have missed events from other instances.
func (h *Hub) DropAll() {
	var wakes []func()
	h.mu.Lock()
	for _, subs := range h.subs {
		for s := range subs {
			h.drop(s)
			if s.wake != nil {
				wakes = append(wakes, s.wake)
			}
		}
	}
	h.mu.Unlock()
	for _, w := range wakes {
		w()
	}
}
