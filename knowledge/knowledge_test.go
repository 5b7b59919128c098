package knowledge_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/embed"
	"github.com/lobby-dev/lobby/knowledge"
	"github.com/lobby-dev/lobby/storetest"
)

// progress wraps an embedder and records, at each batch it embeds, how far the
// document's ingestion had got by then, as its owner polling it would see.
type progress struct {
	lobby.Embedder
	k            lobby.KnowledgeService
	consultantID string
	documentID   string

	mu   sync.Mutex
	seen [][2]int // chunks_done, chunks_total
}

func (p *progress) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	d, err := p.k.FindDocumentByID(ctx, p.consultantID, p.documentID)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.seen = append(p.seen, [2]int{d.ChunksDone, d.ChunksTotal})
	p.mu.Unlock()
	return p.Embedder.Embed(ctx, texts)
}

func newConsultant(t *testing.T, st *storetest.Store, slug string) *lobby.Consultant {
	t.Helper()
	_, owner := storetest.SignIn(t, st.Auth, "owner-"+slug+"@example.com")
	c := storetest.NewConsultant(owner.ID, slug)
	if _, err := st.Consultants.CreateConsultant(context.Background(), c, lobby.ValidateOptions{}); err != nil {
		t.Fatal(err)
	}
	return c
}

func store(t *testing.T, k lobby.KnowledgeService, consultantID, title, contentType string, content []byte) *lobby.Document {
	t.Helper()
	d, _, err := k.CreateDocument(context.Background(), lobby.DocumentParams{ConsultantID: consultantID, Title: title,
		ContentType: contentType, Content: content})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// longGuide is a Markdown guide of many sections, several chunks each batch.
func longGuide(sections int) []byte {
	var b bytes.Buffer
	b.WriteString("# Field guide\n\n")
	for i := range sections {
		b.WriteString("## Section " + strings.Repeat("I", i%5+1) + "\n\n")
		for range 8 {
			b.WriteString("Every plant in this section wants light, water and patience; check the soil before watering. ")
		}
		b.WriteString("\n\n")
	}
	return b.Bytes()
}

// TestIngest: ingestion reads, chunks and embeds a document in batches, its progress
// moving batch by batch, and marks it ready; run again (a crash mid-way) it starts
// over and ends the same; a deleted document's job does nothing.
func TestIngest(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := b.Store(t)
		c := newConsultant(t, st, "gardener")
		d := store(t, st.Knowledge, c.ID, "Field guide", "text/markdown", longGuide(40))
		spy := &progress{Embedder: embed.Words{}, k: st.Knowledge, consultantID: c.ID, documentID: d.ID}
		in := &knowledge.Ingester{Knowledge: st.Knowledge, Embedder: spy, BatchSize: 8}
		if err := in.Ingest(ctx, c.ID, d.ID); err != nil {
			t.Fatal(err)
		}
		got, err := st.Knowledge.FindDocumentByID(ctx, c.ID, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != lobby.DocumentReady || got.ChunkCount < 24 || got.ChunksDone != got.ChunksTotal {
			t.Fatalf("ingested: %+v", got)
		}
		if len(spy.seen) != (got.ChunksTotal+7)/8 {
			t.Fatalf("%d batches for %d chunks of 8", len(spy.seen), got.ChunksTotal)
		}
		for i, s := range spy.seen {
			if s != [2]int{8 * i, got.ChunksTotal} {
				t.Fatalf("batch %d began at %v, want [%d %d]", i, s, 8*i, got.ChunksTotal)
			}
		}

		// Run again as after a crash: the document is processing once more.
		d2 := store(t, st.Knowledge, c.ID, "Second", "text/markdown", longGuide(10))
		stored, err := st.Knowledge.ReplaceChunks(ctx, d2.ID, []lobby.Chunk{{Text: "a half-done earlier try"}})
		if err != nil || len(stored) != 1 {
			t.Fatal(err)
		}
		if err := in.Ingest(ctx, c.ID, d2.ID); err != nil {
			t.Fatal(err)
		}
		got2, _ := st.Knowledge.FindDocumentByID(ctx, c.ID, d2.ID)
		hits, err := st.Knowledge.SearchText(ctx, c.ID, "half-done earlier try", 5)
		if err != nil || got2.Status != lobby.DocumentReady || len(hits) != 0 {
			t.Fatalf("restarted: %+v, hits of the earlier try: %v (%v)", got2, hits, err)
		}

		// A document deleted before its job runs: nothing to do, no error.
		d3 := store(t, st.Knowledge, c.ID, "Gone", "text/plain", []byte("Soon deleted."))
		if err := st.Knowledge.DeleteDocument(ctx, c.ID, d3.ID); err != nil {
			t.Fatal(err)
		}
		if err := in.Ingest(ctx, c.ID, d3.ID); err != nil {
			t.Fatalf("deleted document: %v", err)
		}
		// Another consultant's ID pair finds nothing.
		other := newConsultant(t, st, "rival")
		if err := in.Ingest(ctx, other.ID, d.ID); err != nil {
			t.Fatalf("foreign document: %v", err)
		}

		// Lines repeated 100,000 times ingest into bounded chunks.
		d4 := store(t, st.Knowledge, c.ID, "Repeat", "text/plain", bytes.Repeat([]byte("The same line again.\n"), 100_000))
		if err := in.Ingest(ctx, c.ID, d4.ID); err != nil {
			t.Fatal(err)
		}
		got4, _ := st.Knowledge.FindDocumentByID(ctx, c.ID, d4.ID)
		if got4.Status != lobby.DocumentReady {
			t.Fatalf("repeated lines: %+v", got4)
		}
	})
}

