package sqldb

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"unicode"

	"github.com/lobby-dev/lobby"
	"github.com/lobby-dev/lobby/jobs"
)

// KnowledgeService keeps consultants' knowledge bases: documents, chunks and vectors.
type KnowledgeService struct {
	db *DB
	// indexed holds the vector dimensions whose index this process has made sure of.
	indexed sync.Map
	// vectors keeps the vectors searched in Go, on a store without a vector index.
	vectors vectorCache
}

var _ lobby.KnowledgeService = (*KnowledgeService)(nil)

// prefixChunk begins a chunk's ID.
const prefixChunk = "chn_"

const documentColumns = `d.id, d.consultant_id, d.title, d.content_type, d.bytes, d.sha256, d.status,
	d.chunks_done, d.chunks_total, d.error, d.created_at, d.updated_at`

func scanDocument(row scanner) (*lobby.Document, error) {
	var d lobby.Document
	err := row.Scan(&d.ID, &d.ConsultantID, &d.Title, &d.ContentType, &d.Bytes, &d.SHA256, &d.Status,
		&d.ChunksDone, &d.ChunksTotal, &d.Error, &d.CreatedAt, &d.UpdatedAt)
	if err != nil {
		return nil, err
	}
	if d.Status == lobby.DocumentReady {
		d.ChunkCount = d.ChunksTotal
	}
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	return &d, nil
}

func noDocument(err error, id string) error {
	return notFound(err, "no document %q in this consultant's knowledge base; list them for their ids", id)
}

func (s *KnowledgeService) findDocument(ctx context.Context, q querier, consultantID, id, forUpdate string) (*lobby.Document, error) {
	d, err := scanDocument(q.QueryRowContext(ctx, `SELECT `+documentColumns+` FROM documents d
		WHERE d.id = $1 AND d.consultant_id = $2`+forUpdate, id, consultantID))
	if err != nil {
		return nil, noDocument(err, id)
	}
	return d, nil
}

func (s *KnowledgeService) findDocumentByID(ctx context.Context, q querier, id, forUpdate string) (*lobby.Document, error) {
	d, err := scanDocument(q.QueryRowContext(ctx, `SELECT `+documentColumns+` FROM documents d WHERE d.id = $1`+forUpdate, id))
	if err != nil {
		return nil, noDocument(err, id)
	}
	return d, nil
}

// roomForDocument refuses d when its consultant's knowledge base is full, by count or
// by bytes. The caller holds the consultant's row, so two uploads at once cannot both
// take the last room.
func roomForDocument(ctx context.Context, tx *Tx, d *lobby.Document) error {
	var n, total int64
	if err := tx.QueryRowContext(ctx, `SELECT count(*), CAST(COALESCE(sum(bytes), 0) AS BIGINT) FROM documents WHERE consultant_id = $1`,
		d.ConsultantID).Scan(&n, &total); err != nil {
		return err
	}
	switch {
	case n >= lobby.MaxDocuments:
		return lobby.Errorf(lobby.ECONFLICT, "this consultant has %d documents, the most one may; delete some to upload more", n)
	case total+d.Bytes > lobby.MaxKnowledgeBytes:
		return lobby.Errorf(lobby.ECONFLICT, "this consultant's documents take %d bytes, and this one %d more: the most in all is %d (100 MiB); delete some to make room",
			total, d.Bytes, int64(lobby.MaxKnowledgeBytes))
	}
	return nil
}

