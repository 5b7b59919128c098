package chat

import (
	"context"
	"strings"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/prompt"
)

// A conversation's rolling memory: a reply's context is its summary and the newest
// messages after it that fit the budget. Once a reply has been produced, the messages
// after the summary that its context left out are folded into the summary by the
// consultant's own provider, reading from the store only the messages since the last
// fold, a bounded number at a time.
const (
	// foldMax is how many messages one fold reads and folds at most: a page of the store.
	foldMax = 100
	// foldAhead is how many messages still in the context a fold takes along with those
	// that no longer fit, so that folds come in batches rather than one per reply.
	foldAhead = 20
	// foldTimeout bounds one fold, its model's summary included.
	foldTimeout = time.Minute
)

// recall returns what a reply is assembled from besides its summary: the messages after
// the summary up to the reply's (not included), the newest maxHistory at most, read
// from the store alone; and whether they fill the window, so that older messages not
// yet folded may lie before it.
func (s *Service) recall(ctx context.Context, conv *lobby.Conversation, reply *lobby.Message) (history []*lobby.Message, full bool, err error) {
	ms, err := s.Chat.FindRecentMessages(ctx, lobby.RecentFilter{ConversationID: conv.ID, After: conv.SummaryThrough(), UpTo: reply.ID, Limit: maxHistory + 1})
	if err != nil {
		return nil, false, err
	}
	if len(ms) == 0 || ms[len(ms)-1].ID != reply.ID {
		return nil, false, lobby.Errorf(lobby.ENOTFOUND, "reply %s is gone: its conversation was deleted", reply.ID)
	}
	ms = ms[:len(ms)-1] // the reply itself, streaming
	return ms, len(ms) == maxHistory, nil
}

func summaryText(c *lobby.Conversation) string {
	if c.Summary == nil {
		return ""
	}
	return c.Summary.Text
}

// foldPoint returns the newest message the next fold may take, "" when none is due: the
// reply's context dropped the oldest dropped messages of history, or history fills the
// window. The fold takes foldAhead more, never the buyer's newest message.
func foldPoint(history []*lobby.Message, dropped int, full bool) string {
	if dropped == 0 && !full {
		return ""
	}
	n := max(dropped, min(dropped+foldAhead, len(history)-2))
	if n <= 0 {
		return ""
	}
	return history[n-1].ID
}

// dueFold is a fold a reply's context made due: the messages up to upTo.
type dueFold struct {
	conv       *lobby.Conversation
	consultant *lobby.Consultant
	upTo       string
}

// foldDue notes, while a reply is produced, the fold its context made due; upTo ""
// is none.
func (s *Service) foldDue(replyID string, conv *lobby.Conversation, consultant *lobby.Consultant, upTo string) {
	if upTo != "" {
		s.folds.Store(replyID, dueFold{conv: conv, consultant: consultant, upTo: upTo})
	}
}

// remember runs the fold the reply's context made due, if any, once the reply has been
// stored and its end announced: folding never holds up a reply. It takes foldTimeout
// at most, within ctx: a job's fold stops with its job, and a later reply folds again.
func (s *Service) remember(ctx context.Context, replyID string) {
	v, ok := s.folds.LoadAndDelete(replyID)
	if !ok || ctx.Err() != nil {
		return
	}
	f := v.(dueFold)
	ctx, cancel := context.WithTimeout(ctx, foldTimeout)
	defer cancel()
	s.fold(ctx, f.conv, f.consultant, f.upTo)
}

// fold folds into the conversation's summary the messages after it up to upTo: read
// from the store from the summary on, foldMax at most and no more than half the
// context budget of text. It stores the new summary by compare-and-set; a fold that
// fails, or loses to another, leaves the summary as it was, and a later reply's fold
// takes the same messages again. The context fits meanwhile: its turns are cut to the
// budget whatever the summary holds.
func (s *Service) fold(ctx context.Context, conv *lobby.Conversation, consultant *lobby.Consultant, upTo string) {
	through := conv.SummaryThrough()
	ms, err := s.Chat.FindMessages(ctx, lobby.MessageFilter{ConversationID: conv.ID, After: through, Limit: foldMax})
	if err != nil {
		s.Logger.Warn("fold: read messages", "conversation_id", conv.ID, "err", err)
		return
	}
	budget := prompt.ContextBudget(s.ContextTokens) / 2
	var take []*lobby.Message
	for _, m := range ms {
		if m.ID > upTo {
			break
		}
		if budget -= prompt.EstimateTokens(m.Content) + 4; budget < 0 && len(take) > 0 {
			break
		}
		take = append(take, m)
	}
	if len(take) == 0 {
		return
	}
	text, err := s.summarise(ctx, consultant, summaryText(conv), prompt.Turns(take))
	if err != nil {
		s.Logger.Warn("fold: summarise", "conversation_id", conv.ID, "err", err)
		return
	}
	_, err = s.Chat.UpdateSummary(ctx, lobby.SummaryUpdate{ConversationID: conv.ID, Previous: through, Text: text,
		ThroughMessageID: take[len(take)-1].ID})
	switch lobby.ErrorCode(err) {
	case "", lobby.ECONFLICT, lobby.ENOTFOUND: // folded; or another fold came first, or the conversation went
	default:
		s.Logger.Warn("fold: store summary", "conversation_id", conv.ID, "err", err)
	}
}

// summarise folds turns into previous with the consultant's own provider: one that is
// a lobby.Summarizer (the offline provider) makes the summary itself; any other is
// asked with a summarising request. It is the one place that decides.
func (s *Service) summarise(ctx context.Context, consultant *lobby.Consultant, previous string, ts []lobby.Turn) (string, error) {
	tokens := prompt.SummaryTokens(s.ContextTokens)
	var text string
	if sm, ok := s.LLM.(lobby.Summarizer); ok {
		var err error
		if text, err = sm.Summarize(ctx, previous, ts, tokens); err != nil {
			return "", err
		}
	} else {
		c, err := s.LLM.Complete(ctx, prompt.SummaryRequest(consultant.Model, previous, ts, tokens), func(string) {})
		if err != nil {
			return "", err
		}
		text = c.Text
	}
	text = strings.TrimSpace(lobby.CleanText(text))
	if len(text) > lobby.MaxSummaryLen {
		text = strings.ToValidUTF8(text[:lobby.MaxSummaryLen], "")
	}
	return text, nil
}
