package chat

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/lobby-dev/lobby"
)

// ErrDropped ends a follow that fell too far behind and does not catch up from the
// store: its client reconnects and resumes from its last event.
var ErrDropped = errors.New("chat: the follower fell too far behind and was dropped")

// errClosed ends a follow after Close.
var errClosed = errors.New("chat: the follow was closed")

// DefaultPoll is how often a follow the hub dropped looks at the store instead.
const DefaultPoll = 250 * time.Millisecond

// Follower follows conversations for every transport (SSE, WebSocket, and the next
// ones): a conversation's events in order, Last-Event-ID replay from the store, and
// the store as the fallback once the hub drops a follow that fell behind. Transports
// encode what it yields and nothing more.
type Follower struct {
	Chat   lobby.ChatService
	Events lobby.EventService
	// Poll is how often a follow the hub dropped looks at the store; 0 means DefaultPoll.
	Poll time.Duration
}

// FollowParams says what to follow and from where.
type FollowParams struct {
	ConversationID string
	// LastEventID, a client's last event ("msg_..." or "msg_...:3"), first replays from
	// the store the events of that message, as it is now, and of every later one; the
	// live events of a message replayed finished are then skipped.
	LastEventID string
	// CatchUp makes a follow the hub dropped go on from the store, every Poll, with
	// each message's created and completed or failed but not its deltas. Without it,
	// Next returns ErrDropped once the events queued before the drop are out.
	CatchUp bool
	// Wake, when set, is called whenever TryNext may have more, from the publisher's
	// goroutine; it must not block. For transports that park no goroutine in Next.
	Wake func()
}

// Follow is one conversation followed, from the moment Follow returned. Next and
// TryNext are for one goroutine at a time; Close for any.
type Follow struct {
	follower *Follower
	p        FollowParams
	ctx      context.Context
	feed     lobby.Feed
	wake     chan struct{} // one slot, when p.Wake is not set

	closed  atomic.Bool
	queue   []lobby.Event   // yielded before the feed's
	done    map[string]bool // messages replayed finished: their live events are skipped
	dropped bool
	// What the store catch-up starts from: messages after cursor (those below floor
	// left out), and the ones announced but not ended.
	cursor, floor string
	open          map[string]bool
	// since is an ID made as the follow began: a message above it was stored after.
	// A reply's piece can come from another instance before its message.created, which
	// the instance that stored it publishes; such messages are announced from the
	// store first, and their live message.created, when it comes, is dropped (synth).
	since string
	synth map[string]bool
	// A Last-Event-ID replay still reading: the page after replayAfter, from the
	// message replayLast on.
	replaying               bool
	replayAfter, replayLast string
}

// Follow subscribes to a conversation's events and, with p.LastEventID, reads what
// the client missed. The follow ends when ctx does or Close is called.
func (f *Follower) Follow(ctx context.Context, p FollowParams) (*Follow, error) {
	fl := &Follow{follower: f, p: p, ctx: ctx, since: lobby.NewID(lobby.PrefixMessage)}
	wake := p.Wake
	if wake == nil {
		fl.wake = make(chan struct{}, 1)
		wake = fl.signal
	}
	fl.feed = f.Events.Subscribe(ctx, lobby.ConversationTopic(p.ConversationID), wake)
	if p.LastEventID != "" {
		// Replaying from the store after subscribing closes the gap in which an event
		// could slip by; it reads a page at a time, as the client takes them, so a
		// long conversation is never held in memory whole.
		fl.replayLast, _, _ = cutSeq(p.LastEventID)
		fl.replayAfter, fl.replaying = below(fl.replayLast), true
		fl.done = map[string]bool{}
	}
	return fl, nil
}

// replayPage is how many messages a Last-Event-ID replay reads at a time.
const replayPage = 25

