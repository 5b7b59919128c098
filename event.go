package lobby

import (
	"context"
	"strconv"
)

// Event types, from the contract.
const (
	EventMessageCreated   = "message.created"
	EventMessageDelta     = "message.delta"
	EventMessageCompleted = "message.completed"
	EventMessageFailed    = "message.failed"

	// EventInboxReady, with no data, wakes a polling consultant's inbox long-polls,
	// which follow InboxTopic instead of a conversation.
	EventInboxReady = "inbox.ready"
)

// InboxTopic is what a polling consultant's inbox follows on the EventService.
func InboxTopic(consultantID string) string { return "inbox:" + consultantID }

// InboxReady is the nudge that wakes the consultant's inbox long-polls.
func InboxReady(consultantID string) Event {
	return Event{Type: EventInboxReady, ConversationID: InboxTopic(consultantID)}
}

// Event is something that happened in a conversation: a message stored, a piece of a
// reply, a reply's end. Data is a *Message, or a Delta for message.delta.
type Event struct {
	// ID orders a conversation's events for resuming: the message's ID, and for a
	// delta the message's ID and the delta's number ("msg_...:3").
	ID             string `json:"-"`
	Type           string `json:"type"`
	ConversationID string `json:"-"`
	Data           any    `json:"data"`
}

// Delta is a piece of a streaming reply.
type Delta struct {
	MessageID string `json:"message_id"`
	Delta     string `json:"delta"`
}

// MessageEvent returns the event that announces m's state: created while it streams,
// completed or failed once it ends.
func MessageEvent(typ string, m *Message) Event {
	return Event{ID: m.ID, Type: typ, ConversationID: m.ConversationID, Data: m}
}

// EventService carries events to whoever follows a conversation, on this instance and
// on the others. The stores publish the events of their writes, after commit; only the
// message.delta pieces of a managed reply, which are not stored, come from elsewhere.
type EventService interface {
	// Publish sends e to the conversation's subscribers. It never blocks on a slow one.
	Publish(ctx context.Context, e Event)

	// Subscribe follows a conversation until ctx ends or cancel is called. The channel
	// closes when the subscriber falls too far behind; it then catches up from the store.
	Subscribe(ctx context.Context, conversationID string) (events <-chan Event, cancel func())
}

// ReplyEvents announces what a consultant's agent added to a reply: the reply's birth
// when created is set, the new piece, and the reply's end once it has ended.
func ReplyEvents(m *Message, delta string, created bool) []Event {
	var es []Event
	if created {
		born := *m
		born.Status, born.Content = MessageStreaming, ""
		es = append(es, MessageEvent(EventMessageCreated, &born))
	}
	if delta != "" {
		es = append(es, Event{ID: m.ID + ":" + strconv.Itoa(len(m.Content)), Type: EventMessageDelta,
			ConversationID: m.ConversationID, Data: Delta{MessageID: m.ID, Delta: delta}})
	}
	switch m.Status {
	case MessageComplete:
		es = append(es, MessageEvent(EventMessageCompleted, m))
	case MessageFailed:
		es = append(es, MessageEvent(EventMessageFailed, m))
	}
	return es
}
