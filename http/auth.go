package http

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/http/request"
	"github.com/lobby-dev/lobby/http/response"
)

// authenticate resolves the request's credential once, for every route and page: the
// bearer header, or else the browser's session cookie. The principal goes into the
// request's context; a credential that does not resolve is kept as the error that a
// route needing a caller answers with, while public routes and pages go on as
// anonymous. A cookie-borne request that changes something must come from this site
// (Origin), besides the cookie's SameSite=Lax.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		token, fromCookie, err := request.Credential(r)
		switch {
		case err != nil:
			ctx = withAuthError(ctx, err)
		case token == "":
		case fromCookie && r.Method != http.MethodGet && r.Method != http.MethodHead && !request.SameOrigin(r, s.BaseURL):
			ctx = withAuthError(ctx, lobby.Errorf(lobby.EFORBIDDEN, "a cross-site request may not use the session cookie; send a bearer token"))
		default:
			p, err := s.Auth.Authenticate(ctx, token)
			if err != nil {
				ctx = withAuthError(ctx, err)
			} else {
				ctx = lobby.NewContextWithPrincipal(ctx, p)
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

type authErrorKey struct{}

func withAuthError(ctx context.Context, err error) context.Context {
	return context.WithValue(ctx, authErrorKey{}, err)
}

// policy is who may call a route, as the route table states it.
type policy int

const (
	open              policy = iota // anyone
	public                          // anyone, rate limited per client address
	signIn                          // anyone, rate limited per client address, and in the sign-in codes it may ask for
	user                            // a signed-in user
	buyer                           // a subscription's buyer token
	consultantKey                   // a consultant's own key
	reader                          // a buyer token or a consultant key; conversations are checked each
	conversation                    // who may read the conversation {id}: its buyer or the consultant's key
	conversationBuyer               // the buyer of the conversation {id}: not the consultant's key
	owner                           // who may manage the consultant {slug}: its owner or its key
	ownerOnly                       // the owner of the consultant {slug}, signed in: not its key
)

// callers are the kinds of caller each policy takes.
var callers = map[policy][]string{
	user:              {lobby.CallerUser},
	buyer:             {lobby.CallerBuyer},
	consultantKey:     {lobby.CallerConsultant},
	reader:            {lobby.CallerBuyer, lobby.CallerConsultant},
	conversation:      {lobby.CallerBuyer, lobby.CallerConsultant},
	conversationBuyer: {lobby.CallerBuyer},
	owner:             {lobby.CallerUser, lobby.CallerConsultant},
	ownerOnly:         {lobby.CallerUser},
}

var callerNames = map[string]string{
	lobby.CallerUser:       "a signed-in user's cl_user_ token",
	lobby.CallerBuyer:      "a subscription's cl_buyer_ token",
	lobby.CallerConsultant: "a consultant's cl_consultant_ key",
}

// guard returns h behind the policy: the caller must be of a kind the policy takes, and
// for conversation and owner routes the resource in the path is loaded, checked with
// the domain's access rule and put in the context for h.
func (s *Server) guard(pol policy, h handler) handler {
	kinds := callers[pol]
	if kinds == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		p := lobby.PrincipalFromContext(ctx)
		if p == nil {
			if err, ok := ctx.Value(authErrorKey{}).(error); ok {
				return err
			}
			return lobby.Errorf(lobby.EUNAUTHORIZED, "this route needs a bearer token: send Authorization: Bearer <token>")
		}
		if !slices.Contains(kinds, p.Kind) {
			var want []string
			for _, k := range kinds {
				want = append(want, callerNames[k])
			}
			return lobby.Errorf(lobby.EFORBIDDEN, "this route takes %s, not %s", strings.Join(want, " or "), callerNames[p.Kind])
		}
		switch pol {
		case conversation, conversationBuyer:
			c, err := s.readableConversation(ctx, r.PathValue("id"))
			if err != nil {
				return err
			}
			ctx = context.WithValue(ctx, resourceKey{}, c)
		case owner, ownerOnly:
			c, err := s.managedConsultant(ctx, r.PathValue("slug"))
			if err != nil {
				return err
			}
			ctx = context.WithValue(ctx, resourceKey{}, c)
		}
		return h(w, r.WithContext(ctx))
	}
}

type resourceKey struct{}

// caller is the request's principal; routes behind a policy always have one.
func caller(r *http.Request) *lobby.Principal { return lobby.PrincipalFromContext(r.Context()) }

// pathConsultant is the consultant of an owner route, loaded and checked by its policy.
func pathConsultant(r *http.Request) *lobby.Consultant {
	return r.Context().Value(resourceKey{}).(*lobby.Consultant)
}

// pathConversation is the conversation of a conversation route, loaded and checked by
// its policy.
func pathConversation(r *http.Request) *lobby.Conversation {
	return r.Context().Value(resourceKey{}).(*lobby.Conversation)
}

// managedConsultant loads the consultant with the slug if the caller in ctx may manage it.
func (s *Server) managedConsultant(ctx context.Context, slug string) (*lobby.Consultant, error) {
	c, err := s.Consultants.FindConsultantBySlug(ctx, slug)
	if err != nil {
		return nil, err
	}
	if !lobby.CanManageConsultant(ctx, c) {
		return nil, lobby.Errorf(lobby.EFORBIDDEN, "consultant %s is not yours: only its owner and its own key may do this", c.Slug)
	}
	return c, nil
}

// readableConversation loads the conversation if the caller in ctx may read it; anyone
// else is told it does not exist.
func (s *Server) readableConversation(ctx context.Context, id string) (*lobby.Conversation, error) {
	notFound := lobby.Errorf(lobby.ENOTFOUND, "no conversation %q of yours; list yours at GET /api/v1/conversations", id)
	if !strings.HasPrefix(id, lobby.PrefixConversation) || len(id) > 64 {
		return nil, notFound
	}
	c, err := s.Chat.FindConversationByID(ctx, id)
	if lobby.ErrorCode(err) == lobby.ENOTFOUND {
		return nil, notFound
	} else if err != nil {
		return nil, err
	}
	if !lobby.CanReadConversation(ctx, c) {
		return nil, notFound
	}
	return c, nil
}

func (s *Server) handleAuthCode(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Email string `json:"email"`
	}
	if err := request.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	email, err := lobby.NormalizeEmail(in.Email)
	if err != nil {
		return err
	}
	if err := lobby.SendLoginCode(r.Context(), s.Auth, s.Mailer, email); err != nil {
		return err
	}
	response.JSON(w, http.StatusAccepted, map[string]bool{"sent": true})
	return nil
}

