package response_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/http/response"
)

func TestStatus(t *testing.T) {
	for code, want := range map[string]int{
		lobby.EINVALID: 400, lobby.EUNAUTHORIZED: 401, lobby.EFORBIDDEN: 403, lobby.ENOTFOUND: 404,
		lobby.ECONFLICT: 409, lobby.ETOOLARGE: 413, lobby.EMEDIATYPE: 415, lobby.ERATELIMITED: 429,
		lobby.EQUOTA: 429, lobby.EUPSTREAM: 502, lobby.EUNAVAILABLE: 503, lobby.EINTERNAL: 500, "no_such_code": 500,
	} {
		if got := response.Status(code); got != want {
			t.Errorf("Status(%q) = %d, want %d", code, got, want)
		}
	}
}

// TestSessionCookie: setting and clearing the session both carry every attribute, and
// Secure whenever the public URL is https, even behind a proxy that ends TLS.
func TestSessionCookie(t *testing.T) {
	for _, tc := range []struct {
		name, base string
		secure     bool
	}{{"OK/https", "https://lobby.example.com", true}, {"OK/local", "http://localhost:8080", false}} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/logout", nil)
			set, clear := httptest.NewRecorder(), httptest.NewRecorder()
			response.SetSession(set, r, tc.base, "cl_user_x")
			response.ClearSession(clear, r, tc.base)
			for _, w := range []*httptest.ResponseRecorder{set, clear} {
				cs := w.Result().Cookies()
				if len(cs) != 1 {
					t.Fatalf("cookies: %v", cs)
				}
				c := cs[0]
				if c.Name != "lobby_session" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Secure != tc.secure {
					t.Errorf("cookie %+v: want HttpOnly, SameSite=Lax, Path=/ and Secure=%v", c, tc.secure)
				}
			}
			if c := clear.Result().Cookies()[0]; c.MaxAge >= 0 || c.Value != "" {
				t.Errorf("cleared cookie %+v still lives", c)
			}
		})
	}
}
