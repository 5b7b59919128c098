package offline

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/lobby-dev/lobby"
)

var _ lobby.Summarizer = (*Provider)(nil)

// maxSummaryLine is how many characters of a turn the extractive summary keeps.
const maxSummaryLine = 240

// Summarize implements lobby.Summarizer, extractively: a line per turn with its side
// and its first sentence (an offline reply's first passage), after the previous
// summary's lines; the oldest lines go once it is over maxTokens.
func (p *Provider) Summarize(ctx context.Context, previous string, turns []lobby.Turn, maxTokens int) (string, error) {
	var lines []string
	for _, l := range strings.Split(previous, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	for _, t := range turns {
		who := "Buyer"
		if t.Role == lobby.TurnAssistant {
			who = "Consultant"
		}
		if s := gist(t.Content); s != "" {
			lines = append(lines, who+": "+s)
		}
	}
	size := 0
	start := len(lines)
	for start > 0 {
		// Tokens estimated as the prompt package does: a token per four characters.
		cost := (utf8.RuneCountInString(lines[start-1]) + 4) / 4
		if size+cost > maxTokens {
			break
		}
		size += cost
		start--
	}
	return strings.Join(lines[start:], "\n"), ctx.Err()
}

// gist is a turn's first sentence that says something: not an offline reply's notice
// nor its "From ..." line, without its quote mark, on one line, at most maxSummaryLine characters.
func gist(content string) string {
	for _, s := range splitSentences(content) {
		s = strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(s, "- "), "> ")) // a quoted passage's line
		if s == "" || strings.HasPrefix(s, "(Offline reply") || strings.HasPrefix(s, "From ") && strings.HasSuffix(s, ":") {
			continue
		}
		s = strings.Join(strings.Fields(s), " ")
		if r := []rune(s); len(r) > maxSummaryLine {
			s = string(r[:maxSummaryLine]) + "…"
		}
		return s
	}
	return ""
}
