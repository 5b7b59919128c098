package lobby

import "context"

// Roles of the turns a model is given.
const (
	TurnUser      = "user"      // the buyer
	TurnAssistant = "assistant" // the consultant
)

// Turn is one message of a conversation as a model sees it.
type Turn struct {
	Role    string // TurnUser or TurnAssistant
	Content string
}

// CompletionRequest is everything a model is asked with: the assembled system prompt
// and the conversation, oldest turn first, ending with the buyer's.
type CompletionRequest struct {
	Model     string // "" means the provider's default
	System    string
	Turns     []Turn
	MaxTokens int // 0 means the provider's default
	// Sources is the published material the reply may draw on (the consultant's
	// profile, retrieved knowledge). It is already fenced into System; a provider that
	// runs no model (offline) answers from it directly.
	Sources []Source
}

// Source is a passage of published material.
type Source struct {
	DocumentID string // the knowledge document it is from; "" for the profile
	Title      string
	Text       string
}

// Completion is a model's whole answer.
type Completion struct {
	Text         string
	Model        string // the model that answered
	StopReason   string // the provider's own word: "end_turn", "stop", "max_tokens", ...
	InputTokens  int
	OutputTokens int
	// Quoted is the sources the answer quotes, when the provider knows (the offline
	// one does); nil means it may have drawn on any it was given.
	Quoted []Source
}

// LLM is an inference provider.
type LLM interface {
	// Name is the provider's name, as --llm takes it.
	Name() string

	// Complete asks the model and calls onDelta with each piece of text as it streams,
	// in order; the pieces joined are the Completion's Text. It retries what is worth
	// retrying (rate limits, overload, server errors before the first piece) with
	// backoff, honouring Retry-After, within ctx. When it fails for good it returns
	// EUPSTREAM with a message a buyer can read, and whatever text had streamed in the
	// Completion. It never calls onDelta after it returns.
	Complete(ctx context.Context, req CompletionRequest, onDelta func(text string)) (*Completion, error)
}

// Summarizer is an LLM that folds a conversation's turns into its summary itself,
// without a summarising request: the offline provider, which runs no model. An LLM
// that is not one is asked to summarise like any other request.
type Summarizer interface {
	// Summarize returns previous with turns folded in, in at most about maxTokens
	// estimated tokens.
	Summarize(ctx context.Context, previous string, turns []Turn, maxTokens int) (string, error)
}
