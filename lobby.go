// Package lobby is the domain of the Lobby marketplace: the types, their validation and
// the service interfaces that the stores, the HTTP API and the web pages share. It
// imports nothing of this module.
package lobby

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// ID prefixes, one per type, as the contract lists them.
const (
	PrefixUser         = "usr_"
	PrefixSession      = "ses_"
	PrefixConsultant   = "csl_"
	PrefixKey          = "key_"
	PrefixSubscription = "sub_"
	PrefixCheckout     = "chk_"
	PrefixConversation = "cnv_"
	PrefixMessage      = "msg_"
	PrefixDocument     = "doc_"
	PrefixDelivery     = "dlv_"
	PrefixEvent        = "evt_"
)

// Token prefixes: what kind of bearer credential a string is.
const (
	TokenUser       = "cl_user_"
	TokenBuyer      = "cl_buyer_"
	TokenConsultant = "cl_consultant_"
	// TokenPage is a buyer's credential held by a page (the chat, the widget's frame)
	// for a signed-in user's subscription: short-lived, and dead with its session.
	TokenPage     = "cl_page_"
	SecretWebhook = "whsec_"
)

// PageTokenTTL is how long a page's token works; the page asks for another by loading
// again.
const PageTokenTTL = time.Hour

// NewID returns a new ID with the given prefix: a ULID, so IDs sort by creation time.
// ULIDs made by one process within one millisecond still sort in creation order.
func NewID(prefix string) string {
	return prefix + strings.ToLower(ulid.Make().String())
}

// IDChars reports whether s is made of the characters IDs are: a-z, 0-9 and _.
func IDChars(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return s != ""
}

// NewToken returns a bearer token with the given prefix and 256 random bits, and the
// hash to store in its place. The token itself must be shown once and never stored.
func NewToken(prefix string) (token, hash string) {
	b := make([]byte, 32)
	rand.Read(b) // never fails: crypto/rand panics rather than return an error
	token = prefix + base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token)
}

// NewWebhookSecret returns a Standard Webhooks signing secret: "whsec_" and the base64 of
// 32 random bytes.
func NewWebhookSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return SecretWebhook + base64.StdEncoding.EncodeToString(b)
}

// HashToken returns the hex SHA-256 of a token: what the stores keep and look up.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// EqualHash compares two hashes in constant time.
func EqualHash(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// TokenKind returns the prefix of a Lobby bearer token, or "" when it has none.
func TokenKind(token string) string {
	for _, p := range []string{TokenUser, TokenBuyer, TokenConsultant, TokenPage} {
		if strings.HasPrefix(token, p) {
			return p
		}
	}
	return ""
}

// UTC returns t in UTC, truncated to microseconds: the precision both stores keep.
func UTC(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
