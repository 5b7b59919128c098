package http

import (
	"crypto/subtle"
	_ "embed"
	"net/http"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/http/request"
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

// handleMetrics serves the Prometheus metrics to clients on this machine, or to one
// that presents --metrics-token; anyone else is told there is no such route. With
// MetricsElsewhere the route is gone: they are on their own listener.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) error {
	token, fromCookie, _ := request.Credential(r)
	allowed := request.FromLoopback(r) ||
		s.MetricsToken != "" && !fromCookie && subtle.ConstantTimeCompare([]byte(token), []byte(s.MetricsToken)) == 1
	if s.MetricsElsewhere || !allowed {
		return lobby.Errorf(lobby.ENOTFOUND, "no route %s %s", r.Method, r.URL.Path)
	}
	s.MetricsHandler().ServeHTTP(w, r)
	return nil
}

// MetricsHandler serves the metrics to whoever reaches it: mount it on a listener that
// only the monitoring can.
func (s *Server) MetricsHandler() http.Handler { return metricsHandler(s.Registry) }
