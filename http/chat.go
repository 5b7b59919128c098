package http

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/chat"
	"github.com/lobby-dev/lobby/http/request"
	"github.com/lobby-dev/lobby/http/response"
)

// Consulter sends a buyer's message and produces the reply; chat.Service is one. With
// follow set it returns the exchange's follow, subscribed before the exchange was stored.
type Consulter interface {
	Send(ctx context.Context, p lobby.ExchangeParams, follow bool) (*lobby.Exchange, *chat.Follow, error)
}

// Limits of the waiting routes, from the contract.
const (
	DefaultChatWait = 30
	MaxChatWait     = 120
	MaxPollWait     = 60
	// heartbeat is how often an idle stream says it is alive.
	heartbeat = 15 * time.Second
)

func (s *Server) handleChat(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	var in struct {
		Message        string `json:"message"`
		ConversationID string `json:"conversation_id"`
		Stream         bool   `json:"stream"`
		WaitSeconds    *int   `json:"wait_seconds"`
	}
	if err := request.DecodeJSON(w, r, &in); err != nil {
		return err
	}
	wait := DefaultChatWait
	if in.WaitSeconds != nil {
		if wait = *in.WaitSeconds; wait < 0 || wait > MaxChatWait {
			return lobby.Errorf(lobby.EINVALID, "wait_seconds must be from 0 to %d", MaxChatWait)
		}
	}
	stream := in.Stream || strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	if stream || wait > 0 {
		release, err := s.holdStream(r) // before the message is stored, so a refusal stores nothing
		if err != nil {
			return err
		}
		defer release()
	}

	ex, follow, err := s.Consult.Send(r.Context(), lobby.ExchangeParams{SubscriptionID: p.SubscriptionID, ConversationID: in.ConversationID, Content: in.Message},
		stream || wait > 0)
	if err != nil {
		return err
	}
	defer follow.Close()
	var reply *lobby.Message
	if stream || wait > 0 {
		ctx, cancel := s.followContext(r)
		defer cancel()
		if stream {
			out, err := startSSE(w)
			if err != nil {
				return err
			}
			follow.StreamExchange(ctx, ex, out, heartbeat)
			return nil
		}
		ctx, cancelWait := context.WithTimeout(ctx, time.Duration(wait)*time.Second)
		defer cancelWait()
		reply, _ = follow.AwaitReply(ctx, ex.Reply.ID)
	}
	status := http.StatusOK
	if reply == nil {
		status = http.StatusAccepted
	}
	response.JSON(w, status, map[string]any{"conversation_id": ex.Conversation.ID, "message": ex.Message, "reply": reply, "reply_id": ex.Reply.ID,
		"usage": ex.Usage})
	return nil
}

// sse writes Server-Sent Events; it is a chat.Transport.
type sse struct {
	w http.ResponseWriter
	f http.Flusher
}

func startSSE(w http.ResponseWriter) (*sse, error) {
	f, ok := w.(http.Flusher)
	if !ok {
		return nil, lobby.Errorf(lobby.EINTERNAL, "streaming is not supported by this connection")
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	f.Flush()
	return &sse{w: w, f: f}, nil
}

// Write implements chat.Transport.
func (s *sse) Write(e lobby.Event) error {
	data, err := json.Marshal(e.Data)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(s.w, "id: %s\nevent: %s\ndata: %s\n\n", e.ID, e.Type, data); err != nil {
		return err
	}
	s.f.Flush()
	return nil
}

// Ping implements chat.Transport.
func (s *sse) Ping() error {
	if _, err := fmt.Fprint(s.w, ": ping\n\n"); err != nil {
		return err
	}
	s.f.Flush()
	return nil
}

func (s *Server) handleConversationList(w http.ResponseWriter, r *http.Request) error {
	p := caller(r)
	limit, cursor, err := request.Page(r)
	if err != nil {
		return err
	}
	f := lobby.ConversationFilter{Limit: limit, Cursor: cursor, SubscriptionID: p.SubscriptionID}
	if p.Kind == lobby.CallerConsultant {
		f = lobby.ConversationFilter{Limit: limit, Cursor: cursor, ConsultantID: p.ConsultantID}
	}
	cs, next, err := s.Chat.FindConversations(r.Context(), f)
	if err != nil {
		return err
	}
	for _, c := range cs {
		c.Hide(r.Context())
	}
	response.JSON(w, http.StatusOK, newList(cs, next))
	return nil
}

func (s *Server) handleMessageList(w http.ResponseWriter, r *http.Request) error {
	c := pathConversation(r)
	limit, _, err := request.Page(r)
	if err != nil {
		return err
	}
	if limit == 0 {
		limit = 20
	}
	q := r.URL.Query()
	after := q.Get("after")
	if len(after) > 64 {
		return lobby.Errorf(lobby.EINVALID, "after must be a message id")
	}
	wait, err := request.Seconds(r, "wait", MaxPollWait)
	if err != nil {
		return err
	}
	f := lobby.MessageFilter{ConversationID: c.ID, After: after, Limit: limit}
	var ms []*lobby.Message
	if wait > 0 {
		release, err := s.holdStream(r)
		if err != nil {
			return err
		}
		defer release()
		ctx, cancel := s.followContext(r)
		defer cancel()
		ctx, cancelWait := context.WithTimeout(ctx, time.Duration(wait)*time.Second)
		defer cancelWait()
		ms, err = s.follower().AwaitFinished(ctx, f)
	} else {
		ms, err = s.Chat.FindMessages(r.Context(), f)
	}
	if err != nil {
		return err
	}
	next := ""
	if len(ms) == limit {
		next = ms[len(ms)-1].ID
	}
	response.JSON(w, http.StatusOK, newList(ms, next))
	return nil
}
