package web

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/http/request"
	"github.com/lobby-dev/lobby/http/response"
)

// dashboard lists the signed-in owner's consultants with their numbers, and the form
// that lists a new one.
func (h *Handler) dashboard(w http.ResponseWriter, r *http.Request) error {
	return h.dashboardPage(w, r, http.StatusOK, nil, "", "", nil)
}

// dashboardPage renders the dashboard; created is a consultant just listed, with its
// key and webhook secret shown once; form and failed are a refused form, shown again.
func (h *Handler) dashboardPage(w http.ResponseWriter, r *http.Request, status int, created *lobby.Consultant, key, secret string,
	form map[string]string, failed ...error) error {
	p, err := h.signedIn(r, "/dashboard")
	if err != nil {
		return err
	}
	cs, _, err := h.cfg.Consultants.FindConsultants(r.Context(), lobby.ConsultantFilter{OwnerID: p.UserID, Limit: 100})
	if err != nil {
		return err
	}
	counts, err := h.cfg.Activity.CountMessages(r.Context(), p.UserID)
	if err != nil {
		return err
	}
	pg := page{Title: "Dashboard", Data: map[string]any{"Consultants": cs, "Messages": counts, "Created": created, "Key": key, "Secret": secret, "Form": form}}
	if len(failed) > 0 {
		pg.Error = lobby.ErrorMessage(failed[0])
	}
	return h.render(w, r, status, "dashboard", pg)
}

// dashboardCreate lists a new consultant from the form, by the rules the API's
// POST /api/v1/consultants follows.
func (h *Handler) dashboardCreate(w http.ResponseWriter, r *http.Request) error {
	p, err := h.signedIn(r, "/dashboard")
	if err != nil {
		return err
	}
	form := map[string]string{}
	for _, f := range []string{"slug", "name", "tagline", "description", "category", "system_prompt", "mode", "webhook_url"} {
		form[f] = strings.TrimSpace(r.PostFormValue(f))
	}
	upd := profileForm(r)
	upd.Slug = ptr(form["slug"])
	c := &lobby.Consultant{OwnerID: p.UserID}
	upd.Apply(c)
	key, err := h.cfg.Consultants.CreateConsultant(r.Context(), c, lobby.ValidateOptions{Dev: h.cfg.Dev})
	if code := lobby.ErrorCode(err); code == lobby.EINVALID || code == lobby.ECONFLICT {
		return h.dashboardPage(w, r, http.StatusBadRequest, nil, "", "", form, err)
	} else if err != nil {
		return err
	}
	return h.dashboardPage(w, r, http.StatusCreated, c, key, c.WebhookSecret, nil)
}

func ptr[T any](v T) *T { return &v }

// profileForm reads the profile's fields as the new-consultant form and the profile
// form post them: one-line fields trimmed, the description and prompt as written.
func profileForm(r *http.Request) lobby.ConsultantUpdate {
	line := func(f string) *string { return ptr(strings.TrimSpace(r.PostFormValue(f))) }
	text := func(f string) *string { return ptr(r.PostFormValue(f)) }
	return lobby.ConsultantUpdate{Name: line("name"), Tagline: line("tagline"), Description: text("description"), Category: line("category"),
		SystemPrompt: text("system_prompt"), Mode: ptr(lobby.Mode(r.PostFormValue("mode"))), WebhookURL: line("webhook_url")}
}

// ownedConsultant returns the signed-in owner's consultant {slug}; another's is a
// plain 404, as if it were not there.
func (h *Handler) ownedConsultant(r *http.Request) (*lobby.Consultant, error) {
	slug := r.PathValue("slug")
	back := "/dashboard/" + slug // where a form's post goes back to after signing in
	if r.Method == http.MethodGet {
		back = r.URL.Path
	}
	if _, err := h.signedIn(r, back); err != nil {
		return nil, err
	}
	c, err := h.cfg.Consultants.FindConsultantBySlug(r.Context(), slug)
	if err == nil && !lobby.CanManageConsultant(r.Context(), c) {
		err = lobby.Errorf(lobby.ENOTFOUND, "no consultant %q of yours", slug)
	}
	return c, err
}

// dashboardConsultant is an owner's page of one consultant: its profile and prompt to
// edit, and its knowledge with live ingestion progress.
func (h *Handler) dashboardConsultant(w http.ResponseWriter, r *http.Request) error {
	c, err := h.ownedConsultant(r)
	if err != nil {
		return err
	}
	return h.consultantPage(w, r, http.StatusOK, c, "", nil)
}

