package mail_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/mail"
)

// newConsole returns a console mailer whose clock starts at 2026-01-02 03:04:05 UTC and
// moves a second per mail, logging to log (discarded when nil).
func newConsole(log *strings.Builder) *mail.Console {
	h := slog.DiscardHandler
	if log != nil {
		h = slog.NewTextHandler(log, nil)
	}
	c := mail.NewConsole(slog.New(h))
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	var mu sync.Mutex
	c.Now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Second)
		return now
	}
	return c
}

func send(t *testing.T, m lobby.Mailer, to, subject, text string) {
	t.Helper()
	if err := m.Send(context.Background(), lobby.Email{To: to, Subject: subject, Text: text}); err != nil {
		t.Fatalf("Send: %v", err)
	}
}

func TestConsole(t *testing.T) {
	t.Parallel()
	t.Run("OK", func(t *testing.T) {
		t.Parallel()
		var log strings.Builder
		c := newConsole(&log)
		send(t, c, "a@example.com", "first", "code 111111")
		send(t, c, "b@example.com", "second", "code 222222")

		got := c.Messages()
		if len(got) != 2 || got[0].Subject != "second" || got[1].Subject != "first" {
			t.Fatalf("Messages = %+v, want second then first", got)
		}
		if want := time.Date(2026, 1, 2, 2, 4, 7, 0, time.UTC); !got[0].SentAt.Equal(want) || got[0].SentAt.Location() != time.UTC {
			t.Errorf("SentAt = %v, want %v in UTC", got[0].SentAt, want)
		}
		for _, s := range []string{"a@example.com", "first", "code 111111"} {
			if !strings.Contains(log.String(), s) {
				t.Errorf("log lacks %q:\n%s", s, log.String())
			}
		}
	})
	t.Run("KeepsNewest1000", func(t *testing.T) {
		t.Parallel()
		c := newConsole(nil)
		for i := range 1005 {
			send(t, c, "a@example.com", fmt.Sprint(i), "")
		}
		got := c.Messages()
		if len(got) != 1000 || got[0].Subject != "1004" || got[999].Subject != "5" {
			t.Fatalf("kept %d, newest %q, oldest %q; want 1000, 1004, 5", len(got), got[0].Subject, got[len(got)-1].Subject)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		t.Parallel()
		c := newConsole(nil)
		var wg sync.WaitGroup
		for i := range 100 {
			wg.Go(func() {
				send(t, c, "a@example.com", fmt.Sprint(i), "")
				c.Messages()
			})
		}
		wg.Wait()
		if n := len(c.Messages()); n != 100 {
			t.Fatalf("kept %d, want 100", n)
		}
	})
}

func TestConsoleServeMailboxJSON(t *testing.T) {
	t.Parallel()
	c := newConsole(nil)
	send(t, c, "a@example.com", "first", "one")
	send(t, c, "b@example.com", "second", "two")

	w := httptest.NewRecorder()
	c.ServeMailboxJSON(w, httptest.NewRequest("GET", "/dev/mailbox.json", nil))
	if ct := w.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	var body struct {
		Data []map[string]any `json:"data"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %s: %v", w.Body, err)
	}
	want := []map[string]any{
		{"to": "b@example.com", "subject": "second", "text": "two", "sent_at": "2026-01-02T02:04:07Z"},
		{"to": "a@example.com", "subject": "first", "text": "one", "sent_at": "2026-01-02T02:04:06Z"},
	}
	if fmt.Sprint(body.Data) != fmt.Sprint(want) {
		t.Errorf("data = %v, want %v", body.Data, want)
	}
}

func TestConsoleServeMailboxHTML(t *testing.T) {
	t.Parallel()
	c := newConsole(nil)
	send(t, c, "a@example.com", "<script>alert(1)</script>", "code 123456")

	w := httptest.NewRecorder()
	c.ServeMailboxHTML(w, httptest.NewRequest("GET", "/dev/mailbox", nil))
	body := w.Body.String()
	if ct := w.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	for _, s := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "code 123456", "a@example.com", "Development mailbox"} {
		if !strings.Contains(body, s) {
			t.Errorf("page lacks %q:\n%s", s, body)
		}
	}
	for _, s := range []string{"<script", "<style", "style="} {
		if strings.Contains(body, s) {
			t.Errorf("page has %q, which the CSP forbids or the escaping should prevent:\n%s", s, body)
		}
	}
}
