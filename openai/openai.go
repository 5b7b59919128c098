// Package openai is the inference provider for OpenAI and every server that speaks its
// chat completions API: OpenRouter, Ollama, vLLM, llama.cpp. It sends only what all of
// them accept — the system prompt as the first message, the turns, max_tokens, a
// streaming flag — and leaves retries of rate limits, overload and server errors to the
// official SDK, which honours Retry-After.
package openai

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/lobby-dev/lobby"
	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// Defaults of Config.
const (
	DefaultBaseURL    = "https://api.openai.com/v1"
	DefaultModel      = "gpt-4o-mini"
	DefaultMaxTokens  = 1024
	DefaultMaxRetries = 3
)

// Config configures a Provider.
type Config struct {
	APIKey     string       // may be empty for local servers (Ollama, llama.cpp)
	BaseURL    string       // "" means DefaultBaseURL
	Model      string       // used when a request names none; "" means DefaultModel
	MaxTokens  int          // used when a request sets none; 0 means DefaultMaxTokens
	MaxRetries int          // retries after the first attempt; 0 means DefaultMaxRetries, negative none
	HTTPClient *http.Client // nil means http.DefaultClient
}

// Provider asks a model through an OpenAI-compatible chat completions API.
type Provider struct {
	chat      sdk.ChatCompletionService
	apiKey    string
	model     string
	maxTokens int
}

var _ lobby.LLM = (*Provider)(nil)

// New returns a provider for cfg; it reads no environment variables.
func New(cfg Config) (*Provider, error) {
	if cfg.BaseURL == "" {
		if cfg.APIKey == "" {
			return nil, errors.New("openai: an API key is needed for OpenAI's API; set one, or a base URL for a local server")
		}
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("openai: the base URL %q is not an http(s) URL with a host", cfg.BaseURL)
	}
	if cfg.Model == "" {
		cfg.Model = DefaultModel
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = DefaultMaxTokens
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = DefaultMaxRetries
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	// The service, unlike sdk.NewClient, takes no defaults from OPENAI_* variables, so a
	// local server is never sent a key or headers meant for OpenAI.
	opts := []option.RequestOption{
		option.WithBaseURL(cfg.BaseURL),
		option.WithAPIKey(cfg.APIKey), // an empty key sends no Authorization header
		option.WithMaxRetries(cfg.MaxRetries),
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	return &Provider{
		chat:      sdk.NewChatCompletionService(opts...),
		apiKey:    cfg.APIKey,
		model:     cfg.Model,
		maxTokens: cfg.MaxTokens,
	}, nil
}

// Name implements lobby.LLM.
func (p *Provider) Name() string { return "openai" }

// Complete implements lobby.LLM.
func (p *Provider) Complete(ctx context.Context, req lobby.CompletionRequest, onDelta func(string)) (*lobby.Completion, error) {
	params, err := p.params(req)
	if err != nil {
		return nil, err
	}
	var res *http.Response
	stream := p.chat.NewStreaming(ctx, params, option.WithResponseInto(&res))
	defer stream.Close()

	var text strings.Builder
	c := &lobby.Completion{Model: params.Model}
	for stream.Next() {
		chunk := stream.Current()
		if chunk.Model != "" {
			c.Model = chunk.Model
		}
		if chunk.Usage.PromptTokens > 0 || chunk.Usage.CompletionTokens > 0 {
			c.InputTokens = int(chunk.Usage.PromptTokens)
			c.OutputTokens = int(chunk.Usage.CompletionTokens)
		}
		for _, choice := range chunk.Choices {
			if choice.Index != 0 {
				continue
			}
			if piece := choice.Delta.Content; piece != "" {
				text.WriteString(piece)
				if onDelta != nil {
					onDelta(piece)
				}
			}
			if choice.FinishReason != "" {
				c.StopReason = choice.FinishReason
			}
		}
	}
	c.Text = text.String()
	err = stream.Err()
	if err == nil && c.StopReason == "" {
		err = errTruncated // every compatible server ends with a finish_reason; this stream was cut
	}
	if err != nil {
		return c, p.failure(ctx, err, res, params.Model)
	}
	return c, nil
}

// params builds the chat completions request for req.
func (p *Provider) params(req lobby.CompletionRequest) (sdk.ChatCompletionNewParams, error) {
	model, maxTokens := req.Model, req.MaxTokens
	if model == "" {
		model = p.model
	}
	if maxTokens <= 0 {
		maxTokens = p.maxTokens
	}
	msgs := make([]sdk.ChatCompletionMessageParamUnion, 0, len(req.Turns)+1)
	if req.System != "" {
		msgs = append(msgs, sdk.SystemMessage(req.System))
	}
	for _, t := range req.Turns {
		switch t.Role {
		case lobby.TurnUser:
			msgs = append(msgs, sdk.UserMessage(t.Content))
		case lobby.TurnAssistant:
			msgs = append(msgs, sdk.AssistantMessage(t.Content))
		default:
			return sdk.ChatCompletionNewParams{}, fmt.Errorf("openai: turn role %q is neither user nor assistant", t.Role)
		}
	}
	return sdk.ChatCompletionNewParams{
		Model:    model,
		Messages: msgs,
		// max_tokens, not max_completion_tokens: the compatible servers only know the former.
		MaxTokens:     sdk.Int(int64(maxTokens)),
		StreamOptions: sdk.ChatCompletionStreamOptionsParam{IncludeUsage: sdk.Bool(true)},
	}, nil
}

var errTruncated = errors.New("openai: the stream ended before the answer did")

// failure turns what went wrong into ctx's error or an EUPSTREAM a buyer can read.
func (p *Provider) failure(ctx context.Context, err error, res *http.Response, model string) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("openai: %w", ctxErr)
	}
	var streamErr *ssestream.StreamError
	switch {
	case res != nil && res.StatusCode >= 400:
		return p.statusError(res.StatusCode, err, model)
	case res == nil:
		return lobby.Errorf(lobby.EUPSTREAM, "The model provider could not be reached; try again in a minute.")
	case errors.As(err, &streamErr):
		return lobby.Errorf(lobby.EUPSTREAM, "The model provider failed while answering; try again.")
	default:
		return lobby.Errorf(lobby.EUPSTREAM, "The model provider's answer broke off before it ended; try again.")
	}
}

