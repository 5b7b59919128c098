package extract

import (
	"bytes"
	"errors"
	"strings"

	"github.com/ledongthuc/pdf"

	"github.com/lobby-dev/lobby"
)

// readPDF returns the text of each page, pages joined by blank lines. A parser
// panic on a damaged file becomes EINVALID.
func readPDF(data []byte) (t *Text, err error) {
	defer func() {
		if r := recover(); r != nil {
			t, err = nil, lobby.Errorf(lobby.EINVALID, "this PDF is damaged or incomplete and cannot be read; export it again and upload the new file")
		}
	}()
	r, err := pdf.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		if errors.Is(err, pdf.ErrInvalidPassword) || strings.Contains(err.Error(), "encrypt") {
			return nil, lobby.Errorf(lobby.EINVALID, "this PDF is encrypted or password-protected; remove the protection and upload it again")
		}
		return nil, lobby.Errorf(lobby.EINVALID, "this PDF is damaged or incomplete and cannot be read; export it again and upload the new file")
	}
	if !r.Trailer().Key("Encrypt").IsNull() {
		return nil, lobby.Errorf(lobby.EINVALID, "this PDF is encrypted or password-protected; remove the protection and upload it again")
	}
	var pages []string
	for i := 1; i <= r.NumPage(); i++ {
		p := r.Page(i)
		if p.V.IsNull() {
			continue
		}
		s, err := p.GetPlainText(nil)
		if err != nil {
			return nil, lobby.Errorf(lobby.EINVALID, "page %d of this PDF cannot be read; export it again and upload the new file", i)
		}
		if s = strings.TrimSpace(s); s != "" {
			pages = append(pages, s)
		}
	}
	text := strings.Join(pages, "\n\n")
	if !hasWords(text) {
		return nil, lobby.Errorf(lobby.EINVALID, "this PDF has no text layer; it may be scanned images — upload a PDF with selectable text or its text")
	}
	title := r.Trailer().Key("Info").Key("Title").Text()
	return &Text{Title: title, Markdown: text}, nil
}
