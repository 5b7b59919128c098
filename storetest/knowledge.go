package storetest

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/jobs"
	"github.com/lobby-dev/lobby/sqldb"
)

// knowledgeOwner makes a consultant to hold documents.
func knowledgeOwner(t testing.TB, st *Store, slug string) *lobby.Consultant {
	t.Helper()
	_, owner := SignIn(t, st.Auth, "owner-"+slug+"@example.com")
	c := NewConsultant(owner.ID, slug)
	_, err := st.Consultants.CreateConsultant(context.Background(), c, lobby.ValidateOptions{})
	must(t, err)
	return c
}

// ReadyDocument stores content as a ready document of consultantID with chunks, each
// with its vector of model when vectors is given.
func ReadyDocument(t testing.TB, k lobby.KnowledgeService, consultantID, content string, chunks []lobby.Chunk, model string, vectors [][]float32) (*lobby.Document, []lobby.Chunk) {
	t.Helper()
	ctx := context.Background()
	d, _, err := k.CreateDocument(ctx, lobby.DocumentParams{ConsultantID: consultantID, Title: "Doc " + content[:min(len(content), 10)],
		ContentType: "text/plain", Content: []byte(content)})
	must(t, err)
	stored, err := k.ReplaceChunks(ctx, d.ID, chunks)
	must(t, err)
	if vectors != nil {
		vs := make([]lobby.ChunkVector, len(stored))
		for i, c := range stored {
			vs[i] = lobby.ChunkVector{ChunkID: c.ID, Vector: vectors[i]}
		}
		must(t, k.StoreVectors(ctx, d.ID, model, vs))
	}
	d, err = k.FinishDocument(ctx, d.ID, lobby.DocumentReady, "")
	must(t, err)
	return d, stored
}

// RandomVector returns a random L2-normalised vector of dim dimensions.
func RandomVector(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	var sum float64
	for i := range v {
		x := r.NormFloat64()
		v[i] = float32(x)
		sum += x * x
	}
	norm := float32(math.Sqrt(sum))
	for i := range v {
		v[i] /= norm
	}
	return v
}

// unit returns the dim-dimensional unit vector along axis i, tilted a little towards
// axis i+1 by tilt.
func unit(dim, i int, tilt float64) []float32 {
	v := make([]float32, dim)
	v[i] = float32(math.Cos(tilt))
	v[(i+1)%dim] = float32(math.Sin(tilt))
	return v
}