// replay reads the next page of what the client missed: the message its last event
// named again, since it may have ended since, and each later one as created, and
// completed or failed if it has ended.
func (fl *Follow) replay() error {
	ms, err := fl.follower.Chat.FindMessages(fl.ctx, lobby.MessageFilter{ConversationID: fl.p.ConversationID, After: fl.replayAfter, Limit: replayPage})
	if err != nil {
		return err
	}
	for _, m := range ms {
		if m.ID < fl.replayLast {
			continue
		}
		var es []lobby.Event
		if m.ID > fl.replayLast || m.Status == lobby.MessageStreaming {
			es = append(es, lobby.MessageEvent(lobby.EventMessageCreated, m))
		}
		if m.Status != lobby.MessageStreaming && m.Role == lobby.RoleConsultant {
			es = append(es, lobby.EndEvent(m))
		}
		if m.Status != lobby.MessageStreaming {
			fl.done[m.ID] = true
		}
		for _, e := range es {
			fl.note(e)
		}
		fl.queue = append(fl.queue, es...)
	}
	if len(ms) < replayPage {
		fl.replaying = false
	} else {
		fl.replayAfter = ms[len(ms)-1].ID
	}
	return nil
}

func (fl *Follow) signal() {
	select {
	case fl.wake <- struct{}{}:
	default:
	}
}

// from starts the store catch-up at the message with the given ID, for a follow that
// has not seen that message's events yet.
func (fl *Follow) from(messageID string) {
	fl.cursor, fl.floor = below(messageID), messageID
}

// Close ends the follow. It is safe to call more than once, and on nil.
func (fl *Follow) Close() {
	if fl != nil {
		fl.closed.Store(true)
		fl.feed.Cancel()
	}
}

// TryNext returns the next event if one is ready. Once the follow has ended it returns
// ErrDropped (the hub dropped it and CatchUp is off), or the follow's context's error.
// A follow catching up from the store has events only from Next.
func (fl *Follow) TryNext() (lobby.Event, bool, error) {
	for {
		if len(fl.queue) > 0 {
			e := fl.queue[0]
			fl.queue = fl.queue[1:]
			return e, true, nil
		}
		if fl.replaying && fl.ctx.Err() == nil {
			if err := fl.replay(); err != nil {
				return lobby.Event{}, false, err
			}
			continue
		}
		if err := context.Cause(fl.ctx); err != nil {
			return lobby.Event{}, false, err
		}
		if fl.dropped {
			if fl.closed.Load() {
				return lobby.Event{}, false, errClosed
			}
			if !fl.p.CatchUp {
				return lobby.Event{}, false, ErrDropped
			}
			return lobby.Event{}, false, nil
		}
		es, live := fl.feed.Take()
		for _, e := range es {
			id := e.MessageID()
			if e.Type != lobby.EventMessageCreated && id > fl.since && !fl.open[id] && !fl.done[id] {
				if err := fl.announceUpTo(id); err != nil {
					return lobby.Event{}, false, err
				}
			}
			if fl.done[id] {
				continue
			}
			if e.Type == lobby.EventMessageCreated && fl.synth[id] {
				delete(fl.synth, id)
				continue
			}
			fl.note(e)
			fl.queue = append(fl.queue, e)
		}
		if !live {
			fl.dropped = true
		} else if len(es) == 0 {
			return lobby.Event{}, false, nil
		}
	}
}

// Next waits for the next event until ctx ends (returning its error) or the follow
// ends (see TryNext).
func (fl *Follow) Next(ctx context.Context) (lobby.Event, error) {
	e, _, err := fl.next(ctx, nil)
	return e, err
}

// next is Next that also returns, with ok false, when tick fires first.
func (fl *Follow) next(ctx context.Context, tick <-chan time.Time) (lobby.Event, bool, error) {
	var poll *time.Timer
	defer func() {
		if poll != nil {
			poll.Stop()
		}
	}()
	for {
		if e, ok, err := fl.TryNext(); ok || err != nil {
			return e, ok, err
		}
		var polled <-chan time.Time
		if fl.dropped { // catching up: the store, now and then every Poll
			if err := fl.catchUp(ctx); err != nil {
				return lobby.Event{}, false, err
			}
			if len(fl.queue) > 0 {
				continue
			}
			if poll == nil {
				poll = time.NewTimer(fl.follower.poll())
			} else {
				poll.Reset(fl.follower.poll())
			}
			polled = poll.C
		}
		select {
		case <-fl.wake: // nil when p.Wake is set: TryNext is then the way
		case <-polled:
		case <-tick:
			return lobby.Event{}, false, nil
		case <-ctx.Done():
			return lobby.Event{}, false, context.Cause(ctx)
		case <-fl.ctx.Done():
		}
	}
}

