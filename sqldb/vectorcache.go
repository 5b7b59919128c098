package sqldb

import (
	"container/heap"
	"sort"
	"sync"
)

// vectorCacheLimit is the most memory the vectors searched in Go may hold: 256 MiB,
// 670,000 chunks of 100 dimensions.
const vectorCacheLimit = 256 << 20

// vectorCache keeps, for a store that ranks vectors in Go (SQLite), each consultant's
// vectors of a model in memory, so that a search reads no rows but the few it returns.
// The writes of this process that change what a search would find — chunks replaced,
// vectors stored, a document ended or deleted — forget the consultant's vectors once
// they commit; a store searched in Go is one process's (SQLite's file), so no other
// writes exist. Least recently searched sets go first when the memory is full.
type vectorCache struct {
	mu    sync.Mutex
	gen   map[string]uint64 // per consultant, moved by every forget
	sets  map[vectorKey]*vectorSet
	bytes int
	tick  uint64
	limit int
}

type vectorKey struct {
	consultantID, model string
	dim                 int
}

// vectorSet is a consultant's vectors of one model: row i of vecs (dim floats) is the
// chunk of rowids[i].
type vectorSet struct {
	rowids []int64
	vecs   []float32
	used   uint64
}

func (s *vectorSet) size() int { return 8*len(s.rowids) + 4*len(s.vecs) }

// get returns the cached set, or nil and the generation to load one at.
func (c *vectorCache) get(k vectorKey) (*vectorSet, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.sets[k]; s != nil {
		c.tick++
		s.used = c.tick
		return s, 0
	}
	return nil, c.gen[k.consultantID]
}

// put keeps a set loaded at generation gen, unless the consultant's vectors changed
// meanwhile or the set alone would fill the cache.
func (c *vectorCache) put(k vectorKey, s *vectorSet, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	limit := c.limit
	if limit == 0 {
		limit = vectorCacheLimit
	}
	if c.gen[k.consultantID] != gen || s.size() > limit/2 {
		return
	}
	if c.sets == nil {
		c.sets = map[vectorKey]*vectorSet{}
	}
	if old := c.sets[k]; old != nil {
		c.bytes -= old.size()
	}
	c.tick++
	s.used = c.tick
	c.sets[k] = s
	c.bytes += s.size()
	for c.bytes > limit {
		var oldest vectorKey
		var min uint64 = 1<<64 - 1
		for key, set := range c.sets {
			if set.used < min {
				oldest, min = key, set.used
			}
		}
		c.bytes -= c.sets[oldest].size()
		delete(c.sets, oldest)
	}
}

// forget drops a consultant's sets, and any being loaded.
func (c *vectorCache) forget(consultantID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == nil {
		c.gen = map[string]uint64{}
	}
	c.gen[consultantID]++
	for k, s := range c.sets {
		if k.consultantID == consultantID {
			c.bytes -= s.size()
			delete(c.sets, k)
		}
	}
}

// nearest returns the n rows of s whose vectors have the largest dot product with v,
// best first: their cosine, every vector being L2-normalised.
func (s *vectorSet) nearest(v []float32, n int) nearest {
	dim := len(v)
	top := make(nearest, 0, n+1)
	for i, rowid := range s.rowids {
		w := s.vecs[i*dim : (i+1)*dim : (i+1)*dim]
		var a, b, c, d float32
		j := 0
		for ; j+4 <= dim; j += 4 {
			a += v[j] * w[j]
			b += v[j+1] * w[j+1]
			c += v[j+2] * w[j+2]
			d += v[j+3] * w[j+3]
		}
		for ; j < dim; j++ {
			a += v[j] * w[j]
		}
		score := float64(a + b + c + d)
		if len(top) == n && score <= top[0].score {
			continue
		}
		heap.Push(&top, scored{rowid, score})
		if len(top) > n {
			heap.Pop(&top)
		}
	}
	sort.Slice(top, func(i, j int) bool { return top[i].score > top[j].score })
	return top
}
