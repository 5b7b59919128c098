package prompt

import (
	"hash/fnv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// GuardWindow is how many consecutive words of the protected text a reply may repeat;
// a run this long is redacted.
const GuardWindow = 8

// RedactedReply stands in a reply for a run of words that reproduced the system prompt.
const RedactedReply = "[redacted: this part repeated the consultant's private instructions]"

// Guard redacts, from a reply as it streams, every run of GuardWindow or more words
// that the protected text (the system prompt) also contains, in order. It holds back
// the last GuardWindow-1 words until it knows they start no such run, so nothing that
// must be redacted is ever let out. Words compare by their letters and digits, ignoring
// case and punctuation.
type Guard struct {
	window    int
	shingles  map[uint64]bool
	partial   strings.Builder // the word being written
	pending   []guardWord     // held back
	out       strings.Builder // everything let out
	redacting bool            // the last word let out was redacted
}

type guardWord struct {
	raw      string // with its trailing space
	norm     string
	redacted bool
}

// NewGuard returns a guard that protects text.
func NewGuard(text string) *Guard {
	g := &Guard{window: GuardWindow, shingles: map[uint64]bool{}}
	var words []string
	for _, w := range strings.Fields(text) {
		if n := normalize(w); n != "" {
			words = append(words, n)
		}
	}
	if len(words) < g.window {
		g.window = max(len(words), 4) // a short prompt is protected whole
	}
	for i := 0; i+g.window <= len(words); i++ {
		g.shingles[shingle(words[i:i+g.window])] = true
	}
	return g
}

func normalize(w string) string {
	return strings.ToLower(strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }))
}

func shingle(words []string) uint64 {
	h := fnv.New64a()
	for _, w := range words {
		h.Write([]byte(w))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// Write takes the next piece of the reply and returns what may be shown now.
func (g *Guard) Write(piece string) string {
	start := g.out.Len()
	for _, r := range piece {
		if unicode.IsSpace(r) {
			g.partial.WriteRune(r)
			continue
		}
		if last, _ := utf8.DecodeLastRuneInString(g.partial.String()); g.partial.Len() > 0 && unicode.IsSpace(last) {
			g.push(g.partial.String())
			g.partial.Reset()
		}
		g.partial.WriteRune(r)
	}
	return g.out.String()[start:]
}

// Flush ends the reply and returns the rest that may be shown.
func (g *Guard) Flush() string {
	start := g.out.Len()
	if g.partial.Len() > 0 {
		g.push(g.partial.String())
		g.partial.Reset()
	}
	for len(g.pending) > 0 {
		g.emit()
	}
	return g.out.String()[start:]
}

// Text is everything the guard has let out.
func (g *Guard) Text() string { return g.out.String() }

func (g *Guard) push(raw string) {
	w := guardWord{raw: raw, norm: normalize(raw)}
	g.pending = append(g.pending, w)
	if w.norm == "" {
		return
	}
	// The last window of real words, ending with this one.
	var norms []string
	var idx []int
	for i := len(g.pending) - 1; i >= 0 && len(norms) < g.window; i-- {
		if g.pending[i].norm != "" {
			norms = append(norms, g.pending[i].norm)
			idx = append(idx, i)
		}
	}
	if len(norms) == g.window {
		for l, r := 0, len(norms)-1; l < r; l, r = l+1, r-1 {
			norms[l], norms[r] = norms[r], norms[l]
		}
		if g.shingles[shingle(norms)] {
			for _, i := range idx {
				g.pending[i].redacted = true
			}
			for i := idx[len(idx)-1]; i < len(g.pending); i++ {
				g.pending[i].redacted = true // punctuation between them too
			}
		}
	}
	for g.realWords() >= g.window {
		g.emit()
	}
}

func (g *Guard) realWords() int {
	n := 0
	for _, w := range g.pending {
		if w.norm != "" {
			n++
		}
	}
	return n
}

// emit lets the oldest held-back word out, or the redaction marker for it.
func (g *Guard) emit() {
	w := g.pending[0]
	g.pending = g.pending[1:]
	if !w.redacted {
		g.redacting = false
		g.out.WriteString(w.raw)
		return
	}
	if !g.redacting {
		g.out.WriteString(RedactedReply)
		if trailing := w.raw[len(strings.TrimRightFunc(w.raw, unicode.IsSpace)):]; trailing != "" {
			g.out.WriteString(" ")
		}
		g.redacting = true
	}
}
