package lobby

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// Message roles and statuses.
const (
	RoleBuyer      = "buyer"
	RoleConsultant = "consultant"

	MessageComplete  = "complete"
	MessageStreaming = "streaming"
	MessageFailed    = "failed"
)

// MaxMessageLen is the largest message content, from the contract.
const MaxMessageLen = 32 << 10

// MaxConversations is how many conversations one subscription may have at once. A
// buyer starting another past it is told to delete one; every conversation counts
// against the subscription's one message cap, so the bound is on rows, not on use.
const MaxConversations = 1000

// Conversation is a thread between a buyer's subscription and a consultant. Each
// subscription has one by default, and may start others (CreateConversation).
type Conversation struct {
	ID             string    `json:"id"`
	SubscriptionID string    `json:"subscription_id,omitempty"`
	ConsultantID   string    `json:"consultant_id"`
	BuyerID        string    `json:"buyer_id"` // a pseudonym, stable per buyer and consultant
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
	// Summary is what the consultant remembers of the turns that no longer fit its
	// context; nil until the thread first outgrows it.
	Summary *Summary `json:"summary"`
}

// Summary is a conversation's rolling memory: the turns up to and including the
// message ThroughMessageID, folded into Text.
type Summary struct {
	Text             string    `json:"text"`
	ThroughMessageID string    `json:"through_message_id"`
	UpdatedAt        time.Time `json:"updated_at"`
}

// MaxSummaryLen is the longest summary a store keeps, in bytes.
const MaxSummaryLen = 16 << 10

// SummaryUpdate folds more turns into a conversation's summary, for UpdateSummary.
type SummaryUpdate struct {
	ConversationID string
	// Previous is the ThroughMessageID the new summary was made from: "" when the
	// conversation had none. The update applies only while it is still so.
	Previous         string
	Text             string
	ThroughMessageID string // the newest message the new summary covers
}

// Hide clears what the caller in ctx may not see of the conversation: a consultant sees
// its buyer only by the pseudonym BuyerID, never the subscription, which names the
// buyer's account.
func (c *Conversation) Hide(ctx context.Context) {
	if p := PrincipalFromContext(ctx); p == nil || p.Kind != CallerBuyer {
		c.SubscriptionID = ""
	}
}

