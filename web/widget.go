package web

import (
	"net/http"
	"strings"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/http/request"
	"github.com/lobby-dev/lobby/http/response"
)

// The widget: <script src="{base}/widget.js" data-consultant="{slug}" async> on any
// site adds a button that opens /widget/{slug} in a frame. Browsers withhold the
// site's own session cookie from a frame on another site's page, so the frame signs
// in for itself and keeps its session in a partitioned cookie of its own
// (response.SetWidgetSession), read by these pages only. In the frame a person signs
// in, subscribes and chats; the chat is the chat page's, through the same API.

// framed lets a widget page be shown in a frame on any site: the one exception to
// frame-ancestors 'none', made to the policy the server set.
func framed(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", strings.Replace(h.Get("Content-Security-Policy"), "frame-ancestors 'none'", "frame-ancestors *", 1))
	h.Del("X-Frame-Options")
}

// widgetPrincipal is the frame's signed-in user, from its own cookie; nil when there
// is none or it no longer works.
func (h *Handler) widgetPrincipal(r *http.Request) *lobby.Principal {
	c, err := r.Cookie(request.WidgetCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	p, err := h.cfg.Auth.Authenticate(r.Context(), c.Value)
	if err != nil || p.Kind != lobby.CallerUser {
		return nil
	}
	return p
}

// widgetScript serves the script a site embeds.
func (h *Handler) widgetScript(w http.ResponseWriter, r *http.Request) error {
	b, err := staticFS.ReadFile("static/widget.js")
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, err = w.Write(b)
	return err
}

// widget is the frame: sign-in, then the consultant's plans, then its chat.
func (h *Handler) widget(w http.ResponseWriter, r *http.Request) error {
	framed(w)
	ctx := r.Context()
	c, err := h.cfg.Consultants.FindConsultantBySlug(ctx, r.PathValue("slug"))
	if err != nil {
		return err
	}
	p := h.widgetPrincipal(r)
	data := map[string]any{"Consultant": c, "Step": "sign-in"}
	if p != nil {
		sub, err := h.cfg.Subscriptions.FindHeldSubscription(ctx, p.UserID, c.ID)
		switch {
		case err == nil:
			if data, err = h.chatData(r, p, c, sub, "/widget/"+c.Slug); err != nil {
				return err
			}
			data["Step"] = "chat"
		case lobby.ErrorCode(err) == lobby.ENOTFOUND:
			data["Step"] = "subscribe"
			if id := r.URL.Query().Get("checkout"); id != "" {
				res, err := h.cfg.Subscriptions.FindCheckout(ctx, p.UserID, id)
				if err == nil && res.Checkout != nil {
					data["Checkout"], data["Local"] = res.Checkout, h.confirmer() != nil
				}
			}
		default:
			return err
		}
	}
	return h.render(w, r, http.StatusOK, "widget", page{Title: c.Name, Frame: true, Data: data})
}

// widgetAct takes the frame's forms: the sign-in code asked for and given, a tier
// chosen, a local checkout confirmed, a message sent without script.
func (h *Handler) widgetAct(w http.ResponseWriter, r *http.Request) error {
	framed(w)
	ctx, slug := r.Context(), r.PathValue("slug")
	back := "/widget/" + slug
	c, err := h.cfg.Consultants.FindConsultantBySlug(ctx, slug)
	if err != nil {
		return err
	}
	action := r.PathValue("action")
	fail := func(err error, step string, extra map[string]any) error {
		data := map[string]any{"Consultant": c, "Step": step}
		for k, v := range extra {
			data[k] = v
		}
		return h.render(w, r, response.Status(lobby.ErrorCode(err)), "widget", page{Title: c.Name, Frame: true, Error: lobby.ErrorMessage(err), Data: data})
	}
	switch action {
	case "login":
		email, err := h.sendCode(r)
		if err != nil {
			return fail(err, "sign-in", nil)
		}
		return h.render(w, r, http.StatusOK, "widget", page{Title: c.Name, Frame: true, Data: map[string]any{"Consultant": c, "Step": "code", "Email": email}})
	case "verify":
		email, token, err := h.verifyCode(r)
		if err != nil {
			return fail(err, "code", map[string]any{"Email": email})
		}
		response.SetWidgetSession(w, token)
	default:
		p := h.widgetPrincipal(r)
		if p == nil {
			break // signed out meanwhile: the frame asks to sign in again
		}
		switch action {
		case "subscribe":
			ch, err := lobby.StartCheckout(ctx, lobby.StartCheckoutParams{Subscriptions: h.cfg.Subscriptions, Payments: h.cfg.Payments,
				Consultant: c, UserID: p.UserID, Tier: r.PostFormValue("tier"), BaseURL: h.cfg.BaseURL})
			if err != nil {
				return fail(err, "subscribe", nil)
			}
			back += "?checkout=" + ch.ID
		case "confirm":
			confirmer := h.confirmer()
			if confirmer == nil {
				return lobby.Errorf(lobby.ENOTFOUND, "checkouts are paid with the payment provider, not here")
			}
			if err := confirmer.ConfirmCheckout(ctx, h.cfg.Subscriptions, r.PostFormValue("checkout"), p.UserID); err != nil {
				return fail(err, "subscribe", nil)
			}
		case "send":
			sub, err := h.cfg.Subscriptions.FindHeldSubscription(ctx, p.UserID, c.ID)
			if err == nil {
				_, _, err = h.cfg.Replies.Send(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, ConversationID: r.PostFormValue("conversation_id"),
					Content: r.PostFormValue("message")}, false)
			}
			if err != nil {
				return err
			}
		default:
			return lobby.Errorf(lobby.ENOTFOUND, "there is no page at %s", r.URL.Path)
		}
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
	return nil
}

// widgetSend is the chat form's post without script, in the frame.
func (h *Handler) widgetSend(w http.ResponseWriter, r *http.Request) error {
	r.SetPathValue("action", "send")
	return h.widgetAct(w, r)
}
