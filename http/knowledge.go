package http

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
	"github.com/lobby-dev/lobby/http/request"
	"github.com/lobby-dev/lobby/http/response"
	"github.com/lobby-dev/lobby/knowledge"
)

// MaxTitleLen is the longest document title, in bytes.
const MaxTitleLen = 200

// uploadSlack is what an upload's body may hold beyond the document itself: the
// multipart headers and title, or the JSON escapes of the text.
const uploadSlack = 1 << 20

// upload is a document as a request sent it.
type upload struct {
	title, filename, contentType string
	content                      []byte
}

// handleDocumentCreate stores an upload and queues its ingestion: 202 with the
// document, processing, or 200 with the one of the same content the consultant has.
// What cannot be a document at all is refused at once, before any ingestion.
func (s *Server) handleDocumentCreate(w http.ResponseWriter, r *http.Request) error {
	up, err := readUpload(w, r)
	if err != nil {
		return err
	}
	kind, err := extract.Detect(up.content, up.filename, up.contentType)
	if err != nil {
		return err
	}
	title := strings.TrimSpace(up.title)
	if title == "" {
		title = strings.TrimSuffix(filepath.Base(up.filename), filepath.Ext(up.filename))
	}
	if title == "" || title == "." {
		title = "Untitled document"
	}
	doc, created, err := s.Knowledge.CreateDocument(r.Context(), lobby.DocumentParams{
		ConsultantID: pathConsultant(r).ID, Title: title, ContentType: kind, Content: up.content})
	if err != nil {
		return err
	}
	status := http.StatusAccepted
	if !created {
		status = http.StatusOK
	}
	response.JSON(w, status, map[string]any{"document": doc})
	return nil
}

// readUpload reads a JSON {"title", "content"} or a multipart/form-data upload with a
// file field (and an optional title), refusing one over lobby.MaxDocumentLen with 413
// before reading it all.
func readUpload(w http.ResponseWriter, r *http.Request) (*upload, error) {
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
		if err := request.DecodeJSONUpTo(w, r, &in, 2*limit); err != nil {
			return nil, err
		}
		if len(in.Content) > lobby.MaxDocumentLen {
			return nil, documentTooLarge()
		}
		if len(in.Title) > MaxTitleLen {
			return nil, lobby.Errorf(lobby.EINVALID, "title must be at most %d bytes", MaxTitleLen)
		}
		return &upload{title: in.Title, contentType: in.ContentType, content: []byte(in.Content)}, nil
	case "multipart/form-data":
		if r.ContentLength > limit {
			return nil, documentTooLarge()
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		return readMultipart(r)
	}
	return nil, lobby.Errorf(lobby.EMEDIATYPE, `send the document as multipart/form-data with a "file" field (curl -F file=@guide.md), or as JSON {"title", "content"}`)
}

func readMultipart(r *http.Request) (*upload, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, lobby.Errorf(lobby.EINVALID, "the multipart body cannot be read: %v", err)
	}
	var up *upload
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
			up = &upload{filename: part.FileName(), contentType: part.Header.Get("Content-Type"), content: b}
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
	up.title = title
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

func (s *Server) handleDocumentList(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := request.Page(r)
	if err != nil {
		return err
	}
	docs, next, err := s.Knowledge.FindDocuments(r.Context(), lobby.DocumentFilter{ConsultantID: pathConsultant(r).ID, Limit: limit, Cursor: cursor})
	if err != nil {
		return err
	}
	response.JSON(w, http.StatusOK, newList(docs, next))
	return nil
}

func (s *Server) handleDocumentGet(w http.ResponseWriter, r *http.Request) error {
	doc, err := s.Knowledge.FindDocumentByID(r.Context(), pathConsultant(r).ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	response.JSON(w, http.StatusOK, map[string]any{"document": doc})
	return nil
}

func (s *Server) handleDocumentDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.Knowledge.DeleteDocument(r.Context(), pathConsultant(r).ID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// handleKnowledgeSearch runs the retrieval managed replies use.
func (s *Server) handleKnowledgeSearch(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Query string `json:"query"`
		Limit *int   `json:"limit"`
	}
	if err := request.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	limit := 5
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > knowledge.MaxPassages {
			return lobby.Errorf(lobby.EINVALID, "limit must be from 1 to %d", knowledge.MaxPassages)
		}
		limit = *in.Limit
	}
	if len(in.Query) > lobby.MaxMessageLen {
		return lobby.Errorf(lobby.ETOOLARGE, "query is %d bytes; the most is %d (32 KiB)", len(in.Query), lobby.MaxMessageLen)
	}
	ps, err := s.Retriever.Retrieve(r.Context(), pathConsultant(r).ID, in.Query, limit)
	if err != nil {
		return err
	}
	response.JSON(w, http.StatusOK, newList(ps, ""))
	return nil
}
