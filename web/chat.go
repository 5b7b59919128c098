package web

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/lobby-dev/lobby"
)

// chatPage is how many messages the chat page shows at once; older ones are a link
// (or a scroll) away.
const chatPage = 50

// newestMessage sorts after every message ID ("~" after every ID character): a
// RecentFilter's UpTo for the newest messages.
const newestMessage = lobby.PrefixMessage + "~"

// chatSubscription returns the signed-in user's consultant {slug} and the
// subscription it holds to it, or an error for the pages' renderer: sign in, a plain
// 404 for a consultant that is not there, or one that says how to subscribe.
func (h *Handler) chatSubscription(r *http.Request) (*lobby.Principal, *lobby.Consultant, *lobby.Subscription, error) {
	slug := r.PathValue("slug")
	p, err := h.signedIn(r, "/chat/"+slug)
	if err != nil {
		return nil, nil, nil, err
	}
	c, err := h.cfg.Consultants.FindConsultantBySlug(r.Context(), slug)
	if err != nil {
		return nil, nil, nil, err
	}
	sub, err := h.cfg.Subscriptions.FindHeldSubscription(r.Context(), p.UserID, c.ID)
	if lobby.ErrorCode(err) == lobby.ENOTFOUND {
		err = lobby.Errorf(lobby.ENOTFOUND, "you hold no subscription to %s: subscribe on its profile, /consultants/%s", c.Name, c.Slug)
	}
	return p, c, sub, err
}

// chat shows the signed-in buyer's conversation with a consultant, the newest
// messages first loaded (or those before ?before=), with a token for the page's
// script to send and follow by the API.
func (h *Handler) chat(w http.ResponseWriter, r *http.Request) error {
	p, c, sub, err := h.chatSubscription(r)
	if err != nil {
		return err
	}
	data, err := h.chatData(r, p, c, sub, "/chat/"+c.Slug)
	if err != nil {
		return err
	}
	return h.render(w, r, http.StatusOK, "chat", page{Title: c.Name, Data: data})
}

// chatData is what the chatbox template shows of sub's default conversation, for the
// session of p; action is where its form posts without script.
func (h *Handler) chatData(r *http.Request, p *lobby.Principal, c *lobby.Consultant, sub *lobby.Subscription, action string) (map[string]any, error) {
	ctx := r.Context()
	conv, err := h.cfg.Chat.OpenConversation(ctx, sub.ID, "")
	if err != nil {
		return nil, err
	}
	upTo := newestMessage
	if before := r.URL.Query().Get("before"); before != "" {
		if !strings.HasPrefix(before, lobby.PrefixMessage) || !lobby.IDChars(before) {
			return nil, lobby.Errorf(lobby.EINVALID, "before is a message id (msg_...); follow the Earlier messages link")
		}
		upTo = before
	}
	ms, err := h.cfg.Chat.FindRecentMessages(ctx, lobby.RecentFilter{ConversationID: conv.ID, UpTo: upTo, Limit: chatPage + 2})
	if err != nil {
		return nil, err
	}
	if n := len(ms); n > 0 && ms[n-1].ID == upTo {
		ms = ms[:n-1] // before is not shown again
	}
	earlier := ""
	if len(ms) > chatPage {
		ms = ms[len(ms)-chatPage:]
		earlier = ms[0].ID
	}
	token, err := h.cfg.Auth.CreatePageToken(ctx, p.SessionID, sub.ID)
	if err != nil {
		return nil, err
	}
	usage := sub.Usage()
	if sub.Per == lobby.PerMessage {
		b, err := h.cfg.Credits.FindBalance(ctx, p.UserID)
		if err != nil {
			return nil, err
		}
		usage.CreditsCents = &b.BalanceCents
	}
	return map[string]any{"Consultant": c, "Conversation": conv, "Messages": ms, "Earlier": earlier, "Token": token, "Usage": usage,
		"Action": action}, nil
}

// chatSend sends the chat form's message without the page's script: the reply
// shows on the page once it has ended.
func (h *Handler) chatSend(w http.ResponseWriter, r *http.Request) error {
	_, c, sub, err := h.chatSubscription(r)
	if err != nil {
		return err
	}
	_, _, err = h.cfg.Replies.Send(r.Context(), lobby.ExchangeParams{SubscriptionID: sub.ID,
		ConversationID: r.PostFormValue("conversation_id"), Content: r.PostFormValue("message")}, false)
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/chat/"+c.Slug, http.StatusSeeOther)
	return nil
}

// chatMessage renders one message of the buyer's conversation as the page shows it:
// the script swaps a reply's streamed text for it once the reply has ended, so that
// Markdown is rendered in one place, here.
func (h *Handler) chatMessage(w http.ResponseWriter, r *http.Request) error {
	var subID string
	if p := lobby.PrincipalFromContext(r.Context()); p != nil && p.Kind == lobby.CallerBuyer {
		subID = p.SubscriptionID // the page's own token, as the widget's frame sends it
	} else {
		_, _, sub, err := h.chatSubscription(r)
		if err != nil {
			return err
		}
		subID = sub.ID
	}
	ctx := r.Context()
	m, err := h.cfg.Chat.FindMessageByID(ctx, r.PathValue("id"))
	if err != nil {
		return err
	}
	conv, err := h.cfg.Chat.FindConversationByID(ctx, m.ConversationID)
	if err != nil || conv.SubscriptionID != subID {
		return lobby.Errorf(lobby.ENOTFOUND, "no message %q in your conversations", m.ID)
	}
	var b bytes.Buffer
	if err := h.pages["chat"].ExecuteTemplate(&b, "message", m); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, err = w.Write(b.Bytes())
	return err
}
