package http

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/lobby-dev/lobby"
)

// authenticate resolves the request's credential: the bearer header, or else the
// browser's session cookie. A cookie-borne request that changes something must come
// from this site (Origin), besides the cookie's SameSite=Lax.
func (s *Server) authenticate(r *http.Request) (*lobby.Principal, error) {
	if p := lobby.PrincipalFromContext(r.Context()); p != nil {
		return p, nil
	}
	token, fromCookie := "", false
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, t, ok := strings.Cut(h, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(t) == "" {
			return nil, lobby.Errorf(lobby.EUNAUTHORIZED, "the Authorization header must be \"Bearer <token>\"")
		}
		token = strings.TrimSpace(t)
	} else if c, err := r.Cookie(lobby.SessionCookie); err == nil && c.Value != "" {
		token, fromCookie = c.Value, true
	} else {
		return nil, lobby.Errorf(lobby.EUNAUTHORIZED, "this route needs a bearer token: send Authorization: Bearer <token>")
	}
	if fromCookie && r.Method != http.MethodGet && r.Method != http.MethodHead && !s.sameOrigin(r) {
		return nil, lobby.Errorf(lobby.EFORBIDDEN, "a cross-site request may not use the session cookie; send a bearer token")
	}
	return s.Auth.Authenticate(r.Context(), token)
}

func (s *Server) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser's cross-site request: browsers send Origin on those
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if u.Host == r.Host {
		return true
	}
	base, err := url.Parse(s.BaseURL)
	return err == nil && base.Host != "" && u.Host == base.Host
}

var kindNames = map[string]string{
	lobby.TokenUser:       "a signed-in user's cl_user_ token",
	lobby.TokenBuyer:      "a subscription's cl_buyer_ token",
	lobby.TokenConsultant: "a consultant's cl_consultant_ key",
}

// require authenticates the request and checks its credential is of one of kinds.
func (s *Server) require(r *http.Request, kinds ...string) (*lobby.Principal, error) {
	p, err := s.authenticate(r)
	if err != nil {
		return nil, err
	}
	for _, k := range kinds {
		if p.Kind == k {
			return p, nil
		}
	}
	var want []string
	for _, k := range kinds {
		want = append(want, kindNames[k])
	}
	return nil, lobby.Errorf(lobby.EFORBIDDEN, "this route takes %s, not %s", strings.Join(want, " or "), kindNames[p.Kind])
}

func (s *Server) handleAuthCode(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Email string `json:"email"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	email, err := lobby.NormalizeEmail(in.Email)
	if err != nil {
		return err
	}
	if err := lobby.SendLoginCode(r.Context(), s.Auth, s.Mailer, email); err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, map[string]bool{"sent": true})
	return nil
}

func (s *Server) handleAuthVerify(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Email string `json:"email"`
		Code  string `json:"code"`
	}
	if err := decode(w, r, &in); err != nil {
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
	s.setSessionCookie(w, r, token, int(lobby.SessionTTL.Seconds()))
	writeJSON(w, http.StatusOK, map[string]any{"token": token, "user": user})
	return nil
}

// setSessionCookie gives a browser its session; maxAge < 0 deletes it.
func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, token string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: lobby.SessionCookie, Value: token, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil || strings.HasPrefix(s.BaseURL, "https://"),
	})
}

func (s *Server) handleAuthLogout(w http.ResponseWriter, r *http.Request) error {
	p, err := s.require(r, lobby.TokenUser)
	if err != nil {
		return err
	}
	if err := s.Auth.RevokeSession(r.Context(), p.SessionID); err != nil {
		return err
	}
	s.setSessionCookie(w, r, "", -1)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleMe(w http.ResponseWriter, r *http.Request) error {
	p, err := s.require(r, lobby.TokenUser)
	if err != nil {
		return err
	}
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
	writeJSON(w, http.StatusOK, map[string]any{"user": user, "consultants": consultants, "subscriptions": views})
	return nil
}