func testKnowledge(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	k := st.Knowledge
	c := knowledgeOwner(t, st, "knows")
	other := knowledgeOwner(t, st, "knows-other")

	d, created, err := k.CreateDocument(ctx, lobby.DocumentParams{ConsultantID: c.ID, Title: "Handbook",
		ContentType: "text/markdown", Content: []byte("# Handbook\nHello.")})
	must(t, err)
	t.Run("CreatedProcessingWithJob", func(t *testing.T) {
		if !created || d.Status != lobby.DocumentProcessing || d.Bytes != 17 || len(d.SHA256) != 64 || d.ChunkCount != 0 ||
			!d.CreatedAt.Equal(st.Clock.Now()) || d.ConsultantID != c.ID {
			t.Fatalf("created = %v, document = %+v", created, d)
		}
		args, err := st.QueuedJobs(ctx, jobs.Ingest{}.Kind())
		must(t, err)
		if len(args) != 1 || !strings.Contains(args[0], d.ID) {
			t.Fatalf("ingest jobs queued: %q, want one for %s", args, d.ID)
		}
		b, err := k.DocumentContent(ctx, d.ID)
		must(t, err)
		if string(b) != "# Handbook\nHello." {
			t.Fatalf("content = %q", b)
		}
	})
	t.Run("SameContentSameDocument", func(t *testing.T) {
		again, created, err := k.CreateDocument(ctx, lobby.DocumentParams{ConsultantID: c.ID, Title: "Other title",
			ContentType: "text/markdown", Content: []byte("# Handbook\nHello.")})
		must(t, err)
		if created || again.ID != d.ID || again.Title != "Handbook" {
			t.Fatalf("created = %v, document = %+v, want %s", created, again, d.ID)
		}
		args, err := st.QueuedJobs(ctx, jobs.Ingest{}.Kind())
		must(t, err)
		if len(args) != 1 {
			t.Fatalf("ingest jobs queued: %q, want the first one only", args)
		}
		// Another consultant's copy is a document of its own.
		theirs, created, err := k.CreateDocument(ctx, lobby.DocumentParams{ConsultantID: other.ID, Title: "Copy",
			ContentType: "text/markdown", Content: []byte("# Handbook\nHello.")})
		must(t, err)
		if !created || theirs.ID == d.ID {
			t.Fatalf("another consultant's upload: created = %v, %+v", created, theirs)
		}
	})
	t.Run("ErrEmpty", func(t *testing.T) {
		_, _, err := k.CreateDocument(ctx, lobby.DocumentParams{ConsultantID: c.ID, Title: "Empty", ContentType: "text/plain"})
		WantCode(t, err, lobby.EINVALID, "empty")
	})
	t.Run("ErrNoConsultant", func(t *testing.T) {
		_, _, err := k.CreateDocument(ctx, lobby.DocumentParams{ConsultantID: "csl_nobody", Title: "X", ContentType: "text/plain", Content: []byte("x")})
		WantCode(t, err, lobby.ENOTFOUND)
	})

	var second []lobby.Chunk
	t.Run("ReplaceChunksTwice", func(t *testing.T) {
		_, err := k.ReplaceChunks(ctx, d.ID, []lobby.Chunk{{Position: 0, Text: "first try"}, {Position: 1, Text: "first try two"}})
		must(t, err)
		second, err = k.ReplaceChunks(ctx, d.ID, []lobby.Chunk{
			{Position: 0, Heading: "Handbook", Text: "Hello there."},
			{Position: 1, Heading: "Handbook > Bad", Text: "nul\x00byte and \xff invalid"},
		})
		must(t, err)
		if len(second) != 2 || second[0].ID == "" || second[0].DocumentID != d.ID || second[1].Text != "nul\uFFFDbyte and \uFFFD invalid" {
			t.Fatalf("stored chunks = %+v", second)
		}
		got, err := k.FindDocumentByID(ctx, c.ID, d.ID)
		must(t, err)
		if got.ChunksTotal != 2 || got.ChunksDone != 0 {
			t.Fatalf("after ReplaceChunks: %+v", got)
		}
	})
	t.Run("StoreVectorsCountsDone", func(t *testing.T) {
		must(t, k.StoreVectors(ctx, d.ID, "m1", []lobby.ChunkVector{{ChunkID: second[0].ID, Vector: unit(4, 0, 0)}}))
		got, err := k.FindDocumentByID(ctx, c.ID, d.ID)
		must(t, err)
		if got.ChunksDone != 1 || got.ChunksTotal != 2 {
			t.Fatalf("after one vector: %+v", got)
		}
		must(t, k.StoreVectors(ctx, d.ID, "m1", []lobby.ChunkVector{{ChunkID: second[1].ID, Vector: unit(4, 1, 0)}}))
		got, err = k.FindDocumentByID(ctx, c.ID, d.ID)
		must(t, err)
		if got.ChunksDone != 2 {
			t.Fatalf("after both vectors: %+v", got)
		}
	})
	t.Run("ErrVectorOfAnotherChunk", func(t *testing.T) {
		err := k.StoreVectors(ctx, d.ID, "m1", []lobby.ChunkVector{{ChunkID: "chn_gone", Vector: unit(4, 0, 0)}})
		WantCode(t, err, lobby.ENOTFOUND)
	})
	t.Run("FinishReady", func(t *testing.T) {
		got, err := k.FinishDocument(ctx, d.ID, lobby.DocumentReady, "")
		must(t, err)
		if got.Status != lobby.DocumentReady || got.ChunkCount != 2 || got.Error != "" {
			t.Fatalf("finished = %+v", got)
		}
		if _, err := k.ReplaceChunks(ctx, d.ID, nil); lobby.ErrorCode(err) != lobby.ECONFLICT {
			t.Fatalf("ReplaceChunks on a ready document: %v, want ECONFLICT", err)
		}
	})
	t.Run("FinishFailed", func(t *testing.T) {
		f, _, err := k.CreateDocument(ctx, lobby.DocumentParams{ConsultantID: c.ID, Title: "Broken", ContentType: "application/pdf", Content: []byte("%PDF-")})
		must(t, err)
		got, err := k.FinishDocument(ctx, f.ID, lobby.DocumentFailed, "the PDF has no text layer")
		must(t, err)
		if got.Status != lobby.DocumentFailed || got.Error != "the PDF has no text layer" || got.ChunkCount != 0 {
			t.Fatalf("failed = %+v", got)
		}
		got, err = k.FindDocumentByID(ctx, c.ID, f.ID)
		must(t, err)
		if got.Status != lobby.DocumentFailed || got.Error != "the PDF has no text layer" {
			t.Fatalf("found = %+v", got)
		}
		_, err = k.FinishDocument(ctx, "doc_nothing", lobby.DocumentReady, "")
		WantCode(t, err, lobby.ENOTFOUND)
		_, err = k.FinishDocument(ctx, f.ID, "done", "")
		WantCode(t, err, lobby.EINVALID)

		// Uploaded again, a failed document is ingested again: the way to retry it.
		jobsBefore, err := st.QueuedJobs(ctx, jobs.Ingest{}.Kind())
		must(t, err)
		again, created, err := k.CreateDocument(ctx, lobby.DocumentParams{ConsultantID: c.ID, Title: "Broken", ContentType: "application/pdf", Content: []byte("%PDF-")})
		must(t, err)
		jobsAfter, err := st.QueuedJobs(ctx, jobs.Ingest{}.Kind())
		must(t, err)
		if !created || again.ID != f.ID || again.Status != lobby.DocumentProcessing || again.Error != "" || len(jobsAfter) != len(jobsBefore)+1 {
			t.Fatalf("uploaded again after failing: created %v, %+v, jobs %d → %d", created, again, len(jobsBefore), len(jobsAfter))
		}
		if got, _ := k.FindDocumentByID(ctx, c.ID, f.ID); got.Status != lobby.DocumentProcessing {
			t.Fatalf("stored = %+v", got)
		}
	})
	t.Run("Paging", func(t *testing.T) {
		for i := range 3 {
			_, _, err := k.CreateDocument(ctx, lobby.DocumentParams{ConsultantID: c.ID, Title: fmt.Sprint("Page ", i),
				ContentType: "text/plain", Content: []byte(fmt.Sprint("page content ", i))})
			must(t, err)
		}
		var all []*lobby.Document
		cursor := ""
		for pages := 0; ; pages++ {
			page, next, err := k.FindDocuments(ctx, lobby.DocumentFilter{ConsultantID: c.ID, Limit: 2, Cursor: cursor})
			must(t, err)
			all = append(all, page...)
			if next == "" {
				break
			}
			if pages > 5 {
				t.Fatal("paging does not end")
			}
			cursor = next
		}
		if len(all) != 5 { // Handbook, Broken and three pages
			t.Fatalf("listed %d documents, want 5", len(all))
		}
		for i := 1; i < len(all); i++ {
			if all[i].ID >= all[i-1].ID || all[i].ConsultantID != c.ID {
				t.Fatalf("not newest first, or another's: %+v", all)
			}
		}
		_, _, err := k.FindDocuments(ctx, lobby.DocumentFilter{ConsultantID: c.ID, Cursor: "junk"})
		WantCode(t, err, lobby.EINVALID, "cursor")
	})
	t.Run("ErrAnotherConsultants", func(t *testing.T) {
		_, err := k.FindDocumentByID(ctx, other.ID, d.ID)
		WantCode(t, err, lobby.ENOTFOUND, d.ID)
		WantCode(t, k.DeleteDocument(ctx, other.ID, d.ID), lobby.ENOTFOUND)
		if _, err := k.FindDocumentByID(ctx, c.ID, d.ID); err != nil {
			t.Fatalf("another consultant's delete removed it: %v", err)
		}
	})
	t.Run("ChunksWithoutVector", func(t *testing.T) {
		cs, err := k.ChunksWithoutVector(ctx, "m1", 10)
		must(t, err)
		if len(cs) != 0 {
			t.Fatalf("chunks without a vector of m1: %+v", cs)
		}
		cs, err = k.ChunksWithoutVector(ctx, "m2", 10)
		must(t, err)
		if len(cs) != 2 || cs[0].ID != second[0].ID || cs[1].ID != second[1].ID {
			t.Fatalf("chunks without a vector of m2: %+v", cs)
		}
		cs, err = k.ChunksWithoutVector(ctx, "m2", 1)
		must(t, err)
		if len(cs) != 1 {
			t.Fatalf("limit 1 gave %d", len(cs))
		}
	})
	t.Run("DeleteRemovesChunks", func(t *testing.T) {
		before, err := k.SearchText(ctx, c.ID, "hello", 10)
		must(t, err)
		if len(before) != 1 {
			t.Fatalf("before delete: %+v", before)
		}
		must(t, k.DeleteDocument(ctx, c.ID, d.ID))
		_, err = k.FindDocumentByID(ctx, c.ID, d.ID)
		WantCode(t, err, lobby.ENOTFOUND)
		_, err = k.DocumentContent(ctx, d.ID)
		WantCode(t, err, lobby.ENOTFOUND)
		ms, err := k.SearchText(ctx, c.ID, "hello", 10)
		must(t, err)
		vs, err := k.SearchVector(ctx, c.ID, "m1", unit(4, 0, 0), 10)
		must(t, err)
		if len(ms) != 0 || len(vs) != 0 {
			t.Fatalf("a deleted document's chunks were found: %+v %+v", ms, vs)
		}
		cs, err := k.ChunksWithoutVector(ctx, "m2", 10)
		must(t, err)
		if len(cs) != 0 {
			t.Fatalf("a deleted document's chunks need vectors: %+v", cs)
		}
		WantCode(t, k.DeleteDocument(ctx, c.ID, d.ID), lobby.ENOTFOUND)
	})
	t.Run("ErrKnowledgeBaseFull", func(t *testing.T) {
		full := knowledgeOwner(t, st, "knows-all")
		upload := func(content []byte) error {
			_, _, err := k.CreateDocument(ctx, lobby.DocumentParams{ConsultantID: full.ID, Title: "Page",
				ContentType: "text/plain", Content: content})
			return err
		}
		for i := range lobby.MaxDocuments - 1 {
			must(t, upload([]byte(fmt.Sprintf("page %d", i))))
		}
		// Two uploads at once for the last room: one gets it.
		errs := make(chan error, 2)
		for i := range 2 {
			go func() { errs <- upload([]byte(fmt.Sprintf("last page %d", i))) }()
		}
		first, second := <-errs, <-errs
		if (first == nil) == (second == nil) {
			t.Fatalf("two uploads for the last room: %v and %v, want one refused", first, second)
		}
		err := upload([]byte("one too many"))
		WantCode(t, err, lobby.ECONFLICT)
		if !strings.Contains(err.Error(), "1000 documents") {
			t.Fatalf("refusal %q does not name the limit", err)
		}
		must(t, upload([]byte("page 0"))) // already there: no room needed

		big := knowledgeOwner(t, st, "knows-much")
		for i := range lobby.MaxKnowledgeBytes / lobby.MaxDocumentLen {
			content := bytes.Repeat([]byte{'a' + byte(i)}, lobby.MaxDocumentLen)
			_, _, err := k.CreateDocument(ctx, lobby.DocumentParams{ConsultantID: big.ID, ContentType: "text/plain", Content: content})
			must(t, err)
		}
		_, _, err = k.CreateDocument(ctx, lobby.DocumentParams{ConsultantID: big.ID, ContentType: "text/plain", Content: []byte("z")})
		WantCode(t, err, lobby.ECONFLICT)
		if !strings.Contains(err.Error(), "100 MiB") {
			t.Fatalf("refusal %q does not name the limit", err)
		}
		_, _, err = k.CreateDocument(ctx, lobby.DocumentParams{ConsultantID: other.ID, ContentType: "text/plain", Content: []byte("z")})
		must(t, err) // another consultant's room is its own
	})
	t.Run("HasKnowledgeWhileADocumentIsReady", func(t *testing.T) {
		little := knowledgeOwner(t, st, "knows-little")
		has := func() bool {
			found, err := st.Consultants.FindConsultantBySlug(ctx, little.Slug)
			must(t, err)
			return found.HasKnowledge
		}
		pending, _, err := k.CreateDocument(ctx, lobby.DocumentParams{ConsultantID: little.ID, Title: "Pending",
			ContentType: "text/plain", Content: []byte("not yet read")})
		must(t, err)
		if has() {
			t.Fatal("HasKnowledge with only a processing document")
		}
		ready, _ := ReadyDocument(t, k, little.ID, "ready content", []lobby.Chunk{{Text: "ready content"}}, "", nil)
		if !has() {
			t.Fatal("no HasKnowledge with a ready document")
		}
		must(t, k.DeleteDocument(ctx, little.ID, ready.ID))
		must(t, k.DeleteDocument(ctx, little.ID, pending.ID))
		if has() {
			t.Fatal("HasKnowledge once its documents are deleted")
		}
	})
}

