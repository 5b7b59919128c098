package extract

import (
	"strings"
	"testing"
)

func TestChunks(t *testing.T) {
	t.Parallel()
	md := "# Guide\n\nIntro.\n\n## Setup\n\n" + strings.Repeat("Install the tool first. ", 150) + "\n\n### Linux\n\nUse apt.\n\n## Use\n\nRun it."
	cs := Chunks(md)
	want := map[string]bool{"Guide": true, "Guide > Setup": true, "Guide > Setup > Linux": true, "Guide > Use": true}
	for i, c := range cs {
		if c.Position != i || strings.TrimSpace(c.Text) == "" || len(c.Text) > chunkMax {
			t.Errorf("chunk %d: position %d, %d bytes", i, c.Position, len(c.Text))
		}
		delete(want, c.Heading)
	}
	if len(want) > 0 {
		t.Errorf("headings missing: %v", want)
	}
}

func BenchmarkChunks(b *testing.B) {
	md := strings.Repeat("One line of text that repeats.\n", 100000)
	for b.Loop() {
		Chunks(md)
	}
}