// CreateDocument implements lobby.KnowledgeService.
func (s *KnowledgeService) CreateDocument(ctx context.Context, p lobby.DocumentParams) (*lobby.Document, bool, error) {
	if len(p.Content) == 0 {
		return nil, false, lobby.Errorf(lobby.EINVALID, "document is empty; upload a file with text in it")
	}
	if len(p.Content) > lobby.MaxDocumentLen {
		return nil, false, lobby.Errorf(lobby.ETOOLARGE, "document is %d bytes; the most is %d (10 MiB): split it", len(p.Content), lobby.MaxDocumentLen)
	}
	sum := sha256.Sum256(p.Content)
	d := &lobby.Document{ConsultantID: p.ConsultantID, Title: lobby.CleanText(strings.TrimSpace(p.Title)),
		ContentType: lobby.CleanText(p.ContentType), Bytes: int64(len(p.Content)), SHA256: hex.EncodeToString(sum[:]),
		Status: lobby.DocumentProcessing}
	created := false
	err := s.db.tx(ctx, func(tx *Tx) error {
		if _, err := s.db.findConsultant(ctx, tx, "c.id = $1", p.ConsultantID, s.db.dialect.ForUpdate()); err != nil {
			return err
		}
		same, err := scanDocument(tx.QueryRowContext(ctx, `SELECT `+documentColumns+` FROM documents d
			WHERE d.consultant_id = $1 AND d.sha256 = $2`, d.ConsultantID, d.SHA256))
		if err == nil && same.Status != lobby.DocumentFailed {
			d = same
			return nil
		} else if err == nil {
			// Uploaded again after it failed: ingested again, the way to retry.
			d = same
			d.Status, d.Error, d.ChunksDone, d.ChunksTotal, d.UpdatedAt = lobby.DocumentProcessing, "", 0, 0, tx.now
			if _, err := tx.ExecContext(ctx, `UPDATE documents SET status = $1, error = '', chunks_done = 0, chunks_total = 0,
				updated_at = $2 WHERE id = $3`, d.Status, d.UpdatedAt, d.ID); err != nil {
				return err
			}
			created = true
			_, err = tx.db.jobs.InsertTx(ctx, tx.Tx, jobs.Ingest{ConsultantID: d.ConsultantID, DocumentID: d.ID}, nil)
			return err
		}
		if err = notFound(err, ""); lobby.ErrorCode(err) != lobby.ENOTFOUND {
			return err
		}
		if err := roomForDocument(ctx, tx, d); err != nil {
			return err
		}
		d.ID = lobby.NewID(lobby.PrefixDocument)
		d.CreatedAt, d.UpdatedAt = tx.now, tx.now
		_, err = tx.ExecContext(ctx, `INSERT INTO documents (id, consultant_id, title, content_type, bytes, sha256, content,
			status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			d.ID, d.ConsultantID, d.Title, d.ContentType, d.Bytes, d.SHA256, p.Content, d.Status, d.CreatedAt, d.UpdatedAt)
		if err != nil {
			return err
		}
		if _, err := tx.db.jobs.InsertTx(ctx, tx.Tx, jobs.Ingest{ConsultantID: d.ConsultantID, DocumentID: d.ID}, nil); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return d, created, nil
}

// FindDocumentByID implements lobby.KnowledgeService.
func (s *KnowledgeService) FindDocumentByID(ctx context.Context, consultantID, id string) (*lobby.Document, error) {
	return s.findDocument(ctx, s.db.read, consultantID, id, "")
}

// FindDocuments implements lobby.KnowledgeService.
func (s *KnowledgeService) FindDocuments(ctx context.Context, f lobby.DocumentFilter) ([]*lobby.Document, string, error) {
	return keyPage(ctx, s.db, keyQuery{columns: documentColumns, table: "documents d", column: "d.consultant_id",
		value: f.ConsultantID, limit: f.Limit, cursor: f.Cursor}, scanDocument, func(d *lobby.Document) string { return d.ID })
}

// DocumentContent implements lobby.KnowledgeService.
func (s *KnowledgeService) DocumentContent(ctx context.Context, id string) ([]byte, error) {
	var b []byte
	if err := s.db.read.QueryRowContext(ctx, `SELECT content FROM documents WHERE id = $1`, id).Scan(&b); err != nil {
		return nil, noDocument(err, id)
	}
	return b, nil
}

// DeleteDocument implements lobby.KnowledgeService.
func (s *KnowledgeService) DeleteDocument(ctx context.Context, consultantID, id string) error {
	return s.db.tx(ctx, func(tx *Tx) error {
		if _, err := s.findDocument(ctx, tx, consultantID, id, s.db.dialect.ForUpdate()); err != nil {
			return err
		}
		tx.afterCommit(func() { s.vectors.forget(consultantID) })
		// The chunks first, so that their full-text entries go with them on either store.
		if _, err := tx.ExecContext(ctx, `DELETE FROM chunks WHERE document_id = $1`, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM documents WHERE id = $1`, id)
		return err
	})
}

