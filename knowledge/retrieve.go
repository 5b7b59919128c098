package knowledge

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"strings"

	"github.com/lobby-dev/lobby"
)

// Retriever is the hybrid search: full text and vector similarity, each ranking the
// consultant's chunks on its own, fused by reciprocal rank fusion — a chunk scores
// the sum over the legs of weight / (RRFK + its rank there) — so neither leg's own
// scale matters, and a chunk both legs rank well beats one only one leg likes.
type Retriever struct {
	Knowledge lobby.KnowledgeService
	Embedder  lobby.Embedder
	Logger    *slog.Logger
	// TextWeight and VectorWeight weigh the legs; a leg of weight 0 is not run. Both 0
	// means 1 each.
	TextWeight, VectorWeight float64
	// Depth is how many times the final count each leg fetches; 0 means 4.
	Depth int
}

var _ lobby.Retriever = (*Retriever)(nil)

// RRFK is reciprocal rank fusion's constant, as Cormack, Clarke and Büttcher chose it:
// it keeps the first few ranks from drowning the rest.
const RRFK = 60

// MaxQueryLen is the longest question a search takes, in bytes; a longer one is
// searched by its beginning, which is where a question says what it is about.
const MaxQueryLen = 4 << 10

// MaxPassages is the most passages one search returns.
const MaxPassages = 50

// Retrieve implements lobby.Retriever. When the embedder cannot be reached it falls back
// to full text alone and logs why: a buyer's reply is better with half the search than
// with none.
func (r *Retriever) Retrieve(ctx context.Context, consultantID, query string, limit int) ([]lobby.Passage, error) {
	if strings.TrimSpace(query) == "" {
		return nil, lobby.Errorf(lobby.EINVALID, "query is empty; send the question to search the knowledge base for")
	}
	if len(query) > MaxQueryLen {
		query = strings.ToValidUTF8(query[:MaxQueryLen], "")
	}
	limit = min(cmp.Or(limit, 5), MaxPassages)
	tw, vw := r.TextWeight, r.VectorWeight
	if tw == 0 && vw == 0 {
		tw, vw = 1, 1
	}
	depth := limit * cmp.Or(r.Depth, 4)
	fused := map[string]*fusedMatch{}
	add := func(ms []lobby.ChunkMatch, w float64, leg int) {
		for _, m := range ms {
			f := fused[m.ID]
			if f == nil {
				f = &fusedMatch{ChunkMatch: m}
				fused[m.ID] = f
			}
			f.score += w / float64(RRFK+m.Rank)
			f.ranks[leg] = m.Rank
		}
	}
	if tw > 0 {
		ms, err := r.Knowledge.SearchText(ctx, consultantID, query, depth)
		if err != nil {
			return nil, err
		}
		add(ms, tw, 0)
	}
	if vw > 0 && r.Embedder != nil {
		ms, err := r.searchVector(ctx, consultantID, query, depth)
		if lobby.ErrorCode(err) == lobby.EUPSTREAM {
			orDiscard(r.Logger).Warn("knowledge search without vectors: the embedder failed", "err", err)
		} else if err != nil {
			return nil, err
		}
		add(ms, vw, 1)
	}
	all := make([]*fusedMatch, 0, len(fused))
	for _, f := range fused {
		all = append(all, f)
	}
	slices.SortFunc(all, func(a, b *fusedMatch) int {
		if c := cmp.Compare(b.score, a.score); c != 0 {
			return c
		}
		// On a tie the full text rank decides: a passage with the question's own words
		// is the more certain match.
		for leg := range a.ranks {
			if c := cmp.Compare(a.rank(leg), b.rank(leg)); c != 0 {
				return c
			}
		}
		return strings.Compare(a.ID, b.ID)
	})
	out := make([]lobby.Passage, 0, min(limit, len(all)))
	for _, f := range all[:min(limit, len(all))] {
		out = append(out, lobby.Passage{DocumentID: f.DocumentID, ChunkID: f.ID, Title: f.Title, Heading: f.Heading,
			Text: f.Text, Score: f.score})
	}
	return out, nil
}

func (r *Retriever) searchVector(ctx context.Context, consultantID, query string, n int) ([]lobby.ChunkMatch, error) {
	vs, err := r.Embedder.Embed(ctx, []string{query})
	if err != nil {
		return nil, err
	}
	if len(vs) != 1 {
		return nil, lobby.Errorf(lobby.EUPSTREAM, "the embedding model returned %d vectors for one question", len(vs))
	}
	return r.Knowledge.SearchVector(ctx, consultantID, r.Embedder.Model(), vs[0], n)
}

// fusedMatch is a chunk with its fused score and its rank in each leg (0: not found):
// full text, then vectors.
type fusedMatch struct {
	lobby.ChunkMatch
	score float64
	ranks [2]int
}

// rank is the chunk's rank in a leg, past every found one when it found it not.
func (f *fusedMatch) rank(leg int) int {
	if f.ranks[leg] == 0 {
		return 1 << 30
	}
	return f.ranks[leg]
}