// note keeps what the store catch-up needs from an event yielded.
func (fl *Follow) note(e lobby.Event) {
	m, ok := e.Data.(*lobby.Message)
	if !ok {
		return
	}
	if m.ID > fl.cursor {
		fl.cursor = m.ID
	}
	switch {
	case e.Type == lobby.EventMessageCreated && m.Status == lobby.MessageStreaming:
		if fl.open == nil {
			fl.open = map[string]bool{}
		}
		fl.open[m.ID] = true
	case e.Type != lobby.EventMessageCreated:
		delete(fl.open, m.ID)
	}
}

// catchUp reads from the store what changed since the follow's last event: the end of
// each message announced streaming, and every later message.
func (fl *Follow) catchUp(ctx context.Context) error {
	chat := fl.follower.Chat
	for id := range fl.open {
		m, err := chat.FindMessageByID(ctx, id)
		if err != nil {
			return err
		}
		if m.Status != lobby.MessageStreaming {
			fl.queue = append(fl.queue, lobby.EndEvent(m))
		}
	}
	for {
		ms, err := chat.FindMessages(ctx, lobby.MessageFilter{ConversationID: fl.p.ConversationID, After: fl.cursor, Limit: 100})
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.ID >= fl.floor {
				fl.queue = append(fl.queue, announce(m)...)
			}
		}
		for _, e := range fl.queue {
			fl.note(e)
		}
		if len(ms) > 0 {
			fl.cursor = max(fl.cursor, ms[len(ms)-1].ID)
		}
		if len(ms) < 100 {
			return nil
		}
	}
}

// announceUpTo announces from the store the messages stored since the follow began,
// up to the one with id, that the follow has not had message.created of: an event of
// id came first.
func (fl *Follow) announceUpTo(id string) error {
	after := max(fl.cursor, below(fl.since))
	for {
		ms, err := fl.follower.Chat.FindMessages(fl.ctx, lobby.MessageFilter{ConversationID: fl.p.ConversationID, After: after, Limit: 100})
		if err != nil {
			return err
		}
		for _, m := range ms {
			if m.ID > id {
				return nil
			}
			after = m.ID
			if m.ID < fl.floor || fl.open[m.ID] || fl.done[m.ID] {
				continue
			}
			if fl.synth == nil {
				fl.synth = map[string]bool{}
			}
			if fl.done == nil {
				fl.done = map[string]bool{}
			}
			if m.Status == lobby.MessageStreaming {
				fl.synth[m.ID] = true
			} else { // ended already: its live events are all behind
				fl.done[m.ID] = true
			}
			for _, e := range announce(m) {
				fl.note(e)
				fl.queue = append(fl.queue, e)
			}
		}
		if len(ms) < 100 {
			return nil
		}
	}
}

// announce returns the events that announce a message read from the store: created,
// born streaming for a reply, and its end once it has ended.
func announce(m *lobby.Message) []lobby.Event {
	if m.Role != lobby.RoleConsultant || m.Status == lobby.MessageStreaming {
		return []lobby.Event{lobby.MessageEvent(lobby.EventMessageCreated, m)}
	}
	born := *m
	born.Status, born.Content = lobby.MessageStreaming, ""
	return []lobby.Event{lobby.MessageEvent(lobby.EventMessageCreated, &born), lobby.EndEvent(m)}
}

// below returns a cursor just below id: every ID from id on sorts after it.
func below(id string) string {
	if id == "" {
		return ""
	}
	return id[:len(id)-1]
}

// cutSeq splits an event ID into its message ID and its delta number, if any.
func cutSeq(eventID string) (string, string, bool) {
	for i := len(eventID) - 1; i >= 0; i-- {
		if eventID[i] == ':' {
			return eventID[:i], eventID[i+1:], true
		}
	}
	return eventID, "", false
}

func (f *Follower) poll() time.Duration {
	if f.Poll <= 0 {
		return DefaultPoll
	}
	return f.Poll
}

