package http

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/chat"
	"github.com/lobby-dev/lobby/http/request"
)

// errShutdown ends the streams, WebSockets and long polls in flight on Close.
var errShutdown = errors.New("the server is shutting down")

// followContext is r's context, ended also by Close: streams, WebSockets and long
// polls follow with it, so that a graceful shutdown need not wait for them.
// It ends too once the request's credential is revoked.
func (s *Server) followContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(r.Context())
	stop := context.AfterFunc(s.shutdown, func() { cancel(errShutdown) })
	token, _, _ := request.Credential(r)
	unwatch := s.watchCredential(ctx, cancel, caller(r), token)
	return ctx, func() { unwatch(); stop(); cancel(nil) }
}

// follower follows conversations over the server's store and events.
func (s *Server) follower() *chat.Follower { return &chat.Follower{Chat: s.Chat, Events: s.Events} }

// handleConversationEvents streams a conversation's events as SSE. A client that
// reconnects with Last-Event-ID first gets what it missed, from the store.
func (s *Server) handleConversationEvents(w http.ResponseWriter, r *http.Request) error {
	c := pathConversation(r)
	release, err := s.holdStream(r)
	if err != nil {
		return err
	}
	defer release()
	ctx, cancel := s.followContext(r)
	defer cancel()
	follow, err := s.follower().Follow(ctx, chat.FollowParams{ConversationID: c.ID, LastEventID: r.Header.Get("Last-Event-ID")})
	if err != nil {
		return err
	}
	defer follow.Close()
	out, err := startSSE(w)
	if err != nil {
		return err
	}
	// Dropped as too slow, the stream ends: the client reconnects with Last-Event-ID.
	follow.Serve(ctx, out, chat.ServeParams{Heartbeat: heartbeat})
	return nil
}

// Realtime connection limits.
const (
	wsPingEvery   = 30 * time.Second
	wsWriteWait   = 10 * time.Second
	wsReadLimit   = 4 << 10
	wsMaxFollowed = 20
)

// wsProtocol is the subprotocol the server answers with. A browser, which cannot set
// the Authorization header, offers it beside "bearer.<token>"; the token is never
// echoed back, so it stays out of response headers and proxies' logs.
const wsProtocol = "lobby"

// handleRealtime is the WebSocket. The client authenticates with the bearer header, or
// the subprotocols "lobby" and "bearer.<token>" from a browser, then sends
// {"type": "subscribe", "conversation_id": "..."}; the server sends each event of the
// conversations it follows as {"type", "data"}. The handler returns once the socket
// is open: one goroutine reads the client's messages (realtime), and the session
// writes events from a goroutine that runs only while there are some, so an idle
// socket costs one goroutine with a shallow stack.
func (s *Server) handleRealtime(w http.ResponseWriter, r *http.Request) error {
	// A browser's cookie-borne connection must come from this site; the header and
	// subprotocol carry their own proof.
	token, cookieAuth, _ := request.Credential(r)
	// Only "lobby" is ever selected: a client that offered "bearer.<token>" alone gets
	// no subprotocol rather than its token back.
	release, err := s.holdStream(r) // released when the socket closes, in realtime
	if err != nil {
		return err
	}
	opts := &websocket.AcceptOptions{Subprotocols: []string{wsProtocol}, InsecureSkipVerify: !cookieAuth}
	if base := strings.TrimPrefix(strings.TrimPrefix(s.BaseURL, "https://"), "http://"); base != "" {
		opts.OriginPatterns = []string{base}
	}
	conn, err := websocket.Accept(w, r, opts)
	if err != nil {
		release()
		return nil // Accept has answered
	}
	conn.SetReadLimit(wsReadLimit)
	// The socket outlives the request: its context keeps the request's values, and
	// each subscribe authenticates again with the handshake's credentials alone.
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(r.Context()))
	unwatch := s.watchCredential(ctx, cancel, caller(r), token)
	go func() {
		defer release()
		defer unwatch()
		s.realtime(ctx, cancel, conn, token)
	}()
	return nil
}