// chunkInsertBatch is how many chunks one INSERT stores.
const chunkInsertBatch = 100

// ReplaceChunks implements lobby.KnowledgeService.
func (s *KnowledgeService) ReplaceChunks(ctx context.Context, documentID string, chunks []lobby.Chunk) ([]lobby.Chunk, error) {
	out := make([]lobby.Chunk, len(chunks))
	err := s.db.tx(ctx, func(tx *Tx) error {
		d, err := s.findDocumentByID(ctx, tx, documentID, s.db.dialect.ForUpdate())
		if err != nil {
			return err
		}
		if d.Status != lobby.DocumentProcessing {
			return lobby.Errorf(lobby.ECONFLICT, "document %q is %s, not processing: its chunks are kept as they are", documentID, d.Status)
		}
		tx.afterCommit(func() { s.vectors.forget(d.ConsultantID) })
		if _, err := tx.ExecContext(ctx, `DELETE FROM chunks WHERE document_id = $1`, documentID); err != nil {
			return err
		}
		for i, c := range chunks {
			c.ID = lobby.NewID(prefixChunk)
			c.DocumentID = documentID
			c.Heading, c.Text = lobby.CleanText(c.Heading), lobby.CleanText(c.Text)
			out[i] = c
		}
		// Many rows a statement: a round trip each would be most of the time.
		for batch := out; len(batch) > 0; batch = batch[min(len(batch), chunkInsertBatch):] {
			rows := batch[:min(len(batch), chunkInsertBatch)]
			values := make([]string, len(rows))
			args := make([]any, 0, 6*len(rows))
			for i, c := range rows {
				values[i] = "(" + placeholders(6*i+1, 6) + ")"
				args = append(args, c.ID, documentID, d.ConsultantID, c.Position, c.Heading, c.Text)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO chunks (id, document_id, consultant_id, position, heading, text)
				VALUES `+strings.Join(values, ", "), args...); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE documents SET chunks_total = $1, chunks_done = 0, updated_at = $2 WHERE id = $3`,
			len(chunks), tx.now, documentID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// StoreVectors implements lobby.KnowledgeService.
func (s *KnowledgeService) StoreVectors(ctx context.Context, documentID, model string, vectors []lobby.ChunkVector) error {
	if model == "" {
		return lobby.Errorf(lobby.EINVALID, "vectors need the name of the model that made them")
	}
	dims := map[int]bool{}
	for _, v := range vectors {
		if len(v.Vector) == 0 {
			return lobby.Errorf(lobby.EINVALID, "chunk %q has an empty vector", v.ChunkID)
		}
		dims[len(v.Vector)] = true
	}
	return s.db.tx(ctx, func(tx *Tx) error {
		d, err := s.findDocumentByID(ctx, tx, documentID, s.db.dialect.ForUpdate())
		if err != nil {
			return err
		}
		tx.afterCommit(func() { s.vectors.forget(d.ConsultantID) })
		for dim := range dims {
			if err := s.indexDimension(ctx, tx, dim); err != nil {
				return err
			}
		}
		n := 0
		for batch := vectors; len(batch) > 0; batch = batch[min(len(batch), chunkInsertBatch):] {
			rows := batch[:min(len(batch), chunkInsertBatch)]
			values := make([]string, len(rows))
			args := []any{model, documentID}
			for i, v := range rows {
				values[i] = fmt.Sprintf("SELECT $%d AS id, CAST($%d AS INTEGER) AS dim, %s AS embedding",
					3*i+3, 3*i+4, s.db.dialect.VectorArg(fmt.Sprintf("$%d", 3*i+5)))
				args = append(args, v.ChunkID, len(v.Vector), s.db.dialect.VectorValue(v.Vector))
			}
			res, err := tx.ExecContext(ctx, `UPDATE chunks SET embedding_model = $1, embedding_dim = v.dim, embedding = v.embedding
				FROM (`+strings.Join(values, " UNION ALL ")+`) AS v
				WHERE chunks.id = v.id AND chunks.document_id = $2`, args...)
			if err != nil {
				return err
			}
			if k, err := res.RowsAffected(); err != nil {
				return err
			} else if int(k) != len(rows) {
				return lobby.Errorf(lobby.ENOTFOUND, "document %q lacks %d of the chunks given vectors; its chunks were replaced", documentID, len(rows)-int(k))
			}
			n += len(rows)
		}
		_, err = tx.ExecContext(ctx, `UPDATE documents SET updated_at = $1,
			chunks_done = CASE WHEN chunks_done + $2 > chunks_total THEN chunks_total ELSE chunks_done + $2 END WHERE id = $3`,
			tx.now, n, documentID)
		return err
	})
}

// indexDimension makes sure vectors of dim dimensions have their index, once a process.
func (s *KnowledgeService) indexDimension(ctx context.Context, tx *Tx, dim int) error {
	stmt := s.db.dialect.VectorIndex("chunks", "embedding", "embedding_dim", dim)
	if stmt == "" {
		return nil
	}
	if _, ok := s.indexed.Load(dim); ok {
		return nil
	}
	if lock := s.db.dialect.LockTx(lockVectorIndex); lock != "" {
		if _, err := tx.ExecContext(ctx, lock); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, stmt); err != nil {
		return err
	}
	tx.afterCommit(func() { s.indexed.Store(dim, true) })
	return nil
}

// FinishDocument implements lobby.KnowledgeService.
func (s *KnowledgeService) FinishDocument(ctx context.Context, id, status, errMsg string) (*lobby.Document, error) {
	if status != lobby.DocumentReady && status != lobby.DocumentFailed {
		return nil, lobby.Errorf(lobby.EINVALID, "a document's ingestion ends %s or %s, not %q", lobby.DocumentReady, lobby.DocumentFailed, status)
	}
	if status == lobby.DocumentReady {
		errMsg = ""
	}
	var d *lobby.Document
	err := s.db.tx(ctx, func(tx *Tx) error {
		var err error
		if d, err = s.findDocumentByID(ctx, tx, id, s.db.dialect.ForUpdate()); err != nil {
			return err
		}
		consultantID := d.ConsultantID
		tx.afterCommit(func() { s.vectors.forget(consultantID) })
		d.Status, d.Error, d.UpdatedAt = status, lobby.CleanText(errMsg), tx.now
		d.ChunkCount = 0
		if status == lobby.DocumentReady {
			d.ChunkCount = d.ChunksTotal
		}
		_, err = tx.ExecContext(ctx, `UPDATE documents SET status = $1, error = $2, updated_at = $3 WHERE id = $4`,
			d.Status, d.Error, d.UpdatedAt, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	if d.Status == lobby.DocumentReady && d.ChunksTotal >= analyzeAfter {
		s.analyze(ctx)
	}
	return d, nil
}

// analyzeAfter is how many chunks one document must add for the planner's statistics
// to be brought up to date at once: until autovacuum does, a planner that takes a
// just-filled table for small passes over its vector index (25 ms a search, not 1).
const analyzeAfter = 1000

// analyze updates the chunks' statistics; if it fails, autovacuum will soon.
func (s *KnowledgeService) analyze(ctx context.Context) {
	if stmt := s.db.dialect.Analyze("chunks"); stmt != "" {
		s.db.write.ExecContext(ctx, stmt)
	}
}

const chunkColumns = `c.id, c.document_id, c.position, c.heading, c.text`

func scanChunk(row scanner) (*lobby.Chunk, error) {
	var c lobby.Chunk
	return &c, row.Scan(&c.ID, &c.DocumentID, &c.Position, &c.Heading, &c.Text)
}

// ChunksWithoutVector implements lobby.KnowledgeService.
func (s *KnowledgeService) ChunksWithoutVector(ctx context.Context, model string, limit int) ([]lobby.Chunk, error) {
	if limit <= 0 {
		return nil, nil
	}
	cs, err := queryAll(ctx, s.db.read, scanChunk, `SELECT `+chunkColumns+` FROM chunks c
		JOIN documents d ON d.id = c.document_id
		WHERE d.status = $1 AND (c.embedding_model IS NULL OR c.embedding_model <> $2)
		ORDER BY c.document_id, c.position LIMIT $3`, lobby.DocumentReady, model, limit)
	if err != nil {
		return nil, err
	}
	out := make([]lobby.Chunk, len(cs))
	for i, c := range cs {
		out[i] = *c
	}
	return out, nil
}

// maxSearch is the most matches one search returns.
const maxSearch = 100

// maxQuestionWords is how many of a question's words its full text search matches.
const maxQuestionWords = 32

// questionWords are the words a question's full text search matches any of, ranked by
// BM25 or ts_rank: each once, without the words too common to say what it is about.
func questionWords(q string) []string {
	seen := map[string]bool{}
	var words []string
	for _, w := range strings.FieldsFunc(strings.ToLower(q), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if len(w) < 2 || stopWords[w] || seen[w] {
			continue
		}
		seen[w] = true
		if words = append(words, w); len(words) == maxQuestionWords {
			break
		}
	}
	return words
}

// stopWords are English words too common to say what a question is about.
var stopWords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an and are as at be been but by can could did do does doing for from had has have
		how i if in into is it its me my of on or our so than that the their them then there these they this those to
		us was we were what when where which who whom why will with would you your yours`) {
		stopWords[w] = true
	}
}

// SearchText implements lobby.KnowledgeService.
func (s *KnowledgeService) SearchText(ctx context.Context, consultantID, query string, n int) ([]lobby.ChunkMatch, error) {
	words := questionWords(query)
	if len(words) == 0 || n <= 0 {
		return nil, nil
	}
	m := s.db.dialect.TextSearch("chunks", "c", "$1", words, true, consultantID)
	rows, err := s.db.read.QueryContext(ctx, `SELECT `+chunkColumns+`, d.title, `+m.Score+` FROM chunks c `+m.Join+`
		JOIN documents d ON d.id = c.document_id
		WHERE `+m.Where+` AND c.consultant_id = $2 AND d.status = $3
		ORDER BY `+m.Rank+`, c.id LIMIT $4`, m.Query, consultantID, lobby.DocumentReady, min(n, maxSearch))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []lobby.ChunkMatch
	for rows.Next() {
		var cm lobby.ChunkMatch
		if err := rows.Scan(&cm.ID, &cm.DocumentID, &cm.Position, &cm.Heading, &cm.Text, &cm.Title, &cm.Score); err != nil {
			return nil, err
		}
		cm.Rank = len(out) + 1
		out = append(out, cm)
	}
	return out, rows.Err()
}

// SearchVector implements lobby.KnowledgeService.
func (s *KnowledgeService) SearchVector(ctx context.Context, consultantID, model string, v []float32, n int) ([]lobby.ChunkMatch, error) {
	if len(v) == 0 || n <= 0 {
		return nil, nil
	}
	n = min(n, maxSearch)
	m := s.db.dialect.VectorSearch("c.embedding", "$4", len(v))
	if m.Distance == "" {
		return s.searchVectorInGo(ctx, consultantID, model, v, n)
	}
	tx, err := s.db.read.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if m.Setup != "" {
		if _, err := tx.ExecContext(ctx, m.Setup); err != nil {
			return nil, err
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+chunkColumns+`, d.title, `+m.Distance+` FROM chunks c
		JOIN documents d ON d.id = c.document_id
		WHERE c.consultant_id = $1 AND c.embedding_model = $2 AND c.embedding_dim = $3 AND d.status = $5
		ORDER BY `+m.Distance+` LIMIT $6`,
		consultantID, model, len(v), s.db.dialect.VectorValue(v), lobby.DocumentReady, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []lobby.ChunkMatch
	for rows.Next() {
		var cm lobby.ChunkMatch
		var dist float64
		if err := rows.Scan(&cm.ID, &cm.DocumentID, &cm.Position, &cm.Heading, &cm.Text, &cm.Title, &dist); err != nil {
			return nil, err
		}
		cm.Score = 1 - dist
		out = append(out, cm)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// An iterative scan in relaxed order may return them slightly out of order.
	sort.SliceStable(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	for i := range out {
		out[i].Rank = i + 1
	}
	return out, nil
}

// searchVectorInGo ranks the consultant's vectors of model exactly: their dot product
// with v is their cosine, since every vector is L2-normalised. The vectors are read
// once into memory and kept there until a write of the consultant's changes them.
func (s *KnowledgeService) searchVectorInGo(ctx context.Context, consultantID, model string, v []float32, n int) ([]lobby.ChunkMatch, error) {
	key := vectorKey{consultantID, model, len(v)}
	set, gen := s.vectors.get(key)
	if set == nil {
		var err error
		if set, err = s.loadVectors(ctx, key); err != nil {
			return nil, err
		}
		s.vectors.put(key, set, gen)
	}
	top := set.nearest(v, n)
	if len(top) == 0 {
		return nil, nil
	}
	args := make([]any, len(top))
	score := make(map[int64]float64, len(top))
	for i, t := range top {
		args[i], score[t.rowid] = t.rowid, t.score
	}
	found, err := s.db.read.QueryContext(ctx, `SELECT c.rowid, `+chunkColumns+`, d.title FROM chunks c
		JOIN documents d ON d.id = c.document_id WHERE c.rowid IN (`+placeholders(1, len(args))+`)`, args...)
	if err != nil {
		return nil, err
	}
	defer found.Close()
	byRow := make(map[int64]lobby.ChunkMatch, len(top))
	for found.Next() {
		var rowid int64
		var cm lobby.ChunkMatch
		if err := found.Scan(&rowid, &cm.ID, &cm.DocumentID, &cm.Position, &cm.Heading, &cm.Text, &cm.Title); err != nil {
			return nil, err
		}
		cm.Score = score[rowid]
		byRow[rowid] = cm
	}
	if err := found.Err(); err != nil {
		return nil, err
	}
	out := make([]lobby.ChunkMatch, 0, len(top))
	for _, t := range top {
		if cm, ok := byRow[t.rowid]; ok {
			cm.Rank = len(out) + 1
			out = append(out, cm)
		}
	}
	return out, nil
}

// loadVectors reads a consultant's vectors of a model, of its ready documents.
func (s *KnowledgeService) loadVectors(ctx context.Context, k vectorKey) (*vectorSet, error) {
	rows, err := s.db.read.QueryContext(ctx, `SELECT c.rowid, c.embedding FROM chunks c
		JOIN documents d ON d.id = c.document_id
		WHERE c.consultant_id = $1 AND c.embedding_model = $2 AND c.embedding_dim = $3 AND d.status = $4`,
		k.consultantID, k.model, k.dim, lobby.DocumentReady)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	set := &vectorSet{}
	var blob []byte
	for rows.Next() {
		var rowid int64
		if err := rows.Scan(&rowid, &blob); err != nil {
			return nil, err
		}
		if len(blob) != 4*k.dim {
			continue
		}
		set.rowids = append(set.rowids, rowid)
		for i := range k.dim {
			set.vecs = append(set.vecs, math.Float32frombits(binary.LittleEndian.Uint32(blob[4*i:])))
		}
	}
	return set, rows.Err()
}

// EncodeVector returns v as little-endian float32s, the form the Go search reads.
func EncodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

type scored struct {
	rowid int64
	score float64
}

// nearest is a min-heap of scores: its root is the worst of the best n kept.
type nearest []scored

func (h nearest) Len() int           { return len(h) }
func (h nearest) Less(i, j int) bool { return h[i].score < h[j].score }
func (h nearest) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *nearest) Push(x any)        { *h = append(*h, x.(scored)) }
func (h *nearest) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// QueuedJobs returns the arguments, as JSON, of the jobs of kind waiting in the queue,
// oldest first: for tests, and for operators looking at the queue.
func (db *DB) QueuedJobs(ctx context.Context, kind string) ([]string, error) {
	argsText := "args::text"
	if db.dialect.Name() == "sqlite" {
		argsText = "json(args)" // River keeps SQLite's arguments as JSONB
	}
	args, err := queryAll(ctx, db.read, func(row scanner) (*string, error) {
		var b []byte
		err := row.Scan(&b)
		s := string(b)
		return &s, err
	}, `SELECT `+argsText+` FROM river_job WHERE kind = $1 AND state = 'available' ORDER BY id`, kind)
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = *a
	}
	return out, err
}
