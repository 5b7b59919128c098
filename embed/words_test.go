package embed_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/lobby-dev/lobby/embed"
)

// cosine of two L2-normalised vectors.
func cosine(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func embedAll(t testing.TB, e interface {
	Embed(context.Context, []string) ([][]float32, error)
}, texts ...string) [][]float32 {
	t.Helper()
	vs, err := e.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != len(texts) {
		t.Fatalf("%d vectors for %d texts", len(vs), len(texts))
	}
	return vs
}

func TestWords(t *testing.T) {
	t.Parallel()
	w := embed.Words{}
	if w.Model() != "lobby-words-100d" || w.Dimension() != 100 {
		t.Fatalf("Model %q, Dimension %d", w.Model(), w.Dimension())
	}

	t.Run("Synonyms", func(t *testing.T) {
		t.Parallel()
		pairs := []struct{ a, near, far string }{
			{"car", "automobile", "banana"},
			{"doctor", "physician", "guitar"},
			{"happy", "glad", "concrete"},
			{"buy", "purchase", "sleep"},
		}
		for _, p := range pairs {
			v := embedAll(t, w, p.a, p.near, p.far)
			if near, far := cosine(v[0], v[1]), cosine(v[0], v[2]); near <= far {
				t.Errorf("cos(%s, %s) = %.3f, not above cos(%s, %s) = %.3f", p.a, p.near, near, p.a, p.far, far)
			}
		}
	})

	t.Run("Sentences", func(t *testing.T) {
		t.Parallel()
		v := embedAll(t, w,
			"How do I get a refund for my order?",
			"Can I have my money back after a purchase?",
			"It will be sunny tomorrow with light rain in the evening.",
		)
		if near, far := cosine(v[0], v[1]), cosine(v[0], v[2]); near <= far {
			t.Errorf("refund vs money back %.3f, not above refund vs weather %.3f", near, far)
		}
	})

	t.Run("NormOne", func(t *testing.T) {
		t.Parallel()
		for _, v := range embedAll(t, w, "Hello, World!", "The CAFÉ in Zürich is OPEN", "42 apples", strings.Repeat("the ", 1000)) {
			var s float64
			for _, x := range v {
				s += float64(x) * float64(x)
			}
			if math.Abs(math.Sqrt(s)-1) > 1e-5 {
				t.Errorf("norm %f, want 1", math.Sqrt(s))
			}
		}
	})

	t.Run("Deterministic", func(t *testing.T) {
		t.Parallel()
		a := embedAll(t, w, "The quick brown fox jumps over the lazy dog.")
		b := embedAll(t, w, "the QUICK brown fox -- jumps over the lazy dog", "x")
		for i := range a[0] {
			if a[0][i] != b[0][i] {
				t.Fatalf("component %d: %v then %v", i, a[0][i], b[0][i])
			}
		}
	})

	t.Run("NoKnownWord", func(t *testing.T) {
		t.Parallel()
		for _, v := range embedAll(t, w, "", "   ...!?", "zxqvbnmw qqqqxyzzy") {
			if len(v) != 100 {
				t.Fatalf("length %d, want 100", len(v))
			}
			for _, x := range v {
				if x != 0 {
					t.Fatalf("got %v, want the zero vector", v)
				}
			}
		}
	})

	t.Run("NoTexts", func(t *testing.T) {
		t.Parallel()
		if v := embedAll(t, w); len(v) != 0 {
			t.Fatalf("got %d vectors", len(v))
		}
	})

	t.Run("Canceled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := w.Embed(ctx, []string{"a"}); err == nil {
			t.Fatal("no error for a canceled context")
		}
	})
}

// TestWordsLongInput is not parallel: AllocsPerRun refuses parallel tests.
func TestWordsLongInput(t *testing.T) {
	w := embed.Words{}
	text := strings.Repeat("Refunds are paid back to the card within five days.\n", 100_000)
	var v [][]float32
	allocs := testing.AllocsPerRun(1, func() { v = embedAll(t, w, text) })
	if allocs > 10 {
		t.Errorf("%v allocations for one long text", allocs)
	}
	short := embedAll(t, w, "Refunds are paid back to the card within five days.")
	if c := cosine(v[0], short[0]); c < 0.9999 {
		t.Errorf("cosine with one line %f, want 1", c)
	}
}

// chunk is about 1,000 characters of ordinary prose.
var chunk = strings.Repeat("Our refund policy lets customers return any product within thirty days of delivery for a full refund, no questions asked. ", 9)[:1000]

func BenchmarkWords(b *testing.B) {
	w := embed.Words{}
	texts := make([]string, 64)
	for i := range texts {
		texts[i] = chunk
	}
	embedAll(b, w, "warm up") // decode the table outside the timing
	b.ResetTimer()
	for b.Loop() {
		embedAll(b, w, texts...)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(texts)), "ns/chunk")
}