func testKnowledgeSearch(t *testing.T, open func(*testing.T) *Store) {
	ctx := context.Background()
	st := open(t)
	k := st.Knowledge
	c := knowledgeOwner(t, st, "searcher")
	other := knowledgeOwner(t, st, "searcher-twin")
	chunks := []lobby.Chunk{
		{Position: 0, Heading: "Refunds", Text: "Refunds are paid within fourteen days of a request."},
		{Position: 1, Heading: "Shipping", Text: "Parcels ship from Rotterdam on weekdays."},
		{Position: 2, Heading: "Shipping > Customs", Text: "Customs duties outside the union are the buyer's."},
		{Position: 3, Heading: "Contact", Text: "Write to support; we answer every message near noon."},
	}
	vectors := [][]float32{unit(8, 0, 0), unit(8, 1, 0), unit(8, 2, 0), unit(8, 3, 0)}
	d, _ := ReadyDocument(t, k, c.ID, "the shop's terms", chunks, "m", vectors)
	// The twin has identical chunks and vectors: it must never appear in c's searches.
	ReadyDocument(t, k, other.ID, "the shop's terms", chunks, "m", vectors)

	t.Run("TextByWords", func(t *testing.T) {
		ms, err := k.SearchText(ctx, c.ID, "How long do refunds take?", 10)
		must(t, err)
		if len(ms) == 0 || ms[0].Heading != "Refunds" || ms[0].Rank != 1 || ms[0].Title != d.Title || ms[0].DocumentID != d.ID {
			t.Fatalf("matches = %+v", ms)
		}
		for _, m := range ms {
			if m.DocumentID != d.ID {
				t.Fatalf("another consultant's chunk was found: %+v", m)
			}
		}
		ms, err = k.SearchText(ctx, c.ID, "customs rotterdam", 10)
		must(t, err)
		if len(ms) != 2 || ms[0].Score < ms[1].Score {
			t.Fatalf("any of the words should match, best first: %+v", ms)
		}
	})
	t.Run("HeadingMatches", func(t *testing.T) {
		ms, err := k.SearchText(ctx, c.ID, "contact", 10)
		must(t, err)
		if len(ms) != 1 || ms[0].Position != 3 {
			t.Fatalf("matches = %+v", ms)
		}
	})
	t.Run("TextNoWords", func(t *testing.T) {
		for _, q := range []string{"", "   ", "?!.,;", `"*-:()`} {
			ms, err := k.SearchText(ctx, c.ID, q, 10)
			must(t, err)
			if len(ms) != 0 {
				t.Fatalf("query %q found %+v", q, ms)
			}
		}
	})
	t.Run("TextSyntaxIsHarmless", func(t *testing.T) {
		for _, q := range []string{`"refunds`, `refunds*`, `NEAR(refunds days)`, `-refunds`, `text:refunds`, `refunds AND`, `OR`, `NOT refunds`, `refunds & | !`, `heading : "`} {
			ms, err := k.SearchText(ctx, c.ID, q, 10)
			if err != nil {
				t.Fatalf("query %q: %v", q, err)
			}
			if strings.Contains(strings.ToLower(q), "refunds") && (len(ms) == 0 || ms[0].Heading != "Refunds") {
				t.Fatalf("query %q found %+v", q, ms)
			}
		}
	})
	t.Run("TextLimit", func(t *testing.T) {
		ms, err := k.SearchText(ctx, c.ID, "refunds shipping customs contact", 2)
		must(t, err)
		if len(ms) != 2 {
			t.Fatalf("n = 2 found %d", len(ms))
		}
	})
	t.Run("VectorNearestFirst", func(t *testing.T) {
		// Between axes 1 and 2, nearer 1.
		ms, err := k.SearchVector(ctx, c.ID, "m", unit(8, 1, 0.3), 3)
		must(t, err)
		if len(ms) != 3 || ms[0].Position != 1 || ms[1].Position != 2 || ms[0].Rank != 1 || ms[1].Rank != 2 ||
			math.Abs(ms[0].Score-math.Cos(0.3)) > 1e-4 || ms[0].Title != d.Title {
			t.Fatalf("matches = %+v", ms)
		}
		for _, m := range ms {
			if m.DocumentID != d.ID {
				t.Fatalf("another consultant's chunk was found: %+v", m)
			}
		}
	})
	t.Run("VectorOtherModel", func(t *testing.T) {
		ms, err := k.SearchVector(ctx, c.ID, "other-model", unit(8, 1, 0), 3)
		must(t, err)
		if len(ms) != 0 {
			t.Fatalf("vectors of another model met: %+v", ms)
		}
		ms, err = k.SearchVector(ctx, c.ID, "m", unit(16, 1, 0), 3)
		must(t, err)
		if len(ms) != 0 {
			t.Fatalf("vectors of another dimension met: %+v", ms)
		}
	})
	t.Run("VectorScopedWhenCrowded", func(t *testing.T) {
		// Many other consultants' chunks nearer the query than any of c's: the
		// filter must still return c's n.
		crowd := knowledgeOwner(t, st, "searcher-crowd")
		r := rand.New(rand.NewPCG(1, 2))
		var cs []lobby.Chunk
		var vs [][]float32
		for i := range 300 {
			cs = append(cs, lobby.Chunk{Position: i, Text: fmt.Sprint("crowd ", i)})
			v := unit(8, 5, 0)
			for j := range v {
				v[j] += float32(r.NormFloat64() * 0.01)
			}
			vs = append(vs, normalise(v))
		}
		ReadyDocument(t, k, crowd.ID, "crowd", cs, "m", vs)
		ms, err := k.SearchVector(ctx, c.ID, "m", unit(8, 5, 0), 4)
		must(t, err)
		if len(ms) != 4 {
			t.Fatalf("found %d of c's 4 chunks", len(ms))
		}
		for _, m := range ms {
			if m.DocumentID != d.ID {
				t.Fatalf("another consultant's chunk was found: %+v", m)
			}
		}
	})
	t.Run("ProcessingNotSearched", func(t *testing.T) {
		p, _, err := k.CreateDocument(ctx, lobby.DocumentParams{ConsultantID: c.ID, Title: "Draft", ContentType: "text/plain", Content: []byte("draft")})
		must(t, err)
		stored, err := k.ReplaceChunks(ctx, p.ID, []lobby.Chunk{{Text: "zebra crossing"}})
		must(t, err)
		must(t, k.StoreVectors(ctx, p.ID, "m", []lobby.ChunkVector{{ChunkID: stored[0].ID, Vector: unit(8, 7, 0)}}))
		ms, err := k.SearchText(ctx, c.ID, "zebra", 5)
		must(t, err)
		vs, err := k.SearchVector(ctx, c.ID, "m", unit(8, 7, 0), 1)
		must(t, err)
		if len(ms) != 0 || (len(vs) == 1 && vs[0].DocumentID == p.ID) {
			t.Fatalf("a processing document was searched: %+v %+v", ms, vs)
		}
	})
	t.Run("VectorSearchFollowsWrites", func(t *testing.T) {
		// Each search comes after the one before, as a store that keeps vectors in
		// memory would have them: every write must show in the next search.
		probe := unit(8, 6, 0)
		nearestIs := func(want string) {
			t.Helper()
			vs, err := k.SearchVector(ctx, c.ID, "m", probe, 1)
			must(t, err)
			if got := ""; len(vs) == 1 && vs[0].Score > 0.99 {
				got = vs[0].DocumentID
				if got != want {
					t.Fatalf("nearest is %s, want %q", got, want)
				}
			} else if want != "" {
				t.Fatalf("nearest = %+v, want a chunk of %s", vs, want)
			}
		}
		p, _, err := k.CreateDocument(ctx, lobby.DocumentParams{ConsultantID: c.ID, Title: "Later", ContentType: "text/plain", Content: []byte("later")})
		must(t, err)
		stored, err := k.ReplaceChunks(ctx, p.ID, []lobby.Chunk{{Text: "a late chunk"}})
		must(t, err)
		nearestIs("")
		must(t, k.StoreVectors(ctx, p.ID, "m", []lobby.ChunkVector{{ChunkID: stored[0].ID, Vector: probe}}))
		nearestIs("") // processing still
		_, err = k.FinishDocument(ctx, p.ID, lobby.DocumentReady, "")
		must(t, err)
		nearestIs(p.ID)
		must(t, k.StoreVectors(ctx, p.ID, "m", []lobby.ChunkVector{{ChunkID: stored[0].ID, Vector: unit(8, 6, 1.2)}}))
		nearestIs("") // re-embedded elsewhere
		must(t, k.StoreVectors(ctx, p.ID, "m", []lobby.ChunkVector{{ChunkID: stored[0].ID, Vector: probe}}))
		nearestIs(p.ID)
		must(t, k.DeleteDocument(ctx, c.ID, p.ID))
		nearestIs("")
	})
}

