// Package response writes what every HTTP surface of Lobby writes: JSON, the contract's
// error shape with the one status of each error code, and the browser's session
// cookie.
package response

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/http/request"
)

var statusOf = map[string]int{
	lobby.EINVALID:      http.StatusBadRequest,
	lobby.EUNAUTHORIZED: http.StatusUnauthorized,
	lobby.EPAYMENT:      http.StatusPaymentRequired,
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

// Status returns the HTTP status of a domain error code; 500 for one it does not know.
func Status(code string) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// JSON writes v as the response's JSON body with status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	NewEncoder(w).Encode(v)
}

// NewEncoder returns the encoder every JSON body is written with: text as it is, "<"
// and "&" included, since no body is HTML.
func NewEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// ErrorJSON writes the contract's error shape with status.
func ErrorJSON(w http.ResponseWriter, status int, code, message string) {
	JSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}

// Error writes err in the contract's shape with its status and Retry-After.
func Error(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	code := Prepare(w, r, log, err)
	ErrorJSON(w, Status(code), code, lobby.ErrorMessage(err))
}

// Prepare logs err as every surface does — internal errors at error, a dependency's
// failures at warn, each with the request's ID — sets Retry-After when err carries
// one, and returns err's code. Internal details never reach the client.
func Prepare(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) string {
	code := lobby.ErrorCode(err)
	switch code {
	case lobby.EINTERNAL:
		log.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path,
			"request_id", request.ID(r.Context()), "err", err)
	case lobby.EUNAVAILABLE, lobby.EUPSTREAM:
		log.WarnContext(r.Context(), "dependency failed", "method", r.Method, "path", r.URL.Path,
			"request_id", request.ID(r.Context()), "err", err)
	}
	if ra := lobby.ErrorRetryAfter(err); ra > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((ra+time.Second-1)/time.Second)))
	}
	return code
}

// SetSession gives a browser its session cookie: HttpOnly, SameSite=Lax, and Secure
// whenever the request or the public URL is https.
func SetSession(w http.ResponseWriter, r *http.Request, baseURL, token string) {
	setSession(w, r, baseURL, token, int(lobby.SessionTTL.Seconds()))
}

// ClearSession deletes the browser's session cookie, with the same attributes.
func ClearSession(w http.ResponseWriter, r *http.Request, baseURL string) {
	setSession(w, r, baseURL, "", -1)
}

func setSession(w http.ResponseWriter, r *http.Request, baseURL, token string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: request.SessionCookie, Value: token, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil || strings.HasPrefix(baseURL, "https://"),
	})
}

// SetWidgetSession gives the widget's frame its own session cookie. A frame on another
// site's page gets no SameSite=Lax cookie, and browsers that withhold third-party
// cookies keep a Partitioned one for that site alone: SameSite=None, Secure (which
// browsers allow on http://localhost and 127.0.0.1), Partitioned, HttpOnly, and only
// for /widget/.
func SetWidgetSession(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{
		Name: request.WidgetCookie, Value: token, Path: "/widget/", MaxAge: int(lobby.SessionTTL.Seconds()),
		HttpOnly: true, SameSite: http.SameSiteNoneMode, Secure: true, Partitioned: true,
	})
}
