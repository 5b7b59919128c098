package mail

import (
	"context"
	"errors"
	"fmt"
	netmail "net/mail"
	"net/url"
	"strings"

	"github.com/lobby-dev/lobby"
	"github.com/resend/resend-go/v2"
)

// Resend sends mail through Resend's API.
type Resend struct {
	client *resend.Client
	from   string
}

var _ lobby.Mailer = (*Resend)(nil)

// NewResend returns a mailer that sends from from with apiKey; an empty baseURL means Resend's own.
func NewResend(apiKey, from, baseURL string) (*Resend, error) {
	if strings.TrimSpace(apiKey) == "" {
		return nil, errors.New("mail: the Resend API key is empty")
	}
	if _, err := netmail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("mail: the from address %q is not an email address: %w", from, err)
	}
	c := resend.NewClient(apiKey)
	if baseURL != "" {
		u, err := url.Parse(baseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("mail: the Resend base URL %q is not an http(s) URL with a host", baseURL)
		}
		if !strings.HasSuffix(u.Path, "/") {
			u.Path += "/" // the SDK resolves "emails" against it
		}
		c.BaseURL = u
	}
	return &Resend{client: c, from: from}, nil
}

// Send implements lobby.Mailer.
func (r *Resend) Send(ctx context.Context, e lobby.Email) error {
	if _, err := netmail.ParseAddress(e.To); err != nil {
		return lobby.Errorf(lobby.EINVALID, "Cannot send mail to %q: it is not an email address.", e.To)
	}
	_, err := r.client.Emails.SendWithContext(ctx, &resend.SendEmailRequest{
		From:    r.from,
		To:      []string{e.To},
		Subject: e.Subject,
		Text:    e.Text,
	})
	if err == nil {
		return nil
	}
	cause := strings.TrimPrefix(err.Error(), "[ERROR]: ")
	var rl *resend.RateLimitError
	if errors.As(err, &rl) {
		cause = "rate limited: " + rl.Message
	}
	return unavailable("Resend", cause, r.client.ApiKey)
}

// unavailable is the error every mailer returns when its service fails, with secret
// removed from the cause.
func unavailable(service, cause, secret string) error {
	if secret != "" {
		cause = strings.ReplaceAll(cause, secret, "[redacted]")
	}
	cause = strings.TrimSuffix(cause, ".")
	return lobby.Errorf(lobby.EUNAVAILABLE, "Mail could not be sent (%s: %s). Try again in a minute.", service, cause)
}
