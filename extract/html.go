package extract

import (
	"bytes"
	"strings"

	"codeberg.org/readeck/go-readability/v2"
	htmltomarkdown "github.com/JohannesKaufmann/html-to-markdown/v2"
	"golang.org/x/net/html"

	"github.com/lobby-dev/lobby"
)

// readHTML keeps a page's main article (readability), or its whole body when the
// article has under a third of the body's text, and converts it to Markdown.
func readHTML(data []byte) (*Text, error) {
	doc, err := html.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, lobby.Errorf(lobby.EINVALID, "this HTML page cannot be read: %v", err)
	}
	body := findElement(doc, "body")
	title := strings.TrimSpace(nodeText(findElement(doc, "title")))
	bodyLen := len(strings.Fields(visibleText(body)))

	var content string
	if art, err := readability.FromDocument(doc, nil); err == nil && art.Node != nil {
		var b bytes.Buffer
		if art.RenderText(&b) == nil && len(strings.Fields(b.String()))*3 >= bodyLen {
			var h bytes.Buffer
			if art.RenderHTML(&h) == nil {
				content = h.String()
			}
		}
		if title == "" {
			title = art.Title()
		}
	}
	if content == "" {
		// readability changes the tree it reads: parse again for the whole body.
		doc, _ = html.Parse(bytes.NewReader(data))
		if body = findElement(doc, "body"); body == nil {
			return &Text{Title: title}, nil
		}
		removeElements(body, "script", "style", "noscript", "template", "nav", "iframe")
		var h bytes.Buffer
		_ = html.Render(&h, body)
		content = h.String()
	}
	md, err := htmltomarkdown.ConvertString(content)
	if err != nil {
		return nil, lobby.Errorf(lobby.EINVALID, "this HTML page cannot be read: %v", err)
	}
	if title == "" {
		title = firstHeading(md)
	}
	return &Text{Title: title, Markdown: md}, nil
}

func findElement(n *html.Node, tag string) *html.Node {
	if n == nil {
		return nil
	}
	if n.Type == html.ElementNode && n.Data == tag {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if f := findElement(c, tag); f != nil {
			return f
		}
	}
	return nil
}

func nodeText(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

// visibleText is n's text without scripts and styles.
func visibleText(n *html.Node) string {
	if n == nil {
		return ""
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script", "style", "noscript", "template":
				return
			}
		}
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
			b.WriteByte(' ')
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

func removeElements(n *html.Node, tags ...string) {
	for c := n.FirstChild; c != nil; {
		next := c.NextSibling
		if c.Type == html.ElementNode && contains(tags, c.Data) {
			n.RemoveChild(c)
		} else {
			removeElements(c, tags...)
		}
		c = next
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func firstHeading(md string) string {
	for _, line := range strings.Split(md, "\n") {
		if t := strings.TrimLeft(line, "#"); len(t) < len(line) && strings.HasPrefix(t, " ") {
			return strings.TrimSpace(t)
		}
	}
	return ""
}
