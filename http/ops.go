package http

import (
	_ "embed"
	"net/http"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/http/response"
)

//go:embed openapi.json
var openAPI []byte

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) error {
	response.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) error {
	if s.Ready != nil {
		if err := s.Ready(r.Context()); err != nil {
			s.Logger.WarnContext(r.Context(), "not ready", "err", err)
			return lobby.Errorf(lobby.EUNAVAILABLE, "not ready: the database is unreachable or not migrated")
		}
	}
	response.JSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(openAPI)
	return nil
}
