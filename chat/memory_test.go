package chat_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/chat"
	"github.com/lobby-dev/lobby/hub"
	"github.com/lobby-dev/lobby/jobs"
	"github.com/lobby-dev/lobby/offline"
	"github.com/lobby-dev/lobby/prompt"
	"github.com/lobby-dev/lobby/sqldb"
	"github.com/lobby-dev/lobby/storetest"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// recorder is the offline provider, keeping what it is asked: the replies' requests
// and the turns of each fold.
type recorder struct {
	offline.Provider
	mu       sync.Mutex
	requests []lobby.CompletionRequest
	folds    [][]lobby.Turn
}

func (r *recorder) Complete(ctx context.Context, req lobby.CompletionRequest, onDelta func(string)) (*lobby.Completion, error) {
	r.mu.Lock()
	r.requests = append(r.requests, req)
	r.mu.Unlock()
	return r.Provider.Complete(ctx, req, onDelta)
}

func (r *recorder) Summarize(ctx context.Context, previous string, turns []lobby.Turn, maxTokens int) (string, error) {
	r.mu.Lock()
	r.folds = append(r.folds, turns)
	r.mu.Unlock()
	return r.Provider.Summarize(ctx, previous, turns, maxTokens)
}

// requestTokens estimates a request's tokens as the prompt package counts them, the
// reply's own included.
func requestTokens(req lobby.CompletionRequest) int {
	n := prompt.EstimateTokens(req.System) + req.MaxTokens
	for _, t := range req.Turns {
		n += prompt.EstimateTokens(t.Content) + 4
	}
	return n
}

// memorySetup makes a managed consultant with a subscriber on an unlimited plan.
func memorySetup(t *testing.T, db *sqldb.DB) (sqldb.Services, *lobby.Subscription) {
	t.Helper()
	svc := db.Services()
	_, owner := storetest.SignIn(t, svc.Auth, "owner@example.com")
	_, buyer := storetest.SignIn(t, svc.Auth, "buyer@example.com")
	c := storetest.NewConsultant(owner.ID, "memory")
	c.Description = "Tomatoes need six hours of sun. Basil likes warm soil."
	if _, err := svc.Consultants.CreateConsultant(context.Background(), c, lobby.ValidateOptions{}); err != nil {
		t.Fatal(err)
	}
	sub, _ := storetest.Subscribe(t, svc.Subscriptions, buyer.ID, c.ID, "unlimited")
	return svc, sub
}

// TestLongThreadMemory: a thread grows to 5,000 messages, with a reply every 40. Each
// reply's context stays within the budget; once the thread outgrows it the summary's
// through_message_id advances, and each fold is given exactly the messages since the
// last one, read from the store, in order.
func TestLongThreadMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		db := b.Open(t)
		svc, sub := memorySetup(t, db)
		llm := &recorder{}
		const budget = 3000
		consult := &chat.Service{Chat: svc.Chat, Consultants: svc.Consultants, Events: hub.New(), LLM: llm,
			Logger: slog.New(slog.DiscardHandler), ContextTokens: budget}
		cnv, err := svc.Chat.OpenConversation(ctx, sub.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		text := func(i int) string { return fmt.Sprintf("turn %d: the marigold-%d beds want mulch.", i, i) }
		through, folds, n := "", 0, 0
		for n < 5000 {
			storetest.Thread(t, svc.Chat, sub.ID, cnv.ID, 40, func(i int) string { return text(n + i) })
			n += 40
			if _, _, err := consult.Send(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, ConversationID: cnv.ID, Content: text(n)}, false); err != nil {
				t.Fatal(err)
			}
			n += 2
			if err := consult.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			req := llm.requests[len(llm.requests)-1]
			if got := requestTokens(req); got > budget {
				t.Fatalf("at %d messages the context is %d tokens, over the budget of %d", n, got, budget)
			}
			if last := req.Turns[len(req.Turns)-1]; last.Content != text(n-2) {
				t.Fatalf("at %d messages the request ends with %q", n, last.Content)
			}
			got, err := svc.Chat.FindConversationByID(ctx, cnv.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.SummaryThrough() == through {
				continue
			}
			// A fold: given the messages after the last one, up to the new through.
			if got.SummaryThrough() < through || len(llm.folds) != folds+1 {
				t.Fatalf("at %d messages: through went from %s to %s after %d folds (had %d)", n, through, got.SummaryThrough(), len(llm.folds), folds)
			}
			folded := llm.folds[folds]
			since, err := svc.Chat.FindMessages(ctx, lobby.MessageFilter{ConversationID: cnv.ID, After: through, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			var want []*lobby.Message
			for _, m := range since {
				if m.ID <= got.SummaryThrough() {
					want = append(want, m)
				}
			}
			if len(folded) != len(want) || folded[0].Content != want[0].Content || folded[len(folded)-1].Content != want[len(want)-1].Content {
				t.Fatalf("fold %d was given %d turns from %q; want the %d messages since the last fold, from %q",
					folds+1, len(folded), folded[0].Content, len(want), want[0].Content)
			}
			if !strings.Contains(got.Summary.Text, "marigold") {
				t.Fatalf("summary = %q", got.Summary.Text)
			}
			through, folds = got.SummaryThrough(), folds+1
		}
		t.Logf("%d messages, %d replies, %d folds; the last context %d tokens of %d", n, len(llm.requests), folds, requestTokens(llm.requests[len(llm.requests)-1]), budget)
		if folds < 20 {
			t.Fatalf("%d folds over 5,000 messages; the summary did not keep up", folds)
		}
		// The context reads the summary: the last reply's request holds it.
		final, _ := svc.Chat.FindConversationByID(ctx, cnv.ID)
		last := llm.requests[len(llm.requests)-1]
		if !strings.Contains(last.System, "Summary of the earlier conversation") || final.Summary == nil {
			t.Fatalf("the last request does not hold the summary:\n%s", last.System)
		}
		// The words of the newest folded turn are in the summary.
		lastFold := llm.folds[len(llm.folds)-1]
		if w := strings.Fields(lastFold[len(lastFold)-1].Content)[1]; !strings.Contains(final.Summary.Text, w) {
			t.Fatalf("summary lacks %q of the last folded turn:\n%s", w, final.Summary.Text)
		}
	})
}

