package embed_test

import (
	"testing"

	"github.com/lobby-dev/lobby/embed"
)

func TestHashed(t *testing.T) {
	t.Parallel()
	h := embed.NewHashed(64)
	if h.Model() != "hashed-64" || h.Dimension() != 64 {
		t.Fatalf("Model %q, Dimension %d", h.Model(), h.Dimension())
	}
	v := embedAll(t, h, "Refund my order", "refund MY order!", "weather tomorrow", "")
	if c := cosine(v[0], v[1]); c < 0.9999 {
		t.Errorf("same words, cosine %f, want 1", c)
	}
	if c := cosine(v[0], v[2]); c > 0.5 {
		t.Errorf("other words, cosine %f", c)
	}
	for _, x := range v[3] {
		if x != 0 {
			t.Fatalf("empty text got %v, want the zero vector", v[3])
		}
	}
}