// realtime reads one socket's messages until it closes, following the conversations
// the client subscribes to.
func (s *Server) realtime(ctx context.Context, cancel context.CancelCauseFunc, conn *websocket.Conn, token string) {
	defer conn.CloseNow()
	defer cancel(nil)
	session := s.follower().NewSession(ctx, &wsTransport{conn: conn, ctx: ctx}, chat.SessionParams{
		Heartbeat: wsPingEvery,
		End: func(err error) {
			if errors.Is(err, chat.ErrDropped) { // the client reconnects and catches up
				conn.Close(websocket.StatusTryAgainLater, "too slow: reconnect and catch up from the messages route")
				return
			}
			conn.CloseNow()
		},
	})
	defer session.Close()
	stop := context.AfterFunc(s.shutdown, func() {
		cancel(errShutdown)
		conn.Close(websocket.StatusGoingAway, "the server is restarting: reconnect and catch up")
	})
	defer stop()
	revoked := context.AfterFunc(ctx, func() {
		if errors.Is(context.Cause(ctx), errRevoked) {
			conn.Close(websocket.StatusPolicyViolation, "the token was revoked: authenticate again")
		}
	})
	defer revoked()

	followed := map[string]bool{}
	for {
		// Read ends when the client goes, or once a close above has been answered.
		_, b, err := conn.Read(context.Background())
		if err != nil {
			return
		}
		if !s.realtimeMessage(ctx, session, token, followed, b) {
			return
		}
	}
}

// realtimeMessage handles one client message, and reports whether to go on. Each
// subscribe authenticates the handshake's credential again, so a token revoked since
// the socket opened follows nothing more.
func (s *Server) realtimeMessage(ctx context.Context, session *chat.Session, token string, followed map[string]bool, b []byte) bool {
	var msg struct {
		Type           string `json:"type"`
		ConversationID string `json:"conversation_id"`
	}
	if json.Unmarshal(b, &msg) != nil || msg.Type != "subscribe" {
		session.Write(wsError(lobby.Errorf(lobby.EINVALID, `send {"type": "subscribe", "conversation_id": "cnv_..."}`)))
		return true
	}
	if followed[msg.ConversationID] {
		return true
	}
	if len(followed) >= wsMaxFollowed {
		session.Write(wsError(lobby.Errorf(lobby.EINVALID, "one connection follows at most %d conversations", wsMaxFollowed)))
		return true
	}
	p, err := s.Auth.Authenticate(ctx, token)
	var c *lobby.Conversation
	if err == nil {
		c, err = s.readableConversation(lobby.NewContextWithPrincipal(ctx, p), msg.ConversationID)
	}
	if err != nil {
		session.Write(wsError(err))
		return true
	}
	followed[c.ID] = true
	ack := lobby.Event{Type: "subscribed", Data: map[string]string{"conversation_id": c.ID}}
	return session.Follow(c.ID, ack) == nil
}

// wsError is the frame that tells the client what was wrong with its message.
func wsError(err error) lobby.Event {
	return lobby.Event{Type: "error", Data: map[string]string{"code": lobby.ErrorCode(err), "message": lobby.ErrorMessage(err)}}
}

// wsTransport writes events as WebSocket frames {"type", "data"}; it is a chat.Transport.
type wsTransport struct {
	conn *websocket.Conn
	ctx  context.Context
}

// Write implements chat.Transport.
func (t *wsTransport) Write(e lobby.Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(t.ctx, wsWriteWait)
	defer cancel()
	return t.conn.Write(ctx, websocket.MessageText, b)
}

// Ping implements chat.Transport.
func (t *wsTransport) Ping() error {
	ctx, cancel := context.WithTimeout(t.ctx, wsWriteWait)
	defer cancel()
	return t.conn.Ping(ctx)
}