func (s *Server) handleAuthVerify(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Email string `json:"email"`
		Code  string `json:"code"`
	}
	if err := request.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	email, err := lobby.NormalizeEmail(in.Email)
	if err != nil {
		return err
	}
	code := strings.TrimSpace(in.Code)
	if !lobby.ValidLoginCode(code) {
		return lobby.Errorf(lobby.EINVALID, "code must be the 6 digits from the sign-in email")
	}
	token, user, err := s.Auth.VerifyLoginCode(r.Context(), email, code)
	if err != nil {
		return err
	}
	response.SetSession(w, r, s.BaseURL, token)
	response.JSON(w, http.StatusOK, map[string]any{"token": token, "user": user})
	return nil
}

func (s *Server) handleAuthLogout(w http.ResponseWriter, r *http.Request) error {
	if err := s.Auth.RevokeSession(r.Context(), caller(r).SessionID); err != nil {
		return err
	}
	response.ClearSession(w, r, s.BaseURL)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	ctx := r.Context()
	user, err := s.Auth.FindUserByID(ctx, p.UserID)
	if err != nil {
		return err
	}
	mine, _, err := s.Consultants.FindConsultants(ctx, lobby.ConsultantFilter{OwnerID: p.UserID, Limit: 100})
	if err != nil {
		return err
	}
	consultants := make([]privateConsultant, len(mine))
	for i, c := range mine {
		consultants[i] = newPrivateConsultant(c)
	}
	subs, _, err := s.Subscriptions.FindSubscriptions(ctx, lobby.SubscriptionFilter{UserID: p.UserID, Limit: 100})
	if err != nil {
		return err
	}
	views, err := s.subscriptionViews(r, subs)
	if err != nil {
		return err
	}
	response.JSON(w, http.StatusOK, map[string]any{"user": user, "consultants": consultants, "subscriptions": views})
	return nil
}
