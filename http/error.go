package http

import (
	"net/http"

	"github.com/lobby-dev/lobby/http/response"
)

// Error writes err in the contract's shape with its status. Internal errors, and a
// dependency's failures, are logged with the request's ID; internal details never
// reach the client.
func (s *Server) Error(w http.ResponseWriter, r *http.Request, err error) {
	response.Error(w, r, s.Logger, err)
}
