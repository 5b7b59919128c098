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

// ConversationTopic is what a conversation's followers subscribe to on the EventService.
func ConversationTopic(conversationID string) string { return "conversation:" + conversationID }

// EventCredentialRevoked, with no data, tells the streams opened with a credential
// that it no longer works, on CredentialTopic: they end at once.
const EventCredentialRevoked = "credential.revoked"

// CredentialTopic is what the streams opened with a credential follow, to end when it
// is revoked; credential is Principal.Credential, the token's hash.
func CredentialTopic(credential string) string { return "credential:" + credential }

// CredentialRevoked is the event that ends the streams of the token whose hash is
// given.
func CredentialRevoked(tokenHash string) Event {
	return Event{Type: EventCredentialRevoked, Topic: CredentialTopic(tokenHash)}
}

// InboxTopic is what a polling consultant's inbox follows on the EventService.
func InboxTopic(consultantID string) string { return "inbox:" + consultantID }

// InboxReady is the nudge that wakes the consultant's inbox long-polls.
func InboxReady(consultantID string) Event {
	return Event{Type: EventInboxReady, Topic: InboxTopic(consultantID)}
}

// Event is something that happened in a conversation: a message stored, a piece of a
// reply, a reply's end; or a nudge, such as EventInboxReady. Data is a *Message, a
// Delta for message.delta, or nil for a nudge.
type Event struct {
	// ID orders a conversation's events for resuming: the message's ID, and for a
	// delta the message's ID and the delta's number ("msg_...:3").
	ID   string `json:"-"`
	Type string `json:"type"`
	// Topic is who receives it: ConversationTopic or InboxTopic.
	Topic string `json:"-"`
	// ConversationID is the conversation a message event is of; "" for a nudge.
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
	return Event{ID: m.ID, Type: typ, Topic: ConversationTopic(m.ConversationID), ConversationID: m.ConversationID, Data: m}
}

// DeltaEvent returns the event that carries a piece of a streaming reply; seq numbers
// the reply's pieces in order, for resuming.
func DeltaEvent(conversationID string, d Delta, seq int) Event {
	return Event{ID: d.MessageID + ":" + strconv.Itoa(seq), Type: EventMessageDelta, Topic: ConversationTopic(conversationID),
		ConversationID: conversationID, Data: d}
}

// EndEvent returns the event that announces how a reply ended: completed or failed.
func EndEvent(m *Message) Event {
	if m.Status == MessageFailed {
		return MessageEvent(EventMessageFailed, m)
	}
	return MessageEvent(EventMessageCompleted, m)
}

// Ends reports whether e announces the end of the message with the given ID, and
// returns the message as it ended.
func (e Event) Ends(messageID string) (*Message, bool) {
	m, ok := e.Data.(*Message)
	if !ok || m.ID != messageID || (e.Type != EventMessageCompleted && e.Type != EventMessageFailed) {
		return nil, false
	}
	return m, true
}

// MessageID is the ID of the message e is about, or "" for a nudge.
func (e Event) MessageID() string {
	switch d := e.Data.(type) {
	case Delta:
		return d.MessageID
	case *Message:
		return d.ID
	}
	return ""
}

// EventService carries events to whoever follows a topic, on this instance and on the
// others. The stores publish the events of their writes, after commit; only the
// message.delta pieces of a managed reply, which are not stored, come from elsewhere.
type EventService interface {
	// Publish sends e to the subscribers of e.Topic. It never blocks on a slow one.
	Publish(ctx context.Context, e Event)

	// Subscribe follows a topic until ctx ends or the subscription is cancelled. Each
	// subscriber has a bounded queue that costs nothing while it is empty; one that
	// falls too far behind is dropped and must catch up from the store. wake, when
	// not nil, is called whenever events are queued or the subscription ends; it is
	// called from the publisher's goroutine and must not block.
	Subscribe(ctx context.Context, topic string, wake func()) Feed
}

// Feed is one subscriber's queue of a topic's events.
type Feed interface {
	// Take returns the events queued since the last call, oldest first, and false
	// once the subscription has ended: cancelled, or dropped for falling too far
	// behind (or because the events between instances may have been lost).
	Take() (events []Event, live bool)

	// Cancel ends the subscription. It is safe to call more than once.
	Cancel()
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
		es = append(es, DeltaEvent(m.ConversationID, Delta{MessageID: m.ID, Delta: delta}, len(m.Content)))
	}
	if m.Status != MessageStreaming {
		es = append(es, EndEvent(m))
	}
	return es
}
