package prompt

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// GuardWindow is how many words of the protected text, in order, a reply may repeat;
// a run this long is redacted. Words are compared normalised, and filler words in the
// reply between them do not break a run (see Guard).
const GuardWindow = 8

// RedactedReply stands in a reply for a run of words that reproduced the system prompt.
const RedactedReply = "[redacted: this part repeated the consultant's private instructions]"

const (
	// guardMinWords is the fewest words a part of the protected text shorter than
	// GuardWindow must have to be protected whole. One or two words ("Be brief.")
	// cannot be told from an ordinary reply.
	guardMinWords = 3
	// guardMaxGap is how many foreign words in a row a reply may put between two
	// words of the protected text and still be copying it: two inserted around a
	// filler of the protected text, and one more.
	guardMaxGap = 3
	// guardMaxRuns bounds the copies followed at once, so a reply repeating the
	// protected text's commonest words cannot slow the guard down.
	guardMaxRuns = 256
	// guardMaxJoin bounds how many pieces of one written word are tried as one word.
	guardMaxJoin = 24
)

// Guard redacts, from a reply as it streams, every run of words that repeats the
// protected text (the system prompt and the footer) in order: GuardWindow words, or the
// whole of a part shorter than that (a short system prompt before the footer) when it
// has at least three. It holds back only the words that might still turn out to be
// part of such a run, so nothing that must be redacted is ever let out, and an ordinary
// reply passes unchanged and almost at once.
//
// Both texts are normalised before they are compared, so that what a reader (or a
// model) reads as the same words is the same:
//   - Unicode NFKC: fullwidth and mathematical letters, ligatures and other
//     compatibility forms become plain ones (ｎｅｖｅｒ, 𝐧𝐞𝐯𝐞𝐫 → never);
//   - combining marks left after NFKC are dropped (n̶e̶v̶e̶r̶ → never);
//   - the Cyrillic and Greek letters that look Latin fold to it (a small table,
//     confusables below, not the whole of Unicode's confusables list), then lower case;
//   - a word is its runs of letters and digits; everything else inside it — dots,
//     hyphens, apostrophes, zero-width and other format characters (unicode.Cf) —
//     splits it, and the pieces are joined again where they spell a word of the
//     protected text (n.e.v.e.r, ne-ver, nev\u200ber → never) and left apart where they
//     spell several (never-quote-prices → never quote prices);
//   - filler words (a, the, um, like, ... see fillers) are skipped, and up to
//     guardMaxGap other words in a row between two copied ones do not break the run.
//
// Not caught: a copy that drops or reorders words, paraphrases, translates, or spells
// words with spaces between their letters.
type Guard struct {
	words []string         // the protected text's words, normalised, fillers left out
	at    map[string][]int // where each word occurs in words
	known map[string]bool  // every normalised word of the protected text, to rejoin pieces
	need  []int            // how long a run starting at words[i] must be to be redacted
	runs  []guardRun       // the copies in progress

	carry     []byte          // the start of a character split between two pieces
	partial   strings.Builder // the word being written
	pending   []guardWord     // held back; pending[0] is word number base of the reply
	base      int
	out       strings.Builder // everything let out
	redacting bool            // the last word let out was redacted
	pieces    []string        // scratch for fold
}

// guardRun is a copy of words[start:next] in the reply, found so far.
type guardRun struct {
	start, next int
	gap         int // foreign words since the last copied one
	first, last int // the reply's words holding the first and the last copied word
	marked      int // the reply's words up to here are marked redacted
}

type guardWord struct {
	raw      string // with its trailing space
	redacted bool
}

// NewGuard returns a guard that protects text. If text holds the Footer, the part
// before it (the system prompt) is protected whole even when it is short.
func NewGuard(text string) *Guard {
	g := &Guard{at: map[string][]int{}, known: map[string]bool{}}
	parts := []string{text}
	if i := strings.Index(text, Footer); i >= 0 {
		parts = []string{text[:i], text[i:]}
	}
	for _, part := range parts {
		from := len(g.words)
		for _, raw := range strings.Fields(part) {
			for _, w := range fold(raw, nil) {
				g.known[w] = true
				if !fillers[w] {
					g.words = append(g.words, w)
				}
			}
		}
		n := len(g.words) - from
		need := GuardWindow
		if n < GuardWindow && n >= guardMinWords {
			need = n // a short part is protected whole
		}
		for range n {
			g.need = append(g.need, need)
		}
	}
	for i, w := range g.words {
		g.at[w] = append(g.at[w], i)
	}
	return g
}

