// Package chat runs consultations: it stores a buyer's message, produces the managed
// consultant's reply with the configured model, streams it out through the event hub
// as it arrives, and stores how it ended.
package chat

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/prompt"
)

// Service produces replies. Its methods are safe for concurrent use.
type Service struct {
	Chat        lobby.ChatService
	Consultants lobby.ConsultantService
	Events      lobby.EventService // the replies' pieces; the store publishes the rest
	LLM         lobby.LLM
	Logger      *slog.Logger
	// ReplyTimeout bounds one reply, retries included; 0 means 3 minutes.
	ReplyTimeout time.Duration
	// ContextTokens is the model's context budget; 0 means the prompt package's default.
	ContextTokens int
	// Now is the clock the sweeper judges replies' age by; time.Now when nil.
	Now func() time.Time

	wg sync.WaitGroup
}

// maxHistory is how many of the newest messages a reply is assembled from.
const maxHistory = 400

// Send stores the buyer's message and its reply, born streaming, and starts the reply;
// a webhook or polling consultant's agent makes its reply itself. With follow set, it
// opens the conversation and follows it before the exchange is stored, and returns
// the follow (nil otherwise; the caller closes it): it sees every event of the
// exchange, from the buyer's message.created on, wherever the reply is produced, and
// catches up from the store if the hub drops it. The reply goes on after ctx ends: a
// buyer cut off finds it in the conversation later.
func (s *Service) Send(ctx context.Context, p lobby.ExchangeParams, follow bool) (*lobby.Exchange, *Follow, error) {
	var fl *Follow
	if follow {
		c, err := s.Chat.OpenConversation(ctx, p.SubscriptionID, p.ConversationID)
		if err != nil {
			return nil, nil, err
		}
		p.ConversationID = c.ID
		if fl, err = s.Follower().Follow(ctx, FollowParams{ConversationID: c.ID, CatchUp: true}); err != nil {
			return nil, nil, err
		}
	}
	ex, err := s.Chat.CreateExchange(ctx, p)
	if err != nil {
		fl.Close()
		return nil, nil, err
	}
	if fl != nil {
		fl.from(ex.Message.ID)
	}
	// The store has published the exchange's events; a follow holds them queued.
	if ex.Delivery != nil { // the consultant's own agent answers, through the API
		return ex, fl, nil
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.reply(context.WithoutCancel(ctx), ex)
	}()
	return ex, fl, nil
}

// Follower follows conversations over the service's store and events.
func (s *Service) Follower() *Follower { return &Follower{Chat: s.Chat, Events: s.Events} }

// Wait waits for the replies in flight to end, or for ctx.
func (s *Service) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) reply(ctx context.Context, ex *lobby.Exchange) {
	ctx, cancel := context.WithTimeout(ctx, s.replyTimeout())
	defer cancel()
	// The reply is stored even when the request's own time ran out; the store
	// publishes its end.
	if _, err := s.Chat.FinishMessage(context.WithoutCancel(ctx), s.produce(ctx, ex)); err != nil {
		s.Logger.Error("store reply", "message_id", ex.Reply.ID, "err", err)
	}
}

// produce asks the model and streams its reply through the output guard. It returns
// the reply as it is to be stored: what the guard let out, and how it ended.
func (s *Service) produce(ctx context.Context, ex *lobby.Exchange) lobby.FinishParams {
	consultant, err := s.Consultants.FindConsultantByID(ctx, ex.Conversation.ConsultantID)
	if err != nil {
		return s.fail(ex, "", "", err)
	}
	history, err := s.Chat.FindRecentMessages(ctx, ex.Conversation.ID, ex.Message.ID, maxHistory)
	if err != nil {
		return s.fail(ex, "", "", err)
	}
	req := prompt.Assemble(prompt.Params{Consultant: consultant, History: history, ContextTokens: s.ContextTokens})
	guard := prompt.NewGuard(consultant.SystemPrompt + "\n" + prompt.Footer)
	// The pieces of the reply are not store writes, so they are published here; the
	// store publishes the rest of the conversation's events.
	seq := 0
	publish := func(text string) {
		if text == "" {
			return
		}
		seq++
		s.Events.Publish(ctx, lobby.DeltaEvent(ex.Conversation.ID, lobby.Delta{MessageID: ex.Reply.ID, Delta: text}, seq))
	}
	// A NUL is one byte, never part of a character split between pieces, so each piece
	// can lose its own; the store cleans the whole reply by lobby.CleanText.
	completion, err := s.LLM.Complete(ctx, req, func(piece string) { publish(guard.Write(strings.ReplaceAll(piece, "\x00", "\uFFFD"))) })
	publish(guard.Flush())
	model := ""
	if completion != nil {
		model = completion.Model
	}
	if err != nil {
		return s.fail(ex, guard.Text(), model, err)
	}
	return lobby.FinishParams{ID: ex.Reply.ID, Content: guard.Text(), Status: lobby.MessageComplete, Model: model}
}

// fail logs err and returns the reply as failed, with what had streamed and why it
// failed, in words for the buyer.
func (s *Service) fail(ex *lobby.Exchange, partial, model string, err error) lobby.FinishParams {
	msg := lobby.ErrorMessage(err)
	switch {
	case lobby.ErrorCode(err) == lobby.EUPSTREAM:
		s.Logger.Warn("reply failed", "message_id", ex.Reply.ID, "err", err)
	case errors.Is(err, context.DeadlineExceeded):
		msg = "The reply took too long and was stopped. Send your message again to retry."
		s.Logger.Warn("reply timed out", "message_id", ex.Reply.ID, "err", err)
	default:
		s.Logger.Error("reply failed", "message_id", ex.Reply.ID, "err", err)
	}
	return lobby.FinishParams{ID: ex.Reply.ID, Content: partial, Status: lobby.MessageFailed, Error: msg, Model: model}
}

// Interrupted is what a reply says when the process producing it died.
const Interrupted = "The reply was interrupted when the server restarted. Send your message again."

// Sweep fails the replies that have streamed longer than a reply may take: the process
// producing them died. It runs once at once, then every interval until ctx ends.
func (s *Service) Sweep(ctx context.Context, interval time.Duration) {
	for {
		// The store publishes the replies it fails.
		_, err := s.Chat.FailStaleReplies(ctx, s.now().Add(-2*s.replyTimeout()), Interrupted)
		if err != nil && ctx.Err() == nil {
			s.Logger.Warn("sweep stale replies", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

func (s *Service) now() time.Time {
	if s.Now == nil {
		return time.Now()
	}
	return s.Now()
}

func (s *Service) replyTimeout() time.Duration {
	if s.ReplyTimeout <= 0 {
		return 3 * time.Minute
	}
	return s.ReplyTimeout
}
