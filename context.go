package lobby

import "context"

// Kinds of caller.
const (
	CallerUser       = "user"       // a person signed in with their email
	CallerBuyer      = "buyer"      // a subscription's holder, by its buyer token
	CallerConsultant = "consultant" // a consultant's own agent, by its API key
)

// Principal is who made a request: a signed-in user, a buyer's subscription or a
// consultant's own agent.
type Principal struct {
	Kind           string // CallerUser, CallerBuyer or CallerConsultant
	UserID         string // the user (CallerUser), or the subscriber (CallerBuyer)
	SessionID      string // CallerUser only
	SubscriptionID string // CallerBuyer only
	ConsultantID   string // CallerConsultant and CallerBuyer
	// Credential names the token the caller presented, without revealing it (its
	// hash): streams follow CredentialTopic(Credential) to end when it is revoked.
	Credential string
}

// CallerOfToken returns the kind of caller a Lobby bearer token's prefix names, or ""
// when it names none.
func CallerOfToken(token string) string {
	switch TokenKind(token) {
	case TokenUser:
		return CallerUser
	case TokenBuyer, TokenPage:
		return CallerBuyer
	case TokenConsultant:
		return CallerConsultant
	}
	return ""
}

type principalKey struct{}

// NewContextWithPrincipal returns ctx carrying p.
func NewContextWithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFromContext returns the principal in ctx, or nil when the request is anonymous.
func PrincipalFromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// The access rules. Every surface (the API, the pages, and the protocols beside them)
// asks these, with the caller in ctx, rather than comparing IDs itself.

// CanManageConsultant reports whether the caller in ctx may change a consultant and
// read its private fields, deliveries and conversations: its owner, or its own key.
func CanManageConsultant(ctx context.Context, c *Consultant) bool {
	p := PrincipalFromContext(ctx)
	switch {
	case p == nil || c == nil:
		return false
	case p.Kind == CallerUser:
		return p.UserID == c.OwnerID
	case p.Kind == CallerConsultant:
		return p.ConsultantID == c.ID
	}
	return false
}

// CanReadConversation reports whether the caller in ctx may read a conversation and
// follow it: the buyer of its subscription, or the consultant's own key.
func CanReadConversation(ctx context.Context, c *Conversation) bool {
	p := PrincipalFromContext(ctx)
	switch {
	case p == nil || c == nil:
		return false
	case p.Kind == CallerBuyer:
		return p.SubscriptionID == c.SubscriptionID
	case p.Kind == CallerConsultant:
		return p.ConsultantID == c.ConsultantID
	}
	return false
}
