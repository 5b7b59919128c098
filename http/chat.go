package http

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/http/request"
	"github.com/lobby-dev/lobby/http/response"
)

// Consulter sends a buyer's message and produces the reply; chat.Service is one.
type Consulter interface {
	Send(ctx context.Context, p lobby.ExchangeParams, watch func(*lobby.Exchange)) (*lobby.Exchange, error)
}

// Limits of the waiting routes, from the contract.
const (
	DefaultChatWait = 30
	MaxChatWait     = 120
	MaxPollWait     = 60
	// heartbeat is how often an idle stream says it is alive.
	heartbeat = 15 * time.Second
	// storePoll is how often a waiter dropped by the hub looks at the store instead.
	storePoll = 250 * time.Millisecond
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

	var events <-chan lobby.Event
	cancel := func() {}
	ex, err := s.Consult.Send(r.Context(), lobby.ExchangeParams{SubscriptionID: p.SubscriptionID, ConversationID: in.ConversationID, Content: in.Message},
		func(ex *lobby.Exchange) {
			if stream || wait > 0 {
				events, cancel = s.Events.Subscribe(r.Context(), ex.Conversation.ID)
			}
		})
	if err != nil {
		return err
	}
	defer cancel()
	if stream {
		return s.streamExchange(w, r, ex, events)
	}
	var reply *lobby.Message
	if wait > 0 {
		reply = s.awaitReply(r.Context(), ex.Reply.ID, events, time.Duration(wait)*time.Second)
	}
	status := http.StatusOK
	if reply == nil {
		status = http.StatusAccepted
	}
	response.JSON(w, status, map[string]any{"conversation_id": ex.Conversation.ID, "message": ex.Message, "reply": reply, "reply_id": ex.Reply.ID})
	return nil
}

// ended reports whether e ends the message with the given ID, and returns it.
func ended(e lobby.Event, id string) (*lobby.Message, bool) {
	m, ok := e.Data.(*lobby.Message)
	if !ok || m.ID != id || (e.Type != lobby.EventMessageCompleted && e.Type != lobby.EventMessageFailed) {
		return nil, false
	}
	return m, true
}

// awaitReply waits up to d for the reply to end and returns it, or nil. When the hub
// drops the waiter it watches the store instead.
func (s *Server) awaitReply(ctx context.Context, id string, events <-chan lobby.Event, d time.Duration) *lobby.Message {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for events != nil {
		select {
		case e, ok := <-events:
			if !ok {
				events = nil
				break
			}
			if m, ok := ended(e, id); ok {
				return m
			}
		case <-ctx.Done():
			return nil
		case <-s.closing:
			return nil
		}
	}
	return s.pollReply(ctx, id)
}