func (h *Handler) consultantPage(w http.ResponseWriter, r *http.Request, status int, c *lobby.Consultant, saved string, failed error) error {
	ctx := r.Context()
	docs, _, err := h.cfg.Knowledge.FindDocuments(ctx, lobby.DocumentFilter{ConsultantID: c.ID, Limit: 100})
	if err != nil {
		return err
	}
	days, err := h.cfg.Activity.FindActivity(ctx, c.ID)
	if err != nil {
		return err
	}
	earnings, err := h.cfg.Earnings.FindEarnings(ctx, c.ID)
	if err != nil {
		return err
	}
	plans := slices.Clone(c.Plans)
	if len(plans) < lobby.MaxPlans {
		plans = append(plans, lobby.Plan{Currency: "usd"}) // a row to add one
	}
	pg := page{Title: c.Name, Data: map[string]any{"Consultant": c, "Documents": docs, "Saved": saved,
		"Charts": activityCharts(c, days, earnings, h.cfg.Now()), "Plans": plans}}
	if failed != nil {
		pg.Error = lobby.ErrorMessage(failed)
	}
	return h.render(w, r, status, "owner-consultant", pg)
}

// dashboardUpdate saves the profile form, by the rules PATCH /api/v1/consultants/{slug}
// follows.
func (h *Handler) dashboardUpdate(w http.ResponseWriter, r *http.Request) error {
	c, err := h.ownedConsultant(r)
	if err != nil {
		return err
	}
	upd := profileForm(r)
	updated, secret, err := h.cfg.Consultants.UpdateConsultant(r.Context(), c.ID, upd, lobby.ValidateOptions{Dev: h.cfg.Dev})
	if code := lobby.ErrorCode(err); code == lobby.EINVALID || code == lobby.ECONFLICT {
		upd.Apply(c) // shown again as typed
		return h.consultantPage(w, r, http.StatusBadRequest, c, "", err)
	} else if err != nil {
		return err
	}
	saved := "Saved."
	if secret != "" {
		saved = "Saved. The new webhook secret, shown this once: " + secret
	}
	return h.consultantPage(w, r, http.StatusOK, updated, saved, nil)
}

// dashboardKey rotates the consultant's API key, the old one working on for the
// overlap chosen, and shows the new one once.
func (h *Handler) dashboardKey(w http.ResponseWriter, r *http.Request) error {
	return h.rotate(w, r, 0, lobby.MaxKeyOverlap, "The new API key", "the old key keeps working",
		func(ctx context.Context, c *lobby.Consultant, overlap time.Duration) (string, *lobby.Consultant, error) {
			key, _, err := h.cfg.Consultants.RotateKey(ctx, c.ID, overlap)
			return key, c, err
		})
}

// dashboardSecret rotates a webhook consultant's signing secret, the old one signing
// beside it for the overlap chosen, and shows the new one once.
func (h *Handler) dashboardSecret(w http.ResponseWriter, r *http.Request) error {
	return h.rotate(w, r, lobby.DefaultSecretOverlap, lobby.MaxSecretOverlap, "The new webhook secret", "the old secret keeps signing",
		func(ctx context.Context, c *lobby.Consultant, overlap time.Duration) (string, *lobby.Consultant, error) {
			return h.cfg.Deliveries.RotateWebhookSecret(ctx, c.ID, overlap)
		})
}

// rotate is a rotation form's post: the overlap chosen (def when none, up to max),
// then f, whose new credential is shown this once on the consultant's page.
func (h *Handler) rotate(w http.ResponseWriter, r *http.Request, def, max time.Duration, what, overlapIs string,
	f func(context.Context, *lobby.Consultant, time.Duration) (string, *lobby.Consultant, error)) error {
	c, err := h.ownedConsultant(r)
	if err != nil {
		return err
	}
	overlap, err := time.ParseDuration(cmp.Or(r.PostFormValue("overlap"), def.String()))
	if err != nil || overlap < 0 || overlap > max {
		return lobby.Errorf(lobby.EINVALID, "overlap is how long %s: 0s up to %s", overlapIs, max)
	}
	made, c, err := f(r.Context(), c, overlap)
	if err != nil {
		return err
	}
	return h.consultantPage(w, r, http.StatusOK, c, what+", shown this once: "+made, nil)
}

// dashboardPlans saves the plans form, a row a tier (a row without a tier is left
// out), by the rules PATCH /api/v1/consultants/{slug} follows for "plans".
func (h *Handler) dashboardPlans(w http.ResponseWriter, r *http.Request) error {
	c, err := h.ownedConsultant(r)
	if err != nil {
		return err
	}
	plans, err := plansForm(r)
	if err == nil {
		var updated *lobby.Consultant
		if updated, _, err = h.cfg.Consultants.UpdateConsultant(r.Context(), c.ID, lobby.ConsultantUpdate{Plans: &plans},
			lobby.ValidateOptions{Dev: h.cfg.Dev}); err == nil {
			return h.consultantPage(w, r, http.StatusOK, updated, "Plans saved.", nil)
		}
	}
	if code := lobby.ErrorCode(err); code == lobby.EINVALID || code == lobby.ECONFLICT {
		return h.consultantPage(w, r, http.StatusBadRequest, c, "", err)
	}
	return err
}

