package request

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/extract"
)

// MaxTitleLen is the longest document title, in bytes.
const MaxTitleLen = 200

// uploadSlack is what an upload's body may hold beyond the document itself: the
// multipart headers and title, or the JSON escapes of the text.
const uploadSlack = 1 << 20

// Upload is a document as a request sent it.
type Upload struct {
	Title, Filename, ContentType string
	Content                      []byte
}

// ReadUpload reads a JSON {"title", "content"} or a multipart/form-data upload with a
// file field (and an optional title), refusing one over lobby.MaxDocumentLen with 413
// before reading it all.
func ReadUpload(w http.ResponseWriter, r *http.Request) (*Upload, error) {
	limit := int64(lobby.MaxDocumentLen + uploadSlack)
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/json":
		var in struct {
			Title       string `json:"title"`
			Content     string `json:"content"`
			ContentType string `json:"content_type"`
		}
		// Escaped, a document's text may take up to twice its bytes and more.
		if err := DecodeJSONUpTo(w, r, &in, 2*limit); err != nil {
			return nil, err
		}
		if len(in.Content) > lobby.MaxDocumentLen {
			return nil, documentTooLarge()
		}
		if len(in.Title) > MaxTitleLen {
			return nil, lobby.Errorf(lobby.EINVALID, "title must be at most %d bytes", MaxTitleLen)
		}
		return &Upload{Title: in.Title, ContentType: in.ContentType, Content: []byte(in.Content)}, nil
	case "multipart/form-data":
		if r.ContentLength > limit {
			return nil, documentTooLarge()
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		return readMultipart(r)
	}
	return nil, lobby.Errorf(lobby.EMEDIATYPE, `send the document as multipart/form-data with a "file" field (curl -F file=@guide.md), or as JSON {"title", "content"}`)
}

func readMultipart(r *http.Request) (*Upload, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, lobby.Errorf(lobby.EINVALID, "the multipart body cannot be read: %v", err)
	}
	var up *Upload
	title := ""
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, multipartError(err)
		}
		switch part.FormName() {
		case "file":
			if up != nil {
				return nil, lobby.Errorf(lobby.EINVALID, "send one file per upload")
			}
			b, err := io.ReadAll(io.LimitReader(part, lobby.MaxDocumentLen+1))
			if err != nil {
				return nil, multipartError(err)
			}
			if len(b) > lobby.MaxDocumentLen {
				return nil, documentTooLarge()
			}
			up = &Upload{Filename: part.FileName(), ContentType: part.Header.Get("Content-Type"), Content: b}
		case "title":
			b, err := io.ReadAll(io.LimitReader(part, MaxTitleLen+1))
			if err != nil {
				return nil, multipartError(err)
			}
			if len(b) > MaxTitleLen || !utf8.Valid(b) || strings.ContainsRune(string(b), 0) {
				return nil, lobby.Errorf(lobby.EINVALID, "title must be UTF-8 text of at most %d bytes", MaxTitleLen)
			}
			title = string(b)
		default:
			return nil, lobby.Errorf(lobby.EINVALID, `unknown form field %q; send "file" and, optionally, "title"`, part.FormName())
		}
	}
	if up == nil {
		return nil, lobby.Errorf(lobby.EINVALID, `the upload has no "file" field; send the document as -F file=@guide.md`)
	}
	up.Title = title
	return up, nil
}

func multipartError(err error) error {
	if e := (*lobby.Error)(nil); errors.As(err, &e) {
		return e // the body's reader said what went wrong, such as its time running out
	}
	if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
		return documentTooLarge()
	}
	return lobby.Errorf(lobby.EINVALID, "the multipart body cannot be read: %v", err)
}

func documentTooLarge() error {
	return lobby.Errorf(lobby.ETOOLARGE, "a document may be at most %d bytes (10 MiB); split it into several", lobby.MaxDocumentLen)
}

// Document returns the upload as a document of the consultant: its kind detected from
// its bytes, name and declared type (refused when it can be no document at all), its
// title the one given, or else the file's name.
func (u *Upload) Document(consultantID string) (lobby.DocumentParams, error) {
	kind, err := extract.Detect(u.Content, u.Filename, u.ContentType)
	if err != nil {
		return lobby.DocumentParams{}, err
	}
	title := strings.TrimSpace(u.Title)
	if title == "" {
		title = strings.TrimSuffix(filepath.Base(u.Filename), filepath.Ext(u.Filename))
	}
	if title == "" || title == "." {
		title = "Untitled document"
	}
	return lobby.DocumentParams{ConsultantID: consultantID, Title: title, ContentType: kind, Content: u.Content}, nil
}