// pollReply looks at the store until the message ends or ctx does.
func (s *Server) pollReply(ctx context.Context, id string) *lobby.Message {
	t := time.NewTicker(storePoll)
	defer t.Stop()
	for {
		if m, err := s.Chat.FindMessageByID(ctx, id); err == nil && m.Status != lobby.MessageStreaming {
			return m
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sse writes Server-Sent Events.
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

func (s *sse) event(e lobby.Event) error {
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

func (s *sse) ping() error {
	if _, err := fmt.Fprint(s.w, ": ping\n\n"); err != nil {
		return err
	}
	s.f.Flush()
	return nil
}

// streamExchange streams one exchange's events, from the buyer's message.created to
// the reply's end.
func (s *Server) streamExchange(w http.ResponseWriter, r *http.Request, ex *lobby.Exchange, events <-chan lobby.Event) error {
	out, err := startSSE(w)
	if err != nil {
		return err
	}
	mine := func(e lobby.Event) bool {
		if d, ok := e.Data.(lobby.Delta); ok {
			return d.MessageID == ex.Reply.ID
		}
		m, ok := e.Data.(*lobby.Message)
		return ok && (m.ID == ex.Message.ID || m.ID == ex.Reply.ID)
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case e, ok := <-events:
			if !ok { // dropped by the hub: end with the stored reply
				if m := s.pollReply(r.Context(), ex.Reply.ID); m != nil {
					out.event(lobby.MessageEvent(endType(m), m))
				}
				return nil
			}
			if !mine(e) {
				continue
			}
			if err := out.event(e); err != nil {
				return nil
			}
			if _, done := ended(e, ex.Reply.ID); done {
				return nil
			}
		case <-tick.C:
			if out.ping() != nil {
				return nil
			}
		case <-r.Context().Done():
			return nil
		case <-s.closing:
			return nil
		}
	}
}

func endType(m *lobby.Message) string {
	if m.Status == lobby.MessageFailed {
		return lobby.EventMessageFailed
	}
	return lobby.EventMessageCompleted
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
	wait := 0
	if v := q.Get("wait"); v != "" {
		if wait, err = strconv.Atoi(v); err != nil || wait < 0 || wait > MaxPollWait {
			return lobby.Errorf(lobby.EINVALID, "wait must be a whole number of seconds from 0 to %d, not %q", MaxPollWait, v)
		}
	}
	f := lobby.MessageFilter{ConversationID: c.ID, After: after, Limit: limit}
	ms, err := s.Chat.FindMessages(r.Context(), f)
	if err != nil {
		return err
	}
	if wait > 0 {
		if ms, err = s.pollMessages(r.Context(), f, ms, time.Duration(wait)*time.Second); err != nil {
			return err
		}
	}
	next := ""
	if len(ms) == limit {
		next = ms[len(ms)-1].ID
	}
	response.JSON(w, http.StatusOK, newList(ms, next))
	return nil
}

// finished cuts a page of messages before the first reply still streaming, so that a
// poller's cursor never passes a reply before it is complete.
func finished(ms []*lobby.Message) []*lobby.Message {
	for i, m := range ms {
		if m.Status == lobby.MessageStreaming {
			return ms[:i]
		}
	}
	return ms
}

// pollMessages long-polls: it returns once at least one finished message is after the
// cursor, or when d has passed.
func (s *Server) pollMessages(ctx context.Context, f lobby.MessageFilter, ms []*lobby.Message, d time.Duration) ([]*lobby.Message, error) {
	if ms = finished(ms); len(ms) > 0 {
		return ms, nil
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	events, stop := s.Events.Subscribe(ctx, f.ConversationID)
	defer stop()
	var ok bool
	poll := time.NewTicker(storePoll) // looked at only once the hub drops us
	defer poll.Stop()
	for {
		// Looking after subscribing closes the gap in which a message could slip by.
		ms, err := s.Chat.FindMessages(ctx, f)
		if err != nil {
			if ctx.Err() != nil {
				return []*lobby.Message{}, nil
			}
			return nil, err
		}
		if ms = finished(ms); len(ms) > 0 {
			return ms, nil
		}
		if events, ok = s.nextChange(ctx, events, poll.C); !ok {
			return []*lobby.Message{}, nil
		}
	}
}

// nextChange waits for an event that may add or finish a message (deltas add none),
// or, once the hub has dropped the waiter (events nil), for the next poll tick. It
// returns the events channel to go on with, and false when the wait is over.
func (s *Server) nextChange(ctx context.Context, events <-chan lobby.Event, tick <-chan time.Time) (<-chan lobby.Event, bool) {
	if events == nil {
		select {
		case <-tick:
			return nil, true
		case <-ctx.Done():
		case <-s.closing:
		}
		return nil, false
	}
	for {
		select {
		case e, open := <-events:
			if !open {
				return nil, true // dropped: look at the store, then poll it
			}
			if e.Type != lobby.EventMessageDelta {
				return events, true
			}
		case <-ctx.Done():
			return events, false
		case <-s.closing:
			return events, false
		}
	}
}
