package postgres

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/hub"
)

// Channel is the LISTEN/NOTIFY channel that carries events between instances; each
// schema has its own, "lobby_events:" and the schema's name.
const Channel = "lobby_events"

// notifyBatch is the most notifications sent in one statement.
const notifyBatch = 200

// maxDelta is the most delta text one notification carries, well under PostgreSQL's
// 8000-byte payload limit once escaped as JSON.
const maxDelta = 1500

// Broker carries events between the lobby serve instances that share a database. Each
// event goes to this instance's hub at once, and to the others by NOTIFY on one
// connection, after the commit that stored it; one connection per instance LISTENs.
// Payloads are small: the message's ID, which the receiver reads from the store, or a
// delta's text, coalesced when deltas queue up. After its listening connection drops,
// the broker reconnects and drops its subscribers, who catch up from the store.
type Broker struct {
	URL    string
	Hub    *hub.Hub
	Chat   lobby.ChatService
	Logger *slog.Logger

	id      string // this instance, so it ignores its own notifications
	channel string // set before Run's goroutines start
	mu      sync.Mutex
	queue   []notice
	wake    chan struct{}
	ready   chan struct{}
}

var _ lobby.EventService = (*Broker)(nil)

// notice is one notification's payload.
type notice struct {
	Instance       string `json:"i"`
	Type           string `json:"t"`
	Topic          string `json:"o"`
	ConversationID string `json:"c,omitempty"`
	MessageID      string `json:"m"`
	Seq            int    `json:"s,omitempty"`
	Delta          string `json:"d,omitempty"`
}

// NewBroker returns a broker over the database at url; Run starts it.
func NewBroker(url string, h *hub.Hub, chat lobby.ChatService, log *slog.Logger) *Broker {
	b := make([]byte, 8)
	rand.Read(b)
	return &Broker{URL: url, Hub: h, Chat: chat, Logger: log, id: hex.EncodeToString(b),
		wake: make(chan struct{}, 1), ready: make(chan struct{})}
}

// Publish implements lobby.EventService.
func (b *Broker) Publish(ctx context.Context, e lobby.Event) {
	b.Hub.Publish(ctx, e)
	n := notice{Instance: b.id, Type: e.Type, Topic: e.Topic, ConversationID: e.ConversationID}
	switch d := e.Data.(type) {
	case lobby.Delta:
		n.MessageID, n.Delta = d.MessageID, d.Delta
		_, seq, _ := strings.Cut(e.ID, ":")
		n.Seq, _ = strconv.Atoi(seq)
	case *lobby.Message:
		n.MessageID = d.ID
	case nil: // a nudge, such as lobby.EventInboxReady
	default:
		return
	}
	b.mu.Lock()
	b.queue = append(b.queue, n)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Subscribe implements lobby.EventService.
func (b *Broker) Subscribe(ctx context.Context, topic string, wake func()) lobby.Feed {
	return b.Hub.Subscribe(ctx, topic, wake)
}

// Ready is closed once the broker listens.
func (b *Broker) Ready() <-chan struct{} { return b.ready }

// Run listens and sends until ctx ends.
func (b *Broker) Run(ctx context.Context) {
	for attempt := 0; b.channel == ""; attempt++ {
		conn, err := pgx.Connect(ctx, b.URL)
		if err == nil {
			var schema string
			err = conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema)
			conn.Close(context.Background())
			b.channel = Channel + ":" + schema
		}
		if err != nil && !b.pause(ctx, attempt, "connect", err) {
			return
		}
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); b.listen(ctx) }()
	go func() { defer wg.Done(); b.send(ctx) }()
	wg.Wait()
}

// send NOTIFYs the queued events in order, merging consecutive deltas of a message.
func (b *Broker) send(ctx context.Context) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
		}
		b.mu.Lock()
		batch := coalesce(b.queue)
		b.queue = nil
		b.mu.Unlock()
		for len(batch) > 0 {
			chunk := batch[:min(len(batch), notifyBatch)]
			batch = batch[len(chunk):]
			payloads := make([]string, len(chunk))
			for i, n := range chunk {
				p, _ := json.Marshal(n)
				payloads[i] = string(p)
			}
			for attempt := 0; ; attempt++ {
				if conn == nil || conn.IsClosed() {
					c, err := pgx.Connect(ctx, b.URL)
					if err != nil {
						if !b.pause(ctx, attempt, "notify connect", err) {
							return
						}
						continue
					}
					conn = c
				}
				// One statement, so one transaction and one commit, for the whole chunk:
				// each NOTIFY's commit waits for the WAL to be flushed, and one per event
				// held every instance's events to the disk's pace. Notifications of one
				// transaction arrive in order.
				if _, err := conn.Exec(ctx, "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p", b.channel, payloads); err != nil {
					conn.Close(context.Background())
					conn = nil
					if !b.pause(ctx, attempt, "notify", err) {
						return
					}
					continue
				}
				break
			}
		}
	}
}

