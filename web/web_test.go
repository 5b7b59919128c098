package web

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/local"
)

// TestFailRendersEveryCode: the pages answer each domain error with the status the API
// gives it, and its message, never a 500 page for a code they did not list.
func TestFailRendersEveryCode(t *testing.T) {
	h := New(Config{Payments: &local.Payments{}})
	for code, want := range map[string]int{
		lobby.EINVALID: 400, lobby.EUNAUTHORIZED: 401, lobby.EFORBIDDEN: 403, lobby.ENOTFOUND: 404,
		lobby.ECONFLICT: 409, lobby.ETOOLARGE: 413, lobby.EMEDIATYPE: 415, lobby.ERATELIMITED: 429,
		lobby.EQUOTA: 429, lobby.EUPSTREAM: 502, lobby.EUNAVAILABLE: 503,
	} {
		w := httptest.NewRecorder()
		h.Fail(w, httptest.NewRequest("GET", "/x", nil), lobby.Errorf(code, "the %s message", code))
		if w.Code != want || !strings.Contains(w.Body.String(), "the "+code+" message") {
			t.Errorf("%s: status %d, want %d; page %s", code, w.Code, want, w.Body)
		}
	}
	e := lobby.Errorf(lobby.EQUOTA, "used up")
	e.RetryAfter = 90e9
	w := httptest.NewRecorder()
	h.Fail(w, httptest.NewRequest("GET", "/x", nil), e)
	if w.Header().Get("Retry-After") != "90" {
		t.Errorf("Retry-After = %q, want 90", w.Header().Get("Retry-After"))
	}
}

// TestSafeNext: after sign-in the browser goes back only to a path of this site, read
// as a browser reads it.
func TestSafeNext(t *testing.T) {
	for next, want := range map[string]string{
		"/consultants/chef":       "/consultants/chef",
		"/checkout/chk_1?x=1#top": "/checkout/chk_1?x=1#top",
		"/%09/evil.example":       "/%09/evil.example", // an escaped tab stays in the path
		" /consultants/chef":      "/consultants/chef",
		"":                        "/",
		"//evil.example":          "/",
		"/\t/evil.example":        "/",
		"/\n/evil.example":        "/",
		"\t//evil.example":        "/",
		"/\\evil.example":         "/",
		"\\\\evil.example":        "/",
		"https://evil.example/":   "/",
		"javascript:alert(1)":     "/",
		"\x00//evil.example":      "/",
		"/\x7f/evil.example":      "/",
		"evil.example":            "/",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}
