// Package offline is the embedded inference provider: no network, no model, and the
// same answer to the same question. It answers from what the consultant has published
// — its profile and, once indexed, its knowledge — by picking the passages that share
// the most words with the question and composing them into a reply that says plainly
// it is the offline provider. It is how a new user tries every feature with no account
// anywhere.
package offline

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"github.com/lobby-dev/lobby"
)

// Model is the name offline replies carry as their model.
const Model = "offline"

// Provider answers without a model.
type Provider struct {
	// Chunk is how many characters each streamed piece has; 0 means 24.
	Chunk int
}

var _ lobby.LLM = (*Provider)(nil)

// Name implements lobby.LLM.
func (p *Provider) Name() string { return "offline" }

var sentenceEnd = regexp.MustCompile(`(?m)[.!?](\s+|$)|\n+`)

type passage struct {
	title, text string
	score       float64
	order       int
}

// Complete implements lobby.LLM.
func (p *Provider) Complete(ctx context.Context, req lobby.CompletionRequest, onDelta func(string)) (*lobby.Completion, error) {
	question := ""
	if n := len(req.Turns); n > 0 {
		question = req.Turns[n-1].Content
	}
	text := compose(question, req.Sources)
	chunk := p.Chunk
	if chunk <= 0 {
		chunk = 24
	}
	runes := []rune(text)
	for i := 0; i < len(runes); i += chunk {
		if err := ctx.Err(); err != nil {
			return &lobby.Completion{Text: string(runes[:i]), Model: Model}, err
		}
		onDelta(string(runes[i:min(i+chunk, len(runes))]))
	}
	return &lobby.Completion{Text: text, Model: Model, StopReason: "end_turn",
		InputTokens: len(strings.Fields(req.System)) + len(strings.Fields(question)), OutputTokens: len(strings.Fields(text))}, nil
}

// compose picks up to three sentences of the sources that best match the question.
func compose(question string, sources []lobby.Source) string {
	q := words(question)
	var ps []passage
	for _, s := range sources {
		for _, sentence := range splitSentences(s.Text) {
			w := words(sentence)
			score := 0.0
			for word := range w {
				if q[word] {
					score += 1 + float64(len(word))/10 // longer shared words say more
				}
			}
			ps = append(ps, passage{title: s.Title, text: sentence, score: score, order: len(ps)})
		}
	}
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].score > ps[j].score })
	var b strings.Builder
	b.WriteString("(Offline reply: this server runs the offline provider, which calls no model and answers only from what the consultant has published.)\n\n")
	if len(ps) == 0 || ps[0].score == 0 {
		b.WriteString("I have nothing published that matches your question")
		if len(sources) > 0 {
			fmt.Fprintf(&b, ". What I can tell you about myself: %s", firstSentences(sources[0].Text, 2))
		}
		b.WriteString("\n")
		return b.String()
	}
	picked := ps[:min(3, len(ps))]
	for len(picked) > 1 && picked[len(picked)-1].score == 0 {
		picked = picked[:len(picked)-1]
	}
	sort.SliceStable(picked, func(i, j int) bool { return picked[i].order < picked[j].order })
	fmt.Fprintf(&b, "From %s:\n", picked[0].title)
	for _, p := range picked {
		b.WriteString("- " + p.text + "\n")
	}
	return b.String()
}

func splitSentences(text string) []string {
	var out []string
	last := 0
	for _, loc := range sentenceEnd.FindAllStringIndex(text, -1) {
		if s := strings.TrimSpace(text[last:loc[1]]); s != "" {
			out = append(out, s)
		}
		last = loc[1]
	}
	if s := strings.TrimSpace(text[last:]); s != "" {
		out = append(out, s)
	}
	return out
}

func firstSentences(text string, n int) string {
	s := splitSentences(text)
	return strings.Join(s[:min(n, len(s))], " ")
}

// stopWords are too common to say what a question is about.
var stopWords = map[string]bool{
	"the": true, "and": true, "for": true, "are": true, "you": true, "your": true, "with": true, "what": true,
	"how": true, "can": true, "this": true, "that": true, "about": true, "from": true, "have": true, "does": true,
	"who": true, "why": true, "when": true, "which": true, "will": true, "would": true, "should": true, "could": true,
	"tell": true, "please": true, "into": true, "there": true, "their": true, "them": true, "they": true, "more": true,
}

func words(s string) map[string]bool {
	w := map[string]bool{}
	for _, f := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if len(f) >= 3 && !stopWords[f] {
			w[strings.TrimSuffix(f, "s")] = true
		}
	}
	return w
}