// coalesce merges runs of deltas of one message, keeping each under maxDelta.
func coalesce(queue []notice) []notice {
	var out []notice
	for _, n := range queue {
		if last := len(out) - 1; last >= 0 && n.Delta != "" && out[last].Delta != "" && out[last].MessageID == n.MessageID &&
			len(out[last].Delta)+len(n.Delta) <= maxDelta {
			out[last].Delta += n.Delta
			out[last].Seq = n.Seq
			continue
		}
		for len(n.Delta) > maxDelta { // a delta too long for one notification
			cut := maxDelta
			for cut > 0 && n.Delta[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
				cut--
			}
			head := n
			head.Delta = n.Delta[:cut]
			out = append(out, head)
			n.Delta = n.Delta[cut:]
		}
		out = append(out, n)
	}
	return out
}

// listen receives the other instances' events and hands them to this instance's hub.
func (b *Broker) listen(ctx context.Context) {
	readyOnce := sync.OnceFunc(func() { close(b.ready) })
	for attempt := 0; ; attempt++ {
		conn, err := pgx.Connect(ctx, b.URL)
		if err == nil {
			_, err = conn.Exec(ctx, "LISTEN "+pgx.Identifier{b.channel}.Sanitize())
		}
		if err != nil {
			if conn != nil {
				conn.Close(context.Background())
			}
			if !b.pause(ctx, attempt, "listen", err) {
				return
			}
			continue
		}
		if attempt > 0 {
			// Events may have passed while we were away: subscribers catch up from the store.
			b.Hub.DropAll()
			b.Logger.Info("event broker reconnected; subscribers catch up from the store")
		}
		attempt = 0
		readyOnce()
		err = b.receive(ctx, conn)
		conn.Close(context.Background())
		if ctx.Err() != nil {
			return
		}
		b.Logger.Warn("event broker lost its listening connection; reconnecting", "err", err)
	}
}

func (b *Broker) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		nf, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		var n notice
		if json.Unmarshal([]byte(nf.Payload), &n) != nil || n.Instance == b.id {
			continue
		}
		if n.Type == lobby.EventMessageDelta {
			b.Hub.Publish(ctx, lobby.DeltaEvent(n.ConversationID, lobby.Delta{MessageID: n.MessageID, Delta: n.Delta}, n.Seq))
			continue
		}
		if n.MessageID == "" {
			// An instance of an older release put a nudge's topic in "c".
			b.Hub.Publish(ctx, lobby.Event{Type: n.Type, Topic: cmp.Or(n.Topic, n.ConversationID)})
			continue
		}
		m, err := b.Chat.FindMessageByID(ctx, n.MessageID)
		if err != nil {
			b.Logger.Warn("event for a message not found", "message_id", n.MessageID, "err", err)
			continue
		}
		if m.Status != lobby.MessageStreaming && n.Type == lobby.EventMessageCreated && m.Role == lobby.RoleConsultant {
			// It ended before we read it: announce it streaming first, as the contract has it.
			created := *m
			created.Status, created.Content = lobby.MessageStreaming, ""
			b.Hub.Publish(ctx, lobby.MessageEvent(n.Type, &created))
			continue
		}
		b.Hub.Publish(ctx, lobby.MessageEvent(n.Type, m))
	}
}

// pause waits before the next attempt, longer each time up to 5 s, and reports
// whether to go on.
func (b *Broker) pause(ctx context.Context, attempt int, what string, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	d := min(time.Duration(1<<min(attempt, 6))*50*time.Millisecond, 5*time.Second)
	b.Logger.Warn("event broker: "+what+" failed; retrying", "err", err, "in", d.String())
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
