// Package knowledge runs consultants' knowledge bases above the store: the job that
// reads, chunks and embeds an uploaded document, the job that re-embeds chunks once the
// embedding model changed, and the hybrid retrieval that managed replies, the offline
// provider and the search route share.
package knowledge

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/extract"
	"github.com/lobby-dev/lobby/jobs"
	"github.com/riverqueue/river"
)

// Ingester is the queue's worker for documents' ingestion.
type Ingester struct {
	river.WorkerDefaults[jobs.Ingest]
	Knowledge lobby.KnowledgeService
	Embedder  lobby.Embedder
	Logger    *slog.Logger
	// BatchSize is how many chunks are embedded and stored at once, and so how often
	// chunks_done moves; 0 means 64.
	BatchSize int
}

// IngestTimeout is the longest one ingestion may take: a 10 MiB document through a
// remote embedder. A process that dies mid-ingestion has its job run again, from the
// start, once this has passed.
const IngestTimeout = 10 * time.Minute

// Timeout implements river.Worker.
func (in *Ingester) Timeout(*river.Job[jobs.Ingest]) time.Duration { return IngestTimeout }

// Work implements river.Worker: it ingests the document. A document that cannot be
// read ends failed at once, saying why; an embedder that cannot be reached is tried
// again by the queue, and on the last attempt the document fails with its words.
func (in *Ingester) Work(ctx context.Context, job *river.Job[jobs.Ingest]) error {
	err := in.Ingest(ctx, job.Args.ConsultantID, job.Args.DocumentID)
	if err == nil || ctx.Err() != nil { // done, or shutting down: run again elsewhere
		return err
	}
	if lobby.ErrorCode(err) == lobby.EUPSTREAM && job.Attempt < job.MaxAttempts {
		orDiscard(in.Logger).Warn("ingestion: embedder failed; trying again later", "document_id", job.Args.DocumentID,
			"attempt", job.Attempt, "err", err)
		return err
	}
	return in.fail(ctx, job.Args.DocumentID, err)
}

// Ingest reads, chunks and embeds a processing document, moving chunks_done as it
// goes, and marks it ready. A document that was deleted, or has ended, meanwhile is
// left alone. It returns the error that stopped it: one that a failed document is to
// say (the file cannot be read), or EUPSTREAM (the embedder), or the store's.
func (in *Ingester) Ingest(ctx context.Context, consultantID, documentID string) error {
	doc, err := in.Knowledge.FindDocumentByID(ctx, consultantID, documentID)
	if err != nil {
		return ignoreGone(err)
	}
	if doc.Status != lobby.DocumentProcessing {
		return nil
	}
	content, err := in.Knowledge.DocumentContent(ctx, documentID)
	if err != nil {
		return ignoreGone(err)
	}
	text, err := extract.Read(content, "", doc.ContentType)
	if err != nil {
		return err
	}
	chunks := extract.Chunks(text.Markdown)
	if len(chunks) == 0 {
		return lobby.Errorf(lobby.EINVALID, "this document has no text to search once read; upload a document with text")
	}
	if chunks, err = in.Knowledge.ReplaceChunks(ctx, documentID, chunks); err != nil {
		return ignoreGone(err)
	}
	if err := embedChunks(ctx, in.Knowledge, in.Embedder, documentID, chunks, in.batchSize()); err != nil {
		return ignoreGone(err)
	}
	if _, err := in.Knowledge.FinishDocument(ctx, documentID, lobby.DocumentReady, ""); err != nil {
		return ignoreGone(err)
	}
	orDiscard(in.Logger).Info("document ready", "document_id", documentID, "chunks", len(chunks))
	return nil
}

// fail marks the document failed with err's words for its owner.
func (in *Ingester) fail(ctx context.Context, documentID string, err error) error {
	msg := lobby.ErrorMessage(err)
	if lobby.ErrorCode(err) == lobby.EINTERNAL {
		orDiscard(in.Logger).Error("ingestion failed", "document_id", documentID, "err", err)
		msg = "Lobby could not store this document's text. Upload it again; if it fails again, tell us."
	} else {
		orDiscard(in.Logger).Info("document failed", "document_id", documentID, "err", err)
	}
	_, err = in.Knowledge.FinishDocument(context.WithoutCancel(ctx), documentID, lobby.DocumentFailed, msg)
	return ignoreGone(err)
}

