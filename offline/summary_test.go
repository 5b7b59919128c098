package offline_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/offline"
)

// TestSummarize: the extractive summary keeps a line per turn with its first sentence
// that says something, after the previous summary, and drops the oldest lines to stay
// within its tokens.
func TestSummarize(t *testing.T) {
	p := &offline.Provider{}
	ctx := context.Background()
	reply, err := p.Complete(ctx, lobby.CompletionRequest{Turns: []lobby.Turn{{Role: lobby.TurnUser, Content: "tomatoes sun?"}},
		Sources: []lobby.Source{{Title: "Garden", Text: "Tomatoes need six hours of sun. Basil likes warm soil."}}}, func(string) {})
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Summarize(ctx, "Buyer: asked about compost.", []lobby.Turn{
		{Role: lobby.TurnUser, Content: "How much sun do tomatoes need? I have a balcony."},
		{Role: lobby.TurnAssistant, Content: reply.Text},
	}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := "Buyer: asked about compost.\nBuyer: How much sun do tomatoes need?\nConsultant: Tomatoes need six hours of sun."
	if got != want {
		t.Fatalf("summary =\n%s\nwant\n%s", got, want)
	}
	var many []lobby.Turn
	for i := range 500 {
		many = append(many, lobby.Turn{Role: lobby.TurnUser, Content: fmt.Sprintf("Question number %d about zucchini.", i)})
	}
	got, _ = p.Summarize(ctx, want, many, 200)
	if len(got) > 200*4 || strings.Contains(got, "compost") || !strings.HasSuffix(got, "Question number 499 about zucchini.") {
		t.Fatalf("bounded summary (%d bytes) =\n%s", len(got), got)
	}
}
