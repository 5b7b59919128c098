// Package chat runs consultations: it stores a buyer's message, produces the managed
// consultant's reply with the configured model, streams it out through the event hub
// as it arrives, and stores how it ended; a job stored with the message produces the
// reply again if the process producing it dies.
package chat

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/jobs"
	"github.com/lobby-dev/lobby/prompt"
	"github.com/riverqueue/river"
)

// Service produces replies. Its methods are safe for concurrent use.
type Service struct {
	Chat        lobby.ChatService
	Consultants lobby.ConsultantService
	Events      lobby.EventService // the replies' pieces; the store publishes the rest
	LLM         lobby.LLM
	// Retriever finds the knowledge a managed reply draws on; nil means none.
	Retriever lobby.Retriever
	Logger    *slog.Logger
	// ReplyTimeout bounds one reply, retries included; 0 means 3 minutes.
	ReplyTimeout time.Duration
	// ContextTokens is the model's context budget; 0 means the prompt package's default.
	ContextTokens int

	wg    sync.WaitGroup
	folds sync.Map // reply ID → the fold its context made due, run once the reply is stored
}

// maxHistory is how many of the newest messages after the summary a reply is
// assembled from.
const maxHistory = 400

// Send stores the buyer's message and its reply, born streaming, and produces a
// managed reply at once, on this instance; the store queues, in the same transaction,
// the job that produces it again if this process dies first (see Replier). A webhook or
// polling consultant's agent makes its reply itself. With follow set, it opens the
// conversation and follows it before the exchange is stored, and returns the follow
// (nil otherwise; the caller closes it): it sees every event of the exchange, from the
// buyer's message.created on, wherever the reply is produced, and catches up from the
// store if the hub drops it. The reply goes on after ctx ends: a buyer cut off finds it
// in the conversation later.
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
	if ex.Delivery == nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.reply(context.WithoutCancel(ctx), ex.Conversation, ex.Reply)
		}()
	}
	return ex, fl, nil
}

// Wait waits for the replies this instance is producing to end, or for ctx; those
// still running when it gives up are produced again by their jobs.
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

func (s *Service) reply(ctx context.Context, conv *lobby.Conversation, reply *lobby.Message) {
	if err := s.respond(ctx, conv, reply); err != nil {
		s.Logger.Error("store reply", "message_id", reply.ID, "err", err)
	}
}

// respond produces a reply within its time and stores how it ended, then folds the
// memory its context made due; conv is the reply's conversation, or nil to read it. A
// ctx that ends first (the process shutting down) leaves the reply streaming, for its
// job to produce again, and its error is returned.
func (s *Service) respond(ctx context.Context, conv *lobby.Conversation, reply *lobby.Message) error {
	defer s.remember(ctx, reply.ID)
	rctx, cancel := context.WithTimeout(ctx, s.replyTimeout())
	defer cancel()
	out := s.produce(rctx, conv, reply)
	if ctx.Err() != nil { // shutting down: not the reply's fault
		return ctx.Err()
	}
	return s.finish(ctx, out)
}

// Follower follows conversations over the service's store and events.
func (s *Service) Follower() *Follower { return &Follower{Chat: s.Chat, Events: s.Events} }

// Replier is the queue's worker for managed replies' jobs. A reply's job runs once the
// reply's whole time (JobTimeout) has passed: by then the instance that stored it has
// ended it, unless that instance died, and the job produces it again.
func (s *Service) Replier() river.Worker[jobs.Reply] { return &replier{s: s} }

type replier struct {
	river.WorkerDefaults[jobs.Reply]
	s *Service
}

// Timeout lets a reply run its whole time, and store how it ended.
func (r *replier) Timeout(*river.Job[jobs.Reply]) time.Duration { return r.s.JobTimeout() }

// JobTimeout is the longest a reply takes, and so how long after a reply is born its
// job runs; the queue rescues a job running longer, as one whose process died, and
// runs it again.
func (s *Service) JobTimeout() time.Duration { return s.replyTimeout() + 10*time.Second }

// Work produces again, from the start, a reply still streaming when its job runs: the
// process producing it died. The last attempt fails it instead. A reply that has ended
// is left as it is, so no reply is produced twice. A job stopped by the process
// shutting down returns its error, and the queue runs it again elsewhere.
func (r *replier) Work(ctx context.Context, job *river.Job[jobs.Reply]) error {
	s := r.s
	reply, err := s.Chat.FindMessageByID(ctx, job.Args.MessageID)
	if lobby.ErrorCode(err) == lobby.ENOTFOUND { // the conversation was deleted
		return nil
	} else if err != nil {
		return err
	}
	if reply.Status != lobby.MessageStreaming {
		return nil
	}
	if job.Attempt >= job.MaxAttempts && job.Attempt > 1 {
		s.Logger.Error("reply interrupted on every attempt; failing it", "message_id", reply.ID, "attempts", job.Attempt)
		return s.finish(ctx, lobby.FinishParams{ID: reply.ID, Status: lobby.MessageFailed, Error: Interrupted})
	}
	s.Logger.Warn("reply interrupted; producing it again", "message_id", reply.ID, "attempt", job.Attempt)
	if reply, err = s.Chat.RestartMessage(ctx, reply.ID); err != nil {
		return ignoreEnded(err)
	}
	return s.respond(ctx, nil, reply)
}