// embedChunks embeds chunks in batches and stores each batch's vectors of e's model,
// which moves the document's chunks_done.
func embedChunks(ctx context.Context, k lobby.KnowledgeService, e lobby.Embedder, documentID string, chunks []lobby.Chunk, batch int) error {
	for len(chunks) > 0 {
		n := min(batch, len(chunks))
		texts := make([]string, n)
		for i, c := range chunks[:n] {
			texts[i] = EmbeddingText(c)
		}
		vs, err := e.Embed(ctx, texts)
		if err != nil {
			return err
		}
		if len(vs) != n {
			return lobby.Errorf(lobby.EUPSTREAM, "the embedding model returned %d vectors for %d passages", len(vs), n)
		}
		cvs := make([]lobby.ChunkVector, n)
		for i, c := range chunks[:n] {
			cvs[i] = lobby.ChunkVector{ChunkID: c.ID, Vector: vs[i]}
		}
		if err := k.StoreVectors(ctx, documentID, e.Model(), cvs); err != nil {
			return err
		}
		chunks = chunks[n:]
	}
	return nil
}

// EmbeddingText is what a chunk's vector is made of: its heading path says what the
// passage is about as much as its words do.
func EmbeddingText(c lobby.Chunk) string {
	if c.Heading == "" {
		return c.Text
	}
	return c.Heading + "\n\n" + c.Text
}

// ignoreGone drops the errors of a document deleted, or ended, while it was ingested.
func ignoreGone(err error) error {
	if c := lobby.ErrorCode(err); c == lobby.ENOTFOUND || c == lobby.ECONFLICT {
		return nil
	}
	return err
}

func (in *Ingester) batchSize() int { return cmp.Or(in.BatchSize, 64) }

// orDiscard is l, or a logger that discards when l is nil (in tests).
func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// Reembedder is the periodic job's worker that re-embeds, with Embedder's model, the
// chunks of ready documents whose vectors another model made (or none), a batch at a
// time, until none is left or its time is up; the next run goes on.
type Reembedder struct {
	river.WorkerDefaults[jobs.Reembed]
	Knowledge lobby.KnowledgeService
	Embedder  lobby.Embedder
	Logger    *slog.Logger
}

// ReembedEvery is how often the re-embedding job looks for chunks to re-embed.
const ReembedEvery = time.Minute

// Timeout implements river.Worker.
func (r *Reembedder) Timeout(*river.Job[jobs.Reembed]) time.Duration { return IngestTimeout }

// PeriodicJob is the re-embedding job, run on start and every ReembedEvery on the
// queue's leader.
func (r *Reembedder) PeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(ReembedEvery),
		func() (river.JobArgs, *river.InsertOpts) { return jobs.Reembed{}, &river.InsertOpts{MaxAttempts: 1} },
		&river.PeriodicJobOpts{RunOnStart: true})
}

// Work implements river.Worker.
func (r *Reembedder) Work(ctx context.Context, job *river.Job[jobs.Reembed]) error {
	n, err := Reembed(ctx, r.Knowledge, r.Embedder)
	if n > 0 {
		orDiscard(r.Logger).Info("re-embedded chunks with the configured model", "model", r.Embedder.Model(), "chunks", n)
	}
	if lobby.ErrorCode(err) == lobby.EUPSTREAM { // the next run tries again
		orDiscard(r.Logger).Warn("re-embedding: embedder failed", "err", err)
		return nil
	}
	return err
}

// Reembed embeds with e the chunks of ready documents that have no vector of e's
// model, until there are none, and returns how many it embedded.
func Reembed(ctx context.Context, k lobby.KnowledgeService, e lobby.Embedder) (int, error) {
	total := 0
	for {
		chunks, err := k.ChunksWithoutVector(ctx, e.Model(), 256)
		if err != nil || len(chunks) == 0 {
			return total, err
		}
		for len(chunks) > 0 { // one document's chunks at a time
			n := 1
			for n < len(chunks) && chunks[n].DocumentID == chunks[0].DocumentID {
				n++
			}
			// A document deleted meanwhile has no chunks left to find.
			if err := ignoreGone(embedChunks(ctx, k, e, chunks[0].DocumentID, chunks[:n], 64)); err != nil {
				return total, err
			}
			total += n
			chunks = chunks[n:]
		}
	}
}
