package extract

import (
	"bytes"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/text"
)

// readMarkdown walks goldmark's AST: headings become "#" lines of their level, and
// every other top-level block keeps its source lines, so lists, code and tables stay.
func readMarkdown(data []byte) (*Text, error) {
	src := bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	doc := goldmark.New().Parser().Parse(text.NewReader(src))
	var out strings.Builder
	var title string
	for n := doc.FirstChild(); n != nil; n = n.NextSibling() {
		var block string
		if h, ok := n.(*ast.Heading); ok {
			t := strings.TrimSpace(inlineText(h, src))
			if t == "" {
				continue
			}
			if title == "" {
				title = t
			}
			block = strings.Repeat("#", h.Level) + " " + t
		} else {
			block = strings.TrimSpace(blockSource(n, src))
		}
		if block == "" {
			continue
		}
		if out.Len() > 0 {
			out.WriteString("\n\n")
		}
		out.WriteString(block)
	}
	return &Text{Title: title, Markdown: out.String()}, nil
}

// inlineText is the text of n's inline children, without their markup.
func inlineText(n ast.Node, src []byte) string {
	var b strings.Builder
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch v := c.(type) {
		case *ast.Text:
			b.Write(v.Segment.Value(src))
			if v.SoftLineBreak() || v.HardLineBreak() {
				b.WriteByte(' ')
			}
		case *ast.String:
			b.Write(v.Value)
		case *ast.CodeSpan:
			// its Text children carry the code
		}
		return ast.WalkContinue, nil
	})
	return b.String()
}

// blockSource is the source of block n: from its first line to its last, children included.
func blockSource(n ast.Node, src []byte) string {
	start, stop := -1, -1
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering || c.Type() != ast.TypeBlock {
			return ast.WalkContinue, nil
		}
		lines := c.Lines()
		if lines != nil && lines.Len() > 0 {
			if s := lines.At(0).Start; start < 0 || s < start {
				start = s
			}
			if e := lines.At(lines.Len() - 1).Stop; e > stop {
				stop = e
			}
		}
		return ast.WalkContinue, nil
	})
	if start < 0 {
		return inlineText(n, src)
	}
	// Widen to whole lines so list markers and fences stay.
	for start > 0 && src[start-1] != '\n' {
		start--
	}
	for stop < len(src) && src[stop] != '\n' {
		stop++
	}
	if f, ok := n.(*ast.FencedCodeBlock); ok {
		lang := string(f.Language(src))
		return "```" + lang + "\n" + strings.TrimRight(string(src[start:stop]), "\n") + "\n```"
	}
	return string(src[start:stop])
}