func normalise(v []float32) []float32 {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	n := float32(math.Sqrt(sum))
	for i := range v {
		v[i] /= n
	}
	return v
}

// BenchmarkKnowledgeSearch measures SearchVector and SearchText over chunks chunks of
// one consultant (100-dimensional random vectors), among as many of another's.
func BenchmarkKnowledgeSearch(b *testing.B, backend Backend, chunks int) {
	ctx := context.Background()
	db := backend.Open(b)
	svc := db.Services()
	st := &Store{Auth: svc.Auth, Consultants: svc.Consultants, Knowledge: svc.Knowledge}
	k := st.Knowledge
	r := rand.New(rand.NewPCG(7, 11))
	words := strings.Fields("refund shipping customs parcel invoice warranty return order payment delivery account " +
		"password address tracking courier discount voucher subscription cancel upgrade")
	fill := func(c *lobby.Consultant) {
		const perDoc = 1000
		for start := 0; start < chunks; start += perDoc {
			var cs []lobby.Chunk
			var vs [][]float32
			for i := start; i < min(start+perDoc, chunks); i++ {
				var text []string
				for range 40 {
					text = append(text, words[r.IntN(len(words))]+fmt.Sprint(r.IntN(50)))
				}
				cs = append(cs, lobby.Chunk{Position: i - start, Heading: words[r.IntN(len(words))], Text: strings.Join(text, " ")})
				vs = append(vs, RandomVector(r, 100))
			}
			ReadyDocument(b, k, c.ID, fmt.Sprint(c.ID, start), cs, "bench", vs)
		}
	}
	c := knowledgeOwner(b, st, "bench")
	fill(c)
	fill(knowledgeOwner(b, st, "bench-other"))
	Analyze(b, db)
	q := RandomVector(r, 100)
	b.Run("SearchVector", func(b *testing.B) {
		for b.Loop() {
			ms, err := k.SearchVector(ctx, c.ID, "bench", q, 10)
			if err != nil || len(ms) != 10 {
				b.Fatalf("found %d: %v", len(ms), err)
			}
		}
	})
	b.Run("SearchText", func(b *testing.B) {
		for b.Loop() {
			ms, err := k.SearchText(ctx, c.ID, "refund7 courier12 voucher3", 10)
			if err != nil || len(ms) != 10 {
				b.Fatalf("found %d: %v", len(ms), err)
			}
		}
	})
}

// Analyze brings PostgreSQL's statistics up to date at once, as autovacuum would soon
// after a bulk load: until then the planner takes a just-filled table for empty and
// passes over the vector index.
func Analyze(t testing.TB, db *sqldb.DB) {
	url := DSN(db)
	if !strings.HasPrefix(url, "postgres") {
		return
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	must(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "ANALYZE")
	must(t, err)
}
