package extract

import (
	"strings"
	"unicode/utf8"

	"github.com/lobby-dev/lobby"
)

// Chunk sizes, in bytes.
const (
	chunkMin     = 800
	chunkMax     = 1200
	chunkOverlap = 150
)

// Chunks cuts markdown along headings and paragraphs into chunks of about 800–1,200
// bytes; a chunk after another of the same section starts with the end of it (about
// 150 bytes, from a word boundary). Heading is the heading path, outermost first.
func Chunks(markdown string) []lobby.Chunk {
	var chunks []lobby.Chunk
	var path []string
	levels := []int{}
	var cur strings.Builder
	prevTail := ""
	emit := func() {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		if s == "" {
			return
		}
		chunks = append(chunks, lobby.Chunk{Position: len(chunks), Heading: strings.Join(path, " > "), Text: s})
		prevTail = tail(s, chunkOverlap)
	}
	add := func(p string) {
		for len(p) > 0 {
			if cur.Len() == 0 && prevTail != "" {
				cur.WriteString(prevTail)
				cur.WriteString(" ")
			}
			room := chunkMax - cur.Len()
			if cur.Len() > 0 && len(p)+2 > room && cur.Len() >= chunkMin {
				emit()
				continue
			}
			if len(p)+2 <= room {
				if cur.Len() > 0 {
					cur.WriteString("\n\n")
				}
				cur.WriteString(p)
				return
			}
			cut := cutAt(p, max(room-2, chunkMin/2))
			if cur.Len() > 0 {
				cur.WriteString("\n\n")
			}
			cur.WriteString(p[:cut])
			p = strings.TrimSpace(p[cut:])
			emit()
		}
	}
	for _, para := range strings.Split(markdown, "\n\n") {
		para = strings.TrimSpace(para)
		if para == "" {
			continue
		}
		if lvl, title := heading(para); lvl > 0 {
			emit()
			prevTail = ""
			for len(levels) > 0 && levels[len(levels)-1] >= lvl {
				levels, path = levels[:len(levels)-1], path[:len(path)-1]
			}
			levels, path = append(levels, lvl), append(path, title)
			continue
		}
		add(para)
	}
	emit()
	return chunks
}

func heading(p string) (int, string) {
	if strings.Contains(p, "\n") {
		return 0, ""
	}
	t := strings.TrimLeft(p, "#")
	lvl := len(p) - len(t)
	if lvl == 0 || lvl > 6 || !strings.HasPrefix(t, " ") {
		return 0, ""
	}
	return lvl, strings.TrimSpace(t)
}

// cutAt returns where to cut s at most n bytes in: after a sentence, else a space,
// else a rune boundary.
func cutAt(s string, n int) int {
	if n >= len(s) {
		return len(s)
	}
	w := s[:n]
	for _, sep := range []string{". ", "! ", "? ", "\n"} {
		if i := strings.LastIndex(w, sep); i > n/2 {
			return i + len(sep) - 1
		}
	}
	if i := strings.LastIndexByte(w, ' '); i > n/2 {
		return i
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return n
}

// tail is the end of s, about n bytes, from a word boundary.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := len(s) - n
	for i < len(s) && !utf8.RuneStart(s[i]) {
		i++
	}
	if j := strings.IndexByte(s[i:], ' '); j >= 0 && j < n/2 {
		i += j + 1
	}
	return s[i:]
}
