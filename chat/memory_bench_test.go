package chat

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/hub"
	"github.com/lobby-dev/lobby/offline"
	"github.com/lobby-dev/lobby/prompt"
	"github.com/lobby-dev/lobby/storetest"
)

// BenchmarkContextAssembly reads and assembles a reply's context — the conversation,
// its summary and the newest messages after it, as produce does — in threads of 100,
// 1,000 and 5,000 messages whose summaries the folds have kept up to date, on SQLite.
// BenchmarkFindMessage, reading one message, is the yardstick.
//
//	go test -run '^$' -bench 'ContextAssembly|FindMessage' -benchtime 200x ./chat
func BenchmarkContextAssembly(b *testing.B) {
	for _, n := range []int{100, 1000, 5000} {
		b.Run(fmt.Sprintf("messages=%d", n), func(b *testing.B) {
			ctx := context.Background()
			s, reply := benchThread(b, n)
			// Fold as replies would have, until no fold is due.
			for {
				conv, _ := s.Chat.FindConversationByID(ctx, reply.ConversationID)
				consultant, _ := s.Consultants.FindConsultantByID(ctx, conv.ConsultantID)
				history, full, err := s.recall(ctx, conv, reply)
				if err != nil {
					b.Fatal(err)
				}
				a := prompt.Build(prompt.Params{Consultant: consultant, Summary: summaryText(conv), History: history, ContextTokens: s.ContextTokens})
				upTo := foldPoint(history, a.Dropped, full)
				if upTo == "" {
					break
				}
				s.fold(ctx, conv, consultant, upTo)
			}
			var tokens, read int
			b.ResetTimer()
			for b.Loop() {
				conv, err := s.Chat.FindConversationByID(ctx, reply.ConversationID)
				if err != nil {
					b.Fatal(err)
				}
				consultant, err := s.Consultants.FindConsultantByID(ctx, conv.ConsultantID)
				if err != nil {
					b.Fatal(err)
				}
				history, _, err := s.recall(ctx, conv, reply)
				if err != nil {
					b.Fatal(err)
				}
				a := prompt.Build(prompt.Params{Consultant: consultant, Summary: summaryText(conv), History: history, ContextTokens: s.ContextTokens})
				read, tokens = len(history), prompt.EstimateTokens(a.Request.System)
				for _, t := range a.Request.Turns {
					tokens += prompt.EstimateTokens(t.Content) + 4
				}
			}
			b.ReportMetric(float64(tokens), "tokens")
			b.ReportMetric(float64(read), "messages-read")
		})
	}
}

// BenchmarkFindMessage reads one message of a 1,000-message thread.
func BenchmarkFindMessage(b *testing.B) {
	ctx := context.Background()
	s, reply := benchThread(b, 1000)
	for b.Loop() {
		if _, err := s.Chat.FindMessageByID(ctx, reply.ID); err != nil {
			b.Fatal(err)
		}
	}
}

// benchThread stores a thread of n messages, the last a reply still streaming, each
// turn about 60 tokens, and returns a service with an 8,000-token budget over it.
func benchThread(b *testing.B, n int) (*Service, *lobby.Message) {
	b.Helper()
	ctx := context.Background()
	db := storetest.OpenSQLite(b)
	svc := db.Services()
	_, owner := storetest.SignIn(b, svc.Auth, "owner@example.com")
	_, buyer := storetest.SignIn(b, svc.Auth, "buyer@example.com")
	c := storetest.NewConsultant(owner.ID, "bench")
	if _, err := svc.Consultants.CreateConsultant(ctx, c, lobby.ValidateOptions{}); err != nil {
		b.Fatal(err)
	}
	sub, _ := storetest.Subscribe(b, svc.Subscriptions, buyer.ID, c.ID, "unlimited")
	conv, err := svc.Chat.OpenConversation(ctx, sub.ID, "")
	if err != nil {
		b.Fatal(err)
	}
	text := func(i int) string {
		return fmt.Sprintf("Turn %d: how deep should the raised bed for the tomatoes be, and which compost mix suits it best in a windy, sunny spot by the wall?", i)
	}
	storetest.Thread(b, svc.Chat, sub.ID, conv.ID, n-2, text)
	ex, err := svc.Chat.CreateExchange(ctx, lobby.ExchangeParams{SubscriptionID: sub.ID, ConversationID: conv.ID, Content: text(n - 2)})
	if err != nil {
		b.Fatal(err)
	}
	s := &Service{Chat: svc.Chat, Consultants: svc.Consultants, Events: hub.New(), LLM: &offline.Provider{},
		Logger: slog.New(slog.DiscardHandler), ContextTokens: 8000}
	return s, ex.Reply
}