// Transport is a wire format's end of a follow: Lobby SSE, WebSocket frames, and the
// next ones (OpenAI chunks, MCP progress, A2A task updates).
type Transport interface {
	// Write sends one event.
	Write(e lobby.Event) error
	// Ping tells an idle client that the stream is alive.
	Ping() error
}

// ServeParams says how Serve runs a follow into a transport.
type ServeParams struct {
	// Heartbeat is how often Ping is called; 0 never.
	Heartbeat time.Duration
	// Keep, when set, picks the events to write; the others are skipped.
	Keep func(lobby.Event) bool
	// Last, when set, reports whether an event written is the stream's last.
	Last func(lobby.Event) bool
}

// Serve is the one client loop: it writes the follow's events to t until p.Last says
// one was the last, ctx ends, or t or the follow fails, pinging t every p.Heartbeat.
// It returns nil after the last event, else why it stopped.
func (fl *Follow) Serve(ctx context.Context, t Transport, p ServeParams) error {
	var tick <-chan time.Time
	if p.Heartbeat > 0 {
		t := time.NewTicker(p.Heartbeat)
		defer t.Stop()
		tick = t.C
	}
	for {
		e, ok, err := fl.next(ctx, tick)
		if err != nil {
			return err
		}
		if !ok {
			if err := t.Ping(); err != nil {
				return err
			}
			continue
		}
		if p.Keep != nil && !p.Keep(e) {
			continue
		}
		if err := t.Write(e); err != nil {
			return err
		}
		if p.Last != nil && p.Last(e) {
			return nil
		}
	}
}

// AwaitReply waits for the reply with the given ID to end and returns it as it ended.
// It returns ctx's error when ctx ends first.
func (fl *Follow) AwaitReply(ctx context.Context, replyID string) (*lobby.Message, error) {
	for {
		e, err := fl.Next(ctx)
		if err != nil {
			return nil, err
		}
		if m, ok := e.Ends(replyID); ok {
			return m, nil
		}
	}
}

// StreamExchange writes one exchange's events to t, from the buyer's message.created
// to the reply's message.completed or message.failed.
func (fl *Follow) StreamExchange(ctx context.Context, ex *lobby.Exchange, t Transport, heartbeat time.Duration) error {
	return fl.Serve(ctx, t, ServeParams{
		Heartbeat: heartbeat,
		Keep: func(e lobby.Event) bool {
			id := e.MessageID()
			return id == ex.Reply.ID || id == ex.Message.ID
		},
		Last: func(e lobby.Event) bool { _, ok := e.Ends(ex.Reply.ID); return ok },
	})
}

// AwaitFinished returns the messages after f.After, oldest first, cut before the
// first reply still streaming, so that a poller's cursor never passes a reply before
// it ends. It waits until there is at least one, or until ctx ends (then none).
func (f *Follower) AwaitFinished(ctx context.Context, filter lobby.MessageFilter) ([]*lobby.Message, error) {
	ms, err := f.Chat.FindMessages(ctx, filter)
	if err != nil {
		return nil, err
	}
	if ms = Finished(ms); len(ms) > 0 {
		return ms, nil
	}
	fl, err := f.Follow(ctx, FollowParams{ConversationID: filter.ConversationID, CatchUp: true})
	if err != nil {
		return nil, err
	}
	defer fl.Close()
	fl.cursor = filter.After
	for {
		// Looking after subscribing closes the gap in which a message could slip by.
		ms, err := f.Chat.FindMessages(ctx, filter)
		if err != nil {
			if ctx.Err() != nil {
				return []*lobby.Message{}, nil
			}
			return nil, err
		}
		if ms = Finished(ms); len(ms) > 0 {
			return ms, nil
		}
		for { // until something may have added or finished a message (deltas do neither)
			e, err := fl.Next(ctx)
			if err != nil {
				return []*lobby.Message{}, nil
			}
			if e.Type != lobby.EventMessageDelta {
				break
			}
		}
	}
}

// Finished cuts a page of messages before the first reply still streaming.
func Finished(ms []*lobby.Message) []*lobby.Message {
	for i, m := range ms {
		if m.Status == lobby.MessageStreaming {
			return ms[:i]
		}
	}
	return ms
}
