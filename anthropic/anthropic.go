// Package anthropic is the inference provider for Anthropic's Messages API, through the
// official SDK. The SDK retries rate limits, overload and server errors itself,
// honouring Retry-After; this package adds one retry the SDK cannot make: a stream that
// fails before its first piece of text.
package anthropic

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"

	"github.com/lobby-dev/lobby"
)

// Defaults of Config.
const (
	DefaultModel      = sdk.ModelClaudeSonnet5_5
	DefaultMaxTokens  = 1024
	DefaultMaxRetries = 3
)

// Config configures a Provider.
type Config struct {
	APIKey     string       // required
	BaseURL    string       // "" means Anthropic's API
	Model      string       // used when a request names none; "" means DefaultModel
	MaxTokens  int          // used when a request sets none; 0 means DefaultMaxTokens
	MaxRetries int          // retries after the first attempt; 0 means DefaultMaxRetries, negative none
	HTTPClient *http.Client // nil means http.DefaultClient
}

// Provider asks a Claude model through Anthropic's Messages API.
type Provider struct {
	messages   sdk.MessageService
	apiKey     string
	model      string
	maxTokens  int
	maxRetries int
	backoff    time.Duration // the first wait before retrying a stream that failed early
}

var _ lobby.LLM = (*Provider)(nil)

