package http

import (
	"bufio"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/http/response"
)

// exportPage is how many messages an export reads from the store at a time: however
// long the thread, one page of it is in memory at once.
const exportPage = 100

func (s *Server) handleConversationCreate(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Chat.CreateConversation(r.Context(), caller(r).SubscriptionID)
	if err != nil {
		return err
	}
	response.JSON(w, http.StatusCreated, map[string]any{"conversation": c})
	return nil
}

func (s *Server) handleConversationGet(w http.ResponseWriter, r *http.Request) error {
	c := pathConversation(r)
	c.Hide(r.Context())
	response.JSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) handleConversationDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.Chat.DeleteConversation(r.Context(), caller(r).SubscriptionID, pathConversation(r).ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// exporter writes a conversation's export: its head, each message in order, its tail.
type exporter interface {
	head(c *lobby.Conversation, consultant *lobby.Consultant) error
	message(m *lobby.Message) error
	tail() error
}

func (s *Server) handleConversationExport(w http.ResponseWriter, r *http.Request) error {
	c := pathConversation(r)
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "json"
	}
	ext, contentType := "", ""
	switch format {
	case "json":
		ext, contentType = "json", "application/json; charset=utf-8"
	case "markdown":
		ext, contentType = "md", "text/markdown; charset=utf-8"
	default:
		return lobby.Errorf(lobby.EINVALID, "format must be json or markdown, not %q", format)
	}
	ctx := r.Context()
	consultant, err := s.Consultants.FindConsultantByID(ctx, c.ConsultantID)
	if err != nil {
		return err
	}
	// The first page is read before the status is sent, so that a store that fails
	// at once still gets an error in the contract's shape.
	page, err := s.Chat.FindMessages(ctx, lobby.MessageFilter{ConversationID: c.ID, Limit: exportPage})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s.%s"`, c.ID, ext))
	w.WriteHeader(http.StatusOK)
	out := bufio.NewWriter(w)
	var ex exporter = &markdownExport{w: out}
	if format == "json" {
		ex = &jsonExport{w: out}
	}
	c.Hide(ctx)
	err = ex.head(c, consultant)
	for err == nil && len(page) > 0 {
		for _, m := range page {
			if err = ex.message(m); err != nil {
				break
			}
		}
		if err != nil || len(page) < exportPage {
			break
		}
		if err = out.Flush(); err == nil {
			page, err = s.Chat.FindMessages(ctx, lobby.MessageFilter{ConversationID: c.ID, After: page[len(page)-1].ID, Limit: exportPage})
		}
	}
	if err == nil {
		err = ex.tail()
	}
	if err == nil {
		err = out.Flush()
	}
	if err != nil {
		// The status is sent: the export ends short, and an unfinished document says so.
		s.Logger.Warn("export cut short", "conversation_id", c.ID, "err", err)
	}
	return nil
}

// jsonExport writes {"conversation": ..., "messages": [...]}.
type jsonExport struct {
	w *bufio.Writer
	n int
}

func (e *jsonExport) head(c *lobby.Conversation, _ *lobby.Consultant) error {
	e.w.WriteString(`{"conversation":`)
	if err := response.NewEncoder(e.w).Encode(c); err != nil {
		return err
	}
	_, err := e.w.WriteString(`,"messages":[`)
	return err
}

func (e *jsonExport) message(m *lobby.Message) error {
	if e.n++; e.n > 1 {
		e.w.WriteByte(',')
	}
	return response.NewEncoder(e.w).Encode(m)
}

func (e *jsonExport) tail() error {
	_, err := e.w.WriteString("]}\n")
	return err
}

// markdownExport writes a transcript: a heading per turn with its side and time.
type markdownExport struct {
	w          *bufio.Writer
	consultant string
}

func (e *markdownExport) head(c *lobby.Conversation, consultant *lobby.Consultant) error {
	e.consultant = consultant.Name
	_, err := fmt.Fprintf(e.w, "# Conversation with %s\n\nConversation `%s`, started %s.\n", consultant.Name, c.ID, stamp(c.CreatedAt))
	if err == nil && c.Summary != nil {
		_, err = fmt.Fprintf(e.w, "\n> **Summary** of the turns through `%s` (%s):\n>\n> %s\n",
			c.Summary.ThroughMessageID, stamp(c.Summary.UpdatedAt), strings.ReplaceAll(c.Summary.Text, "\n", "\n> "))
	}
	return err
}

func (e *markdownExport) message(m *lobby.Message) error {
	who := "Buyer"
	if m.Role == lobby.RoleConsultant {
		who = e.consultant
	}
	note := ""
	switch m.Status {
	case lobby.MessageFailed:
		note = "\n\n*(This reply failed: " + m.Error + ")*"
	case lobby.MessageStreaming:
		note = "\n\n*(This reply was still being written when the conversation was exported.)*"
	}
	_, err := fmt.Fprintf(e.w, "\n## %s — %s\n\n%s%s\n", who, stamp(m.CreatedAt), m.Content, note)
	return err
}

func (e *markdownExport) tail() error { return nil }

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }
