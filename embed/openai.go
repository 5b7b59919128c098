package embed

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/lobby-dev/lobby"
	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// DefaultBatchSize is how many texts OpenAI sends in one request unless told.
const DefaultBatchSize = 64

// OpenAIConfig configures an OpenAI embedder.
type OpenAIConfig struct {
	BaseURL    string       // the API's root, "https://api.openai.com/v1"
	APIKey     string       // may be empty for local servers
	Model      string       // "text-embedding-3-small"
	HTTPClient *http.Client // nil means http.DefaultClient; pass the egress-filtered one
	Dimension  int          // 0 means learnt from the first response
	BatchSize  int          // texts a request; 0 means DefaultBatchSize
}

// OpenAI embeds texts through an OpenAI-compatible /v1/embeddings API, leaving retries
// of 429 and 5xx to the official SDK. It is safe for concurrent use.
type OpenAI struct {
	svc sdk.EmbeddingService
	cfg OpenAIConfig
	dim atomic.Int64
}

var _ lobby.Embedder = (*OpenAI)(nil)

// NewOpenAI returns an embedder for cfg; it reads no environment variables.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	if cfg.BaseURL == "" || cfg.Model == "" {
		return nil, errors.New("embed: an embeddings API needs a base URL and a model")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	opts := []option.RequestOption{
		option.WithBaseURL(cfg.BaseURL),
		option.WithAPIKey(cfg.APIKey),
		option.WithMaxRetries(3),
	}
	if cfg.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(cfg.HTTPClient))
	}
	e := &OpenAI{svc: sdk.NewEmbeddingService(opts...), cfg: cfg}
	e.dim.Store(int64(cfg.Dimension))
	return e, nil
}

// Model implements lobby.Embedder.
func (e *OpenAI) Model() string { return e.cfg.Model }

// Dimension implements lobby.Embedder; 0 until the first response when not configured.
func (e *OpenAI) Dimension() int { return int(e.dim.Load()) }

// Embed implements lobby.Embedder.
func (e *OpenAI) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for start := 0; start < len(texts); start += e.cfg.BatchSize {
		batch := texts[start:min(start+e.cfg.BatchSize, len(texts))]
		var res *http.Response
		r, err := e.svc.New(ctx, sdk.EmbeddingNewParams{
			Model: e.cfg.Model,
			Input: sdk.EmbeddingNewParamsInputUnion{OfArrayOfStrings: batch},
		}, option.WithResponseInto(&res))
		if err != nil {
			return nil, e.failure(ctx, err, res)
		}
		if len(r.Data) != len(batch) {
			return nil, lobby.Errorf(lobby.EUPSTREAM, "The embeddings API returned %d vectors for %d texts.", len(r.Data), len(batch))
		}
		for _, d := range r.Data {
			if d.Index < 0 || int(d.Index) >= len(batch) || out[start+int(d.Index)] != nil {
				return nil, lobby.Errorf(lobby.EUPSTREAM, "The embeddings API returned a vector of index %d for %d texts.", d.Index, len(batch))
			}
			dim := int(e.dim.Load())
			if dim == 0 {
				e.dim.CompareAndSwap(0, int64(len(d.Embedding)))
				dim = int(e.dim.Load())
			}
			if len(d.Embedding) != dim {
				return nil, lobby.Errorf(lobby.EUPSTREAM, "The embeddings API returned a vector of %d dimensions; the model %q has %d.", len(d.Embedding), e.cfg.Model, dim)
			}
			v := make([]float32, dim)
			for i, x := range d.Embedding {
				v[i] = float32(x)
			}
			normalize(v)
			out[start+int(d.Index)] = v
		}
	}
	return out, nil
}

// failure turns what went wrong into ctx's error or an EUPSTREAM an owner can read.
func (e *OpenAI) failure(ctx context.Context, err error, res *http.Response) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("embed: %w", ctxErr)
	}
	var apiErr *sdk.Error
	switch {
	case res == nil:
		return lobby.Errorf(lobby.EUPSTREAM, "The embeddings API could not be reached; try again in a minute.")
	case res.StatusCode == http.StatusUnauthorized:
		return lobby.Errorf(lobby.EUPSTREAM, "The embeddings API rejected its API key (HTTP 401); the operator must fix it.")
	case res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500:
		return lobby.Errorf(lobby.EUPSTREAM, "The embeddings API is rate limiting or failing (HTTP %d); try again in a minute.", res.StatusCode)
	case errors.As(err, &apiErr) && apiErr.Message != "":
		msg := apiErr.Message
		if e.cfg.APIKey != "" {
			msg = strings.ReplaceAll(msg, e.cfg.APIKey, "[redacted]")
		}
		return lobby.Errorf(lobby.EUPSTREAM, "The embeddings API rejected the request (HTTP %d): %s", res.StatusCode, msg)
	default:
		return lobby.Errorf(lobby.EUPSTREAM, "The embeddings API rejected the request (HTTP %d).", res.StatusCode)
	}
}