// statusError is the EUPSTREAM for an HTTP error status, after any retries.
func (p *Provider) statusError(status int, err error, model string) error {
	var apiErr *sdk.Error
	errors.As(err, &apiErr) // nil when the body was not OpenAI's error object
	switch {
	case status == http.StatusUnauthorized:
		return lobby.Errorf(lobby.EUPSTREAM, "The model provider rejected the consultant's API key (HTTP 401); the consultant's operator must fix it.")
	case status == http.StatusForbidden:
		return lobby.Errorf(lobby.EUPSTREAM, "The model provider refused access to the model %q (HTTP 403); the consultant's operator must fix it.", model)
	case status == http.StatusTooManyRequests && apiErr != nil && apiErr.Code == "insufficient_quota":
		return lobby.Errorf(lobby.EUPSTREAM, "The consultant's account with the model provider has run out of credit (HTTP 429); its operator must top it up.")
	case status == http.StatusTooManyRequests:
		return lobby.Errorf(lobby.EUPSTREAM, "The model provider is rate limiting requests (HTTP 429); try again in a minute.")
	case status >= 500:
		return lobby.Errorf(lobby.EUPSTREAM, "The model provider is failing or overloaded (HTTP %d); try again in a minute.", status)
	case status == http.StatusNotFound:
		return lobby.Errorf(lobby.EUPSTREAM, "The model provider does not serve the model %q (HTTP 404)%s", model, p.says(apiErr))
	default:
		return lobby.Errorf(lobby.EUPSTREAM, "The model provider rejected the request (HTTP %d)%s", status, p.says(apiErr))
	}
}

// says is the provider's own explanation as the end of a sentence, or just a period
// when it gave none that reads as prose.
func (p *Provider) says(apiErr *sdk.Error) string {
	if apiErr == nil {
		return "."
	}
	msg := strings.Join(strings.Fields(apiErr.Message), " ")
	if p.apiKey != "" {
		msg = strings.ReplaceAll(msg, p.apiKey, "[redacted]")
	}
	if msg == "" || msg[0] == '{' || msg[0] == '[' { // JSON is no sentence
		return "."
	}
	if r := []rune(msg); len(r) > 300 {
		msg = string(r[:300]) + "…"
	}
	return ": " + strings.TrimSuffix(msg, ".") + "."
}