// Message is one turn of a conversation.
type Message struct {
	ID             string `json:"id"`
	ConversationID string `json:"conversation_id"`
	Role           string `json:"role"`
	Content        string `json:"content"`
	Status         string `json:"status"`
	// Error says why a failed reply failed, in words for the buyer.
	Error string `json:"error,omitempty"`
	// Model names what wrote a reply: "offline" for the offline provider.
	Model string `json:"model,omitempty"`
	// Sources are the knowledge documents a managed reply drew on, for the buyer to
	// check it against.
	Sources   []MessageSource `json:"sources,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// CleanText is the one rule for text Lobby takes from outside with nobody to tell it
// is wrong — a model's reply, an agent's answer to a webhook, a response's first
// bytes, a document's text: each NUL character and each invalid UTF-8 sequence becomes
// U+FFFD, and the rest is kept. (Text a client sends in a request is refused instead,
// with a 400 that says so, since the client can mend it.) No store keeps a NUL.
func CleanText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// ValidateMessageContent checks a message a person or agent sends: non-empty valid
// UTF-8 without NULs, at most MaxMessageLen bytes.
func ValidateMessageContent(s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return Errorf(EINVALID, "message is empty; send the text to ask")
	case len(s) > MaxMessageLen:
		return Errorf(ETOOLARGE, "message is %d bytes; the most is %d (32 KiB): split it or summarise", len(s), MaxMessageLen)
	case !utf8.ValidString(s):
		return Errorf(EINVALID, "message is not valid UTF-8")
	case strings.ContainsRune(s, 0):
		return Errorf(EINVALID, "message must not contain NUL characters")
	}
	return nil
}

// Exchange is what one buyer message starts: the buyer's message and the reply it
// awaits, born streaming. For a webhook or polling consultant, Delivery carries the
// message to its agent, whose answer through the API completes the reply.
type Exchange struct {
	Conversation *Conversation
	Message      *Message
	Reply        *Message
	Delivery     *Delivery
	Usage        Usage // the subscription's, this message counted
}

// ExchangeParams is a buyer's message to send.
type ExchangeParams struct {
	SubscriptionID string
	ConversationID string // "" for the subscription's default conversation
	Content        string
}

// FinishParams is how a streaming message ended, for FinishMessage.
type FinishParams struct {
	ID      string
	Content string
	Status  string // MessageComplete or MessageFailed
	Error   string // why it failed, in words for the buyer
	Model   string // the model that wrote it
	Sources []MessageSource
}

// MessageSource is a knowledge document a reply drew on.
type MessageSource struct {
	DocumentID string `json:"document_id"`
	Title      string `json:"title"`
}

// MessageFilter selects a conversation's messages, oldest first.
type MessageFilter struct {
	ConversationID string
	After          string // a message ID; "" from the start
	Limit          int
}

// RecentFilter selects a conversation's newest messages, oldest first.
type RecentFilter struct {
	ConversationID string
	After          string // a message ID; "" from the start
	UpTo           string // the newest message ID, included
	Limit          int
}

// ConversationFilter selects conversations, newest first. Exactly one of
// SubscriptionID and ConsultantID is set.
type ConversationFilter struct {
	SubscriptionID string
	ConsultantID   string
	Limit          int
	Cursor         string
}

// ChatService keeps conversations and messages.
type ChatService interface {
	// CreateExchange stores a buyer's message and the consultant's reply, born
	// streaming, in one transaction that also counts the message against the
	// subscription's cap and, for a webhook or polling consultant, stores the delivery
	// (and queues a webhook's first attempt). Once it commits it publishes
	// message.created for both messages and, for a polling consultant, inbox.ready. A
	// message over the cap is not stored: EQUOTA with RetryAfter set to the time left
	// in the period. Returns ENOTFOUND for a conversation that is not the
	// subscription's, EINVALID for bad content.
	CreateExchange(ctx context.Context, p ExchangeParams) (*Exchange, error)

	// FinishMessage sets a streaming message's final content and status (complete or
	// failed, with p.Error) and the model that wrote it, and publishes
	// message.completed or message.failed. A failed reply gives the buyer's message
	// back to the subscription's cap. Returns ENOTFOUND, or ECONFLICT for a message
	// that has ended already.
	FinishMessage(ctx context.Context, p FinishParams) (*Message, error)

	// RestartMessage starts a streaming reply over: its process died, and a job
	// produces it again from the start. It publishes message.created for it again,
	// with its content empty: a follower replaces the text it has, never appends to it.
	// Returns ENOTFOUND, or ECONFLICT for a message that has ended.
	RestartMessage(ctx context.Context, id string) (*Message, error)

	// OpenConversation returns the conversation a subscription's next message goes to:
	// the one with conversationID, which must be the subscription's (ENOTFOUND
	// otherwise), or with conversationID "" the subscription's default one, made on
	// first use. Returns ENOTFOUND for an unknown subscription. A follower opens the
	// conversation, subscribes to it, and only then sends, so that it misses nothing.
	OpenConversation(ctx context.Context, subscriptionID, conversationID string) (*Conversation, error)

	// FindConversationByID returns ENOTFOUND when there is none.
	FindConversationByID(ctx context.Context, id string) (*Conversation, error)

	// FindConversations lists conversations per f.
	FindConversations(ctx context.Context, f ConversationFilter) ([]*Conversation, string, error)

	// FindMessages lists a conversation's messages after f.After, oldest first.
	FindMessages(ctx context.Context, f MessageFilter) ([]*Message, error)

	// FindRecentMessages returns the newest f.Limit messages of a conversation after
	// f.After up to and including f.UpTo, oldest first.
	FindRecentMessages(ctx context.Context, f RecentFilter) ([]*Message, error)

	// FindMessageByID returns ENOTFOUND when there is none.
	FindMessageByID(ctx context.Context, id string) (*Message, error)

	// CreateConversation starts another conversation of the subscription with its
	// consultant, with a memory of its own; its messages count against the same cap.
	// The subscription's default stays its first. Returns ENOTFOUND for an unknown
	// subscription, EUNAUTHORIZED for one that has ended, and ECONFLICT when the
	// subscription has MaxConversations already.
	CreateConversation(ctx context.Context, subscriptionID string) (*Conversation, error)

	// DeleteConversation deletes, for good and in one transaction, the subscription's
	// conversation id with its messages, summary and deliveries (and their attempts).
	// The subscription and its usage stay as they are. Jobs left for its replies or
	// deliveries find nothing and do nothing. Returns ENOTFOUND for a conversation
	// that is not the subscription's.
	DeleteConversation(ctx context.Context, subscriptionID, id string) error

	// UpdateSummary replaces a conversation's summary by compare-and-set: only while
	// its summary is still made through p.Previous, so that two replies folding at
	// once neither lose nor repeat a fold. Returns the conversation as updated;
	// ECONFLICT when another fold came first (the caller drops its own), ENOTFOUND for
	// an unknown conversation, EINVALID when p.ThroughMessageID is not a message of it
	// newer than p.Previous, ETOOLARGE for a text over MaxSummaryLen.
	UpdateSummary(ctx context.Context, p SummaryUpdate) (*Conversation, error)
}

// SummaryThrough is the ID of the newest message the conversation's summary covers, ""
// when it has none.
func (c *Conversation) SummaryThrough() string {
	if c.Summary == nil {
		return ""
	}
	return c.Summary.ThroughMessageID
}
