package knowledge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/embed"
	"github.com/lobby-dev/lobby/extract"
	"github.com/lobby-dev/lobby/knowledge"
	"github.com/lobby-dev/lobby/storetest"
)

// qualityDir holds the labelled set: documents a consultant would upload, and
// questions.json, each question with the passage that answers it.
const qualityDir = "testdata/quality"

// otherDocument is the second consultant's, on the same subject as one of the first's.
const otherDocument = "other/refund-policy.md"

// question is one label: a buyer's question, the document whose passage answers it,
// a distinctive exact substring of that passage as it reads once extracted, and
// whether the question is phrased in other words than the passage.
type question struct {
	Question    string `json:"question"`
	Document    string `json:"document"`
	Answer      string `json:"answer"`
	Paraphrased bool   `json:"paraphrased"`
}

// depth is how many passages each question is ranked over: MRR counts a passage found
// below it as not found.
const depth = 10

// recallAt is the k of recall@k.
const recallAt = 5

// legs are the three retrievals compared: each leg alone, and the hybrid as managed
// replies run it (both weights 0: 1 each).
var legs = []struct {
	name   string
	tw, vw float64
}{
	{"text", 1, 0},
	{"vector", 0, 1},
	{"hybrid", 0, 0},
}

// TestQuality measures retrieval on the labelled set, on each store: every document
// goes through the real ingestion (read, chunk, embed with embed.Words, store), and
// each question is searched by full text alone, vectors alone and the hybrid. It logs
// recall@5 and MRR@10 of each, and fails when the hybrid falls below either leg alone,
// when a label cannot be found in its document, or when a passage of another
// consultant's is returned. Run it with -v to read the figures.
func TestQuality(t *testing.T) {
	questions := loadQuestions(t)
	documents := map[string]bool{}
	for _, q := range questions {
		documents[q.Document] = true
	}

	t.Run("Labels", func(t *testing.T) {
		chunks := map[string][]lobby.Chunk{}
		for name := range documents {
			text := readDocument(t, name)
			chunks[name] = extract.Chunks(text.Markdown)
		}
		for _, q := range questions {
			if n := len(strings.Fields(q.Answer)); n < 5 || n > 15 {
				t.Errorf("%q: the answer has %d words, want 5 to 15", q.Question, n)
			}
			found := false
			for _, c := range chunks[q.Document] {
				found = found || containsAnswer(c.Text, q.Answer)
			}
			if !found {
				t.Errorf("%q: no chunk of %s contains %q: the label is wrong", q.Question, q.Document, q.Answer)
			}
		}
		paraphrased := 0
		for _, q := range questions {
			if q.Paraphrased {
				paraphrased++
			}
		}
		if len(questions) < 48 || len(documents) < 6 || paraphrased*2 < len(questions) {
			t.Errorf("%d questions over %d documents, %d paraphrased; want at least 48 over 6, half paraphrased",
				len(questions), len(documents), paraphrased)
		}
	})

	t.Run("PDFReadsBack", func(t *testing.T) {
		text := readDocument(t, "expense-policy.pdf")
		if text.ContentType != extract.TypePDF || text.Title != "Employee Travel and Expense Policy" {
			t.Errorf("read as %s titled %q, want a PDF titled Employee Travel and Expense Policy", text.ContentType, text.Title)
		}
		for _, want := range []string{"1. Purpose and approval", "10. Misuse", "for further evidence of any claim."} {
			if !strings.Contains(text.Markdown, want) {
				t.Errorf("the PDF's text lacks %q; it reads:\n%s", want, text.Markdown)
			}
		}
	})

	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := b.Store(t)
		owner := newConsultant(t, st, "quality")
		other := newConsultant(t, st, "quality-other")
		docIDs := map[string]string{} // file name → document ID
		for name := range documents {
			docIDs[name] = ingest(t, st.Knowledge, owner.ID, name)
		}
		otherID := ingest(t, st.Knowledge, other.ID, otherDocument)
		ours := map[string]bool{}
		for _, id := range docIDs {
			ours[id] = true
		}

		// ranks[leg][i] is the rank of question i's passage in that leg, 0 if not in the top depth.
		ranks := make([][]int, len(legs))
		for l, leg := range legs {
			r := &knowledge.Retriever{Knowledge: st.Knowledge, Embedder: embed.Words{}, TextWeight: leg.tw, VectorWeight: leg.vw}
			ranks[l] = make([]int, len(questions))
			for i, q := range questions {
				ps, err := r.Retrieve(ctx, owner.ID, q.Question, depth)
				if err != nil {
					t.Fatalf("%s: %q: %v", leg.name, q.Question, err)
				}
				for k, p := range ps {
					if !ours[p.DocumentID] {
						t.Errorf("%s: %q returned passage %s of document %s, not the consultant's", leg.name, q.Question, p.ChunkID, p.DocumentID)
					}
					if ranks[l][i] == 0 && p.DocumentID == docIDs[q.Document] && containsAnswer(p.Text, q.Answer) {
						ranks[l][i] = k + 1
					}
				}
			}
		}

		t.Run("NoCrossing", func(t *testing.T) {
			// The other consultant's search finds its own refund policy and nothing of the first's.
			r := &knowledge.Retriever{Knowledge: st.Knowledge, Embedder: embed.Words{}}
			for _, q := range []string{"Can I get a refund after cancelling?", "What happens when my card payment fails?"} {
				ps, err := r.Retrieve(ctx, other.ID, q, depth)
				if err != nil {
					t.Fatal(err)
				}
				if len(ps) == 0 {
					t.Errorf("%q: the other consultant's search found nothing in its own document", q)
				}
				for _, p := range ps {
					if p.DocumentID != otherID {
						t.Errorf("%q: the other consultant's search returned passage %s of document %s", q, p.ChunkID, p.DocumentID)
					}
				}
			}
		})

		for i, q := range questions {
			kind := "literal"
			if q.Paraphrased {
				kind = "paraphrased"
			}
			t.Logf("ranks text %2s vector %2s hybrid %2s  %-11s %s: %s", rankString(ranks[0][i]), rankString(ranks[1][i]),
				rankString(ranks[2][i]), kind, q.Document, q.Question)
		}
		all := func(question) bool { return true }
		paraphrased := func(q question) bool { return q.Paraphrased }
		literal := func(q question) bool { return !q.Paraphrased }
		var table strings.Builder
		fmt.Fprintf(&table, "retrieval quality on %s, recall@%d / MRR@%d:\n", b.Name, recallAt, depth)
		fmt.Fprintf(&table, "%-8s %-18s %-18s %-18s\n", "leg", "all", "paraphrased", "literal")
		figures := make([]metrics, len(legs))
		for l, leg := range legs {
			figures[l] = measure(questions, ranks[l], all)
			fmt.Fprintf(&table, "%-8s %-18s %-18s %-18s\n", leg.name, figures[l],
				measure(questions, ranks[l], paraphrased), measure(questions, ranks[l], literal))
		}
		t.Log(table.String())
		hybrid := figures[2]
		for l, leg := range figures[:2] {
			if hybrid.recall < leg.recall || hybrid.mrr < leg.mrr {
				t.Errorf("the hybrid (%s) falls below %s alone (%s)", hybrid, legs[l].name, leg)
			}
		}
	})
}