// TestReplyJobOfDeletedConversation: the job of a reply whose conversation was deleted
// finds nothing and does nothing.
func TestReplyJobOfDeletedConversation(t *testing.T) {
	ctx := testContext(t)
	db := storetest.OpenSQLite(t)
	svc, sub := memorySetup(t, db)
	ex, err := svc.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, Content: "forget this"})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Chat.DeleteConversation(ctx, sub.ID, ex.Conversation.ID); err != nil {
		t.Fatal(err)
	}
	consult := &chat.Service{Chat: svc.Chat, Consultants: svc.Consultants, Events: hub.New(), LLM: &offline.Provider{}, Logger: slog.New(slog.DiscardHandler)}
	job := &river.Job[jobs.Reply]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: jobs.ReplyAttempts}, Args: jobs.Reply{MessageID: ex.Reply.ID}}
	if err := consult.Replier().Work(ctx, job); err != nil {
		t.Fatalf("job of a deleted reply: %v", err)
	}
	if _, err := svc.Chat.FindConversationByID(ctx, ex.Conversation.ID); lobby.ErrorCode(err) != lobby.ENOTFOUND {
		t.Fatalf("conversation after the job: %v", err)
	}
}

// TestFoldWithModel: a provider that is not a lobby.Summarizer is asked for the summary
// with a summarising request: the turns to fold fenced in its system prompt, its reply
// bounded to the summary's share; what it answers becomes the summary.
func TestFoldWithModel(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		svc, sub := memorySetup(t, b.Open(t))
		rec := &recorder{}
		model := struct{ lobby.LLM }{rec} // Complete only: no Summarize
		consult := &chat.Service{Chat: svc.Chat, Consultants: svc.Consultants, Events: hub.New(), LLM: model,
			Logger: slog.New(slog.DiscardHandler), ContextTokens: 3000}
		cnv, err := svc.Chat.OpenConversation(ctx, sub.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		storetest.Thread(t, svc.Chat, sub.ID, cnv.ID, 300, func(i int) string { return fmt.Sprintf("turn %d about the hollyhock-%d.", i, i) })
		if _, _, err := consult.Send(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, ConversationID: cnv.ID, Content: "And now?"}, false); err != nil {
			t.Fatal(err)
		}
		if err := consult.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if len(rec.folds) != 0 || len(rec.requests) != 2 {
			t.Fatalf("%d requests and %d Summarize calls; want the reply's and the summary's requests", len(rec.requests), len(rec.folds))
		}
		sum := rec.requests[1]
		if !strings.Contains(sum.System, "keep the memory of a conversation") || !strings.Contains(sum.System, "Buyer: turn 0 about the hollyhock-0.") ||
			sum.MaxTokens != prompt.SummaryTokens(3000) {
			t.Fatalf("summarising request = %+v", sum)
		}
		got, err := svc.Chat.FindConversationByID(ctx, cnv.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Summary == nil || !strings.Contains(got.Summary.Text, "Offline reply") {
			t.Fatalf("summary = %+v; want the model's answer", got.Summary)
		}
	})
}
