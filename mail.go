package lobby

import (
	"context"
	"time"
)

// Email is one message to one recipient.
type Email struct {
	To      string    `json:"to"`
	Subject string    `json:"subject"`
	Text    string    `json:"text"`
	SentAt  time.Time `json:"sent_at"`
}

// Mailer sends email.
type Mailer interface {
	// Send delivers e. Returns EUNAVAILABLE when the mail service cannot take it now.
	Send(ctx context.Context, e Email) error
}
