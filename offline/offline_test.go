package offline_test

import (
	"context"
	"strings"
	"testing"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/offline"
)

func TestOffline(t *testing.T) {
	p := &offline.Provider{Chunk: 7}
	req := lobby.CompletionRequest{
		Turns: []lobby.Turn{{Role: lobby.TurnUser, Content: "How often should I water tomatoes?"}},
		Sources: []lobby.Source{
			{Title: "Garden (profile)", Text: "Garden Advisor. Helps with small gardens."},
			{Title: "Guide", Text: "Tomatoes need six hours of sun. Water tomatoes deeply twice a week. Basil likes warm soil."},
		},
	}
	var pieces []string
	c, err := p.Complete(context.Background(), req, func(s string) { pieces = append(pieces, s) })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(pieces, "") != c.Text || len(pieces) < 5 || c.Model != "offline" {
		t.Fatalf("pieces %d, model %q", len(pieces), c.Model)
	}
	if !strings.Contains(c.Text, "Offline reply") || !strings.Contains(c.Text, "Water tomatoes deeply twice a week.") ||
		strings.Contains(c.Text, "Basil") {
		t.Fatalf("reply:\n%s", c.Text)
	}
	again, _ := p.Complete(context.Background(), req, func(string) {})
	if again.Text != c.Text {
		t.Fatal("the same question got another answer")
	}

	req.Turns[0].Content = "Quantum chromodynamics?"
	c, _ = p.Complete(context.Background(), req, func(string) {})
	if !strings.Contains(c.Text, "nothing published that matches") || !strings.Contains(c.Text, "Garden Advisor.") {
		t.Fatalf("unmatched question:\n%s", c.Text)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Complete(ctx, req, func(string) {}); err == nil {
		t.Fatal("a canceled request completed")
	}
}