// finish stores how a reply ended, even when the job's own time ran out.
func (s *Service) finish(ctx context.Context, p lobby.FinishParams) error {
	_, err := s.Chat.FinishMessage(context.WithoutCancel(ctx), p)
	return ignoreEnded(err)
}

// ignoreEnded drops the conflict of a reply that ended, or went, meanwhile.
func ignoreEnded(err error) error {
	if c := lobby.ErrorCode(err); c == lobby.ECONFLICT || c == lobby.ENOTFOUND {
		return nil
	}
	return err
}

// produce asks the model and streams its reply through the output guard. It returns
// the reply as it is to be stored: what the guard let out, and how it ended. conv is
// the reply's conversation, read here when nil.
func (s *Service) produce(ctx context.Context, conv *lobby.Conversation, reply *lobby.Message) lobby.FinishParams {
	var err error
	if conv == nil {
		if conv, err = s.Chat.FindConversationByID(ctx, reply.ConversationID); err != nil {
			return s.fail(reply, "", "", err)
		}
	}
	consultant, err := s.Consultants.FindConsultantForWork(ctx, conv.ConsultantID)
	if err != nil {
		return s.fail(reply, "", "", err)
	}
	history, full, err := s.recall(ctx, conv, reply)
	if err != nil {
		return s.fail(reply, "", "", err)
	}
	built := prompt.Build(prompt.Params{Consultant: consultant, Summary: summaryText(conv), History: history,
		Knowledge: s.knowledge(ctx, consultant, history), ContextTokens: s.ContextTokens})
	req := built.Request
	s.foldDue(reply.ID, conv, consultant, foldPoint(history, built.Dropped, full))
	guard := prompt.NewGuard(consultant.SystemPrompt + "\n" + prompt.Footer)
	// The pieces of the reply are not store writes, so they are published here; the
	// store publishes the rest of the conversation's events.
	seq := 0
	publish := func(text string) {
		if text == "" {
			return
		}
		seq++
		s.Events.Publish(ctx, lobby.DeltaEvent(conv.ID, lobby.Delta{MessageID: reply.ID, Delta: text}, seq))
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
		return s.fail(reply, guard.Text(), model, err)
	}
	return lobby.FinishParams{ID: reply.ID, Content: guard.Text(), Status: lobby.MessageComplete, Model: model,
		Sources: sourcesOf(req, completion)}
}

// passages is how many passages of its knowledge a managed reply is given, at most;
// the prompt keeps those that fit its share of the budget.
const passages = 6

// knowledge retrieves the consultant's passages that best answer the buyer's newest
// message. A search that fails leaves the reply to answer without them.
func (s *Service) knowledge(ctx context.Context, c *lobby.Consultant, history []*lobby.Message) []lobby.Source {
	if s.Retriever == nil || !c.HasKnowledge || len(history) == 0 || history[len(history)-1].Role != lobby.RoleBuyer {
		return nil
	}
	ps, err := s.Retriever.Retrieve(ctx, c.ID, history[len(history)-1].Content, passages)
	if err != nil {
		s.Logger.Warn("knowledge search failed; replying without it", "consultant_id", c.ID, "err", err)
		return nil
	}
	out := make([]lobby.Source, len(ps))
	for i, p := range ps {
		out[i] = lobby.Source{DocumentID: p.DocumentID, Title: p.Title, Text: p.Text}
	}
	return out
}

// sourcesOf is the documents a reply drew on, each once, in order: those the provider
// says it quoted, or else all whose passages it was given.
func sourcesOf(req lobby.CompletionRequest, c *lobby.Completion) []lobby.MessageSource {
	used := req.Sources
	if c != nil && c.Quoted != nil {
		used = c.Quoted
	}
	var out []lobby.MessageSource
	seen := map[string]bool{}
	for _, src := range used {
		if src.DocumentID != "" && !seen[src.DocumentID] {
			seen[src.DocumentID] = true
			out = append(out, lobby.MessageSource{DocumentID: src.DocumentID, Title: src.Title})
		}
	}
	return out
}

// fail logs err and returns the reply as failed, with what had streamed and why it
// failed, in words for the buyer.
func (s *Service) fail(reply *lobby.Message, partial, model string, err error) lobby.FinishParams {
	msg := lobby.ErrorMessage(err)
	switch {
	case lobby.ErrorCode(err) == lobby.EUPSTREAM:
		s.Logger.Warn("reply failed", "message_id", reply.ID, "err", err)
	case errors.Is(err, context.DeadlineExceeded):
		msg = "The reply took too long and was stopped. Send your message again to retry."
		s.Logger.Warn("reply timed out", "message_id", reply.ID, "err", err)
	default:
		s.Logger.Error("reply failed", "message_id", reply.ID, "err", err)
	}
	return lobby.FinishParams{ID: reply.ID, Content: partial, Status: lobby.MessageFailed, Error: msg, Model: model}
}

// Interrupted is what a reply says when every process producing it died.
const Interrupted = "The reply was interrupted each time it was being written, so it was stopped. Send your message again; it was not counted against your plan."

func (s *Service) replyTimeout() time.Duration {
	if s.ReplyTimeout <= 0 {
		return 3 * time.Minute
	}
	return s.ReplyTimeout
}