// plansForm reads the plans form's rows: tier, price (an amount such as 29 or 9.50),
// currency, cap (empty for unlimited) and per ("message" for a price per message).
func plansForm(r *http.Request) ([]lobby.Plan, error) {
	if err := r.ParseForm(); err != nil {
		return nil, lobby.Errorf(lobby.EINVALID, "the form could not be read: %v", err)
	}
	f := r.PostForm
	tiers := f["tier"]
	if len(tiers) > lobby.MaxPlans+1 {
		return nil, lobby.Errorf(lobby.EINVALID, "plans: give 1 to %d plans, got %d", lobby.MaxPlans, len(tiers))
	}
	at := func(name string, i int) string {
		if vs := f[name]; i < len(vs) {
			return strings.TrimSpace(vs[i])
		}
		return ""
	}
	var plans []lobby.Plan
	for i, tier := range tiers {
		tier = strings.TrimSpace(tier)
		if tier == "" {
			continue
		}
		p := lobby.Plan{Tier: tier, Currency: strings.ToLower(cmp.Or(at("currency", i), "usd")), Per: at("per", i)}
		cents, ok := parseCents(at("price", i))
		if !ok {
			return nil, lobby.Errorf(lobby.EINVALID, "plan %q: the price %q is not an amount; write it as 29 or 9.50 (0 for free)", tier, at("price", i))
		}
		p.PriceCents = cents
		if cp := at("cap", i); cp != "" {
			n, err := strconv.ParseInt(cp, 10, 64)
			if err != nil {
				return nil, lobby.Errorf(lobby.EINVALID, "plan %q: the cap %q is not a whole number of messages; leave it empty for unlimited", tier, cp)
			}
			p.MessageCap = &n
		}
		plans = append(plans, p)
	}
	return plans, nil
}

// parseCents reads an amount of money with at most two decimals: "29", "9.5", "9.50".
func parseCents(s string) (int64, bool) {
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(frac) > 2 {
		return 0, false
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w < 0 || w > lobby.MaxPriceCents/100 {
		return 0, false
	}
	cents := w * 100
	if frac != "" {
		f, err := strconv.ParseUint(frac, 10, 8)
		if err != nil {
			return 0, false
		}
		if len(frac) == 1 {
			f *= 10
		}
		cents += int64(f)
	}
	return cents, true
}

// dashboardUpload stores the upload form's document and queues its ingestion, by the
// rules POST /api/v1/consultants/{slug}/knowledge follows: the form as it posts
// without script (with script the page sends the file to that route itself).
func (h *Handler) dashboardUpload(w http.ResponseWriter, r *http.Request) error {
	c, err := h.ownedConsultant(r)
	if err != nil {
		return err
	}
	up, err := request.ReadUpload(w, r)
	if err == nil {
		var p lobby.DocumentParams
		if p, err = up.Document(c.ID); err == nil {
			var doc *lobby.Document
			var created bool
			if doc, created, err = h.cfg.Knowledge.CreateDocument(r.Context(), p); err == nil {
				saved := doc.Title + " is uploaded and being read; reload the page to see its progress."
				if !created {
					saved = "That content is already here, as " + doc.Title + "."
				}
				return h.consultantPage(w, r, http.StatusAccepted, c, saved, nil)
			}
		}
	}
	switch code := lobby.ErrorCode(err); code {
	case lobby.EINVALID, lobby.ECONFLICT, lobby.ETOOLARGE, lobby.EMEDIATYPE:
		return h.consultantPage(w, r, response.Status(code), c, "", err)
	}
	return err
}

// dashboardConversations lists the consultant's conversations, newest first, and
// shows one, read-only, when ?id= names it.
func (h *Handler) dashboardConversations(w http.ResponseWriter, r *http.Request) error {
	c, err := h.ownedConsultant(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	data := map[string]any{"Consultant": c}
	if id := r.URL.Query().Get("id"); id != "" {
		conv, err := h.cfg.Chat.FindConversationByID(ctx, id)
		if err != nil || conv.ConsultantID != c.ID {
			return lobby.Errorf(lobby.ENOTFOUND, "no conversation %q of %s", id, c.Name)
		}
		ms, err := h.cfg.Chat.FindRecentMessages(ctx, lobby.RecentFilter{ConversationID: conv.ID, UpTo: newestMessage, Limit: 200})
		if err != nil {
			return err
		}
		data["Conversation"], data["Messages"] = conv, ms
	} else {
		convs, next, err := h.cfg.Chat.FindConversations(ctx, lobby.ConversationFilter{ConsultantID: c.ID, Limit: 50, Cursor: r.URL.Query().Get("cursor")})
		if err != nil {
			return err
		}
		data["Conversations"], data["Next"] = convs, next
	}
	return h.render(w, r, http.StatusOK, "owner-conversations", page{Title: "Conversations of " + c.Name, Data: data})
}
