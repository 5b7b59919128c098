package lobby

import (
	"context"
	"net/mail"
	"strings"
	"time"
)

// Login code rules, from the contract.
const (
	LoginCodeTTL         = 10 * time.Minute
	LoginCodeMaxAttempts = 5
	// LoginCodeResendAfter is how long a new code request for the same email is answered
	// without sending another mail, so nobody can flood an inbox.
	LoginCodeResendAfter = 30 * time.Second
	SessionTTL           = 30 * 24 * time.Hour
	MaxEmailLen          = 254
	// LoginFailureLimit failed verifications of one email within LoginFailureWindow, of
	// any of its codes, lock it: no code is sent or accepted for it until the window,
	// which starts at the first failure, has passed.
	LoginFailureLimit  = 10
	LoginFailureWindow = time.Hour
)

// ErrLoginCode is the one answer to a code that does not sign in, whatever the state
// of the email's codes — none, expired, used, burned, wrong or locked — so that it
// tells an attacker nothing.
func ErrLoginCode() error {
	return Errorf(EUNAUTHORIZED, "that code is wrong, used or expired; request a new one at POST /api/v1/auth/code")
}

// User is a person who signed in with their email.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	CreatedAt time.Time `json:"created_at"`
}

// NormalizeEmail validates an email address and returns it trimmed and lower-cased.
func NormalizeEmail(email string) (string, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return "", Errorf(EINVALID, "email is required")
	}
	if len(email) > MaxEmailLen {
		return "", Errorf(EINVALID, "email must be at most %d characters", MaxEmailLen)
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || !strings.Contains(email[strings.LastIndexByte(email, '@'):], ".") {
		return "", Errorf(EINVALID, "email %q is not a valid address; send it as name@example.com", email)
	}
	return email, nil
}

// ValidLoginCode reports whether code has the shape of a login code: six ASCII digits.
func ValidLoginCode(code string) bool {
	if len(code) != 6 {
		return false
	}
	for _, c := range []byte(code) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// AuthService keeps login codes, users and the credentials that identify requests.
type AuthService interface {
	// CreateLoginCode stores a fresh 6-digit code for email, replacing any earlier one,
	// and returns it. It returns code "" and no error when a code was made less than
	// LoginCodeResendAfter ago, also by a request at the same moment, or while the email
	// is locked by failures: the caller then sends nothing. The email must be
	// normalized. It never reveals whether a user exists.
	CreateLoginCode(ctx context.Context, email string) (code string, err error)

	// VerifyLoginCode checks code against the one stored for email. On a match it burns
	// the code, creates the user on first sign-in and returns a new session token.
	// A wrong code counts an attempt of the code, burned after LoginCodeMaxAttempts,
	// and a failure of the email, locked after LoginFailureLimit in LoginFailureWindow.
	// Returns ErrLoginCode for every refusal, whatever the reason.
	VerifyLoginCode(ctx context.Context, email, code string) (token string, u *User, err error)

	// Authenticate resolves a bearer token of any kind. Returns EUNAUTHORIZED when the
	// token is unknown, revoked or expired, or belongs to an ended subscription.
	Authenticate(ctx context.Context, token string) (*Principal, error)

	// RevokeSession ends a session; its token stops working at once, and so do the
	// page tokens made with it.
	RevokeSession(ctx context.Context, sessionID string) error

	// CreatePageToken makes a TokenPage for the session's user to act as the buyer of
	// its subscription subscriptionID, for PageTokenTTL or until the session ends.
	// Returns ENOTFOUND for a subscription that is not the session's user's.
	CreatePageToken(ctx context.Context, sessionID, subscriptionID string) (token string, err error)

	// FindUserByID returns ENOTFOUND when there is no such user.
	FindUserByID(ctx context.Context, id string) (*User, error)
}

// SendLoginCode makes a login code for email and mails it. Known and unknown emails
// take the same path, so the answer reveals nothing about who has an account.
func SendLoginCode(ctx context.Context, auth AuthService, m Mailer, email string) error {
	code, err := auth.CreateLoginCode(ctx, email)
	if err != nil || code == "" {
		return err
	}
	return m.Send(ctx, Email{
		To:      email,
		Subject: "Your Lobby sign-in code: " + code,
		Text: "Your Lobby sign-in code is " + code + ".\n\nIt works once, for 10 minutes. If you did not ask for it, " +
			"ignore this email: nobody can sign in without the code.\n",
	})
}