// New returns a provider for cfg; it reads no environment variables.
func New(cfg Config) (*Provider, error) {
	if cfg.APIKey == "" {
		return nil, errors.New("anthropic: an API key is needed; set ANTHROPIC_API_KEY")
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
	opts := []option.RequestOption{
		// Without it the SDK would read ANTHROPIC_BASE_URL, ANTHROPIC_CUSTOM_HEADERS and more.
		option.WithoutEnvironmentDefaults(),
		option.WithAPIKey(cfg.APIKey),
		option.WithMaxRetries(cfg.MaxRetries),
	}
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	client := sdk.NewClient(opts...)
	return &Provider{
		messages:   client.Messages,
		apiKey:     cfg.APIKey,
		model:      cfg.Model,
		maxTokens:  cfg.MaxTokens,
		maxRetries: cfg.MaxRetries,
		backoff:    500 * time.Millisecond,
	}, nil
}

// Name implements lobby.LLM.
func (p *Provider) Name() string { return "anthropic" }

// Complete implements lobby.LLM.
func (p *Provider) Complete(ctx context.Context, req lobby.CompletionRequest, onDelta func(string)) (*lobby.Completion, error) {
	params, err := p.params(req)
	if err != nil {
		return nil, err
	}
	if onDelta == nil {
		onDelta = func(string) {}
	}
	for attempt := 0; ; attempt++ {
		c, streamed, err := p.stream(ctx, params, onDelta)
		switch {
		case err == nil:
			return c, nil
		case ctx.Err() != nil:
			return c, fmt.Errorf("anthropic: %w", ctx.Err())
		case !streamed || c.Text != "" || attempt >= p.maxRetries || !retryable(err):
			return c, p.failure(err, c.Text != "")
		}
		select {
		case <-ctx.Done():
			return c, fmt.Errorf("anthropic: %w", ctx.Err())
		case <-time.After(p.backoff << min(attempt, 4)):
		}
	}
}

// params builds the Messages API request for req.
func (p *Provider) params(req lobby.CompletionRequest) (sdk.MessageNewParams, error) {
	params := sdk.MessageNewParams{Model: req.Model, MaxTokens: int64(req.MaxTokens)}
	if params.Model == "" {
		params.Model = p.model
	}
	if params.MaxTokens <= 0 {
		params.MaxTokens = int64(p.maxTokens)
	}
	if req.System != "" {
		params.System = []sdk.TextBlockParam{{Text: req.System}}
	}
	for _, t := range req.Turns {
		switch t.Role {
		case lobby.TurnUser:
			params.Messages = append(params.Messages, sdk.NewUserMessage(sdk.NewTextBlock(t.Content)))
		case lobby.TurnAssistant:
			params.Messages = append(params.Messages, sdk.NewAssistantMessage(sdk.NewTextBlock(t.Content)))
		default:
			return sdk.MessageNewParams{}, fmt.Errorf("anthropic: turn role %q is neither user nor assistant", t.Role)
		}
	}
	return params, nil
}

// stream makes one streaming request, after the SDK's own retries, and reads it to the
// end. streamed reports whether the API accepted the request, so that err, if any, came
// from the stream.
func (p *Provider) stream(ctx context.Context, params sdk.MessageNewParams, onDelta func(string)) (c *lobby.Completion, streamed bool, err error) {
	var res *http.Response
	stream := p.messages.NewStreaming(ctx, params, option.WithResponseInto(&res))
	defer stream.Close()

	var msg sdk.Message
	var text strings.Builder
	stopped := false
	for stream.Next() {
		event := stream.Current()
		if err = msg.Accumulate(event); err != nil {
			break
		}
		switch {
		case event.Type == "content_block_delta" && event.Delta.Type == "text_delta" && event.Delta.Text != "":
			text.WriteString(event.Delta.Text)
			onDelta(event.Delta.Text)
		case event.Type == "message_stop":
			stopped = true
		}
	}
	if err == nil {
		err = stream.Err()
	}
	if err == nil && !stopped {
		err = errTruncated // the stream ended cleanly, but before message_stop
	}

	c = &lobby.Completion{
		Text:       text.String(),
		Model:      params.Model,
		StopReason: string(msg.StopReason),
		// Input tokens are counted in three parts; the whole prompt is their sum.
		InputTokens:  int(msg.Usage.InputTokens + msg.Usage.CacheCreationInputTokens + msg.Usage.CacheReadInputTokens),
		OutputTokens: int(msg.Usage.OutputTokens),
	}
	if msg.Model != "" {
		c.Model = msg.Model
	}
	return c, res != nil && res.StatusCode < 300, err
}

var errTruncated = errors.New("anthropic: the stream ended before message_stop")

// retryable reports whether a stream that failed with err before any text is worth
// asking again: a dropped connection, or an error event saying the API is overloaded,
// rate limited or failing.
func retryable(err error) bool {
	var apiErr *sdk.Error
	if !errors.As(err, &apiErr) {
		return true
	}
	switch apiErr.Type() {
	case sdk.ErrorTypeOverloadedError, sdk.ErrorTypeRateLimitError, sdk.ErrorTypeAPIError, sdk.ErrorTypeTimeoutError:
		return true
	}
	return false
}

// failure is the EUPSTREAM a buyer reads for err, once nothing is left to retry; cut
// says whether part of the reply had already streamed.
func (p *Provider) failure(err error, cut bool) error {
	outcome := "the reply could not be produced"
	if cut {
		outcome = "the reply was cut off"
	}
	var apiErr *sdk.Error
	if !errors.As(err, &apiErr) {
		return later(lobby.Errorf(lobby.EUPSTREAM, "The connection to the model provider failed; %s. Try again in a minute.", outcome))
	}
	status := ""
	if apiErr.StatusCode >= 400 { // an error event in a stream comes with the stream's 200
		status = fmt.Sprintf(" (HTTP %d)", apiErr.StatusCode)
	}
	switch typ := apiErr.Type(); {
	case typ == sdk.ErrorTypeOverloadedError || apiErr.StatusCode == 529:
		return later(lobby.Errorf(lobby.EUPSTREAM, "The model provider is overloaded%s; %s. Try again in a minute.", status, outcome))
	case typ == sdk.ErrorTypeRateLimitError || apiErr.StatusCode == http.StatusTooManyRequests:
		return later(lobby.Errorf(lobby.EUPSTREAM, "The model provider is rate limiting requests%s; %s. Try again in a minute.", status, outcome))
	case typ == sdk.ErrorTypeAuthenticationError || apiErr.StatusCode == http.StatusUnauthorized:
		return lobby.Errorf(lobby.EUPSTREAM, "The model provider rejected the consultant's API key%s; %s. The consultant's operator must fix it.", status, outcome)
	case typ == sdk.ErrorTypeBillingError || apiErr.StatusCode == http.StatusPaymentRequired:
		return lobby.Errorf(lobby.EUPSTREAM, "The consultant's account with the model provider has a billing problem%s; %s. Its operator must fix it.", status, outcome)
	case typ == sdk.ErrorTypePermissionError || apiErr.StatusCode == http.StatusForbidden:
		return lobby.Errorf(lobby.EUPSTREAM, "The model provider refused the consultant access%s; %s. The consultant's operator must fix it.", status, outcome)
	case typ == sdk.ErrorTypeAPIError || typ == sdk.ErrorTypeTimeoutError || apiErr.StatusCode >= 500:
		return later(lobby.Errorf(lobby.EUPSTREAM, "The model provider failed%s; %s. Try again in a minute.", status, outcome))
	default:
		return lobby.Errorf(lobby.EUPSTREAM, "The model provider rejected the request%s%s", status, p.says(apiErr))
	}
}

// later sets e's RetryAfter to the minute its message asks the buyer to wait.
func later(e *lobby.Error) *lobby.Error {
	e.RetryAfter = time.Minute
	return e
}

// says is the provider's own explanation as the end of a sentence, or just a period
// when it gave none that reads as prose.
func (p *Provider) says(apiErr *sdk.Error) string {
	msg := strings.Join(strings.Fields(apiErr.Message), " ")
	msg = strings.ReplaceAll(msg, p.apiKey, "[redacted]")
	if msg == "" || strings.ContainsAny(msg[:1], "{[") {
		return "."
	}
	if r := []rune(msg); len(r) > 300 {
		msg = string(r[:300]) + "…"
	}
	return ": " + strings.TrimSuffix(msg, ".") + "."
}
