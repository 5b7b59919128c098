package http

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/lobby-dev/lobby"
)

var statusOf = map[string]int{
	lobby.EINVALID:      http.StatusBadRequest,
	lobby.EUNAUTHORIZED: http.StatusUnauthorized,
	lobby.EFORBIDDEN:    http.StatusForbidden,
	lobby.ENOTFOUND:     http.StatusNotFound,
	lobby.ECONFLICT:     http.StatusConflict,
	lobby.ETOOLARGE:     http.StatusRequestEntityTooLarge,
	lobby.EMEDIATYPE:    http.StatusUnsupportedMediaType,
	lobby.ERATELIMITED:  http.StatusTooManyRequests,
	lobby.EQUOTA:        http.StatusTooManyRequests,
	lobby.EUPSTREAM:     http.StatusBadGateway,
	lobby.EUNAVAILABLE:  http.StatusServiceUnavailable,
	lobby.EINTERNAL:     http.StatusInternalServerError,
}

// Error writes err in the contract's shape with its status. Internal errors, and a
// dependency's failures, are logged with the request's ID; internal details never
// reach the client.
func (s *Server) Error(w http.ResponseWriter, r *http.Request, err error) {
	code := lobby.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	switch code {
	case lobby.EINTERNAL:
		s.Logger.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path,
			"request_id", requestID(r.Context()), "err", err)
	case lobby.EUNAVAILABLE, lobby.EUPSTREAM:
		s.Logger.WarnContext(r.Context(), "dependency failed", "method", r.Method, "path", r.URL.Path,
			"request_id", requestID(r.Context()), "err", err)
	}
	if ra := lobby.ErrorRetryAfter(err); ra > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((ra+time.Second-1)/time.Second)))
	}
	writeError(w, status, code, lobby.ErrorMessage(err))
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}