// fillers are the words a copy may add or drop anywhere without it being any less a copy.
var fillers = map[string]bool{}

func init() {
	for _, w := range strings.Fields("a an the and or um umm uh uhh er erm hmm ah oh like so well basically literally actually really just very quite okay ok yeah") {
		fillers[w] = true
	}
}

// confusables are the Cyrillic and Greek letters that look like Latin ones, by the
// letter they look like. Upper-case forms are listed where their lower case does not
// look the same (Greek Ν is N, ν is v).
var confusables = map[rune]rune{
	// Cyrillic
	'а': 'a', 'А': 'a', 'в': 'b', 'В': 'b', 'с': 'c', 'С': 'c', 'ԁ': 'd', 'Ԁ': 'd', 'е': 'e', 'Е': 'e', 'ё': 'e', 'Ё': 'e',
	'һ': 'h', 'Һ': 'h', 'н': 'h', 'Н': 'h', 'і': 'i', 'І': 'i', 'ї': 'i', 'Ї': 'i', 'ј': 'j', 'Ј': 'j', 'к': 'k', 'К': 'k',
	'ӏ': 'l', 'Ӏ': 'l', 'м': 'm', 'М': 'm', 'о': 'o', 'О': 'o', 'р': 'p', 'Р': 'p', 'ԛ': 'q', 'Ԛ': 'q', 'ѕ': 's', 'Ѕ': 's',
	'т': 't', 'Т': 't', 'у': 'y', 'У': 'y', 'ү': 'y', 'Ү': 'y', 'ԝ': 'w', 'Ԝ': 'w', 'х': 'x', 'Х': 'x',
	// Greek
	'α': 'a', 'Α': 'a', 'Β': 'b', 'β': 'b', 'ϲ': 'c', 'Ϲ': 'c', 'ε': 'e', 'Ε': 'e', 'Ζ': 'z', 'Η': 'h', 'ι': 'i', 'Ι': 'i',
	'κ': 'k', 'Κ': 'k', 'Μ': 'm', 'Ν': 'n', 'ν': 'v', 'ο': 'o', 'Ο': 'o', 'ρ': 'p', 'Ρ': 'p', 'τ': 't', 'Τ': 't',
	'υ': 'u', 'Υ': 'y', 'χ': 'x', 'Χ': 'x', 'ω': 'w',
	// Latin look-alikes NFKC keeps
	'ı': 'i', 'ȷ': 'j', 'ɑ': 'a', 'ɡ': 'g', 'ʏ': 'y',
}

// foldRune is r normalised as a letter is (see Guard), or -1 for a combining mark.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	if unicode.In(r, unicode.Mn, unicode.Me) {
		return -1
	}
	if c, ok := confusables[r]; ok {
		return c
	}
	return unicode.ToLower(r)
}

