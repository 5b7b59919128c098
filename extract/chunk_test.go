package extract

import (
	"strings"
	"testing"
	"unicode/utf8"
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

func TestChunksOverlapAndRoundTrip(t *testing.T) {
	t.Parallel()
	md := "# Ünïcode\n\n" + strings.Repeat("Größe und Übermaß sind wichtig ", 200) + "\n\n" + strings.Repeat("wordwithoutspaces", 100)
	cs := Chunks(md)
	if len(cs) < 3 {
		t.Fatalf("%d chunks", len(cs))
	}
	all := ""
	for i, c := range cs {
		if !utf8.ValidString(c.Text) || len(c.Text) > chunkMax {
			t.Errorf("chunk %d: %d bytes, valid %v", i, len(c.Text), utf8.ValidString(c.Text))
		}
		if i > 0 && i < len(cs)-1 && !strings.HasPrefix(c.Text, tail(cs[i-1].Text, chunkOverlap)) {
			t.Errorf("chunk %d does not start with the end of chunk %d", i, i-1)
		}
		all += " " + c.Heading + " " + c.Text
	}
	for _, w := range strings.Fields(md) {
		if w != "#" && !strings.Contains(all, w) && !strings.Contains(w, "wordwithoutspaces") {
			t.Errorf("word %q lost", w)
		}
	}
}
