package lobby

import (
	"errors"
	"fmt"
	"time"
)

// Error codes, as the public contract names them. Each maps to one HTTP status.
const (
	EINVALID      = "invalid_request"        // 400
	EUNAUTHORIZED = "unauthorized"           // 401
	EPAYMENT      = "payment_required"       // 402
	EFORBIDDEN    = "forbidden"              // 403
	ENOTFOUND     = "not_found"              // 404
	ECONFLICT     = "conflict"               // 409
	ETOOLARGE     = "payload_too_large"      // 413
	EMEDIATYPE    = "unsupported_media_type" // 415
	ERATELIMITED  = "rate_limited"           // 429
	EQUOTA        = "quota_exceeded"         // 429
	EUPSTREAM     = "upstream_error"         // 502
	EUNAVAILABLE  = "unavailable"            // 503
	EINTERNAL     = "internal"               // 500
)

// Error is a domain error: a code from the list above and a message a user can act on.
type Error struct {
	Code    string
	Message string
	// RetryAfter, when set, is how long the client should wait before trying again.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return fmt.Sprintf("lobby: %s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any other
// error and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	default:
		return EINTERNAL
	}
}

// ErrorMessage returns the message of the first *Error in err's chain, or a generic
// message for any other error, so internal details never reach a client.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	default:
		return "Internal error; it has been logged. Try again, and report it if it persists."
	}
}

// ErrorRetryAfter returns the RetryAfter of the first *Error in err's chain, or 0.
func ErrorRetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