// TestIngestFailure: a document that cannot be read is returned as the reason it
// failed, in words for its owner.
func TestIngestFailure(t *testing.T) {
	st := storetest.SQLite.Store(t)
	c := newConsultant(t, st, "gardener")
	d := store(t, st.Knowledge, c.ID, "Scripts", "text/html", []byte("<html><body><script>x()</script></body></html>"))
	in := &knowledge.Ingester{Knowledge: st.Knowledge, Embedder: embed.Words{}}
	err := in.Ingest(context.Background(), c.ID, d.ID)
	if lobby.ErrorCode(err) != lobby.EINVALID || !strings.Contains(lobby.ErrorMessage(err), "no readable text") {
		t.Fatalf("err = %v", err)
	}
}

// TestReembed: once the model changes, the chunks embedded by the old one are embedded
// again by the new one, and vector search with the new model finds them.
func TestReembed(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := b.Store(t)
		c := newConsultant(t, st, "gardener")
		d := store(t, st.Knowledge, c.ID, "Field guide", "text/markdown", longGuide(6))
		if err := (&knowledge.Ingester{Knowledge: st.Knowledge, Embedder: embed.Words{}}).Ingest(ctx, c.ID, d.ID); err != nil {
			t.Fatal(err)
		}
		next := embed.NewHashed(64)
		before, err := st.Knowledge.ChunksWithoutVector(ctx, next.Model(), 1000)
		if err != nil || len(before) == 0 {
			t.Fatalf("chunks to re-embed: %d (%v)", len(before), err)
		}
		n, err := knowledge.Reembed(ctx, st.Knowledge, next)
		if err != nil || n != len(before) {
			t.Fatalf("re-embedded %d of %d (%v)", n, len(before), err)
		}
		if left, _ := st.Knowledge.ChunksWithoutVector(ctx, next.Model(), 1000); len(left) != 0 {
			t.Fatalf("%d chunks left without a %s vector", len(left), next.Model())
		}
		r := &knowledge.Retriever{Knowledge: st.Knowledge, Embedder: next, TextWeight: 0, VectorWeight: 1}
		ps, err := r.Retrieve(ctx, c.ID, "light water patience soil", 3)
		if err != nil || len(ps) != 3 || ps[0].DocumentID != d.ID {
			t.Fatalf("vector search with the new model: %v (%v)", ps, err)
		}
	})
}

// TestRetrieveScoped: the hybrid search returns one consultant's passages only, best
// first, and refuses an empty query.
func TestRetrieveScoped(t *testing.T) {
	storetest.Run(t, func(t *testing.T, b storetest.Backend) {
		ctx := context.Background()
		st := b.Store(t)
		mine, theirs := newConsultant(t, st, "mine"), newConsultant(t, st, "theirs")
		in := &knowledge.Ingester{Knowledge: st.Knowledge, Embedder: embed.Words{}}
		for _, c := range []*lobby.Consultant{mine, theirs} {
			d := store(t, st.Knowledge, c.ID, "Refunds of "+c.Slug, "text/markdown",
				[]byte("# Refunds\n\nRefunds are paid within fourteen days of a return, to the card that paid.\n\n# Shipping\n\nParcels leave the warehouse every weekday at noon."))
			if err := in.Ingest(ctx, c.ID, d.ID); err != nil {
				t.Fatal(err)
			}
		}
		r := &knowledge.Retriever{Knowledge: st.Knowledge, Embedder: embed.Words{}}
		ps, err := r.Retrieve(ctx, mine.ID, "How soon do I get my money back?", 10)
		if err != nil || len(ps) == 0 || !strings.Contains(ps[0].Text, "fourteen days") {
			t.Fatalf("passages = %v (%v)", ps, err)
		}
		for i, p := range ps {
			if p.Title != "Refunds of mine" {
				t.Fatalf("passage of another consultant: %+v", p)
			}
			if i > 0 && p.Score > ps[i-1].Score {
				t.Fatalf("not best first: %v", ps)
			}
		}
		if _, err := r.Retrieve(ctx, mine.ID, " \n", 5); lobby.ErrorCode(err) != lobby.EINVALID {
			t.Fatalf("empty query: %v", err)
		}
		if ps, err := r.Retrieve(ctx, mine.ID, strings.Repeat("refunds ", 4096), 5); err != nil || len(ps) == 0 {
			t.Fatalf("a 32 KiB question: %v (%v)", ps, err)
		}
	})
}

// BenchmarkIngest measures ingestion with the built-in embedder, from a stored
// Markdown document to ready: read, chunk, embed, store. It reports chunks a second.
func BenchmarkIngest(b *testing.B) {
	for _, be := range storetest.Backends() {
		b.Run(be.Name, func(b *testing.B) {
			ctx := context.Background()
			db := be.Open(b)
			svc := db.Services()
			_, owner := storetest.SignIn(b, svc.Auth, "bench@example.com")
			c := storetest.NewConsultant(owner.ID, "bench")
			if _, err := svc.Consultants.CreateConsultant(ctx, c, lobby.ValidateOptions{}); err != nil {
				b.Fatal(err)
			}
			in := &knowledge.Ingester{Knowledge: svc.Knowledge, Embedder: embed.Words{}}
			chunks := 0
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				content := append(longGuide(400), []byte(strings.Repeat("x", i+1))...) // a new sha256 each time
				d, _, err := svc.Knowledge.CreateDocument(ctx, lobby.DocumentParams{ConsultantID: c.ID, Title: "Guide",
					ContentType: "text/markdown", Content: content})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := in.Ingest(ctx, c.ID, d.ID); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				got, _ := svc.Knowledge.FindDocumentByID(ctx, c.ID, d.ID)
				chunks += got.ChunkCount
				b.StartTimer()
			}
			b.ReportMetric(float64(chunks)/b.Elapsed().Seconds(), "chunks/s")
		})
	}
}
