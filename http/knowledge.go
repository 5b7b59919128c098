package http

import (
	"net/http"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/http/request"
	"github.com/lobby-dev/lobby/http/response"
	"github.com/lobby-dev/lobby/knowledge"
)

// handleDocumentCreate stores an upload and queues its ingestion: 202 with the
// document, processing, or 200 with the one of the same content the consultant has.
// What cannot be a document at all is refused at once, before any ingestion.
func (s *Server) handleDocumentCreate(w http.ResponseWriter, r *http.Request) error {
	up, err := request.ReadUpload(w, r)
	if err != nil {
		return err
	}
	p, err := up.Document(pathConsultant(r).ID)
	if err != nil {
		return err
	}
	doc, created, err := s.Knowledge.CreateDocument(r.Context(), p)
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
