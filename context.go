package lobby

import "context"

// Principal is who made a request: a signed-in user, a buyer's subscription or a
// consultant's own agent. Exactly one of the kinds is set.
type Principal struct {
	Kind           string // TokenUser, TokenBuyer or TokenConsultant
	UserID         string // the user (TokenUser), or the subscriber (TokenBuyer)
	SessionID      string // TokenUser only
	SubscriptionID string // TokenBuyer only
	ConsultantID   string // TokenConsultant and TokenBuyer
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

// SessionCookie is the cookie that carries a browser's cl_user_ session.
const SessionCookie = "lobby_session"
