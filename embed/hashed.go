package embed

import (
	"context"
	"hash/fnv"
	"strconv"
	"strings"
	"unicode"

	"github.com/lobby-dev/lobby"
)

// Hashed is a deterministic embedder for tests: each lowercase word of letters and
// digits adds ±1 to one of dim buckets, both chosen by the word's FNV-1a hash. Texts
// sharing words are near; meaning plays no part. A text without words gets the zero
// vector.
type Hashed struct{ dim int }

var _ lobby.Embedder = (*Hashed)(nil)

// NewHashed returns a Hashed embedder of dim dimensions; dim below 1 means 1.
func NewHashed(dim int) *Hashed { return &Hashed{dim: max(dim, 1)} }

// Model implements lobby.Embedder: "hashed-<dim>".
func (h *Hashed) Model() string { return "hashed-" + strconv.Itoa(h.dim) }

// Dimension implements lobby.Embedder.
func (h *Hashed) Dimension() int { return h.dim }

// Embed implements lobby.Embedder; it never fails but when ctx is done.
func (h *Hashed) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, text := range texts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		v := make([]float32, h.dim)
		words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r)
		})
		for _, w := range words {
			f := fnv.New64a()
			f.Write([]byte(w))
			sum := f.Sum64()
			sign := float32(1)
			if sum>>63 == 1 {
				sign = -1
			}
			v[sum%uint64(h.dim)] += sign
		}
		normalize(v)
		out[i] = v
	}
	return out, nil
}
