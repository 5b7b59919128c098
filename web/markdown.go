package web

import (
	"bytes"
	"html/template"
	"net/url"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// markdown renders a reply's Markdown for a page: raw HTML shows as the text it is,
// an image becomes a link to it (a page fetches nothing a reply names), a link that
// is not http, https or mailto is its text alone, and links carry
// rel="noopener nofollow". goldmark escapes every text and attribute it writes.
var markdown = goldmark.New(
	goldmark.WithExtensions(extension.Table, extension.Strikethrough, extension.Linkify),
	goldmark.WithParserOptions(parser.WithASTTransformers(util.Prioritized(safeReply{}, 1000))),
)

// renderMarkdown returns the reply's HTML, or its text escaped if it cannot be read.
func renderMarkdown(s string) template.HTML {
	var b bytes.Buffer
	if err := markdown.Convert([]byte(s), &b); err != nil {
		return template.HTML("<p>" + template.HTMLEscapeString(s) + "</p>")
	}
	return template.HTML(b.String())
}

// safeReply rewrites a parsed reply as markdown's comment says.
type safeReply struct{}

func (safeReply) Transform(doc *ast.Document, reader text.Reader, _ parser.Context) {
	source := reader.Source()
	var swaps []func()
	ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.HTMLBlock:
			swaps = append(swaps, func() { replace(n, htmlBlockAsText(n, source)) })
			return ast.WalkSkipChildren, nil
		case *ast.RawHTML:
			swaps = append(swaps, func() {
				t := ast.NewString(nil)
				for i := range n.Segments.Len() {
					seg := n.Segments.At(i)
					t.Value = append(t.Value, seg.Value(source)...)
				}
				replace(n, t)
			})
		case *ast.Image:
			swaps = append(swaps, func() {
				link := ast.NewLink()
				link.Destination, link.Title = n.Destination, n.Title
				for c := n.FirstChild(); c != nil; {
					next := c.NextSibling()
					link.AppendChild(link, c)
					c = next
				}
				if !link.HasChildren() {
					link.AppendChild(link, ast.NewString([]byte("image")))
				}
				replace(n, link)
				safeLink(link, link.Destination)
			})
		case *ast.Link:
			swaps = append(swaps, func() { safeLink(n, n.Destination) })
		case *ast.AutoLink:
			swaps = append(swaps, func() { safeLink(n, n.URL(source)) })
		}
		return ast.WalkContinue, nil
	})
	for _, swap := range swaps {
		swap()
	}
}

// safeLink keeps n a link only to http, https or mailto, with rel set; any other
// becomes its text.
func safeLink(n ast.Node, dest []byte) {
	u, err := url.Parse(strings.TrimSpace(string(dest)))
	if err == nil && (u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "mailto") {
		n.SetAttributeString("rel", []byte("noopener nofollow"))
		return
	}
	if a, ok := n.(*ast.AutoLink); ok {
		replace(n, ast.NewString(a.Label(nil)))
		return
	}
	parent := n.Parent()
	for c := n.FirstChild(); c != nil; {
		next := c.NextSibling()
		parent.InsertBefore(parent, n, c)
		c = next
	}
	parent.RemoveChild(parent, n)
}

// replace puts with in n's place.
func replace(n, with ast.Node) {
	n.Parent().ReplaceChild(n.Parent(), n, with)
}

// htmlBlockAsText is a paragraph of an HTML block's source, to show as text.
func htmlBlockAsText(n *ast.HTMLBlock, source []byte) ast.Node {
	var b []byte
	for i := range n.Lines().Len() {
		seg := n.Lines().At(i)
		b = append(b, seg.Value(source)...)
	}
	if n.HasClosure() {
		b = append(b, n.ClosureLine.Value(source)...)
	}
	p := ast.NewParagraph()
	p.AppendChild(p, ast.NewString(bytes.TrimRight(b, "\n")))
	return p
}
