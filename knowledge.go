package lobby

import (
	"context"
	"time"
)

// Document statuses.
const (
	DocumentProcessing = "processing"
	DocumentReady      = "ready"
	DocumentFailed     = "failed"
)

// MaxDocumentLen is the largest knowledge document, from the contract.
const MaxDocumentLen = 10 << 20

// A consultant's knowledge base holds at most MaxDocuments documents and
// MaxKnowledgeBytes of them in all, so one owner cannot fill the disk.
const (
	MaxDocuments      = 1000
	MaxKnowledgeBytes = 100 << 20
)

// Document is a piece of a consultant's knowledge base, as uploaded. Ingestion reads
// its text, cuts it into chunks and embeds them; while it runs ChunksDone/ChunksTotal
// show how far it is.
type Document struct {
	ID           string `json:"id"`
	ConsultantID string `json:"-"`
	Title        string `json:"title"`
	ContentType  string `json:"content_type"` // the upload's media type, as read from its bytes
	Bytes        int64  `json:"bytes"`
	SHA256       string `json:"sha256"` // hex of the uploaded bytes
	Status       string `json:"status"`
	ChunksDone   int    `json:"chunks_done"`
	ChunksTotal  int    `json:"chunks_total"`
	ChunkCount   int    `json:"chunk_count"` // chunks searchable: ChunksTotal once ready
	// Error says why a failed document failed, in words for its owner.
	Error     string    `json:"error"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Chunk is one passage of a document: the unit retrieval finds and a model reads.
type Chunk struct {
	ID         string
	DocumentID string
	Position   int    // 0 for the document's first chunk, in reading order
	Heading    string // the headings above it, outermost first, joined by " > "
	Text       string
}

// Embedder turns texts into vectors whose cosine says how alike their meanings are.
type Embedder interface {
	// Model names the vectors it makes ("lobby-words-100d", "text-embedding-3-small");
	// each stored vector records it, and vectors of different models never meet.
	Model() string
	// Dimension is the length of every vector it returns.
	Dimension() int
	// Embed returns one L2-normalised vector per text, in order. It fails with
	// EUPSTREAM when a remote model cannot be reached, with words for an owner.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
}

// DocumentParams is an upload to store.
type DocumentParams struct {
	ConsultantID string
	Title        string
	ContentType  string
	Content      []byte
}

// DocumentFilter selects a consultant's documents, newest first.
type DocumentFilter struct {
	ConsultantID string
	Limit        int
	Cursor       string
}

// ChunkMatch is a chunk a search found, with its document's title; Rank is its place
// in that search, 1 for the best.
type ChunkMatch struct {
	Chunk
	Title string
	Rank  int
	Score float64 // the leg's own measure: higher is better
}

// ChunkVector is a chunk's embedding.
type ChunkVector struct {
	ChunkID string
	Vector  []float32
}

// KnowledgeService keeps consultants' knowledge bases: documents, their chunks and the
// chunks' vectors, and searches them, always within one consultant's.
type KnowledgeService interface {
	// CreateDocument stores an upload, processing, and queues its ingestion in the same
	// transaction. When the consultant already has a document of the same SHA-256 it
	// stores nothing and returns that one, with created false — unless that one failed:
	// then it is ingested again, processing, with created true.
	CreateDocument(ctx context.Context, p DocumentParams) (doc *Document, created bool, err error)

	// FindDocumentByID returns ENOTFOUND when the consultant has no such document,
	// another consultant's included.
	FindDocumentByID(ctx context.Context, consultantID, id string) (*Document, error)

	// FindDocuments lists documents per f.
	FindDocuments(ctx context.Context, f DocumentFilter) ([]*Document, string, error)

	// DocumentContent returns a document's uploaded bytes. Returns ENOTFOUND.
	DocumentContent(ctx context.Context, id string) ([]byte, error)

	// DeleteDocument deletes a document with its chunks and vectors in one
	// transaction. Returns ENOTFOUND as FindDocumentByID does.
	DeleteDocument(ctx context.Context, consultantID, id string) error

	// ReplaceChunks replaces a processing document's chunks (an earlier try's too)
	// with chunks, which get IDs, and sets ChunksTotal to their number and ChunksDone
	// to 0. Returns the chunks as stored.
	ReplaceChunks(ctx context.Context, documentID string, chunks []Chunk) ([]Chunk, error)

	// StoreVectors stores model's vectors of a document's chunks and adds their number
	// to its ChunksDone.
	StoreVectors(ctx context.Context, documentID, model string, vectors []ChunkVector) error

	// FinishDocument ends a document's ingestion: DocumentReady, or DocumentFailed with
	// errMsg. Returns ENOTFOUND.
	FinishDocument(ctx context.Context, id, status, errMsg string) (*Document, error)

	// ChunksWithoutVector returns up to limit chunks of ready documents that have no
	// vector of model, for re-embedding once the model changed.
	ChunksWithoutVector(ctx context.Context, model string, limit int) ([]Chunk, error)

	// SearchText returns the consultant's n chunks best matching query's words by full
	// text search, best first; none for a query without words.
	SearchText(ctx context.Context, consultantID, query string, n int) ([]ChunkMatch, error)

	// SearchVector returns the consultant's n chunks whose vectors of model are nearest
	// v by cosine, best first.
	SearchVector(ctx context.Context, consultantID, model string, v []float32, n int) ([]ChunkMatch, error)
}

// Passage is a chunk retrieval found for a question: its text, where it is from, and
// how well it matched (higher is better; comparable within one search only).
type Passage struct {
	DocumentID string  `json:"document_id"`
	ChunkID    string  `json:"chunk_id"`
	Title      string  `json:"title"`
	Heading    string  `json:"heading"`
	Text       string  `json:"text"`
	Score      float64 `json:"score"`
}

// Retriever finds the passages of one consultant's knowledge base that best answer a
// question. It is the one search managed replies, the offline provider and the search
// route share; no passage of another consultant's is ever returned.
type Retriever interface {
	// Retrieve returns up to limit passages, best first; none for a query without
	// words. It fails with EINVALID for an empty query.
	Retrieve(ctx context.Context, consultantID, query string, limit int) ([]Passage, error)
}
