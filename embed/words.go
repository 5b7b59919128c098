package embed

import (
	"context"
	_ "embed"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/lobby-dev/lobby"
)

// WordsModel is the model name of Words' vectors.
const WordsModel = "lobby-words-100d"

// SIF weighting: a word of probability p weighs sifA/(sifA+p), where p is read from the
// word's frequency rank r by Zipf's law, p = 1/((r+zipfK)·H), H normalising over the
// source's vocabulary of zipfVocab words.
const (
	sifA      = 1e-3
	zipfK     = 10
	zipfVocab = 400_000
)

//go:embed words.bin
var wordsBin string

// table is words.bin decoded: vectors stay the embedded bytes, int8, and each word's
// scale already holds its SIF weight.
type table struct {
	dim     int
	index   map[string]int32
	weights []float32 // quantization scale × SIF weight, per word
	vectors []int8    // len(weights)×dim
}

var wordTable = sync.OnceValue(func() *table {
	t, err := decodeTable(wordsBin)
	if err != nil {
		panic("embed: words.bin: " + err.Error()) // the build embedded a broken file
	}
	return t
})

func decodeTable(b string) (*table, error) {
	if len(b) < 12 || b[:4] != "LWV1" {
		return nil, fmt.Errorf("not a word table")
	}
	count := int(binary.LittleEndian.Uint32([]byte(b[4:8])))
	dim := int(binary.LittleEndian.Uint32([]byte(b[8:12])))
	off := 12
	need := off + count*(4+4+dim)
	if dim <= 0 || count <= 0 || len(b) < need {
		return nil, fmt.Errorf("%d words of %d dimensions do not fit in %d bytes", count, dim, len(b))
	}
	t := &table{
		dim:     dim,
		index:   make(map[string]int32, count),
		weights: make([]float32, count),
	}
	h := math.Log(float64(zipfVocab+zipfK) / zipfK)
	ranks := off + 4*count
	for i := range count {
		scale := math.Float32frombits(binary.LittleEndian.Uint32([]byte(b[off+4*i : off+4*i+4])))
		rank := binary.LittleEndian.Uint32([]byte(b[ranks+4*i : ranks+4*i+4]))
		p := 1 / ((float64(rank) + zipfK) * h)
		t.weights[i] = scale * float32(sifA/(sifA+p))
	}
	vecs := b[ranks+4*count : need]
	t.vectors = unsafe.Slice((*int8)(unsafe.Pointer(unsafe.StringData(vecs))), len(vecs)) // read only
	words := b[need:]
	for i := range count {
		w, rest, ok := strings.Cut(words, "\n")
		if !ok {
			return nil, fmt.Errorf("%d words listed, want %d", i, count)
		}
		t.index[w] = int32(i) // w shares the embedded string's memory
		words = rest
	}
	return t, nil
}

// Words embeds texts with static word vectors built into the binary (see the package
// doc). A text with no known word gets the zero vector, whose cosine with any vector is
// 0 — a vector store should treat it as matching nothing. It is safe for concurrent use.
type Words struct{}

var _ lobby.Embedder = Words{}

// Model implements lobby.Embedder.
func (Words) Model() string { return WordsModel }

// Dimension implements lobby.Embedder.
func (Words) Dimension() int { return wordTable().dim }

// Embed implements lobby.Embedder; it never fails but when ctx is done.
func (Words) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	t := wordTable()
	out := make([][]float32, len(texts))
	flat := make([]float32, len(texts)*t.dim)
	var buf []byte
	for i, text := range texts {
		if i%64 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		out[i] = flat[i*t.dim : (i+1)*t.dim : (i+1)*t.dim]
		buf = t.embed(out[i], text, buf)
	}
	return out, nil
}

// embed writes text's vector into v, using buf for the word being read, and returns
// buf for reuse.
func (t *table) embed(v []float32, text string, buf []byte) []byte {
	var total float32
	add := func(word []byte) {
		i, ok := t.index[string(word)] // no allocation for a lookup
		if !ok {
			return
		}
		w := t.weights[i]
		q := t.vectors[int(i)*t.dim : int(i+1)*t.dim]
		for j := range v {
			v[j] += w * float32(q[j])
		}
		total += w
	}
	buf = buf[:0]
	for k := 0; k < len(text); {
		c := text[k]
		if c < utf8.RuneSelf { // ASCII, by far the common case
			k++
			switch {
			case 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
				buf = append(buf, c)
			case 'A' <= c && c <= 'Z':
				buf = append(buf, c+'a'-'A')
			case len(buf) > 0:
				add(buf)
				buf = buf[:0]
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(text[k:])
		k += size
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			buf = utf8.AppendRune(buf, unicode.ToLower(r))
		case len(buf) > 0:
			add(buf)
			buf = buf[:0]
		}
	}
	if len(buf) > 0 {
		add(buf)
	}
	if total > 0 { // the mean's direction is the sum's; normalising makes it the mean's too
		normalize(v)
	}
	return buf
}