// fold appends to pieces the runs of letters and digits of the written word raw,
// normalised (see Guard).
func fold(raw string, pieces []string) []string {
	ascii := true
	for i := 0; i < len(raw); i++ {
		if raw[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if !ascii {
		raw = norm.NFKC.String(raw)
	}
	var b strings.Builder
	for _, r := range raw {
		switch r = foldRune(r); {
		case r < 0:
		case r < utf8.RuneSelf && ('a' <= r && r <= 'z' || '0' <= r && r <= '9'), r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			b.WriteRune(r)
		case b.Len() > 0:
			pieces = append(pieces, b.String())
			b = strings.Builder{}
		}
	}
	if b.Len() > 0 {
		pieces = append(pieces, b.String())
	}
	return pieces
}

// Write takes the next piece of the reply and returns what may be shown now. A
// character split between two pieces is put together.
func (g *Guard) Write(piece string) string {
	start := g.out.Len()
	if len(g.carry) > 0 {
		piece = string(g.carry) + piece
		g.carry = g.carry[:0]
	}
	for i := len(piece) - 1; i >= 0 && i >= len(piece)-utf8.UTFMax; i-- {
		if utf8.RuneStart(piece[i]) {
			if !utf8.FullRuneInString(piece[i:]) {
				g.carry = append(g.carry, piece[i:]...)
				piece = piece[:i]
			}
			break
		}
	}
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
	if len(g.carry) > 0 {
		g.partial.Write(g.carry)
		g.carry = g.carry[:0]
	}
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

// push takes the reply's next written word, with its trailing space, and lets out the
// words no copy in progress can reach any more.
func (g *Guard) push(raw string) {
	n := g.base + len(g.pending)
	g.pending = append(g.pending, guardWord{raw: raw})
	g.pieces = fold(raw, g.pieces[:0])
	for _, w := range g.join(g.pieces) {
		if !fillers[w] {
			g.step(w, n)
		}
	}
	hold := n + 1
	for _, r := range g.runs {
		if r.next-r.start >= g.need[r.start] {
			hold = min(hold, r.last+1)
		} else {
			hold = min(hold, r.first)
		}
	}
	for g.base < hold {
		g.emit()
	}
}

// join puts the pieces of one written word back together where they spell a word of
// the protected text, longest first; pieces that spell none stay one word.
func (g *Guard) join(pieces []string) []string {
	if len(pieces) <= 1 {
		return pieces
	}
	var words []string
	unknown := -1 // where the pieces that spell nothing known start
	for i := 0; i < len(pieces); {
		j := min(len(pieces), i+guardMaxJoin)
		for ; j > i; j-- {
			if g.known[strings.Join(pieces[i:j], "")] {
				break
			}
		}
		if j == i {
			if unknown < 0 {
				unknown = i
			}
			i++
			continue
		}
		if unknown >= 0 {
			words = append(words, strings.Join(pieces[unknown:i], ""))
			unknown = -1
		}
		words = append(words, strings.Join(pieces[i:j], ""))
		i = j
	}
	if unknown >= 0 {
		words = append(words, strings.Join(pieces[unknown:], ""))
	}
	return words
}

// step follows the copies in progress with the reply's next word w, held by its
// written word number n, starts those w begins, and marks the words of every run long
// enough for redaction.
func (g *Guard) step(w string, n int) {
	runs := g.runs[:0]
	for _, r := range g.runs {
		if r.next < len(g.words) && g.words[r.next] == w {
			r.next++
			r.gap = 0
			r.last = n
		} else if r.gap++; r.gap > guardMaxGap {
			continue
		}
		runs = append(runs, r)
	}
	for _, i := range g.at[w] {
		runs = append(runs, guardRun{start: i, next: i + 1, first: n, last: n, marked: n - 1})
	}
	// One run for each next expected word: the longest, or the one with the fewest
	// foreign words since its last copied one.
	kept := runs[:0]
	for _, r := range runs {
		if r.start+g.need[r.start] > len(g.words) && r.next-r.start < g.need[r.start] {
			continue // can never be long enough
		}
		dup := false
		for k := range kept {
			if kept[k].next == r.next {
				if l, lk := r.next-r.start, kept[k].next-kept[k].start; l > lk || l == lk && r.gap < kept[k].gap {
					kept[k] = r
				}
				dup = true
				break
			}
		}
		if !dup && len(kept) < guardMaxRuns {
			kept = append(kept, r)
		}
	}
	g.runs = kept
	for k := range g.runs {
		r := &g.runs[k]
		if r.next-r.start < g.need[r.start] {
			continue
		}
		for i := max(r.first, r.marked+1); i <= r.last; i++ {
			g.pending[i-g.base].redacted = true
		}
		r.marked = r.last
	}
}

// emit lets the oldest held-back word out, or the redaction marker for it.
func (g *Guard) emit() {
	w := g.pending[0]
	g.pending = g.pending[1:]
	g.base++
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
