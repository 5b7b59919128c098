package lobby

import "context"

// Event types, from the contract.
const (
	EventMessageCreated   = "message.created"
	EventMessageDelta     = "message.delta"
	EventMessageCompleted = "message.completed"
	EventMessageFailed    = "message.failed"
)

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
// on the others.
type EventService interface {
	// Publish sends e to the conversation's subscribers. It never blocks on a slow one.
	Publish(ctx context.Context, e Event)

	// Subscribe follows a conversation until ctx ends or cancel is called. The channel
	// closes when the subscriber falls too far behind; it then catches up from the store.
	Subscribe(ctx context.Context, conversationID string) (events <-chan Event, cancel func())
}
