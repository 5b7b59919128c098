// Package mail sends Lobby's email: to the log and a dev mailbox (console), through
// Resend's API, or over SMTP.
package mail

import (
	"context"
	"encoding/json"
	"html/template"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/lobby-dev/lobby"
)

// mailboxSize is how many mails the dev mailbox keeps.
const mailboxSize = 1000

// Console logs every mail and keeps the newest in a dev mailbox. It is the embedded
// default: nothing leaves the machine.
type Console struct {
	Now func() time.Time

	log  *slog.Logger
	mu   sync.Mutex
	mail []lobby.Email // oldest first
}

var _ lobby.Mailer = (*Console)(nil)

// NewConsole returns a console mailer that logs to log.
func NewConsole(log *slog.Logger) *Console {
	return &Console{Now: time.Now, log: log}
}

// Send implements lobby.Mailer.
func (c *Console) Send(ctx context.Context, e lobby.Email) error {
	e.SentAt = c.Now().UTC()
	c.log.InfoContext(ctx, "mail (console mailer: not sent, kept at /dev/mailbox)", "to", e.To, "subject", e.Subject, "text", e.Text)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.mail) == mailboxSize {
		c.mail = append(c.mail[:0], c.mail[1:]...)
	}
	c.mail = append(c.mail, e)
	return nil
}

// Messages returns the kept mail, newest first.
func (c *Console) Messages() []lobby.Email {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]lobby.Email, len(c.mail))
	for i, e := range c.mail {
		out[len(c.mail)-1-i] = e
	}
	return out
}

// ServeMailboxJSON writes the mailbox as {"data": [...]}, newest first.
func (c *Console) ServeMailboxJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{"data": c.Messages()})
}

var mailboxPage = template.Must(template.New("mailbox").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Dev mailbox · Lobby</title>
<link rel="stylesheet" href="/static/style.css"></head>
<body><main>
<h1>Development mailbox</h1>
<p>The console mailer sends nothing: every mail Lobby would send is here, newest first. This page exists only with the console mailer. <a href="/dev/mailbox.json">As JSON</a>.</p>
{{range .}}<article>
<h2>{{.Subject}}</h2>
<p>To {{.To}}, {{.SentAt.Format "2006-01-02 15:04:05 MST"}}</p>
<pre>{{.Text}}</pre>
</article>{{else}}<p>No mail yet.</p>{{end}}
</main></body></html>
`))

// ServeMailboxHTML writes the mailbox as a page, newest first.
func (c *Console) ServeMailboxHTML(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	mailboxPage.Execute(w, c.Messages())
}