// metrics are one leg's figures over a set of questions.
type metrics struct {
	n           int
	recall, mrr float64
}

func (m metrics) String() string { return fmt.Sprintf("%.3f / %.3f (%d)", m.recall, m.mrr, m.n) }

// measure returns recall@recallAt and MRR over the questions keep selects.
func measure(questions []question, ranks []int, keep func(question) bool) metrics {
	var m metrics
	for i, q := range questions {
		if !keep(q) {
			continue
		}
		m.n++
		if r := ranks[i]; r > 0 {
			m.mrr += 1 / float64(r)
			if r <= recallAt {
				m.recall++
			}
		}
	}
	if m.n > 0 {
		m.recall /= float64(m.n)
		m.mrr /= float64(m.n)
	}
	return m
}

func rankString(r int) string {
	if r == 0 {
		return "-"
	}
	return fmt.Sprint(r)
}

func loadQuestions(t *testing.T) []question {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(qualityDir, "questions.json"))
	if err != nil {
		t.Fatal(err)
	}
	var qs []question
	if err := json.Unmarshal(b, &qs); err != nil {
		t.Fatalf("questions.json: %v", err)
	}
	return qs
}

// contentTypes are the media types an upload of each extension declares.
var contentTypes = map[string]string{
	".md":   extract.TypeMarkdown,
	".html": extract.TypeHTML,
	".txt":  extract.TypeText,
	".pdf":  extract.TypePDF,
}

func readFile(t *testing.T, name string) ([]byte, string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(qualityDir, name))
	if err != nil {
		t.Fatal(err)
	}
	ct, ok := contentTypes[filepath.Ext(name)]
	if !ok {
		t.Fatalf("%s: no content type for its extension", name)
	}
	return b, ct
}

// readDocument reads a document as ingestion does.
func readDocument(t *testing.T, name string) *extract.Text {
	t.Helper()
	b, ct := readFile(t, name)
	text, err := extract.Read(b, "", ct)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return text
}

// ingest uploads a document of the set for consultantID and runs its ingestion, as
// the queue's worker would, and returns its ID once ready.
func ingest(t *testing.T, k lobby.KnowledgeService, consultantID, name string) string {
	t.Helper()
	ctx := context.Background()
	b, ct := readFile(t, name)
	d, _, err := k.CreateDocument(ctx, lobby.DocumentParams{ConsultantID: consultantID, Title: filepath.Base(name),
		ContentType: ct, Content: b})
	if err != nil {
		t.Fatal(err)
	}
	in := &knowledge.Ingester{Knowledge: k, Embedder: embed.Words{}}
	if err := in.Ingest(ctx, consultantID, d.ID); err != nil {
		t.Fatalf("%s: ingest: %v", name, err)
	}
	if d, err = k.FindDocumentByID(ctx, consultantID, d.ID); err != nil {
		t.Fatal(err)
	}
	if d.Status != lobby.DocumentReady || d.ChunkCount < 2 || d.ChunksDone != d.ChunksTotal {
		t.Fatalf("%s: %s with %d chunks (%d of %d embedded), error %q; want ready with several", name, d.Status,
			d.ChunkCount, d.ChunksDone, d.ChunksTotal, d.Error)
	}
	return d.ID
}

// containsAnswer reports whether text holds answer, runs of whitespace alike.
func containsAnswer(text, answer string) bool {
	return strings.Contains(strings.Join(strings.Fields(text), " "), strings.Join(strings.Fields(answer), " "))
}
