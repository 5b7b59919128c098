package lobby

import "time"

// Message roles and statuses.
const (
	RoleBuyer      = "buyer"
	RoleConsultant = "consultant"

	MessageComplete  = "complete"
	MessageStreaming = "streaming"
	MessageFailed    = "failed"
)

// Conversation is the one thread between a buyer's subscription and a consultant.
type Conversation struct {
	ID             string    `json:"id"`
	SubscriptionID string    `json:"subscription_id"`
	ConsultantID   string    `json:"consultant_id"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// Message is one turn of a conversation.
type Message struct {
	ID             string    `json:"id"`
	ConversationID string    `json:"conversation_id"`
	Role           string    `json:"role"`
	Content        string    `json:"content"`
	Status         string    `json:"status"`
	CreatedAt      time.Time `json:"created_at"`
}
