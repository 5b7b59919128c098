// Package offline is the embedded inference provider: no network, no model, and the
// same answer to the same question. It answers from what the consultant has published
// — its profile and the passages of its knowledge base that retrieval found for the
// question — by quoting the one passage that shares the most words with the question,
// under its title, and it says plainly it is the offline provider. It is how a new
// user tries every feature with no account anywhere.
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

type sentence struct {
	text  string
	score float64
	order int
}

// Complete implements lobby.LLM.
func (p *Provider) Complete(ctx context.Context, req lobby.CompletionRequest, onDelta func(string)) (*lobby.Completion, error) {
	question := ""
	if n := len(req.Turns); n > 0 {
		question = req.Turns[n-1].Content
	}
	text, quoted := compose(question, req.Sources)
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
	return &lobby.Completion{Text: text, Model: Model, StopReason: "end_turn", Quoted: quoted,
		InputTokens: len(strings.Fields(req.System)) + len(strings.Fields(question)), OutputTokens: len(strings.Fields(text))}, nil
}

// compose answers from the one source that best matches the question — the
// consultant's profile or a retrieved passage — quoting up to three of its sentences
// that share words with the question, in their order. It returns the answer and the
// source it quotes (none when nothing matches).
func compose(question string, sources []lobby.Source) (string, []lobby.Source) {
	q := words(question)
	best, bestScore := -1, [2]float64{}
	var picked []sentence
	for i, src := range sources {
		var ss []sentence
		for _, text := range splitSentences(src.Text) {
			score := 0.0
			for word := range words(text) {
				if q[word] {
					score += 1 + float64(len(word))/10 // longer shared words say more
				}
			}
			ss = append(ss, sentence{text: text, score: score, order: len(ss)})
		}
		sort.SliceStable(ss, func(a, b int) bool { return ss[a].score > ss[b].score })
		ss = ss[:min(3, len(ss))]
		for len(ss) > 0 && ss[len(ss)-1].score == 0 {
			ss = ss[:len(ss)-1]
		}
		if len(ss) == 0 {
			continue
		}
		// The best sentence decides, then the three together; on a tie the source
		// given first (the better retrieved) wins.
		score := [2]float64{ss[0].score, 0}
		for _, s := range ss {
			score[1] += s.score
		}
		if score[0] > bestScore[0] || score[0] == bestScore[0] && score[1] > bestScore[1] {
			best, bestScore, picked = i, score, ss
		}
	}
	var b strings.Builder
	b.WriteString("(Offline reply: this server runs the offline provider, which calls no model and answers only from what the consultant has published.)\n\n")
	if best < 0 {
		b.WriteString("I have nothing published that matches your question")
		if len(sources) > 0 {
			fmt.Fprintf(&b, ". What I can tell you about myself: %s", firstSentences(sources[0].Text, 2))
		}
		b.WriteString("\n")
		return b.String(), []lobby.Source{}
	}
	sort.SliceStable(picked, func(i, j int) bool { return picked[i].order < picked[j].order })
	fmt.Fprintf(&b, "From %s:\n\n", sources[best].Title)
	for _, s := range picked {
		b.WriteString("> " + s.text + "\n")
	}
	return b.String(), []lobby.Source{sources[best]}
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
