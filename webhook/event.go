package webhook

import "time"

// Event is the JSON body of a delivery — the one definition of the wire format, which
// Lobby itself encodes with this type: a buyer's message with the conversation's
// recent history and where to send the reply. ID is empty in a webhook delivery, which
// carries it in the webhook-id header instead; the polling inbox sets it.
type Event struct {
	ID        string    `json:"id,omitempty"`
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      EventData `json:"data"`
}

// EventData is an event's data.
type EventData struct {
	ConversationID string     `json:"conversation_id"`
	Message        Message    `json:"message"`
	Consultant     Consultant `json:"consultant"`
	Buyer          Buyer      `json:"buyer"`
	// History holds the conversation's earlier messages, oldest first.
	History []Message `json:"history"`
	// ReplyURL is where the agent POSTs its answer, with its consultant API key.
	ReplyURL string `json:"reply_url"`
}

// Message is one message in a conversation.
type Message struct {
	ID             string `json:"id"`
	ConversationID string `json:"conversation_id"`
	Role           string `json:"role"` // "buyer" or "consultant"
	Content        string `json:"content"`
	Status         string `json:"status"`
	// Error says why a failed reply failed; Model names what wrote a reply.
	Error     string    `json:"error,omitempty"`
	Model     string    `json:"model,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Consultant names the consultant a delivery is for.
type Consultant struct {
	Slug string `json:"slug"`
}

// Buyer names the buyer who wrote the message.
type Buyer struct {
	ID string `json:"id"`
}
