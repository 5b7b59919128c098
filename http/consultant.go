package http

import (
	"net/http"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/http/request"
	"github.com/lobby-dev/lobby/http/response"
)

// consultantInput is the body of create and update; absent fields are nil.
type consultantInput struct {
	Slug         *string       `json:"slug"`
	Name         *string       `json:"name"`
	Tagline      *string       `json:"tagline"`
	Description  *string       `json:"description"`
	Category     *string       `json:"category"`
	Tags         *[]string     `json:"tags"`
	SystemPrompt *string       `json:"system_prompt"`
	Mode         *lobby.Mode   `json:"mode"`
	WebhookURL   *string       `json:"webhook_url"`
	Model        *string       `json:"model"`
	Plans        *[]lobby.Plan `json:"plans"`
}

func (in consultantInput) update() lobby.ConsultantUpdate {
	return lobby.ConsultantUpdate{
		Slug: in.Slug, Name: in.Name, Tagline: in.Tagline, Description: in.Description, Category: in.Category,
		Tags: in.Tags, SystemPrompt: in.SystemPrompt, Mode: in.Mode, WebhookURL: in.WebhookURL, Model: in.Model, Plans: in.Plans,
	}
}

// publicConsultant is what anyone may see; lobby.Consultant's private fields are
// tagged out of its JSON.
func publicConsultant(c *lobby.Consultant) *lobby.Consultant {
	if c.Tags == nil {
		c.Tags = []string{}
	}
	if c.Plans == nil {
		c.Plans = []lobby.Plan{}
	}
	return c
}

// privateConsultant is what the owner and the consultant's own key see. The webhook
// secret is shown once, at creation, and never here.
type privateConsultant struct {
	*lobby.Consultant
	OwnerID      string     `json:"owner_id"`
	SystemPrompt string     `json:"system_prompt"`
	WebhookURL   string     `json:"webhook_url"`
	Model        string     `json:"model"`
	UpdatedAt    time.Time  `json:"updated_at"`
	ArchivedAt   *time.Time `json:"archived_at"`
}

func newPrivateConsultant(c *lobby.Consultant) privateConsultant {
	return privateConsultant{Consultant: publicConsultant(c), OwnerID: c.OwnerID, SystemPrompt: c.SystemPrompt,
		WebhookURL: c.WebhookURL, Model: c.Model, UpdatedAt: c.UpdatedAt, ArchivedAt: c.ArchivedAt}
}

func (s *Server) validateOptions() lobby.ValidateOptions { return lobby.ValidateOptions{Dev: s.Dev} }

func (s *Server) handleConsultantCreate(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	var in consultantInput
	if err := request.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	c := &lobby.Consultant{OwnerID: p.UserID}
	in.update().Apply(c)
	key, err := s.Consultants.CreateConsultant(r.Context(), c, s.validateOptions())
	if err != nil {
		return err
	}
	out := map[string]any{"consultant": newPrivateConsultant(c), "api_key": key}
	if c.WebhookSecret != "" {
		out["webhook_secret"] = c.WebhookSecret
	}
	response.JSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) handleConsultantList(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := request.Page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if len(q.Get("q")) > 200 {
		return lobby.Errorf(lobby.EINVALID, "q must be at most 200 characters")
	}
	if len(q.Get("category")) > lobby.MaxCategoryLen {
		return lobby.Errorf(lobby.EINVALID, "category must be at most %d characters", lobby.MaxCategoryLen)
	}
	cs, next, err := s.Consultants.FindConsultants(r.Context(), lobby.ConsultantFilter{
		Query: q.Get("q"), Category: q.Get("category"), Limit: limit, Cursor: cursor,
	})
	if err != nil {
		return err
	}
	for _, c := range cs {
		publicConsultant(c)
	}
	response.JSON(w, http.StatusOK, newList(cs, next))
	return nil
}

func (s *Server) handleConsultantGet(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Consultants.FindConsultantBySlug(r.Context(), r.PathValue("slug"))
	if err != nil {
		return err
	}
	if c.Archived() {
		return lobby.Errorf(lobby.ENOTFOUND, "%s is no longer in the catalog", c.Slug)
	}
	response.JSON(w, http.StatusOK, publicConsultant(c))
	return nil
}

func (s *Server) handleConsultantPrivate(w http.ResponseWriter, r *http.Request) error {
	c := pathConsultant(r)
	response.JSON(w, http.StatusOK, newPrivateConsultant(c))
	return nil
}

func (s *Server) handleConsultantUpdate(w http.ResponseWriter, r *http.Request) error {
	c := pathConsultant(r)
	var in consultantInput
	if err := request.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	before := c.WebhookURL
	c, secret, err := s.Consultants.UpdateConsultant(r.Context(), c.ID, in.update(), s.validateOptions())
	if err != nil {
		return err
	}
	if c.WebhookURL != before {
		s.tellOwner(r, c, "its webhook URL was changed to "+c.WebhookURL)
	}
	out := map[string]any{"consultant": newPrivateConsultant(c)}
	if secret != "" {
		out["webhook_secret"] = secret
	}
	response.JSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleConsultantArchive(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.Consultants.ArchiveConsultant(r.Context(), pathConsultant(r).ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleKeyRotate(w http.ResponseWriter, r *http.Request) error {
	overlap, err := overlapBody(w, r, 0, lobby.MaxKeyOverlap, "a day")
	if err != nil {
		return err
	}
	key, until, err := s.Consultants.RotateKey(r.Context(), pathConsultant(r).ID, overlap)
	if err != nil {
		return err
	}
	response.JSON(w, http.StatusOK, map[string]any{"api_key": key, "previous_key_valid_until": until})
	return nil
}

func (s *Server) handleKeyList(w http.ResponseWriter, r *http.Request) error {
	keys, err := s.Consultants.FindKeys(r.Context(), pathConsultant(r).ID)
	if err != nil {
		return err
	}
	response.JSON(w, http.StatusOK, newList(keys, ""))
	return nil
}

// tellOwner mails the consultant's owner that something was changed with the
// consultant's own key rather than by the owner: a leaked key shows itself. A change
// the owner made needs no mail. A mail that cannot be sent is logged, not fatal.
func (s *Server) tellOwner(r *http.Request, c *lobby.Consultant, change string) {
	if caller(r).Kind != lobby.CallerConsultant {
		return
	}
	ctx := r.Context()
	owner, err := s.Auth.FindUserByID(ctx, c.OwnerID)
	if err == nil {
		err = s.Mailer.Send(ctx, lobby.KeyChangeEmail(owner, c, change, s.BaseURL, s.Now()))
	}
	if err != nil {
		s.Logger.WarnContext(ctx, "tell owner of a change by key", "consultant", c.Slug, "err", err)
	}
}
