package mail_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/mail"
)

const resendKey = "re_test_0123456789secret"

// resendRequest is the body of Resend's POST /emails.
type resendRequest struct {
	From    string   `json:"from"`
	To      []string `json:"to"`
	Subject string   `json:"subject"`
	Text    string   `json:"text"`
}

// newResendServer answers POST /emails with status and body, sending what arrived to got.
func newResendServer(t *testing.T, status int, body string, got chan<- resendRequest) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/emails" {
			t.Errorf("request %s %s, want POST /emails", r.Method, r.URL.Path)
		}
		if a := r.Header.Get("Authorization"); a != "Bearer "+resendKey {
			t.Errorf("Authorization = %q", a)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type = %q", ct)
		}
		var req resendRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			t.Errorf("body: %v", err)
		}
		if got != nil {
			got <- req
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestResend(t *testing.T) {
	t.Parallel()
	e := lobby.Email{To: "ada@example.com", Subject: "Your code: 123456", Text: "Your code is 123456.\n"}

	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		got := make(chan resendRequest, 1)
		m, err := mail.NewResend(resendKey, "Lobby <noreply@lobby.test>", newResendServer(t, 200, `{"id":"49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"}`, got))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Send(context.Background(), e); err != nil {
			t.Fatalf("Send: %v", err)
		}
		req := <-got
		if req.From != "Lobby <noreply@lobby.test>" || len(req.To) != 1 || req.To[0] != e.To || req.Subject != e.Subject || req.Text != e.Text {
			t.Errorf("Resend got %+v, want %+v", req, e)
		}
	})
	for _, tt := range []struct {
		name, body, want string
		status           int
	}{
		{"ErrRateLimited", `{"statusCode":429,"message":"Too many requests. You can only make 2 requests per second.","name":"rate_limit_exceeded"}`, "Too many requests", 429},
		{"ErrServer", `{"statusCode":500,"message":"An unexpected error occurred.","name":"internal_server_error"}`, "An unexpected error occurred", 500},
		{"ErrKeyEchoed", `{"statusCode":401,"message":"API key ` + resendKey + ` is invalid","name":"validation_error"}`, "is invalid", 401},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := mail.NewResend(resendKey, "noreply@lobby.test", newResendServer(t, tt.status, tt.body, nil))
			if err != nil {
				t.Fatal(err)
			}
			wantUnavailable(t, m.Send(context.Background(), e), tt.want, resendKey)
		})
	}
	t.Run("ErrCanceled", func(t *testing.T) {
		t.Parallel()
		m, err := mail.NewResend(resendKey, "noreply@lobby.test", newResendServer(t, 200, `{"id":"x"}`, nil))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		wantUnavailable(t, m.Send(ctx, e), "context canceled", resendKey)
	})
	t.Run("ErrBadRecipient", func(t *testing.T) {
		t.Parallel()
		m, err := mail.NewResend(resendKey, "noreply@lobby.test", "http://127.0.0.1:1")
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Send(context.Background(), lobby.Email{To: "not an address"}); lobby.ErrorCode(err) != lobby.EINVALID {
			t.Errorf("err = %v, want %s", err, lobby.EINVALID)
		}
	})
}

func TestNewResend(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, key, from, baseURL, want string }{
		{"ErrNoKey", " ", "noreply@lobby.test", "", "API key is empty"},
		{"ErrBadFrom", resendKey, "lobby", "", `from address "lobby"`},
		{"ErrBadBaseURL", resendKey, "noreply@lobby.test", "ftp://x", "base URL"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := mail.NewResend(tt.key, tt.from, tt.baseURL)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// wantUnavailable fails t unless err is EUNAVAILABLE with a message containing want and not secret.
func wantUnavailable(t *testing.T, err error, want, secret string) {
	t.Helper()
	if code := lobby.ErrorCode(err); code != lobby.EUNAVAILABLE {
		t.Fatalf("err = %v, want code %s", err, lobby.EUNAVAILABLE)
	}
	msg := lobby.ErrorMessage(err)
	if !strings.Contains(msg, want) {
		t.Errorf("message %q lacks %q", msg, want)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("message %q has the secret", msg)
	}
}
