package http

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/http/request"
)

// handleConversationEvents streams a conversation's events as SSE. A client that
// reconnects with Last-Event-ID first gets what it missed, from the store.
func (s *Server) handleConversationEvents(w http.ResponseWriter, r *http.Request) error {
	c := pathConversation(r)
	ctx := r.Context()
	events, cancel := s.Events.Subscribe(ctx, c.ID)
	defer cancel()
	out, err := startSSE(w)
	if err != nil {
		return err
	}
	// Replay what the client missed. A message replayed finished needs none of its live
	// events; one replayed streaming gets them from now on.
	done := map[string]bool{}
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		after, _, _ := strings.Cut(last, ":")
		missed, err := s.missedEvents(ctx, c.ID, after)
		if err != nil {
			return nil
		}
		for _, e := range missed {
			if out.event(e) != nil {
				return nil
			}
			if m := e.Data.(*lobby.Message); m.Status != lobby.MessageStreaming {
				done[m.ID] = true
			}
		}
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case e, ok := <-events:
			if !ok {
				return nil // dropped as too slow: the client reconnects with Last-Event-ID
			}
			if done[eventMessageID(e)] {
				continue
			}
			if out.event(e) != nil {
				return nil
			}
		case <-tick.C:
			if out.ping() != nil {
				return nil
			}
		case <-ctx.Done():
			return nil
		case <-s.closing:
			return nil
		}
	}
}

func eventMessageID(e lobby.Event) string {
	switch d := e.Data.(type) {
	case lobby.Delta:
		return d.MessageID
	case *lobby.Message:
		return d.ID
	}
	return ""
}

// missedEvents returns, from the store, the events that announce every message from
// the one named by the client's last event on: the message itself again, since it may
// have ended since, and each later one as created, and completed or failed if it has
// ended.
func (s *Server) missedEvents(ctx context.Context, conversationID, lastMessageID string) ([]lobby.Event, error) {
	var out []lobby.Event
	after := ""
	if lastMessageID > "" {
		after = lastMessageID[:len(lastMessageID)-1] // the named message is included
	}
	for {
		ms, err := s.Chat.FindMessages(ctx, lobby.MessageFilter{ConversationID: conversationID, After: after, Limit: 100})
		if err != nil {
			return nil, err
		}
		for _, m := range ms {
			if m.ID < lastMessageID {
				continue
			}
			if m.ID > lastMessageID || m.Status == lobby.MessageStreaming {
				out = append(out, lobby.MessageEvent(lobby.EventMessageCreated, m))
			}
			if m.Status != lobby.MessageStreaming && m.Role == lobby.RoleConsultant {
				out = append(out, lobby.MessageEvent(endType(m), m))
			}
		}
		if len(ms) < 100 {
			return out, nil
		}
		after = ms[len(ms)-1].ID
	}
}

// Realtime connection limits.
const (
	wsPingEvery   = 30 * time.Second
	wsWriteWait   = 10 * time.Second
	wsReadLimit   = 4 << 10
	wsMaxFollowed = 20
)

// handleRealtime is the WebSocket. The client authenticates with the bearer header, or
// the subprotocol "bearer.<token>" from a browser, then sends
// {"type": "subscribe", "conversation_id": "..."}; the server sends each event of the
// conversations it follows as {"type", "data"}.
func (s *Server) handleRealtime(w http.ResponseWriter, r *http.Request) error {
	var subprotocols []string
	token := request.SubprotocolToken(r)
	if token != "" && r.Header.Get("Authorization") == "" {
		subprotocols = []string{request.SubprotocolPrefix + token}
	}
	// A browser's cookie-borne connection must come from this site; the header and
	// subprotocol carry their own proof.
	_, cookieAuth, _ := request.Credential(r)
	opts := &websocket.AcceptOptions{Subprotocols: subprotocols, InsecureSkipVerify: !cookieAuth}
	if base := strings.TrimPrefix(strings.TrimPrefix(s.BaseURL, "https://"), "http://"); base != "" {
		opts.OriginPatterns = []string{base}
	}
	conn, err := websocket.Accept(w, r, opts)
	if err != nil {
		return nil // Accept has answered
	}
	conn.SetReadLimit(wsReadLimit)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer conn.CloseNow()

	out := make(chan lobby.Event, 1) // the events of every followed conversation
	go s.wsRead(ctx, cancel, conn, r, out)
	ping := time.NewTicker(wsPingEvery)
	defer ping.Stop()
	for {
		select {
		case e := <-out:
			wctx, wcancel := context.WithTimeout(ctx, wsWriteWait)
			b, _ := json.Marshal(e)
			err := conn.Write(wctx, websocket.MessageText, b)
			wcancel()
			if err != nil {
				return nil
			}
		case <-ping.C:
			pctx, pcancel := context.WithTimeout(ctx, wsWriteWait)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil {
				return nil
			}
		case <-ctx.Done():
			return nil
		case <-s.closing:
			conn.Close(websocket.StatusGoingAway, "the server is restarting: reconnect and catch up")
			return nil
		}
	}
}

// wsRead takes the client's messages and follows the conversations it may read.
func (s *Server) wsRead(ctx context.Context, cancel func(), conn *websocket.Conn, r *http.Request, out chan<- lobby.Event) {
	defer cancel()
	followed := map[string]bool{}
	for {
		_, b, err := conn.Read(ctx)
		if err != nil {
			return
		}
		var msg struct {
			Type           string `json:"type"`
			ConversationID string `json:"conversation_id"`
		}
		if json.Unmarshal(b, &msg) != nil || msg.Type != "subscribe" {
			s.wsError(ctx, conn, lobby.Errorf(lobby.EINVALID, `send {"type": "subscribe", "conversation_id": "cnv_..."}`))
			continue
		}
		if followed[msg.ConversationID] {
			continue
		}
		if len(followed) >= wsMaxFollowed {
			s.wsError(ctx, conn, lobby.Errorf(lobby.EINVALID, "one connection follows at most %d conversations", wsMaxFollowed))
			continue
		}
		c, err := s.readableConversation(ctx, msg.ConversationID)
		if err != nil {
			s.wsError(ctx, conn, err)
			continue
		}
		followed[c.ID] = true
		events, _ := s.Events.Subscribe(ctx, c.ID)
		go func() {
			for e := range events {
				select {
				case out <- e:
				case <-ctx.Done():
					return
				}
			}
			// Dropped as too slow: close, and the client reconnects and catches up.
			conn.Close(websocket.StatusTryAgainLater, "too slow: reconnect and catch up from the messages route")
			cancel()
		}()
		b, _ = json.Marshal(map[string]any{"type": "subscribed", "data": map[string]string{"conversation_id": c.ID}})
		conn.Write(ctx, websocket.MessageText, b)
	}
}

func (s *Server) wsError(ctx context.Context, conn *websocket.Conn, err error) {
	b, _ := json.Marshal(map[string]any{"type": "error", "data": map[string]string{"code": lobby.ErrorCode(err), "message": lobby.ErrorMessage(err)}})
	conn.Write(ctx, websocket.MessageText, b)
}
