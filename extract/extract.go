// Package extract reads the text of uploaded knowledge documents (plain text,
// Markdown, HTML, PDF) as Markdown, and cuts it into chunks for retrieval.
package extract

import (
	"bytes"
	"net/http"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lobby-dev/lobby"
)

// Media types Read detects.
const (
	TypeText     = "text/plain"
	TypeMarkdown = "text/markdown"
	TypeHTML     = "text/html"
	TypePDF      = "application/pdf"
)

// Text is a document's text as Read found it.
type Text struct {
	Title       string // the first heading, the HTML <title> or the PDF's metadata title; "" if none
	ContentType string // detected from the bytes: one of the Type constants
	Markdown    string // the text, headings as Markdown "#" lines
}

// Read detects data's type from its bytes, with filename's extension and contentType
// as hints, and returns its text. It fails with ETOOLARGE, EMEDIATYPE when the bytes
// are of no type it reads or contradict the declared one, and EINVALID when the file
// is empty, has no words, or is a PDF it cannot read.
//
// Invalid UTF-8 in a text file is refused when more than 1% of its runes are invalid
// (it is then most likely binary or another encoding); below that it is cleaned with
// lobby.CleanText.
func Read(data []byte, filename, contentType string) (*Text, error) {
	kind, err := Detect(data, filename, contentType)
	if err != nil {
		return nil, err
	}
	var t *Text
	switch kind {
	case TypePDF:
		t, err = readPDF(data)
	case TypeHTML:
		t, err = readHTML(data)
	case TypeMarkdown:
		t, err = readMarkdown(data)
	default:
		t, err = readPlain(data)
	}
	if err != nil {
		return nil, err
	}
	t.ContentType = kind
	t.Markdown = strings.TrimSpace(lobby.CleanText(t.Markdown))
	t.Title = strings.TrimSpace(lobby.CleanText(t.Title))
	if !hasWords(t.Markdown) {
		return nil, noWords(kind)
	}
	return t, nil
}

// Detect returns the type Read reads data as, one of the Type constants, or the
// refusal Read gives before reading it: ETOOLARGE, EINVALID for an empty file,
// EMEDIATYPE for bytes of no type it reads or of another type than declared. It parses
// nothing, so an upload can be refused at once, before its ingestion.
func Detect(data []byte, filename, contentType string) (string, error) {
	if len(data) > lobby.MaxDocumentLen {
		return "", lobby.Errorf(lobby.ETOOLARGE, "this file is %d bytes; the most is %d (10 MiB)", len(data), lobby.MaxDocumentLen)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return "", lobby.Errorf(lobby.EINVALID, "this file is empty; upload a document with text")
	}
	return detect(data, hintType(filename, contentType))
}

func noWords(kind string) error {
	if kind == TypeHTML {
		return lobby.Errorf(lobby.EINVALID, "this page has no readable text (only scripts, styles or markup); upload the page's text instead")
	}
	return lobby.Errorf(lobby.EINVALID, "this file has no words in it; upload a document with text")
}

// hintType returns the type that filename's extension or contentType declares, "" if none.
func hintType(filename, contentType string) string {
	switch strings.ToLower(filepath.Ext(filename)) {
	case ".pdf":
		return TypePDF
	case ".html", ".htm", ".xhtml":
		return TypeHTML
	case ".md", ".markdown", ".mdown", ".mkd":
		return TypeMarkdown
	case ".txt", ".text":
		return TypeText
	}
	ct := strings.ToLower(strings.TrimSpace(contentType))
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = strings.TrimSpace(ct[:i])
	}
	switch ct {
	case TypePDF, TypeHTML, TypeMarkdown, TypeText:
		return ct
	case "application/xhtml+xml":
		return TypeHTML
	case "text/x-markdown":
		return TypeMarkdown
	}
	return ""
}

var typeNames = map[string]string{
	TypePDF:      "a PDF",
	TypeHTML:     "an HTML page",
	TypeMarkdown: "Markdown",
	TypeText:     "plain text",
}

func detect(data []byte, hint string) (string, error) {
	isPDF := bytes.HasPrefix(bytes.TrimLeft(data[:min(len(data), 1024)], "\x00\t\r\n \xef\xbb\xbf"), []byte("%PDF-"))
	if isPDF {
		if hint != "" && hint != TypePDF {
			return "", lobby.Errorf(lobby.EMEDIATYPE, "this file is not %s: it is a PDF; upload it with a .pdf name", typeNames[hint])
		}
		return TypePDF, nil
	}
	if hint == TypePDF {
		return "", lobby.Errorf(lobby.EMEDIATYPE, "this file is not a PDF: it does not start as a PDF does; upload the real PDF, or the text with a .txt or .md name")
	}
	sniffed := http.DetectContentType(data)
	if !strings.HasPrefix(sniffed, "text/") || !looksText(data) {
		what := "binary data"
		if i := strings.IndexByte(sniffed, ';'); sniffed != "application/octet-stream" {
			if i >= 0 {
				sniffed = sniffed[:i]
			}
			what = "binary data (" + sniffed + ")"
		}
		if hint != "" {
			return "", lobby.Errorf(lobby.EMEDIATYPE, "this file is not %s: it looks like %s; upload text, Markdown, HTML or a PDF", typeNames[hint], what)
		}
		return "", lobby.Errorf(lobby.EMEDIATYPE, "this file looks like %s; upload text, Markdown, HTML or a PDF", what)
	}
	html := strings.HasPrefix(sniffed, "text/html") || looksHTML(data)
	switch {
	case html && (hint == "" || hint == TypeHTML):
		return TypeHTML, nil
	case hint == TypeHTML:
		return "", lobby.Errorf(lobby.EMEDIATYPE, "this file is not an HTML page: it has no HTML tags; upload it with a .txt or .md name")
	case hint == TypeMarkdown:
		return TypeMarkdown, nil // Markdown may hold inline HTML
	case hint == TypeText:
		return TypeText, nil
	case html:
		return TypeHTML, nil
	case looksMarkdown(data):
		return TypeMarkdown, nil
	}
	return TypeText, nil
}

// looksText reports whether data is text: no NULs, and at most 1% invalid UTF-8 or
// control characters.
func looksText(data []byte) bool {
	if bytes.IndexByte(data, 0) >= 0 {
		return false
	}
	bad, n := 0, 0
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		data = data[size:]
		n++
		if r == utf8.RuneError && size == 1 || r < 0x20 && r != '\n' && r != '\r' && r != '\t' && r != '\f' {
			bad++
		}
	}
	return bad*100 <= n
}

func looksHTML(data []byte) bool {
	head := bytes.ToLower(data[:min(len(data), 4096)])
	for _, tag := range []string{"<!doctype html", "<html", "<head", "<body", "<article", "<div", "<p>"} {
		if bytes.Contains(head, []byte(tag)) {
			return true
		}
	}
	return false
}

func looksMarkdown(data []byte) bool {
	for _, line := range strings.Split(string(data[:min(len(data), 8192)]), "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "# ") || strings.HasPrefix(l, "## ") || strings.HasPrefix(l, "```") || strings.HasPrefix(l, "- [") {
			return true
		}
	}
	return false
}

func hasWords(s string) bool {
	letters := 0
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			letters++
			if letters >= 2 {
				return true
			}
		}
	}
	return false
}

// readPlain keeps the text as it is; its first non-empty line, when short, is its title.
func readPlain(data []byte) (*Text, error) {
	s := lobby.CleanText(strings.ReplaceAll(string(data), "\r\n", "\n"))
	return &Text{Markdown: s}, nil
}
